"""The labeling page's state for one annotator: current task, the next one, progress."""

from dataclasses import dataclass

from labeling.models import Project
from labeling.selectors import Progress, TaskView, progress_for_annotator, task_views
from labeling.services.queue import assignments_pending_for_annotator


@dataclass(frozen=True)
class LabelingState:
    project: Project
    current: TaskView | None
    upcoming: TaskView | None
    progress: Progress
    can_undo: bool
    paused: bool = False  # staff paused this annotator in this project



def labeling_state_for_annotator(*, project: Project, annotator) -> LabelingState:
    """What the labeling page shows: current task, the next one held ready, progress.

    Leases tasks as a side effect (through assignments_pending_for_annotator).
    """
    pending = assignments_pending_for_annotator(project=project, annotator=annotator)
    views = task_views(pending[:2])
    progress, can_undo = progress_for_annotator(project=project, annotator=annotator)
    return LabelingState(
        project=project,
        current=views[0] if views else None,
        upcoming=views[1] if len(views) > 1 else None,
        progress=progress,
        can_undo=can_undo,
        paused=bool(getattr(project, "annotator_paused", False)),
    )
