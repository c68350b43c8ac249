"""Starting, chaining, cancelling and reaping runs (no model needed: the broker is stubbed)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from labeling.models import Choice, TrainingRun
from labeling.services import assignments_lease, comparison_record
from labeling.services import runs as run_services
from tests.factories import make_tasks


class Broker:
    """Stands in for the broker: records which queue each run was sent to."""

    def __init__(self):
        self.sent, self.down = [], False

    def task_send(self, name, run_id):
        if self.down:
            raise BrokerDown("connection refused")
        self.sent.append(("sampling" if name == run_services.TASK_SAMPLING_ROUND else "training", run_id))

        class Result:
            id = f"celery-{run_id}"

        return Result()


@pytest.fixture
def broker(monkeypatch):
    stub = Broker()
    monkeypatch.setattr(run_services, "task_send", stub.task_send)
    return stub


@pytest.fixture
def loop_project(project):
    project.policy_source = "/models/rho"
    project.loop_enabled = True
    project.loop_every_choices = 3
    project.queue_low_water = 0  # tested on its own below
    project.save()
    return project


def label(project, user, n):
    for _ in range(n):
        lease = assignments_lease(project=project, annotator=user)[0]
        comparison_record(project=project, annotator=user, assignment_id=lease.pk, kind="best", position=1)


def test_a_run_is_enqueued_after_commit_on_its_queue(loop_project, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = run_services.run_start(project=loop_project, kind="sampling", trigger="test")
    assert broker.sent == [("sampling", run.pk)]
    run.refresh_from_db()
    assert run.celery_task_id == f"celery-{run.pk}"
    assert run.base_policy.number == 0 and run.base_policy.artifact_path == "/models/rho"


def test_only_one_active_run_per_project_enforced_by_the_database(loop_project, broker):
    run_services.run_start(project=loop_project, kind="reward", trigger="test")
    with pytest.raises(run_services.RunConflict):
        run_services.run_start(project=loop_project, kind="sampling", trigger="test")
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(project=loop_project, kind="policy", status="running", trigger="raw")
    assert TrainingRun.objects.count() == 1


def test_policy_round_needs_a_reward_model_and_rounds_need_an_initial_policy(project, broker):
    with pytest.raises(run_services.RunNotPossible, match="no initial policy"):
        run_services.run_start(project=project, kind="reward", trigger="test")
    project.policy_source = "/models/rho"
    project.save()
    with pytest.raises(run_services.RunNotPossible, match="reward model first"):
        run_services.run_start(project=project, kind="policy", trigger="test")


def test_n_new_choices_start_the_loop(loop_project, annotator, broker, django_capture_on_commit_callbacks):
    make_tasks(loop_project, 10)
    with django_capture_on_commit_callbacks(execute=True):
        label(loop_project, annotator, 2)
    assert not TrainingRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        label(loop_project, annotator, 1)
    run = TrainingRun.objects.get()
    assert (run.kind, run.status, run.continue_loop) == ("reward", "queued", True)
    assert run.choices_upto == Choice.objects.latest("pk").pk
    assert broker.sent == [("training", run.pk)]
    # While it runs, more choices do not start another; after it, the count restarts from it.
    with django_capture_on_commit_callbacks(execute=True):
        label(loop_project, annotator, 3)
    assert TrainingRun.objects.count() == 1
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded")
    assert run_services.choices_since_last_reward_round(project=loop_project) == 3


def test_a_choice_is_saved_when_the_broker_is_down_and_the_trigger_is_resent(
    loop_project, annotator, broker, django_capture_on_commit_callbacks
):
    make_tasks(loop_project, 5)
    broker.down = True
    with django_capture_on_commit_callbacks(execute=True):
        label(loop_project, annotator, 3)
    assert Choice.objects.count() == 3
    run = TrainingRun.objects.get()
    assert run.status == "queued" and run.celery_task_id == ""
    broker.down = False
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert run_services.runs_resend_unsent() == [run.pk]
    assert broker.sent == [("training", run.pk)]


def test_success_chains_reward_to_policy_to_sampling(loop_project, broker, django_capture_on_commit_callbacks):
    from labeling.models import RewardModelVersion

    reward_run = run_services.run_start(project=loop_project, kind="reward", trigger="t", continue_loop=True)
    version = RewardModelVersion.objects.create(
        project=loop_project, number=1, artifact_path="/r1", gain=1, bias=0, data_hash="x", num_choices=3
    )
    loop_project.current_reward_model = version
    loop_project.save()
    TrainingRun.objects.filter(pk=reward_run.pk).update(status="succeeded")
    reward_run.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        policy_run = run_services.run_chain_next(run=reward_run)
    assert (policy_run.kind, policy_run.base_reward_model_id) == ("policy", version.pk)
    TrainingRun.objects.filter(pk=policy_run.pk).update(status="succeeded")
    policy_run.refresh_from_db()
    sampling_run = run_services.run_chain_next(run=policy_run)
    assert sampling_run.kind == "sampling"
    TrainingRun.objects.filter(pk=sampling_run.pk).update(status="succeeded")
    sampling_run.refresh_from_db()
    assert run_services.run_chain_next(run=sampling_run) is None


def test_cancel_queued_at_once_running_at_next_report(loop_project, broker):
    queued = run_services.run_start(project=loop_project, kind="reward", trigger="t")
    assert run_services.run_cancel(run=queued).status == "cancelled"
    running = run_services.run_start(project=loop_project, kind="reward", trigger="t")
    TrainingRun.objects.filter(pk=running.pk).update(status="running")
    cancelled = run_services.run_cancel(run=running)
    assert cancelled.status == "running" and cancelled.cancel_requested


def test_beat_marks_runs_without_heartbeat_failed(loop_project, broker):
    run = run_services.run_start(project=loop_project, kind="reward", trigger="t")
    now = timezone.now()
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=now - timedelta(minutes=1))
    assert run_services.runs_fail_stale(stale_after=timedelta(minutes=5)) == []
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=now - timedelta(minutes=10))
    assert run_services.runs_fail_stale(stale_after=timedelta(minutes=5)) == [run.pk]
    run.refresh_from_db()
    assert run.status == "failed" and "no heartbeat" in run.error
    loop_project.refresh_from_db()
    assert loop_project.current_reward_model is None


def test_low_water_mark_starts_a_sampling_round(loop_project, broker):
    loop_project.queue_low_water = 5
    loop_project.save()
    make_tasks(loop_project, 5)
    assert run_services.queue_maybe_refill(project=loop_project) is None
    loop_project.tasks.filter(pk=loop_project.tasks.first().pk).update(status="complete")
    run = run_services.queue_maybe_refill(project=loop_project)
    assert run.kind == "sampling" and "4 open tasks" in run.trigger


@pytest.mark.parametrize(
    "method, name, kwargs",
    [
        ("get", "labeling:dashboard", {}),
        ("post", "labeling:run_start", {}),
        ("post", "labeling:run_cancel", {"run_id": 1}),
    ],
)
def test_training_controls_are_staff_only(client, annotator, loop_project, method, name, kwargs):
    url = reverse(name, kwargs={"slug": loop_project.slug, **kwargs})
    anonymous = getattr(client, method)(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(annotator)
    assert getattr(client, method)(url, {"action": "reward"}).status_code == 403
    assert not TrainingRun.objects.exists()


def test_staff_start_a_round_from_the_dashboard(client, staff, loop_project, broker):
    client.force_login(staff)
    page = client.get(reverse("labeling:dashboard", args=[loop_project.slug]))
    assert page.status_code == 200 and "Run the loop once" in page.content.decode()
    response = client.post(
        reverse("labeling:run_start", args=[loop_project.slug]), {"action": "loop"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "Reward round" in response.content.decode()
    run = TrainingRun.objects.get()
    assert run.continue_loop and run.triggered_by == staff
    again = client.post(
        reverse("labeling:run_start", args=[loop_project.slug]), {"action": "sampling"}, HTTP_HX_REQUEST="true"
    )
    assert "Another training run of this project is queued or running" in again.content.decode()
    assert TrainingRun.objects.count() == 1
    poll = client.get(
        reverse("labeling:dashboard", args=[loop_project.slug]), {"shown": run.pk}, HTTP_HX_REQUEST="true"
    )
    assert "HX-Refresh" not in poll.headers and "progress" in poll.content.decode()
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded")
    done = client.get(
        reverse("labeling:dashboard", args=[loop_project.slug]), {"shown": run.pk}, HTTP_HX_REQUEST="true"
    )
    assert done.headers["HX-Refresh"] == "true"


def test_project_round_settings_are_checked_before_a_round():
    """The worker builds a round's config through the same check as the admin and run_start."""
    from labeling.services.execution import _config

    cfg = _config("reward", {"n_norm_samples": 16, "sample": {"temperature": 1.0}})
    assert cfg.n_norm_samples == 16 and cfg.sample.temperature == 1.0
    with pytest.raises(ValueError, match="invalid policy round settings: stepz: .*did you mean 'steps'"):
        _config("policy", {"stepz": 3})
    with pytest.raises(ValueError, match="sample.nope: unknown SampleConfig setting"):
        _config("reward", {"sample": {"nope": 1}})
    with pytest.raises(ValueError, match='steps: must be a whole number, got the text "3"'):
        _config("policy", {"steps": "3"})
