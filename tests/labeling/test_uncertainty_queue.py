"""The uncertainty-first queue serves the tasks the current reward model is least sure about."""

from pathlib import Path

import pytest

from labeling.models import ComparisonTask, Project
from labeling.services import assignments_lease, comparison_record, prompts_import
from labeling.services import runs as run_services
from labeling.services.demo import DEMO_PROMPTS
from labeling.services.execution import run_execute
from labeling.stats import entropy
from tests.e2e.loop_support import seed_choices
from tests.factories import UserFactory

STARTER = Path(__file__).resolve().parents[2] / "training" / "starter"


@pytest.mark.django_db(transaction=True)
def test_uncertainty_first_serves_the_most_balanced_reward_scores_first(settings, tmp_path):
    from training.reward import load_reward_scorer

    settings.QUARTET_ARTIFACTS_DIR = tmp_path
    project = Project.objects.create(
        name="U", slug="u", policy_source=str(STARTER), queue_order=Project.QueueOrder.UNCERTAINTY,
        queue_low_water=0, loop_sample_prompts=40, reward_config={"n_norm_samples": 64},
    )
    prompts_import(project=project, source=DEMO_PROMPTS)
    seed_choices(project, 40, oracle_name="length")
    reward = run_services.run_start(project=project, kind="reward", trigger="t", enqueue=False)
    assert run_execute(run_id=reward.pk) == "succeeded"
    fresh = run_services.run_start(project=project, kind="sampling", trigger="t", enqueue=False)
    assert run_execute(run_id=fresh.pk) == "succeeded"

    open_tasks = ComparisonTask.objects.filter(project=project, status="open")
    assert open_tasks.count() == 40 and not open_tasks.filter(uncertainty__isnull=True).exists()
    # The stored uncertainty is the entropy of the reward model's softmax over the four.
    project.refresh_from_db()
    scorer = load_reward_scorer(project.current_reward_model.artifact_path)
    for task in open_tasks[:3]:
        texts = [c.text for c in task.completions.order_by("position")]
        assert task.uncertainty == pytest.approx(entropy(scorer.raw([task.prompt.text] * 4, texts)), abs=1e-4)

    annotator = UserFactory()
    served = []
    for _ in range(10):
        lease = assignments_lease(project=project, annotator=annotator)[0]
        served.append(lease.task.uncertainty)
        comparison_record(project=project, annotator=annotator, assignment_id=lease.pk, kind="skip")
    ranked = sorted(open_tasks.values_list("uncertainty", flat=True), reverse=True)
    assert served == ranked[:10]
    assert served[0] > ranked[len(ranked) // 2]  # the most balanced first, not just any order
