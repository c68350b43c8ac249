"""The Celery app: queue `training` (reward and policy rounds) and `sampling`, plus beat.

Start a worker for both queues with
    celery -A config worker -Q training,sampling --concurrency 1 -B
"""

import os
from pathlib import Path

from celery import Celery
from celery.signals import before_task_publish, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("quartet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

BROKER_FOLDER_KEYS = ("data_folder_in", "data_folder_out", "control_folder")


def broker_folders_ensure(**_signal_kwargs) -> None:
    """Create the filesystem broker's folders if this process's settings use it.

    Called before every publish and when a worker starts, not at import: this module is often
    imported while settings are still loading (`config/__init__` runs first), when
    `app.conf` cannot be read yet, and `var/` may not exist on a fresh clone. mkdir with
    exist_ok is a stat when the folders exist, negligible beside writing the message file.
    """
    for key in BROKER_FOLDER_KEYS:
        folder = (app.conf.broker_transport_options or {}).get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


before_task_publish.connect(broker_folders_ensure, weak=False)
worker_init.connect(broker_folders_ensure, weak=False)
