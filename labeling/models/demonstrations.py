"""Demonstrations: answers people wrote (or imported) for prompts, the data of supervised rounds;
and demonstration tasks, the queue's requests for such answers."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from labeling.models.projects import Project, Prompt
from labeling.models.queue import ComparisonTask, Completion
from labeling.models.training import TrainingRun


class DemonstrationTask(models.Model):
    """A request for written answers to one prompt, leased like a comparison task.

    A separate lightweight queue rather than a kind of ComparisonTask: comparison tasks are
    guarded by database triggers that refuse to open one without exactly four completions, and
    the labeling hot path's SQL assumes them; a task with no completions would weaken both.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETE = "complete", "Complete"
        RETIRED = "retired", "Retired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="demonstration_tasks")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="demonstration_tasks")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # Copied from the project when created: how many distinct annotators answer it.
    annotations_wanted = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "prompt"], name="demo_task_once_per_prompt")
        ]
        indexes = [models.Index(fields=["project", "status", "created_at", "id"], name="demo_task_queue")]

    def __str__(self):
        return f"demonstration task {self.pk} ({self.status})"


class DemonstrationLease(models.Model):
    """A lease on a demonstration task; one row per (task, annotator): nobody gets it twice."""

    class State(models.TextChoices):
        LEASED = "leased", "Leased"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    task = models.ForeignKey(DemonstrationTask, on_delete=models.CASCADE, related_name="leases")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="demonstration_leases"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="demonstration_leases")
    state = models.CharField(max_length=8, choices=State.choices, default=State.LEASED)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="demo_lease_once_per_annotator")
        ]
        indexes = [models.Index(fields=["annotator", "project", "state"], name="demo_lease_pending")]


class Demonstration(models.Model):
    class Source(models.TextChoices):
        WRITTEN = "written", "Written on the labeling page"
        IMPORTED = "imported", "Imported"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="demonstrations")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="demonstrations")
    text = models.TextField(help_text="The answer: for a chat project, the assistant message's content.")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="demonstrations",
    )
    # The completion the annotator started from (the one they picked), if any.
    completion = models.ForeignKey(
        Completion, null=True, blank=True, on_delete=models.SET_NULL, related_name="demonstrations"
    )
    # Where it was written: beside a comparison, or for a demonstration task.
    comparison_task = models.ForeignKey(
        ComparisonTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="demonstrations"
    )
    demonstration_task = models.ForeignKey(
        DemonstrationTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="demonstrations"
    )
    time_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time spent writing.")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WRITTEN)
    # sha256 of prompt and answer: re-importing the same file adds nothing.
    content_hash = models.CharField(max_length=64, db_index=True)
    # Lineage: the supervised rounds that trained on it.
    training_runs = models.ManyToManyField(TrainingRun, blank=True, related_name="demonstrations")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["project", "pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="demonstration_not_empty"),
        ]

    def __str__(self):
        return f"demonstration {self.pk} ({self.source})"
