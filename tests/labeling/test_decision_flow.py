"""One request per decision, and a busy database answered with 503 + Retry-After."""

import sqlite3

import pytest
from django.db import OperationalError, connection
from django.urls import reverse

from labeling import queue_sql
from labeling.annotator_client import assignment_ids
from labeling.middleware import database_busy
from labeling.models import Choice
from tests.api.conftest import token_client
from tests.factories import make_tasks

HTMX = {"HTTP_HX_REQUEST": "true"}


def assignments(response) -> list[int]:
    return assignment_ids(response.content)


def test_a_decision_answers_with_the_task_after_next(annotator_client, project):
    make_tasks(project, 5)
    label = reverse("labeling:label", args=[project.slug])
    decide = reverse("labeling:decide", args=[project.slug])
    shown, held = assignments(annotator_client.get(label))  # current, and the one held ready
    answer = annotator_client.post(decide, {"assignment": shown, "position": 1, "held": held}, **HTMX)
    body = answer.content.decode()
    assert answer.status_code == 200 and body.lstrip().startswith(f'<div id="decided" data-current="{held}"')
    assert 'id="labeler"' not in body and "1</strong> today" in body
    [after_next] = assignments(answer)  # only the task after next is sent
    assert after_next not in (shown, held)
    answer = annotator_client.post(decide, {"assignment": held, "action": "skip", "held": after_next}, **HTMX)
    [third] = assignments(answer)
    assert third not in (shown, held, after_next)
    assert list(Choice.objects.order_by("pk").values_list("kind", flat=True)) == ["best", "skip"]


def test_a_page_that_holds_something_else_gets_the_whole_labeler(annotator_client, project):
    make_tasks(project, 3)
    label = reverse("labeling:label", args=[project.slug])
    shown, held = assignments(annotator_client.get(label))
    answer = annotator_client.post(reverse("labeling:decide", args=[project.slug]),
                                   {"assignment": shown, "position": 0}, **HTMX)  # no next held
    assert answer.content.decode().lstrip().startswith('<div id="labeler"')
    assert assignments(answer)[0] == held


def locked(*args, **kwargs):
    raise OperationalError("database is locked")


def test_a_busy_database_answers_503_with_retry_after_on_the_page(annotator_client, project, monkeypatch):
    make_tasks(project, 2)
    shown, _ = assignments(annotator_client.get(reverse("labeling:label", args=[project.slug])))
    monkeypatch.setattr(queue_sql, "assignment_decide", locked)
    decide = reverse("labeling:decide", args=[project.slug])
    partial = annotator_client.post(decide, {"assignment": shown, "position": 0}, **HTMX)
    assert partial.status_code == 503 and partial["Retry-After"] == "2"
    assert partial.content.decode().startswith('<p class="flash error"') and "busy" in partial.content.decode()
    page = annotator_client.post(decide, {"assignment": shown, "position": 0})
    assert page.status_code == 503 and page["Retry-After"] == "2" and "<!doctype html>" in page.content.decode()
    assert not Choice.objects.exists()


def test_a_busy_database_answers_503_json_on_the_api(annotator, project, monkeypatch):
    make_tasks(project, 2)
    api = token_client(annotator)
    base = f"/api/projects/{project.slug}/tasks/"
    current = api.get(base + "next/").json()["current"]["assignment_id"]
    monkeypatch.setattr(queue_sql, "assignment_decide", locked)
    answer = api.post(base + "submit/", {"assignment_id": current, "position": 0}, format="json")
    assert answer.status_code == 503 and answer["Retry-After"] == "2"
    assert answer["Content-Type"] == "application/json" and answer.json()["retry_after"] == 2
    assert "busy" in answer.json()["detail"] and not Choice.objects.exists()
    monkeypatch.undo()
    retried = api.post(base + "submit/", {"assignment_id": current, "position": 0}, format="json")
    assert retried.status_code == 201 and Choice.objects.count() == 1


def test_only_busy_errors_are_turned_into_503():
    class PgLockTimeout(Exception):
        sqlstate = "55P03"

    timeout = OperationalError("canceling statement due to lock timeout")
    timeout.__cause__ = PgLockTimeout()
    assert database_busy(timeout)
    assert database_busy(OperationalError("database is locked"))
    assert not database_busy(OperationalError("no such table: labeling_choice"))
    assert not database_busy(ValueError("database is locked"))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="holds a real SQLite write lock")
@pytest.mark.django_db(transaction=True)
def test_a_real_sqlite_lock_past_the_busy_timeout_answers_503(client, project, annotator):
    make_tasks(project, 2)
    client.force_login(annotator)
    shown, _ = assignments(client.get(reverse("labeling:label", args=[project.slug]), **HTMX))
    connection.close()
    options = connection.settings_dict["OPTIONS"]
    timeout, options["timeout"] = options.get("timeout"), 0.2
    holder = sqlite3.connect(connection.settings_dict["NAME"])
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing for longer than the timeout
        answer = client.post(reverse("labeling:decide", args=[project.slug]),
                             {"assignment": shown, "position": 0}, **HTMX)
        assert answer.status_code == 503 and answer["Retry-After"] == "2"
    finally:
        holder.rollback()
        holder.close()
        connection.close()
        options["timeout"] = timeout
    assert not Choice.objects.exists()
    again = client.post(reverse("labeling:decide", args=[project.slug]), {"assignment": shown, "position": 0}, **HTMX)
    assert again.status_code == 200 and Choice.objects.count() == 1
