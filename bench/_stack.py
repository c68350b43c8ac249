"""The Quartet stack for the benchmarks, as `make run` starts it: gunicorn serving the web app
and (optionally) one Celery worker with beat for both queues, on a fresh database, with the
filesystem broker and the artifacts under var/bench-<name>/. The benchmark process itself may use
Django's ORM on the same database (``setup_django``) to set up projects and read timings."""

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """A stack under var/bench-<name>/ (emptied first). ``database_url`` names the database
    (default: SQLite in that folder); the server runs with production settings (DEBUG off)."""

    def __init__(self, name: str, *, database_url: str | None = None):
        self.root = REPO / "var" / f"bench-{name}"
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.port: int | None = None
        self.url: str | None = None
        self.procs: list[subprocess.Popen] = []
        self.web: subprocess.Popen | None = None  # the gunicorn master
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DEBUG", "CELERY_BROKER_URL", "REDIS_URL")},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url or f"sqlite:///{self.root / 'db.sqlite3'}",
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

    def manage(self, *args: str) -> None:
        """A manage.py command on the stack's database, in a process of its own (for a
        benchmark that keeps Django out of its own process)."""
        subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=self.env, check=True)

    def start(self, *, workers: int = 2, threads: int = 4, celery: bool = True,
              gunicorn_args: tuple[str, ...] = ()) -> None:
        """Start gunicorn (``workers`` processes of ``threads`` threads, `make run`'s counts by
        default) on a fresh port, and with ``celery`` a worker with beat. Returns once the web
        server accepts connections; sets ``port`` and ``url``."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--threads", str(threads), "--log-level", "warning", *gunicorn_args],
            cwd=REPO, env=self.env, stdout=(self.root / "server.log").open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(self.web)
        if celery:
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "-Q", "training,sampling",
                 "--concurrency", "1", "--loglevel", "WARNING", "-s", str(self.root / "celerybeat-schedule")],
                cwd=REPO, env=self.env, stdout=(self.root / "worker.log").open("ab"), stderr=subprocess.STDOUT,
                start_new_session=True,
            ))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the web server did not start; see {self.root / 'server.log'}")

    def web_workers(self, timeout: float = 30) -> list[int]:
        """The process ids of gunicorn's workers (waiting up to ``timeout`` s for the first)."""
        master = self.web.pid
        deadline = time.monotonic() + timeout
        while True:
            children = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
            if children or time.monotonic() > deadline:
                return children
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every process started (SIGTERM, then SIGKILL after 30 s); start() may follow."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs, self.web = [], None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def memory_mb(pid: int, key: str) -> float:
    """A /proc/<pid>/status figure in MB: ``VmRSS`` (resident now), ``VmHWM`` (its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def annotator(project, username: str, password: str = "bench-pass"):
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)
    user.save()
    project.annotators.add(user)
    return username, password
