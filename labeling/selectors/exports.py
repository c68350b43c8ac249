"""Reads behind every export: which choices pass an export's filters.

The export service (services/exports.py) writes the files; the API lists the same choices.
"""

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import QuerySet

from labeling.models import Choice, Project
from labeling.selectors.evaluation import evaluation_choices_filter
from labeling.selectors.quality import agreed_task_positions, gold_accuracy


class ExportError(ValueError):
    """An export that cannot be made as asked (bad format, path or filter)."""


@dataclass(frozen=True)
class ExportFilters:
    since: datetime | None = None  # choices made at or after this instant
    until: datetime | None = None  # choices made before this instant
    policy_versions: tuple[int, ...] = ()  # sampling policy numbers; 0 = imported tasks
    annotator_ids: tuple[int, ...] = ()
    include_skipped: bool = False  # pairwise exports never contain them (nothing was chosen)
    include_flagged: bool = False
    agreeing_only: bool = False  # only tasks whose annotators agree (see tasks_in_agreement)
    # Leave out annotators whose gold accuracy (once they have the project's minimum number of
    # gold answers) is below this share; None keeps everyone.
    min_gold_accuracy: float | None = None
    # Evaluation rounds' choices measure policies and never train one: "exclude" (default) leaves
    # them (and held-out prompts) out, "only" exports them alone, "include" exports both.
    evaluation: str = "exclude"

    def describe(self) -> dict:
        data = asdict(self)
        for key in ("since", "until"):
            data[key] = data[key].isoformat() if data[key] else None
        data["policy_versions"] = list(self.policy_versions)
        data["annotator_ids"] = list(self.annotator_ids)
        return data


def tasks_in_agreement(*, project: Project) -> list[int]:
    """The tasks ``agreeing_only`` keeps: judged by two or more annotators with a consensus
    (labeling.selectors.quality: a strict majority; ties are left out)."""
    return list(agreed_task_positions(project=project))


def choices_for_export(*, project: Project, filters: ExportFilters) -> QuerySet[Choice]:
    """The project's choices that pass the filters, oldest first."""
    try:
        rows = Choice.objects.filter(evaluation_choices_filter(filters.evaluation), project=project)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if not filters.include_skipped:
        rows = rows.exclude(kind=Choice.Kind.SKIP)
    if not filters.include_flagged:
        rows = rows.exclude(kind=Choice.Kind.FLAG)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    if filters.policy_versions:
        rows = rows.filter(task__generation__in=filters.policy_versions)
    if filters.annotator_ids:
        rows = rows.filter(annotator_id__in=filters.annotator_ids)
    if filters.agreeing_only:
        rows = rows.filter(task_id__in=tasks_in_agreement(project=project))
    if filters.min_gold_accuracy is not None:
        rows = rows.exclude(annotator_id__in=annotators_below_gold(project=project, share=filters.min_gold_accuracy))
    return rows.order_by("pk")


def annotators_below_gold(*, project: Project, share: float) -> list[int]:
    """Annotators judged (enough gold answers) and found below ``share`` gold accuracy."""
    return [
        annotator_id
        for annotator_id, gold in gold_accuracy(project=project).items()
        if gold.answers >= project.gold_min_answers and gold.share < share
    ]
