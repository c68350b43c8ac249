"""Staff watch a round live on the Training page and see the charts after two loop iterations."""

import threading
from pathlib import Path

import pytest
from django.db import connection

from labeling.models import Project, TrainingRun
from labeling.services import prompts_import
from labeling.services import runs as run_services
from labeling.services.demo import DEMO_PROMPTS
from labeling.services.execution import run_execute
from tests.e2e.browser import log_in
from tests.e2e.loop_support import seed_choices
from tests.factories import StaffFactory

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "training" / "starter"
SCREENSHOT = ROOT / "docs" / "dashboard.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def run_inline(project, kind):
    run = run_services.run_start(project=project, kind=kind, trigger=f"test: {kind}", enqueue=False)
    assert run_execute(run_id=run.pk) == "succeeded", TrainingRun.objects.get(pk=run.pk).error
    return run


def test_dashboard_live_progress_cancel_and_charts(live_server, browser_page, settings, tmp_path):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path / "artifacts"
    project = Project.objects.create(
        name="Loop dashboard", slug="loopdash", policy_source=str(STARTER), queue_low_water=0,
        reward_config={"n_norm_samples": 64}, policy_config={"steps": 3, "batch_size": 8},
    )
    prompts_import(project=project, source=DEMO_PROMPTS)
    for _ in range(2):  # two loop iterations, in-process
        seed_choices(project, 16)
        run_inline(project, "reward")
        run_inline(project, "policy")

    # A long policy round runs in the background while the page watches it.
    Project.objects.filter(pk=project.pk).update(policy_config={"steps": 400, "batch_size": 8})
    long_run = run_services.run_start(project=project, kind="policy", trigger="test: watched", enqueue=False)

    def execute():
        try:
            run_execute(run_id=long_run.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=execute, daemon=True)
    thread.start()

    StaffFactory(username="boss")
    page = browser_page
    log_in(page, f"{live_server.url}/login/", "boss")
    page.goto(f"{live_server.url}/p/loopdash/training/")
    page.evaluate("window.__notReloaded = true")
    progress = page.locator("#active-run progress")
    progress.wait_for()
    first = int(progress.get_attribute("value"))
    page.wait_for_function(
        f"() => Number(document.querySelector('#active-run progress')?.value) > {first}", timeout=240_000
    )
    assert page.evaluate("window.__notReloaded") is True  # updated by htmx polling, not a reload
    assert "Policy round" in page.locator("#active-run h2").inner_text()
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("button", name="Cancel").click()
    thread.join(timeout=240)
    assert TrainingRun.objects.get(pk=long_run.pk).status == "cancelled"
    # The page reloads itself when the watched round ends, with history and charts.
    page.wait_for_function("() => window.__notReloaded === undefined", timeout=30_000)
    page.locator("#chart-policy").wait_for()
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-policy')")
    labels = page.evaluate("Chart.getChart('chart-reward').data.labels")
    agreement = page.evaluate("Chart.getChart('chart-reward').data.datasets[0].data")
    policy_labels = page.evaluate("Chart.getChart('chart-policy').data.labels")
    assert labels == ["r1", "r2"] and all(a is not None for a in agreement)
    assert policy_labels == ["v1", "v2"]
    assert "Cancelled" in page.locator("table.runs").inner_text()
    project.refresh_from_db()
    assert project.current_policy.number == 2  # the cancelled round changed nothing
