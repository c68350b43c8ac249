"""Serving the next task and saving a choice cost the same few queries however long the queue."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import make_tasks

HTMX = {"HTTP_HX_REQUEST": "true"}
# Real statements plus the SAVEPOINTs the test transaction adds around each atomic block.
MAX_QUERIES = 20


def round_trip_queries(client, project):
    """Queries for GET next task, then POST a choice (whose response renders the next task)."""
    url = reverse("labeling:label", args=[project.slug])
    with CaptureQueriesContext(connection) as serve:
        page = client.get(url, **HTMX)
    assignment = re.search(r'name="assignment" value="(\d+)"', page.content.decode()).group(1)
    with CaptureQueriesContext(connection) as save:
        response = client.post(
            reverse("labeling:decide", args=[project.slug]),
            {"assignment": assignment, "position": 0, "decision_ms": 100},
            **HTMX,
        )
    assert response.status_code == 200 and 'name="assignment"' in response.content.decode()
    return len(serve), len(save)


def test_query_count_does_not_grow_with_the_queue(annotator_client, project):
    make_tasks(project, 10)
    # Two warm-up rounds reach the steady state: one task shown, one held ready.
    small = [round_trip_queries(annotator_client, project) for _ in range(3)][-1]
    make_tasks(project, 10_000 - 10, start=10, prefix="bulk")
    large = [round_trip_queries(annotator_client, project) for _ in range(3)][-1]
    assert small == large, f"queries with 10 tasks {small}, with 10,000 tasks {large}"
    assert max(large) <= MAX_QUERIES, large
