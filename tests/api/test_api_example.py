"""docs/api_example.py, run as its own process against a live server: import, label through
next/submit, a reward round (executed in-process on the starter policy), poll, export, download."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from labeling.services import runs as run_services
from labeling.models import RewardModelVersion
from tests.factories import ProjectFactory, StaffFactory

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "training" / "starter"


@pytest.fixture
def worker_in_a_thread(monkeypatch):
    """No Celery worker here: an enqueued round runs in a thread of the test process."""
    from django.db import connection

    from labeling.services.execution import run_execute

    threads = []

    def work(run_id):
        try:
            run_execute(run_id=run_id)
        finally:
            connection.close()  # this thread's own connection, or the test database lingers

    def task_send(name, run_id):
        thread = threading.Thread(target=work, args=(run_id,), daemon=True)
        thread.start()
        threads.append(thread)
        return type("Result", (), {"id": f"thread-{run_id}"})()

    monkeypatch.setattr(run_services, "task_send", task_send)
    yield
    for thread in threads:
        thread.join(timeout=120)


@pytest.mark.django_db(transaction=True)
def test_the_example_script_runs_the_whole_loop_over_http(live_server, worker_in_a_thread, settings, tmp_path):
    settings.QUARTET_ARTIFACTS_DIR = tmp_path / "artifacts"
    ProjectFactory(slug="api-demo", policy_source=str(STARTER), queue_low_water=0,
                   reward_config={"batch_size": 4, "n_norm_samples": 4, "max_length": 48})
    staff = StaffFactory()
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Review {i}: the film was"}) + "\n" for i in range(4)))
    comparisons = tmp_path / "comparisons.jsonl"
    comparisons.write_text("".join(
        json.dumps({"prompt": f"Review {i}: the film was",
                    "completions": [" good.", " great, I loved it!", " dull.", " not for me."]}) + "\n"
        for i in range(8)
    ))
    out = tmp_path / "pairs.jsonl"
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "api_example.py"), "--base", live_server.url,
         "--username", staff.username, "--password", "pw", "--project", "api-demo",
         "--prompts", str(prompts), "--comparisons", str(comparisons), "--out", str(out),
         "--poll-seconds", "0.5", "--timeout", "300"],
        capture_output=True, text=True, timeout=400,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["imported_prompts"]["created"] == 4 and summary["imported_comparisons"]["created"] == 8
    assert summary["labeled"] == 8 and summary["run"]["status"] == "succeeded"
    assert summary["export"] == {"choices": 8, "rows": 24, "by_kind": {"best": 8}}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 24 and {r["chosen"] for r in rows} == {" great, I loved it!"}
    assert RewardModelVersion.objects.get().num_choices == 8
