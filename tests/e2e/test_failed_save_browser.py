"""A save that fails is never lost silently: retried, then named on the page with a retry button.

The server is made to fail through a hook the test toggles: the hot path's deciding statement
raises the error SQLite raises when the database stays locked past its busy timeout (the live
server runs in this process, so patching the module reaches it).
"""

import threading

import pytest
from django.db import OperationalError

from labeling import queue_sql
from labeling.models import Choice, Completion
from labeling.services import comparisons_import
from labeling.services.demo import DEMO_COMPARISONS
from tests.e2e.browser import log_in
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_labeling(page, live_server):
    project = ProjectFactory(name="Failing saves", slug="failing")
    comparisons_import(project=project, source=DEMO_COMPARISONS)
    annotator = UserFactory(username="grace")
    project.annotators.add(annotator)
    log_in(page, f"{live_server.url}/login/", "grace")
    page.goto(f"{live_server.url}/p/failing/")
    page.locator("#labeler > form.task").wait_for()
    return annotator


def shown(page):
    """(task id, canonical position shown in slot 2) of the task on screen."""
    form = page.locator("#labeler > form.task")
    task_id = int(form.get_attribute("data-task"))
    text = form.locator('.card[data-slot="2"] .text').inner_text()
    return task_id, Completion.objects.get(task_id=task_id, text=text).position


def test_a_save_that_fails_is_named_and_its_retry_stores_it_once(live_server, browser_page, monkeypatch):
    page = browser_page
    annotator = open_labeling(page, live_server)
    locked = threading.Event()
    decide = queue_sql.assignment_decide

    def decide_unless_locked(**kwargs):
        if locked.is_set():
            raise OperationalError("database is locked")
        return decide(**kwargs)

    monkeypatch.setattr(queue_sql, "assignment_decide", decide_unless_locked)
    task_id, position = shown(page)
    locked.set()
    page.keyboard.press("2")
    # The page moved on at once, retried in the background, then said which task is unsaved.
    unsaved = page.locator("#save-status .unsaved")
    unsaved.get_by_text(f"Task {task_id} was not saved").wait_for()
    assert "busy" in unsaved.inner_text()
    assert int(page.locator("#labeler > form.task").get_attribute("data-task")) != task_id
    assert not Choice.objects.filter(annotator=annotator).exists()

    locked.clear()  # the lock is released
    unsaved.get_by_role("button", name=f"Retry saving task {task_id}").click()
    unsaved.wait_for(state="detached")
    page.locator("#progress").get_by_text("1 today").wait_for()
    [choice] = Choice.objects.filter(annotator=annotator)
    assert choice.task_id == task_id and choice.completion.position == position

    # Labeling goes on from the task that was on screen; the next save works at once.
    page.keyboard.press("1")
    page.locator("#progress").get_by_text("2 today").wait_for()
    assert Choice.objects.filter(annotator=annotator).count() == 2
    assert Choice.objects.filter(annotator=annotator, task_id=task_id).count() == 1


def test_a_retry_of_a_save_that_was_stored_reports_success(live_server, browser_page, monkeypatch):
    page = browser_page
    annotator = open_labeling(page, live_server)
    texts = queue_sql.task_texts
    answers_lost = []

    def texts_then_lose_the_answer_once(**kwargs):
        # After the decision committed: the first answer fails, as if the connection dropped.
        if not answers_lost:
            answers_lost.append(True)
            raise OperationalError("database is locked")
        return texts(**kwargs)

    monkeypatch.setattr(queue_sql, "task_texts", texts_then_lose_the_answer_once)
    task_id, position = shown(page)
    page.keyboard.press("2")
    page.locator("#progress").get_by_text("1 today").wait_for()
    assert answers_lost and page.locator("#save-status .unsaved").count() == 0
    [choice] = Choice.objects.filter(annotator=annotator)
    assert choice.task_id == task_id and choice.completion.position == position
