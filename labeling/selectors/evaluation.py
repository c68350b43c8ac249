"""Reads for human evaluation: the evaluation split, the prompts a round samples, and each
round's human win rate (labeling.win_rate) beside the reward model's prediction."""

import random
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Count, Q

from labeling.models import Choice, Evaluation, EvaluationItem, PolicyVersion, Project, Prompt
from labeling.win_rate import WinRate, win_rate


def evaluation_split_count(*, project: Project) -> int:
    return Prompt.objects.filter(project=project, is_evaluation=True).count()


def prompts_for_evaluation(*, project: Project, count: int, seed: int) -> list:
    """``count`` prompts of the evaluation split (text, or a chat project's conversations as
    lists of messages, as sampling rounds get them), drawn at random (reproducibly by ``seed``)."""
    prompts = list(
        Prompt.objects.filter(project=project, is_evaluation=True).order_by("pk").values_list("text", "messages")
    )
    rng = random.Random(seed)
    return [text if messages is None else messages for text, messages in rng.sample(prompts, min(count, len(prompts)))]


def prompts_free_for_split(*, project: Project) -> list[int]:
    """Ids of prompts outside the split that no task has used yet: the only ones that can
    still be held out honestly (no choice or policy round has seen them)."""
    return list(
        Prompt.objects.filter(project=project, is_evaluation=False)
        .annotate(n_tasks=Count("tasks"))
        .filter(n_tasks=0)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class EvaluationResult:
    id: int
    run_id: int
    status: str  # the round's status: queued, running, succeeded, failed, cancelled
    candidate: int  # policy version numbers
    baseline: int
    prompts: int  # prompts sampled (one task each)
    tasks: int
    labeled_prompts: int
    decisions: int
    win_rate: float | None  # human: share of decisions picking a candidate answer, by prompt
    ci_low: float | None
    ci_high: float | None
    method: str  # how the interval was computed: wilson | bootstrap | none
    predicted_win_rate: float | None  # the reward model's, on the same answers
    reward_model: int | None
    # The reward model predicts a higher win rate than the human interval allows: it likely
    # rewards something people do not want (reward hacking).
    reward_above_humans: bool
    created_at: datetime

    def as_dict(self) -> dict:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def _outcomes(evaluation_ids: list[int]) -> dict[int, dict[int, list[bool]]]:
    """Per evaluation, per task: the decisions (True when the chosen answer is the candidate's)."""
    positions = {
        task_id: (evaluation_id, set(candidate))
        for task_id, evaluation_id, candidate in EvaluationItem.objects.filter(
            evaluation_id__in=evaluation_ids
        ).values_list("task_id", "evaluation_id", "candidate_positions")
    }
    out: dict[int, dict[int, list[bool]]] = {pk: {} for pk in evaluation_ids}
    for task_id in positions:
        out[positions[task_id][0]].setdefault(task_id, [])
    for task_id, position in Choice.objects.filter(
        task_id__in=list(positions), kind=Choice.Kind.BEST
    ).order_by("pk").values_list("task_id", "completion__position"):
        evaluation_id, candidate = positions[task_id]
        out[evaluation_id][task_id].append(position in candidate)
    return out


def evaluation_results(*, project: Project, limit: int = 50) -> list[EvaluationResult]:
    """The project's evaluation rounds, oldest first (the newest ``limit``), each with its human
    win rate and 95% interval (seeded by the round, so it reads the same every time)."""
    rows = list(
        Evaluation.objects.filter(project=project)
        .select_related("run", "candidate", "baseline", "reward_model")
        .annotate(n_tasks=Count("items"))
        .order_by("-created_at", "-id")[:limit]
    )[::-1]
    outcomes = _outcomes([e.pk for e in rows])
    results = []
    for e in rows:
        rate: WinRate = win_rate(list(outcomes[e.pk].values()), seed=e.pk)
        results.append(EvaluationResult(
            id=e.pk, run_id=e.run_id, status=e.run.status,
            candidate=e.candidate.number, baseline=e.baseline.number,
            prompts=e.num_prompts, tasks=e.n_tasks, labeled_prompts=rate.prompts, decisions=rate.decisions,
            win_rate=rate.rate, ci_low=rate.low, ci_high=rate.high, method=rate.method,
            predicted_win_rate=e.predicted_win_rate,
            reward_model=e.reward_model.number if e.reward_model else None,
            reward_above_humans=(
                e.predicted_win_rate is not None and rate.high is not None and e.predicted_win_rate > rate.high
            ),
            created_at=e.created_at,
        ))
    return results


@dataclass(frozen=True)
class EvaluationPanel:
    results: list[EvaluationResult]
    chart: dict  # labels and series for static/labeling/evaluation.js
    versions: list  # (number, label) of the project's policy versions, newest first
    split_size: int  # prompts in the evaluation split
    split_wanted: int  # the project's setting
    open_tasks: int  # evaluation tasks waiting for annotators
    hacking: list[EvaluationResult]  # rounds whose reward prediction lies above the human interval


def evaluation_panel(*, project: Project) -> EvaluationPanel:
    """Everything the dashboard's evaluation section shows."""
    results = evaluation_results(project=project)
    shown = [r for r in results if r.win_rate is not None or r.predicted_win_rate is not None]
    chart = {
        "labels": [f"v{r.candidate} vs v{r.baseline} (#{r.id})" for r in shown],
        "human": [r.win_rate for r in shown],
        "low": [r.ci_low for r in shown],
        "high": [r.ci_high for r in shown],
        "predicted": [r.predicted_win_rate for r in shown],
    }
    versions = [
        (number, f"v{number}" + (" (ρ)" if number == 0 else ""))
        for number in PolicyVersion.objects.filter(project=project).order_by("-number").values_list("number", flat=True)
    ]
    open_tasks = project.tasks.filter(is_evaluation=True, status="open").count()
    return EvaluationPanel(
        results=results[::-1], chart=chart, versions=versions,
        split_size=evaluation_split_count(project=project), split_wanted=project.evaluation_split_size,
        open_tasks=open_tasks, hacking=[r for r in results if r.reward_above_humans],
    )


def evaluation_choices_filter(mode: str) -> Q:
    """The Choice filter for an export's ``evaluation`` option: "exclude" (the default: training
    preferences only), "only" (evaluation choices alone) or "include" (both)."""
    if mode == "exclude":  # held-out prompts stay out of training data wherever it is made
        return Q(task__is_evaluation=False, task__prompt__is_evaluation=False)
    if mode == "only":
        return Q(task__is_evaluation=True)
    if mode == "include":
        return Q()
    raise ValueError(f"evaluation must be exclude, only or include, not {mode!r}")
