"""Preference exports: listwise and pairwise rows, filters, formats, manifest, and that the files
train TRL's RewardTrainer and Quartet's own reward round with no conversion code."""

import io
import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from labeling.models import Choice
from labeling.services import NewTask, assignments_lease, comparison_record, tasks_create
from labeling.services.exports import (
    ExportError,
    ExportFilters,
    annotator_label,
    parquet_rows,
    preferences_export,
)
from tests.factories import UserFactory, make_tasks
from tests.trl_support import STARTER, trl_reward_trainer



def label(project, user, decisions):
    """``decisions``: canonical positions for best-of-four, or 'skip' / 'flag'."""
    for decision in decisions:
        lease = assignments_lease(project=project, annotator=user)[0]
        kind = decision if isinstance(decision, str) else "best"
        position = decision if kind == "best" else None
        comparison_record(project=project, annotator=user, assignment_id=lease.pk, kind=kind,
                          position=position, decision_ms=1200)


@pytest.fixture
def labeled(project, annotator):
    make_tasks(project, 6)
    label(project, annotator, [2, 0, "skip", "flag", 3, 1])
    return project


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_listwise_rows_have_canonical_completions_best_index_and_provenance(labeled, annotator, tmp_path):
    result = preferences_export(project=labeled, format="listwise", out=tmp_path / "l.jsonl")
    rows = read_jsonl(result.path)
    assert result.choices == result.rows == len(rows) == 4  # skip and flag excluded by default
    first = rows[0]
    assert first["completions"] == [f"prompt 0 completion {p}" for p in range(4)]
    assert first["best"] == 2 and first["prompt"] == "prompt 0" and first["kind"] == "best"
    assert sorted(first["display_order"]) == [0, 1, 2, 3]
    assert first["annotator"] == annotator_label(annotator.pk) != annotator.username
    assert first["policy_version"] is None and first["decision_ms"] == 1200
    assert [r["best"] for r in rows] == [2, 0, 3, 1]


def test_pairwise_rows_pit_the_best_against_each_of_the_other_three(labeled, tmp_path):
    result = preferences_export(project=labeled, format="pairwise", out=tmp_path / "p.jsonl")
    rows = read_jsonl(result.path)
    assert result.choices == 4 and result.rows == len(rows) == 12
    task0 = [r for r in rows if r["prompt"] == "prompt 0"]
    assert {r["chosen"] for r in task0} == {"prompt 0 completion 2"}
    assert sorted(r["rejected_position"] for r in task0) == [0, 1, 3]


def test_filters_kinds_dates_annotators_and_versions(labeled, annotator, tmp_path):
    other = UserFactory()
    labeled.annotators.add(other)
    label(labeled, other, [1])
    out = tmp_path / "f.jsonl"

    def count(**filters):
        return preferences_export(project=labeled, format="listwise", out=out,
                                  filters=ExportFilters(**filters)).choices

    assert count() == 5
    assert count(include_skipped=True, include_flagged=True) == 7
    assert count(include_flagged=True) == 6
    assert count(annotator_ids=(other.pk,)) == 1
    assert count(policy_versions=(0,)) == 5 and count(policy_versions=(3,)) == 0
    Choice.objects.filter(annotator=other).update(created_at=timezone.now() - timedelta(days=3))
    assert count(until=timezone.now() - timedelta(days=1)) == 1
    assert count(since=timezone.now() - timedelta(days=1)) == 4


def test_agreeing_only_keeps_tasks_whose_annotators_reach_a_consensus(project, annotator, tmp_path):
    project.annotations_per_task = 2
    project.save()
    make_tasks(project, 2)
    other = UserFactory()
    project.annotators.add(other)
    label(project, annotator, [1, 0])
    label(project, other, [1, 2])  # task 0: both chose 1; task 1: a tie, no consensus
    result = preferences_export(project=project, format="listwise", out=tmp_path / "a.jsonl",
                                filters=ExportFilters(agreeing_only=True))
    assert [(r["prompt"], r["best"]) for r in read_jsonl(result.path)] == [("prompt 0", 1)] * 2


def test_parquet_has_row_groups_of_the_batch_size_and_a_manifest(labeled, tmp_path, monkeypatch):
    monkeypatch.setattr("labeling.services.exports.BATCH_ROWS", 5)
    result = preferences_export(project=labeled, format="pairwise", out=tmp_path / "p.parquet",
                                reveal_annotators=True)
    parquet = pq.ParquetFile(result.path)
    assert parquet.metadata.num_rows == 12 and parquet.metadata.num_row_groups == 3
    assert parquet.schema_arrow.field("chosen").type == pa.string()
    manifest = json.loads(result.manifest_path.read_text())
    assert result.manifest_path.name == "p.parquet.manifest.json"
    assert manifest["counts"] == {"choices": 4, "rows": 12, "by_kind": {"best": 4}}
    assert manifest["schema_version"] == 1 and manifest["quartet_version"]
    assert manifest["filters"]["include_skipped"] is False and manifest["annotators"] == "usernames"
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_bad_requests_write_nothing(labeled, tmp_path):
    with pytest.raises(ExportError, match="unknown extension"):
        preferences_export(project=labeled, format="listwise", out=tmp_path / "x.csv")
    with pytest.raises(ExportError, match="unknown export format"):
        preferences_export(project=labeled, format="ranked", out=tmp_path / "x.jsonl")
    with pytest.raises(ExportError, match="command line only"):
        preferences_export(project=labeled, format="listwise", out=tmp_path / "folder",
                           allow_datasets=False)
    assert list(tmp_path.iterdir()) == []


def test_command_writes_a_datasets_folder_that_loads(labeled, annotator, tmp_path):
    from datasets import load_from_disk

    out = tmp_path / "pairs"
    stdout = io.StringIO()
    call_command("export_preferences", project=labeled.slug, format="pairwise", out=str(out),
                 annotator=[annotator.username], stdout=stdout)
    assert "12 pairwise rows from 4 choices" in stdout.getvalue()
    data = load_from_disk(str(out))
    assert data.num_rows == 12 and {"prompt", "chosen", "rejected"} <= set(data.column_names)
    assert (tmp_path / "pairs.manifest.json").is_file()
    with pytest.raises(CommandError, match="No such annotator"):
        call_command("export_preferences", project=labeled.slug, format="pairwise",
                     out=str(tmp_path / "x.jsonl"), annotator=["nobody"])


def test_parquet_rows_reads_in_batches_and_refuses_other_files(tmp_path):
    path = tmp_path / "prompts.parquet"
    pq.write_table(pa.table({"prompt": [f"p{i}" for i in range(5)], "metadata": [{"k": i} for i in range(5)]}), path)
    rows = list(parquet_rows(path, batch_rows=2))
    assert rows[0] == (1, {"prompt": "p0", "metadata": {"k": 0}}) and rows[-1][0] == 5
    with pytest.raises(ValueError, match="Parquet"):
        list(parquet_rows(io.BytesIO(b"not parquet")))


# --- done means 1: the exports train, with no conversion code outside Quartet ---


@pytest.fixture
def trained_on(project):
    """A labeled project whose annotator always picks the first, most enthusiastic completion."""
    texts = [" great, I loved it!", " fine.", " dull and slow.", " not for me."]
    tasks_create(project=project, tasks=[NewTask(f"Review {i}: the movie was", texts) for i in range(12)])
    user = UserFactory()
    project.annotators.add(user)
    label(project, user, [0] * 12)
    return project


def test_pairwise_export_trains_trls_reward_trainer(trained_on, tmp_path):
    import torch
    from datasets import load_dataset

    export = preferences_export(project=trained_on, format="pairwise", out=tmp_path / "pairs.parquet")
    data = load_dataset("parquet", data_files=str(export.path), split="train",
                        cache_dir=str(tmp_path / "hf-cache"))
    trainer, _ = trl_reward_trainer(STARTER, data, tmp_path / "rm", max_steps=4, batch_size=6, max_length=64)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert trainer.state.global_step == 4 and len(losses) == 4
    assert all(torch.isfinite(torch.tensor(losses)))


def test_listwise_export_trains_quartets_reward_round(trained_on, tmp_path):
    from training.config import RewardConfig, SampleConfig
    from training.data import read_choices
    from training.reward import train_reward_model

    export = preferences_export(project=trained_on, format="listwise", out=tmp_path / "choices.jsonl")
    choices = read_choices(export.path)
    assert len(choices) == 12 and all(c.best == 0 for c in choices)
    result = train_reward_model(
        choices, policy_path=str(STARTER), reference_path=str(STARTER), out_dir=str(tmp_path / "rm"),
        cfg=RewardConfig(batch_size=4, heldout_fraction=0.25, n_norm_samples=4, max_length=48,
                         sample=SampleConfig(max_new_tokens=6, batch_size=4)),
    )
    assert result.metrics["n_train"] == 9 and Path(result.path, "model.safetensors").is_file()


# --- the staff download page ---


def test_staff_export_page_downloads_the_file_and_lists_it(client, labeled, staff, settings, tmp_path):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path
    client.force_login(staff)
    assert b"Export\xe2\x80\xa6" in client.get("/").content
    page = client.get(f"/p/{labeled.slug}/export/")
    assert page.status_code == 200 and b"Earlier exports" not in page.content
    download = client.post(f"/p/{labeled.slug}/export/", {"format": "pairwise", "file_format": "jsonl",
                                                          "policy_version": "0"})
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert len(b"".join(download.streaming_content).splitlines()) == 12
    page = client.get(f"/p/{labeled.slug}/export/")
    name = json.loads(next(tmp_path.rglob("*.manifest.json")).read_text())["file"]
    assert name.encode() in page.content
    assert client.get(f"/p/{labeled.slug}/export/", {"file": name}).status_code == 200
    assert client.get(f"/p/{labeled.slug}/export/", {"file": "../../secret"}).status_code == 404
    bad = client.post(f"/p/{labeled.slug}/export/", {"format": "pairwise", "file_format": "jsonl",
                                                     "policy_version": "two"})
    assert bad.status_code == 400 and b"Whole numbers" in bad.content


def test_annotators_cannot_export(annotator_client, labeled):
    assert annotator_client.get(f"/p/{labeled.slug}/export/").status_code == 403
    assert b"Export\xe2\x80\xa6" not in annotator_client.get("/").content


def test_unknown_filters_are_refused_and_form_and_api_share_the_names(client, labeled, staff, settings, tmp_path):
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    settings.QUARTET_ARTIFACTS_DIR = tmp_path
    client.force_login(staff)
    # The old form name (and any misspelling) would have exported everything: now a 400 naming it.
    bad = client.post(f"/p/{labeled.slug}/export/", {"format": "pairwise", "file_format": "jsonl",
                                                     "policy_versions": "3", "annotatr": "1"})
    assert bad.status_code == 400 and b"Unknown filters: annotatr, policy_versions." in bad.content
    assert not list(tmp_path.rglob("*.jsonl"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=staff)[1]}")
    listed = api.get(f"/api/projects/{labeled.slug}/choices/", {"policy_versions": 3})
    assert listed.status_code == 400 and "Unknown parameter: policy_versions" in listed.json()["detail"]
    exported = api.post(f"/api/projects/{labeled.slug}/exports/", {"format": "pairwise", "annotators": [1]},
                        format="json")
    assert exported.status_code == 400 and "Unknown parameter: annotators" in exported.json()["detail"]
    # The same names on both: policy version 3 has no choices, so both export nothing.
    page = client.post(f"/p/{labeled.slug}/export/", {"format": "pairwise", "file_format": "jsonl",
                                                      "policy_version": "3", "annotator": [staff.pk]})
    assert page.status_code == 400  # staff is not an annotator of the project: not a valid choice
    page = client.post(f"/p/{labeled.slug}/export/", {"format": "pairwise", "file_format": "jsonl",
                                                      "policy_version": "3"})
    assert page.status_code == 200 and b"".join(page.streaming_content) == b""
    via_api = api.get(f"/api/projects/{labeled.slug}/choices/", {"policy_version": 3, "page": 1})
    assert via_api.status_code == 200 and via_api.json()["count"] == 0
    huge = client.post(f"/p/{labeled.slug}/export/", {"format": "pairwise", "file_format": "jsonl",
                                                      "policy_version": str(2**63)})
    assert huge.status_code == 400 and b"between 0 and" in huge.content
