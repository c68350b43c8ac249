"""Staff views for label quality: the Quality page and pausing annotators."""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from labeling.access import project_for_staff
from labeling.selectors.quality import quality_report
from labeling.services.queue import annotator_pause


@require_GET
def quality(request, slug):
    project = project_for_staff(request, slug)
    return render(request, "labeling/quality.html", {"project": project, "report": quality_report(project=project)})


@require_POST
def annotator_pause_toggle(request, slug, user_id):
    project = project_for_staff(request, slug)
    annotator = get_object_or_404(get_user_model(), pk=user_id)
    annotator_pause(project=project, annotator=annotator, paused=request.POST.get("paused") == "1")
    return redirect("labeling:quality", slug=project.slug)
