"""Shared, session-scoped fixtures: the committed starter, its samples, and simulated choices.

Sampling and reward training are the slow parts, so one reward model trained on 400 simulated
choices serves the agreement, normalization and policy-round tests.
"""

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "training" / "starter"
DEMO_PROMPTS = REPO / "training" / "data" / "demo_prompts.jsonl"
N_CHOICES = 400
ORACLE = "length"


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    import torch

    # Results are reproducible for a fixed thread count; the suite shares two cores.
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def starter_path() -> str:
    return str(STARTER)  # committed; rebuilt by python -m training build-starter --out training/starter


@pytest.fixture(scope="session")
def demo_prompts() -> list[str]:
    from training.data import read_prompts

    return read_prompts(DEMO_PROMPTS)


@pytest.fixture(scope="session")
def oracle_choices(starter_path, demo_prompts):
    """400 four-way choices on starter samples, chosen by the noisy length labeler."""
    from training.config import SampleConfig
    from training.data import FourWayChoice
    from training.oracles import get_oracle
    from training.sampling import sample_completions

    prompts = [demo_prompts[i % len(demo_prompts)] for i in range(N_CHOICES)]
    rows = sample_completions(starter_path, prompts, SampleConfig(seed=11))
    oracle, rng = get_oracle(ORACLE), random.Random(0)
    out = []
    for prompt, row in zip(prompts, rows):
        texts = [s.text for s in row]
        out.append(FourWayChoice(prompt, texts, oracle.choose(prompt, texts, rng)))
    return out


@pytest.fixture(scope="session")
def trained_reward(tmp_path_factory, starter_path, oracle_choices, demo_prompts):
    from training.config import RewardConfig
    from training.reward import train_reward_model

    out = tmp_path_factory.mktemp("reward") / "rm"
    cfg = RewardConfig(seed=0, n_norm_samples=1024, norm_prompts=demo_prompts)
    return train_reward_model(
        oracle_choices,
        policy_path=starter_path,
        reference_path=starter_path,
        out_dir=str(out),
        cfg=cfg,
    )
