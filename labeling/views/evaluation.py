"""Staff actions for human evaluation on the training dashboard: start an evaluation round,
grow the held-out split. Both post a form and return to the dashboard with a message."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from labeling.access import project_for_staff
from labeling.services import evaluation as evaluation_services
from labeling.services.runs import RunConflict, RunNotPossible


class EvaluationStartForm(forms.Form):
    candidate = forms.IntegerField(min_value=1)
    baseline = forms.IntegerField(min_value=0, initial=0)
    prompts = forms.IntegerField(min_value=1, max_value=100_000, required=False)


class SplitForm(forms.Form):
    size = forms.IntegerField(min_value=0, max_value=1_000_000)


def _errors(form) -> str:
    return "; ".join(f"{field}: {' '.join(errs)}" for field, errs in form.errors.items())


@require_POST
def evaluation_start(request, slug):
    project = project_for_staff(request, slug)
    form = EvaluationStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Evaluation not started: {_errors(form)}")
        return redirect("labeling:dashboard", slug=project.slug)
    data = form.cleaned_data
    try:
        evaluation = evaluation_services.evaluation_start(
            project=project, candidate_number=data["candidate"], baseline_number=data["baseline"],
            prompts=data["prompts"], trigger="staff: evaluate", user=request.user,
        )
    except (RunConflict, RunNotPossible) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Evaluation round #{evaluation.run_id} queued on {evaluation.num_prompts} prompts.")
    return redirect("labeling:dashboard", slug=project.slug)


@require_POST
def evaluation_split(request, slug):
    project = project_for_staff(request, slug)
    form = SplitForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Split unchanged: {_errors(form)}")
        return redirect("labeling:dashboard", slug=project.slug)
    size = form.cleaned_data["size"]
    held_out = evaluation_services.evaluation_split_size_set(project=project, size=size)
    level = messages.SUCCESS if held_out >= size else messages.WARNING
    messages.add_message(request, level, f"{held_out} prompts are held out for evaluation (asked: {size}; "
                         "only prompts no task has used can be held out).")
    return redirect("labeling:dashboard", slug=project.slug)
