"""Staff views for label quality: the Quality page and pausing annotators."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from labeling.models import Project
from labeling.selectors.quality import quality_report
from labeling.services.queue import annotator_pause


def _staff_project(request, slug) -> Project:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can see label quality.")
    return get_object_or_404(Project, slug=slug)


@require_GET
def quality(request, slug):
    project = _staff_project(request, slug)
    return render(request, "labeling/quality.html", {"project": project, "report": quality_report(project=project)})


@require_POST
def annotator_pause_toggle(request, slug, user_id):
    project = _staff_project(request, slug)
    annotator = get_object_or_404(get_user_model(), pk=user_id)
    annotator_pause(project=project, annotator=annotator, paused=request.POST.get("paused") == "1")
    return redirect("labeling:quality", slug=project.slug)
