"""Output serializers shared by several endpoints, and the filter parameters they accept.
Input serializers that belong to one endpoint live nested in its view."""

from rest_framework import serializers

from labeling.models import (
    Choice,
    ComparisonTask,
    PolicyVersion,
    Project,
    Prompt,
    RewardModelVersion,
    TrainingRun,
)
from labeling.services.exports import FORMATS, STORED_FILE_FORMATS, ExportFilters


# Largest values the database columns hold: bigger ones are refused as invalid (400) instead of
# overflowing the query (500).
INT_MAX = 2**31 - 1  # integer columns: policy version numbers, user ids
BIGINT_MAX = 2**63 - 1  # Quartet's own ids


class Error(serializers.Serializer):
    detail = serializers.CharField()


class ImportErrors(serializers.Serializer):
    """A refused import: ``errors`` names each bad row and field; a malformed request names the
    request's fields instead ({"file": ["…"]})."""

    detail = serializers.CharField(required=False)
    errors = serializers.ListField(child=serializers.CharField(), required=False,
                                   help_text="'file, line N, field F: problem'")


class ProjectOut(serializers.ModelSerializer):
    open_tasks = serializers.IntegerField(read_only=True)
    current_policy = serializers.IntegerField(source="current_policy.number", allow_null=True, default=None)
    current_reward_model = serializers.IntegerField(
        source="current_reward_model.number", allow_null=True, default=None
    )

    class Meta:
        model = Project
        fields = ["slug", "name", "instructions", "prompt_format", "annotations_per_task", "lease_seconds",
                  "open_tasks", "current_policy", "current_reward_model", "created_at"]


class CardOut(serializers.Serializer):
    slot = serializers.IntegerField(help_text="1–4 as displayed")
    position = serializers.IntegerField(help_text="canonical position 0–3: submit this")
    text = serializers.CharField(help_text="chat projects: the assistant message's content")
    html = serializers.CharField(allow_blank=True, help_text="chat projects: the text as sanitized "
                                 "Markdown (raw HTML off, allowlist), safe to insert; empty for text projects")


class MessageOut(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField()


class TurnOut(MessageOut):
    html = serializers.CharField(help_text="the content as sanitized Markdown")


class TaskViewOut(serializers.Serializer):
    assignment_id = serializers.IntegerField(help_text="the lease: submit, skip and flag name it")
    task_id = serializers.IntegerField()
    prompt = serializers.CharField(help_text="chat projects: a stable JSON key of the conversation; read turns")
    turns = TurnOut(many=True, allow_null=True, help_text="chat projects: the conversation; null for text")
    cards = CardOut(many=True)


class ProgressOut(serializers.Serializer):
    done_today = serializers.IntegerField()
    done_total = serializers.IntegerField()
    tasks_left = serializers.IntegerField(help_text="open tasks in the project, counted up to 100")
    tasks_left_more = serializers.BooleanField(help_text="true when more than tasks_left are open (shown as 100+)")


class LabelingStateOut(serializers.Serializer):
    current = TaskViewOut(allow_null=True, help_text="null when the queue has nothing for you")
    upcoming = TaskViewOut(allow_null=True)
    progress = ProgressOut()
    can_undo = serializers.BooleanField()


class ChoiceOut(serializers.ModelSerializer):
    position = serializers.IntegerField(
        source="completion.position", allow_null=True, default=None,
        help_text="canonical position of the best completion; null for skip and flag",
    )
    task = serializers.IntegerField(source="task_id")
    annotator = serializers.IntegerField(source="annotator_id")

    class Meta:
        model = Choice
        fields = ["id", "task", "annotator", "kind", "position", "display_order", "decision_ms",
                  "comment", "created_at"]


class PromptOut(serializers.ModelSerializer):
    messages = MessageOut(many=True, allow_null=True, read_only=True,
                          help_text="chat projects: the conversation (text is then its JSON key); null for text")

    class Meta:
        model = Prompt
        fields = ["id", "text", "messages", "metadata", "is_evaluation", "created_at"]


class TaskOut(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt.text")
    messages = MessageOut(source="prompt.messages", many=True, allow_null=True, read_only=True,
                          help_text="chat projects: the prompt as a conversation; null for text")
    policy_version = serializers.IntegerField(source="generation", help_text="0: imported")
    completions = serializers.SlugRelatedField(slug_field="text", many=True, read_only=True)
    choices = serializers.IntegerField(source="choice_count", read_only=True)

    class Meta:
        model = ComparisonTask
        fields = ["id", "prompt", "messages", "completions", "status", "policy_version", "priority",
                  "annotations_wanted", "choices", "is_evaluation", "created_at"]


class PolicyOut(serializers.ModelSerializer):
    parent = serializers.IntegerField(source="parent.number", allow_null=True, default=None)
    reward_model = serializers.IntegerField(source="reward_model.number", allow_null=True, default=None)
    run = serializers.IntegerField(source="run_id", allow_null=True)

    class Meta:
        model = PolicyVersion
        fields = ["number", "parent", "reward_model", "run", "artifact_path", "metrics", "created_at"]


class RewardModelOut(serializers.ModelSerializer):
    policy = serializers.IntegerField(source="policy.number", allow_null=True, default=None)
    run = serializers.IntegerField(source="run_id", allow_null=True)

    class Meta:
        model = RewardModelVersion
        fields = ["number", "policy", "run", "gain", "bias", "num_choices", "data_hash", "metrics",
                  "artifact_path", "created_at"]


class RunOut(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = TrainingRun
        fields = ["id", "kind", "status", "continue_loop", "trigger", "progress_step",
                  "progress_total", "percent", "cancel_requested", "summary", "error",
                  "created_at", "started_at", "finished_at"]


class RunDetailOut(RunOut):
    class Meta(RunOut.Meta):
        fields = [*RunOut.Meta.fields, "metrics", "config", "log_tail"]


class ChoiceFilters(serializers.Serializer):
    """Which choices: the same filters for listing them and for exporting them."""

    since = serializers.DateTimeField(required=False, help_text="made at or after")
    until = serializers.DateTimeField(required=False, help_text="made before")
    policy_version = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=INT_MAX), required=False,
        help_text="sampling policy version numbers (0: imported tasks)",
    )
    annotator = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=INT_MAX), required=False,
        help_text="user ids",
    )
    include_skipped = serializers.BooleanField(default=False)
    include_flagged = serializers.BooleanField(default=False)
    agreeing_only = serializers.BooleanField(
        default=False, help_text="only tasks judged by 2+ annotators with a strict-majority consensus"
    )
    min_gold_accuracy = serializers.FloatField(
        required=False, min_value=0, max_value=1,
        help_text="leave out annotators whose gold accuracy is below this share",
    )
    evaluation = serializers.ChoiceField(
        choices=["exclude", "only", "include"], default="exclude",
        help_text="evaluation rounds' choices: left out (default), alone, or with the others",
    )


def export_filters(data: dict) -> ExportFilters:
    return ExportFilters(
        since=data.get("since"),
        until=data.get("until"),
        policy_versions=tuple(data.get("policy_version", ())),
        annotator_ids=tuple(data.get("annotator", ())),
        include_skipped=data["include_skipped"],
        include_flagged=data["include_flagged"],
        agreeing_only=data["agreeing_only"],
        min_gold_accuracy=data.get("min_gold_accuracy"),
        evaluation=data.get("evaluation", "exclude"),
    )


class ExportIn(ChoiceFilters):
    format = serializers.ChoiceField(choices=FORMATS, help_text="listwise or pairwise rows")
    file_format = serializers.ChoiceField(choices=STORED_FILE_FORMATS, default="jsonl")
    reveal_annotators = serializers.BooleanField(default=False, help_text="usernames, not pseudonyms")


class ExportCountsOut(serializers.Serializer):
    choices = serializers.IntegerField()
    rows = serializers.IntegerField()
    by_kind = serializers.DictField(child=serializers.IntegerField())


class ExportOut(serializers.Serializer):
    """An export's manifest, as written beside the file."""

    file = serializers.CharField(help_text="the name to download it by")
    format = serializers.CharField()
    file_format = serializers.CharField()
    quartet_version = serializers.CharField()
    schema_version = serializers.IntegerField()
    project = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    annotators = serializers.CharField()
    prompt_format = serializers.CharField(required=False, help_text="'chat' for conversational exports")
    filters = serializers.DictField()
    counts = ExportCountsOut()
    created = serializers.CharField()
