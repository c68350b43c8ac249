"""Label efficiency of the whole loop, for a text or a chat project.

    python -m bench.efficiency [--chat] [--oracle NAME] [--agreement 0.42] [--milestones 500,1000,2000] [--tiny]

Simulated annotators label over HTTP with an oracle the policy is never told about, while the
loop (reward round every N choices, policy round, sampling round) runs on a Celery worker, as in
`make run`. The labeler is as noisy as people: before labeling starts, its temperature is set so
that two of its draws on ρ's first tasks agree on `--agreement` of them (people: 38-46%), and the
measured agreement is reported. Text (default): the demo prompts on the starter, the `compound`
preference (fullness up to ~16 words, tone, a complete sentence, no repeated words), so no single
dial wins. `--chat`: a chat project on the chat starter, conversations about standard-library
modules the starter was not tuned on (training.build_chat.chat_demo_prompts; the committed
chat_demo_prompts.jsonl is its first 96), the `chat` preference (well-formed Markdown that names
what was asked about, 15-60 words; it reads the conversation), chat round defaults.

The held-out prompts are imported as the project's evaluation split, so no reward, policy or
sampling round ever sees them. At each milestone (number of training labels) labeling pauses and
the loop finishes the round those labels started (if the milestone fell a label or two short of
the loop's trigger, labeling goes on until the trigger fires: `labels_trained` in the report is
what the measured policy's reward model saw); then the policy it made is measured twice on the
held-out prompts, against ρ:

- direct: π and ρ each sample two answers per prompt; the figure is the labeler's exact
  probability of picking one of π's two among the four (mean over prompts): the expected value of
  what an evaluation round measures, without the noise of its draws. Also the oracle's noiseless
  one-to-one win rate (one sample each, ties half: the figure earlier READMEs reported), KL(π‖ρ)
  in nats per completion on π's samples as the policy round defines it (both models scored at the
  sampling temperature; training.divergence), and the KL and β the last policy round logged.
- evaluation: Quartet's human evaluation round (labeling.services.evaluation) of the current
  version against ρ on the split; the same simulated annotators label its tasks over HTTP (every
  hand-out is an evaluation task while any is open), and its win rate, 95% interval and the
  reward model's predicted win rate are read as the dashboard shows them. Reported: whether the
  direct figure lies within the interval.

Labeling for training resumes afterwards. The queue is refilled only when empty (`--low-water 1`):
each loop iteration samples M prompts from the newest policy and the annotators label them. Evaluation choices never count towards the milestones
or train anything. Prints one JSON object as its last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import time

from bench._stack import REPO, Stack, annotator


def sample_config(project, seed: int, n_completions: int):
    """The sampling settings a sampling or evaluation round of ``project`` uses (its overrides
    on top of the chat defaults in a chat project), with ``seed`` and ``n_completions``."""
    from labeling.models import TrainingRun
    from labeling.services.runs import round_config
    from training.config import SampleConfig

    cfg = round_config(project=project, kind=TrainingRun.Kind.SAMPLING)
    return SampleConfig(**{**cfg, "seed": seed, "n_completions": n_completions})


def evaluate(policy_path: str, rho_path: str, prompts: list, oracle, cfg, show: int = 3) -> dict:
    """π against ρ on ``prompts`` (text or conversations) as an evaluation round frames it, but
    computed directly: each version samples two answers per prompt (``cfg``, two completions);
    the win rate is the mean over prompts of the labeler's probability of choosing one of π's two
    among the four (its softmax; equal scores split evenly, so no preference reads 50%). Also
    the oracle's noiseless one-to-one win rate (first sample each, ties half), KL(π‖ρ) on all of
    π's samples as the policy round defines it (sampled at T, scored at T by both), and the first
    ``show`` prompts with one answer of each. Writes nothing."""
    from training.divergence import kl_estimate
    from training.models import load_policy, load_tokenizer
    from training.sampling import sample_with_model

    tok = load_tokenizer(rho_path)
    rho = load_policy(rho_path)
    policy = load_policy(policy_path)
    ours = [[s.text for s in row] for row in sample_with_model(policy, tok, prompts, cfg)]
    theirs = [[s.text for s in row] for row in sample_with_model(rho, tok, prompts, cfg)]
    shares, pairwise = [], 0.0
    for prompt, mine, other in zip(prompts, ours, theirs, strict=True):
        probs = oracle.choice_probs(mine + other, prompt)
        shares.append(sum(probs[: len(mine)]))
        a, b = oracle.score(mine[0], prompt), oracle.score(other[0], prompt)
        pairwise += 1.0 if a > b else 0.5 if a == b else 0.0
    n = len(prompts)
    rate = sum(shares) / n
    spread = (sum((x - rate) ** 2 for x in shares) / max(1, n - 1)) ** 0.5
    flat_prompts = [p for p, row in zip(prompts, ours, strict=True) for _ in row]
    flat_ours = [t for row in ours for t in row]
    flat_theirs = [t for row in theirs for t in row]
    return {
        "direct_win_rate": round(rate, 4),
        "direct_win_rate_se": round(spread / n**0.5, 4),
        "oracle_one_to_one_win_rate": round(pairwise / n, 4),
        "kl_estimate": round(kl_estimate(policy, rho, tok, flat_prompts, flat_ours, temperature=cfg.temperature), 3),
        "mean_oracle_score_policy": round(sum(oracle.score(t, p) for p, t in zip(flat_prompts, flat_ours)) / len(flat_ours), 3),
        "mean_oracle_score_rho": round(sum(oracle.score(t, p) for p, t in zip(flat_prompts, flat_theirs)) / len(flat_theirs), 3),
        "samples": [{"prompt": p, "rho": other[0], "policy": mine[0]}
                    for p, mine, other in zip(prompts[:show], ours, theirs)],
    }


def rho_tasks(project) -> list[tuple[object, list[str]]]:
    """(prompt, four answers) of every task ρ sampled for the project: where labelers are
    calibrated. A chat prompt is its conversation, as the labeler reads it on the page."""
    from labeling.models import Completion

    prompts: dict[int, object] = {}
    texts: dict[int, dict[int, str]] = {}
    for task_id, text, messages, position, answer in Completion.objects.filter(
        task__project=project, task__policy_version__number=0, task__is_evaluation=False
    ).values_list("task_id", "task__prompt__text", "task__prompt__messages", "position", "text"):
        prompts[task_id] = text if messages is None else messages
        texts.setdefault(task_id, {})[position] = answer
    return [(prompts[pk], [four[p] for p in range(4)]) for pk, four in texts.items()]


def two_draw_agreement(oracle, tasks: list[tuple[object, list[str]]]) -> float:
    """Probability that two independent choices of ``oracle`` on a task agree, averaged over
    ``tasks`` (exact: mean of sum p_j^2). Like training.oracles.two_draw_agreement, but the
    labeler reads each task's prompt (the chat labeler judges an answer against its question)."""
    if not tasks:
        raise ValueError("no tasks to measure agreement on")
    return sum(sum(p * p for p in oracle.choice_probs(list(four), prompt)) for prompt, four in tasks) / len(tasks)


def calibrate(oracle, tasks: list[tuple[object, list[str]]], target: float):
    """``oracle`` (prompt scorer kept) at the temperature where its two-draw agreement on
    ``tasks`` equals ``target``: a bisection on log temperature (agreement falls as it rises).
    training.oracles.calibrated does the same for text-only labelers but drops a prompt scorer.
    Raises ValueError when the target cannot be reached."""
    k = len(tasks[0][1]) if tasks else 0
    if not tasks or not 1.0 / k < target < 1.0:
        raise ValueError(f"target agreement must lie between 1/{k} and 1, got {target}")
    lo, hi = 1e-3, 1e3
    if two_draw_agreement(dataclasses.replace(oracle, temperature=lo), tasks) < target:
        raise ValueError(f"{oracle.name!r} cannot agree with itself {target:.0%} of the time on these tasks")
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if two_draw_agreement(dataclasses.replace(oracle, temperature=mid), tasks) > target:
            lo = mid
        else:
            hi = mid
    return dataclasses.replace(oracle, temperature=math.sqrt(lo * hi))


def training_labels(project) -> int:
    """Best-of-four choices on training tasks (evaluation choices are not labels the loop uses)."""
    from labeling.models import Choice

    return Choice.objects.filter(project=project, kind=Choice.Kind.BEST, task__is_evaluation=False).count()


def wait_for_loop(project, deadline: float) -> bool:
    """Wait until the loop has no round queued or running (two looks a second apart, since a
    chain starts its next round just after the previous one succeeds) and none is due: when N
    choices are waiting (they came while another round ran, so none was triggered), start the
    reward round they are due, as the next choice would. False when ``deadline`` passed."""
    from labeling.models import TrainingRun
    from labeling.services.runs import loop_maybe_trigger

    quiet = 0
    while time.monotonic() < deadline:
        if TrainingRun.objects.filter(project=project, status__in=TrainingRun.ACTIVE).exists():
            quiet = 0
        elif quiet >= 1:
            if loop_maybe_trigger(project_id=project.pk) is None:
                return True
            quiet = 0
        else:
            quiet += 1
        time.sleep(1)
    return False


def human_evaluation(stack, project, accounts, oracle, *, candidate: int, prompts: int, seed: int,
                     deadline: float) -> dict:
    """Run one evaluation round of version ``candidate`` against ρ on ``prompts`` evaluation
    prompts through Quartet (labeling.services.evaluation): start it, wait for the worker to
    sample its tasks, let the simulated annotators label over HTTP until every task has its
    decision, and return its result as the dashboard reads it (labeling.selectors.evaluation).
    Assumes the loop is idle. Side effects: the round's tasks and choices; while its tasks are
    open every hand-out is one of them (evaluation rate 100%), so few training tasks are labeled."""
    from labeling.models import TrainingRun
    from labeling.selectors.evaluation import evaluation_results
    from labeling.services.evaluation import evaluation_start
    from labeling.simulation import simulate

    from labeling.services.runs import RunConflict

    while True:
        try:
            evaluation = evaluation_start(project=project, candidate_number=candidate, prompts=prompts,
                                          trigger="bench.efficiency")
            break
        except RunConflict:  # the queue's low-water refill started a sampling round meanwhile
            if not wait_for_loop(project, deadline):
                return {"run_status": "not started", "candidate": candidate, "baseline": 0}
    run = evaluation.run
    while run.status in TrainingRun.ACTIVE and time.monotonic() < deadline:
        time.sleep(1)
        run.refresh_from_db()
    out = {"run_status": run.status, "candidate": candidate, "baseline": 0}
    if run.status != TrainingRun.Status.SUCCEEDED:
        return out | {"error": run.error[-500:]}
    tasks = evaluation.items.count()
    errors: list[str] = []
    attempt = 0
    # Until every task has its decision (or time is up), re-reading the result after each pass.
    # A pass can end short: an annotator that stops when the pass's labels are spent still holds
    # the evaluation task it was handed, and while that lease lasts only it is given that task;
    # a few training tasks leased beside the last evaluation tasks also take labels.
    while True:
        [result] = [r for r in evaluation_results(project=project) if r.id == evaluation.pk]
        if result.labeled_prompts >= tasks or time.monotonic() > deadline:
            break
        done = simulate(base_url=stack.url, slug=project.slug, accounts=accounts, oracle=oracle,
                        labels=tasks - result.labeled_prompts, seed=seed * 100 + attempt, wait_for_tasks=5)
        errors += done.errors
        attempt += 1
    return out | {
        "tasks": tasks, "decisions": result.decisions, "win_rate": result.win_rate,
        "ci_low": result.ci_low, "ci_high": result.ci_high, "interval": result.method,
        "predicted_win_rate": (round(result.predicted_win_rate, 4)
                               if result.predicted_win_rate is not None else None),
        "reward_model": result.reward_model, "reward_above_humans": result.reward_above_humans,
        "simulation_errors": errors,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.efficiency")
    parser.add_argument("--chat", action="store_true", help="a chat project on the chat starter, chat labeler")
    parser.add_argument("--oracle", default=None, help="training.oracles name (default: compound; chat with --chat)")
    parser.add_argument(
        "--agreement", type=float, default=0.42,
        help="calibrate the labeler to this two-draw agreement on ρ's tasks (people: 0.38-0.46); 0 = keep its temperature",
    )
    parser.add_argument("--milestones", default=None, help="training labels (default 500,1000,2000; chat 500,1000)")
    parser.add_argument("--heldout", type=int, default=None,
                        help="held-out (evaluation) prompts (default 200; chat 100 of its 285)")
    parser.add_argument("--annotators", type=int, default=4)
    parser.add_argument("--every", type=int, default=100, help="N: choices per loop iteration")
    parser.add_argument("--sample", type=int, default=100, help="M: prompts sampled per iteration")
    parser.add_argument(
        "--low-water", type=int, default=1,
        help="the project's queue low-water mark: 1 (default) refills only an empty queue, so every label "
        "is on the newest policy's samples and no sampling round is spent on tasks the loop does not need",
    )
    parser.add_argument("--norm-samples", type=int, default=128,
                        help="ρ samples a reward round scores to normalize the reward (RewardConfig.n_norm_samples)")
    parser.add_argument("--max-minutes", type=float, default=40)
    parser.add_argument("--tiny", action="store_true", help="a few labels and tiny rounds: a smoke run")
    args = parser.parse_args(argv)
    oracle_name = args.oracle or ("chat" if args.chat else "compound")
    milestones = [int(m) for m in (args.milestones or ("500,1000" if args.chat else "500,1000,2000")).split(",")]
    heldout_n = args.heldout or (100 if args.chat else 200)
    policy_config = {"steps": 8, "batch_size": 16, "lr": 3e-5, "kl_target": 4.0, "horizon": 500}
    reward_config = {"n_norm_samples": args.norm_samples}
    sample_overrides: dict = {}
    if args.tiny:
        milestones, heldout_n, args.every, args.sample = [8, 16], 8, 8, 12
        policy_config, reward_config = {"steps": 1, "batch_size": 8}, {"n_norm_samples": 16}
        if args.chat:
            sample_overrides = {"max_new_tokens": 32}  # chat answers run to 96 tokens by default

    stack = Stack("efficiency-chat" if args.chat else "efficiency")
    stack.setup_django()
    from django.core.management import call_command

    from labeling.models import Project, TrainingRun
    from labeling.selectors import choices_since_last_reward_round
    from labeling.services import prompts_import
    from labeling.simulation import simulate
    from training.data import read_prompts
    from training.oracles import get_oracle

    if args.chat:
        from training.build_chat import chat_demo_prompts

        prompts = chat_demo_prompts(seed=0, n=10_000)  # all 285: none from a module the starter was tuned on
        starter = str(REPO / "training" / "chat_starter")
    else:
        prompts = read_prompts(REPO / "training" / "data" / "demo_prompts.jsonl")
        starter = str(REPO / "training" / "starter")
    random.Random(0).shuffle(prompts)
    if not 0 < heldout_n < len(prompts):
        parser.error(f"--heldout must lie between 1 and {len(prompts) - 1} ({len(prompts)} prompts)")
    heldout, train_prompts = prompts[:heldout_n], prompts[heldout_n:]
    project = Project.objects.create(
        name="Efficiency", slug="eff", policy_source=starter, loop_enabled=True,
        prompt_format=Project.PromptFormat.CHAT if args.chat else Project.PromptFormat.TEXT,
        loop_every_choices=args.every, loop_sample_prompts=args.sample, queue_low_water=args.low_water,
        reward_config=reward_config, policy_config=policy_config, sample_config=sample_overrides,
        evaluation_rate=100, evaluation_prompts_per_round=heldout_n,
    )
    source = stack.root / "prompts.jsonl"
    source.write_text(
        "".join(json.dumps({"prompt": p}) + "\n" for p in train_prompts)
        + "".join(json.dumps({"prompt": p, "split": "evaluation"}) + "\n" for p in heldout)
    )
    prompts_import(project=project, source=source)
    call_command("sample_tasks", project="eff", verbosity=0)
    calibration = rho_tasks(project)
    oracle = get_oracle(oracle_name)
    if args.agreement:
        oracle = calibrate(oracle, calibration, args.agreement)
    labeler = {
        "oracle": oracle_name,
        "temperature": round(oracle.temperature, 4),
        "two_draw_agreement_on_rho_tasks": round(two_draw_agreement(oracle, calibration), 4),
        "rho_tasks": len(calibration),
    }
    accounts = [annotator(project, f"sim{i}") for i in range(args.annotators)]

    results, started = [], time.monotonic()
    deadline = started + args.max_minutes * 60
    simulation_errors: list[str] = []

    def label_up_to(target: int, seed: int) -> bool:
        """Label (over HTTP, as the loop runs) until ``target`` training labels exist; False on
        a simulation error or the deadline."""
        while (missing := target - training_labels(project)) > 0 and time.monotonic() < deadline:
            done = simulate(base_url=stack.url, slug="eff", accounts=accounts, oracle=oracle, labels=missing,
                            seed=seed, wait_for_tasks=max(1.0, deadline - time.monotonic()))
            simulation_errors.extend(done.errors)
            if done.errors:
                return False
        return training_labels(project) >= target

    with stack:
        stack.start()
        for milestone in milestones:
            # Label up to the milestone while the loop runs as in production, then let the loop
            # finish the round these labels started: the policy measured is the one N labels made.
            # The loop starts a reward round when `every` choices are waiting, counted from the
            # last round's newest choice; labels arriving while one round starts can overshoot
            # it by one or two, so the milestone may fall just short of the next trigger. Then
            # label on until it fires: the policy measured has trained on at least N labels.
            target, seed = milestone, milestone
            while label_up_to(target, seed) and wait_for_loop(project, deadline):
                unseen = choices_since_last_reward_round(project=project)
                if unseen == 0:
                    break
                target, seed = training_labels(project) + args.every - unseen, seed + 1
            if training_labels(project) < milestone or choices_since_last_reward_round(project=project) > 0:
                break
            project.refresh_from_db()
            policy = project.current_policy
            last_policy_run = (
                TrainingRun.objects.filter(project=project, kind="policy", status="succeeded").first()
            )
            point = {
                "labels": milestone,
                "labels_trained": training_labels(project),  # every one seen by the newest reward model
                "wall_s": round(time.monotonic() - started, 1),
                "policy_version": policy.number if policy else 0,
                "reward_models": project.reward_models.count(),
                "logged_kl": last_policy_run.summary.get("kl_mean_second_half") if last_policy_run else None,
                "kl_target": policy_config.get("kl_target"),
                "beta": policy.metrics.get("beta_final") if policy else None,
            }
            if policy:
                point.update(evaluate(policy.artifact_path, starter, heldout, oracle,
                                      sample_config(project, seed=milestone, n_completions=2)))
                human = human_evaluation(stack, project, accounts, oracle, candidate=policy.number,
                                         prompts=heldout_n, seed=milestone, deadline=deadline)
                if human.get("ci_low") is not None:
                    human["direct_within_interval"] = human["ci_low"] <= point["direct_win_rate"] <= human["ci_high"]
                point["evaluation"] = human
                point["eval_wall_s"] = round(time.monotonic() - started - point["wall_s"], 1)
            results.append(point)
    report = {
        "benchmark": "efficiency",
        "project": "chat" if args.chat else "text",
        "policy_source": starter,
        "oracle": oracle_name,
        "labeler": labeler,
        "annotators": args.annotators,
        "loop_every_choices": args.every,
        "reward_config": reward_config,
        "policy_config": policy_config,
        "loop_sample_prompts": args.sample,
        "queue_low_water": args.low_water,
        "heldout_prompts": heldout_n,
        "training_prompts": len(train_prompts),
        "milestones": results,
        "training_labels": training_labels(project),
        "failed_runs": TrainingRun.objects.filter(project=project, status="failed").count(),
        "simulation_errors": simulation_errors[:20],
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
