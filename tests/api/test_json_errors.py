"""API errors are always JSON: hostile bodies get a 400 with a JSON body, never an HTML 500."""

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import token_client

DEEP = ("[" * 100_000 + "]" * 100_000).encode()
MODERATE = ('{"a": ' * 40 + "1" + "}" * 40).encode()


@pytest.mark.parametrize("body", [DEEP, MODERATE], ids=["100k-deep", "40-deep"])
@pytest.mark.parametrize("who, path", [
    ("anonymous", "/api/auth/token/"),
    ("annotator", "/api/projects/api-project/tasks/submit/"),
    ("staff", "/api/projects/api-project/exports/"),
    ("staff", "/api/projects/api-project/runs/"),
])
def test_deeply_nested_json_is_a_400_json_answer(world, who, path, body):
    client = token_client(world.user(who)) if who != "anonymous" else APIClient()
    response = client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "nested deeper than 32 levels" in response.json()["detail"]


@pytest.mark.parametrize("body, problem", [
    (b'{"assignment_id": 1, "position": 0, "comment": "a\\u0000b"}', "field 'comment': contains a NUL"),
    (b'{"assignment_id": 1, "position": NaN}', "field 'position': nan is not a number"),
    (b'{"assignment_id": ' + b"9" * 5000 + b', "position": 0}', "field 'assignment_id': an integer with 5000"),
    (b'{"assignment_id": 1, "position": 0', "not valid JSON"),
    (b'\xff\xfe{}', "not utf-8 text"),
])
def test_hostile_json_values_are_named_in_a_400(world, body, problem):
    response = token_client(world.annotator).generic(
        "POST", "/api/projects/api-project/tasks/submit/", body, content_type="application/json")
    assert response.status_code == 400
    assert problem in response.json()["detail"]


def test_an_unforeseen_api_error_is_json_and_logged(world, monkeypatch, caplog):
    from labeling.api.views import labeling as views_labeling

    def broken(**kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(views_labeling.services, "labeling_state_for_annotator", broken)
    client = token_client(world.annotator)
    client.raise_request_exception = False
    response = client.get("/api/projects/api-project/tasks/next/")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal error; it was logged."}
    assert "ZeroDivisionError" in caplog.text
