"""Writes. Each service owns its transaction; see the modules for details."""

from labeling.services.imports import (
    ImportResult,
    ImportValidationError,
    NewTask,
    comparisons_import,
    prompts_import,
    tasks_create,
)
from labeling.services.queue import (
    LabelingError,
    assignments_lease,
    choice_last_undoable,
    choice_undo,
    comparison_record,
)
from labeling.services.labeling_page import (
    LabelingState,
    SubmitResult,
    comparison_submit,
    labeling_state_for_annotator,
)

__all__ = [
    "ImportResult",
    "ImportValidationError",
    "LabelingError",
    "LabelingState",
    "NewTask",
    "SubmitResult",
    "assignments_lease",
    "choice_last_undoable",
    "choice_undo",
    "comparison_record",
    "comparison_submit",
    "comparisons_import",
    "labeling_state_for_annotator",
    "prompts_import",
    "tasks_create",
]
