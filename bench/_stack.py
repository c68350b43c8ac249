"""The whole Quartet stack for loop benchmarks: a fresh SQLite database, the filesystem broker,
gunicorn serving the web app and one Celery worker (with beat) for both queues, as `make run`
starts them, all under var/bench-<name>/. The benchmark process itself uses Django's ORM on the
same database to set up projects and read timings."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, name: str):
        self.root = REPO / "var" / f"bench-{name}"
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DEBUG", "CELERY_BROKER_URL", "REDIS_URL")},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{self.root / 'db.sqlite3'}",
            "QUARTET_BROKER_DIR": str(self.root / "broker"),
            "QUARTET_ARTIFACTS_DIR": str(self.root / "artifacts"),
            "SECRET_KEY": "bench-" + "x" * 50,
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "HF_HUB_OFFLINE": "1",
            "LOG_LEVEL": "WARNING",
        }

    def setup_django(self) -> None:
        """Point this process at the stack's database, migrate it, and start Django."""
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)

    def start(self) -> None:
        log = (self.root / "server.log").open("ab")
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "2", "--threads", "4", "--log-level", "warning"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        ))
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "-Q", "training,sampling",
             "--concurrency", "1", "--loglevel", "WARNING", "-s", str(self.root / "celerybeat-schedule")],
            cwd=REPO, env=self.env, stdout=(self.root / "worker.log").open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        ))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the web server did not start; see {self.root / 'server.log'}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def annotator(project, username: str, password: str = "bench-pass"):
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)
    user.save()
    project.annotators.add(user)
    return username, password
