"""Staff open the Quality page in a browser: figures, hints and charts render."""

from pathlib import Path

import pytest

from labeling.models import Project, RewardModelVersion
from tests.e2e.browser import log_in
from tests.factories import StaffFactory, UserFactory
from tests.labeling.test_quality import always_first_displayed, label_all, make_length_tasks, oracle_chooser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "quality.png"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_quality_page_shows_figures_and_charts(live_server, browser_page):
    import random

    random.seed(0)
    project = Project.objects.create(name="Quality demo", slug="qdemo", annotations_per_task=4, gold_rate=100)
    make_length_tasks(project, 60)
    make_length_tasks(project, 10, gold=True, seed=1)
    label_all(project, [
        (UserFactory(username="careful"), oracle_chooser(0.5, 1)),
        (UserFactory(username="decent"), oracle_chooser(3.0, 2)),
        (UserFactory(username="careless"), oracle_chooser(100.0, 3)),
        (UserFactory(username="first-slot"), always_first_displayed),
    ])
    for number, agreement in ((1, 0.41), (2, 0.52), (3, 0.58)):
        RewardModelVersion.objects.create(project=project, number=number, artifact_path=f"/r{number}", gain=1,
                                          bias=0, data_hash="x", num_choices=100 * number,
                                          metrics={"heldout_agreement": agreement})
    StaffFactory(username="boss")

    page = browser_page
    log_in(page, f"{live_server.url}/login/", "boss")
    page.goto(f"{live_server.url}/p/qdemo/quality/")
    page.wait_for_function(
        "() => window.Chart && ['chart-kappa', 'chart-reward-people', 'chart-position']"
        ".every(id => Chart.getChart(id))"
    )
    assert page.evaluate("Chart.getChart('chart-reward-people').data.labels") == ["r1", "r2", "r3"]
    shares = page.evaluate("Chart.getChart('chart-position').data.datasets[0].data")
    assert len(shares) == 4 and abs(sum(shares) - 1) < 1e-9
    table = page.locator("table.runs").inner_text()
    assert "position bias" in table and "first-slot" in table and "gold accuracy" in table
    page.screenshot(path=str(SCREENSHOT), full_page=True)
