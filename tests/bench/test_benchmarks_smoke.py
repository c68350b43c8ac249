"""Every benchmark runs once at a tiny size, so none can silently rot.

Not timings: each checks that the JSON line is there, its fields exist and make sense, and that
nothing went wrong (no errors, no duplicate or lost choices, no failed rounds).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "training" / "starter"
needs_starter = pytest.mark.skipif(not (STARTER / "config.json").exists(), reason="training/starter is missing")


def bench(name: str, *args: str, timeout: int = 600) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args], cwd=ROOT, env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fmt", ["text", "chat"])
def test_labeling_smoke(fmt):
    report = bench("labeling", "--tiny", *(["--chat"] if fmt == "chat" else []))
    [result] = report["results"]
    assert result["prompt_format"] == fmt
    assert result["errors"] == 0 and result["duplicate_choices"] == 0 and result["lost_choices"] == 0
    assert result["acknowledged"] == result["choices_in_db"] > 0
    capacity, latency = result["capacity"], result["latency"]
    assert capacity["decisions"] > 0 and capacity["decisions_per_s"] > 0
    assert 0 < capacity["p50_ms"] <= capacity["p95_ms"] <= capacity["p99_ms"]
    # The open loop sends every scheduled decision (10/s for 2 s) through a pool of 4 clients.
    assert latency["decisions"] == 20 and latency["clients"] == 4
    assert 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"]
    assert result["acknowledged"] == capacity["decisions"] + latency["decisions"]
    assert len(result["web_worker_peak_rss_mb"]) == 2 and all(rss > 0 for rss in result["web_worker_peak_rss_mb"])
    assert all(x >= 0 for x in result["load_average"]["before"])
    summary = report["summary"]["sqlite"]
    assert summary["capacity_decisions_per_s"]["median"] == capacity["decisions_per_s"]
    assert summary["lost_choices"] == 0 and summary["web_worker_peak_rss_mb_max"] > 0


def test_export_smoke():
    report = bench("export", "--choices", "300")
    assert report["choices"] == 300 and report["peak_rss_mb_max"] > 0
    exports = {name: r for name, r in report["results"].items() if name != "baseline"}
    assert exports, report["results"]
    for name, result in exports.items():
        assert result["rows"] > 0 and result["bytes"] > 0 and result["peak_rss_mb"] > 0, name


@needs_starter
def test_sampling_smoke():
    report = bench("sampling", "--tiny")
    assert report["batched_completions_per_s"] > 0 and report["one_prompt_at_a_time_completions_per_s"] > 0


@needs_starter
@pytest.mark.skipif(not (ROOT / "bench" / "reward.py").exists(), reason="bench/reward.py is not written yet")
def test_reward_smoke():
    report = bench("reward", "--tiny")
    text = json.dumps(report)
    assert "comparisons_per_s" in text and "heldout" in text


@needs_starter
def test_uncertainty_smoke():
    report = bench("uncertainty", "--tiny")
    for order in ("uncertainty_first", "newest_first"):
        assert 0 <= report[order]["heldout_agreement"] <= 1
    assert report["uncertainty_first"]["mean_entropy_of_chosen"] >= report["newest_first"]["mean_entropy_of_chosen"]


@needs_starter
def test_turnaround_smoke():
    report = bench("turnaround", "--tiny")
    stages = report["stages"]
    assert report["seconds_to_first_new_task_served"] > 0
    assert all(stages[s]["run_s"] > 0 for s in ("reward", "policy", "sampling"))


def test_import_memory_smoke():
    report = bench("import_memory", "--mb", "0.2", "--bomb-mb", "8")
    assert report["jsonl"]["status"] == 201 and report["jsonl"]["created"] == report["rows_in_file"] > 0
    assert report["parquet_bomb"]["status"] == 400 and "bomb.parquet, row group 1" in report["parquet_bomb"]["error"]
    assert report["prompts_in_db"] == report["rows_in_file"]
    assert report["jsonl"]["worker_peak_rss_mb"] >= report["jsonl"]["worker_rss_before_mb"] > 0
