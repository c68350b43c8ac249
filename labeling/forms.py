from django import forms

from labeling.models import COMPLETIONS_PER_TASK, Choice
from labeling.services import parsing


class DecisionForm(forms.Form):
    """One decision on a leased task. Clicking a card posts its canonical ``position``;
    the skip and flag buttons post ``action``."""

    assignment = forms.IntegerField(min_value=1, max_value=2**63 - 1)  # a bigint id, as the API bounds it
    action = forms.ChoiceField(choices=Choice.Kind.choices, required=False)
    position = forms.IntegerField(min_value=0, max_value=COMPLETIONS_PER_TASK - 1, required=False)
    decision_ms = forms.IntegerField(min_value=0, required=False)
    comment = forms.CharField(max_length=2000, required=False)
    # The assignment the page shows now (label.js swapped it in before posting): the answer
    # then carries only the task after it.
    held = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)

    def clean(self):
        data = super().clean()
        data["action"] = data.get("action") or Choice.Kind.BEST
        if data["action"] == Choice.Kind.BEST and data.get("position") is None:
            raise forms.ValidationError("Pick one of the four completions.")
        return data


class ImportForm(forms.Form):
    KIND_CHOICES = [
        ("prompts", "Prompts (JSONL or CSV with a 'prompt' field)"),
        ("comparisons", "Comparisons (JSONL: prompt plus exactly four completions)"),
    ]
    kind = forms.ChoiceField(choices=KIND_CHOICES)
    file = forms.FileField()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if problem := parsing.upload_size_error(upload.name, upload.size):
            raise forms.ValidationError(problem)
        return upload


class RunStartForm(forms.Form):
    ACTIONS = [
        ("reward", "Train reward model"),
        ("policy", "Update policy"),
        ("sampling", "Sample new tasks"),
        ("loop", "Run the loop once"),
    ]
    action = forms.ChoiceField(choices=ACTIONS)
