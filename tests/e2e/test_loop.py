"""The whole loop with a real Celery worker process (not eager mode).

Simulated annotators label over HTTP; after N choices a reward round, a policy round and a
sampling round run on the worker, and the new policy's tasks come back into the queue and are
labeled. Then a worker is killed in the middle of a policy round: the run ends failed, the
current versions stay, and a rerun succeeds.

Redis and PostgreSQL when REDIS_URL and DATABASE_URL are set (CI), the filesystem broker and
SQLite otherwise.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from labeling.models import ComparisonTask, PolicyVersion, Project, TrainingRun
from labeling.services import prompts_import
from labeling.services import runs as run_services
from labeling.services.demo import DEMO_PROMPTS
from labeling.simulation import AnnotatorSession, simulate
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "training" / "starter"

pytestmark = [
    pytest.mark.django_db(transaction=True),
]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def purge_queues():
    from config.celery import app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in ("training", "sampling"):
            try:
                channel.queue_purge(queue)
            except Exception:  # a queue that was never declared has nothing to purge
                pass


class Worker:
    """A real `celery worker` process on the test database."""

    def __init__(self, log_path: Path, extra_env: dict | None = None):
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.proc = None

    def start(self):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "SECRET_KEY": "worker-under-test",
            "QUARTET_ARTIFACTS_DIR": str(settings.QUARTET_ARTIFACTS_DIR),
            "QUARTET_HEARTBEAT_SECONDS": "1",
            "HF_HUB_OFFLINE": "1",
            **self.extra_env,
        }
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "training,sampling",
             "--concurrency", "1", "--loglevel", "INFO", "--without-heartbeat", "--without-mingle",
             "--without-gossip"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        if self.proc:
            self.log.close()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def worker(tmp_path):
    purge_queues()
    w = Worker(tmp_path / "worker.log")
    w.start()
    yield w
    w.kill()


@pytest.fixture
def loop_project(settings, tmp_path):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path / "artifacts"
    project = Project.objects.create(
        name="Loop", slug="loop", policy_source=str(STARTER), loop_enabled=True,
        loop_every_choices=24, loop_sample_prompts=12, queue_low_water=0,
        reward_config={"n_norm_samples": 64, "batch_size": 8},
        policy_config={"steps": 4, "batch_size": 8},
    )
    prompts_import(project=project, source=DEMO_PROMPTS)
    return project


def wait_for(predicate, *, timeout, what, worker):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    failed = TrainingRun.objects.filter(status="failed").values_list("kind", "error")
    pytest.fail(f"timed out waiting for {what}; failed runs: {list(failed)}\nworker log:\n{worker.tail()}")


def wait_for_loop_sampling(project, *, timeout, worker):
    """The loop's sampling round, once the reward, policy and sampling rounds the choices
    triggered have run on the worker."""
    return wait_for(
        lambda: TrainingRun.objects.filter(project=project, kind="sampling", status="succeeded",
                                           trigger__startswith="loop:").first(),
        timeout=timeout, what="reward → policy → sampling on the worker", worker=worker,
    )


def test_choices_become_a_new_policy_whose_tasks_are_labeled(live_server, loop_project, worker):
    first = run_services.run_start(project=loop_project, kind="sampling", trigger="test: first tasks")
    wait_for(lambda: TrainingRun.objects.filter(pk=first.pk, status="succeeded").exists(),
             timeout=300, what="the first sampling round", worker=worker)
    assert ComparisonTask.objects.filter(project=loop_project, status="open", generation=0).count() == 12

    accounts = []
    for i in range(2):
        user = UserFactory(username=f"sim{i}")
        loop_project.annotators.add(user)
        accounts.append((user.username, "pw"))
    # Two more tasks than the trigger needs, so labeling is not cut short by an empty queue.
    run_services.run_start(project=loop_project, kind="sampling", trigger="test: more tasks")
    wait_for(lambda: not TrainingRun.objects.filter(status__in=TrainingRun.ACTIVE).exists(),
             timeout=300, what="the second sampling round", worker=worker)
    from training.oracles import get_oracle

    result = simulate(base_url=live_server.url, slug="loop", accounts=accounts,
                      oracle=get_oracle("sentiment"), labels=24)
    assert result.errors == [] and result.labels == 24

    reward_run = wait_for(
        lambda: TrainingRun.objects.filter(project=loop_project, kind="reward").first(),
        timeout=30, what="the automatic reward round", worker=worker,
    )
    assert reward_run.trigger.startswith("loop:") and reward_run.continue_loop
    sampled = wait_for_loop_sampling(loop_project, timeout=900, worker=worker)
    loop_project.refresh_from_db()
    v1 = loop_project.current_policy
    assert v1.number == 1 and v1.parent.number == 0
    assert v1.reward_model == loop_project.current_reward_model
    assert v1.reward_model.num_choices == 24 and v1.reward_model.run.choices.count() == 24
    assert Path(v1.artifact_path, "model.safetensors").exists()
    assert sampled.summary["policy"] == 1 and sampled.summary["tasks_created"] > 0
    new_tasks = ComparisonTask.objects.filter(project=loop_project, policy_version=v1, status="open")
    assert new_tasks.exists()

    # Newest policy first: the next task an annotator is served comes from v1, and is labeled.
    session = AnnotatorSession(live_server.url, "sim0", "pw")
    session.login()
    page = session.next_task("loop")
    assert ComparisonTask.objects.get(assignments__pk=page.assignment).policy_version == v1
    session.choose("loop", page, 0, decision_ms=1000)
    assert new_tasks.model.objects.filter(policy_version=v1, choices__isnull=False).exists()


def test_killed_worker_leaves_the_run_failed_and_versions_current(loop_project, worker, tmp_path):
    from labeling.models import RewardModelVersion

    # The reward model to optimize against is trained in-process; only the round that gets
    # killed runs on the worker.
    from labeling.services.execution import run_execute
    from tests.e2e.loop_support import seed_choices

    seed_choices(loop_project, 16)
    reward = run_services.run_start(project=loop_project, kind="reward", trigger="t", enqueue=False)
    assert run_execute(run_id=reward.pk) == "succeeded"
    loop_project.refresh_from_db()
    before = (loop_project.current_policy_id, loop_project.current_reward_model_id)

    # Long enough to be killed in. update(), not save(): save() would write back stale versions.
    Project.objects.filter(pk=loop_project.pk).update(policy_config={"steps": 200, "batch_size": 8})
    run = run_services.run_start(project=loop_project, kind="policy", trigger="test: to be killed")
    # Killed once it has reported an optimizer step: models loaded, the round in full swing.
    wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, status="running", progress_step__gte=1).exists(),
             timeout=300, what="the policy round's first step", worker=worker)
    worker.kill()  # returns once the process group is gone: no heartbeat can follow
    assert run_services.runs_fail_stale(stale_after=timedelta(microseconds=1)) == [run.pk]
    run.refresh_from_db()
    loop_project.refresh_from_db()
    assert run.status == "failed" and "heartbeat" in run.error
    assert (loop_project.current_policy_id, loop_project.current_reward_model_id) == before
    assert not PolicyVersion.objects.filter(project=loop_project, number__gt=0).exists()
    out = Path(settings.QUARTET_ARTIFACTS_DIR) / "loop" / "policy" / f"run-{run.pk}"
    assert not out.exists()  # at most a hidden .tmp folder, never one that looks finished

    Project.objects.filter(pk=loop_project.pk).update(policy_config={"steps": 2, "batch_size": 8})
    worker.start()
    again = run_services.run_start(project=loop_project, kind="policy", trigger="test: rerun")
    wait_for(lambda: TrainingRun.objects.filter(pk=again.pk, status="succeeded").exists(),
             timeout=600, what="the rerun", worker=worker)
    loop_project.refresh_from_db()
    assert loop_project.current_policy.number == 1
    assert RewardModelVersion.objects.filter(project=loop_project).count() == 1
