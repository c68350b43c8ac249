"""The dashboard's learning panel: diversity per policy version, anchor set, KL control."""

import json
import random

import pytest
from django.urls import reverse

from labeling.models import PolicyVersion, RewardModelVersion
from labeling.selectors.learning import learning_panel
from labeling.services.imports import NewTask, tasks_create
from labeling.services.runs import policy_initial

TOPICS = "file list value error thread socket buffer table index cache parser token".split()


def _answers(rng, stock=None):
    out = []
    for j in range(4):
        text = f" The {rng.choice(TOPICS)} keeps the {rng.choice(TOPICS)} {rng.choice(TOPICS)}"
        out.append(text + (stock if stock and j % 2 == 0 else "."))
    return out


@pytest.mark.django_db
def test_dashboard_flags_a_policy_that_repeats_one_phrase(client, staff, project):
    project.policy_source = "/models/rho"
    project.save()
    rho = policy_initial(project=project)
    tuned = PolicyVersion.objects.create(
        project=project, number=1, parent=rho, artifact_path="/p1",
        metrics={"beta_start": 0.15, "beta_final": 0.16, "kl_mean_second_half": 5.2, "kl_target": 4.0},
    )
    RewardModelVersion.objects.create(
        project=project, number=1, artifact_path="/r1", gain=1, bias=0, data_hash="x", num_choices=3,
        metrics={"heldout_agreement": 0.4, "anchor_agreement": 0.55, "anchor_low": 0.45, "anchor_high": 0.65},
    )
    rng = random.Random(0)
    tasks_create(project=project, tasks=[NewTask(f"p{i}", _answers(rng)) for i in range(50)], policy_version=rho)
    tasks_create(
        project=project, policy_version=tuned,
        tasks=[NewTask(f"q{i}", _answers(rng, stock=", a list of strings.")) for i in range(50)],
    )
    panel = learning_panel(project=project)
    by_version = {row.number: row.figures for row in panel.diversity}
    assert by_version[0].flags == [] and by_version[0].answers == 200
    assert by_version[1].top_phrases[0][1] == pytest.approx(0.5)
    assert by_version[1].distinct[2] < by_version[0].distinct[2]
    assert panel.charts["kl"] == {
        "labels": ["v1"], "beta_start": [0.15], "beta_final": [0.16], "kl": [5.2], "kl_target": [4.0]
    }
    assert panel.charts["anchor"]["agreement"] == [0.55] and panel.charts["anchor"]["ceiling"] == [None]

    client.force_login(staff)
    page = client.get(reverse("labeling:dashboard", args=[project.slug])).content.decode()
    assert "Diversity of each policy" in page and "of answers end with" in page
    assert "appears in 50% of answers" in page
    assert "“a list of strings” appears in 50% of answers" in page
    data = json.loads(page.split('id="learning-chart-data" type="application/json">')[1].split("</script>")[0])
    assert data["kl"]["beta_final"] == [0.16]
