"""Projects, prompts, policy versions, four-way tasks, leases and choices."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce

COMPLETIONS_PER_TASK = 4


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    instructions = models.TextField(blank=True, help_text="Shown to annotators above every task.")
    annotations_per_task = models.PositiveSmallIntegerField(
        default=1, help_text="Overlap: how many distinct annotators should judge each task."
    )
    lease_seconds = models.PositiveIntegerField(
        default=600, help_text="How long a task stays reserved for the annotator it was handed to."
    )
    annotators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="labeling_projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # --- label quality (staff settings) ---
    overlap_share = models.PositiveSmallIntegerField(
        default=100,
        help_text="Percent of new tasks that get the full overlap; the rest get one annotator. "
        "Agreement is measured on that sample without paying for every task k times.",
    )
    gold_rate = models.PositiveSmallIntegerField(
        default=0, help_text="Percent of hand-outs that are gold tasks (known best), when available."
    )
    gold_min_accuracy = models.FloatField(
        default=0.5, help_text="Annotators below this gold accuracy are flagged (and paused if set)."
    )
    gold_min_answers = models.PositiveSmallIntegerField(
        default=5, help_text="Gold answers needed before an annotator's accuracy is judged."
    )
    gold_auto_pause = models.BooleanField(
        default=False, help_text="Pause annotators automatically when they fall below the threshold."
    )
    paused_annotators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="paused_projects"
    )

    class QueueOrder(models.TextChoices):
        NEWEST = "newest", "Newest policy first"
        UNCERTAINTY = "uncertainty", "Most uncertain for the reward model first"

    queue_order = models.CharField(max_length=12, choices=QueueOrder.choices, default=QueueOrder.NEWEST)

    class PromptFormat(models.TextChoices):
        TEXT = "text", "Text: a prompt is one string, answers continue it"
        CHAT = "chat", "Chat: a prompt is a conversation, answers are assistant messages"

    prompt_format = models.CharField(
        max_length=4, choices=PromptFormat.choices, default=PromptFormat.TEXT,
        help_text="Chat projects sample through the policy's chat template and show Markdown.",
    )

    # --- the training loop (staff settings) ---
    policy_source = models.CharField(
        max_length=500,
        blank=True,
        help_text="The initial policy ρ: a hub id or a folder readable by the workers. "
        "Every reward round normalizes on it and every policy round is KL-penalized against it.",
    )
    current_policy = models.ForeignKey(
        "labeling.PolicyVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    current_reward_model = models.ForeignKey(
        "labeling.RewardModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    loop_enabled = models.BooleanField(
        default=False, help_text="Start a reward round automatically after every N new choices."
    )
    loop_every_choices = models.PositiveIntegerField(
        default=64, help_text="N: new best-of-four choices that trigger a reward round."
    )
    loop_sample_prompts = models.PositiveIntegerField(
        default=32, help_text="M: prompts sampled (four completions each) after a policy round."
    )
    queue_low_water = models.PositiveIntegerField(
        default=16, help_text="Sample more tasks when fewer than this many are open (0: never)."
    )
    retire_after_versions = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="Retire open tasks sampled by a policy more than K versions older than the "
        "current one (empty: keep them).",
    )
    # Set when automatic rounds failed QUARTET_LOOP_MAX_FAILURES times in a row: the loop and
    # the low-water refill stop starting rounds until staff resume them.
    loop_paused_reason = models.TextField(blank=True)
    # Automatic failures are counted from here (staff resuming the loop resets the count).
    loop_failures_since = models.DateTimeField(null=True, blank=True)
    # --- demonstrations and supervised rounds (staff settings) ---
    demonstration_share = models.PositiveSmallIntegerField(
        default=0,
        help_text="Percent of hand-outs that ask for a written answer instead of a choice "
        "(100: demonstrations only).",
    )
    reference_policy = models.ForeignKey(
        "labeling.PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="ρ for what follows, when not the initial policy (e.g. an SFT version): reward "
        "rounds start and normalize from it, policy rounds are KL-penalized against it.",
    )
    sft_config = models.JSONField(
        default=dict, blank=True, help_text="Overrides of training.config.SupervisedConfig fields."
    )
    reward_config = models.JSONField(
        default=dict, blank=True, help_text="Overrides of training.config.RewardConfig fields."
    )
    policy_config = models.JSONField(
        default=dict, blank=True, help_text="Overrides of training.config.PolicyConfig fields."
    )
    sample_config = models.JSONField(
        default=dict, blank=True, help_text="Overrides of training.config.SampleConfig fields."
    )

    # --- human evaluation (staff settings; see labeling/services/evaluation.py) ---
    evaluation_split_size = models.PositiveIntegerField(
        default=0, help_text="Prompts held out for evaluation rounds (drawn from prompts no task used "
        "yet); no reward, policy or SFT round trains on them.",
    )
    evaluation_rate = models.PositiveSmallIntegerField(
        default=20, help_text="Percent of hand-outs that are evaluation tasks, when any are open.",
    )
    evaluation_prompts_per_round = models.PositiveIntegerField(
        default=32, help_text="Evaluation prompts per evaluation round (two answers per version each).",
    )
    evaluation_auto = models.BooleanField(
        default=False, help_text="Evaluate every new policy version against ρ after its policy round.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(annotations_per_task__gte=1), name="project_overlap_at_least_one"
            ),
            models.CheckConstraint(condition=Q(lease_seconds__gte=10), name="project_lease_min"),
            models.CheckConstraint(condition=Q(overlap_share__lte=100), name="project_overlap_share_pct"),
            models.CheckConstraint(condition=Q(gold_rate__lte=100), name="project_gold_rate_pct"),
            models.CheckConstraint(
                condition=Q(demonstration_share__lte=100), name="project_demonstration_share_pct"
            ),
            models.CheckConstraint(
                condition=Q(evaluation_rate__lte=100), name="project_evaluation_rate_pct"
            ),
        ]

    def __str__(self):
        return self.name


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    # A chat prompt's text is training.chat.prompt_key(messages), so text_hash and its unique
    # constraint de-duplicate conversations exactly as they do text.
    text = models.TextField()
    # Hash of the text: duplicate detection on import without comparing huge TEXT columns.
    text_hash = models.CharField(max_length=64)
    # Chat prompts only (null for text): the validated conversation, and each turn's content
    # rendered as sanitized Markdown once, when the prompt is created.
    messages = models.JSONField(null=True, blank=True)
    messages_html = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Held out for human evaluation: never a training input (see labeling/selectors).
    is_evaluation = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "text_hash"], name="prompt_unique_per_project")
        ]

    def __str__(self):
        if self.messages:  # a chat prompt: its last (user) turn, not the JSON key
            return self.messages[-1]["content"][:60]
        return self.text[:60]


class PolicyVersion(models.Model):
    class Kind(models.TextChoices):
        POLICY = "policy", "Initial or policy round"
        SFT = "sft", "Supervised round (SFT)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="policy_versions")
    number = models.PositiveIntegerField()
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    artifact_path = models.CharField(max_length=500, blank=True)
    reward_model = models.ForeignKey(
        "labeling.RewardModelVersion", null=True, blank=True, on_delete=models.PROTECT,
        related_name="policies", help_text="The reward model this version was tuned on.",
    )
    run = models.OneToOneField(
        "labeling.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="produced_policy",
    )
    metrics = models.JSONField(default=dict, blank=True)
    kind = models.CharField(max_length=6, choices=Kind.choices, default=Kind.POLICY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="policy_number_unique")
        ]

    def __str__(self):
        return f"{self.project.slug} v{self.number}"


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
