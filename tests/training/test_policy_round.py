import json
import random
import statistics
from pathlib import Path

from training.config import PolicyConfig, SampleConfig
from training.oracles import get_oracle
from training.policy import META_FILE, update_policy
from training.sampling import sample_completions

KL_TARGET = 3.0


def _mean_oracle(policy, prompts) -> float:
    oracle = get_oracle("length")
    rows = sample_completions(policy, prompts, SampleConfig(seed=2024))
    return statistics.fmean(oracle.score(s.text) for r in rows for s in r)


def test_policy_round_raises_labeler_score_within_kl_budget(
    tmp_path, starter_path, trained_reward, demo_prompts
):
    cfg = PolicyConfig(
        steps=16, batch_size=32, lr=3e-5, beta=0.15, kl_target=KL_TARGET, horizon=1000, seed=0
    )
    res = update_policy(
        policy_path=starter_path,
        reference_path=starter_path,
        reward_path=trained_reward.path,
        prompts=demo_prompts,
        out_dir=str(tmp_path / "pi1"),
        cfg=cfg,
    )
    assert len(res.metrics) == cfg.steps
    assert {"reward", "kl", "beta", "loss"} <= set(res.metrics[0])
    meta = json.loads((Path(res.path) / META_FILE).read_text())
    assert meta["reference"] == starter_path and meta["reward"] == trained_reward.path

    print("policy steps", json.dumps(res.metrics))
    fresh = random.Random(7).sample(demo_prompts, 64)
    before, after = _mean_oracle(starter_path, fresh), _mean_oracle(res.path, fresh)
    print("oracle before/after", before, after, res.final)
    assert after > before + 0.5, (before, after)
    # KL starts at 0 (pi = rho); over the second half it must sit within a factor two of target.
    # The adaptive controller drove the trainer's beta: up while KL was above target, else down.
    for prev, nxt in zip(res.metrics, res.metrics[1:]):
        assert nxt["beta"] == prev["beta_next"]
        assert (prev["beta_next"] > prev["beta"]) == (prev["kl"] > KL_TARGET)
    assert KL_TARGET / 2 <= res.final["kl_mean_second_half"] <= KL_TARGET * 2, res.metrics
