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


def test_labeling_smoke():
    [result] = bench("labeling", "--tiny")["results"]
    assert result["errors"] == 0 and result["duplicate_choices"] == 0 and result["lost_choices"] == 0
    assert result["acknowledged"] == result["choices_in_db"] > 0
    assert result["capacity"]["round_trips_per_s"] > 0 and result["capacity"]["p99_ms"] >= result["capacity"]["p50_ms"]
    assert result["latency"]["round_trips"] > 0 and all(rss > 0 for rss in result["web_worker_peak_rss_mb"])


def test_export_smoke():
    report = bench("export", "--choices", "300")
    text = json.dumps(report)
    assert "peak_rss_mb" in text and '"rows"' in text


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


@needs_starter
def test_efficiency_smoke():
    report = bench("efficiency", "--tiny")
    assert report["failed_runs"] == 0 and len(report["milestones"]) == 2
    last = report["milestones"][-1]
    assert last["policy_version"] >= 1 and 0 <= last["win_rate"] <= 1
    assert report["labeler"]["two_draw_agreement_on_rho_tasks"] == pytest.approx(0.42, abs=1e-3)
