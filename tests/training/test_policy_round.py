import json
import random
import statistics
from pathlib import Path

import pytest

from training.config import PolicyConfig, SampleConfig
from training.oracles import get_oracle
from training.policy import META_FILE, update_policy
from training.sampling import sample_completions

KL_TARGET = 3.0  # nats per completion


def _mean_oracle(policy, prompts) -> float:
    oracle = get_oracle("length")
    rows = sample_completions(policy, prompts, SampleConfig(seed=2024))
    return statistics.fmean(oracle.score(s.text) for r in rows for s in r)


@pytest.fixture(scope="module")
def first_round(tmp_path_factory, starter_path, trained_reward, demo_prompts):
    cfg = PolicyConfig(
        steps=16, batch_size=32, lr=3e-5, beta=0.15, kl_target=KL_TARGET, horizon=1000, seed=0
    )
    seen = []
    res = update_policy(
        policy_path=starter_path,
        reference_path=starter_path,
        reward_path=trained_reward.path,
        prompts=demo_prompts,
        out_dir=str(tmp_path_factory.mktemp("policy") / "pi1"),
        cfg=cfg,
        progress=lambda step, total, metrics: seen.append((step, total)),
    )
    print("policy steps", json.dumps(res.metrics))
    assert seen == [(i, cfg.steps) for i in range(1, cfg.steps + 1)]
    return res


def test_policy_round_raises_labeler_score_within_kl_budget(
    first_round, starter_path, trained_reward, demo_prompts
):
    res = first_round
    assert len(res.metrics) == 16
    assert {"reward", "kl", "beta", "loss"} <= set(res.metrics[0])
    meta = json.loads((Path(res.path) / META_FILE).read_text())
    assert meta["reference"] == starter_path and meta["reward"] == trained_reward.path

    fresh = random.Random(7).sample(demo_prompts, 64)
    before, after = _mean_oracle(starter_path, fresh), _mean_oracle(res.path, fresh)
    print("oracle before/after", before, after, res.final)
    assert after > before + 0.5, (before, after)
    # The reward model's own score rose too.
    rewards = [m["reward"] for m in res.metrics]
    assert statistics.fmean(rewards[8:]) > statistics.fmean(rewards[:8]) + 0.3
    # The adaptive controller drove the trainer's beta: up while KL was above target, else down.
    for prev, nxt in zip(res.metrics, res.metrics[1:]):
        assert nxt["beta"] == prev["beta_next"]
        assert (prev["beta_next"] > prev["beta"]) == (prev["kl"] > KL_TARGET)
    # KL starts at 0 (pi = rho); over the second half it must sit within a factor two of target.
    assert KL_TARGET / 2 <= res.final["kl_mean_second_half"] <= KL_TARGET * 2, res.metrics


@pytest.mark.parametrize("use_lora", [False, True])
def test_next_round_continues_from_latest_but_is_anchored_to_rho(
    tmp_path, first_round, starter_path, trained_reward, demo_prompts, use_lora
):
    # Were the reference the parent version, the first step's KL would be exactly zero.
    cfg = PolicyConfig(steps=1, batch_size=8, lr=1e-5, seed=1, use_lora=use_lora)
    res = update_policy(
        policy_path=first_round.path,
        reference_path=starter_path,
        reward_path=trained_reward.path,
        prompts=demo_prompts,
        out_dir=str(tmp_path / "pi2"),
        cfg=cfg,
    )
    assert res.metrics[0]["kl"] > 0.5, res.metrics
    assert res.metrics[0]["beta"] == 0.15 == res.final["beta_final"]  # no target: fixed beta
    meta = json.loads((Path(res.path) / META_FILE).read_text())
    assert meta["parent"] == first_round.path and meta["reference"] == starter_path
    assert (Path(res.path) / "model.safetensors").is_file()  # adapters merged into a full model
