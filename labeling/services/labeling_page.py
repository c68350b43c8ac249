"""The labeling page's state for one annotator: current task, the next one, progress."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from labeling.models import Assignment, Choice, Project
from labeling.selectors import Progress, TaskView, progress_for_annotator, task_views
from labeling.services.queue import (
    annotator_is_paused,
    assignments_lease,
    decision_check,
    pending_in_transaction,
    record_in_transaction,
)


@dataclass(frozen=True)
class LabelingState:
    project: Project
    current: TaskView | None
    upcoming: TaskView | None
    progress: Progress
    can_undo: bool
    paused: bool = False  # staff paused this annotator in this project
    # Set by comparison_submit when the page already holds ``current``: only ``upcoming`` was
    # read and needs rendering.
    current_assignment_id: int | None = None
    page_holds_current: bool = False


def _state(*, project: Project, annotator, pending: list[Assignment], held: int | None = None) -> LabelingState:
    holds = bool(pending) and held is not None and pending[0].pk == held
    # The page already shows the current task when it holds it: read only the one after.
    views = task_views(pending[1:2] if holds else pending[:2])
    if holds:
        current, upcoming = None, (views[0] if views else None)
    else:
        current, upcoming = (views[0] if views else None), (views[1] if len(views) > 1 else None)
    progress, can_undo = progress_for_annotator(project=project, annotator=annotator)
    return LabelingState(
        project=project,
        current=current,
        upcoming=upcoming,
        progress=progress,
        can_undo=can_undo,
        paused=bool(getattr(project, "annotator_paused", False)),
        current_assignment_id=pending[0].pk if pending else None,
        page_holds_current=holds,
    )


def labeling_state_for_annotator(*, project: Project, annotator) -> LabelingState:
    """What the labeling page shows: current task, the next one held ready, progress.

    Leases tasks as a side effect (through assignments_lease).
    """
    pending = assignments_lease(project=project, annotator=annotator)
    return _state(project=project, annotator=annotator, pending=pending)


@dataclass(frozen=True)
class SubmitResult:
    choice: Choice
    state: LabelingState


def comparison_submit(
    *,
    project: Project,
    annotator,
    assignment_id: int,
    kind: str,
    position: int | None = None,
    decision_ms: int | None = None,
    comment: str = "",
    held_assignment_id: int | None = None,
) -> SubmitResult:
    """Record a decision and hand out what the page shows next, in one transaction: one request,
    one commit per decision.

    ``held_assignment_id`` is the task the page already displays in place of the decided one
    (it swapped in its prefetched task before sending); when it is still the annotator's current
    task, only the task after it is read for the page. Preconditions and side effects: those of
    comparison_record (repeating a stored decision is acknowledged, not refused) and of
    assignments_lease (leases up to two tasks). Raises LabelingError.
    """
    decision_check(kind=kind, position=position)
    paused = annotator_is_paused(project=project, annotator=annotator)
    with transaction.atomic():
        choice = record_in_transaction(
            project=project, annotator=annotator, assignment_id=assignment_id, kind=kind,
            position=position, decision_ms=decision_ms, comment=comment,
        )
        pending = [] if paused else pending_in_transaction(project=project, annotator=annotator, now=timezone.now())
    # Texts and progress are read after the commit, so the write lock is held only for writes.
    state = _state(project=project, annotator=annotator, pending=pending, held=held_assignment_id)
    return SubmitResult(choice=choice, state=state)
