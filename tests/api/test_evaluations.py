"""/api/projects/{slug}/evaluations/: the figures of the dashboard's evaluation section, and
starting a round."""

import pytest
from rest_framework.test import APIClient

from labeling.models import PolicyVersion, Project, Prompt
from labeling.services import evaluation as evaluation_services
from tests.factories import StaffFactory, UserFactory, make_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_api():
    client = APIClient()
    client.force_authenticate(StaffFactory())
    return client


@pytest.fixture
def evaluated(project):
    Project.objects.filter(pk=project.pk).update(policy_source="/models/rho")
    project.refresh_from_db()
    evaluation_services.policy_initial(project=project)
    version = PolicyVersion.objects.create(project=project, number=1, artifact_path="/v1")
    Project.objects.filter(pk=project.pk).update(current_policy=version)
    return project


def test_split_then_start_then_list(staff_api, evaluated):
    url = f"/api/projects/{evaluated.slug}/evaluations/"
    Prompt.objects.bulk_create([Prompt(project=evaluated, text=f"p{i}", text_hash=f"h{i}") for i in range(5)])
    response = staff_api.post(url, {"baseline": 0}, format="json")
    assert response.status_code == 400 and "no evaluation prompts" in response.json()["detail"]
    response = staff_api.post(url + "split/", {"size": 3, "seed": 1}, format="json")
    assert response.status_code == 200 and response.json() == {"split_size": 3}
    response = staff_api.post(url, {"prompts": 10}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["candidate"], body["baseline"], body["prompts"], body["status"]) == (1, 0, 3, "queued")
    assert body["win_rate"] is None and body["method"] == "none" and body["reward_above_humans"] is False
    assert staff_api.post(url, {}, format="json").status_code == 409  # one active round per project
    listing = staff_api.get(url).json()
    assert listing["split_size"] == 3 and [e["id"] for e in listing["evaluations"]] == [body["id"]]


def test_bad_input_is_a_400_naming_the_field_and_annotators_are_refused(staff_api, evaluated):
    url = f"/api/projects/{evaluated.slug}/evaluations/"
    response = staff_api.post(url, {"baseline": "ρ"}, format="json")
    assert response.status_code == 400 and "baseline" in response.json()
    assert staff_api.post(url + "split/", {"size": -1}, format="json").status_code == 400
    annotator = UserFactory()
    evaluated.annotators.add(annotator)
    client = APIClient()
    client.force_authenticate(annotator)
    assert client.get(url).status_code == 403


def test_export_api_keeps_evaluation_choices_out_by_default(staff_api, project):
    make_tasks(project, 1)
    response = staff_api.get(f"/api/projects/{project.slug}/choices/", {"evaluation": "sometimes"})
    assert response.status_code == 400 and "evaluation" in response.json()
