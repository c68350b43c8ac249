"""What the endpoints do, beyond who may call them."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.throttling import ScopedRateThrottle

from labeling.models import Choice, TrainingRun
from tests.api.conftest import token_client

BASE = "/api/projects/api-project/"


@pytest.fixture
def annotator_api(world):
    return token_client(world.annotator)


@pytest.fixture
def staff_api(world):
    return token_client(world.staff)


def test_label_through_next_submit_skip_and_undo(world, annotator_api):
    state = annotator_api.get(BASE + "tasks/next/").json()
    current = state["current"]
    assert [c["slot"] for c in current["cards"]] == [1, 2, 3, 4] and state["upcoming"]
    best = current["cards"][2]["position"]
    made = annotator_api.post(BASE + "tasks/submit/", {"assignment_id": current["assignment_id"],
                                                        "position": best, "decision_ms": 900}, format="json")
    assert made.status_code == 201
    assert made.json()["position"] == best and made.json()["kind"] == "best"
    # A retry of the same decision is acknowledged with the stored choice; a different one is refused.
    retried = annotator_api.post(BASE + "tasks/submit/", {"assignment_id": current["assignment_id"],
                                                           "position": best}, format="json")
    assert retried.status_code == 201 and retried.json()["id"] == made.json()["id"]
    again = annotator_api.post(BASE + "tasks/submit/", {"assignment_id": current["assignment_id"],
                                                         "position": (best + 1) % 4}, format="json")
    assert again.status_code == 409 and "already decided" in again.json()["detail"]
    assert Choice.objects.count() == 1
    assert annotator_api.post(BASE + "tasks/undo/").json() == {"task_id": current["task_id"]}
    assert annotator_api.get(BASE + "tasks/next/").json()["current"]["task_id"] == current["task_id"]
    skipped = annotator_api.post(BASE + "tasks/skip/", {"assignment_id": current["assignment_id"]}, format="json")
    assert skipped.json()["kind"] == "skip" and skipped.json()["position"] is None
    assert annotator_api.post(BASE + "tasks/submit/", {"assignment_id": 1}, format="json").status_code == 400


def test_someone_elses_lease_is_refused(world, annotator_api):
    other = token_client(world.staff).get(BASE + "tasks/next/").json()["current"]["assignment_id"]
    refused = annotator_api.post(BASE + "tasks/flag/", {"assignment_id": other}, format="json")
    assert refused.status_code == 409 and not Choice.objects.exists()


def test_labeling_endpoints_are_throttled_per_user(world, annotator_api, monkeypatch):
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"labeling": "3/min"})
    codes = [annotator_api.get(BASE + "tasks/next/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert token_client(world.staff).get(BASE + "tasks/next/").status_code == 200  # per user
    assert annotator_api.get(BASE + "tasks/").status_code == 403  # throttled ones are labeling only
    cache.clear()


def test_lists_are_paginated_and_filtered(world, staff_api):
    page = staff_api.get(BASE + "tasks/", {"page_size": 3}).json()
    assert page["count"] == 8 and len(page["results"]) == 3 and page["next"]
    task = page["results"][0]
    assert len(task["completions"]) == 4 and task["policy_version"] == 0 and task["status"] == "open"
    assert staff_api.get(BASE + "tasks/", {"status": "complete"}).json()["count"] == 0
    assert staff_api.get(BASE + "tasks/", {"status": "bogus"}).status_code == 400
    annotator_api = token_client(world.annotator)
    lease = annotator_api.get(BASE + "tasks/next/").json()["current"]["assignment_id"]
    annotator_api.post(BASE + "tasks/skip/", {"assignment_id": lease}, format="json")
    assert staff_api.get(BASE + "choices/").json()["count"] == 0
    assert staff_api.get(BASE + "choices/", {"include_skipped": "true"}).json()["count"] == 1
    assert staff_api.get(BASE + "choices/", {"include_skipped": "true", "annotator": [world.staff.pk]}).json()["count"] == 0
    assert staff_api.get(BASE + "choices/", {"agreeing_only": "true"}).json()["count"] == 0


def test_imports_are_atomic_and_name_the_row_and_field(world, staff_api):
    rows = b'{"prompt": "p", "completions": ["a", "b", "c", "d"]}\n{"prompt": "q", "completions": ["a"]}\n'
    bad = staff_api.post(BASE + "imports/", {"kind": "comparisons", "file": SimpleUploadedFile("c.jsonl", rows)},
                         format="multipart")
    assert bad.status_code == 400
    assert bad.json()["errors"] == ["c.jsonl, line 2, field 'completions': expected exactly four completions, got 1"]
    good = rows.splitlines()[0] + b"\n"
    made = staff_api.post(BASE + "imports/", {"kind": "comparisons", "file": SimpleUploadedFile("c.jsonl", good * 2)},
                          format="multipart")
    assert made.status_code == 201 and made.json()["created"] == 1 and made.json()["duplicates"] == 1


def test_export_then_download_by_name(world, staff_api):
    from labeling.services import assignments_lease, comparison_record

    lease = assignments_lease(project=world.project, annotator=world.annotator)[0]
    comparison_record(project=world.project, annotator=world.annotator, assignment_id=lease.pk, kind="best", position=3)
    made = staff_api.post(BASE + "exports/", {"format": "listwise", "reveal_annotators": True}, format="json")
    assert made.status_code == 201
    manifest = made.json()
    assert manifest["counts"]["choices"] == 1 and manifest["file"].endswith(".jsonl")
    download = staff_api.get(BASE + f"exports/{manifest['file']}/")
    assert download.status_code == 200 and download["Content-Type"] == "application/octet-stream"
    row = json.loads(b"".join(download.streaming_content))
    assert row["best"] == 3 and row["annotator"] == world.annotator.username
    listed = staff_api.get(BASE + "exports/").json()["results"]
    assert listed[0]["file"] == manifest["file"] and len(listed) == 2
    assert staff_api.get(BASE + "exports/..%2Fsecret/").status_code == 404
    assert staff_api.post(BASE + "exports/", {"format": "ranked"}, format="json").status_code == 400


def test_runs_start_conflict_status_and_cancel(world, staff_api):
    made = staff_api.post(BASE + "runs/", {"kind": "reward"}, format="json")
    assert made.status_code == 201 and made.json()["status"] == "queued"
    assert made.json()["trigger"] == f"api: {world.staff.username}"
    assert staff_api.post(BASE + "runs/", {"kind": "sampling"}, format="json").status_code == 409
    run_id = made.json()["id"]
    cancelled = staff_api.post(BASE + f"runs/{run_id}/cancel/").json()
    assert cancelled["status"] == "cancelled" and "metrics" in cancelled
    assert staff_api.get(BASE + f"runs/{run_id}/").json()["status"] == "cancelled"
    assert staff_api.get(BASE + "runs/").json()["count"] == 2
    assert staff_api.post(BASE + "runs/", {"kind": "policy"}, format="json").status_code == 400  # no reward model
    assert TrainingRun.objects.filter(status="queued").count() == 0


def test_schema_and_docs_are_generated_and_self_hosted(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and "/api/projects/{slug}/tasks/next/" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower() and b"/static/drf_spectacular_sidecar/" in docs.content


def test_unknown_api_addresses_answer_json_404(world, staff_api):
    for path in ("/api/nope/", BASE + "runs/-3/", BASE + "runs/12/bogus/"):
        response = staff_api.get(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/json", path
