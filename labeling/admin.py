from django.contrib import admin

from labeling.models import (
    Assignment,
    Choice,
    ComparisonTask,
    Completion,
    PolicyVersion,
    Project,
    Prompt,
)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "annotations_per_task", "lease_seconds", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["annotators"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "short_text", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["text"]
    readonly_fields = ["text_hash"]

    @admin.display(description="text")
    def short_text(self, obj):
        return obj.text[:80]


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "parent", "artifact_path", "created_at"]
    list_filter = ["project"]


class CompletionInline(admin.TabularInline):
    model = Completion
    extra = 0
    max_num = 4
    can_delete = False


@admin.register(ComparisonTask)
class ComparisonTaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "generation", "priority", "annotations_wanted", "created_at"]
    list_filter = ["project", "status", "generation"]
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
