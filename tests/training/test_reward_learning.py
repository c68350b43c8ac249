import json
import random
import statistics
from pathlib import Path

from training.config import RewardConfig, SampleConfig
from training.reward import META_FILE, load_reward_scorer, train_reward_model
from training.sampling import sample_completions


def test_reward_model_agrees_with_simulated_labeler_above_chance(trained_reward):
    m = trained_reward.metrics
    print("reward metrics", m)
    assert m["n_heldout"] == 80 and m["n_train"] == 320
    # Chance is 25% on four-way choices.
    assert m["heldout_agreement"] >= 0.5, m
    assert m["heldout_loss"] < 1.386  # log(4): better than a uniform guess


def test_saved_reward_model_records_gain_bias_metrics_and_data_hash(trained_reward, oracle_choices):
    from training.data import data_hash

    meta = json.loads((Path(trained_reward.path) / META_FILE).read_text())
    assert meta["gain"] == trained_reward.gain and meta["bias"] == trained_reward.bias
    assert meta["data_hash"] == data_hash(oracle_choices) == trained_reward.data_hash
    assert meta["metrics"]["heldout_agreement"] == trained_reward.metrics["heldout_agreement"]
    assert (Path(trained_reward.path) / "model.safetensors").is_file()


def test_normalized_rewards_on_fresh_samples_from_rho(trained_reward, starter_path, demo_prompts):
    prompts = random.Random(99).sample(demo_prompts, 64)
    rows = sample_completions(starter_path, prompts, SampleConfig(seed=12345))
    scorer = load_reward_scorer(trained_reward.path)
    rewards = scorer(
        [p for p, r in zip(prompts, rows) for _ in r], [s.text for r in rows for s in r]
    )
    assert len(rewards) == 256
    print("fresh rho rewards", statistics.fmean(rewards), statistics.stdev(rewards))
    assert abs(statistics.fmean(rewards)) <= 0.1, statistics.fmean(rewards)
    assert abs(statistics.stdev(rewards) - 1.0) <= 0.1, statistics.stdev(rewards)


def test_same_seed_same_metrics(tmp_path, starter_path, oracle_choices):
    cfg = RewardConfig(seed=3, n_norm_samples=16, batch_size=8)
    runs = [
        train_reward_model(
            oracle_choices[:40],
            policy_path=starter_path,
            reference_path=starter_path,
            out_dir=str(tmp_path / f"rm{i}"),
            cfg=cfg,
        )
        for i in range(2)
    ]
    assert runs[0].metrics == runs[1].metrics
    assert (runs[0].gain, runs[0].bias) == (runs[1].gain, runs[1].bias)


def test_reward_model_can_start_from_a_named_classification_model(
    tmp_path, starter_path, trained_reward, oracle_choices
):
    seen = []
    res = train_reward_model(
        oracle_choices[:10],
        policy_path=starter_path,
        reference_path=starter_path,
        out_dir=str(tmp_path / "rm"),
        cfg=RewardConfig(init_from=trained_reward.path, n_norm_samples=8, heldout_fraction=0.0),
        progress=lambda step, total, metrics: seen.append((step, total)),
    )
    meta = json.loads((Path(res.path) / META_FILE).read_text())
    assert meta["init_from"] == trained_reward.path
    assert res.metrics["heldout_agreement"] is None and res.metrics["n_train"] == 10
    assert seen and seen[-1][0] == seen[-1][1]  # progress reached its total
