"""Reward and policy rounds over two processes through `accelerate launch` (CPU, gloo) reach the
same learning checks as one process.

Small on purpose (two shared cores): 120 four-way choices where the labeler prefers the longest
answer, and a short policy round against the reward model the two-process round trained.
"""

import random
import statistics

import pytest

from training.config import LaunchConfig, PolicyConfig, RewardConfig
from training.data import FourWayChoice
from training.launch import policy_round, reward_round
from training.storage import ArtifactStore

KL_TARGET = 3.0  # nats per completion
WORDS = "the data is a model of file and value for each new list when this code".split()


@pytest.fixture(scope="module")
def length_choices(demo_prompts):
    """Choices whose best answer is the longest of four (1 to 12 words): learnable quickly."""
    rng = random.Random(0)
    out = []
    for i in range(120):
        lens = rng.sample(range(1, 13), 4)
        texts = [" " + " ".join(rng.choice(WORDS) for _ in range(k)) + "." for k in lens]
        out.append(FourWayChoice(demo_prompts[i % len(demo_prompts)], texts,
                                 max(range(4), key=lambda j: lens[j])))
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    return ArtifactStore(root=str(root), cache_dir=str(root / ".cache"))


def _reward(choices, starter, store, name, processes, seen):
    return reward_round(
        choices, policy_path=starter, reference_path=starter,
        out=store.version_url(name), store=store,
        cfg=RewardConfig(batch_size=8, lr=1e-4, n_norm_samples=16, seed=0),
        launch=LaunchConfig(num_processes=processes),
        progress=lambda step, total, metrics: seen.append((step, total, metrics.get("phase"))),
    )


@pytest.fixture(scope="module")
def two_process_reward(length_choices, starter_path, store):
    seen = []
    res = _reward(length_choices, starter_path, store, "rm-2", 2, seen)
    return res, seen


def test_reward_round_on_two_processes_learns_like_one(
    two_process_reward, length_choices, starter_path, store
):
    two, seen = two_process_reward
    one = _reward(length_choices, starter_path, store, "rm-1", 1, [])
    print("reward 1 process", one.metrics, "\nreward 2 processes", two.metrics)
    for res in (one, two):
        assert res.metrics["n_train"] == 96 and res.metrics["steps"] == 12  # same global batch
        assert res.metrics["heldout_agreement"] > 0.5  # chance is 0.25
        assert res.metrics["heldout_loss"] < 1.386  # log 4
    # Data parallelism splits each batch of 8 choices 4 + 4 and averages the gradients: the
    # same updates as one process, up to float rounding, so the held-out figures agree.
    assert two.metrics["heldout_agreement"] == one.metrics["heldout_agreement"]
    assert two.metrics["heldout_loss"] == pytest.approx(one.metrics["heldout_loss"], abs=1e-3)
    assert two.gain == pytest.approx(one.gain, rel=1e-2)
    # Rank 0 alone reported, each training step once, and the round ran to its total.
    train_steps = [s for s, _, phase in seen if phase == "train"]
    assert train_steps == list(range(1, 13)) and seen[-1][0] == seen[-1][1]


def test_policy_round_on_two_processes_raises_reward_within_kl_budget(
    two_process_reward, starter_path, demo_prompts, store
):
    reward, _ = two_process_reward
    seen = []
    res = policy_round(
        policy_path=starter_path, reference_path=starter_path, reward_path=reward.path,
        prompts=demo_prompts, out=store.version_url("pi-2"), store=store,
        cfg=PolicyConfig(steps=12, batch_size=16, lr=5e-5, beta=0.15, kl_target=KL_TARGET,
                         horizon=1000, seed=0),
        launch=LaunchConfig(num_processes=2),
        progress=lambda step, total, metrics: seen.append(step),
    )
    print("policy 2 processes", res.final, [round(m["reward"], 3) for m in res.metrics])
    assert seen == list(range(1, 13)) and len(res.metrics) == 12
    rewards = [m["reward"] for m in res.metrics]
    assert statistics.fmean(rewards[6:]) > statistics.fmean(rewards[:6]) + 0.3
    assert KL_TARGET / 2 <= res.final["kl_mean_second_half"] <= KL_TARGET * 2, res.metrics
