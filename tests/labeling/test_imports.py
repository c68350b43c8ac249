import io
import json

import pytest
from django.core.management import CommandError, call_command

from labeling.models import ComparisonTask, Completion, Prompt
from labeling.services import ImportValidationError, comparisons_import, prompts_import


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def comparison(prompt="p", completions=("a", "b", "c", "d"), **extra):
    return json.dumps({"prompt": prompt, "completions": list(completions), **extra})


def test_prompts_from_jsonl_with_duplicates_skipped_and_counted(project, tmp_path):
    path = write(tmp_path, "p.jsonl", [
        json.dumps({"prompt": "one", "metadata": {"source": "x"}}),
        json.dumps({"prompt": "two"}),
        json.dumps({"prompt": "one"}),
    ])
    result = prompts_import(project=project, source=path)
    assert (result.created, result.duplicates) == (2, 1)
    assert Prompt.objects.get(text="one").metadata == {"source": "x"}
    again = prompts_import(project=project, source=path)
    assert (again.created, again.duplicates) == (0, 3)


def test_prompts_from_csv_keep_other_columns_as_metadata(project, tmp_path):
    path = write(tmp_path, "p.csv", ["prompt,topic", '"Hello, world",greeting', "Bye,farewell"])
    assert prompts_import(project=project, source=path).created == 2
    assert Prompt.objects.get(text="Hello, world").metadata == {"topic": "greeting"}


@pytest.mark.parametrize(
    "lines, expected",
    [
        ([json.dumps({"prompt": "ok"}), json.dumps({"text": "no prompt"})],
         "p.jsonl, line 2, field 'prompt': missing"),
        ([json.dumps({"prompt": "ok"}), "{not json"], "p.jsonl, line 2: not valid JSON"),
        ([json.dumps({"prompt": "ok"}), "", json.dumps({"prompt": 5})],
         "p.jsonl, line 3, field 'prompt': expected text, got int"),
        ([json.dumps({"prompt": "  "})], "p.jsonl, line 1, field 'prompt': empty"),
        ([json.dumps({"prompt": "ok", "metadata": [1]})], "p.jsonl, line 1, field 'metadata'"),
    ],
)
def test_bad_prompt_row_names_file_line_and_field_and_writes_nothing(project, tmp_path, lines, expected):
    path = write(tmp_path, "p.jsonl", lines)
    with pytest.raises(ImportValidationError) as info:
        prompts_import(project=project, source=path)
    assert expected in str(info.value)
    assert not Prompt.objects.exists()


def test_csv_error_names_the_line(project, tmp_path):
    path = write(tmp_path, "p.csv", ["prompt", "fine", ""])
    path.write_text("prompt,x\nfine,1\n,2\n")
    with pytest.raises(ImportValidationError, match=r"p.csv, line 3, field 'prompt': (missing|empty)"):
        prompts_import(project=project, source=path)
    assert not Prompt.objects.exists()


def test_comparisons_import_creates_open_tasks_with_four_completions(project, tmp_path):
    path = write(tmp_path, "c.jsonl", [
        comparison("p1", priority=3),
        comparison("p2", ("w", "x", "y", "z\nwith a line break")),
        comparison("p1"),  # exact repeat
        comparison("p1", ("e", "f", "g", "h")),  # same prompt, new completions
    ])
    result = comparisons_import(project=project, source=path)
    assert (result.created, result.duplicates, result.prompts_created) == (3, 1, 2)
    assert ComparisonTask.objects.filter(status="open").count() == 3
    assert Completion.objects.count() == 12
    assert ComparisonTask.objects.get(priority=3).prompt.text == "p1"
    assert comparisons_import(project=project, source=path).created == 0


@pytest.mark.parametrize(
    "row, expected",
    [
        (comparison(completions=("a", "b", "c")),
         "c.jsonl, line 2, field 'completions': expected exactly four completions, got 3"),
        (json.dumps({"prompt": "p", "completions": "abcd"}),
         "c.jsonl, line 2, field 'completions': expected a list"),
        (comparison(completions=("a", "b", 3, "d")),
         "c.jsonl, line 2, field 'completions[2]': expected text, got int"),
        (comparison(priority="high"), "c.jsonl, line 2, field 'priority': expected an integer"),
        (json.dumps({"completions": ["a", "b", "c", "d"]}), "c.jsonl, line 2, field 'prompt': missing"),
    ],
)
def test_bad_comparison_row_aborts_the_whole_import(project, tmp_path, row, expected):
    path = write(tmp_path, "c.jsonl", [comparison("good one"), row, comparison("also good")])
    with pytest.raises(ImportValidationError) as info:
        comparisons_import(project=project, source=path)
    assert expected in str(info.value)
    assert not ComparisonTask.objects.exists()
    assert not Prompt.objects.exists()


def test_import_commands_report_counts_and_errors(project, tmp_path):
    good = write(tmp_path, "c.jsonl", [comparison("p1"), comparison("p1")])
    out = io.StringIO()
    call_command("import_comparisons", str(good), project=project.slug, stdout=out)
    assert "1 created, 1 duplicates skipped" in out.getvalue()
    bad = write(tmp_path, "bad.jsonl", [json.dumps({"prompt": "x"}), json.dumps({"nope": 1})])
    with pytest.raises(CommandError, match=r"bad.jsonl, line 2, field 'prompt': missing"):
        call_command("import_prompts", str(bad), project=project.slug)
    assert not Prompt.objects.filter(text="x").exists()
    with pytest.raises(CommandError, match="No project"):
        call_command("import_prompts", str(bad), project="nope")


def test_unsupported_file_type_is_refused(project, tmp_path):
    path = write(tmp_path, "p.txt", ["hello"])
    with pytest.raises(ImportValidationError, match=r"p.txt: unsupported file type .txt"):
        prompts_import(project=project, source=path)


def test_demo_setup_is_idempotent(db):
    out = io.StringIO()
    call_command("demo_setup", password="pw-demo", no_sampling=True, stdout=out)
    counts = (Prompt.objects.count(), ComparisonTask.objects.count())
    call_command("demo_setup", password="pw-demo", no_sampling=True, stdout=io.StringIO())
    assert "annotator1" in out.getvalue() and "pw-demo" in out.getvalue()
    assert counts[0] >= 50
    assert (Prompt.objects.count(), ComparisonTask.objects.count()) == counts
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="annotator1").check_password("pw-demo")


def test_prompts_and_comparisons_from_parquet_with_row_errors(project, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    prompts = tmp_path / "p.parquet"
    pq.write_table(pa.table({"prompt": ["one", "two", "one"]}), prompts)
    assert (prompts_import(project=project, source=prompts).created, Prompt.objects.count()) == (2, 2)
    comparisons = tmp_path / "c.parquet"
    pq.write_table(pa.table({"prompt": ["p", "q"], "completions": [["a", "b", "c", "d"], ["a", "b"]]}), comparisons)
    with pytest.raises(ImportValidationError, match=r"c.parquet, line 2, field 'completions': expected exactly four"):
        comparisons_import(project=project, source=comparisons)
    assert not ComparisonTask.objects.exists()


def test_binary_upload_named_jsonl_is_a_clear_error(project):
    upload = io.BytesIO(b"\xff\xfe\x00garbage")
    with pytest.raises(ImportValidationError, match=r"bad.jsonl, line 1: not UTF-8 text"):
        prompts_import(project=project, source=upload, name="bad.jsonl")
