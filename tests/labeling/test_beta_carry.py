"""The execution layer carries β from the parent policy version into the next policy round."""

import pytest

import training.policy
from labeling.models import PolicyVersion, RewardModelVersion
from labeling.services import prompts_import
from labeling.services import runs as run_services
from labeling.services.demo import DEMO_PROMPTS
from labeling.services.execution import run_execute
from training.policy import AdaptiveKLController, PolicyResult


@pytest.mark.django_db(transaction=True)
def test_each_policy_round_starts_from_the_beta_its_parent_ended_with(project, monkeypatch, settings, tmp_path):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path
    project.policy_source = "/models/rho"
    project.policy_config = {"kl_target": 2.0, "horizon": 500, "beta": 0.15, "steps": 8, "batch_size": 16}
    project.save()
    prompts_import(project=project, source=DEMO_PROMPTS)
    reward = RewardModelVersion.objects.create(
        project=project, number=1, artifact_path="/r1", gain=1, bias=0, data_hash="x", num_choices=3
    )
    project.current_reward_model = reward
    project.save()
    seen = []

    def fake_round(*, policy_path, cfg, out_dir, **_):
        # A policy whose KL stays twice the target: the controller raises β at every step.
        seen.append((policy_path, cfg.beta))
        controller = AdaptiveKLController(cfg.beta, cfg.kl_target, cfg.horizon)
        for _ in range(cfg.steps):
            controller.update(2 * cfg.kl_target, cfg.batch_size)
        final = {"beta_start": cfg.beta, "beta_final": controller.beta, "kl_target": cfg.kl_target,
                 "episodes": cfg.steps * cfg.batch_size, "kl_mean_second_half": 4.0}
        return PolicyResult(path=out_dir, metrics=[], final=final)

    monkeypatch.setattr(training.policy, "update_policy", fake_round)
    for _ in range(3):
        run = run_services.run_start(project=project, kind="policy", trigger="t", enqueue=False)
        assert run_execute(run_id=run.pk) == "succeeded", run.error

    versions = list(PolicyVersion.objects.filter(project=project, number__gt=0).order_by("number"))
    assert [v.parent.number for v in versions] == [0, 1, 2]
    assert seen[0][1] == 0.15  # from ρ: the configured β
    for parent, child, (_, beta_used) in zip(versions, versions[1:], seen[1:]):
        assert beta_used == pytest.approx(parent.metrics["beta_final"])
        assert child.metrics["beta_start"] == pytest.approx(parent.metrics["beta_final"])
    betas = [v.metrics["beta_final"] for v in versions]
    assert betas[0] < betas[1] < betas[2]
    assert betas[2] == pytest.approx(0.15 * (1 + 0.2 * 16 / 500) ** 24)
    assert [v.metrics["episodes_total"] for v in versions] == [128, 256, 384]


@pytest.mark.django_db(transaction=True)
def test_a_fixed_beta_is_not_carried(project, monkeypatch, settings, tmp_path):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path
    project.policy_source = "/models/rho"
    project.policy_config = {"beta": 0.05}
    project.save()
    prompts_import(project=project, source=DEMO_PROMPTS)
    reward = RewardModelVersion.objects.create(
        project=project, number=1, artifact_path="/r1", gain=1, bias=0, data_hash="x", num_choices=3
    )
    parent = PolicyVersion.objects.create(project=project, number=1, artifact_path="/p1", metrics={"beta_final": 0.4})
    project.current_reward_model, project.current_policy = reward, parent
    project.save()
    seen = []
    monkeypatch.setattr(
        training.policy, "update_policy",
        lambda *, cfg, out_dir, **_: seen.append(cfg.beta) or PolicyResult(out_dir, [], {"episodes": 1}),
    )
    run = run_services.run_start(project=project, kind="policy", trigger="t", enqueue=False)
    assert run_execute(run_id=run.pk) == "succeeded"
    assert seen == [0.05]
