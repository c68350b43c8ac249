"""Writing demonstrations: a better answer beside a comparison, demonstration tasks (leased like
comparison tasks), and choosing an SFT version as the project's reference ρ.

Concurrency follows services/queue.py: on PostgreSQL candidate demonstration tasks are locked
with ``FOR UPDATE SKIP LOCKED`` and their live leases re-counted after the lock; on SQLite every
write transaction is IMMEDIATE, which serializes hand-outs. The unique (task, annotator)
constraint on DemonstrationLease is the last line of defence against a second hand-out.
"""

import hashlib
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from labeling.models import (
    Assignment,
    Completion,
    Demonstration,
    DemonstrationLease,
    DemonstrationTask,
    PolicyVersion,
    Project,
    Prompt,
)
from labeling.services.queue import MAX_DECISION_MS, LabelingError, comparison_record

# Longest answer accepted from a person (characters); longer is a paste accident, not an answer.
MAX_ANSWER_CHARS = 20_000
# Demonstration tasks made at once when an annotator finds none open.
TASKS_PER_TOP_UP = 16
_HANDOUT_ATTEMPTS = 4


def demonstration_hash(prompt_hash: str, text: str) -> str:
    return hashlib.sha256(f"{prompt_hash}\n{text}".encode()).hexdigest()


def _clean_answer(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise LabelingError("Write an answer first: it is empty.")
    if len(text) > MAX_ANSWER_CHARS:
        raise LabelingError(f"The answer is too long ({len(text)} characters; at most {MAX_ANSWER_CHARS}).")
    # Leading/trailing blank lines are editor noise; inner whitespace (code, lists) is content.
    return text.strip("\r\n").rstrip()


def _clamp_ms(ms) -> int | None:
    return None if ms is None or ms < 0 else min(int(ms), MAX_DECISION_MS)


def demonstration_write(
    *,
    project: Project,
    annotator,
    assignment_id: int,
    text: str,
    position: int | None = None,
    decision_ms: int | None = None,
    time_ms: int | None = None,
) -> Demonstration:
    """Save the answer the annotator would have wanted for the task of one of their leases.

    Preconditions: the assignment is the annotator's. With ``position`` (the canonical position
    they picked, which the editor started from) the pick is recorded as their best-of-four
    choice through ``comparison_record`` (so the task must still be undecided); both are written
    in one transaction, or neither. Without it only the demonstration is saved and the task
    stays on their screen. Raises LabelingError (nothing written) on any refusal.
    """
    text = _clean_answer(text)
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_related("task__prompt")
            .filter(pk=assignment_id, annotator=annotator, project=project)
            .first()
        )
        if assignment is None:
            raise LabelingError("This task is not assigned to you.")
        prompt = assignment.task.prompt
        content_hash = demonstration_hash(prompt.text_hash, text)
        earlier = Demonstration.objects.filter(
            annotator=annotator, comparison_task_id=assignment.task_id, source=Demonstration.Source.WRITTEN
        ).first()
        if earlier is not None:
            # The same answer sent again (a retry whose first answer was lost) is acknowledged;
            # a second, different answer to the same task is refused.
            if earlier.content_hash == content_hash:
                return earlier
            raise LabelingError("You already wrote an answer for this task.")
        completion = None
        if position is not None:
            comparison_record(
                project=project, annotator=annotator, assignment_id=assignment_id,
                kind="best", position=position, decision_ms=decision_ms,
            )
            completion = Completion.objects.get(task_id=assignment.task_id, position=position)
        return Demonstration.objects.create(
            project=project,
            prompt=prompt,
            text=text,
            annotator=annotator,
            completion=completion,
            comparison_task_id=assignment.task_id,
            time_ms=_clamp_ms(time_ms),
            source=Demonstration.Source.WRITTEN,
            content_hash=content_hash,
        )


# --- demonstration tasks ---


def _live(now):
    return Q(state=DemonstrationLease.State.DONE) | Q(state=DemonstrationLease.State.LEASED, expires_at__gt=now)


def demonstration_tasks_top_up(*, project: Project, count: int = TASKS_PER_TOP_UP) -> int:
    """Open demonstration tasks for up to ``count`` prompts that have neither a demonstration
    task nor a demonstration yet, oldest prompts first. Returns how many were made."""
    prompts = list(
        Prompt.objects.filter(project=project)
        .filter(~Exists(DemonstrationTask.objects.filter(prompt=OuterRef("pk"))))
        .filter(~Exists(Demonstration.objects.filter(prompt=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )
    made = DemonstrationTask.objects.bulk_create(
        [DemonstrationTask(project=project, prompt_id=pk, annotations_wanted=project.annotations_per_task)
         for pk in prompts],
        ignore_conflicts=True,
    )
    return len(made)


def _lease_candidates(*, project: Project, annotator, now, limit: int) -> list[int]:
    mine = DemonstrationLease.objects.filter(task=OuterRef("pk"), annotator=annotator)
    return list(
        DemonstrationTask.objects.filter(project=project, status=DemonstrationTask.Status.OPEN)
        .filter(~Exists(mine))
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def _try_lease(*, project: Project, annotator, task_id: int, now) -> DemonstrationLease | None:
    locked = DemonstrationTask.objects.filter(pk=task_id, status=DemonstrationTask.Status.OPEN)
    if connection.vendor == "postgresql":
        locked = locked.select_for_update(skip_locked=True)
    task = locked.first()
    if task is None:
        return None
    if task.leases.filter(_live(now)).count() >= task.annotations_wanted:
        return None
    return DemonstrationLease.objects.create(
        task=task, annotator=annotator, project=project, leased_at=now,
        expires_at=now + timedelta(seconds=project.lease_seconds),
    )


def demonstration_lease_next(*, project: Project, annotator) -> DemonstrationLease | None:
    """The annotator's demonstration task: the one they hold, else a new lease (the oldest
    open task with a free slot that they were never handed), making tasks from unanswered
    prompts when none is open. None when nothing is left for them.

    Same rules as comparison tasks: a lease lasts ``project.lease_seconds``; an expired lease
    is renewed for its holder while the task still has a free slot, else dropped (skipped);
    nobody is handed a task twice; a task wants ``annotations_per_task`` answers.
    """
    now = timezone.now()
    with transaction.atomic():
        held = (
            DemonstrationLease.objects.select_related("task__prompt")
            .filter(project=project, annotator=annotator, state=DemonstrationLease.State.LEASED)
            .order_by("leased_at", "id")
            .first()
        )
        if held is not None:
            if held.expires_at > now:
                return held
            others = held.task.leases.filter(_live(now)).exclude(pk=held.pk).count()
            if held.task.status == DemonstrationTask.Status.OPEN and others < held.task.annotations_wanted:
                held.expires_at = now + timedelta(seconds=project.lease_seconds)
                held.save(update_fields=["expires_at"])
                return held
            held.state = DemonstrationLease.State.SKIPPED
            held.save(update_fields=["state"])
        for attempt in range(_HANDOUT_ATTEMPTS):
            candidates = _lease_candidates(project=project, annotator=annotator, now=now, limit=8)
            if not candidates and attempt == 0 and demonstration_tasks_top_up(project=project):
                candidates = _lease_candidates(project=project, annotator=annotator, now=now, limit=8)
            if not candidates:
                return None
            for task_id in candidates:
                lease = _try_lease(project=project, annotator=annotator, task_id=task_id, now=now)
                if lease is not None:
                    return DemonstrationLease.objects.select_related("task__prompt").get(pk=lease.pk)
    return None


def _own_lease(*, project: Project, annotator, lease_id: int) -> DemonstrationLease:
    lease = (
        DemonstrationLease.objects.select_for_update()
        .select_related("task__prompt")
        .filter(pk=lease_id, project=project, annotator=annotator)
        .first()
    )
    if lease is None:
        raise LabelingError("This task is not assigned to you.")
    if lease.state != DemonstrationLease.State.LEASED:
        raise LabelingError("You already answered or skipped this task.")
    return lease


def demonstration_task_answer(*, project: Project, annotator, lease_id: int, text: str,
                              time_ms: int | None = None) -> Demonstration:
    """Save the annotator's answer to their leased demonstration task (an expired lease is still
    honoured: the work is not thrown away). Marks the lease done and the task complete once it
    has the answers it wants. Raises LabelingError, writing nothing, on a refusal."""
    text = _clean_answer(text)
    with transaction.atomic():
        lease = _own_lease(project=project, annotator=annotator, lease_id=lease_id)
        if time_ms is None:
            time_ms = int((timezone.now() - lease.leased_at).total_seconds() * 1000)
        prompt = lease.task.prompt
        demo = Demonstration.objects.create(
            project=project, prompt=prompt, text=text, annotator=annotator,
            demonstration_task=lease.task, time_ms=_clamp_ms(time_ms),
            source=Demonstration.Source.WRITTEN,
            content_hash=demonstration_hash(prompt.text_hash, text),
        )
        lease.state = DemonstrationLease.State.DONE
        lease.save(update_fields=["state"])
        done = lease.task.leases.filter(state=DemonstrationLease.State.DONE).count()
        if done >= lease.task.annotations_wanted:
            DemonstrationTask.objects.filter(pk=lease.task_id).update(status=DemonstrationTask.Status.COMPLETE)
    return demo


def demonstration_task_skip(*, project: Project, annotator, lease_id: int) -> None:
    """Give the task back for others; this annotator is never handed it again."""
    with transaction.atomic():
        lease = _own_lease(project=project, annotator=annotator, lease_id=lease_id)
        lease.state = DemonstrationLease.State.SKIPPED
        lease.save(update_fields=["state"])


# --- SFT versions as ρ ---


class ReferenceNotAllowed(ValueError):
    """The version cannot serve as ρ (another project's, or not an SFT or initial version)."""


def reference_policy_set(*, project: Project, version: PolicyVersion | None) -> Project:
    """Make ``version`` (an SFT version of this project) the project's ρ for what follows, and
    the current policy, so the next policy round continues from it. ``None`` goes back to the
    initial policy (ρ = version 0; the current policy is left as it is).

    Side effects: reward rounds from now on start from and normalize on it; policy rounds
    measure KL against it. Existing versions are untouched.
    """
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        if version is None:
            project.reference_policy = None
            project.save(update_fields=["reference_policy"])
            return project
        if version.project_id != project.pk:
            raise ReferenceNotAllowed("That policy version belongs to another project.")
        if version.kind != PolicyVersion.Kind.SFT:
            raise ReferenceNotAllowed("Only an SFT version can become ρ.")
        project.reference_policy = version
        project.current_policy = version
        project.save(update_fields=["reference_policy", "current_policy"])
    return project
