"""Label efficiency of the uncertainty-first queue against newest-first.

    python -m bench.uncertainty [--tiny] [--oracle length] [--next 200]

A reward model trained on an initial set of labels scores a pool of fresh tasks (four starter
samples each) by the entropy of its softmax, exactly as the queue does. The next N labels are
taken uncertainty-first (highest entropy) or newest-first (the pool's order: one policy, so
age order), labeled by a noisy simulated labeler, and a reward model is retrained on the
initial plus the next labels each way. Reported: held-out top-1 agreement with the labeler's
noise-free preference, before and after, and the gain per 100 labels.

Prints one JSON object as its last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _agreement(scorer, tasks, oracle) -> float:
    """Share of held-out tasks where the reward model's favourite is the labeler's favourite."""
    prompts = [p for p, texts in tasks for _ in texts]
    texts = [t for _, ts in tasks for t in ts]
    raw = scorer.raw(prompts, texts)
    hits = 0
    for i, (_, ts) in enumerate(tasks):
        scores = raw[4 * i : 4 * i + 4]
        truth = [oracle.score(t) for t in ts]
        # Ties in the labeler's score count as a hit for any of the tied best.
        hits += truth[max(range(4), key=scores.__getitem__)] == max(truth)
    return hits / len(tasks)


def main(argv: list[str] | None = None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(prog="python -m bench.uncertainty")
    parser.add_argument("--policy", default=str(REPO / "training" / "starter"))
    parser.add_argument("--oracle", default="length")
    parser.add_argument("--initial", type=int, default=100, help="labels before the comparison")
    parser.add_argument("--next", type=int, default=200, help="labels chosen each way")
    parser.add_argument("--pool", type=int, default=600, help="fresh tasks to choose from")
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="a smoke run with a few labels")
    args = parser.parse_args(argv)
    if args.tiny:
        args.initial, args.next, args.pool, args.heldout = 16, 16, 32, 16

    import torch

    from training.config import RewardConfig, SampleConfig
    from training.data import FourWayChoice, read_prompts
    from training.oracles import get_oracle, two_draw_agreement
    from training.reward import load_reward_scorer, train_reward_model
    from training.sampling import sample_completions

    from labeling.stats import entropy

    torch.set_num_threads(2)
    started = time.perf_counter()
    oracle, rng = get_oracle(args.oracle), random.Random(args.seed)
    prompts = read_prompts(REPO / "training" / "data" / "demo_prompts.jsonl")
    n_tasks = args.initial + args.pool + args.heldout
    picked = [prompts[i % len(prompts)] for i in range(n_tasks)]
    rng.shuffle(picked)
    rows = sample_completions(args.policy, picked, SampleConfig(seed=args.seed))
    tasks = [(p, [s.text for s in row]) for p, row in zip(picked, rows)]
    initial, pool, heldout = (
        tasks[: args.initial],
        tasks[args.initial : args.initial + args.pool],
        tasks[args.initial + args.pool :],
    )

    def label(batch):
        return [FourWayChoice(p, ts, oracle.choose(p, ts, rng)) for p, ts in batch]

    cfg = RewardConfig(heldout_fraction=0.0, n_norm_samples=16, seed=args.seed, norm_prompts=prompts[:8])
    out = Path(tempfile.mkdtemp(prefix="quartet-bench-"))

    def train(name, choices):
        result = train_reward_model(
            choices, policy_path=args.policy, reference_path=args.policy, out_dir=str(out / name),
            cfg=cfg, progress=lambda *_: None,
        )
        return load_reward_scorer(result.path)

    initial_labels = label(initial)
    base = train("initial", initial_labels)
    base_agreement = _agreement(base, heldout, oracle)
    pool_raw = base.raw([p for p, ts in pool for _ in ts], [t for _, ts in pool for t in ts])
    uncertainty = [entropy(pool_raw[4 * i : 4 * i + 4]) for i in range(len(pool))]
    by_uncertainty = [pool[i] for i in sorted(range(len(pool)), key=lambda i: -uncertainty[i])]
    results = {}
    for order, chosen in (("uncertainty_first", by_uncertainty[: args.next]), ("newest_first", pool[: args.next])):
        scorer = train(order, initial_labels + label(chosen))
        agreement = _agreement(scorer, heldout, oracle)
        results[order] = {
            "heldout_agreement": round(agreement, 4),
            "gain_per_100_labels": round(100 * (agreement - base_agreement) / args.next, 4),
            "mean_entropy_of_chosen": round(
                sum(uncertainty[pool.index(t)] for t in chosen) / len(chosen), 4
            ),
        }
    report = {
        "benchmark": "uncertainty",
        "oracle": args.oracle,
        # Two draws of the labeler on the same task agree this often (people: 0.38-0.46).
        "labeler_two_draw_agreement": round(two_draw_agreement(oracle, [ts for _, ts in heldout]), 4),
        "initial_labels": args.initial,
        "next_labels": args.next,
        "pool": args.pool,
        "heldout": args.heldout,
        "initial_heldout_agreement": round(base_agreement, 4),
        **results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
