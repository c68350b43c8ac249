"""Label quality with simulated annotators of known noise: agreement, gold, position bias."""

import random

import pytest
from django.urls import reverse

from labeling.models import ComparisonTask, Project
from labeling.selectors.quality import agreed_task_positions, consensus, quality_report
from labeling.services import NewTask, assignments_lease, comparison_record, tasks_create
from tests.factories import UserFactory

WORD_COUNTS = [2, 6, 10, 14]  # the length labeler prefers the longest


def make_length_tasks(project, count, *, gold=False, seed=0):
    rng = random.Random(seed)
    tasks = []
    for i in range(count):
        counts = WORD_COUNTS[:]
        rng.shuffle(counts)
        item = seed * 1000 + i
        completions = [" ".join(["word"] * n) + f" ({item}-{j})" for j, n in enumerate(counts)]
        best = counts.index(max(counts))
        tasks.append(NewTask(prompt=f"Describe item {item}", completions=completions,
                             gold_position=best if gold else None))
    tasks_create(project=project, tasks=tasks)


def label_all(project, annotators):
    """Each (user, chooser) labels until the queue is empty; chooser(texts, display_order) → position."""
    for user, chooser in annotators:
        while pending := assignments_lease(project=project, annotator=user):
            lease = pending[0]
            texts = [c.text for c in lease.task.completions.order_by("position")]
            comparison_record(project=project, annotator=user, assignment_id=lease.pk, kind="best",
                              position=chooser(texts, lease.display_order), decision_ms=3000)


def oracle_chooser(temperature, seed):
    from training.oracles import get_oracle

    oracle, rng = get_oracle("length", temperature), random.Random(seed)
    return lambda texts, order: oracle.choose("", texts, rng)


def always_first_displayed(texts, order):
    return order[0]


@pytest.fixture
def quality_project(db):
    random.seed(0)  # display orders and gold mixing draw from the module's generator
    project = Project.objects.create(name="Q", slug="q", annotations_per_task=6, gold_rate=100,
                                     gold_min_answers=5, gold_min_accuracy=0.6)
    make_length_tasks(project, 120)
    make_length_tasks(project, 20, gold=True, seed=1)
    return project


def test_agreement_and_gold_rank_annotators_by_their_noise_and_position_habit_is_flagged(quality_project):
    names = ("careful", "decent", "careless", "habit", "steady1", "steady2")
    careful, decent, careless, habit, steady1, steady2 = (UserFactory(username=n) for n in names)
    label_all(quality_project, [
        (careful, oracle_chooser(0.5, 1)),  # temperatures in word-count units: lower is less noisy
        (decent, oracle_chooser(3.0, 2)),
        (careless, oracle_chooser(100.0, 3)),
        (habit, always_first_displayed),
        # Two more reasonable people, as on a real team, so the others' majority means something.
        (steady1, oracle_chooser(1.5, 4)),
        (steady2, oracle_chooser(1.5, 5)),
    ])
    report = quality_report(project=quality_project)
    by_name = {a.username: a for a in report.annotators}
    agreement = [by_name[n].agreement for n in ("careful", "decent", "careless")]
    gold = [by_name[n].gold.share for n in ("careful", "decent", "careless")]
    assert agreement == sorted(agreement, reverse=True), agreement
    assert gold == sorted(gold, reverse=True), gold
    assert all(by_name[n].gold.answers == 20 for n in by_name)
    assert any("position bias" in h for h in by_name["habit"].hints)
    assert by_name["habit"].slot_shares[0] == 1.0 and by_name["habit"].position_p < 1e-6
    for name in ("careful", "decent", "careless"):
        assert not any("position bias" in h for h in by_name[name].hints), by_name[name].hints
    assert any("gold accuracy" in h for h in by_name["careless"].hints)
    assert report.overall.items == 120 and report.overall.kappa > 0


def test_gold_tasks_are_mixed_in_never_complete_and_look_the_same(quality_project, client):
    user = UserFactory()
    quality_project.annotators.add(user)
    first = assignments_lease(project=quality_project, annotator=user)
    assert all(a.task.is_gold for a in first)  # gold rate 100%: gold first while unseen
    client.force_login(user)
    page = client.get(reverse("labeling:label", args=["q"])).content.decode()
    assert "gold" not in page.lower()  # nothing on the page tells a gold task apart
    label_all(quality_project, [(user, oracle_chooser(0.5, 0))])
    assert not ComparisonTask.objects.filter(is_gold=True, status="complete").exists()
    other = UserFactory()
    assert assignments_lease(project=quality_project, annotator=other)[0].task.is_gold


def test_consensus_rule_majority_else_excluded(quality_project):
    assert consensus({1: 2, 2: 2, 3: 0}) == 2
    assert consensus({1: 2, 2: 0}) is None
    assert consensus({1: 3}) == 3
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    quality_project.gold_rate = 0
    quality_project.save()
    label_all(quality_project, [(a, lambda t, o: 3), (b, lambda t, o: 3), (c, lambda t, o: 1)])
    agreed = agreed_task_positions(project=quality_project)
    assert len(agreed) == 120 and set(agreed.values()) == {3}


def test_overlap_share_gives_full_overlap_to_that_share_of_tasks(db):
    project = Project.objects.create(name="O", slug="o", annotations_per_task=3, overlap_share=25)
    make_length_tasks(project, 400)
    wanted = list(project.tasks.values_list("annotations_wanted", flat=True))
    share = wanted.count(3) / len(wanted)
    assert set(wanted) == {1, 3} and 0.18 < share < 0.32


def test_auto_pause_below_gold_threshold_and_staff_resume(quality_project, client, staff):
    quality_project.gold_auto_pause = True
    quality_project.save()
    careless = UserFactory(username="careless")
    quality_project.annotators.add(careless)
    label_all(quality_project, [(careless, lambda texts, order: min(range(4), key=lambda i: len(texts[i])))])
    assert quality_project.paused_annotators.filter(pk=careless.pk).exists()
    client.force_login(careless)
    assert "paused for you" in client.get(reverse("labeling:label", args=["q"])).content.decode()
    assert client.get(reverse("labeling:quality", args=["q"])).status_code == 403
    client.force_login(staff)
    page = client.get(reverse("labeling:quality", args=["q"]))
    assert page.status_code == 200 and "gold accuracy 0%" in page.content.decode()
    client.post(reverse("labeling:annotator_pause", args=["q", careless.pk]), {"paused": "0"})
    assert not quality_project.paused_annotators.filter(pk=careless.pk).exists()


def test_exports_keep_agreed_tasks_and_leave_out_annotators_below_gold(quality_project, tmp_path):
    import json

    from labeling.services.exports import ExportFilters, preferences_export

    good1, good2, bad = UserFactory(username="g1"), UserFactory(username="g2"), UserFactory(username="bad")
    quality_project.annotations_per_task = 3
    quality_project.save()
    label_all(quality_project, [
        (good1, oracle_chooser(0.3, 1)),
        (good2, oracle_chooser(0.3, 2)),
        (bad, lambda texts, order: min(range(4), key=lambda i: len(texts[i]))),  # always the worst
    ])
    out = tmp_path / "agreed.jsonl"
    preferences_export(project=quality_project, format="listwise", out=str(out),
                       filters=ExportFilters(agreeing_only=True, min_gold_accuracy=0.6))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    annotators = {r["annotator"] for r in rows}
    assert rows and len(annotators) == 2  # the two good annotators, pseudonymous
    assert not any(r["annotator"] == "bad" for r in rows)
    unfiltered = tmp_path / "all.jsonl"
    preferences_export(project=quality_project, format="listwise", out=str(unfiltered), filters=ExportFilters())
    assert len(unfiltered.read_text().splitlines()) == 3 * 140 > len(rows)
    manifest = json.loads((tmp_path / "agreed.jsonl.manifest.json").read_text())
    assert manifest["filters"]["min_gold_accuracy"] == 0.6 and manifest["filters"]["agreeing_only"] is True


def test_quality_figures_in_the_api_match_the_page(quality_project, staff):
    from rest_framework.test import APIClient

    a, b = UserFactory(username="a"), UserFactory(username="b")
    label_all(quality_project, [(a, oracle_chooser(0.3, 1)), (b, always_first_displayed)])
    client = APIClient()
    client.force_authenticate(staff)
    data = client.get(reverse("api:quality", args=["q"])).json()
    report = quality_report(project=quality_project)
    assert data["overall"]["items"] == report.overall.items == 120
    assert data["overall"]["kappa"] == pytest.approx(report.overall.kappa)
    by_name = {row["username"]: row for row in data["annotators"]}
    assert by_name["b"]["slot_shares"][0] == 1.0 and any("position bias" in h for h in by_name["b"]["hints"])
    assert by_name["a"]["gold_answers"] == 20
