"""`make run`: web, worker and beat as separate processes, and a static build that production
settings can serve."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_procfile_runs_web_worker_and_beat_as_separate_processes():
    processes = procfile()
    assert sorted(processes) == ["beat", "web", "worker"]
    assert processes["web"].startswith("gunicorn config.wsgi")
    assert " worker " in processes["worker"] and "-B" not in processes["worker"].split()
    assert " beat " in processes["beat"]
    result = subprocess.run([str(BIN / "honcho"), "check", "-f", "Procfile"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Valid procfile detected (web, worker, beat)" in result.stderr + result.stdout


def test_make_run_uses_the_procfile_and_says_when_a_process_dies():
    makefile = (ROOT / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:"):makefile.index("\ntest:")]
    assert "honcho start -f Procfile" in run and "a process exited" in run
    assert "celery" not in run  # no worker-with-embedded-beat any more


def test_production_settings_serve_pages_after_the_debug_collectstatic(tmp_path):
    """`make run` collects static files with DEBUG on; starting with production settings after it
    must not 500 for want of the manifest."""
    env = {**{k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")},
           "DJANGO_SETTINGS_MODULE": "config.settings", "QUARTET_STATIC_ROOT": str(tmp_path / "static"),
           "SECRET_KEY": "x" * 60, "SECURE_SSL_REDIRECT": "0", "ALLOWED_HOSTS": "testserver", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    collected = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT,
                               env={**env, "DEBUG": "1"}, capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stderr[-2000:]
    assert (tmp_path / "static" / "staticfiles.json").exists()
    page = subprocess.run(
        [sys.executable, "-c",
         "import django; django.setup(); from django.test import Client; "
         "r = Client().get('/login/'); print(r.status_code); print(r.content.decode())"],
        cwd=ROOT, env={**env, "DEBUG": "0"}, capture_output=True, text=True, timeout=300)
    status, _, html = page.stdout.partition("\n")
    assert status == "200", page.stderr[-2000:]
    assert "/static/labeling/quartet." in html and ".css" in html  # the hashed name from the manifest
