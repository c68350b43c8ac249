"""The anchor set: a fixed set of labeled tasks on which every reward model is measured.

Held-out agreement is measured on the newest choices, and as the policy is tuned its four
answers grow alike, so labels get noisier and even a perfect reward model agrees less: a falling
curve that means nothing about the model. The anchor set does not drift: it is the first K tasks
sampled from ρ to receive two best-of-four labels (K = ``QUARTET_ANCHOR_TASKS``), in the order
they got their second label, so it only grows (early on) and never changes once full. Its
tasks are held out of every reward round, each reward model's agreement with their labels is
stored with its version, and the labelers' agreement with each other on the same tasks is the
ceiling a model can approach.

While the project is small the set is capped at a fifth of the tasks with labels, so a reward
round always keeps most of its data; the cap only lengthens the prefix of the same order.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from labeling.models import Choice, Completion, Project
from labeling.stats import mean_interval, wilson_interval

MAX_SHARE_OF_LABELED_TASKS = 0.2


@dataclass(frozen=True)
class AnchorTask:
    task_id: int
    prompt: str
    completions: list[str]  # canonical order
    votes: list[int]  # canonical positions chosen, one per best-of-four label


@dataclass(frozen=True)
class AnchorSet:
    tasks: list[AnchorTask]

    @property
    def task_ids(self) -> list[int]:
        return [t.task_id for t in self.tasks]


@dataclass(frozen=True)
class AnchorAgreement:
    share: float  # labels on anchor tasks that match the model's top answer
    low: float  # 95% Wilson interval
    high: float
    labels: int
    tasks: int

    def as_metrics(self) -> dict:
        return {"anchor_agreement": self.share, "anchor_low": self.low, "anchor_high": self.high,
                "anchor_labels": self.labels, "anchor_tasks": self.tasks}


def anchor_set(*, project: Project, upto_choice_id: int | None = None, size: int | None = None) -> AnchorSet:
    """The project's anchor tasks as of ``upto_choice_id`` (the newest choice a reward round
    covers; None = all), with their prompts, answers and votes. Reads only."""
    size = settings.QUARTET_ANCHOR_TASKS if size is None else size
    choices = Choice.objects.filter(project=project, kind=Choice.Kind.BEST, task__is_gold=False)
    if upto_choice_id is not None:
        choices = choices.filter(pk__lte=upto_choice_id)
    labeled_tasks = choices.values("task_id").distinct().count()
    size = min(size, int(labeled_tasks * MAX_SHARE_OF_LABELED_TASKS))
    if size <= 0:
        return AnchorSet(tasks=[])
    rows = choices.filter(task__policy_version__number=0).order_by("pk").values_list(
        "task_id", "task__prompt__text", "completion__position"
    )
    votes: dict[int, list[int]] = {}
    prompts: dict[int, str] = {}
    order: list[int] = []  # tasks in the order they received their second label
    for task_id, prompt, position in rows.iterator(chunk_size=5000):
        votes.setdefault(task_id, []).append(position)
        prompts[task_id] = prompt
        if len(votes[task_id]) == 2:
            order.append(task_id)
    chosen = order[:size]
    texts: dict[int, dict[int, str]] = {}
    for task_id, position, text in Completion.objects.filter(task_id__in=chosen).values_list(
        "task_id", "position", "text"
    ):
        texts.setdefault(task_id, {})[position] = text
    return AnchorSet(tasks=[
        AnchorTask(task_id=t, prompt=prompts[t], completions=[texts[t][p] for p in sorted(texts[t])],
                   votes=votes[t])
        for t in chosen
    ])


def reward_agreement_on_anchor(
    anchor: AnchorSet, score: Callable[[list[str], list[str]], list[float]]
) -> AnchorAgreement | None:
    """Share of the anchor tasks' labels that pick the answer ``score`` ranks first.

    ``score(prompts, completions)`` is the reward model (or any scorer) on flat lists; a tie
    counts for the first of the tied answers. None for an empty anchor set."""
    if not anchor.tasks:
        return None
    prompts = [t.prompt for t in anchor.tasks for _ in t.completions]
    texts = [c for t in anchor.tasks for c in t.completions]
    scores = score(prompts, texts)
    matches = labels = start = 0
    for t in anchor.tasks:
        row = scores[start : start + len(t.completions)]
        start += len(t.completions)
        top = max(range(len(row)), key=row.__getitem__)
        matches += sum(v == top for v in t.votes)
        labels += len(t.votes)
    low, high = wilson_interval(matches, labels)
    return AnchorAgreement(share=matches / labels, low=low, high=high, labels=labels, tasks=len(anchor.tasks))


def labeler_agreement_on_anchor(anchor: AnchorSet) -> tuple[float, float, float] | None:
    """The ceiling: the chance that two labelers of the same anchor task chose the same answer
    (pairs of labels per task, averaged over tasks), with a 95% interval over tasks."""
    per_task = []
    for t in anchor.tasks:
        n = len(t.votes)
        if n >= 2:
            same = sum(t.votes.count(p) * (t.votes.count(p) - 1) for p in set(t.votes))
            per_task.append(same / (n * (n - 1)))
    return mean_interval(per_task)
