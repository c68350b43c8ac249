"""Quartet's data model. Fields, constraints and cheap properties only; writes live in services."""

from labeling.models.evaluation import Evaluation, EvaluationItem
from labeling.models.queue import (
    COMPLETIONS_PER_TASK,
    Assignment,
    Choice,
    ComparisonTask,
    Completion,
    PolicyVersion,
    Project,
    Prompt,
)
from labeling.models.training import RewardModelVersion, TrainingRun

__all__ = [
    "COMPLETIONS_PER_TASK",
    "Assignment",
    "Choice",
    "ComparisonTask",
    "Completion",
    "Evaluation",
    "EvaluationItem",
    "PolicyVersion",
    "Project",
    "Prompt",
    "RewardModelVersion",
    "TrainingRun",
]
