"""Forms for demonstrations: writing a better answer, answering demonstration tasks, SFT."""

from django import forms

from labeling.models import COMPLETIONS_PER_TASK
from labeling.services.demonstrations import MAX_ANSWER_CHARS


class DemonstrationForm(forms.Form):
    """A better answer beside a comparison. ``demo_position`` is the canonical position the
    annotator picked (the editor started from it); empty when they picked none."""

    assignment = forms.IntegerField(min_value=1)
    demo_text = forms.CharField(max_length=MAX_ANSWER_CHARS, strip=False, required=False)
    demo_position = forms.IntegerField(min_value=0, max_value=COMPLETIONS_PER_TASK - 1, required=False)
    decision_ms = forms.IntegerField(min_value=0, required=False)
    demo_ms = forms.IntegerField(min_value=0, required=False)


class DemonstrationTaskForm(forms.Form):
    ACTIONS = [("answer", "Save answer"), ("skip", "Skip")]
    lease = forms.IntegerField(min_value=1)
    action = forms.ChoiceField(choices=ACTIONS, required=False)
    demo_text = forms.CharField(max_length=MAX_ANSWER_CHARS, strip=False, required=False)
    demo_ms = forms.IntegerField(min_value=0, required=False)


class SFTStartForm(forms.Form):
    base = forms.IntegerField(min_value=1, required=False, help_text="Policy version id; empty: initial policy.")


class ReferenceForm(forms.Form):
    version = forms.IntegerField(min_value=1, required=False, help_text="Empty: back to the initial policy.")


class DemonstrationImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL or Parquet: messages (ending in the assistant answer), "
                           "or prompt plus answer/completion.")
