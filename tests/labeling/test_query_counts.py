"""A decision costs one request and the same few queries however long the queue."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labeling.annotator_client import Page
from labeling.models import Choice
from tests.factories import make_tasks

HTMX = {"HTTP_HX_REQUEST": "true"}
# One decision, one POST: the session (server-side, so logout ends it), the user, the project,
# deciding (update, insert, complete), the hand-out (pending, candidates, the lease, whose insert
# re-counts the task's leases itself), the texts of the task after next and the progress, plus
# the SAVEPOINT/RELEASE pair the test's own transaction adds around the service's atomic block.
# It was 20 per GET and POST each; PostgreSQL's separate re-count made it 14 there until now.
MAX_QUERIES = {"sqlite": 13, "postgresql": 13}


class Labeler:
    """What label.js holds: the task shown and the one after it."""

    def __init__(self, client, project):
        self.client, self.project = client, project
        page = Page(client.get(reverse("labeling:label", args=[project.slug]), **HTMX).content)
        self.shown, self.held = page.assignment, page.held
        assert self.shown is not None and self.held is not None

    def decide(self) -> int:
        """Queries for one decision (whose answer carries the task after next)."""
        with CaptureQueriesContext(connection) as save:
            response = self.client.post(
                reverse("labeling:decide", args=[self.project.slug]),
                {"assignment": self.shown, "position": 0, "decision_ms": 100, "held": self.held},
                **HTMX,
            )
        assert response.status_code == 200
        assert response.content.decode().lstrip().startswith(f'<div id="decided" data-current="{self.held}"')
        page = Page(response.content)
        assert page.assignment == self.held and page.held is not None
        self.shown, self.held = page.assignment, page.held
        return len(save)


def test_query_count_does_not_grow_with_the_queue(annotator_client, project):
    make_tasks(project, 10)
    page = Labeler(annotator_client, project)
    small = [page.decide() for _ in range(3)][-1]
    make_tasks(project, 10_000 - 10, start=10, prefix="bulk")
    large = [page.decide() for _ in range(3)][-1]
    assert small == large, f"queries with 10 tasks {small}, with 10,000 tasks {large}"
    assert large <= MAX_QUERIES[connection.vendor], large


def test_the_queue_statements_are_prepared_once_per_connection(annotator_client, project):
    """After a few decisions the queue's statements, and the session's, user's and project's
    reads, run as server-side prepared statements (not parsed and planned on every decision);
    the ORM's own statements are never prepared."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    make_tasks(project, 20)
    page = Labeler(annotator_client, project)
    for _ in range(8):
        page.decide()
        Choice.objects.filter(project=project).count()  # an ORM statement, as often
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any(s.lstrip().startswith("UPDATE labeling_assignment SET state") for s in prepared), prepared
    assert any("last_choice" in s for s in prepared), prepared  # the progress line
    assert any("FROM django_session" in s for s in prepared), prepared
    assert any("FROM auth_user" in s for s in prepared), prepared
    assert any("FROM labeling_project project" in s for s in prepared), prepared
    assert not any('"labeling_choice"."project_id"' in s for s in prepared), prepared
