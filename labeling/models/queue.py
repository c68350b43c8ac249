"""The labeling queue: four-way comparison tasks, their completions, leases and choices."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce

from labeling.models.projects import PolicyVersion, Project, Prompt

COMPLETIONS_PER_TASK = 4

class ComparisonTask(models.Model):
    class Status(models.TextChoices):
        # A draft is being assembled; the database refuses to open it without exactly four
        # completions (triggers in migration 0002).
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        COMPLETE = "complete", "Complete"
        RETIRED = "retired", "Retired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tasks")
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # The sampling policy's version number (0 when imported): newest versions are served first.
    # Kept on the row, not read through the FK, so the queue's ORDER BY is one index scan.
    generation = models.PositiveIntegerField(default=0)
    priority = models.IntegerField(default=0, help_text="Higher is served first within a policy version.")
    # sha256 of prompt and the four completions: re-importing the same file adds nothing.
    content_hash = models.CharField(max_length=64, db_index=True)
    # Copied from the project when the task is created so the queue query needs no join.
    annotations_wanted = models.PositiveSmallIntegerField(default=1)
    # Gold tasks have a known best completion; they are mixed into every annotator's queue and
    # never complete.
    is_gold = models.BooleanField(default=False)
    gold_position = models.PositiveSmallIntegerField(null=True, blank=True)
    # Evaluation tasks mix two policy versions (labeling.models.evaluation.EvaluationItem says
    # which slot is whose); they are handed out at the project's evaluation rate and their
    # choices never train anything.
    is_evaluation = models.BooleanField(default=False)
    # Entropy (nats) of the current reward model's softmax over the four completions; the
    # uncertainty-first queue serves the highest first.
    uncertainty = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(is_gold=False) & Q(gold_position__isnull=True))
                | (Q(is_gold=True) & Q(gold_position__gte=0) & Q(gold_position__lt=COMPLETIONS_PER_TASK)),
                name="task_gold_has_answer",
            )
        ]
        # Both indexes end in the exact ORDER BY of the hand-out (labeling/queue_sql.py), so
        # PostgreSQL walks the index and stops at LIMIT instead of sorting every open task.
        indexes = [
            models.Index(
                "project",
                "status",
                Coalesce("uncertainty", models.Value(-1.0)).desc(),
                models.F("generation").desc(),
                models.F("priority").desc(),
                "created_at",
                "id",
                name="task_uncertainty_order",
            ),
            models.Index(
                "project",
                "status",
                models.F("generation").desc(),
                models.F("priority").desc(),
                "created_at",
                "id",
                name="task_queue_order",
            ),
            # "Is an evaluation task open?" on every hand-out, without scanning the queue.
            models.Index(
                fields=["project", "status"], condition=Q(is_evaluation=True), name="task_evaluation_open"
            ),
        ]

    def __str__(self):
        return f"task {self.pk} ({self.status})"


class Completion(models.Model):
    task = models.ForeignKey(ComparisonTask, on_delete=models.CASCADE, related_name="completions")
    position = models.PositiveSmallIntegerField(help_text="Canonical position 0–3, as sampled.")
    text = models.TextField()  # a chat answer: the assistant message's content
    # Chat projects: the text rendered as sanitized Markdown when the completion is created, so
    # serving a task never renders. Empty for text projects (shown as plain text).
    html = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["task", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "position"], name="completion_position_unique"),
            models.CheckConstraint(
                condition=Q(position__gte=0) & Q(position__lt=COMPLETIONS_PER_TASK),
                name="completion_position_range",
            ),
        ]

    def __str__(self):
        return f"{self.task_id}#{self.position}"


class Assignment(models.Model):
    """A lease: the task is reserved for this annotator until expires_at.

    One row per (task, annotator), so nobody is handed the same task twice.
    """

    class State(models.TextChoices):
        LEASED = "leased", "Leased"
        DONE = "done", "Done"  # chosen or flagged: counts toward annotations_wanted
        SKIPPED = "skipped", "Skipped"  # frees the slot for someone else

    task = models.ForeignKey(ComparisonTask, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=8, choices=State.choices, default=State.LEASED)
    # The four canonical positions in the order this annotator sees them, e.g. [2, 0, 3, 1].
    display_order = models.JSONField()
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="assignment_once_per_annotator")
        ]
        indexes = [
            models.Index(fields=["task", "state", "expires_at"], name="assignment_busy"),
            models.Index(fields=["annotator", "project", "state"], name="assignment_pending"),
        ]

    def __str__(self):
        return f"{self.annotator} ← task {self.task_id} ({self.state})"


class Choice(models.Model):
    class Kind(models.TextChoices):
        BEST = "best", "Best of four"
        SKIP = "skip", "Skipped"
        FLAG = "flag", "Flagged: all four broken or unsafe"

    task = models.ForeignKey(ComparisonTask, on_delete=models.CASCADE, related_name="choices")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="choices"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="choices")
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.BEST)
    completion = models.ForeignKey(
        Completion, null=True, blank=True, on_delete=models.PROTECT, related_name="choices"
    )
    display_order = models.JSONField(help_text="Canonical positions in the order shown.")
    decision_ms = models.PositiveIntegerField(help_text="Time from display to decision.")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="choice_once_per_annotator"),
            models.CheckConstraint(
                condition=(Q(kind="best") & Q(completion__isnull=False))
                | (~Q(kind="best") & Q(completion__isnull=True)),
                name="choice_best_has_completion",
            ),
        ]
        indexes = [models.Index(fields=["annotator", "project", "created_at"], name="choice_progress")]

    def __str__(self):
        return f"{self.annotator} {self.kind} task {self.task_id}"
