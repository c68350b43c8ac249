"""Executing rounds on a worker: load inputs through selectors, call training/, store outputs.

Worker-only: imports torch through training/. A new version is written to a temporary folder
by training/ and renamed into place, and becomes current only in the transaction that marks
its run succeeded, so a failed or killed round leaves the previous versions untouched.
"""

import collections
import logging
import threading
import time
import traceback
from dataclasses import fields, replace

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Max
from django.utils import timezone

from labeling import selectors
from labeling.models import ComparisonTask, Completion, PolicyVersion, Project, RewardModelVersion, TrainingRun
from labeling.selectors.anchor import anchor_set, reward_agreement_on_anchor
from labeling.selectors.demonstrations import sft_training_data
from labeling.services import evaluation as evaluation_services
from labeling.services.evaluation_rounds import evaluation_sample
from labeling.services.imports import NewTask, tasks_create
from labeling.services.runs import policy_current, policy_reference, run_chain_next
from labeling.stats import entropy
# Torch-free parts of training/ (settings, launching, the artifact store); the rounds
# themselves load torch only inside training.launch when they run.
from training.config import ROUND_SETTINGS, LaunchConfig, SampleConfig, SettingsError, validate_round_settings
from training.launch import policy_round, reward_round, sampling_round, supervised_round
from training.storage import ArtifactStore

log = logging.getLogger(__name__)
Status = TrainingRun.Status
Kind = TrainingRun.Kind

# Metrics kept in a run's time series (the progress bar gets every report regardless).
SERIES_KEYS = ("loss", "agreement", "heldout_agreement", "reward", "kl", "beta", "score", "heldout_loss")


class RunCancelled(Exception):
    """Raised from the progress callback when staff asked the run to stop."""


class RunReporter:
    """The progress callback handed to training/: records progress, metrics and a log tail on the
    run (at most once a second), and stops the round when cancellation was requested.

    A heartbeat thread keeps ``heartbeat_at`` fresh while the worker lives, even through long
    steps without progress; when the worker process dies the heartbeats stop and beat reaps it.
    """

    def __init__(self, run_id: int, *, echo=None):
        self.run_id = run_id
        self.series: list[dict] = []
        self.log = collections.deque(maxlen=40)
        self.echo = echo  # e.g. a tqdm update for management commands
        self._last_write = 0.0
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True)

    def __enter__(self):
        self._beat.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._beat.join(timeout=5)
        self.flush()
        return False

    def _heartbeat(self):
        try:
            while not self._stop.wait(settings.QUARTET_HEARTBEAT_SECONDS):
                TrainingRun.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    def note(self, line: str) -> None:
        self.log.append(f"{timezone.now():%H:%M:%S} {line}")

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        point = {k: round(float(v), 6) for k, v in metrics.items() if k in SERIES_KEYS and v is not None}
        if point:
            self.series.append({"step": step, **point})
            self.note(f"step {step}/{total} " + " ".join(f"{k}={v:.4g}" for k, v in point.items()))
        self.step, self.total = step, total
        if self.echo:
            self.echo(step, total, metrics)
        now = time.monotonic()
        if now - self._last_write >= 1.0 or step >= total:
            self._last_write = now
            self.flush()
            if TrainingRun.objects.filter(pk=self.run_id, cancel_requested=True).exists():
                raise RunCancelled("Cancelled by staff.")

    def flush(self) -> None:
        update = {"metrics": self.series, "log_tail": "\n".join(self.log), "heartbeat_at": timezone.now()}
        if hasattr(self, "step"):
            update.update(progress_step=self.step, progress_total=self.total)
        TrainingRun.objects.filter(pk=self.run_id).update(**update)


def _config(kind: str, overrides: dict):
    """The round's settings as training/'s dataclass, checked by the same rule as the admin form
    and run_start (training.config.validate_round_settings): a misspelling or a wrong type fails
    the round here, with the setting named, before any model is loaded."""
    try:
        checked = validate_round_settings(kind, overrides)
    except SettingsError as exc:
        raise ValueError(f"invalid {kind} round settings: {exc}") from None
    if isinstance(checked.get("sample"), dict):  # RewardConfig.sample is itself a SampleConfig
        checked["sample"] = SampleConfig(**checked["sample"])
    return ROUND_SETTINGS[kind](**checked)


def _artifact_dir(project: Project, kind: str, run_id: int) -> str:
    # Named by run, not version number: numbers are assigned only on success, so two attempts
    # never compete for a folder and a failed attempt leaves no gap in the numbering.
    # A folder path, or a URL when the artifact store is shared (QUARTET_ARTIFACTS_URL).
    return _store().version_url(project.slug, kind, f"run-{run_id}")


def _store():
    """This worker's view of the artifact store: where versions live, where it caches them."""

    return ArtifactStore(
        root=settings.QUARTET_ARTIFACTS_URL or str(settings.QUARTET_ARTIFACTS_DIR),
        cache_dir=str(settings.QUARTET_ARTIFACTS_CACHE),
    )


def _launch():
    """How this worker runs reward and policy rounds (processes, precision, accelerate file)."""

    return LaunchConfig(
        num_processes=settings.QUARTET_LAUNCH_PROCESSES,
        mixed_precision=settings.QUARTET_LAUNCH_MIXED_PRECISION or None,
        config_file=settings.QUARTET_LAUNCH_CONFIG_FILE or None,
    )


def _claim(run_id: int) -> TrainingRun | None:
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().select_related("project").get(pk=run_id)
        if run.status != Status.QUEUED:
            return None  # cancelled meanwhile, or a redelivered message for a run already taken
        run.status = Status.RUNNING
        run.started_at = run.heartbeat_at = timezone.now()
        run.save(update_fields=["status", "started_at", "heartbeat_at"])
    return run


def _reward_round(run: TrainingRun, reporter: RunReporter) -> None:
    project = run.project
    rho = policy_reference(project=project)
    anchor = anchor_set(project=project, upto_choice_id=run.choices_upto)
    data = selectors.reward_training_data(
        project=project, upto_choice_id=run.choices_upto, exclude_task_ids=anchor.task_ids
    )
    reporter.note(
        f"training on {len(data.choices)} choices from rho {rho.artifact_path}; "
        f"{len(anchor.tasks)} anchor tasks held out"
    )
    cfg = _config("reward", run.config)
    if cfg.norm_prompts is None:
        cfg.norm_prompts = selectors.prompts_for_policy_round(project=project, limit=cfg.n_norm_samples)
    result = reward_round(
        data.choices,
        policy_path=rho.artifact_path,
        reference_path=rho.artifact_path,
        out=_artifact_dir(project, "reward", run.pk),
        cfg=cfg,
        store=_store(),
        launch=_launch(),
        progress=reporter,
    )
    metrics = dict(result.metrics)
    if anchor.tasks:
        from training.reward import load_reward_scorer

        measured = reward_agreement_on_anchor(anchor, load_reward_scorer(_store().fetch(result.path)).raw)
        metrics.update(measured.as_metrics())
        reporter.note(f"anchor-set agreement {measured.share:.3f} on {measured.labels} labels")
    with transaction.atomic():
        number = (project.reward_models.aggregate(m=Max("number"))["m"] or 0) + 1
        version = RewardModelVersion.objects.create(
            project=project,
            number=number,
            artifact_path=result.path,
            policy=rho,
            gain=result.gain,
            bias=result.bias,
            metrics=metrics,
            data_hash=result.data_hash,
            num_choices=len(data.choices),
            run=run,
        )
        run.choices.add(*data.choice_ids)
        Project.objects.filter(pk=project.pk).update(current_reward_model=version)
        _succeed(run, summary={"reward_model": number, **_plain(metrics)})
    if project.queue_order == Project.QueueOrder.UNCERTAINTY:
        try:  # the new version stands even if re-ordering the queue fails
            scored = tasks_score_uncertainty(project=project, reward_model=version)
            reporter.note(f"scored the uncertainty of {scored} open tasks")
        except Exception:
            log.exception("scoring open tasks of %s with reward v%s failed", project.slug, number)


def _policy_round(run: TrainingRun, reporter: RunReporter) -> None:
    project = run.project
    rho = policy_reference(project=project)
    base, reward = run.base_policy, run.base_reward_model
    prompts = selectors.prompts_for_policy_round(project=project)
    cfg = policy_config_from_parent(
        _config("policy", {"generation_backend": settings.QUARTET_GENERATION_BACKEND, **run.config}),
        parent=base,
    )
    reporter.note(
        f"policy v{base.number} against reward v{reward.number}, {len(prompts)} prompts, β {cfg.beta:.4g}"
    )
    result = policy_round(
        policy_path=base.artifact_path,
        reference_path=rho.artifact_path,
        reward_path=reward.artifact_path,
        prompts=prompts,
        out=_artifact_dir(project, "policy", run.pk),
        cfg=cfg,
        store=_store(),
        launch=_launch(),
        progress=reporter,
    )
    # Episodes since ρ: the controller's horizon is counted over the whole run, not one round.
    final = {**result.final, "episodes_total": int(base.metrics.get("episodes_total", 0)) + result.final["episodes"]}
    with transaction.atomic():
        number = (project.policy_versions.aggregate(m=Max("number"))["m"] or 0) + 1
        version = PolicyVersion.objects.create(
            project=project,
            number=number,
            parent=base,
            artifact_path=result.path,
            reward_model=reward,
            run=run,
            metrics=_plain(final),
        )
        Project.objects.filter(pk=project.pk).update(current_policy=version)
        _succeed(run, summary={"policy": number, **_plain(final)})


def policy_config_from_parent(cfg, *, parent: PolicyVersion):
    """The round's PolicyConfig with β carried over from the parent version.

    With a KL target, β is the state of one controller that runs across the whole loop (Ziegler
    et al.): each round starts from the β its parent round ended with, so the target is
    approached over rounds rather than each round restarting from the configured β. Without a
    target β is fixed and the configured value stands; ρ (version 0) has no β of its own.
    Pure: returns a new config, changes nothing.
    """
    carried = parent.metrics.get("beta_final") if parent.number > 0 else None
    if cfg.kl_target is None or carried is None:
        return cfg
    return replace(cfg, beta=float(carried))


def _sampling_round(run: TrainingRun, reporter: RunReporter) -> None:
    project = run.project
    policy = policy_current(project=project)
    cfg = _config("sampling", run.config)
    prompts = selectors.prompts_for_sampling(
        project=project, policy_version_id=policy.pk, count=project.loop_sample_prompts, seed=run.pk
    )
    if not prompts:
        raise ValueError(f"Project {project.slug!r} has no prompts to sample from; import some.")
    reporter.note(f"sampling {len(prompts)} prompts x4 from policy v{policy.number}")
    samples = sampling_round(
        policy.artifact_path, prompts, cfg, store=_store(),
        backend=settings.QUARTET_GENERATION_BACKEND, progress=reporter,
    )
    # Chat projects: the prompts are conversations and each Sample.text an assistant message's
    # content; tasks_create renders the answers' Markdown once, here on the worker.
    tasks = [
        NewTask(prompt=prompt, completions=[s.text for s in four])
        for prompt, four in zip(prompts, samples, strict=True)
    ]
    with transaction.atomic():
        created = tasks_create(project=project, tasks=tasks, policy_version=policy)
        if project.queue_order == Project.QueueOrder.UNCERTAINTY and project.current_reward_model:
            new_ids = project.tasks.filter(policy_version=policy, uncertainty__isnull=True).values_list("pk", flat=True)
            tasks_score_uncertainty(project=project, reward_model=project.current_reward_model, task_ids=list(new_ids))
        retired = 0
        if project.retire_after_versions is not None:
            retired = project.tasks.filter(  # evaluation tasks wait for their verdict
                status="open", is_evaluation=False, generation__lt=policy.number - project.retire_after_versions
            ).update(status="retired")
        _succeed(
            run,
            summary={"policy": policy.number, "tasks_created": created.created,
                     "duplicates": created.duplicates, "tasks_retired": retired},
        )


def _sft_round(run: TrainingRun, reporter: RunReporter) -> None:
    project = run.project
    base = run.base_policy
    cfg = _config("sft", run.config)
    data = sft_training_data(project=project, heldout_fraction=cfg.heldout_fraction)
    if not data.train:
        raise ValueError(f"Project {project.slug!r} has no demonstrations to train on.")
    reporter.note(
        f"SFT from policy v{base.number} on {len(data.train)} demonstrations, "
        f"{len(data.heldout)} held out"
    )
    result = supervised_round(
        data.train,
        heldout=data.heldout or None,
        policy_path=base.artifact_path,
        out=_artifact_dir(project, "sft", run.pk),
        cfg=cfg,
        store=_store(),
        progress=reporter,
    )
    final = {
        "heldout_loss_before": result.heldout_loss_before,
        "heldout_loss_after": result.heldout_loss_after,
        "n_train": result.n_train,
        "n_heldout": result.n_heldout,
    }
    with transaction.atomic():
        number = (project.policy_versions.aggregate(m=Max("number"))["m"] or 0) + 1
        PolicyVersion.objects.create(
            project=project,
            number=number,
            parent=base,
            kind=PolicyVersion.Kind.SFT,
            artifact_path=result.path,
            run=run,
            metrics=_plain(final),
        )
        run.demonstrations.add(*data.train_ids)
        # An SFT version becomes ρ (and current) only when staff choose it: see
        # services.demonstrations.reference_policy_set.
        _succeed(run, summary={"policy": number, "sft": True, **_plain(final)})


def _evaluation_round(run: TrainingRun, reporter: RunReporter) -> None:
    evaluation = run.evaluation
    draw = evaluation_sample(
        evaluation=evaluation, cfg=_config("evaluation", run.config), seed=run.pk,
        progress=reporter, note=reporter.note, fetch=_store().fetch,
    )
    with transaction.atomic():
        summary = evaluation_services.evaluation_store(evaluation=evaluation, draw=draw)
        _succeed(run, summary=summary)


def tasks_score_uncertainty(*, project: Project, reward_model: RewardModelVersion, task_ids=None) -> int:
    """Store, for open tasks, the entropy of the reward model's softmax over their four
    completions: the uncertainty-first queue serves the highest first. ``task_ids=None`` scores
    every open task of the project. Returns how many were scored."""
    from training.reward import load_reward_scorer


    tasks = ComparisonTask.objects.filter(project=project, status=ComparisonTask.Status.OPEN)
    if task_ids is not None:
        tasks = tasks.filter(pk__in=task_ids)
    rows = [(pk, selectors.training_prompt(text, messages))
            for pk, text, messages in tasks.values_list("pk", "prompt__text", "prompt__messages")]
    if not rows:
        return 0
    scorer = load_reward_scorer(_store().fetch(reward_model.artifact_path))
    texts: dict[int, dict[int, str]] = {}
    for task_id, position, text in Completion.objects.filter(task_id__in=[pk for pk, _ in rows]).values_list(
        "task_id", "position", "text"
    ):
        texts.setdefault(task_id, {})[position] = text
    # Raw scores: the softmax the four-way loss trained (normalization's gain would rescale it).
    raw = scorer.raw(
        [prompt for _, prompt in rows for _ in range(4)],
        [texts[pk][p] for pk, _ in rows for p in range(4)],
    )
    updates = [
        ComparisonTask(pk=pk, uncertainty=entropy(raw[4 * i : 4 * i + 4])) for i, (pk, _) in enumerate(rows)
    ]
    ComparisonTask.objects.bulk_update(updates, ["uncertainty"], batch_size=1000)
    return len(updates)


def _plain(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None}


def _succeed(run: TrainingRun, *, summary: dict) -> None:
    TrainingRun.objects.filter(pk=run.pk).update(
        status=Status.SUCCEEDED, finished_at=timezone.now(), summary=summary,
        progress_step=max(run.progress_step, 1), progress_total=max(run.progress_total, 1),
    )
    run.status = Status.SUCCEEDED
    if run_chain_next(run=run) is None:
        evaluation_services.evaluation_maybe_auto(run=run)


def run_mark_failed(*, run_id: int, error: str) -> None:
    """Record a failure; previous versions stay current. Idempotent."""
    TrainingRun.objects.filter(pk=run_id, status__in=TrainingRun.ACTIVE).update(
        status=Status.FAILED, finished_at=timezone.now(), error=error[:10_000]
    )


ROUNDS = {
    Kind.REWARD: _reward_round,
    Kind.POLICY: _policy_round,
    Kind.SAMPLING: _sampling_round,
    Kind.SFT: _sft_round,
    Kind.EVALUATION: _evaluation_round,
}


def run_execute(*, run_id: int, echo=None) -> str:
    """Run a queued round to its end. Side effects: on success a new current version (or new
    tasks) and, with continue_loop, the next round queued; on failure or cancellation the run
    records why and nothing else changes. Returns the final status."""
    close_old_connections()
    run = _claim(run_id)
    if run is None:
        return "skipped"
    reporter = RunReporter(run_id, echo=echo)
    try:
        with reporter:
            ROUNDS[run.kind](run, reporter)
    except RunCancelled:
        TrainingRun.objects.filter(pk=run_id).update(status=Status.CANCELLED, finished_at=timezone.now())
        return Status.CANCELLED
    except Exception as exc:
        log.exception("run %s failed", run_id)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        run_mark_failed(run_id=run_id, error=detail)
        return Status.FAILED
    return Status.SUCCEEDED
