"""Many annotators draining one queue at once: nobody double-booked, nothing lost.

Runs on whatever DATABASE_URL names: PostgreSQL in CI (row locks with SKIP LOCKED), SQLite
otherwise (IMMEDIATE transactions serialize the hand-out).
"""

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from labeling.models import Assignment, Choice
from labeling.services import assignments_lease, comparison_record
from tests.factories import ProjectFactory, UserFactory, make_tasks

THREADS = 16
TASKS = 200


def drain(project, users):
    errors = []
    start = threading.Barrier(len(users))

    def annotate(user):
        try:
            start.wait()
            while True:
                pending = assignments_lease(project=project, annotator=user)
                if not pending:
                    # Done when no open task is left that this annotator has not judged; until
                    # then the rest are locked for a moment by others' hand-outs (SKIP LOCKED
                    # passes over them) or leased to others: look again, as the page's polling does.
                    if not project.tasks.filter(status="open").exclude(choices__annotator=user).exists():
                        return
                    time.sleep(0.05)
                    continue
                comparison_record(
                    project=project, annotator=user, assignment_id=pending[0].pk,
                    kind="best", position=user.pk % 4, decision_ms=1,
                )
        except Exception as exc:  # surfaced in the main thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=annotate, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "an annotator thread hung"
    assert not errors, errors


@pytest.mark.parametrize("overlap", [1, 2])
@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_drain_the_queue_exactly(overlap):
    project = ProjectFactory(slug=f"concurrent-{overlap}", annotations_per_task=overlap)
    make_tasks(project, TASKS)
    users = [UserFactory() for _ in range(THREADS)]
    drain(project, users)

    choices = Choice.objects.filter(project=project)
    assert choices.count() == TASKS * overlap
    per_task = Counter(choices.values_list("task_id", flat=True))
    assert len(per_task) == TASKS and set(per_task.values()) == {overlap}
    pairs = list(choices.values_list("task_id", "annotator_id"))
    assert len(pairs) == len(set(pairs)), "an annotator judged a task twice"
    handed = list(Assignment.objects.filter(project=project).values_list("task_id", "annotator_id"))
    assert len(handed) == len(set(handed)), "an annotator was handed a task twice"
    assert not project.tasks.filter(status="open").exists()
