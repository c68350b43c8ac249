"""A dead worker and failing automatic rounds: stalled runs staff can end while beat is down,
backoff between automatic retries, a loop that pauses itself and says why; the model roots."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import Project, TrainingRun
from labeling.services import runs as run_services
from tests.factories import make_tasks
from tests.labeling.test_runs import broker, loop_project  # noqa: F401  (fixtures)


def stale_running_run(project, seconds_silent=600):
    run = run_services.run_start(project=project, kind="reward", trigger="staff: train", enqueue=False)
    TrainingRun.objects.filter(pk=run.pk).update(
        status="running", started_at=timezone.now() - timedelta(seconds=seconds_silent + 5),
        heartbeat_at=timezone.now() - timedelta(seconds=seconds_silent))
    return run


def test_with_beat_stopped_a_stale_run_shows_as_stalled_and_staff_can_end_it(client, staff, loop_project, broker):
    run = stale_running_run(loop_project)
    client.force_login(staff)
    page = client.get(reverse("labeling:dashboard", args=[loop_project.slug])).content.decode()
    assert 'class="status stalled">Stalled' in page and "End the stalled round" in page
    with pytest.raises(run_services.RunConflict):  # the dead run still blocks new rounds
        run_services.run_start(project=loop_project, kind="reward", trigger="staff: again", enqueue=False)
    response = client.post(reverse("labeling:run_end_stalled", args=[loop_project.slug, run.pk]),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "No round is running" in response.content.decode()
    run.refresh_from_db()
    assert run.status == "failed" and f"Ended by {staff.username}" in run.error and "no heartbeat" in run.error
    assert run_services.run_start(project=loop_project, kind="reward", trigger="staff: again", enqueue=False)


def test_a_live_run_is_not_stalled_and_cannot_be_ended(client, staff, loop_project, broker):
    run = stale_running_run(loop_project, seconds_silent=5)
    client.force_login(staff)
    page = client.get(reverse("labeling:dashboard", args=[loop_project.slug])).content.decode()
    assert "Stalled" not in page and 'class="status running">Running' in page
    response = client.post(reverse("labeling:run_end_stalled", args=[loop_project.slug, run.pk]),
                           HTTP_HX_REQUEST="true")
    assert "not stalled" in response.content.decode()
    run.refresh_from_db()
    assert run.status == "running"


def test_ending_a_stalled_run_is_staff_only(client, annotator, loop_project, broker):
    run = stale_running_run(loop_project)
    client.force_login(annotator)
    assert client.post(reverse("labeling:run_end_stalled", args=[loop_project.slug, run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.status == "running"


def fail_automatic(project, minutes_ago):
    run = TrainingRun.objects.create(project=project, kind="sampling", trigger="low water: 0 open tasks",
                                     status="failed", error="boom")
    TrainingRun.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago, seconds=1),
        finished_at=timezone.now() - timedelta(minutes=minutes_ago))
    return run


def test_failing_automatic_rounds_back_off_then_pause_and_the_dashboard_says_why(
        client, staff, loop_project, broker, settings):
    settings.QUARTET_LOOP_RETRY_SECONDS = 60
    settings.QUARTET_LOOP_MAX_FAILURES = 3
    loop_project.queue_low_water = 5
    loop_project.save()
    fail_automatic(loop_project, minutes_ago=0.5)
    # One failure 30 s ago: the next waits 60 s.
    assert run_services.queue_maybe_refill(project=loop_project) is None
    assert run_services.automatic_state(project=loop_project).failures == 1
    TrainingRun.objects.update(finished_at=timezone.now() - timedelta(seconds=61))
    run = run_services.queue_maybe_refill(project=loop_project)
    assert run is not None and run.kind == "sampling"
    TrainingRun.objects.filter(pk=run.pk).update(status="failed", finished_at=timezone.now() - timedelta(seconds=90))
    # Two failures: the wait doubles to 120 s.
    state = run_services.automatic_state(project=loop_project)
    assert state.failures == 2 and state.retry_at is not None
    assert run_services.queue_maybe_refill(project=loop_project) is None
    fail_automatic(loop_project, minutes_ago=10)
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now())  # keep it the newest
    # A third automatic failure in a row: automatic rounds pause.
    assert run_services.queue_maybe_refill(project=loop_project) is None
    loop_project.refresh_from_db()
    assert "3 automatic rounds failed in a row" in loop_project.loop_paused_reason
    assert run_services.loop_maybe_trigger(project_id=loop_project.pk) is None
    client.force_login(staff)
    page = client.get(reverse("labeling:dashboard", args=[loop_project.slug])).content.decode()
    assert "Automatic rounds are paused" in page and "3 automatic rounds failed in a row" in page
    # Staff resume: the count starts afresh.
    client.post(reverse("labeling:loop_resume", args=[loop_project.slug]))
    loop_project.refresh_from_db()
    assert loop_project.loop_paused_reason == ""
    assert run_services.queue_maybe_refill(project=loop_project) is not None


def test_staff_rounds_do_not_count_as_automatic_failures(loop_project, broker):
    TrainingRun.objects.create(project=loop_project, kind="reward", trigger="staff: train reward model",
                               status="failed", finished_at=timezone.now())
    assert run_services.automatic_state(project=loop_project).failures == 0


@pytest.mark.parametrize("source, ok", [
    ("", True),
    ("{starter}", True),
    ("{artifacts}/demo/policy/run-3", True),
    ("/etc", False),
    ("{starter}/../../..", False),
    ("gpt2", False),
])
def test_policy_source_must_be_under_a_model_root(admin_client, settings, tmp_path, source, ok):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path
    settings.QUARTET_MODEL_ROOTS = [settings.BASE_DIR / "training", tmp_path]
    source = source.format(starter=settings.BASE_DIR / "training" / "starter", artifacts=tmp_path)
    project = Project.objects.create(name="Roots", slug="roots")
    response = admin_client.post(reverse("admin:labeling_project_change", args=[project.pk]), {
        **{f: getattr(project, f) for f in ("name", "slug", "instructions", "annotations_per_task",
                                            "lease_seconds", "overlap_share", "gold_rate",
                                            "gold_min_accuracy", "gold_min_answers", "queue_order",
                                            "loop_every_choices", "loop_sample_prompts", "queue_low_water",
                                            "prompt_format", "demonstration_share", "evaluation_split_size",
                                            "evaluation_rate", "evaluation_prompts_per_round")},
        "policy_source": source, "reward_config": "{}", "policy_config": "{}", "sample_config": "{}",
        "sft_config": "{}",
        "loop_paused_reason": "",
    })
    project.refresh_from_db()
    if ok:
        assert response.status_code == 302, response.content.decode()[-2000:]
        assert project.policy_source == source
    else:
        assert response.status_code == 200 and "model roots" in response.content.decode()
        assert project.policy_source == ""
