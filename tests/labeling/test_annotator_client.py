"""The annotator client the simulation, the benchmarks and the tests share, against a live server:
log in, read the page, choose as label.js does (the short answer), choose for the whole labeler,
skip; and a refused choice and a wrong password are errors that say so."""

import pytest

from labeling.annotator_client import AnnotatorClient, SimulationError
from labeling.models import Assignment, Choice
from tests.factories import make_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_session_labels_through_the_pages(live_server, project, annotator):
    make_tasks(project, 6)
    client = AnnotatorClient(live_server.url, annotator.username, "pw")
    client.login()
    page = client.next_task(project.slug)
    assert page.assignment is not None and page.held is not None and page.held != page.assignment
    assert len(page.completions) == 4 and sorted(page.display_order) == [0, 1, 2, 3]
    assert Assignment.objects.get(pk=page.assignment).task.prompt.text == page.prompt

    # As label.js: the answer is short and names the held task as the one now shown.
    short = client.choose(project.slug, page, 2, 1200, send_held=True)
    assert short.decided and short.assignment == page.held and short.held not in (None, page.held)
    with pytest.raises(SimulationError, match="ids only"):
        short.prompt  # noqa: B018
    chosen = Choice.objects.get(task__assignments__pk=page.assignment)
    assert chosen.completion.position == 2 and chosen.decision_ms == 1200

    # Without the held task the answer is the whole labeler, fully readable.
    whole = client.choose(project.slug, short, 0, 900)
    assert not whole.decided and whole.assignment is not None and len(whole.completions) == 4
    skipped = client.skip(project.slug, whole)
    assert Choice.objects.get(task__assignments__pk=whole.assignment).kind == "skip"
    assert skipped.assignment not in (None, whole.assignment)

    with pytest.raises(SimulationError, match="refused"):  # the same task decided twice
        client.choose(project.slug, page, 1, 500)
    assert Choice.objects.filter(annotator=annotator).count() == 3
    client.close()


def test_a_wrong_password_is_an_error(live_server, annotator):
    client = AnnotatorClient(live_server.url, annotator.username, "not-the-password")
    with pytest.raises(SimulationError, match=f"login failed for {annotator.username}"):
        client.login()


def test_only_http_urls():
    with pytest.raises(ValueError, match="http://host"):
        AnnotatorClient("https://example.org", "a", "b")
