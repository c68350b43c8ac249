from django import forms
from django.contrib import admin, messages

from labeling.models import (
    Assignment,
    Choice,
    ComparisonTask,
    Completion,
    Evaluation,
    PolicyVersion,
    Project,
    Prompt,
    RewardModelVersion,
    TrainingRun,
)
from labeling.services import runs as run_services
from training.config import SettingsError, validate_round_settings


def _start_action(kind: str, label: str, continue_loop: bool = False):
    def action(modeladmin, request, queryset):
        for project in queryset:
            try:
                run = run_services.run_start(
                    project=project, kind=kind, trigger=f"admin: {label.lower()}",
                    user=request.user, continue_loop=continue_loop,
                )
            except (run_services.RunConflict, run_services.RunNotPossible) as exc:
                modeladmin.message_user(request, f"{project}: {exc}", messages.ERROR)
            else:
                modeladmin.message_user(request, f"{project}: {run} queued.", messages.SUCCESS)

    action.__name__ = f"start_{kind}{'_loop' if continue_loop else ''}"
    return admin.action(description=label)(action)


class ProjectAdminForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = "__all__"

    def clean_policy_source(self):
        source = self.cleaned_data["policy_source"].strip()
        if problem := run_services.policy_source_problem(source):
            raise forms.ValidationError(problem)
        return source

    def _round_settings(self, field: str, kind: str) -> dict:
        # Checked here, when staff save them, not first on a worker as a failed round.
        try:
            return validate_round_settings(kind, self.cleaned_data[field])
        except SettingsError as exc:
            raise forms.ValidationError(exc.messages()) from None

    def clean_sft_config(self):
        return self._round_settings("sft_config", "sft")

    def clean_reward_config(self):
        return self._round_settings("reward_config", "reward")

    def clean_policy_config(self):
        return self._round_settings("policy_config", "policy")

    def clean_sample_config(self):
        return self._round_settings("sample_config", "sampling")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = ["name", "slug", "annotations_per_task", "lease_seconds", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["annotators"]
    # Read-only: only a succeeded run makes a version current; a form saved while a round
    # finishes must not write back the versions it was opened with.
    readonly_fields = ["current_policy", "current_reward_model"]

    def get_readonly_fields(self, request, obj=None):
        # A project's prompts are all of one kind: the format is fixed once it has any.
        if obj is not None and obj.prompts.exists():
            return [*self.readonly_fields, "prompt_format"]
        return self.readonly_fields

    actions = [
        _start_action("reward", "Train reward model"),
        _start_action("policy", "Update policy"),
        _start_action("sampling", "Sample new tasks"),
        _start_action("reward", "Run the loop once", continue_loop=True),
    ]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "short_text", "project", "is_evaluation", "created_at"]
    list_filter = ["project", "is_evaluation"]
    search_fields = ["text"]
    readonly_fields = ["text_hash"]

    @admin.display(description="text")
    def short_text(self, obj):
        return obj.text[:80]


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "parent", "reward_model", "artifact_path", "created_at"]
    list_filter = ["project"]
    readonly_fields = ["run", "metrics"]


class CompletionInline(admin.TabularInline):
    model = Completion
    extra = 0
    max_num = 4
    can_delete = False


@admin.register(ComparisonTask)
class ComparisonTaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "generation", "priority", "annotations_wanted", "created_at"]
    list_filter = ["project", "status", "generation", "is_evaluation"]
    search_fields = ["prompt__text"]
    raw_id_fields = ["prompt", "policy_version"]
    readonly_fields = ["content_hash"]
    inlines = [CompletionInline]
    list_select_related = ["project"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["task", "annotator", "project", "state", "leased_at", "expires_at"]
    list_filter = ["project", "state", "annotator"]
    raw_id_fields = ["task"]
    list_select_related = ["annotator", "project"]


@admin.register(Choice)
class ChoiceAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "annotator", "kind", "chosen_position", "display_order", "decision_ms", "created_at"]
    list_filter = ["project", "kind", "annotator"]
    date_hierarchy = "created_at"
    raw_id_fields = ["task", "completion"]
    list_select_related = ["annotator", "completion"]

    @admin.display(description="best (canonical)")
    def chosen_position(self, obj):
        return obj.completion.position if obj.completion else None


@admin.register(RewardModelVersion)
class RewardModelVersionAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "num_choices", "heldout_agreement", "gain", "bias", "created_at"]
    list_filter = ["project"]
    readonly_fields = ["data_hash", "run", "policy"]

    @admin.display(description="held-out agreement")
    def heldout_agreement(self, obj):
        return obj.metrics.get("heldout_agreement")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "trigger", "progress_step", "progress_total",
                    "started_at", "finished_at"]
    list_filter = ["project", "kind", "status"]
    readonly_fields = ["metrics", "summary", "log_tail", "error", "celery_task_id", "heartbeat_at"]
    raw_id_fields = ["base_policy", "base_reward_model", "triggered_by"]
    exclude = ["choices"]
    actions = ["cancel_runs"]

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request, queryset):
        for run in queryset:
            run_services.run_cancel(run=run)


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    """Read-only: evaluation rounds are started from the dashboard, the API or evaluate_policy."""

    list_display = ["id", "project", "candidate", "baseline", "num_prompts", "predicted_win_rate", "created_at"]
    list_filter = ["project"]
    readonly_fields = ["project", "run", "candidate", "baseline", "num_prompts", "reward_model",
                       "predicted_win_rate"]

    def has_add_permission(self, request):
        return False
