"""Starting, chaining, cancelling and reaping training runs. Safe to import in the web process:
nothing here imports torch; the work itself happens in services/execution.py on a worker.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from labeling.models import Choice, ComparisonTask, PolicyVersion, Project, TrainingRun
from labeling.selectors import choices_since_last_reward_round
from training.config import SettingsError, validate_round_settings

log = logging.getLogger(__name__)

Kind = TrainingRun.Kind
Status = TrainingRun.Status


# How automatic rounds name their trigger (staff's start with "staff:" or "admin:").
AUTOMATIC_TRIGGERS = ("loop:", "low water:")


class RunConflict(Exception):
    """Another training run of the project is queued or running."""


class RunNotPossible(Exception):
    """The project lacks what this run needs (an initial policy, a reward model…)."""


class RunNotStalled(Exception):
    """Staff asked to end a stalled run that is not stalled."""


def policy_source_problem(source: str) -> str | None:
    """Why ``source`` may not be a project's initial policy, or None when it may: it must be an
    absolute folder path inside one of QUARTET_MODEL_ROOTS (after resolving links and '..'), so
    staff cannot point workers at any folder they can read. Empty (no policy yet) is fine."""
    if not source:
        return None
    roots = [Path(root).resolve() for root in settings.QUARTET_MODEL_ROOTS]
    allowed = ", ".join(str(root) for root in roots)
    if "\x00" in source or not Path(source).is_absolute():
        return f"Give the absolute path of a model folder under one of the model roots ({allowed})."
    resolved = Path(source).resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        return f"{source} is outside the model roots ({allowed}); see QUARTET_MODEL_ROOTS."
    return None


def policy_initial(*, project: Project) -> PolicyVersion:
    """Version 0: the project's initial policy ρ, created from ``project.policy_source``."""
    if not project.policy_source:
        raise RunNotPossible(f"Project {project.slug!r} has no initial policy (policy_source).")
    version, _ = PolicyVersion.objects.get_or_create(
        project=project, number=0, defaults={"artifact_path": project.policy_source}
    )
    return version


def policy_current(*, project: Project) -> PolicyVersion:
    return project.current_policy or policy_initial(project=project)


def policy_reference(*, project: Project) -> PolicyVersion:
    """ρ: the version every reward round starts from and normalizes on, and every policy round
    is KL-penalized against. The project's chosen reference (an SFT version) when staff set
    one, else the initial policy. The one place ρ is chosen."""
    if project.reference_policy_id:
        return PolicyVersion.objects.get(pk=project.reference_policy_id)
    return policy_initial(project=project)


# Tasks are sent by name: a service never imports labeling.tasks, whose rounds import the
# worker-only execution layer (and through it torch). CELERY_TASK_ROUTES picks the queue.
TASK_TRAINING_ROUND = "labeling.tasks.training_round"
TASK_SAMPLING_ROUND = "labeling.tasks.sampling_round"


def task_send(name: str, run_id: int):
    """Publish one round to the broker (retrying briefly); returns Celery's AsyncResult."""
    return current_app.send_task(
        name, args=[run_id], retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )


def _enqueue(run_id: int) -> None:
    """Send the run to its worker queue. A broker that is down is logged, not raised: the run
    stays queued without a task id and the beat safety net sends it again."""
    run = TrainingRun.objects.only("kind", "status").get(pk=run_id)
    if run.status != Status.QUEUED:
        return
    name = TASK_SAMPLING_ROUND if run.kind in (Kind.SAMPLING, Kind.EVALUATION) else TASK_TRAINING_ROUND
    try:
        result = task_send(name, run_id)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("could not enqueue run %s (%s); beat will retry", run_id, exc)
        return
    TrainingRun.objects.filter(pk=run_id).update(celery_task_id=result.id)


# A chat answer ends at the chat template's end-of-turn token, not at the first period (the text
# default), and runs longer than a stylistic continuation; the reward model reads the templated
# conversation too. A project's own settings always win.
CHAT_GENERATION_DEFAULTS = {"stop": None, "max_new_tokens": 96}
CHAT_REWARD_DEFAULTS = {"max_length": 256}


# The Project field that holds each kind of round's overrides (an evaluation samples like a
# sampling round).
SETTINGS_FIELDS = {
    Kind.REWARD: "reward_config",
    Kind.POLICY: "policy_config",
    Kind.SAMPLING: "sample_config",
    Kind.SFT: "sft_config",
    Kind.EVALUATION: "sample_config",
}


def round_config(*, project: Project, kind: str) -> dict:
    """The settings a new run of ``kind`` records: the project's overrides for that round, on
    top of the chat defaults in a chat project."""
    own = getattr(project, SETTINGS_FIELDS[kind]) or {}
    if project.prompt_format != Project.PromptFormat.CHAT or kind == Kind.SFT:
        return own
    if kind == Kind.REWARD:
        sample = {**CHAT_GENERATION_DEFAULTS, **(own.get("sample") or {})}
        return {**CHAT_REWARD_DEFAULTS, **own, "sample": sample}
    return {**CHAT_GENERATION_DEFAULTS, **own}


def run_start(
    *,
    project: Project,
    kind: str,
    trigger: str,
    user=None,
    continue_loop: bool = False,
    enqueue: bool = True,
    base_policy: PolicyVersion | None = None,
) -> TrainingRun:
    """Create a queued run and (after commit) send it to a worker.

    Raises RunConflict when the project already has an active run (enforced by a partial
    unique index), RunNotPossible when a prerequisite is missing. ``enqueue=False`` leaves the
    run for the caller to execute in-process (management commands). ``base_policy`` (SFT rounds
    only) is the version to fine-tune; by default an SFT round starts from the initial policy.
    """
    if kind not in Kind.values:
        raise ValueError(f"unknown run kind {kind!r}")
    # Versions and settings as committed now, not as a caller's instance remembers them.
    project = Project.objects.select_related("current_policy", "current_reward_model").get(pk=project.pk)
    if kind == Kind.SFT:
        if base_policy is not None and base_policy.project_id != project.pk:
            raise RunNotPossible("That policy version belongs to another project.")
        base_policy = base_policy or policy_initial(project=project)
        if not project.demonstrations.exists():
            raise RunNotPossible("Write or import demonstrations first: an SFT round trains on them.")
    elif base_policy is not None:
        raise ValueError("only SFT rounds take a base policy")
    else:
        base_policy = policy_current(project=project)
    base_reward = project.current_reward_model
    if kind == Kind.POLICY and base_reward is None:
        raise RunNotPossible("Train a reward model first: a policy round needs one.")
    config = round_config(project=project, kind=kind)
    try:
        # Saved settings were checked by the admin; this catches ones written another way
        # (shell, fixtures, older versions) before a worker fails on them mid-round.
        validate_round_settings(kind, config)
    except SettingsError as exc:
        raise RunNotPossible(
            f"The project's {SETTINGS_FIELDS[kind]} is not valid: {exc}. Fix it in the admin."
        ) from None
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                project=project,
                kind=kind,
                trigger=trigger,
                triggered_by=user,
                continue_loop=continue_loop,
                base_policy=base_policy,
                base_reward_model=base_reward,
                choices_upto=(
                    Choice.objects.filter(project=project).aggregate(m=Max("pk"))["m"] or 0
                    if kind == Kind.REWARD
                    else None
                ),
                config=config,
            )
    except IntegrityError:
        raise RunConflict("Another training run of this project is queued or running.") from None
    if enqueue:
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def run_chain_next(*, run: TrainingRun) -> TrainingRun | None:
    """After a successful round with ``continue_loop``: reward → policy → sampling."""
    following = {Kind.REWARD: Kind.POLICY, Kind.POLICY: Kind.SAMPLING}.get(run.kind)
    if not run.continue_loop or following is None:
        return None
    project = Project.objects.get(pk=run.project_id)
    return run_start(
        project=project,
        kind=following,
        trigger=f"loop: after {run.get_kind_display().lower()} #{run.pk}",
        user=run.triggered_by,
        continue_loop=True,
    )


def run_cancel(*, run: TrainingRun) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops at its next progress report."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.status == Status.QUEUED:
            run.status = Status.CANCELLED
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "finished_at"])
        elif run.status == Status.RUNNING:
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested"])
    return run


def loop_maybe_trigger(*, project_id: int) -> TrainingRun | None:
    """Start the loop (a reward round that chains on) once N new choices have arrived.

    Called after each choice commits. Cheap when nothing is due: one project read and,
    when the loop is on, one indexed count.
    """
    project = Project.objects.get(pk=project_id)
    if not project.loop_enabled or not project.policy_source:
        return None
    if TrainingRun.objects.filter(project=project, status__in=TrainingRun.ACTIVE).exists():
        return None
    if not automatic_round_allowed(project=project):
        return None
    new = choices_since_last_reward_round(project=project)
    if new < project.loop_every_choices:
        return None
    try:
        return run_start(
            project=project,
            kind=Kind.REWARD,
            trigger=f"loop: {new} new choices",
            continue_loop=True,
        )
    except (RunConflict, RunNotPossible):
        return None


def queue_maybe_refill(*, project: Project) -> TrainingRun | None:
    """Sample new tasks when fewer than the low-water mark are open and nothing else runs."""
    if not project.queue_low_water or not project.policy_source:
        return None
    open_tasks = ComparisonTask.objects.filter(  # evaluation tasks do not feed the loop
        project=project, status=ComparisonTask.Status.OPEN, is_evaluation=False
    ).count()
    if open_tasks >= project.queue_low_water:
        return None
    if not automatic_round_allowed(project=project):
        return None
    try:
        return run_start(
            project=project,
            kind=Kind.SAMPLING,
            trigger=f"low water: {open_tasks} open tasks",  # one of AUTOMATIC_TRIGGERS
        )
    except (RunConflict, RunNotPossible):
        return None


@dataclass(frozen=True)
class AutomaticState:
    """Where a project's automatic rounds stand: consecutive failures since the count was last
    reset, and the earliest time the next may start (None: now)."""

    failures: int
    retry_at: datetime | None
    paused_reason: str


def automatic_state(*, project: Project) -> AutomaticState:
    """Consecutive failed automatic rounds (newest first, up to the first that did not fail)
    and the backoff they impose: QUARTET_LOOP_RETRY_SECONDS after the first, doubling."""
    runs = TrainingRun.objects.filter(project=project).exclude(status__in=TrainingRun.ACTIVE)
    if project.loop_failures_since:
        runs = runs.filter(created_at__gt=project.loop_failures_since)
    failures, last_failed_at = 0, None
    for status, trigger, finished_at in runs.order_by("-created_at", "-id").values_list(
        "status", "trigger", "finished_at"
    )[: settings.QUARTET_LOOP_MAX_FAILURES + 1]:
        if status != Status.FAILED or not trigger.startswith(AUTOMATIC_TRIGGERS):
            break
        failures += 1
        last_failed_at = last_failed_at or finished_at
    retry_at = None
    if failures and last_failed_at:
        retry_at = last_failed_at + timedelta(
            seconds=settings.QUARTET_LOOP_RETRY_SECONDS * 2 ** (failures - 1))
    return AutomaticState(failures, retry_at, project.loop_paused_reason)


def automatic_round_allowed(*, project: Project) -> bool:
    """Whether the loop or the low-water refill may start a round now. Side effect: after
    QUARTET_LOOP_MAX_FAILURES automatic failures in a row, pauses them (loop_paused_reason)."""
    if project.loop_paused_reason:
        return False
    state = automatic_state(project=project)
    if state.failures >= settings.QUARTET_LOOP_MAX_FAILURES:
        reason = (f"Paused after {state.failures} automatic rounds failed in a row; fix the cause "
                  "(see the run history) and resume.")
        Project.objects.filter(pk=project.pk).update(loop_paused_reason=reason)
        project.loop_paused_reason = reason
        log.warning("project %s: automatic rounds paused after %s failures", project.slug, state.failures)
        return False
    return state.retry_at is None or timezone.now() >= state.retry_at


def loop_resume(*, project: Project) -> None:
    """Staff resume automatic rounds: the pause is lifted and failures are counted afresh."""
    Project.objects.filter(pk=project.pk).update(loop_paused_reason="", loop_failures_since=timezone.now())


def run_end_stalled(*, run: TrainingRun, user=None) -> TrainingRun:
    """Staff end a running round whose worker stopped sending heartbeats (beat may be down and
    unable to). The run is marked failed; the previous versions stay current and a new round can
    start. Raises RunNotStalled when the run is not (or no longer) stalled."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if not run.is_stalled:
            raise RunNotStalled("This round is not stalled: its worker is still reporting.")
        silent = int((timezone.now() - (run.heartbeat_at or run.started_at or run.created_at)).total_seconds())
        run.status = Status.FAILED
        run.finished_at = timezone.now()
        run.error = (f"Ended by {user or 'staff'}: the worker stopped responding (no heartbeat for "
                     f"{silent} s). The previous versions stay current; start the round again.")
        run.save(update_fields=["status", "finished_at", "error"])
    return run


def runs_fail_stale(*, stale_after: timedelta | None = None) -> list[int]:
    """Mark running runs whose worker stopped sending heartbeats as failed; their previous
    versions stay current. Returns the ids marked."""
    stale_after = stale_after or timedelta(seconds=settings.QUARTET_RUN_STALE_SECONDS)
    cutoff = timezone.now() - stale_after
    stale = list(
        TrainingRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    if stale:
        TrainingRun.objects.filter(pk__in=stale, status=Status.RUNNING).update(
            status=Status.FAILED,
            finished_at=timezone.now(),
            error=f"The worker stopped responding (no heartbeat for {int(stale_after.total_seconds())} s). "
            "The previous versions stay current; start the round again.",
        )
    return stale


def runs_resend_unsent(*, older_than: timedelta = timedelta(seconds=30)) -> list[int]:
    """Queued runs that never reached the broker (it was down) are sent again."""
    cutoff = timezone.now() - older_than
    unsent = list(
        TrainingRun.objects.filter(
            status=Status.QUEUED, celery_task_id="", created_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for run_id in unsent:
        _enqueue(run_id)
    return unsent


def loop_safety_net() -> dict:
    """What Celery beat runs every minute: reap dead runs, resend unsent ones, top up queues,
    and trigger loops whose trigger was lost."""
    failed = runs_fail_stale()
    resent = runs_resend_unsent()
    started = []
    for project in Project.objects.exclude(policy_source=""):
        run = loop_maybe_trigger(project_id=project.pk) or queue_maybe_refill(project=project)
        if run is not None:
            started.append(run.pk)
    return {"failed": failed, "resent": resent, "started": started}
