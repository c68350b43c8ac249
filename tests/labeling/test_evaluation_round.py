"""An evaluation round on the worker (the committed starter model): the candidate's and the
baseline's answers mixed into four-way tasks on held-out prompts, the reward model's prediction
stored with the round, and the evaluate_policy command's report."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from labeling.models import ComparisonTask, Evaluation, PolicyVersion, Project, TrainingRun
from labeling.services import prompts_import
from labeling.services import evaluation as evaluation_services
from labeling.services import runs as run_services
from labeling.services.demo import DEMO_PROMPTS
from labeling.services.execution import run_execute
from labeling.win_rate import candidate_share
from tests.e2e.loop_support import seed_choices

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "training" / "starter"

pytestmark = [
]


@pytest.mark.django_db
def test_evaluation_runs_on_the_sampling_queue(project, monkeypatch, django_capture_on_commit_callbacks):
    sent = []

    class Sent:
        id = "celery-1"

    def task_send(name, run_id):
        if name == run_services.TASK_SAMPLING_ROUND:
            sent.append(run_id)
        return Sent()

    monkeypatch.setattr(run_services, "task_send", task_send)
    Project.objects.filter(pk=project.pk).update(policy_source=str(STARTER))
    version = PolicyVersion.objects.create(project=project, number=1, artifact_path=str(STARTER))
    Project.objects.filter(pk=project.pk).update(current_policy=version)
    prompts_import(project=project, source=DEMO_PROMPTS)
    evaluation_services.evaluation_split_draw(project=project, size=4)
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = evaluation_services.evaluation_start(project=project, trigger="test")
    assert sent == [evaluation.run_id]


@pytest.mark.django_db(transaction=True)  # the worker closes and reopens connections, as in production
def test_evaluate_policy_samples_both_versions_and_stores_the_reward_prediction(project, settings, tmp_path):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path / "artifacts"
    Project.objects.filter(pk=project.pk).update(
        policy_source=str(STARTER), queue_low_water=0, reward_config={"n_norm_samples": 32},
        sample_config={"max_new_tokens": 8},
    )
    project.refresh_from_db()
    prompts_import(project=project, source=DEMO_PROMPTS)
    seed_choices(project, 12)
    run = run_services.run_start(project=project, kind="reward", trigger="test", enqueue=False)
    assert run_execute(run_id=run.pk) == "succeeded", TrainingRun.objects.get(pk=run.pk).error
    # The candidate: a version with its own row (the starter's weights stand in for a tuned one).
    version = PolicyVersion.objects.create(project=project, number=1, artifact_path=str(STARTER))
    Project.objects.filter(pk=project.pk).update(current_policy=version)

    out = io.StringIO()
    call_command("evaluate_policy", project=project.slug, prompts=5, split=6, stdout=out, stderr=io.StringIO())

    evaluation = Evaluation.objects.get()
    assert (evaluation.candidate.number, evaluation.baseline.number, evaluation.num_prompts) == (1, 0, 5)
    assert evaluation.run.kind == "evaluation" and evaluation.run.status == "succeeded"
    items = list(evaluation.items.select_related("task__prompt"))
    assert len(items) == 5
    for item in items:
        task = item.task
        assert task.is_evaluation and task.status == "open" and task.prompt.is_evaluation
        assert len(set(item.candidate_positions)) == 2 and set(item.candidate_positions) <= {0, 1, 2, 3}
        assert task.completions.count() == 4
    # Never sampled into training tasks: the split's prompts only ever appear in evaluation tasks.
    assert not ComparisonTask.objects.filter(prompt__is_evaluation=True, is_evaluation=False).exists()
    # The prediction is the reward model's softmax mass on the candidate's answers, on these answers.
    from training.reward import load_reward_scorer

    scorer = load_reward_scorer(evaluation.reward_model.artifact_path)
    shares = []
    for item in items:
        texts = list(item.task.completions.order_by("position").values_list("text", flat=True))
        shares.append(candidate_share(scorer.raw([item.task.prompt.text] * 4, texts), item.candidate_positions))
    assert evaluation.predicted_win_rate == pytest.approx(sum(shares) / len(shares), abs=1e-4)
    assert 0.0 < evaluation.predicted_win_rate < 1.0
    report = out.getvalue()
    assert "6 prompts held out" in report and f"{evaluation.pk:<5} v1" in report
