"""Supervised rounds (SFT) through the execution layer, on the committed starter policy: held-out
loss falls on demonstrations the round never trained on; the SFT version then serves as ρ for a
reward round and a policy round; cancel and failure leave nothing behind."""

import json
import os
from pathlib import Path

import pytest

from labeling.models import Demonstration, PolicyVersion, Prompt, TrainingRun
from labeling.selectors.demonstrations import sft_training_data
from labeling.services import runs as run_services
from labeling.services.demonstrations import demonstration_hash, reference_policy_set
from labeling.services.execution import run_execute
from tests.e2e.loop_support import seed_choices
from tests.factories import ProjectFactory


os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "training" / "starter"
PROMPTS = ROOT / "training" / "data" / "demo_prompts.jsonl"

pytestmark = [
    # Rounds run their heartbeat on a second thread with its own connection.
    pytest.mark.django_db(transaction=True),
]


def _demonstrations(project, n):
    """Answers in one house style the starter has never seen: a supervised round can learn it,
    and held-out answers in the same style measure whether it did."""
    lines = PROMPTS.read_text().splitlines()[:n]
    for i, line in enumerate(lines):
        text = json.loads(line)["prompt"]
        prompt = Prompt.objects.create(project=project, text=text, text_hash=f"p{i}")
        answer = f"Answer {i % 7}: yes, this is clear and simple, and it works as described."
        Demonstration.objects.create(
            project=project, prompt=prompt, text=answer, source="imported",
            content_hash=demonstration_hash(prompt.text_hash, answer),
        )


@pytest.fixture
def sft_project(settings, tmp_path):
    project = ProjectFactory(slug="sft")
    settings.QUARTET_ARTIFACTS_DIR = tmp_path / "artifacts"
    project.policy_source = str(STARTER)
    project.sft_config = {"max_steps": 16, "batch_size": 8, "lr": 1e-3, "heldout_fraction": 0.25}
    project.reward_config = {"n_norm_samples": 32, "batch_size": 8}
    project.policy_config = {"steps": 2, "batch_size": 8}
    project.queue_low_water = 0
    project.save()
    _demonstrations(project, 48)
    return project


def test_sft_round_lowers_heldout_loss_then_serves_as_rho(sft_project, monkeypatch, capsys):
    project = sft_project
    run = run_services.run_start(project=project, kind="sft", trigger="test", enqueue=False)
    assert run_execute(run_id=run.pk) == "succeeded", TrainingRun.objects.get(pk=run.pk).error
    run.refresh_from_db()
    sft = PolicyVersion.objects.get(run=run)
    assert (sft.kind, sft.number, sft.parent.number) == ("sft", 1, 0)
    before, after = sft.metrics["heldout_loss_before"], sft.metrics["heldout_loss_after"]
    with capsys.disabled():
        print(f"\nSFT held-out loss: {before:.4f} -> {after:.4f} "
              f"({sft.metrics['n_train']} trained, {sft.metrics['n_heldout']} held out)")
    assert after < before - 0.5  # on answers it never trained on
    # Lineage: exactly the training demonstrations, none of the held-out ones.
    data = sft_training_data(project=project, heldout_fraction=0.25)
    assert sorted(run.demonstrations.values_list("pk", flat=True)) == sorted(data.train_ids)
    assert data.heldout_ids and not run.demonstrations.filter(pk__in=data.heldout_ids).exists()
    assert sft.metrics["n_heldout"] == len(data.heldout_ids)
    assert [p["step"] for p in run.metrics if "loss" in p][-1] == 16
    assert Path(sft.artifact_path, "model.safetensors").is_file()
    project.refresh_from_db()
    assert project.current_policy is None  # becomes current only when staff make it ρ

    reference_policy_set(project=project, version=sft)
    project.refresh_from_db()
    calls = {}
    import training.policy
    import training.reward

    real_reward, real_policy = training.reward.train_reward_model, training.policy.update_policy

    def spy_reward(*args, **kwargs):
        calls["reward"] = (kwargs["policy_path"], kwargs["reference_path"])
        return real_reward(*args, **kwargs)

    def spy_policy(*args, **kwargs):
        calls["policy"] = (kwargs["policy_path"], kwargs["reference_path"])
        return real_policy(*args, **kwargs)

    monkeypatch.setattr(training.reward, "train_reward_model", spy_reward)
    monkeypatch.setattr(training.policy, "update_policy", spy_policy)

    seed_choices(project, 16, oracle_name="length")  # sampled from the SFT version (current)
    assert set(project.tasks.values_list("policy_version", flat=True)) == {sft.pk}
    reward_run = run_services.run_start(project=project, kind="reward", trigger="test", enqueue=False)
    assert run_execute(run_id=reward_run.pk) == "succeeded", TrainingRun.objects.get(pk=reward_run.pk).error
    reward = TrainingRun.objects.get(pk=reward_run.pk).produced_reward_model
    assert reward.policy == sft  # initialized and normalized from ρ = the SFT version
    assert calls["reward"] == (sft.artifact_path, sft.artifact_path)

    policy_run = run_services.run_start(project=project, kind="policy", trigger="test", enqueue=False)
    assert policy_run.base_policy == sft
    assert run_execute(run_id=policy_run.pk) == "succeeded", TrainingRun.objects.get(pk=policy_run.pk).error
    tuned = PolicyVersion.objects.get(run=policy_run)
    assert (tuned.parent, tuned.kind, tuned.reward_model) == (sft, "policy", reward)
    assert calls["policy"] == (sft.artifact_path, sft.artifact_path)  # continues from ρ, KL against it


def test_a_cancelled_sft_round_leaves_nothing(sft_project, settings):
    run = run_services.run_start(project=sft_project, kind="sft", trigger="test", enqueue=False)

    def cancel_at_once(step, total, metrics):
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)

    assert run_execute(run_id=run.pk, echo=cancel_at_once) == "cancelled"
    assert not PolicyVersion.objects.filter(kind="sft").exists()
    assert not (Path(settings.QUARTET_ARTIFACTS_DIR) / sft_project.slug / "sft" / f"run-{run.pk}").exists()


def test_a_failed_sft_round_records_why(sft_project):
    run = run_services.run_start(project=sft_project, kind="sft", trigger="test", enqueue=False)
    # Settings are checked when saved and when a round starts (tests/labeling/
    # test_round_settings.py); a run queued with settings a worker refuses still fails cleanly.
    TrainingRun.objects.filter(pk=run.pk).update(config={"max_steps": 2, "no_such_setting": 1})
    assert run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert "no_such_setting" in run.error and run.finished_at is not None
    assert not PolicyVersion.objects.filter(kind="sft").exists()
