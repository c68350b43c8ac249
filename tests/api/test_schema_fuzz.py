"""Schemathesis against the generated OpenAPI schema, in-process through the WSGI app: no
request it generates (as staff, on a project with data) gets a server error or a response that
breaks the schema. Bounded: a few examples per operation."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def keep_test_connection():
    """As Django's test client does: requests must not close the test's database connection
    (its transaction holds the test data)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_api_never_errors_and_keeps_to_its_schema(world, keep_test_connection):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    headers = {"Authorization": f"Token {AuthToken.objects.create(user=world.staff)[1]}"}
    failures, operations = {}, 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        path_parameters = {"slug": world.project.slug} if "{slug}" in operation.path else None

        # pytest-django's database fixture is per test, not per example: state carries over
        # between examples, as it would between a client's calls.
        @given(case=operation.as_strategy(path_parameters=path_parameters))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            fuzz()
        except Exception as exc:  # every failing operation is reported, not only the first
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert operations >= 20
    assert not failures, "\n\n".join(f"{label}\n{detail}" for label, detail in failures.items())
