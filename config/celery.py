"""The Celery app: queue `training` (reward and policy rounds) and `sampling`, plus beat.

Start a worker for both queues with
    celery -A config worker -Q training,sampling --concurrency 1 -B
"""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("quartet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The filesystem broker needs its folders before the first message is written or read.
for key in ("data_folder_in", "data_folder_out", "control_folder"):
    folder = app.conf.broker_transport_options.get(key)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
