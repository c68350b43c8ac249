"""bench.efficiency runs once at a tiny size, for a text and a chat project, so it cannot silently
rot. Not timings: the JSON line is there, its figures are in range, and nothing went wrong (no
failed rounds, no simulation errors, every evaluation task labeled)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bench_efficiency(*args: str, timeout: int = 900) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.efficiency", "--tiny", *args], cwd=ROOT, env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["text", "chat"])
def test_efficiency_smoke(kind):
    report = bench_efficiency(*(["--chat"] if kind == "chat" else []))
    assert report["project"] == kind and report["oracle"] == ("chat" if kind == "chat" else "compound")
    assert report["failed_runs"] == 0 and report["simulation_errors"] == []
    labeler = report["labeler"]
    assert 0 < labeler["two_draw_agreement_on_rho_tasks"] < 1
    assert labeler["two_draw_agreement_on_rho_tasks"] == pytest.approx(0.42, abs=1e-3)  # calibrated
    assert [m["labels"] for m in report["milestones"]] == [8, 16]
    assert report["training_labels"] >= 16
    for point in report["milestones"]:
        assert point["labels_trained"] >= point["labels"]  # the policy measured saw every label so far
        assert point["policy_version"] >= 1 and point["reward_models"] >= 1
        assert 0 <= point["direct_win_rate"] <= 1 and 0 <= point["oracle_one_to_one_win_rate"] <= 1
        assert math.isfinite(point["kl_estimate"])
        assert len(point["samples"]) == 3 and all(s["rho"] is not None and s["policy"] is not None
                                                  for s in point["samples"])
        human = point["evaluation"]
        assert human["run_status"] == "succeeded" and human["simulation_errors"] == []
        assert human["candidate"] == point["policy_version"] and human["baseline"] == 0
        # Every held-out prompt became one evaluation task, and each got its one decision.
        assert human["tasks"] == human["decisions"] == report["heldout_prompts"]
        assert 0 <= human["ci_low"] <= human["win_rate"] <= human["ci_high"] <= 1
        assert 0 <= human["predicted_win_rate"] <= 1
        assert human["direct_within_interval"] == (human["ci_low"] <= point["direct_win_rate"] <= human["ci_high"])
    if kind == "chat":  # prompts are conversations, answered as assistant messages
        sample = report["milestones"][-1]["samples"][0]
        assert isinstance(sample["prompt"], list) and sample["prompt"][-1]["role"] == "user"
