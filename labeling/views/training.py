"""Staff views for the training loop: dashboard, start and cancel rounds, live progress."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from labeling import selectors
from labeling.access import project_for_staff
from labeling.forms import RunStartForm
from labeling.models import TrainingRun
from labeling.selectors.learning import learning_panel
from labeling.services import runs as run_services

ACTIVE_RUN = "labeling/dashboard.html#active-run"


@require_GET
def dashboard(request, slug):
    project = project_for_staff(request, slug)
    if request.htmx:
        run = selectors.active_run(project=project)
        response = render(request, ACTIVE_RUN, {"run": run, "project": project})
        shown = request.GET.get("shown", "")
        if shown and shown != str(run.pk if run else ""):
            # The round the page was showing has ended: reload for the new history and charts.
            response.headers["HX-Refresh"] = "true"
        return response
    board = selectors.dashboard(project=project)
    automatic = run_services.automatic_state(project=project)
    learning = learning_panel(project=project)
    return render(request, "labeling/dashboard.html",
                  {"board": board, "project": project, "automatic": automatic, "learning": learning})


@require_POST
def run_start(request, slug):
    project = project_for_staff(request, slug)
    form = RunStartForm(request.POST)
    error = None
    if form.is_valid():
        action = form.cleaned_data["action"]
        try:
            run_services.run_start(
                project=project,
                kind="reward" if action == "loop" else action,
                trigger=f"staff: {dict(RunStartForm.ACTIONS)[action].lower()}",
                user=request.user,
                continue_loop=action == "loop",
            )
        except (run_services.RunConflict, run_services.RunNotPossible) as exc:
            error = str(exc)
    else:
        error = "Unknown action."
    return _active_run_response(request, project, error)


def _active_run_response(request, project, error=None):
    if not request.htmx:  # plain form post: back to the dashboard
        if error:
            messages.error(request, error)
        return redirect("labeling:dashboard", slug=project.slug)
    run = selectors.active_run(project=project)
    # 200 even for a refused start: htmx swaps only successful responses, and the message
    # belongs in the panel.
    return render(request, ACTIVE_RUN, {"run": run, "project": project, "error": error})


@require_POST
def run_cancel(request, slug, run_id):
    project = project_for_staff(request, slug)
    run = get_object_or_404(TrainingRun, pk=run_id, project=project)
    run_services.run_cancel(run=run)
    return _active_run_response(request, project)


@require_POST
def run_end_stalled(request, slug, run_id):
    """End a running round whose worker went silent; works while beat is down."""
    project = project_for_staff(request, slug)
    run = get_object_or_404(TrainingRun, pk=run_id, project=project)
    try:
        run_services.run_end_stalled(run=run, user=request.user)
    except run_services.RunNotStalled as exc:
        return _active_run_response(request, project, str(exc))
    return _active_run_response(request, project)


@require_POST
def loop_resume(request, slug):
    project = project_for_staff(request, slug)
    run_services.loop_resume(project=project)
    return redirect("labeling:dashboard", slug=project.slug)
