"""The pipeline that starts from demonstrations, on a real Celery worker: demonstrations → SFT
round → the SFT version made ρ → sampling → best-of-four choices over HTTP → reward round →
policy round → new tasks in the queue, with the lineage on the dashboard."""

import json
from pathlib import Path

import pytest

from labeling.models import ComparisonTask, PolicyVersion, Project, TrainingRun
from labeling.services import prompts_import
from labeling.services import runs as run_services
from labeling.services.demo import DEMO_PROMPTS
from labeling.services.demonstration_imports import demonstrations_import
from labeling.services.demonstrations import reference_policy_set
from labeling.simulation import simulate
from tests.e2e.test_loop import STARTER, wait_for, wait_for_loop_sampling, worker  # noqa: F401  (worker: a fixture)
from tests.factories import StaffFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
]


def test_demonstrations_to_sft_to_rho_to_the_loop(live_server, settings, tmp_path, worker, client):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path / "artifacts"
    project = Project.objects.create(
        name="From demonstrations", slug="demos-loop", policy_source=str(STARTER), loop_enabled=True,
        loop_every_choices=8, loop_sample_prompts=10, queue_low_water=0,
        sft_config={"max_steps": 4, "batch_size": 4, "lr": 1e-3, "heldout_fraction": 0.25},
        reward_config={"n_norm_samples": 16, "batch_size": 8},
        policy_config={"steps": 1, "batch_size": 8},
    )
    prompts_import(project=project, source=DEMO_PROMPTS)
    demos = tmp_path / "demos.jsonl"
    demos.write_text("".join(
        json.dumps({"prompt": f"Question {i}", "answer": f"A clear, short answer number {i}."}) + "\n"
        for i in range(12)
    ))
    assert demonstrations_import(project=project, source=demos).created == 12

    sft_run = run_services.run_start(project=project, kind="sft", trigger="test: SFT")
    wait_for(lambda: TrainingRun.objects.filter(pk=sft_run.pk, status="succeeded").exists(),
             timeout=900, what="the SFT round", worker=worker)
    sft = PolicyVersion.objects.get(run=sft_run)
    assert sft.kind == "sft" and sft_run.demonstrations.count() == sft.metrics["n_train"] > 0
    reference_policy_set(project=project, version=sft)

    first = run_services.run_start(project=project, kind="sampling", trigger="test: first tasks")
    wait_for(lambda: TrainingRun.objects.filter(pk=first.pk, status="succeeded").exists(),
             timeout=600, what="sampling from the SFT version", worker=worker)
    assert ComparisonTask.objects.filter(project=project, policy_version=sft, status="open").count() == 10

    user = UserFactory(username="sim-demo")
    project.annotators.add(user)
    from training.oracles import get_oracle

    result = simulate(base_url=live_server.url, slug="demos-loop", accounts=[(user.username, "pw")],
                      oracle=get_oracle("length"), labels=8)
    assert result.errors == [] and result.labels == 8
    sampled = wait_for_loop_sampling(project, timeout=1200, worker=worker)
    project.refresh_from_db()
    tuned = project.current_policy
    assert tuned.parent == sft and tuned.kind == "policy"
    assert tuned.reward_model.policy == sft  # the reward round started from ρ = SFT
    assert project.reference_policy == sft
    assert sampled.summary["tasks_created"] > 0
    assert ComparisonTask.objects.filter(project=project, policy_version=tuned, status="open").exists()

    client.force_login(StaffFactory())
    body = client.get(f"/p/{project.slug}/training/").content.decode()
    assert f'data-sft-version="{sft.number}"' in body and "<strong>ρ</strong>" in body
    assert "Supervised round (SFT)" in body and "<strong data-demonstrations-count>12</strong>" in body
    assert Path(sft.artifact_path, "model.safetensors").is_file()
