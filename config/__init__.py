# Load the Celery app with Django so @shared_task binds to it (Celery itself imports no torch).
from config.celery import app as celery_app

__all__ = ["celery_app"]
