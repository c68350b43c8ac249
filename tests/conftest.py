import os

import pytest

from tests.factories import ProjectFactory, StaffFactory, UserFactory


def database_is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@pytest.fixture
def project(db):
    return ProjectFactory(slug="demo-test")


@pytest.fixture
def annotator(project):
    user = UserFactory()
    project.annotators.add(user)
    return user


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def annotator_client(client, annotator):
    client.force_login(annotator)
    return client
