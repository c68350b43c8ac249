"""The loop with its artifacts on an S3-compatible server (moto on localhost): training workers
publish versions by URL, a sampling worker with an empty cache loads them, the web process only
shows the URLs."""

from pathlib import Path

import pytest
from django.urls import reverse

from labeling.models import PolicyVersion, Project, RewardModelVersion
from labeling.services import runs as run_services
from labeling.services.execution import run_execute
from tests.e2e.loop_support import seed_choices
from tests.s3_support import s3_bucket, s3_server  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "training" / "starter"
DEMO_PROMPTS = REPO / "training" / "data" / "demo_prompts.jsonl"
# run_execute closes connections and beats from a thread, as on a worker.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def s3_project(settings, tmp_path, s3_bucket):
    from labeling.services.imports import prompts_import

    settings.QUARTET_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.QUARTET_ARTIFACTS_URL = f"{s3_bucket}/quartet"
    settings.QUARTET_ARTIFACTS_CACHE = tmp_path / "training-worker-cache"
    project = Project.objects.create(
        name="Shared", slug="shared", policy_source=str(STARTER), loop_enabled=False,
        loop_sample_prompts=8, queue_low_water=0,
        reward_config={"n_norm_samples": 16, "batch_size": 8},
        policy_config={"steps": 2, "batch_size": 8},
    )
    prompts_import(project=project, source=DEMO_PROMPTS)
    return project


def _run(project, kind):
    run = run_services.run_start(project=project, kind=kind, trigger="test", enqueue=False)
    status = run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert status == "succeeded", run.error
    return run


def test_loop_rounds_publish_and_load_through_the_object_store(
    s3_project, settings, tmp_path, s3_bucket, client, staff, monkeypatch
):
    from training.storage import MANIFEST, ArtifactStore

    seed_choices(s3_project, 16)  # sampled from rho, the committed starter (a local path)
    _run(s3_project, "reward")
    _run(s3_project, "policy")
    reward = RewardModelVersion.objects.get(project=s3_project)
    policy = PolicyVersion.objects.get(project=s3_project, number=1)
    prefix = f"{s3_bucket}/quartet/shared/"
    assert reward.artifact_path.startswith(prefix + "reward/run-")
    assert policy.artifact_path.startswith(prefix + "policy/run-")
    probe = ArtifactStore(root=settings.QUARTET_ARTIFACTS_URL, cache_dir=str(tmp_path / "probe"))
    assert probe.is_published(reward.artifact_path) and probe.is_published(policy.artifact_path)
    # Nothing was written to a shared local folder; the staging copies are gone.
    assert not Path(settings.QUARTET_ARTIFACTS_DIR).exists()
    assert not list(Path(settings.QUARTET_ARTIFACTS_CACHE).glob(".staging-*"))

    # A sampling worker on another machine: its cache is empty; it loads the published v1.
    settings.QUARTET_ARTIFACTS_CACHE = tmp_path / "sampling-worker-cache"
    sampled = _run(s3_project, "sampling")
    assert sampled.summary["policy"] == 1 and sampled.summary["tasks_created"] > 0
    cached = list(Path(settings.QUARTET_ARTIFACTS_CACHE).iterdir())
    assert len(cached) == 1 and (cached[0] / "model.safetensors").is_file()
    assert (cached[0] / MANIFEST).is_file()
    assert s3_project.tasks.filter(policy_version=policy, status="open").exists()

    # The web process shows versions by URL and never opens them.
    def no_model_files(*args, **kwargs):
        raise AssertionError("the web process touched the artifact store")

    monkeypatch.setattr("fsspec.core.url_to_fs", no_model_files)
    monkeypatch.setattr("fsspec.filesystem", no_model_files)
    monkeypatch.setattr(ArtifactStore, "fetch", no_model_files)
    client.force_login(staff)
    page = client.get(reverse("labeling:dashboard", args=[s3_project.slug]))
    assert page.status_code == 200
