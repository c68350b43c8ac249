"""The Celery app. Tasks arrive with the training loop; the web process only enqueues."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("quartet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
