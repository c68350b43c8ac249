from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, Choice, ComparisonTask, PolicyVersion
from labeling.selectors import progress_for_annotator
from labeling.services import (
    LabelingError,
    assignments_lease,
    choice_undo,
    comparison_record,
)
from tests.factories import UserFactory, make_tasks


def pending(project, user):
    return assignments_lease(project=project, annotator=user)


def choose(project, user, assignment, position=0, kind="best"):
    return comparison_record(
        project=project, annotator=user, assignment_id=assignment.pk, kind=kind,
        position=position if kind == "best" else None, decision_ms=1234,
    )


def test_current_and_next_task_are_leased_and_order_is_a_shuffle(project, annotator):
    make_tasks(project, 5)
    first = pending(project, annotator)
    assert len(first) == 2
    assert all(sorted(a.display_order) == [0, 1, 2, 3] for a in first)
    # Asking again hands out the same two tasks, not new ones.
    assert [a.pk for a in pending(project, annotator)] == [a.pk for a in first]


def test_choice_records_display_order_time_and_canonical_completion(project, annotator):
    make_tasks(project, 2)
    current = pending(project, annotator)[0]
    choice = choose(project, annotator, current, position=2)
    assert choice.display_order == current.display_order
    assert choice.decision_ms == 1234
    assert choice.completion.position == 2
    assert choice.completion.task_id == current.task_id
    assert ComparisonTask.objects.get(pk=current.task_id).status == ComparisonTask.Status.COMPLETE


def test_a_leased_task_is_not_handed_to_someone_else(project, annotator):
    make_tasks(project, 3)
    other = UserFactory()
    mine = {a.task_id for a in pending(project, annotator)}
    theirs = {a.task_id for a in pending(project, other)}
    assert len(mine) == 2 and len(theirs) == 1
    assert not mine & theirs


def test_overlap_two_gives_each_task_to_two_distinct_annotators(project):
    project.annotations_per_task = 2
    project.save()
    make_tasks(project, 1)
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    [la] = pending(project, a)
    [lb] = pending(project, b)
    assert pending(project, c) == []
    assert la.task_id == lb.task_id
    choose(project, a, la)
    task = ComparisonTask.objects.get()
    assert task.status == ComparisonTask.Status.OPEN
    choose(project, b, lb)
    task.refresh_from_db()
    assert task.status == ComparisonTask.Status.COMPLETE
    assert Choice.objects.filter(task=task).values("annotator").distinct().count() == 2


def test_expired_lease_returns_the_task_to_the_queue(project, annotator):
    make_tasks(project, 1)
    [lease] = pending(project, annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    other = UserFactory()
    [theirs] = pending(project, other)
    assert theirs.task_id == lease.task_id
    # The first annotator's stale lease is dropped rather than double-booking the task.
    assert pending(project, annotator) == []


def test_own_expired_lease_is_renewed_when_nobody_took_the_task(project, annotator):
    make_tasks(project, 1)
    [lease] = pending(project, annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    [again] = pending(project, annotator)
    assert again.pk == lease.pk and again.expires_at > timezone.now()


def test_skipped_task_is_not_shown_again_but_goes_to_others(project, annotator):
    make_tasks(project, 1)
    [lease] = pending(project, annotator)
    choice = choose(project, annotator, lease, kind="skip")
    assert choice.kind == "skip" and choice.completion is None
    assert pending(project, annotator) == []
    assert pending(project, UserFactory())[0].task_id == lease.task_id


def test_flag_records_comment_and_counts_as_judged(project, annotator):
    make_tasks(project, 1)
    [lease] = pending(project, annotator)
    comparison_record(
        project=project, annotator=annotator, assignment_id=lease.pk, kind="flag",
        comment="  all gibberish ",
    )
    choice = Choice.objects.get()
    assert (choice.kind, choice.comment) == ("flag", "all gibberish")
    assert ComparisonTask.objects.get().status == ComparisonTask.Status.COMPLETE


def test_newest_policy_version_first_then_priority_then_age(project, annotator):
    v1 = PolicyVersion.objects.create(project=project, number=1)
    v2 = PolicyVersion.objects.create(project=project, number=2, parent=v1)
    make_tasks(project, 1, prefix="imported-old")
    make_tasks(project, 1, prefix="v1", policy_version=v1)
    make_tasks(project, 1, prefix="imported-urgent")
    ComparisonTask.objects.filter(prompt__text__startswith="imported-urgent").update(priority=5)
    make_tasks(project, 1, prefix="v2", policy_version=v2)
    order = []
    for _ in range(4):
        current = pending(project, annotator)[0]
        order.append(current.task.prompt.text.split()[0])
        choose(project, annotator, current)
    assert order == ["v2", "v1", "imported-urgent", "imported-old"]


def test_undo_removes_the_choice_and_shows_the_task_again(project, annotator):
    make_tasks(project, 3)
    first, second = pending(project, annotator)
    choose(project, annotator, first, position=3)
    assert pending(project, annotator)[0].task_id == second.task_id
    result = choice_undo(project=project, annotator=annotator)
    assert result.task_id == first.task_id
    assert not Choice.objects.exists()
    assert ComparisonTask.objects.get(pk=first.task_id).status == ComparisonTask.Status.OPEN
    again = pending(project, annotator)
    assert again[0].task_id == first.task_id
    assert again[0].display_order == first.display_order


def test_undo_is_refused_after_the_lease_ran_out(project, annotator):
    make_tasks(project, 1)
    [lease] = pending(project, annotator)
    choose(project, annotator, lease)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(LabelingError):
        choice_undo(project=project, annotator=annotator)
    assert Choice.objects.count() == 1


def test_the_page_offers_undo_exactly_when_undo_succeeds(project, annotator):
    """One rule (queue_sql) answers both: the progress line's "Undo" and the undo itself.
    The latest decision counts, even when it has no lease (an imported comparison): an older
    decision whose lease still runs is not undoable then."""
    def can_undo():
        return progress_for_annotator(project=project, annotator=annotator)[1]

    make_tasks(project, 3)
    assert not can_undo()
    first, _second = pending(project, annotator)
    choose(project, annotator, first)
    assert can_undo()
    latest = Choice.objects.get()
    # A later choice on a task the annotator never leased (as an import makes).
    leaseless = ComparisonTask.objects.exclude(assignments__annotator=annotator).first()
    imported = Choice.objects.create(
        task=leaseless, annotator=annotator, project=project, kind="flag", display_order=[0, 1, 2, 3],
        decision_ms=1,
    )
    Choice.objects.filter(pk=imported.pk).update(created_at=latest.created_at + timedelta(seconds=1))
    assert not can_undo()
    with pytest.raises(LabelingError, match="nothing to undo"):
        choice_undo(project=project, annotator=annotator)
    imported.delete()
    assert can_undo()
    assert choice_undo(project=project, annotator=annotator).task_id == first.task_id
    assert not can_undo()


def test_someone_elses_assignment_cannot_be_decided(project, annotator):
    make_tasks(project, 1)
    [lease] = pending(project, annotator)
    with pytest.raises(LabelingError):
        choose(project, UserFactory(), lease)
    with pytest.raises(LabelingError):
        choose(project, annotator, lease, position=7)
    stored = choose(project, annotator, lease)
    # The same decision again (a retried request) is acknowledged with the stored choice ...
    assert choose(project, annotator, lease).pk == stored.pk
    # ... a different one, or any by someone else, is refused.
    with pytest.raises(LabelingError, match="already decided"):
        choose(project, annotator, lease, position=1)
    with pytest.raises(LabelingError, match="already decided"):
        choose(project, annotator, lease, kind="skip")
    with pytest.raises(LabelingError, match="not assigned"):
        choose(project, UserFactory(), lease)
    assert Choice.objects.count() == 1
