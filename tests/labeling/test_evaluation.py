"""Human evaluation: the held-out split stays out of every training input, evaluation tasks are
handed out at the project's rate, and the round's figures come from the annotators' choices."""

import io
import json

import pytest

from labeling import selectors
from labeling.models import ComparisonTask, Evaluation, PolicyVersion, Prompt, TrainingRun
from labeling.selectors.evaluation import evaluation_panel, evaluation_results
from labeling.services import (
    NewTask,
    assignments_lease,
    comparison_record,
    prompts_import,
    tasks_create,
)
from labeling.services import evaluation as evaluation_services
from labeling.selectors.exports import ExportFilters, choices_for_export
from labeling.services.imports import ImportValidationError
from labeling.services.runs import RunNotPossible, choices_since_last_reward_round, queue_maybe_refill
from tests.factories import UserFactory, make_tasks

pytestmark = pytest.mark.django_db


def _jsonl(rows) -> io.BytesIO:
    data = io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())
    data.name = "prompts.jsonl"
    return data


def _with_versions(project, candidate=1):
    project.policy_source = "/nonexistent/rho"
    project.save(update_fields=["policy_source"])
    evaluation_services.policy_initial(project=project)
    for number in range(1, candidate + 1):
        version = PolicyVersion.objects.create(project=project, number=number, artifact_path=f"/x/v{number}")
    type(project).objects.filter(pk=project.pk).update(current_policy=version)
    project.refresh_from_db()
    return project


def _evaluation_with_tasks(project, *, prompts, predicted=None, annotations=1):
    """An evaluation round as the worker leaves it, without sampling: each prompt's task holds
    the candidate's answers at canonical positions 0 and 2."""
    _with_versions(project)
    project.annotations_per_task = annotations
    project.save(update_fields=["annotations_per_task"])
    evaluation = evaluation_services.evaluation_start(project=project, trigger="test", enqueue=False)
    draw = evaluation_services.EvaluationDraw(
        tasks=[
            NewTask(prompt=p, completions=[f"{p} cand A", f"{p} base A", f"{p} cand B", f"{p} base B"], evaluation=True)
            for p in prompts
        ],
        candidate_positions=[[0, 2]] * len(prompts),
        predicted_win_rate=predicted,
        reward_model_id=None,
    )
    summary = evaluation_services.evaluation_store(evaluation=evaluation, draw=draw)
    TrainingRun.objects.filter(pk=evaluation.run_id).update(status="succeeded", summary=summary)
    return evaluation


def _label_all(project, user, pick):
    """The annotator decides every task handed out; ``pick(task)`` gives the canonical position."""
    project.annotators.add(user)
    decided = []
    while True:
        pending = assignments_lease(project=project, annotator=user)
        if not pending:
            return decided
        lease = pending[0]
        task = ComparisonTask.objects.get(pk=lease.task_id)
        comparison_record(project=project, annotator=user, assignment_id=lease.pk, kind="best", position=pick(task))
        decided.append(task)


def test_prompts_import_reads_the_split_and_names_a_bad_one(project):
    prompts_import(project=project, source=_jsonl([
        {"prompt": "held out", "split": "evaluation"}, {"prompt": "trained on", "split": "train"}, {"prompt": "plain"},
    ]))
    assert set(Prompt.objects.filter(is_evaluation=True).values_list("text", flat=True)) == {"held out"}
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, source=_jsonl([{"prompt": "x"}, {"prompt": "y", "split": "test"}]))
    assert "prompts.jsonl, line 2, field 'split'" in str(exc.value)


def test_split_draw_holds_out_only_prompts_no_task_used(project):
    make_tasks(project, 3)  # prompts 0–2 have tasks: they can no longer be held out honestly
    prompts_import(project=project, source=_jsonl([{"prompt": f"fresh {i}"} for i in range(5)]))
    assert evaluation_services.evaluation_split_draw(project=project, size=4, seed=1) == 4
    held = set(Prompt.objects.filter(is_evaluation=True).values_list("text", flat=True))
    assert len(held) == 4 and all(t.startswith("fresh") for t in held)
    # Asking for more than remain takes what is left; asking for less never shrinks the split.
    assert evaluation_services.evaluation_split_draw(project=project, size=9) == 5
    assert evaluation_services.evaluation_split_draw(project=project, size=1) == 5


def test_evaluation_prompts_and_choices_never_reach_training_data_or_default_exports(project):
    make_tasks(project, 4, prefix="train")
    prompts_import(project=project, source=_jsonl([{"prompt": f"eval {i}", "split": "evaluation"} for i in range(3)]))
    # A comparison imported on a held-out prompt is not training data either.
    tasks_create(project=project, tasks=[NewTask(prompt="eval 0", completions=["a", "b", "c", "d"])])
    evaluation = _evaluation_with_tasks(project, prompts=["eval 1", "eval 2"])
    Project = type(project)
    Project.objects.filter(pk=project.pk).update(evaluation_rate=50)
    project.refresh_from_db()
    decided = _label_all(project, UserFactory(), pick=lambda task: 0)
    assert len(decided) == 7 and sum(t.is_evaluation for t in decided) == 2

    training = selectors.reward_training_data(project=project, upto_choice_id=None)
    assert sorted(c.prompt for c in training.choices) == [f"train {i}" for i in range(4)]
    assert all(not p.startswith("eval") for p in selectors.prompts_for_policy_round(project=project))
    sampled = selectors.prompts_for_sampling(project=project, policy_version_id=0, count=100, seed=0)
    assert sorted(sampled) == [f"train {i}" for i in range(4)]

    default = choices_for_export(project=project, filters=ExportFilters())
    assert sorted(c.task.prompt.text for c in default) == [f"train {i}" for i in range(4)]
    only = choices_for_export(project=project, filters=ExportFilters(evaluation="only"))
    assert {c.task_id for c in only} == set(evaluation.items.values_list("task_id", flat=True))
    assert choices_for_export(project=project, filters=ExportFilters(evaluation="include")).count() == 7


@pytest.mark.parametrize(("rate", "evaluation_first"), [(100, True), (0, False)])
def test_evaluation_tasks_are_handed_out_at_the_projects_rate(project, rate, evaluation_first):
    make_tasks(project, 4, prefix="train")
    prompts_import(project=project, source=_jsonl([{"prompt": f"eval {i}", "split": "evaluation"} for i in range(2)]))
    _evaluation_with_tasks(project, prompts=["eval 0", "eval 1"])
    type(project).objects.filter(pk=project.pk).update(evaluation_rate=rate)
    project.refresh_from_db()
    user = UserFactory()
    project.annotators.add(user)
    pending = assignments_lease(project=project, annotator=user)
    kinds = [ComparisonTask.objects.get(pk=a.task_id).is_evaluation for a in pending]
    assert kinds == [evaluation_first, evaluation_first]
    # Shuffled per annotator like every task: a display order is a permutation of the four.
    assert all(sorted(a.display_order) == [0, 1, 2, 3] for a in pending)


def test_win_rate_and_reward_hacking_flag_come_from_the_choices(project):
    prompts_import(project=project, source=_jsonl([{"prompt": f"eval {i}", "split": "evaluation"} for i in range(10)]))
    evaluation = _evaluation_with_tasks(project, prompts=[f"eval {i}" for i in range(10)], predicted=0.9)
    # The annotator picks the candidate's answer (position 0) on 3 prompts of 10, else a baseline one.
    wins = {f"eval {i}" for i in range(3)}
    _label_all(project, UserFactory(), pick=lambda task: 0 if task.prompt.text in wins else 1)
    [result] = evaluation_results(project=project)
    assert (result.candidate, result.baseline, result.tasks, result.decisions) == (1, 0, 10, 10)
    assert result.win_rate == pytest.approx(0.3)
    assert result.method == "wilson"
    assert (result.ci_low, result.ci_high) == pytest.approx((0.1078, 0.6032), abs=1e-4)
    assert result.predicted_win_rate == pytest.approx(0.9) and result.reward_above_humans
    panel = evaluation_panel(project=project)
    assert panel.hacking == [result]
    assert panel.chart["human"] == [pytest.approx(0.3)] and panel.chart["predicted"] == [pytest.approx(0.9)]
    assert Evaluation.objects.get().pk == evaluation.pk


def test_evaluation_start_refuses_what_cannot_be_measured(project):
    _with_versions(project, candidate=2)
    with pytest.raises(RunNotPossible, match="no evaluation prompts"):
        evaluation_services.evaluation_start(project=project, trigger="test", enqueue=False)
    prompts_import(project=project, source=_jsonl([{"prompt": "e", "split": "evaluation"}]))
    with pytest.raises(RunNotPossible, match="earlier version"):
        evaluation_services.evaluation_start(
            project=project, candidate_number=1, baseline_number=2, trigger="test", enqueue=False
        )
    with pytest.raises(RunNotPossible, match="no policy version v7"):
        evaluation_services.evaluation_start(project=project, candidate_number=7, trigger="test", enqueue=False)
    evaluation = evaluation_services.evaluation_start(
        project=project, candidate_number=2, baseline_number=1, prompts=50, trigger="test", enqueue=False
    )
    assert (evaluation.candidate.number, evaluation.baseline.number, evaluation.num_prompts) == (2, 1, 1)
    assert evaluation.run.kind == "evaluation" and evaluation.run.status == "queued"


def test_automatic_evaluation_follows_a_policy_round_when_the_project_asks(project):
    _with_versions(project)
    prompts_import(project=project, source=_jsonl([{"prompt": "e", "split": "evaluation"}]))
    policy_run = TrainingRun.objects.create(project=project, kind="policy", status="succeeded", trigger="t")
    assert evaluation_services.evaluation_maybe_auto(run=policy_run) is None  # setting off
    type(project).objects.filter(pk=project.pk).update(evaluation_auto=True)
    started = evaluation_services.evaluation_maybe_auto(run=policy_run)
    assert started.kind == "evaluation" and started.evaluation.candidate.number == 1
    assert started.evaluation.baseline.number == 0


def test_the_labeling_page_shows_an_evaluation_task_like_any_other(project, annotator_client):
    prompts_import(project=project, source=_jsonl([{"prompt": "eval 0", "split": "evaluation"}]))
    _evaluation_with_tasks(project, prompts=["eval 0"])
    page = annotator_client.get(f"/p/{project.slug}/")
    html = page.content.decode()
    assert page.status_code == 200 and "eval 0 cand A" in html and "eval 0 base B" in html
    assert "evaluat" not in html.lower() and "candidate" not in html.lower()


def test_evaluation_choices_neither_trigger_the_loop_nor_count_as_queue(project):
    make_tasks(project, 2, prefix="train")
    prompts_import(project=project, source=_jsonl([{"prompt": f"eval {i}", "split": "evaluation"} for i in range(3)]))
    _evaluation_with_tasks(project, prompts=[f"eval {i}" for i in range(3)])
    type(project).objects.filter(pk=project.pk).update(queue_low_water=3)
    project.refresh_from_db()
    # 5 open tasks, but only 2 the loop can learn from: below the low-water mark of 3.
    refill = queue_maybe_refill(project=project)
    assert refill is not None and refill.kind == "sampling"
    TrainingRun.objects.filter(pk=refill.pk).update(status="cancelled")
    _label_all(project, UserFactory(), pick=lambda task: 0)
    assert choices_since_last_reward_round(project=project) == 2  # of 5 choices, 3 on evaluation tasks


def test_staff_hold_out_prompts_and_start_a_round_from_the_dashboard(client, staff, project, annotator):
    _with_versions(project)
    prompts_import(project=project, source=_jsonl([{"prompt": f"p {i}"} for i in range(6)]))
    client.force_login(annotator)
    assert client.post(f"/p/{project.slug}/training/evaluation-split/", {"size": 2}).status_code == 403
    client.force_login(staff)
    page = client.post(f"/p/{project.slug}/training/evaluation-split/", {"size": 4}, follow=True)
    assert "4 prompts are held out for evaluation" in page.content.decode()
    project.refresh_from_db()
    assert project.evaluation_split_size == 4 and Prompt.objects.filter(is_evaluation=True).count() == 4
    page = client.post(f"/p/{project.slug}/training/evaluate/", {"candidate": 1, "baseline": 1}, follow=True)
    assert "earlier version" in page.content.decode() and not Evaluation.objects.exists()
    page = client.post(f"/p/{project.slug}/training/evaluate/", {"candidate": 1, "baseline": 0, "prompts": 3},
                       follow=True)
    assert "queued on 3 prompts" in page.content.decode()
    assert Evaluation.objects.get().run.status == "queued"
    assert "v1 vs v0" not in page.content.decode()  # no figures until it has some: the table lists it
    assert "No evaluation rounds yet." not in page.content.decode()
