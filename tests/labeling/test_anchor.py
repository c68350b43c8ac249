"""The reward model's progress signal: agreement on a fixed anchor set of ρ's tasks."""

import random

import pytest

import training.reward
from labeling.models import Choice, ComparisonTask, PolicyVersion, RewardModelVersion
from labeling.selectors import reward_training_data
from labeling.selectors.anchor import anchor_set, labeler_agreement_on_anchor, reward_agreement_on_anchor
from labeling.services import runs as run_services
from labeling.services.execution import run_execute
from labeling.services.imports import NewTask, tasks_create
from labeling.services.runs import policy_initial
from labeling.stats import mean_interval, wilson_interval
from tests.factories import UserFactory
from training.oracles import calibrated, get_oracle, two_draw_agreement

WORDS = "the value list is a simple useful way to keep each new item safe and clear".split()


def _diverse(rng, i):
    """ρ's answers: lengths and words vary, so the labeler's preference is visible."""
    return [" " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 22))) + "." for _ in range(4)]


def _converged(i):
    """A tuned policy's answers: four near-copies of one stock sentence."""
    return [f" the list of values is a list of strings {w}." for w in ("a", "b", "c", "d")]


def _label(project, tasks, people, oracle, rng):
    for task in tasks:
        texts = [c.text for c in task.completions.order_by("position")]
        for person in people:
            position = oracle.choose(task.prompt.text, texts, rng)
            Choice.objects.create(
                project=project, task=task, annotator=person, kind="best", display_order=[0, 1, 2, 3],
                completion=task.completions.get(position=position), decision_ms=2000,
            )


def _perfect(oracle):
    return lambda prompts, texts: [oracle.score(t) for t in texts]


def _heldout_agreement(project, oracle):
    """What a reward round's held-out split (a random share of all labels) estimates: agreement
    with the model's top answer over every label so far (all of them, to leave out split noise)."""
    heldout = list(Choice.objects.filter(project=project, kind="best").values_list("task_id", "completion__position"))
    hits = 0
    for task_id, position in heldout:
        texts = [c.text for c in ComparisonTask.objects.get(pk=task_id).completions.order_by("position")]
        scores = [oracle.score(t) for t in texts]
        hits += position == max(range(4), key=scores.__getitem__)
    return hits / len(heldout)


@pytest.mark.django_db
def test_anchor_agreement_does_not_fall_when_the_policy_converges(project, settings):
    settings.QUARTET_ANCHOR_TASKS = 30
    project.policy_source = "/models/rho"
    project.save()
    rho = policy_initial(project=project)
    rng = random.Random(0)
    rho_texts = [_diverse(rng, i) for i in range(150)]
    # Labelers as noisy as people: two draws agree on 42% of ρ's tasks.
    oracle = calibrated(get_oracle("length"), rho_texts, 0.42)
    assert two_draw_agreement(oracle, rho_texts) == pytest.approx(0.42, abs=1e-6)
    tasks_create(project=project, tasks=[NewTask(f"p{i}", t) for i, t in enumerate(rho_texts)], policy_version=rho)
    rho_tasks = list(ComparisonTask.objects.filter(project=project).order_by("pk"))
    people = [UserFactory() for _ in range(2)]
    _label(project, rho_tasks[:60], people, oracle, rng)  # overlap 2 on the first 60
    _label(project, rho_tasks[60:], people[:1], oracle, rng)

    before = anchor_set(project=project)
    assert len(before.tasks) == 30 and all(len(t.votes) == 2 for t in before.tasks)
    anchor_before = reward_agreement_on_anchor(before, _perfect(oracle))
    heldout_before = _heldout_agreement(project, oracle)

    # The policy converges: its tasks' four answers are near-copies, labeled once each.
    tuned = PolicyVersion.objects.create(project=project, number=1, parent=rho, artifact_path="/p1")
    tasks_create(project=project, tasks=[NewTask(f"q{i}", _converged(i)) for i in range(400)], policy_version=tuned)
    _label(project, ComparisonTask.objects.filter(policy_version=tuned), people[1:], oracle, rng)

    after = anchor_set(project=project)
    assert after.task_ids == before.task_ids  # the set is fixed: no tuned-policy task joins it
    anchor_after = reward_agreement_on_anchor(after, _perfect(oracle))
    heldout_after = _heldout_agreement(project, oracle)
    print("anchor", anchor_before, anchor_after, "held-out", heldout_before, heldout_after)
    # A perfect reward model: held-out agreement falls towards chance as answers converge...
    assert heldout_after < heldout_before - 0.1
    # ...while agreement on the anchor set stays where it was, well above chance, interval included.
    assert anchor_after == anchor_before
    assert anchor_after.share > 0.4 and anchor_after.low > 0.25 and anchor_after.labels == 60
    # The ceiling beside it: the labelers' own agreement on the same tasks, near 42%.
    ceiling, low, high = labeler_agreement_on_anchor(after)
    assert low < 0.42 < high and 0.2 < ceiling < 0.7


def _forty_tasks_ten_labeled_twice(project, seed: int) -> list:
    """40 tasks from ρ, the first 10 labeled by two people and the rest by one (a length
    oracle); returns the tasks in creation order."""
    rho = policy_initial(project=project)
    rng = random.Random(seed)
    tasks_create(project=project, tasks=[NewTask(f"p{i}", _diverse(rng, i)) for i in range(40)], policy_version=rho)
    tasks = list(ComparisonTask.objects.filter(project=project).order_by("pk"))
    people = [UserFactory() for _ in range(2)]
    oracle = get_oracle("length")
    _label(project, tasks[:10], people, oracle, rng)
    _label(project, tasks[10:], people[:1], oracle, rng)
    return tasks


@pytest.mark.django_db
def test_anchor_tasks_are_held_out_of_reward_training(project, settings):
    settings.QUARTET_ANCHOR_TASKS = 5
    project.policy_source = "/models/rho"
    project.save()
    tasks = _forty_tasks_ten_labeled_twice(project, seed=1)
    anchor = anchor_set(project=project)
    assert anchor.task_ids == [t.pk for t in tasks[:5]]  # first five to get a second label
    data = reward_training_data(project=project, upto_choice_id=None, exclude_task_ids=anchor.task_ids)
    assert len(data.choices) == 50 - 10
    prompts = {c.prompt for c in data.choices}
    assert not prompts & {t.prompt.text for t in tasks[:5]}
    # A tiny project keeps most of its data: the set is capped at a fifth of labeled tasks.
    assert len(anchor_set(project=project, upto_choice_id=Choice.objects.order_by("pk")[9].pk).tasks) <= 1


def test_intervals():
    low, high = wilson_interval(30, 60)
    assert low == pytest.approx(0.3773, abs=1e-3) and high == pytest.approx(0.6227, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    mean, low, high = mean_interval([0.0, 1.0, 0.5, 0.5])
    assert mean == 0.5 and low == pytest.approx(0.5 - 1.96 * (1 / 6) ** 0.5 / 2) and high < 1


@pytest.mark.django_db(transaction=True)
def test_a_reward_round_holds_out_the_anchor_set_and_stores_its_agreement(project, settings, monkeypatch, tmp_path):
    settings.QUARTET_ANCHOR_TASKS = 5
    settings.QUARTET_ARTIFACTS_DIR = tmp_path
    project.policy_source = "/models/rho"
    project.reward_config = {"norm_prompts": ["p"]}
    project.save()
    _forty_tasks_ten_labeled_twice(project, seed=2)
    oracle = get_oracle("length")  # the labelers' oracle: a reward model that agrees with it perfectly
    trained_on = []

    def fake_train(choices, *, out_dir, **_):
        trained_on.extend(choices)
        return training.reward.RewardResult(path=out_dir, metrics={"heldout_agreement": 0.5}, gain=1, bias=0, data_hash="h")

    class Scorer:
        raw = staticmethod(_perfect(oracle))

    monkeypatch.setattr(training.reward, "train_reward_model", fake_train)
    monkeypatch.setattr(training.reward, "load_reward_scorer", lambda path: Scorer())
    run = run_services.run_start(project=project, kind="reward", trigger="t", enqueue=False)
    assert run_execute(run_id=run.pk) == "succeeded"

    anchor = anchor_set(project=project)
    assert len(trained_on) == 50 - 10 and not {c.prompt for c in trained_on} & {t.prompt for t in anchor.tasks}
    version = RewardModelVersion.objects.get(project=project)
    expected = reward_agreement_on_anchor(anchor, _perfect(oracle))
    assert version.metrics["anchor_agreement"] == pytest.approx(expected.share)
    assert version.metrics["anchor_labels"] == 10 and version.metrics["heldout_agreement"] == 0.5
    assert version.num_choices == 40
