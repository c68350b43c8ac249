"""Sampling throughput on the starter: 64 prompts x 4 completions, batched vs one prompt at a time.

    python -m bench.sampling [--tiny] [--policy training/starter]

Prints one JSON object as its last line. A benchmark, not a test: no assertion on time.
One prompt at a time still samples that prompt's 4 completions in one generate call.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(model, tok, prompts, cfg) -> tuple[float, int]:
    from training.sampling import sample_with_model

    t0 = time.perf_counter()
    rows = sample_with_model(model, tok, prompts, cfg)
    return time.perf_counter() - t0, sum(len(r) for r in rows)


def main(argv: list[str] | None = None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(prog="python -m bench.sampling")
    parser.add_argument("--policy", default=str(REPO / "training" / "starter"))
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs; best time kept")
    parser.add_argument("--tiny", action="store_true", help="8 prompts x 4, 8 tokens: a smoke run")
    args = parser.parse_args(argv)
    if args.tiny:
        args.prompts, args.max_new_tokens, args.repeats = 8, 8, 1

    import torch

    from training.config import SampleConfig
    from training.data import read_prompts
    from training.models import load_policy, load_tokenizer

    torch.set_num_threads(args.threads)
    prompts = read_prompts(REPO / "training" / "data" / "demo_prompts.jsonl")[: args.prompts]
    tok, model = load_tokenizer(args.policy), load_policy(args.policy)
    base = dict(seed=0, max_new_tokens=args.max_new_tokens, n_completions=4)
    _timed(model, tok, prompts[:2], SampleConfig(batch_size=2, **base))  # warm-up: first-call costs
    # The machine may be shared: alternate the two modes and keep each one's best time, so a
    # burst of foreign load penalizes neither mode alone.
    batched, single = [], []
    for _ in range(args.repeats):
        batched_s, n = _timed(model, tok, prompts, SampleConfig(batch_size=len(prompts), **base))
        single_s, n_single = _timed(model, tok, prompts, SampleConfig(batch_size=1, **base))
        batched.append(batched_s)
        single.append(single_s)
    batched_s, single_s = min(batched), min(single)
    result = {
        "bench": "sampling",
        "policy": args.policy,
        "device": str(next(model.parameters()).device),
        "threads": args.threads,
        "prompts": len(prompts),
        "completions_per_prompt": 4,
        "max_new_tokens": args.max_new_tokens,
        "batched_completions_per_s": round(n / batched_s, 2),
        "one_prompt_at_a_time_completions_per_s": round(n_single / single_s, 2),
        "speedup": round(single_s / batched_s, 2),
        "batched_seconds": round(batched_s, 3),
        "one_at_a_time_seconds": round(single_s, 3),
        "repeats": args.repeats,
        "all_batched_seconds": [round(t, 3) for t in batched],
        "all_one_at_a_time_seconds": [round(t, 3) for t in single],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
