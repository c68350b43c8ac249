"""Input refused at the edge: ids beyond the column, paused annotators' leases."""

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from labeling.forms import DecisionForm
from labeling.models import Choice
from labeling.services import LabelingError, assignments_lease, comparison_record
from labeling.services.queue import annotator_pause
from tests.factories import make_tasks


@pytest.mark.parametrize("assignment", [str(2**63), str(10**40), "-1"])
def test_assignment_ids_beyond_a_bigint_are_refused_by_the_form(assignment):
    form = DecisionForm({"assignment": assignment, "position": "0"})
    assert not form.is_valid() and "assignment" in form.errors


def test_an_assignment_id_beyond_a_bigint_in_the_html_form_is_not_a_500(annotator_client, project):
    make_tasks(project, 2)
    response = annotator_client.post(f"/p/{project.slug}/decide/", {"assignment": str(2**63), "position": "0"},
                                     HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert not Choice.objects.exists()


def test_a_paused_annotator_cannot_submit_tasks_already_leased(project, annotator, staff):
    make_tasks(project, 3)
    lease = assignments_lease(project=project, annotator=annotator)[0]
    annotator_pause(project=project, annotator=annotator, paused=True)
    with pytest.raises(LabelingError, match="paused"):
        comparison_record(project=project, annotator=annotator, assignment_id=lease.pk, kind="best", position=0)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=annotator)[1]}")
    response = api.post(f"/api/projects/{project.slug}/tasks/submit/",
                        {"assignment_id": lease.pk, "position": 0}, format="json")
    assert response.status_code in (400, 409) and "paused" in response.json()["detail"]
    assert not Choice.objects.exists()
    annotator_pause(project=project, annotator=annotator, paused=False)
    comparison_record(project=project, annotator=annotator, assignment_id=lease.pk, kind="best", position=0)
    assert Choice.objects.count() == 1
