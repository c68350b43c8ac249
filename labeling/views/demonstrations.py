"""Views for demonstrations: write a better answer beside a comparison (dialog with JavaScript,
a plain page without), demonstration tasks, importing, and the staff's SFT controls."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labeling import selectors, services
from labeling.forms_demonstrations import (
    DemonstrationForm,
    DemonstrationImportForm,
    DemonstrationTaskForm,
    ReferenceForm,
    SFTStartForm,
)
from labeling.models import PolicyVersion, Project
from labeling.selectors import demonstrations as demo_selectors
from labeling.services import demonstration_imports, demonstrations as demo_services
from labeling.services import runs as run_services
from labeling.views.staff import form_errors, staff_form_post

LABELER = "labeling/label.html#labeler"


def _project(request, slug) -> Project:
    project = selectors.project_for_labeling(user=request.user, slug=slug)
    if project is None:
        raise PermissionDenied("You are not an annotator on this project.")
    return project


@require_http_methods(["GET", "POST"])
def demonstrate(request, slug):
    """Write the answer you would have wanted for a task on your screen. With htmx the dialog
    posts here and gets the labeler back (or a 422 with the reason, which the dialog shows,
    keeping the text); without JavaScript this is a page with the same form."""
    project = _project(request, slug)
    form = DemonstrationForm(request.POST or None)
    error = None
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                demo_services.demonstration_write(
                    project=project, annotator=request.user, assignment_id=data["assignment"],
                    text=data["demo_text"], position=data["demo_position"],
                    decision_ms=data["decision_ms"], time_ms=data["demo_ms"],
                )
            except services.LabelingError as exc:
                error = str(exc)
        else:
            error = form_errors(form)
        if error is None:
            if request.htmx:
                state = services.labeling_state_for_annotator(project=project, annotator=request.user)
                return render(request, LABELER, {"state": state, "project": project})
            messages.success(request, "Your answer was saved.")
            return redirect("labeling:label", slug=project.slug)
        if request.htmx:
            return HttpResponse(error, status=422, content_type="text/plain; charset=utf-8")
    assignment = request.POST.get("assignment") or request.GET.get("assignment")
    if not str(assignment or "").isdigit():
        raise Http404("No task given.")
    task = demo_selectors.demonstration_editor(
        project=project, annotator=request.user, assignment_id=int(assignment)
    )
    if task is None and error is None:
        messages.error(request, "That task is no longer yours to answer.")
        return redirect("labeling:label", slug=project.slug)
    start = request.GET.get("start", "")
    picked = int(start) if start.isdigit() else None
    text = request.POST.get("demo_text")
    if text is None and task is not None and picked is not None:
        text = next((c.text for c in task.cards if c.position == picked), "")
    return render(
        request,
        "labeling/demonstrate.html",
        {"project": project, "task": task, "text": text or "", "picked": picked, "error": error,
         "assignment": assignment},
        status=422 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def write(request, slug):
    """Demonstration tasks: the annotator sees a prompt and writes the answer."""
    project = _project(request, slug)
    error = None
    if request.method == "POST":
        form = DemonstrationTaskForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["action"] == "skip":
                    demo_services.demonstration_task_skip(
                        project=project, annotator=request.user, lease_id=data["lease"]
                    )
                else:
                    demo_services.demonstration_task_answer(
                        project=project, annotator=request.user, lease_id=data["lease"],
                        text=data["demo_text"], time_ms=data["demo_ms"],
                    )
                    messages.success(request, "Your answer was saved.")
            except services.LabelingError as exc:
                error = str(exc)
        else:
            error = form_errors(form)
        if error is None:
            if project.demonstration_share < 100 and not demo_selectors.demonstration_due(
                project=project, annotator=request.user
            ):
                return redirect("labeling:label", slug=project.slug)
            return redirect("labeling:write", slug=project.slug)
    lease = demo_services.demonstration_lease_next(project=project, annotator=request.user)
    return render(
        request,
        "labeling/write.html",
        {"project": project, "lease": lease, "error": error,
         "turns": demo_selectors.prompt_turns(lease.task.prompt) if lease else None,
         "text": request.POST.get("demo_text", "") if error else ""},
        status=422 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def demonstrations_import(request, slug):
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can import.")
    project = _project(request, slug)
    form = DemonstrationImportForm(request.POST or None, request.FILES or None)
    result = errors = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = demonstration_imports.demonstrations_import(
                project=project, source=upload, name=upload.name, user=request.user
            )
        except services.ImportValidationError as exc:
            errors = exc.errors
    return render(
        request, "labeling/demonstrations_import.html",
        {"project": project, "form": form, "result": result, "errors": errors},
        status=400 if errors else 200,
    )


def _version(project, pk) -> PolicyVersion | None:
    """The project's policy version a form names by pk (empty: none), else 404."""
    return get_object_or_404(PolicyVersion, pk=pk, project=project) if pk else None


@require_POST
def sft_start(request, slug):
    def start(project, data):
        run_services.run_start(
            project=project, kind="sft", trigger="staff: supervised round (SFT)",
            user=request.user, base_policy=_version(project, data["base"]),
        )

    return staff_form_post(request, slug, SFTStartForm, start,
                           refused=(run_services.RunConflict, run_services.RunNotPossible))


@require_POST
def reference_set(request, slug):
    def set_reference(project, data):
        version = _version(project, data["version"])
        demo_services.reference_policy_set(project=project, version=version)
        return f"ρ is now policy v{version.number} (SFT)." if version else "ρ is the initial policy again."

    return staff_form_post(request, slug, ReferenceForm, set_reference,
                           refused=(demo_services.ReferenceNotAllowed,))
