import pytest
from django.test import Client
from django.urls import reverse

from labeling.annotator_client import assignment_ids
from labeling.models import Assignment, Choice
from labeling.services import NewTask, tasks_create
from tests.factories import make_tasks

HTMX = {"HTTP_HX_REQUEST": "true"}


def label_url(project):
    return reverse("labeling:label", args=[project.slug])


def decide_url(project):
    return reverse("labeling:decide", args=[project.slug])


def current_assignment(response):
    return assignment_ids(response.content)[0]


@pytest.mark.parametrize("name", ["labeling:project_list", "labeling:label", "labeling:import"])
def test_anonymous_users_are_sent_to_login(client, project, name):
    url = reverse(name, args=[project.slug] if name != "labeling:project_list" else [])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_post_is_not_recorded(client, project):
    make_tasks(project, 1)
    response = client.post(decide_url(project), {"assignment": 1, "position": 0})
    assert response.status_code == 302 and not Choice.objects.exists()


def test_login_page_is_public(client, db):
    assert client.get(reverse("login")).status_code == 200


def test_annotator_sees_only_their_projects(annotator_client, project):
    from tests.factories import ProjectFactory

    ProjectFactory(name="Secret project", slug="secret")
    page = annotator_client.get(reverse("labeling:project_list")).content.decode()
    assert project.name in page and "Secret project" not in page
    assert annotator_client.get(reverse("labeling:label", args=["secret"])).status_code == 403
    assert annotator_client.post(reverse("labeling:decide", args=["secret"])).status_code == 403


def test_annotators_cannot_import_or_use_admin(annotator_client, project):
    assert annotator_client.get(reverse("labeling:import", args=[project.slug])).status_code == 403
    assert annotator_client.get(reverse("admin:index")).status_code == 302  # to admin login


def test_staff_can_label_any_project_and_import(client, staff, project, tmp_path):
    client.force_login(staff)
    assert client.get(label_url(project)).status_code == 200
    page = client.get(reverse("labeling:import", args=[project.slug]))
    assert page.status_code == 200
    upload = tmp_path / "c.jsonl"
    upload.write_text('{"prompt": "p", "completions": ["a", "b", "c", "d"]}\n{"prompt": "q"}\n')
    with upload.open("rb") as fh:
        response = client.post(page.request["PATH_INFO"], {"kind": "comparisons", "file": fh})
    assert "c.jsonl, line 2, field &#x27;completions&#x27;" in response.content.decode()
    assert not project.tasks.exists()
    upload.write_text('{"prompt": "p", "completions": ["a", "b", "c", "d"]}\n')
    with upload.open("rb") as fh:
        response = client.post(page.request["PATH_INFO"], {"kind": "comparisons", "file": fh})
    assert "Imported: 1 created" in response.content.decode()
    assert client.get(reverse("admin:labeling_choice_changelist")).status_code == 200


def test_csrf_is_required_for_labeling_posts(project, annotator):
    make_tasks(project, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    page = client.get(label_url(project))
    assignment = current_assignment(page)
    refused = client.post(decide_url(project), {"assignment": assignment, "position": 0}, **HTMX)
    assert refused.status_code == 403 and not Choice.objects.exists()
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        decide_url(project), {"assignment": assignment, "position": 0},
        HTTP_X_CSRFTOKEN=token, **HTMX,
    )
    assert accepted.status_code == 200 and Choice.objects.count() == 1


def test_model_output_is_escaped_and_keeps_line_breaks(annotator_client, project):
    tasks_create(project=project, tasks=[NewTask(
        prompt="<b>bold?</b>",
        completions=["<script>alert(1)</script>", "line one\nline two", "c", "d"],
    )])
    page = annotator_client.get(label_url(project)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold?&lt;/b&gt;" in page
    assert "line one\nline two" in page  # rendered with white-space: pre-wrap


def test_htmx_gets_the_partial_and_a_plain_request_the_full_page(annotator_client, project):
    make_tasks(project, 2)
    full = annotator_client.get(label_url(project)).content.decode()
    partial = annotator_client.get(label_url(project), **HTMX).content.decode()
    assert full.lstrip().startswith("<!doctype html>") and 'id="labeler"' in full
    assert partial.lstrip().startswith('<div id="labeler"') and "<html" not in partial
    assert "<template id=\"upcoming\">" in partial and "Keys:" in partial


def test_plain_form_flow_without_javascript(annotator_client, project, annotator):
    make_tasks(project, 3)
    page = annotator_client.get(label_url(project))
    assignment = current_assignment(page)
    response = annotator_client.post(decide_url(project), {"assignment": assignment, "position": 2})
    assert response.status_code == 302 and response["Location"] == label_url(project)
    choice = Choice.objects.get()
    assert choice.completion.position == 2
    assert choice.display_order == Assignment.objects.get(pk=assignment).display_order
    follow = annotator_client.get(label_url(project))
    assert "Undo last" in follow.content.decode()
    assert current_assignment(follow) != assignment
    annotator_client.post(reverse("labeling:undo", args=[project.slug]))
    assert not Choice.objects.exists()
    skip = annotator_client.post(decide_url(project), {"assignment": assignment, "action": "skip"})
    assert skip.status_code == 302 and Choice.objects.get().kind == "skip"


def test_htmx_decision_returns_next_task_partial(annotator_client, project):
    make_tasks(project, 3)
    first = current_assignment(annotator_client.get(label_url(project)))
    response = annotator_client.post(
        decide_url(project), {"assignment": first, "position": 1, "decision_ms": 850}, **HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="labeler"')
    assert current_assignment(response) != first
    assert Choice.objects.get().decision_ms == 850
    assert "1</strong> today" in body


def test_stale_or_invalid_decisions_show_an_error(annotator_client, project):
    make_tasks(project, 1)
    first = current_assignment(annotator_client.get(label_url(project)))
    annotator_client.post(decide_url(project), {"assignment": first, "position": 0}, **HTMX)
    # The same decision again (a retry whose first answer was lost) is acknowledged, not stored twice.
    again = annotator_client.post(decide_url(project), {"assignment": first, "position": 0}, **HTMX)
    assert again.status_code == 200 and "flash error" not in again.content.decode()
    other = annotator_client.post(decide_url(project), {"assignment": first, "position": 3}, **HTMX)
    assert other.status_code == 409 and "already decided" in other.content.decode()
    bad = annotator_client.post(decide_url(project), {"assignment": first}, **HTMX)
    assert bad.status_code == 400 and "Pick one of the four" in bad.content.decode()
    assert Choice.objects.count() == 1 and Choice.objects.get().completion.position == 0


def test_empty_queue_says_so_and_polls(annotator_client, project):
    page = annotator_client.get(label_url(project)).content.decode()
    assert "No tasks right now" in page
    assert 'hx-trigger="every 10s"' in page
