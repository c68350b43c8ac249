"""The pages work under the Content-Security-Policy: htmx, Chart.js and Swagger UI load and run,
and the browser reports no violation."""

import pytest

from labeling.models import Project, RewardModelVersion
from tests.e2e.browser import log_in
from tests.factories import StaffFactory, make_tasks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pages_work_under_the_content_security_policy(live_server, browser_page):
    project = Project.objects.create(name="CSP", slug="csp")
    make_tasks(project, 4)
    RewardModelVersion.objects.create(project=project, number=1, artifact_path="/r1", gain=1, bias=0,
                                      data_hash="x", num_choices=10, metrics={"heldout_agreement": 0.4})
    staff = StaffFactory(username="csp-staff")
    project.annotators.add(staff)
    violations = []
    page = browser_page
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, f"{live_server.url}/login/", "csp-staff")
    page.goto(f"{live_server.url}/p/csp/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.keyboard.press("1")  # label.js and htmx: the choice is posted and the next task swapped in
    page.wait_for_function("() => document.querySelectorAll('form.task').length > 0")
    page.goto(f"{live_server.url}/p/csp/training/")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-reward')")
    assert page.evaluate("Chart.getChart('chart-reward').data.labels") == ["r1"]
    page.goto(f"{live_server.url}/p/csp/quality/")
    page.wait_for_function("() => window.Chart !== undefined")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")
    page.goto(f"{live_server.url}/admin/labeling/project/{project.pk}/change/")
    page.wait_for_selector("#project_form")
    assert violations == []
