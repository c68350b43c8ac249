"""Staff actions for human evaluation on the training dashboard: start an evaluation round,
grow the held-out split. Both post a form and return to the dashboard with a message."""

from django import forms
from django.contrib import messages
from django.views.decorators.http import require_POST

from labeling.services import evaluation as evaluation_services
from labeling.services.runs import RunConflict, RunNotPossible
from labeling.views.staff import staff_form_post


class EvaluationStartForm(forms.Form):
    candidate = forms.IntegerField(min_value=1)
    baseline = forms.IntegerField(min_value=0, initial=0)
    prompts = forms.IntegerField(min_value=1, max_value=100_000, required=False)


class SplitForm(forms.Form):
    size = forms.IntegerField(min_value=0, max_value=1_000_000)


@require_POST
def evaluation_start(request, slug):
    def start(project, data):
        evaluation = evaluation_services.evaluation_start(
            project=project, candidate_number=data["candidate"], baseline_number=data["baseline"],
            prompts=data["prompts"], trigger="staff: evaluate", user=request.user,
        )
        return f"Evaluation round #{evaluation.run_id} queued on {evaluation.num_prompts} prompts."

    return staff_form_post(request, slug, EvaluationStartForm, start, refused=(RunConflict, RunNotPossible),
                           invalid="Evaluation not started: ")


@require_POST
def evaluation_split(request, slug):
    def grow(project, data):
        size = data["size"]
        held_out = evaluation_services.evaluation_split_size_set(project=project, size=size)
        return (messages.SUCCESS if held_out >= size else messages.WARNING,
                f"{held_out} prompts are held out for evaluation (asked: {size}; "
                "only prompts no task has used can be held out).")

    return staff_form_post(request, slug, SplitForm, grow, invalid="Split unchanged: ")
