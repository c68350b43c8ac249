"""Staff see each evaluation round's human win rate with its interval beside the reward model's
prediction on the Training page, and a plain warning when the prediction lies above it."""

import io
import json
from pathlib import Path

import pytest

from labeling.models import ComparisonTask, PolicyVersion, Project, RewardModelVersion, TrainingRun
from labeling.services import NewTask, assignments_lease, comparison_record, prompts_import
from labeling.services import evaluation as evaluation_services
from tests.e2e.browser import log_in
from tests.factories import StaffFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "evaluation.png"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _round(project, candidate, prompts, *, predicted, candidate_wins):
    """An evaluation round as a worker leaves it (answers stand in for samples), labeled by an
    annotator who picks the candidate's answer on the prompts in ``candidate_wins``."""
    evaluation = evaluation_services.evaluation_start(
        project=project, candidate_number=candidate, trigger="test", enqueue=False
    )
    draw = evaluation_services.EvaluationDraw(
        tasks=[NewTask(prompt=p, completions=[f"{p} / v{candidate} {i}" for i in range(4)], evaluation=True)
               for p in prompts],
        candidate_positions=[[1, 3]] * len(prompts), predicted_win_rate=predicted,
        reward_model_id=RewardModelVersion.objects.get(project=project).pk,
    )
    evaluation_services.evaluation_store(evaluation=evaluation, draw=draw)
    TrainingRun.objects.filter(pk=evaluation.run_id).update(status="succeeded")
    user = UserFactory()
    project.annotators.add(user)
    while pending := assignments_lease(project=project, annotator=user):
        task = ComparisonTask.objects.select_related("prompt").get(pk=pending[0].task_id)
        comparison_record(project=project, annotator=user, assignment_id=pending[0].pk, kind="best",
                          position=1 if task.prompt.text in candidate_wins else 0)
    return evaluation


def test_dashboard_charts_evaluations_and_warns_of_reward_hacking(live_server, browser_page):
    project = Project.objects.create(name="Evaluated", slug="evaluated", policy_source="/models/rho",
                                     queue_low_water=0, evaluation_rate=100)
    rho = evaluation_services.policy_initial(project=project)
    reward = RewardModelVersion.objects.create(project=project, number=1, artifact_path="/r1", policy=rho, gain=1,
                                               bias=0, data_hash="x", num_choices=64,
                                               metrics={"heldout_agreement": 0.4})
    for number in (1, 2):
        PolicyVersion.objects.create(project=project, number=number, artifact_path=f"/v{number}", reward_model=reward)
    source = io.BytesIO("".join(json.dumps({"prompt": f"held out {i}", "split": "evaluation"}) + "\n"
                                for i in range(40)).encode())
    source.name = "split.jsonl"
    prompts_import(project=project, source=source)
    first = [f"held out {i}" for i in range(20)]
    second = [f"held out {i}" for i in range(20, 40)]
    # v1: people prefer it 14 times in 20, as the reward model predicts; v2: the reward model
    # predicts 0.9 while people prefer it 6 times in 20 (interval about 0.15–0.52).
    _round(project, 1, first, predicted=0.66, candidate_wins=set(first[:14]))
    hacked = _round(project, 2, second, predicted=0.9, candidate_wins=set(second[:6]))

    StaffFactory(username="boss")
    page = browser_page
    log_in(page, f"{live_server.url}/login/", "boss")
    page.goto(f"{live_server.url}/p/evaluated/training/")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-evaluation')")
    chart = "Chart.getChart('chart-evaluation').data"
    labels = page.evaluate(f"{chart}.labels")
    human = page.evaluate(f"{chart}.datasets[0].data")
    predicted = page.evaluate(f"{chart}.datasets[3].data")
    assert labels == [f"v1 vs v0 (#{hacked.pk - 1})", f"v2 vs v0 (#{hacked.pk})"]
    assert human == pytest.approx([0.7, 0.3]) and predicted == pytest.approx([0.66, 0.9])
    warning = page.get_by_test_id("reward-hacking")
    assert warning.count() == 1
    text = warning.inner_text()
    assert "Reward hacking likely" in text and "v2 against v0" in text and "0.90" in text
    assert "above the human interval" in page.locator("#evaluation table").inner_text()
    page.locator("#evaluation").scroll_into_view_if_needed()
    page.locator("#evaluation").screenshot(path=str(SCREENSHOT))
