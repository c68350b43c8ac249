"""A run enqueued by a process that has never seen a worker, on a fresh machine's embedded
default (filesystem broker, no var/ yet), is executed by a worker started afterwards.

This is what a new user does first: `make run`'s web process (or a shell) starts a round before
any worker has created the broker's folders.
"""

import os
import subprocess
import sys

import pytest

from labeling.models import TrainingRun
from tests.e2e.test_loop import ROOT, Worker, database_url, loop_project, wait_for  # noqa: F401  (loop_project: a fixture)

pytestmark = [
    pytest.mark.django_db(transaction=True),
]

ENQUEUE = """
import django
django.setup()
from labeling.models import Project
from labeling.services import runs
run = runs.run_start(project=Project.objects.get(slug="loop"), kind="sampling", trigger="cold start")
print(run.pk)
"""


def test_a_run_enqueued_before_any_worker_existed_is_executed(loop_project, tmp_path, settings):
    broker = tmp_path / "fresh-var" / "broker"  # neither var/ nor the broker folders exist yet
    env = {
        # A settings module that imports config.settings, as tests and most deployments have:
        # config.celery is then imported while that module is still half-initialized.
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "filesystem://",
        "QUARTET_BROKER_DIR": str(broker),
        "QUARTET_ARTIFACTS_DIR": str(settings.QUARTET_ARTIFACTS_DIR),
        "SECRET_KEY": "cold-start-under-test",
        "HF_HUB_OFFLINE": "1",
    }
    assert not broker.parent.exists()
    done = subprocess.run(
        [sys.executable, "-c", ENQUEUE], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = int(done.stdout.strip().splitlines()[-1])
    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == "queued" and run.celery_task_id, "the message was never written"
    assert any((broker / "queue").iterdir()), "no message file in the broker's queue folder"

    worker = Worker(tmp_path / "worker.log", extra_env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    worker.start()
    try:
        wait_for(lambda: TrainingRun.objects.filter(pk=run_id, status="succeeded").exists(),
                 timeout=300, what="the worker to execute the cold-start run", worker=worker)
    finally:
        worker.kill()
    assert TrainingRun.objects.get(pk=run_id).summary["tasks_created"] > 0
