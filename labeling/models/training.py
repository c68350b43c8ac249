"""Training runs and the reward-model versions they produce."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from labeling.models.projects import PolicyVersion, Project
from labeling.models.queue import Choice


class RewardModelVersion(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reward_models")
    number = models.PositiveIntegerField()
    artifact_path = models.CharField(max_length=500)
    policy = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The policy whose weights initialized the reward model.",
    )
    gain = models.FloatField()
    bias = models.FloatField()
    metrics = models.JSONField(default=dict, blank=True)
    data_hash = models.CharField(max_length=64)
    num_choices = models.PositiveIntegerField()
    run = models.OneToOneField(
        "labeling.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="produced_reward_model",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="reward_number_unique")
        ]

    def __str__(self):
        return f"{self.project.slug} reward v{self.number}"


class TrainingRun(models.Model):
    class Kind(models.TextChoices):
        REWARD = "reward", "Reward round"
        POLICY = "policy", "Policy round"
        SAMPLING = "sampling", "Sampling round"
        SFT = "sft", "Supervised round (SFT)"
        EVALUATION = "evaluation", "Evaluation round"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Whether success starts the next stage (reward → policy → sampling).
    continue_loop = models.BooleanField(default=False)
    trigger = models.CharField(max_length=200, help_text="What started it, in words.")
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    progress_step = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # A list of {"step": …, "loss"/"agreement"/"reward"/"kl"/"beta": …} dicts, in order.
    metrics = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Hyperparameters used.")
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    celery_task_id = models.CharField(max_length=64, blank=True)
    # Lineage: what it started from and what it trained on.
    base_policy = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    base_reward_model = models.ForeignKey(
        RewardModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    choices = models.ManyToManyField(Choice, blank=True, related_name="training_runs")
    # Reward rounds: the newest choice id they cover, fixed when queued, so the loop knows how
    # many choices arrived since.
    choices_upto = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_run_per_project",
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="run_liveness")]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_stalled(self) -> bool:
        """Running, but its worker sent no heartbeat for QUARTET_RUN_STALE_SECONDS: the worker
        is gone (or hung), whether or not beat is there to notice."""
        if self.status != self.Status.RUNNING:
            return False
        last = self.heartbeat_at or self.started_at or self.created_at
        return (timezone.now() - last).total_seconds() > settings.QUARTET_RUN_STALE_SECONDS

    @property
    def percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_step / self.progress_total))

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or self.heartbeat_at or self.started_at
        return (end - self.started_at).total_seconds()
