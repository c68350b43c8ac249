"""Label efficiency of the whole loop.

    python -m bench.efficiency [--oracle length] [--milestones 500,1000,2000] [--tiny]

Simulated annotators label over HTTP with an oracle the policy is never told about, while the
loop (reward round every N choices, policy round, sampling round) runs on a Celery worker, as in
`make run`. At each milestone (number of labels) the current policy and ρ each sample one
completion for 200 held-out prompts; reported are the oracle's win rate of the policy over ρ
(ties count half), an estimate of KL(π‖ρ) in nats per completion on those samples, the KL the
last policy round logged against its target, and the wall time.

Prints one JSON object as its last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time

from bench._stack import REPO, Stack, annotator


def _sequence_logprobs(model, tok, prompts: list[str], completions: list[str]) -> list[float]:
    """log p(completion | prompt), summed over the completion's tokens, at temperature 1."""
    import torch

    from training.sampling import prompt_text

    out = []
    for prompt, completion in zip(prompts, completions, strict=True):
        context = tok(prompt_text(tok, prompt), return_tensors="pt").input_ids
        target = tok(completion, return_tensors="pt", add_special_tokens=False).input_ids
        if target.shape[1] == 0:
            out.append(0.0)
            continue
        ids = torch.cat([context, target], dim=1)[:, -model.config.n_positions :]
        with torch.inference_mode():
            logits = model(ids).logits[0, :-1].float()
        logps = torch.log_softmax(logits, dim=-1)
        n = target.shape[1]
        picked = logps[-n:].gather(1, ids[0, -n:].unsqueeze(1))
        out.append(float(picked.sum()))
    return out


def evaluate(policy_path: str, rho_path: str, prompts: list[str], oracle, seed: int) -> dict:
    from training.config import SampleConfig
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
    log_pi = _sequence_logprobs(policy, tok, prompts, ours)
    log_rho = _sequence_logprobs(rho, tok, prompts, ours)
    return {
        "win_rate": round(wins / len(prompts), 4),
        "kl_estimate": round(sum(a - b for a, b in zip(log_pi, log_rho)) / len(prompts), 3),
        "mean_oracle_score_policy": round(sum(map(oracle.score, ours)) / len(ours), 3),
        "mean_oracle_score_rho": round(sum(map(oracle.score, theirs)) / len(theirs), 3),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.efficiency")
    parser.add_argument("--oracle", default="length", help="training.oracles name")
    parser.add_argument("--milestones", default="500,1000,2000")
    parser.add_argument("--heldout", type=int, default=200, help="held-out prompts for the win rate")
    parser.add_argument("--annotators", type=int, default=4)
    parser.add_argument("--every", type=int, default=100, help="N: choices per loop iteration")
    parser.add_argument("--sample", type=int, default=100, help="M: prompts sampled per iteration")
    parser.add_argument("--max-minutes", type=float, default=40)
    parser.add_argument("--tiny", action="store_true", help="a few labels and tiny rounds: a smoke run")
    args = parser.parse_args(argv)
    milestones = [int(m) for m in args.milestones.split(",")]
    policy_config = {"steps": 8, "batch_size": 16, "lr": 3e-5, "kl_target": 4.0, "horizon": 1000}
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
    from training.oracles import get_oracle

    oracle = get_oracle(args.oracle)
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
            }
            if policy:
                point.update(evaluate(policy.artifact_path, starter, heldout, oracle, seed=milestone))
            results.append(point)
    report = {
        "benchmark": "efficiency",
        "oracle": args.oracle,
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
