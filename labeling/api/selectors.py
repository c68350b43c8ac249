"""Reads for the API: querysets shaped for its serializers (related rows fetched up front)."""

from django.db.models import Count, QuerySet

from labeling import selectors
from labeling.models import (
    Choice,
    ComparisonTask,
    PolicyVersion,
    Project,
    Prompt,
    RewardModelVersion,
    TrainingRun,
)
from labeling.api.serializers import BIGINT_MAX
from labeling.selectors.exports import ExportFilters, choices_for_export


def projects_visible(*, user) -> QuerySet[Project]:
    return (
        selectors.projects_with_open_counts(user=user)
        .select_related("current_policy", "current_reward_model")
        .order_by("name", "pk")
    )


def prompts_of(*, project: Project) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project=project).order_by("pk")


def tasks_of(*, project: Project, status: str | None, policy_version: int | None) -> QuerySet[ComparisonTask]:
    tasks = ComparisonTask.objects.filter(project=project).exclude(status=ComparisonTask.Status.DRAFT)
    if status:
        tasks = tasks.filter(status=status)
    if policy_version is not None:
        tasks = tasks.filter(generation=policy_version)
    return (
        tasks.select_related("prompt")
        .prefetch_related("completions")
        .annotate(choice_count=Count("choices"))
        .order_by("pk")
    )


def choices_of(*, project: Project, filters: ExportFilters) -> QuerySet[Choice]:
    """The choices an export with these filters would contain."""
    return choices_for_export(project=project, filters=filters).select_related("completion")


def policies_of(*, project: Project) -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.filter(project=project).select_related("parent", "reward_model").order_by("-number")


def reward_models_of(*, project: Project) -> QuerySet[RewardModelVersion]:
    return RewardModelVersion.objects.filter(project=project).select_related("policy").order_by("-number")


def runs_of(*, project: Project) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project=project).order_by("-created_at", "-id")


def run_of(*, project: Project, run_id: int) -> TrainingRun | None:
    if run_id > BIGINT_MAX:  # from the URL: any number of digits
        return None
    return TrainingRun.objects.filter(project=project, pk=run_id).first()
