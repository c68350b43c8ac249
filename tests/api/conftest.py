"""A project with tasks, its annotator, an annotator of another project, and staff; API clients
that authenticate with each one's token."""

from dataclasses import dataclass

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from labeling.models import Project, TrainingRun
from labeling.services.exports import preferences_export_stored
from tests.factories import ProjectFactory, StaffFactory, UserFactory, make_tasks


@dataclass
class World:
    project: Project
    other_project: Project
    annotator: object
    outsider: object  # an annotator of the other project only
    staff: object
    run: TrainingRun
    export_name: str

    def user(self, role: str):
        return None if role == "anonymous" else getattr(self, role)


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    return client


@pytest.fixture
def artifacts(settings, tmp_path):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path / "artifacts"
    return settings.QUARTET_ARTIFACTS_DIR


@pytest.fixture
def world(db, artifacts) -> World:
    project = ProjectFactory(slug="api-project", policy_source="/models/rho")
    other = ProjectFactory(slug="other-project")
    annotator, outsider = UserFactory(), UserFactory()
    project.annotators.add(annotator)
    other.annotators.add(outsider)
    make_tasks(project, 8)
    make_tasks(other, 2, prefix="other")
    run = TrainingRun.objects.create(project=project, kind="reward", status="succeeded", trigger="test")
    export = preferences_export_stored(project=project, format="pairwise", file_format="jsonl")
    return World(project, other, annotator, outsider, StaffFactory(), run, export.path.name)
