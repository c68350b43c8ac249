"""How noisy each simulated labeler is, against people's 38-46%.

    python -m bench.labelers [--prompts 200] [--seed 0]

Samples ρ's tasks (the starter, four completions per demo prompt at temperature 0.7, as the
loop's first sampling round does) and reports, for every registered oracle, its two-draw
agreement at its default temperature (the probability that two independent choices on the same
task agree) and the temperature that would put it at 0.42. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import random

from bench._stack import REPO


def rho_tasks(n_prompts: int, seed: int) -> list[list[str]]:
    from training.config import SampleConfig
    from training.data import read_prompts
    from training.sampling import sample_completions

    prompts = read_prompts(REPO / "training" / "data" / "demo_prompts.jsonl")
    random.Random(seed).shuffle(prompts)
    rows = sample_completions(str(REPO / "training" / "starter"), prompts[:n_prompts], SampleConfig(seed=seed))
    return [[s.text for s in row] for row in rows]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.labelers")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from training.oracles import HUMAN_AGREEMENT, ORACLES, calibrated, two_draw_agreement

    tasks = rho_tasks(args.prompts, args.seed)
    report = {"benchmark": "labelers", "rho_tasks": len(tasks), "people": list(HUMAN_AGREEMENT), "oracles": {}}
    for name, oracle in ORACLES.items():
        report["oracles"][name] = {
            "temperature": oracle.temperature,
            "two_draw_agreement": round(two_draw_agreement(oracle, tasks), 4),
            "temperature_for_0.42": round(calibrated(oracle, tasks, 0.42).temperature, 4),
        }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
