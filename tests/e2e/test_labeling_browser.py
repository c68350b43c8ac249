"""An annotator labels with the keyboard in a real browser; the database agrees with the screen."""

from pathlib import Path

import pytest

from labeling.models import Choice, Completion
from labeling.services import comparisons_import
from labeling.services.demo import DEMO_COMPARISONS, DEMO_INSTRUCTIONS
from tests.factories import ProjectFactory, UserFactory

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "labeling.png"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def card_position(page, slot):
    """Canonical position of the completion shown in display slot ``slot`` (1–4)."""
    form = page.locator("#labeler > form.task")
    task_id = int(form.get_attribute("data-task"))
    text = form.locator(f'.card[data-slot="{slot}"] .text').inner_text()
    return task_id, Completion.objects.get(task_id=task_id, text=text).position


def wait_for_done(page, count):
    page.locator("#progress").get_by_text(f"{count} today").wait_for()


def test_annotator_labels_undoes_and_skips_with_the_keyboard(live_server, browser_page):
    page = browser_page
    project = ProjectFactory(name="Demo: friendly continuations", slug="demo", instructions=DEMO_INSTRUCTIONS)
    comparisons_import(project=project, source=DEMO_COMPARISONS)
    annotator = UserFactory(username="ada")
    project.annotators.add(annotator)

    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.get_by_role("link", name="Demo: friendly continuations").click()
    page.locator("#labeler > form.task").wait_for()

    expected = []
    for n, slot in enumerate([1, 3, 2], start=1):
        task_id, position = card_position(page, slot)
        expected.append((task_id, slot, position))
        page.wait_for_timeout(150)  # a human takes a moment; the decision timer should see it
        page.keyboard.press(str(slot))
        wait_for_done(page, n)
        # The next task is on screen (it was prefetched), not the one just decided.
        assert int(page.locator("#labeler > form.task").get_attribute("data-task")) != task_id
        if n == 1:
            page.screenshot(path=str(SCREENSHOT))  # the picture in the README

    page.keyboard.press("u")
    wait_for_done(page, 2)
    undone_task = expected[-1][0]
    assert int(page.locator("#labeler > form.task").get_attribute("data-task")) == undone_task

    with page.expect_response(lambda r: "/decide/" in r.url and r.status == 200):
        page.keyboard.press("s")
    assert int(page.locator("#labeler > form.task").get_attribute("data-task")) != undone_task

    best = list(Choice.objects.filter(annotator=annotator, kind="best").order_by("created_at"))
    assert [c.task_id for c in best] == [t for t, _, _ in expected[:2]]
    for choice, (task_id, slot, position) in zip(best, expected, strict=False):
        assert choice.completion.position == position
        # What the database says was displayed in that slot is what the browser showed there.
        assert choice.display_order[slot - 1] == position
        assert sorted(choice.display_order) == [0, 1, 2, 3]
        assert 100 <= choice.decision_ms < 60_000
    skip = Choice.objects.get(annotator=annotator, kind="skip")
    assert skip.task_id == undone_task and skip.completion is None
    assert not Choice.objects.filter(annotator=annotator, task_id=undone_task, kind="best").exists()
    assert Choice.objects.filter(annotator=annotator).count() == 3
