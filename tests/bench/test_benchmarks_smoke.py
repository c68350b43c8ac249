"""Every benchmark runs once at a tiny size, so none can silently rot.

Not timings: each parses the JSON line and checks that its figures are numbers in their ranges
(rates above zero, shares between 0 and 1, counts not negative), not merely present, and that
nothing went wrong (no errors, no duplicate or lost choices, no failed rounds).
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def number(value) -> float:
    """``value`` if it is a finite int or float (not None, a bool or a string)."""
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"not a number: {value!r}"
    assert math.isfinite(value), value
    return value


def share(value) -> float:
    assert 0 <= number(value) <= 1, value
    return value


def count(value) -> int:
    assert isinstance(value, int) and not isinstance(value, bool) and value >= 0, f"not a count: {value!r}"
    return value


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
    assert result["errors"] == 0 and result["error_samples"] == [], result["error_samples"]  # say which
    assert result["duplicate_choices"] == 0 and result["lost_choices"] == 0
    assert result["acknowledged"] == count(result["choices_in_db"]) > 0
    capacity, latency = result["capacity"], result["latency"]
    assert count(capacity["decisions"]) > 0 and number(capacity["decisions_per_s"]) > 0
    assert 0 < number(capacity["p50_ms"]) <= number(capacity["p95_ms"]) <= number(capacity["p99_ms"])
    # The open loop sends every scheduled decision (10/s for 2 s) through a pool of 4 clients.
    assert latency["decisions"] == 20 and latency["clients"] == 4 and count(latency["started_late"]) <= 20
    assert 0 < number(latency["p50_ms"]) <= number(latency["p95_ms"]) <= number(latency["p99_ms"])
    assert result["acknowledged"] == capacity["decisions"] + latency["decisions"]
    assert len(result["web_worker_peak_rss_mb"]) == 2 and all(number(rss) > 0 for rss in result["web_worker_peak_rss_mb"])
    assert all(number(x) >= 0 for x in result["load_average"]["before"] + result["load_average"]["after"])
    summary = report["summary"]["sqlite"]
    assert summary["capacity_decisions_per_s"]["median"] == capacity["decisions_per_s"]
    assert summary["lost_choices"] == 0 and summary["web_worker_peak_rss_mb_max"] > 0


def test_export_smoke():
    report = bench("export", "--choices", "300")
    assert report["choices"] == 300 and number(report["peak_rss_mb_max"]) > 0
    exports = {name: r for name, r in report["results"].items() if name != "baseline"}
    assert exports, report["results"]
    for name, result in exports.items():
        assert count(result["rows"]) > 0 and count(result["bytes"]) > 0 and number(result["peak_rss_mb"]) > 0, name


def test_sampling_smoke():
    report = bench("sampling", "--tiny")
    assert number(report["batched_completions_per_s"]) > 0
    assert number(report["one_prompt_at_a_time_completions_per_s"]) > 0


def test_reward_smoke():
    report = bench("reward", "--tiny")
    assert count(report["choices"]) > 0 and count(report["heldout"]) > 0
    for side in ("quartet", "trl"):
        assert number(report[f"{side}_comparisons_per_s"]) > 0
        assert number(report[side]["train_s"]) > 0
        share(report[f"{side}_heldout_agreement"])
        share(report[f"{side}_noise_free_agreement"])
        assert count(report[f"heldout_only_{side}_right"]) <= report["heldout"]
    assert number(report["ratio"]) > 0 and number(report["cpu_ratio"]) > 0
    share(report["heldout_ceiling"])
    share(report["labeler_two_draw_agreement"])


def test_uncertainty_smoke():
    report = bench("uncertainty", "--tiny")
    for order in ("uncertainty_first", "newest_first"):
        share(report[order]["heldout_agreement"])
    assert number(report["uncertainty_first"]["mean_entropy_of_chosen"]) >= number(
        report["newest_first"]["mean_entropy_of_chosen"])


def test_turnaround_smoke():
    report = bench("turnaround", "--tiny")
    stages = report["stages"]
    assert number(report["seconds_to_first_new_task_served"]) > 0
    for stage in ("reward", "policy", "sampling"):
        assert number(stages[stage]["run_s"]) > 0 and number(stages[stage]["queue_wait_s"]) >= 0
    assert number(stages["trigger_to_reward_queued_s"]) >= 0 and number(stages["sampled_to_served_s"]) >= 0


def test_import_memory_smoke():
    report = bench("import_memory", "--mb", "0.2", "--bomb-mb", "8")
    assert report["jsonl"]["status"] == 201 and report["jsonl"]["created"] == count(report["rows_in_file"]) > 0
    assert report["parquet_bomb"]["status"] == 400 and "bomb.parquet, row group 1" in report["parquet_bomb"]["error"]
    assert report["prompts_in_db"] == report["rows_in_file"]
    assert number(report["jsonl"]["worker_peak_rss_mb"]) >= number(report["jsonl"]["worker_rss_before_mb"]) > 0
    assert number(report["jsonl"]["seconds"]) > 0 and report["jsonl"]["error"] is None
