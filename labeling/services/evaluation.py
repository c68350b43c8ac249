"""Human evaluation: the held-out split, starting evaluation rounds, and (on a sampling worker)
sampling the two versions into mixed four-way tasks.

Nothing here imports torch at module level: the web process starts rounds through
``evaluation_start``; ``evaluation_rounds.evaluation_sample`` runs on a worker (it imports training/),
like services/execution.py.
"""

import random
from dataclasses import dataclass

from django.db import transaction

from labeling.models import ComparisonTask, Evaluation, EvaluationItem, PolicyVersion, Project, Prompt, TrainingRun
from labeling.selectors import evaluation as evaluation_selectors
from labeling.services.imports import NewTask, comparison_hash, tasks_create
from labeling.services.runs import RunConflict, RunNotPossible, policy_current, policy_initial, run_start

Kind = TrainingRun.Kind
ANSWERS_PER_VERSION = 2  # two of the four slots each: indifference reads 50%


def evaluation_split_draw(*, project: Project, size: int | None = None, seed: int | None = None) -> int:
    """Grow the project's evaluation split to ``size`` prompts (default: the project's
    ``evaluation_split_size``) by holding out prompts drawn at random among those no task has
    used yet. Never shrinks the split: prompts once held out may have been evaluated on.
    Side effects: marks prompts ``is_evaluation``. Returns the split's size afterwards, which is
    smaller than asked when too few unused prompts remain."""
    wanted = project.evaluation_split_size if size is None else size
    with transaction.atomic():
        have = evaluation_selectors.evaluation_split_count(project=project)
        free = evaluation_selectors.prompts_free_for_split(project=project)
        if wanted <= have or not free:
            return have
        chosen = random.Random(seed).sample(free, min(wanted - have, len(free)))
        Prompt.objects.filter(pk__in=chosen).update(is_evaluation=True)
    return have + len(chosen)


def evaluation_split_size_set(*, project: Project, size: int) -> int:
    """Staff set the split size: stored on the project, then the split is grown to it (see
    evaluation_split_draw). Returns the split's size afterwards."""
    Project.objects.filter(pk=project.pk).update(evaluation_split_size=size)
    project.evaluation_split_size = size
    return evaluation_split_draw(project=project, size=size)


def evaluation_start(
    *,
    project: Project,
    candidate_number: int | None = None,
    baseline_number: int = 0,
    prompts: int | None = None,
    trigger: str,
    user=None,
    enqueue: bool = True,
) -> Evaluation:
    """Queue an evaluation round: ``candidate_number`` (default: the current policy) against
    ``baseline_number`` (default 0, the initial policy ρ) on ``prompts`` evaluation prompts
    (default: the project's setting; at most the split's size).

    Raises RunNotPossible for a missing or equal version, a baseline not older than the
    candidate, or an empty split; RunConflict while another round of the project is active.
    Side effects: a queued TrainingRun of kind evaluation and its Evaluation; after commit, the
    run is sent to the sampling queue (unless ``enqueue=False``)."""
    project = Project.objects.get(pk=project.pk)
    initial = policy_initial(project=project)
    if candidate_number is None:
        candidate = policy_current(project=project)
    else:
        candidate = PolicyVersion.objects.filter(project=project, number=candidate_number).first()
    baseline = initial if baseline_number == 0 else (
        PolicyVersion.objects.filter(project=project, number=baseline_number).first()
    )
    if candidate is None or baseline is None:
        missing = candidate_number if candidate is None else baseline_number
        raise RunNotPossible(f"Project {project.slug!r} has no policy version v{missing}.")
    if baseline.number >= candidate.number:
        raise RunNotPossible(
            f"The baseline must be an earlier version than the candidate (v{baseline.number} vs "
            f"v{candidate.number}); train a policy round first."
        )
    available = evaluation_selectors.evaluation_split_count(project=project)
    if not available:
        raise RunNotPossible(
            "The project has no evaluation prompts: set its evaluation split size and draw the "
            "split, or import prompts with \"split\": \"evaluation\"."
        )
    count = min(prompts or project.evaluation_prompts_per_round, available)
    with transaction.atomic():
        run = run_start(
            project=project, kind=Kind.EVALUATION, trigger=trigger, user=user, enqueue=enqueue,
        )
        TrainingRun.objects.filter(pk=run.pk).update(base_policy=candidate)
        evaluation = Evaluation.objects.create(
            project=project, run=run, candidate=candidate, baseline=baseline, num_prompts=count,
        )
    return evaluation


def evaluation_maybe_auto(*, run: TrainingRun) -> TrainingRun | None:
    """After a successful round: with the project's ``evaluation_auto`` on, evaluate the new
    policy version against ρ once the round's chain is done (right after a lone policy round;
    after the sampling round that a loop's policy round chains to). Refusals (no split, another
    active run) are not errors: returns None."""
    project = Project.objects.get(pk=run.project_id)
    if not project.evaluation_auto:
        return None
    done = (run.kind == Kind.POLICY and not run.continue_loop) or (
        run.kind == Kind.SAMPLING and run.continue_loop
    )
    if not done:
        return None
    try:
        return evaluation_start(project=project, trigger=f"auto: after {run.get_kind_display().lower()} #{run.pk}",
                                user=run.triggered_by).run
    except (RunConflict, RunNotPossible):
        return None


@dataclass(frozen=True)
class EvaluationDraw:
    """What the worker sampled: per prompt the four answers in canonical order and which two
    positions are the candidate's; the reward model's mean predicted win rate (or None)."""

    tasks: list[NewTask]
    candidate_positions: list[list[int]]
    predicted_win_rate: float | None
    reward_model_id: int | None


def evaluation_store(*, evaluation: Evaluation, draw: EvaluationDraw) -> dict:
    """Create the round's evaluation tasks (open, in the normal queue; handed out at the
    project's evaluation rate) with which slots are the candidate's, and store the reward
    model's prediction. Caller holds the transaction. Returns the run's summary."""
    created = tasks_create(project=evaluation.project, tasks=draw.tasks, policy_version=evaluation.candidate)
    hashes = {comparison_hash(t.prompt, t.completions): pos for t, pos in zip(draw.tasks, draw.candidate_positions,
                                                                               strict=True)}
    fresh = ComparisonTask.objects.filter(
        project=evaluation.project, is_evaluation=True, content_hash__in=list(hashes), evaluation_item__isnull=True
    ).values_list("pk", "content_hash")
    EvaluationItem.objects.bulk_create([
        EvaluationItem(evaluation=evaluation, task_id=pk, candidate_positions=hashes[digest]) for pk, digest in fresh
    ])
    Evaluation.objects.filter(pk=evaluation.pk).update(
        predicted_win_rate=draw.predicted_win_rate, reward_model_id=draw.reward_model_id
    )
    summary = {"candidate": evaluation.candidate.number, "baseline": evaluation.baseline.number,
               "tasks_created": created.created}
    if draw.predicted_win_rate is not None:
        summary["predicted_win_rate"] = round(draw.predicted_win_rate, 4)
    return summary
