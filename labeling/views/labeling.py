"""htmx views: validate, one service or selector call, render (full page or partial)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling import selectors, services
from labeling.forms import DecisionForm, ImportForm
from labeling.services import parsing
from labeling.selectors.demonstrations import demonstration_due

LABELER = "labeling/label.html#labeler"
DECIDED = "labeling/label.html#decided"


def _project(request, slug):
    project = selectors.project_for_labeling(user=request.user, slug=slug)
    if project is None:
        raise PermissionDenied("You are not an annotator on this project.")
    return project


def _render_state(request, project, error=None, status=200):
    state = services.labeling_state_for_annotator(project=project, annotator=request.user)
    template = LABELER if request.htmx else "labeling/label.html"
    return render(request, template, {"state": state, "project": project, "error": error}, status=status)


def _after_post(request, project, error=None, status=200):
    """htmx: the labeler, with ``status`` when there is an error; plain forms: redirect."""
    if request.htmx:
        return _render_state(request, project, error, status=status if error else 200)
    # Post/redirect/get for plain forms, so a reload never posts twice.
    if error:
        messages.error(request, error)
    return redirect("labeling:label", slug=project.slug)


@require_GET
def project_list(request):
    projects = selectors.projects_with_open_counts(user=request.user)
    return render(request, "labeling/project_list.html", {"projects": projects})


@require_GET
def label(request, slug):
    project = _project(request, slug)
    if not request.htmx and demonstration_due(project=project, annotator=request.user):
        return redirect("labeling:write", slug=project.slug)  # a written answer is asked for next
    return _render_state(request, project)


@require_POST
def decide(request, slug):
    """Save one decision. htmx (label.js) gets the task after next when the page already shows
    the next one (``held``), else the whole labeler; a refused decision answers 409 (invalid:
    400) with the labeler and its error, so the page can name the unsaved task. Plain forms get
    post/redirect/get."""
    project = _project(request, slug)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _after_post(request, project, status=400, error=" ".join(form.errors.get("__all__", []))
                           or "That decision could not be read; please try again.")
    data = form.cleaned_data
    try:
        result = services.comparison_submit(
            project=project,
            annotator=request.user,
            assignment_id=data["assignment"],
            kind=data["action"],
            position=data["position"],
            decision_ms=data["decision_ms"],
            comment=data["comment"],
            held_assignment_id=data["held"],
        )
    except services.LabelingError as exc:
        return _after_post(request, project, status=409, error=str(exc))
    if not request.htmx:
        return redirect("labeling:label", slug=project.slug)
    template = DECIDED if result.state.page_holds_current else LABELER
    return render(request, template, {"state": result.state, "project": project})


@require_POST
def undo(request, slug):
    project = _project(request, slug)
    try:
        services.choice_undo(project=project, annotator=request.user)
    except services.LabelingError as exc:
        return _after_post(request, project, error=str(exc))
    return _after_post(request, project)


@require_http_methods(["GET", "POST"])
def import_data(request, slug):
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can import.")
    project = _project(request, slug)
    result = errors = None
    status = 200
    # Refused before the body is read: an upload over the cap never reaches the disk.
    too_big = request.method == "POST" and parsing.upload_size_error(
        "The upload", parsing.declared_length(request.META))
    if too_big:
        form, errors, status = ImportForm(), [too_big], 413
    else:
        form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and not too_big:
        if form.is_valid():
            upload = form.cleaned_data["file"]
            service = (
                services.prompts_import
                if form.cleaned_data["kind"] == "prompts"
                else services.comparisons_import
            )
            try:
                result = service(project=project, source=upload, name=upload.name)
            except services.ImportValidationError as exc:
                errors, status = exc.errors, 400
        else:
            status = 400
    return render(
        request,
        "labeling/import.html",
        {"project": project, "form": form, "result": result, "errors": errors},
        status=status,
    )
