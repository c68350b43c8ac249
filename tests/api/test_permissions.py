"""Every API endpoint for anonymous, an annotator of the project, an annotator of another
project, and staff: annotators may only label, staff may do everything, and a project you do not
label does not exist for you."""

from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, reverse

from labeling.api import urls as api_urls
from labeling.services import assignments_lease, comparison_record
from tests.api.conftest import token_client

ROLES = ("anonymous", "annotator", "outsider", "staff")


def lease(world, user):
    return assignments_lease(project=world.project, annotator=user)[0].pk


def decided(world, user):
    comparison_record(project=world.project, annotator=user, assignment_id=lease(world, user),
                      kind="best", position=0)
    return None


def upload(world, user):
    return {"kind": "prompts", "file": SimpleUploadedFile("p.jsonl", b'{"prompt": "a new prompt"}\n')}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str = "get"
    ok: int = 200
    labeling: bool = False  # annotators may use it; otherwise staff only
    kwargs: dict = field(default_factory=dict)
    body: object = None  # callable(world, user) -> request data, run before the request


ENDPOINTS = [
    Endpoint("projects", labeling=True),
    Endpoint("project", labeling=True),
    Endpoint("task_next", labeling=True),
    Endpoint("task_submit", "post", 201, True, body=lambda w, u: {"assignment_id": lease(w, u), "position": 2}),
    Endpoint("task_skip", "post", 201, True, body=lambda w, u: {"assignment_id": lease(w, u)}),
    Endpoint("task_flag", "post", 201, True, body=lambda w, u: {"assignment_id": lease(w, u), "comment": "x"}),
    Endpoint("task_undo", "post", 200, True, body=decided),
    Endpoint("tasks"),
    Endpoint("prompts"),
    Endpoint("choices"),
    Endpoint("imports", "post", 201, body=upload),
    Endpoint("exports"),
    Endpoint("exports", "post", 201, body=lambda w, u: {"format": "listwise", "file_format": "parquet"}),
    Endpoint("export_download", kwargs={"name": "EXPORT"}),
    Endpoint("policies"),
    Endpoint("reward_models"),
    Endpoint("runs"),
    Endpoint("runs", "post", 201, body=lambda w, u: {"kind": "sampling"}),
    Endpoint("run", kwargs={"run_id": "RUN"}),
    Endpoint("run_cancel", "post", kwargs={"run_id": "RUN"}),
    Endpoint("quality"),
    Endpoint("evaluations"),
    Endpoint("evaluation_split", "post", body=lambda w, u: {"size": 0}),
]


def expected(endpoint: Endpoint, role: str) -> int:
    if role == "anonymous":
        return 401
    if role == "outsider" and endpoint.name != "projects":
        return 404  # the project is not theirs: it does not exist for them
    if role in ("annotator", "outsider") and not endpoint.labeling:
        return 403 if role == "annotator" else 404
    return endpoint.ok


def url(world, endpoint: Endpoint) -> str:
    kwargs = {"slug": world.project.slug}
    for key, value in endpoint.kwargs.items():
        kwargs[key] = {"EXPORT": world.export_name, "RUN": world.run.pk}[value]
    return reverse(f"api:{endpoint.name}", kwargs=kwargs if endpoint.name != "projects" else None)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method}-{e.name}")
def test_permission_matrix(world, endpoint, role):
    user = world.user(role)
    data = None
    if endpoint.body is not None:
        # Lease or decide as the acting user where that user may; others send a stranger's lease.
        data = endpoint.body(world, user if expected(endpoint, role) == endpoint.ok else world.annotator)
    client = token_client(user)
    fmt = "multipart" if endpoint.name == "imports" else "json"
    request = getattr(client, endpoint.method)
    response = request(url(world, endpoint), data, format=fmt) if endpoint.method == "post" else request(url(world, endpoint))
    assert response.status_code == expected(endpoint, role), response.content[:300]
    if response.status_code == 401:
        assert response["WWW-Authenticate"].startswith("Token")


def test_every_api_route_is_in_the_matrix():
    routes = {p.name for p in api_urls.urlpatterns if isinstance(p, URLPattern)} - {"token", None}
    assert routes == {e.name for e in ENDPOINTS}


def test_project_list_shows_only_the_users_projects(world):
    slugs = lambda user: [p["slug"] for p in token_client(user).get("/api/projects/").json()["results"]]  # noqa: E731
    assert slugs(world.annotator) == ["api-project"]
    assert slugs(world.outsider) == ["other-project"]
    assert sorted(slugs(world.staff)) == ["api-project", "other-project"]


def test_a_token_comes_from_username_and_password(world):
    client = token_client(None)
    bad = client.post("/api/auth/token/", {"username": world.annotator.username, "password": "nope"})
    assert bad.status_code == 400
    good = client.post("/api/auth/token/", {"username": world.annotator.username, "password": "pw"})
    assert good.status_code == 200
    assert token_client(None).get("/api/projects/", HTTP_AUTHORIZATION=f"Token {good.json()['token']}").status_code == 200


def test_the_browser_session_works_and_writes_need_the_csrf_token(world):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.annotator)
    assert client.get("/api/projects/api-project/tasks/next/").status_code == 200
    assert client.post("/api/projects/api-project/tasks/undo/").status_code == 403  # no CSRF token
