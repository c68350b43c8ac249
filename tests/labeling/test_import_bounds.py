"""Bad files of every kind the hardening review found: a 4xx (web, API) or a CLI error naming the
file, the line and the field, and nothing written."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from knox.models import AuthToken
from rest_framework.test import APIClient

from labeling.models import ComparisonTask, Prompt
from labeling.services.parsing import MAX_DEPTH

FOUR = ["a", "b", "c", "d"]


def comparison(**extra):
    return json.dumps({"prompt": "p", "completions": FOUR, **extra})


# (file name, content, what the error must say: file, line and field)
BAD_JSONL = {
    "nan_metadata": ("nan.jsonl", '{"prompt": "p", "metadata": {"score": NaN}}\n',
                     "nan.jsonl, line 1, field 'metadata.score': nan is not a number"),
    "infinity_metadata": ("inf.jsonl", '{"prompt": "ok"}\n{"prompt": "p", "metadata": {"x": [1, -Infinity]}}\n',
                          "inf.jsonl, line 2, field 'metadata.x[1]': -inf is not a number"),
    "deep_nesting": ("deep.jsonl", '{"prompt": "p", "metadata": ' + "[" * 5000 + "]" * 5000 + "}\n",
                     "deep.jsonl, line 1: nested deeper than"),
    "moderate_nesting": ("deep2.jsonl", '{"prompt": "p", "metadata": {"a": ' + "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2) + "}}\n",
                         "deep2.jsonl, line 1, field 'metadata.a"),
    "huge_integer": ("big.jsonl", '{"prompt": "p", "metadata": {"n": ' + "9" * 5000 + "}}\n",
                     "big.jsonl, line 1, field 'metadata.n': an integer with 5000 digits is out of range"),
    "int_beyond_64_bits": ("big64.jsonl", '{"prompt": "p", "metadata": {"n": 18446744073709551616}}\n',
                           "big64.jsonl, line 1, field 'metadata.n': an integer with 20 digits"),
    "nul_character": ("nul.jsonl", '{"prompt": "a\\u0000b"}\n',
                      "nul.jsonl, line 1, field 'prompt': contains a NUL character"),
}

BAD_COMPARISONS = {
    "priority_beyond_32_bits": ("prio.jsonl", comparison(priority=2**31) + "\n",
                                "prio.jsonl, line 1, field 'priority': out of range"),
    "priority_beyond_64_bits": ("prio64.jsonl", comparison(priority=2**64) + "\n",
                                "prio64.jsonl, line 1, field 'priority'"),
    "nul_in_completion": ("nulc.jsonl", json.dumps({"prompt": "p", "completions": ["a", "b\x00", "c", "d"]}) + "\n",
                          "nulc.jsonl, line 1, field 'completions[1]': contains a NUL character"),
}


def parquet_bytes(table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def bad_parquets():
    timestamps = pa.table({"prompt": ["p"], "metadata": pa.array([{"at": 1}],
                          type=pa.struct([("at", pa.timestamp("s"))]))})
    binary = pa.table({"prompt": ["p"], "blob": pa.array([b"\x00\x01"], type=pa.binary())})
    nan = pa.table({"prompt": ["p", "q"], "score": [1.0, float("nan")]})
    return {
        "parquet_timestamps": ("ts.parquet", parquet_bytes(timestamps), "ts.parquet, field 'metadata': timestamp[ms] values are not supported"),
        "parquet_bytes": ("bin.parquet", parquet_bytes(binary), "bin.parquet, field 'blob': binary values are not supported"),
        "parquet_nan": ("nan.parquet", parquet_bytes(nan), "nan.parquet, line 2, field 'score': nan is not a number"),
    }


def all_bad_prompt_files():
    cases = {k: (n, c.encode()) + (m,) for k, (n, c, m) in BAD_JSONL.items()}
    cases.update(bad_parquets())
    return cases


PROMPT_CASES = all_bad_prompt_files()


@pytest.mark.parametrize("case", sorted(PROMPT_CASES))
def test_bad_prompt_files_via_the_cli(project, tmp_path, case):
    name, content, expected = PROMPT_CASES[case]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CommandError) as info:
        call_command("import_prompts", str(path), project=project.slug)
    assert expected in str(info.value)
    assert Prompt.objects.count() == 0


@pytest.mark.parametrize("case", sorted(PROMPT_CASES))
def test_bad_prompt_files_via_the_web_page(project, staff, client, case):
    name, content, expected = PROMPT_CASES[case]
    client.force_login(staff)
    response = client.post(f"/p/{project.slug}/import/",
                           {"kind": "prompts", "file": SimpleUploadedFile(name, content)})
    assert response.status_code == 400
    assert expected.replace("'", "&#x27;") in response.content.decode()
    assert Prompt.objects.count() == 0


@pytest.mark.parametrize("case", sorted(PROMPT_CASES))
def test_bad_prompt_files_via_the_api(project, staff, case):
    name, content, expected = PROMPT_CASES[case]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=staff)[1]}")
    response = api.post(f"/api/projects/{project.slug}/imports/",
                        {"kind": "prompts", "file": SimpleUploadedFile(name, content)}, format="multipart")
    assert response.status_code == 400
    assert any(expected in e for e in response.json()["errors"]), response.json()
    assert Prompt.objects.count() == 0


@pytest.mark.parametrize("case", sorted(BAD_COMPARISONS))
def test_bad_comparison_files_via_cli_and_api(project, staff, tmp_path, case):
    name, content, expected = BAD_COMPARISONS[case]
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CommandError, match="Nothing was imported") as info:
        call_command("import_comparisons", str(path), project=project.slug)
    assert expected in str(info.value)
    api = APIClient()
    api.force_authenticate(staff)
    response = api.post(f"/api/projects/{project.slug}/imports/",
                        {"kind": "comparisons", "file": SimpleUploadedFile(name, content.encode())},
                        format="multipart")
    assert response.status_code == 400 and any(expected in e for e in response.json()["errors"])
    assert (ComparisonTask.objects.count(), Prompt.objects.count()) == (0, 0)


def test_a_small_parquet_that_inflates_past_the_cap_is_refused_unread(project, tmp_path, settings):
    settings.QUARTET_MAX_UPLOAD_MB = 1
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"prompt": ["x" * (3 * 1024 * 1024)]}), path, compression="zstd")
    assert path.stat().st_size < 10_000
    with pytest.raises(CommandError, match=r"bomb.parquet, row group 1, field 'prompt': 3 MB once decompressed"):
        call_command("import_prompts", str(path), project=project.slug)
    assert Prompt.objects.count() == 0


def test_uploads_over_the_cap_are_refused_with_a_clear_message(project, staff, client, settings):
    settings.QUARTET_MAX_UPLOAD_MB = 1
    content = (json.dumps({"prompt": "x" * 1000}) + "\n").encode() * 1100
    client.force_login(staff)
    response = client.post(f"/p/{project.slug}/import/",
                           {"kind": "prompts", "file": SimpleUploadedFile("big.jsonl", content)})
    assert response.status_code == 413
    assert "more than the 1 MB an upload may have" in response.content.decode()
    api = APIClient()
    api.force_authenticate(staff)
    response = api.post(f"/api/projects/{project.slug}/imports/",
                        {"kind": "prompts", "file": SimpleUploadedFile("big.jsonl", content)}, format="multipart")
    assert response.status_code == 413 and "more than the 1 MB" in response.json()["errors"][0]
    assert Prompt.objects.count() == 0


def test_a_long_line_is_refused_without_reading_it_whole(project, tmp_path, monkeypatch):
    from labeling.services import parsing

    monkeypatch.setattr(parsing, "MAX_ROW_BYTES", 1000)
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"prompt": "ok"}) + "\n" + json.dumps({"prompt": "y" * 5000}) + "\n"
                    + json.dumps({"prompt": "fine"}) + "\n")
    with pytest.raises(CommandError, match=r"long.jsonl, line 2: longer than") as info:
        call_command("import_prompts", str(path), project=project.slug)
    assert "line 3" not in str(info.value)  # the rest of line 2 was skipped, line 3 read fine
    assert Prompt.objects.count() == 0


def test_csv_rows_are_streamed_and_checked(project, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"prompt,source\r\none,a\r\n\"two\r\nlines\",b\r\nthree,c,extra\r\n")
    with pytest.raises(CommandError) as info:
        call_command("import_prompts", str(path), project=project.slug)
    assert "p.csv, line 5: more values than the header has columns" in str(info.value)
    path.write_bytes(b"prompt,source\r\none,a\r\n\"two\r\nlines\",b\r\n")
    call_command("import_prompts", str(path), project=project.slug, stdout=io.StringIO())
    assert sorted(Prompt.objects.values_list("text", flat=True)) == ["one", "two\r\nlines"]
    assert Prompt.objects.get(text="one").metadata == {"source": "a"}
