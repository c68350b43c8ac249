"""The staff export page: choose a format and filters, download the file; earlier exports listed."""

from datetime import datetime, time, timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from labeling import selectors
from labeling.services import exports

INT_MAX = 2**31 - 1


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[
        ("listwise", "Listwise: prompt, four completions, best (Quartet's reward round)"),
        ("pairwise", "Pairwise: prompt, chosen, rejected (TRL RewardTrainer, DPOTrainer)"),
    ])
    file_format = forms.ChoiceField(choices=[("jsonl", "JSONL"), ("parquet", "Parquet")], label="File")
    since = forms.DateField(required=False, label="From (day)", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To (day, included)",
                            widget=forms.DateInput(attrs={"type": "date"}))
    # Field names as in the API (ChoiceFilters), so a script can use the same ones on both.
    policy_version = forms.CharField(required=False, label="Policy versions",
                                      help_text="Comma-separated numbers; 0 = imported tasks. Empty: all.")
    annotator = forms.ModelMultipleChoiceField(queryset=None, required=False, label="Annotators",
                                                help_text="Empty: everyone.")
    include_skipped = forms.BooleanField(required=False, label="Include skipped (listwise only)")
    include_flagged = forms.BooleanField(required=False, label="Include flagged (listwise only)")
    agreeing_only = forms.BooleanField(
        required=False, label="Only tasks whose annotators agree (two or more, strict majority)"
    )
    min_gold_accuracy = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Leave out annotators below this gold accuracy",
        help_text="0–1, e.g. 0.6; counts once an annotator has the project's minimum of gold answers.",
    )
    evaluation = forms.ChoiceField(choices=[
        ("exclude", "Leave out evaluation rounds' choices (training preferences only)"),
        ("only", "Only evaluation rounds' choices"),
        ("include", "Both"),
    ], initial="exclude", required=False, label="Evaluation choices")
    reveal_annotators = forms.BooleanField(required=False, label="Usernames instead of pseudonyms")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["annotator"].queryset = project.annotators.order_by("username")

    def clean(self):
        data = super().clean()
        unknown = sorted(set(self.data) - set(self.fields) - {"csrfmiddlewaretoken"})
        if unknown:
            raise forms.ValidationError(f"Unknown filter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.")
        return data

    def clean_policy_version(self):
        text = ",".join(self.data.getlist("policy_version")).replace(" ", "")
        try:
            numbers = tuple(int(part) for part in text.split(",") if part)
        except ValueError:
            raise forms.ValidationError("Whole numbers separated by commas, e.g. 0, 2, 3.") from None
        if any(not 0 <= n <= INT_MAX for n in numbers):  # an integer column
            raise forms.ValidationError(f"Policy versions are between 0 and {INT_MAX}.")
        return numbers

    def export_filters(self) -> exports.ExportFilters:
        data = self.cleaned_data

        def day_start(day):
            return timezone.make_aware(datetime.combine(day, time.min)) if day else None

        return exports.ExportFilters(
            since=day_start(data["since"]),
            until=day_start(data["until"] + timedelta(days=1)) if data["until"] else None,
            policy_versions=data["policy_version"],
            annotator_ids=tuple(user.pk for user in data["annotator"]),
            include_skipped=data["include_skipped"],
            include_flagged=data["include_flagged"],
            agreeing_only=data["agreeing_only"],
            min_gold_accuracy=data["min_gold_accuracy"],
            evaluation=data["evaluation"] or "exclude",
        )


def _download(path):
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name,
                        content_type="application/octet-stream")


@require_http_methods(["GET", "POST"])
def export_data(request, slug):
    """GET: the form and earlier exports (``?file=NAME`` downloads one). POST: export and download."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can export.")
    project = selectors.project_for_labeling(user=request.user, slug=slug)
    if project is None:
        raise Http404("No such project.")
    if request.method == "GET" and "file" in request.GET:
        path = exports.export_stored_path(project=project, name=request.GET["file"])
        if path is None:
            raise Http404("No such export.")
        return _download(path)
    form = ExportForm(request.POST or None, project=project)
    error = None
    status = 400 if request.method == "POST" and not form.is_valid() else 200
    if status == 200 and request.method == "POST":
        try:
            result = exports.preferences_export_stored(
                project=project, format=form.cleaned_data["format"],
                file_format=form.cleaned_data["file_format"], filters=form.export_filters(),
                reveal_annotators=form.cleaned_data["reveal_annotators"],
            )
        except exports.ExportError as exc:
            error = str(exc)
        else:
            return _download(result.path)
    return render(request, "labeling/export.html", {
        "project": project, "form": form, "error": error,
        "stored": exports.exports_stored(project=project)[:20],
    }, status=400 if error else status)
