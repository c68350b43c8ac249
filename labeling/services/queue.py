"""Handing out tasks and recording decisions.

Concurrency: on PostgreSQL the hand-out locks candidate task rows with
``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent annotators pass over each other's candidates,
then inserts each lease with a statement that re-counts the task's live leases itself (a fresh
statement under READ COMMITTED), so a lease committed between the candidate query and the lock is
never ignored. On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (settings),
which serializes hand-outs outright.
The unique (task, annotator) constraints on Assignment and Choice are the last line of defence.
"""

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from labeling import queue_sql
from labeling.selectors.quality import gold_accuracy
from labeling.models import (
    COMPLETIONS_PER_TASK,
    Assignment,
    Choice,
    ComparisonTask,
    Project,
)
from labeling.services.runs import loop_maybe_trigger, queue_maybe_refill

logger = logging.getLogger(__name__)

# The page shows one task and holds the next one ready, so the swap after a choice is instant.
PENDING_PER_ANNOTATOR = 2
# Longest decision time we record; anything longer is a tab left open, not a decision.
MAX_DECISION_MS = 3_600_000
_HANDOUT_ATTEMPTS = 4


class LabelingError(Exception):
    """A labeling action that cannot be carried out (stale form, expired or foreign lease)."""


def _new_assignment(project, annotator, task_id, now, offset):
    return Assignment(
        task_id=task_id,
        annotator=annotator,
        project=project,
        display_order=random.sample(range(COMPLETIONS_PER_TASK), COMPLETIONS_PER_TASK),
        leased_at=now + timedelta(microseconds=offset),
        expires_at=now + timedelta(seconds=project.lease_seconds),
    )


def _lease_gold(*, project: Project, annotator, now, count: int) -> list[Assignment]:
    """Gold tasks are shared by everyone and never fill up, so they need no row locks: one the
    annotator has not seen yet, at the configured rate per hand-out."""
    wanted = sum(random.random() * 100 < project.gold_rate for _ in range(count))
    if not wanted:
        return []
    seen = Assignment.objects.filter(task=OuterRef("pk"), annotator=annotator)
    gold = list(
        ComparisonTask.objects.filter(project=project, status=ComparisonTask.Status.OPEN, is_gold=True)
        .filter(~Exists(seen))
        .order_by("?")
        .values_list("pk", flat=True)[:wanted]
    )
    leased = [_new_assignment(project, annotator, pk, now, i) for i, pk in enumerate(gold)]
    queue_sql.assignments_insert(leased)
    return leased


def _lease_open(*, project: Project, annotator, now, leased: list[Assignment], upto: int,
                evaluation: bool) -> None:
    """Lease open tasks (evaluation tasks, or the others) until ``leased`` holds ``upto``.
    Caller holds a transaction."""
    for _ in range(_HANDOUT_ATTEMPTS):
        wanted = upto - len(leased)
        if wanted <= 0:
            break
        rows = queue_sql.candidates(
            project_id=project.pk, annotator_id=annotator.pk, now=now, limit=wanted,
            uncertainty_first=project.queue_order == Project.QueueOrder.UNCERTAINTY,
            evaluation=evaluation,
        )
        if not rows:
            break
        for pk, _ in rows:
            lease = _new_assignment(project, annotator, pk, now, len(leased))
            if queue_sql.lease_insert_if_free(lease, now=now):
                leased.append(lease)
        if len(rows) < wanted:
            break


def _lease_new(*, project: Project, annotator, now, count: int) -> list[Assignment]:
    """Lease up to ``count`` new tasks to the annotator. Caller holds a transaction.

    Evaluation tasks come at the project's evaluation rate per hand-out, through the same
    leases and shuffled display order as every task, so nothing on the page tells them apart;
    when the training queue runs dry they fill the remaining places."""
    leased = _lease_gold(project=project, annotator=annotator, now=now, count=count) if project.gold_rate else []
    rate = project.evaluation_rate
    if rate:
        # Read with the project on the hot path (queue_sql.project_for_labeling); other callers ask.
        open_ = getattr(project, "evaluation_open", None)
        if open_ is None:
            open_ = ComparisonTask.objects.filter(
                project=project, status=ComparisonTask.Status.OPEN, is_evaluation=True
            ).exists()
        rate = rate if open_ else 0
    if rate:
        wanted = sum(random.random() * 100 < rate for _ in range(count - len(leased)))
        if wanted:
            _lease_open(project=project, annotator=annotator, now=now, leased=leased,
                        upto=len(leased) + wanted, evaluation=True)
    _lease_open(project=project, annotator=annotator, now=now, leased=leased, upto=count, evaluation=False)
    if rate and len(leased) < count:
        _lease_open(project=project, annotator=annotator, now=now, leased=leased, upto=count, evaluation=True)
    return leased


def _renew_or_drop_expired(*, project: Project, expired: list[Assignment], now) -> list[Assignment]:
    """An annotator's own expired lease comes back to them if nobody else filled the task."""
    kept = []
    for assignment in expired:
        task = ComparisonTask.objects.select_for_update().get(pk=assignment.task_id)
        # This lease has expired, so the live count is everyone else's.
        others = queue_sql.live_counts(task_ids=[task.pk], now=now).get(task.pk, 0)
        if task.status == ComparisonTask.Status.OPEN and others < task.annotations_wanted:
            assignment.expires_at = now + timedelta(seconds=project.lease_seconds)
            assignment.save(update_fields=["expires_at"])
            kept.append(assignment)
        else:
            assignment.delete()
    return kept


def assignments_lease(*, project: Project, annotator) -> list[Assignment]:
    """The annotator's current task and the one after it, leasing new ones as needed.

    Side effects: may lease up to PENDING_PER_ANNOTATOR tasks, renew the annotator's own expired
    leases, and drop leases whose task was filled meanwhile. Returned in display order.
    """
    if annotator_is_paused(project=project, annotator=annotator):
        return []
    with transaction.atomic():
        return pending_in_transaction(project=project, annotator=annotator, now=timezone.now())


def annotator_is_paused(*, project: Project, annotator) -> bool:
    """Whether staff paused the annotator here (read with the project on the hot path)."""
    paused = getattr(project, "annotator_paused", None)
    if paused is None:
        paused = project.paused_annotators.filter(pk=annotator.pk).exists()
    return paused


def pending_in_transaction(*, project: Project, annotator, now) -> list[Assignment]:
    """assignments_lease's work, for a caller that holds the transaction (and has
    checked the annotator is not paused)."""
    pending, expired_ids = [], []
    for pk, task_id, order, live, _prompt in queue_sql.pending(
        project_id=project.pk, annotator_id=annotator.pk, now=now
    ):
        if live:
            pending.append(Assignment(
                pk=pk, task_id=task_id, project_id=project.pk, annotator_id=annotator.pk,
                state=Assignment.State.LEASED, display_order=order,
            ))
        else:
            expired_ids.append(pk)
    if expired_ids:
        expired = list(Assignment.objects.filter(pk__in=expired_ids).order_by("leased_at", "id"))
        renewed = _renew_or_drop_expired(project=project, expired=expired, now=now)
        # Renewed leases were handed out first, so they stay first.
        pending = renewed + pending
    missing = PENDING_PER_ANNOTATOR - len(pending)
    if missing > 0:
        pending += _lease_new(project=project, annotator=annotator, now=now, count=missing)
    return pending


def comparison_record(
    *,
    project: Project,
    annotator,
    assignment_id: int,
    kind: str,
    position: int | None = None,
    decision_ms: int | None = None,
    comment: str = "",
) -> Choice:
    """Record the annotator's decision on a leased task: best-of-four, skip or flag.

    Preconditions: the assignment is the annotator's and still undecided. A lease that expired
    is still honoured (the person's work is not thrown away). Side effects: creates the Choice,
    marks the assignment done (best, flag) or skipped, completes the task when it has all the
    annotations it wants.
    """
    decision_check(kind=kind, position=position)
    with transaction.atomic():
        return record_in_transaction(project=project, annotator=annotator, assignment_id=assignment_id,
                                     kind=kind, position=position, decision_ms=decision_ms, comment=comment)


def decision_check(*, kind: str, position: int | None) -> None:
    """Raise LabelingError unless ``kind`` is a decision and a best-of-four names a position."""
    if kind not in Choice.Kind.values:
        raise LabelingError(f"Unknown decision {kind!r}.")
    if kind == Choice.Kind.BEST and (position is None or not 0 <= position < COMPLETIONS_PER_TASK):
        raise LabelingError("Pick one of the four completions.")


def record_in_transaction(*, project: Project, annotator, assignment_id: int, kind: str, position: int | None,
                          decision_ms: int | None, comment: str) -> Choice:
    """comparison_record's work (arguments passed decision_check), for a caller that holds the
    transaction: comparison_submit records and hands out in one, without savepoints."""
    # A paused annotator's leases stay, but their decisions on them are not taken.
    paused = getattr(project, "annotator_paused", None)
    if paused is None:
        paused = project.paused_annotators.filter(pk=annotator.pk).exists()
    if paused:
        raise LabelingError("You are paused on this project; staff will let you know when you can go on.")
    now = timezone.now()
    new_state = Assignment.State.SKIPPED if kind == Choice.Kind.SKIP else Assignment.State.DONE
    row = queue_sql.assignment_decide(
        assignment_id=assignment_id, annotator_id=annotator.pk, project_id=project.pk, state=new_state
    )
    if row is None:
        return _decision_repeated(project=project, annotator=annotator, assignment_id=assignment_id,
                                  kind=kind, position=position)
    task_id, display_order, leased_at, is_gold = row
    if decision_ms is None or decision_ms < 0:
        # No client timer (plain form post): time since the lease began is the best we know.
        decision_ms = int((now - leased_at).total_seconds() * 1000)
    decision_ms = max(0, min(decision_ms, MAX_DECISION_MS))
    comment = comment.strip()[:2000]
    # The assignment was still 'leased' until the statement above, so no choice exists yet;
    # the unique constraint on (task, annotator) stays as the guarantee if that ever fails.
    choice_id, completion_id = queue_sql.choice_insert(
        task_id=task_id, annotator_id=annotator.pk, project_id=project.pk, kind=kind,
        position=position if kind == Choice.Kind.BEST else None, display_order=display_order,
        decision_ms=decision_ms, comment=comment, created_at=now,
    )
    if new_state == Assignment.State.DONE and not is_gold:
        queue_sql.task_complete_if_full(task_id=task_id)
    if is_gold and project.gold_auto_pause:
        _pause_if_below_gold_threshold(project=project, annotator=annotator)
    if project.policy_source and (project.loop_enabled or project.queue_low_water):
        transaction.on_commit(lambda: _loop_trigger_quietly(project.pk))
    return Choice(
        pk=choice_id, task_id=task_id, annotator=annotator, project=project, kind=kind,
        completion_id=completion_id, display_order=display_order, decision_ms=decision_ms,
        comment=comment, created_at=now,
    )


def _decision_repeated(*, project: Project, annotator, assignment_id: int, kind: str, position) -> Choice:
    """The assignment is not leased: the same decision sent again (a retry after a lost answer)
    is acknowledged with the stored choice; anything else is refused."""
    row = queue_sql.assignment_decided(assignment_id=assignment_id, annotator_id=annotator.pk, project_id=project.pk)
    if row is None:
        raise LabelingError("This task is not assigned to you.")
    state, choice_id, stored_kind, stored_position = row
    same = choice_id is not None and stored_kind == kind and (kind != Choice.Kind.BEST or stored_position == position)
    if not same:
        raise LabelingError("You already decided on this task.")
    return Choice.objects.get(pk=choice_id)


def _pause_if_below_gold_threshold(*, project: Project, annotator) -> None:
    accuracy = gold_accuracy(project=project, annotator_ids=[annotator.pk]).get(annotator.pk)
    if accuracy and accuracy.answers >= project.gold_min_answers and accuracy.share < project.gold_min_accuracy:
        project.paused_annotators.add(annotator)


def annotator_pause(*, project: Project, annotator, paused: bool) -> None:
    """Staff pause an annotator (no more tasks in this project) or let them resume."""
    if paused:
        project.paused_annotators.add(annotator)
    else:
        project.paused_annotators.remove(annotator)


def _loop_trigger_quietly(project_id: int) -> None:
    # The choice is committed before this runs; a failing trigger must not turn a saved choice
    # into an error page. Beat re-checks both every minute. The loop comes first; topping up
    # the queue only when no round starts.
    try:
        if loop_maybe_trigger(project_id=project_id) is None:
            queue_maybe_refill(project=Project.objects.get(pk=project_id))
    except Exception:
        logger.exception("loop trigger for project %s failed; beat will retry", project_id)


def choice_last_undoable(*, project: Project, annotator) -> Choice | None:
    """The annotator's latest decision in the project, if its lease still runs (the rule lives in
    queue_sql.choice_last_undoable, which the page's "Undo" link also follows)."""
    choice_id = queue_sql.choice_last_undoable(project_id=project.pk, annotator_id=annotator.pk, now=timezone.now())
    return None if choice_id is None else Choice.objects.get(pk=choice_id)


@dataclass(frozen=True)
class UndoResult:
    task_id: int


def choice_undo(*, project: Project, annotator) -> UndoResult:
    """Take back the annotator's last decision while its lease runs; the task is shown again.

    Side effects: deletes the Choice, returns the assignment to 'leased' (it keeps its place at
    the head of the annotator's queue), and reopens the task if it had been completed.
    """
    with transaction.atomic():
        choice = choice_last_undoable(project=project, annotator=annotator)
        if choice is None:
            raise LabelingError("There is nothing to undo (or its lease has run out).")
        Assignment.objects.filter(task_id=choice.task_id, annotator=annotator).update(
            state=Assignment.State.LEASED
        )
        choice.delete()
        ComparisonTask.objects.filter(
            pk=choice.task_id, status=ComparisonTask.Status.COMPLETE
        ).update(status=ComparisonTask.Status.OPEN)
    return UndoResult(task_id=choice.task_id)
