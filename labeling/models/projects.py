"""Projects, their prompts, and the policy versions that sample for them."""

from django.conf import settings
from django.db import models
from django.db.models import Q


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
