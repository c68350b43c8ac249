"""Quartet's data model. Fields, constraints and cheap properties only; writes live in services."""

from labeling.models.evaluation import Evaluation, EvaluationItem
from labeling.models.projects import PolicyVersion, Project, Prompt
from labeling.models.queue import COMPLETIONS_PER_TASK, Assignment, Choice, ComparisonTask, Completion
from labeling.models.training import RewardModelVersion, TrainingRun
from labeling.models.demonstrations import Demonstration, DemonstrationLease, DemonstrationTask  # noqa: E402

__all__ = [
    "COMPLETIONS_PER_TASK",
    "Assignment",
    "Choice",
    "ComparisonTask",
    "Completion",
    "Demonstration",
    "DemonstrationLease",
    "DemonstrationTask",
    "Evaluation",
    "EvaluationItem",
    "PolicyVersion",
    "Project",
    "Prompt",
    "RewardModelVersion",
    "TrainingRun",
]
