"""Reads: querysets and plain dataclasses for pages (and, later, for training)."""

from dataclasses import dataclass
from datetime import datetime, time

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from labeling.models import Assignment, Choice, ComparisonTask, Completion, Project


@dataclass(frozen=True)
class Card:
    slot: int  # 1–4 as displayed (and as the keyboard shortcut)
    position: int  # canonical position 0–3
    text: str


@dataclass(frozen=True)
class TaskView:
    assignment_id: int
    task_id: int
    prompt: str
    cards: list[Card]


@dataclass(frozen=True)
class Progress:
    done_today: int
    done_total: int
    tasks_left: int


def projects_for_user(user) -> QuerySet[Project]:
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(annotators=user)


def project_for_labeling(*, user, slug: str) -> Project | None:
    """The project if the user may label it, else None."""
    return projects_for_user(user).filter(slug=slug).first()


def task_views(assignments: list[Assignment]) -> list[TaskView]:
    if not assignments:
        return []
    task_ids = [a.task_id for a in assignments]
    prompts = dict(
        ComparisonTask.objects.filter(pk__in=task_ids).values_list("pk", "prompt__text")
    )
    texts: dict[int, dict[int, str]] = {}
    for task_id, position, text in Completion.objects.filter(task_id__in=task_ids).values_list(
        "task_id", "position", "text"
    ):
        texts.setdefault(task_id, {})[position] = text
    return [
        TaskView(
            assignment_id=a.pk,
            task_id=a.task_id,
            prompt=prompts[a.task_id],
            cards=[
                Card(slot=slot, position=position, text=texts[a.task_id][position])
                for slot, position in enumerate(a.display_order, start=1)
            ],
        )
        for a in assignments
    ]


def progress_for_annotator(*, project: Project, annotator) -> Progress:
    start_of_day = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    decided = ~Q(kind=Choice.Kind.SKIP)
    counts = Choice.objects.filter(project=project, annotator=annotator).aggregate(
        total=Count("pk", filter=decided),
        today=Count("pk", filter=decided & Q(created_at__gte=start_of_day)),
    )
    left = ComparisonTask.objects.filter(
        project=project, status=ComparisonTask.Status.OPEN
    ).count()
    return Progress(done_today=counts["today"], done_total=counts["total"], tasks_left=left)


def projects_with_open_counts(*, user) -> QuerySet[Project]:
    return projects_for_user(user).annotate(
        open_tasks=Count("tasks", filter=Q(tasks__status=ComparisonTask.Status.OPEN))
    )
