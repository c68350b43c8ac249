import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from labeling.models import Choice, ComparisonTask, Completion, Prompt
from labeling.services import comparison_record, assignments_lease
from tests.factories import UserFactory, make_tasks


def _draft(project, n_completions):
    prompt = Prompt.objects.create(project=project, text="p", text_hash="h")
    task = ComparisonTask.objects.create(project=project, prompt=prompt, content_hash="c")
    Completion.objects.bulk_create(
        [Completion(task=task, position=i, text=f"c{i}") for i in range(n_completions)]
    )
    return task


@pytest.mark.parametrize("n_completions", [0, 3])
def test_database_refuses_to_open_a_task_without_four_completions(project, n_completions):
    task = _draft(project, n_completions)
    with pytest.raises(IntegrityError), transaction.atomic():
        ComparisonTask.objects.filter(pk=task.pk).update(status=ComparisonTask.Status.OPEN)
    task.refresh_from_db()
    assert task.status == ComparisonTask.Status.DRAFT


def test_database_opens_a_task_with_exactly_four(project):
    task = _draft(project, 4)
    ComparisonTask.objects.filter(pk=task.pk).update(status=ComparisonTask.Status.OPEN)
    task.refresh_from_db()
    assert task.status == ComparisonTask.Status.OPEN


def test_task_cannot_be_inserted_open(project):
    prompt = Prompt.objects.create(project=project, text="p", text_hash="h")
    with pytest.raises(IntegrityError), transaction.atomic():
        ComparisonTask.objects.create(
            project=project, prompt=prompt, content_hash="c", status=ComparisonTask.Status.OPEN
        )


def test_open_task_completions_cannot_be_added_or_moved(project):
    make_tasks(project, 2)
    task, other = ComparisonTask.objects.order_by("pk")
    with pytest.raises(IntegrityError), transaction.atomic():
        Completion.objects.create(task=task, position=3, text="fifth")
    with pytest.raises(IntegrityError), transaction.atomic():
        Completion.objects.filter(task=other, position=0).update(task=task)
    assert task.completions.count() == 4


def test_removing_a_completion_retires_the_task_so_it_is_never_open_with_three(project):
    make_tasks(project, 1)
    task = ComparisonTask.objects.get()
    task.completions.first().delete()
    task.refresh_from_db()
    assert task.status == ComparisonTask.Status.RETIRED
    with pytest.raises(IntegrityError), transaction.atomic():
        ComparisonTask.objects.filter(pk=task.pk).update(status=ComparisonTask.Status.OPEN)


def test_unlabeled_tasks_can_be_deleted_but_labels_are_protected(project, annotator):
    make_tasks(project, 2)
    [labeled, unlabeled] = assignments_lease(project=project, annotator=annotator)
    comparison_record(
        project=project, annotator=annotator, assignment_id=labeled.pk, kind="best", position=0
    )
    ComparisonTask.objects.get(pk=unlabeled.task_id).delete()
    assert ComparisonTask.objects.count() == 1 and Completion.objects.count() == 4
    # A person's choice is never lost by deleting what it points at; retire the task instead.
    with pytest.raises(ProtectedError):
        ComparisonTask.objects.get(pk=labeled.task_id).delete()
    assert Choice.objects.count() == 1


def test_fifth_completion_is_refused_even_in_a_draft(project):
    task = _draft(project, 4)
    with pytest.raises(IntegrityError), transaction.atomic():
        Completion.objects.create(task=task, position=4, text="fifth")


def test_one_choice_per_annotator_per_task_is_enforced_by_the_database(project, annotator):
    make_tasks(project, 1)
    [assignment] = assignments_lease(project=project, annotator=annotator)
    choice = comparison_record(
        project=project, annotator=annotator, assignment_id=assignment.pk, kind="best", position=1
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Choice.objects.create(
            task=choice.task,
            annotator=annotator,
            project=project,
            kind="skip",
            display_order=[0, 1, 2, 3],
            decision_ms=5,
        )
    # A different annotator may still judge the same task.
    other = UserFactory()
    Choice.objects.create(
        task=choice.task, annotator=other, project=project, kind="skip",
        display_order=[0, 1, 2, 3], decision_ms=5,
    )
    assert Choice.objects.filter(task=choice.task).count() == 2


def test_best_choice_must_name_a_completion(project, annotator):
    make_tasks(project, 1)
    task = ComparisonTask.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Choice.objects.create(
            task=task, annotator=annotator, project=project, kind="best",
            display_order=[0, 1, 2, 3], decision_ms=5,
        )
