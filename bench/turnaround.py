"""Loop turnaround in the demo configuration.

    python -m bench.turnaround [--tiny]

Seconds from the N-th choice (the one that triggers the loop) to the first task sampled by the
new policy being served to an annotator, with the stages broken out: queue wait, reward round,
policy round, sampling round, and the wait until that task is served. Runs the stack as
`make run` does (gunicorn, one Celery worker with beat, SQLite, the filesystem broker) with the
demo project on the committed starter; annotators label over HTTP with a simulated labeler.

Prints one JSON object as its last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from bench._stack import Stack, annotator


def _stage(run) -> dict:
    return {
        "queue_wait_s": round((run.started_at - run.created_at).total_seconds(), 2),
        "run_s": round((run.finished_at - run.started_at).total_seconds(), 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.turnaround")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--tiny", action="store_true", help="8 choices and tiny rounds: a smoke run")
    args = parser.parse_args(argv)

    stack = Stack("turnaround")
    stack.setup_django()
    from django.core.management import call_command

    from labeling.models import Assignment, Project, TrainingRun
    from labeling.services.demo import demo_setup
    from labeling.annotator_client import AnnotatorClient
    from training.oracles import get_oracle

    project = demo_setup(password="bench-pass").project
    n = project.loop_every_choices
    if args.tiny:
        n = 8
        Project.objects.filter(pk=project.pk).update(
            loop_every_choices=n, reward_config={"n_norm_samples": 16},
            policy_config={"steps": 1, "batch_size": 8}, loop_sample_prompts=4,
        )
    # Enough tasks for N choices up front, and no low-water top-ups racing the loop.
    m = Project.objects.get(pk=project.pk).loop_sample_prompts
    Project.objects.filter(pk=project.pk).update(queue_low_water=0, loop_sample_prompts=n + 8)
    call_command("sample_tasks", project="demo", verbosity=0)
    Project.objects.filter(pk=project.pk).update(loop_sample_prompts=m)

    labeler = annotator(project, "labeler")
    poller = annotator(project, "poller")
    oracle, rng = get_oracle("sentiment"), random.Random(0)
    with stack:
        stack.start()
        session = AnnotatorClient(stack.url, *labeler)
        session.login()
        watcher = AnnotatorClient(stack.url, *poller)
        watcher.login()
        page = session.next_task("demo")
        for i in range(n):
            if i == n - 1:
                t0 = time.time()
            page = session.choose("demo", page, oracle.choose(page.prompt, page.completions, rng), 1500)
        served_at = None
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            seen = watcher.next_task("demo")
            if seen.assignment is None:
                time.sleep(0.25)
                continue
            if Assignment.objects.get(pk=seen.assignment).task.generation >= 1:
                served_at = time.time()
                break
            # An older task: this annotator skips it, as someone waiting for the new ones would.
            watcher.skip("demo", seen)
        runs = {r.kind: r for r in TrainingRun.objects.filter(project=project, trigger__startswith="loop:")}
    if served_at is None:
        failed = list(TrainingRun.objects.filter(status="failed").values_list("kind", "error"))
        raise SystemExit(f"no task from the new policy within {args.timeout} s; failed runs: {failed}")
    sampling = runs["sampling"]
    report = {
        "benchmark": "turnaround",
        "choices_to_trigger": n,
        "seconds_to_first_new_task_served": round(served_at - t0, 2),
        "stages": {
            "trigger_to_reward_queued_s": round(runs["reward"].created_at.timestamp() - t0, 2),
            "reward": _stage(runs["reward"]),
            "policy": _stage(runs["policy"]),
            "sampling": _stage(sampling),
            "sampled_to_served_s": round(served_at - sampling.finished_at.timestamp(), 2),
        },
        "reward_heldout_agreement": runs["reward"].summary.get("heldout_agreement"),
        "policy_config": Project.objects.get(pk=project.pk).policy_config,
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
