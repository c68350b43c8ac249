"""An annotator writes a better answer by keyboard, starting from the one they picked; the
database has the demonstration and the choice."""

import pytest

from labeling.models import Choice, Completion, Demonstration
from tests.e2e.browser import log_in
from tests.factories import ProjectFactory, UserFactory, make_tasks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_annotator_writes_a_demonstration_from_the_picked_answer(live_server, browser_page):
    page = browser_page
    project = ProjectFactory(name="Demonstrations", slug="demos")
    make_tasks(project, 3)
    annotator = UserFactory(username="grace")
    project.annotators.add(annotator)

    log_in(page, f"{live_server.url}/p/demos/", "grace")
    form = page.locator("#labeler > form.task")
    form.wait_for()
    task_id = int(form.get_attribute("data-task"))
    picked_text = form.locator('.card[data-slot="2"] .text').inner_text()
    picked = Completion.objects.get(task_id=task_id, text=picked_text)

    page.keyboard.press("w")
    dialog = form.locator("dialog.demo-editor")
    dialog.wait_for(state="visible")
    page.keyboard.press("2")  # pick the second card: the editor starts from its text
    editor = dialog.locator("textarea.demo-text")
    assert editor.input_value() == picked_text
    assert editor.evaluate("el => el === document.activeElement")
    page.keyboard.type(" Said better, with care.")
    page.keyboard.press("Control+Enter")
    # The next task replaces this one, and the save is confirmed on screen.
    page.locator("#labeler .demo-saved").wait_for()
    assert int(page.locator("#labeler > form.task").get_attribute("data-task")) != task_id

    demo = Demonstration.objects.get(annotator=annotator)
    assert demo.text == picked_text + " Said better, with care."
    assert demo.completion == picked and demo.comparison_task_id == task_id
    assert demo.time_ms is not None and demo.time_ms > 0
    choice = Choice.objects.get(annotator=annotator)
    assert (choice.task_id, choice.kind, choice.completion) == (task_id, "best", picked)
    assert choice.display_order[1] == picked.position

    # A refused save is shown in the editor, which keeps the text: nothing silent, nothing lost.
    page.keyboard.press("w")
    dialog = page.locator("#labeler > form.task dialog.demo-editor")
    dialog.wait_for(state="visible")
    page.keyboard.press("Control+Enter")  # empty answer, no pick
    dialog.locator(".demo-error").wait_for(state="visible")
    assert "empty" in dialog.locator(".demo-error").inner_text()
    assert Demonstration.objects.count() == 1 and Choice.objects.count() == 1
