import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db
@pytest.mark.parametrize(
    "command, args",
    [
        ("export_sft", ["--style", "messages", "--out", "unused.jsonl"]),
        ("export_preferences", ["--format", "listwise", "--out", "unused.jsonl"]),
        ("import_prompts", ["unused.jsonl"]),
        ("sample_tasks", []),
        ("evaluate_policy", []),
    ],
)
def test_every_command_names_an_unknown_project_slug(command, args, tmp_path):
    with pytest.raises(CommandError, match=r"No project with slug 'nope'\."):
        call_command(command, *args, "--project", "nope")
