"""Label efficiency of the whole loop.

    python -m bench.efficiency [--oracle compound] [--agreement 0.42] [--milestones 500,1000,2000] [--tiny]

Simulated annotators label over HTTP with an oracle the policy is never told about, while the
loop (reward round every N choices, policy round, sampling round) runs on a Celery worker, as in
`make run`. The labeler is as noisy as people: before labeling starts, its temperature is set so
that two of its draws on ρ's first tasks agree on `--agreement` of them (people: 38-46%), and the
measured agreement is reported. The default `compound` preference has several parts (fullness up
to ~16 words, tone, a complete sentence, no repeated words), so no single dial wins.

At each milestone (number of labels) the current policy and ρ each sample one completion for
200 held-out prompts; reported are the oracle's win rate of the policy over ρ (ties count half),
KL(π‖ρ) in nats per completion on π's samples as the policy round defines it (both models
scored at the sampling temperature; training.divergence), the KL and β the last policy round
logged against its target (β carried across rounds), and the wall time.

Prints one JSON object as its last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time

from bench._stack import REPO, Stack, annotator


def evaluate(policy_path: str, rho_path: str, prompts: list[str], oracle, seed: int) -> dict:
    """Win rate of π over ρ (one sample each per prompt, the oracle's score, ties half) and
    KL(π‖ρ) on π's samples as the policy round defines it: sampled at T, scored at T by both."""
    from training.config import SampleConfig
    from training.divergence import kl_estimate
    from training.models import load_policy, load_tokenizer
    from training.sampling import sample_with_model

    cfg = SampleConfig(seed=seed, n_completions=1)
    tok = load_tokenizer(rho_path)
    rho = load_policy(rho_path)
    policy = load_policy(policy_path)
    ours = [row[0].text for row in sample_with_model(policy, tok, prompts, cfg)]
    theirs = [row[0].text for row in sample_with_model(rho, tok, prompts, cfg)]
    wins = sum(
        1.0 if oracle.score(a) > oracle.score(b) else 0.5 if oracle.score(a) == oracle.score(b) else 0.0
        for a, b in zip(ours, theirs, strict=True)
    )
    return {
        "win_rate": round(wins / len(prompts), 4),
        "kl_estimate": round(kl_estimate(policy, rho, tok, prompts, ours, temperature=cfg.temperature), 3),
        "mean_oracle_score_policy": round(sum(map(oracle.score, ours)) / len(ours), 3),
        "mean_oracle_score_rho": round(sum(map(oracle.score, theirs)) / len(theirs), 3),
    }


def rho_task_texts(project) -> list[list[str]]:
    """The four answers of every task ρ sampled for the project: where labelers are calibrated."""
    from labeling.models import Completion

    texts: dict[int, dict[int, str]] = {}
    for task_id, position, text in Completion.objects.filter(
        task__project=project, task__policy_version__number=0
    ).values_list("task_id", "position", "text"):
        texts.setdefault(task_id, {})[position] = text
    return [[four[p] for p in range(4)] for four in texts.values()]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.efficiency")
    parser.add_argument("--oracle", default="compound", help="training.oracles name")
    parser.add_argument(
        "--agreement", type=float, default=0.42,
        help="calibrate the labeler to this two-draw agreement on ρ's tasks (people: 0.38-0.46); 0 = keep its temperature",
    )
    parser.add_argument("--milestones", default="500,1000,2000")
    parser.add_argument("--heldout", type=int, default=200, help="held-out prompts for the win rate")
    parser.add_argument("--annotators", type=int, default=4)
    parser.add_argument("--every", type=int, default=100, help="N: choices per loop iteration")
    parser.add_argument("--sample", type=int, default=100, help="M: prompts sampled per iteration")
    parser.add_argument("--max-minutes", type=float, default=40)
    parser.add_argument("--tiny", action="store_true", help="a few labels and tiny rounds: a smoke run")
    args = parser.parse_args(argv)
    milestones = [int(m) for m in args.milestones.split(",")]
    policy_config = {"steps": 8, "batch_size": 16, "lr": 3e-5, "kl_target": 4.0, "horizon": 500}
    reward_config = {"n_norm_samples": 128}
    if args.tiny:
        milestones, args.heldout, args.every, args.sample = [8, 16], 8, 8, 12
        policy_config, reward_config = {"steps": 1, "batch_size": 8}, {"n_norm_samples": 16}

    stack = Stack("efficiency")
    stack.setup_django()
    from django.core.management import call_command

    from labeling.models import Choice, Project, TrainingRun
    from labeling.services import prompts_import
    from labeling.simulation import simulate
    from training.data import read_prompts
    from training.oracles import calibrated, get_oracle, two_draw_agreement

    prompts = read_prompts(REPO / "training" / "data" / "demo_prompts.jsonl")
    random.Random(0).shuffle(prompts)
    heldout, train_prompts = prompts[: args.heldout], prompts[args.heldout :]
    starter = str(REPO / "training" / "starter")
    project = Project.objects.create(
        name="Efficiency", slug="eff", policy_source=starter, loop_enabled=True,
        loop_every_choices=args.every, loop_sample_prompts=args.sample, queue_low_water=args.every // 2,
        reward_config=reward_config, policy_config=policy_config,
    )
    source = stack.root / "prompts.jsonl"
    source.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in train_prompts))
    prompts_import(project=project, source=source)
    call_command("sample_tasks", project="eff", verbosity=0)
    rho_tasks = rho_task_texts(project)
    oracle = get_oracle(args.oracle)
    if args.agreement:
        oracle = calibrated(oracle, rho_tasks, args.agreement)
    labeler = {
        "oracle": args.oracle,
        "temperature": round(oracle.temperature, 4),
        "two_draw_agreement_on_rho_tasks": round(two_draw_agreement(oracle, rho_tasks), 4),
        "rho_tasks": len(rho_tasks),
    }
    accounts = [annotator(project, f"sim{i}") for i in range(args.annotators)]

    results, started = [], time.monotonic()
    with stack:
        stack.start()
        stop = threading.Event()
        labeled = threading.Thread(
            target=simulate,
            kwargs=dict(base_url=stack.url, slug="eff", accounts=accounts, oracle=oracle, labels=max(milestones),
                        wait_for_tasks=args.max_minutes * 60),
            daemon=True,
        )
        labeled.start()
        for milestone in milestones:
            while Choice.objects.filter(project=project).count() < milestone:
                if time.monotonic() - started > args.max_minutes * 60:
                    stop.set()
                    break
                time.sleep(2)
            if stop.is_set():
                break
            project.refresh_from_db()
            policy = project.current_policy
            last_policy_run = (
                TrainingRun.objects.filter(project=project, kind="policy", status="succeeded").first()
            )
            point = {
                "labels": milestone,
                "wall_s": round(time.monotonic() - started, 1),
                "policy_version": policy.number if policy else 0,
                "reward_models": project.reward_models.count(),
                "logged_kl": last_policy_run.summary.get("kl_mean_second_half") if last_policy_run else None,
                "kl_target": policy_config.get("kl_target"),
                "beta": policy.metrics.get("beta_final") if policy else None,
            }
            if policy:
                point.update(evaluate(policy.artifact_path, starter, heldout, oracle, seed=milestone))
            results.append(point)
    report = {
        "benchmark": "efficiency",
        "oracle": args.oracle,
        "labeler": labeler,
        "annotators": args.annotators,
        "loop_every_choices": args.every,
        "heldout_prompts": args.heldout,
        "milestones": results,
        "failed_runs": TrainingRun.objects.filter(project=project, status="failed").count(),
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
