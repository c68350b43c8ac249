"""Labeling under load: simulated annotators against the app served by gunicorn.

    python -m bench.labeling [--db sqlite|postgres] [--tasks 5000] [--chat] [--tiny]

Each annotator has its own session and does what the browser does: GET the labeling page (the
htmx partial) for its next task, then POST its choice. Two figures:
- capacity: 16 annotators in a closed loop with no pause; round trips per second, p50, p99;
- latency: round trips arriving open-loop at 50 per second for 60 seconds; p50, p99 measured
  from each round trip's scheduled start (so queueing counts).
Both report errors, duplicate choices, lost choices (acknowledged but not in the database) and
the web workers' peak RSS. The server runs with production settings (DEBUG off) in gunicorn with
`make run`'s worker and thread counts, on a fresh database of its own.

With ``--chat`` the project is a chat project: each prompt a conversation (system and user
turns) and each answer a Markdown message with a list and a fenced code block, stored with its
rendered HTML as the sampling round stores it, so chat and text throughput compare directly.

Prints one JSON object as its last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SLUG = "bench"
_ASSIGNMENT = re.compile(rb'name="assignment" value="(\d+)"')
_CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Session:
    """One annotator: a keep-alive connection, its cookies and CSRF token."""

    def __init__(self, port: int, username: str, password: str):
        self.port, self.username, self.password = port, username, password
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.lock = threading.Lock()

    def _request(self, method: str, path: str, body: dict | None = None, htmx: bool = True):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if htmx:
            headers["HX-Request"] = "true"
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["X-CSRFToken"] = self.cookies.get("csrftoken", "")
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()  # the server closed a kept-alive connection: reconnect once
                if attempt:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, payload

    def login(self) -> None:
        _, page = self._request("GET", "/login/", htmx=False)
        token = _CSRF_INPUT.search(page).group(1).decode()
        status, _ = self._request(
            "POST", "/login/",
            {"username": self.username, "password": self.password, "csrfmiddlewaretoken": token},
            htmx=False,
        )
        if status != 302:
            raise RuntimeError(f"login failed for {self.username}: {status}")

    def round_trip(self, position: int) -> int | None:
        """GET next task, POST a choice. Returns the acknowledged assignment id (None: no task)."""
        status, page = self._request("GET", f"/p/{SLUG}/")
        if status != 200:
            raise RuntimeError(f"GET next: HTTP {status}")
        match = _ASSIGNMENT.search(page)
        if match is None:
            return None
        assignment = int(match.group(1))
        status, body = self._request(
            "POST", f"/p/{SLUG}/decide/", {"assignment": assignment, "position": position, "decision_ms": 1500}
        )
        if status != 200 or b'class="flash error"' in body:
            raise RuntimeError(f"POST choice: HTTP {status}")
        return assignment


class Server:
    def __init__(self, env: dict, port: int, workers: int, threads: int):
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"],
            cwd=REPO, env=env, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def worker_peak_rss_mb(self) -> list[float]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        peaks = []
        for pid in children:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(round(int(line.split()[1]) / 1024, 1))
        return peaks

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


# A chat task: a short conversation and answers of the size and shape a chat model writes.
_CHAT_TASK = """NewTask(
        prompt=[{{"role": "system", "content": "You are a concise Python helper."}},
                {{"role": "user", "content": f"{prefix} question {{i}}: how do I read a CSV file?"}}],
        completions=[f"Answer {{p}} to question {{i}}. Use the `csv` module:\\n\\n- open the file\\n"
                     f"- wrap it in `csv.reader`\\n\\n```python\\nimport csv\\n\\nwith open('data.csv') as fh:\\n"
                     f"    for row in csv.reader(fh):\\n        print(row)\\n```\\n" for p in range(4)])"""
_TEXT_TASK = """NewTask(prompt=f"{prefix} prompt {{i}}", completions=[f"Completion {{p}} of prompt {{i}}, a short sentence." for p in range(4)])"""


def _prepare(env: dict, tasks: int, annotators: int, *, top_up: str | None = None, chat: bool = False) -> None:
    """A fresh schema, a project with ``tasks`` open tasks and the annotator accounts; or, with
    ``top_up`` (a prompt prefix), ``tasks`` more open tasks in the existing project. ``chat``:
    a chat project (conversations, Markdown answers)."""
    setup = f"""
call_command("flush", interactive=False, verbosity=0)
project = Project.objects.create(name="Bench", slug="{SLUG}", annotations_per_task=1,
                                 prompt_format="{'chat' if chat else 'text'}")
User = get_user_model()
for i in range({annotators}):
    user = User.objects.create_user(f"bench{{i}}", password="bench-pass")
    project.annotators.add(user)
""" if top_up is None else f"""
project = Project.objects.get(slug="{SLUG}")
"""
    prefix = top_up or "Bench"
    new_task = (_CHAT_TASK if chat else _TEXT_TASK).format(prefix=prefix)
    script = f"""
import django; django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from labeling.models import Project
from labeling.services import NewTask, tasks_create
{setup}
for start in range(0, {tasks}, 1000):
    tasks_create(project=project, tasks=[
        {new_task}
        for i in range(start, min(start + 1000, {tasks}))
    ])
from django.db import connection
if connection.vendor == "postgresql":
    connection.cursor().execute("ANALYZE")  # fresh statistics, as autovacuum would make soon
"""
    if top_up is None:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True)


def _choices_in_db(env: dict) -> dict:
    script = """
import django, json; django.setup()
from django.db.models import Count
from labeling.models import Choice
rows = Choice.objects.filter(project__slug="bench")
dup = rows.values("task").annotate(n=Count("pk")).filter(n__gt=1).count()
print(json.dumps({"choices": rows.count(), "tasks_chosen_twice": dup,
                  "assignments": list(rows.values_list("task__assignments__pk", flat=True))}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _capacity(sessions: list[Session], seconds: float, acknowledged: list, errors: list) -> dict:
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def loop(session: Session, index: int):
        n = 0
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                assignment = session.round_trip(position=(index + n) % 4)
            except Exception as exc:
                with lock:
                    errors.append(f"{session.username}: {exc}")
                continue
            if assignment is None:
                return
            elapsed = time.perf_counter() - t0
            n += 1
            with lock:
                latencies.append(elapsed)
                acknowledged.append(assignment)

    threads = [threading.Thread(target=loop, args=(s, i)) for i, s in enumerate(sessions)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "annotators": len(sessions),
        "round_trips": len(latencies),
        "round_trips_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(1000 * _percentile(latencies, 0.5), 1) if latencies else None,
        "p99_ms": round(1000 * _percentile(latencies, 0.99), 1) if latencies else None,
    }


def _open_loop(sessions: list[Session], rate: float, seconds: float, acknowledged: list, errors: list) -> dict:
    """Round trips start on a fixed schedule whatever the server does; latency counts from the
    scheduled start, so a slow server shows up as queueing instead of being hidden."""
    latencies: list[float] = []
    lock = threading.Lock()
    free = list(sessions)
    free_cond = threading.Condition()
    total = int(rate * seconds)
    begin = time.perf_counter() + 0.2

    def one(k: int):
        scheduled = begin + k / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        with free_cond:
            while not free:
                free_cond.wait()
            session = free.pop()
        try:
            assignment = session.round_trip(position=k % 4)
            if assignment is not None:
                with lock:
                    latencies.append(time.perf_counter() - scheduled)
                    acknowledged.append(assignment)
        except Exception as exc:
            with lock:
                errors.append(f"{session.username}: {exc}")
        finally:
            with free_cond:
                free.append(session)
                free_cond.notify()

    threads = [threading.Thread(target=one, args=(k,)) for k in range(total)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "round_trips": len(latencies),
        "p50_ms": round(1000 * _percentile(latencies, 0.5), 1) if latencies else None,
        "p99_ms": round(1000 * _percentile(latencies, 0.99), 1) if latencies else None,
    }


def run(db: str, *, tasks: int, capacity_seconds: float, rate: float, open_seconds: float,
        annotators: int, pool: int, workers: int, threads: int, chat: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG",)}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="bench-" + "x" * 50,
        SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0", LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    if db == "postgres":
        base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/quartet_bench")
        name = urllib.parse.urlparse(base).path.lstrip("/")
        subprocess.run(["psql", base.rsplit("/", 1)[0] + "/postgres", "-qc", f"CREATE DATABASE {name}"],
                       capture_output=True)
        env["DATABASE_URL"] = base
    else:
        (REPO / "var").mkdir(exist_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{REPO / 'var' / 'bench.sqlite3'}"
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    _prepare(env, tasks, max(annotators, pool), chat=chat)
    port = _free_port()
    server = Server(env, port, workers, threads)
    try:
        sessions = [Session(port, f"bench{i}", "bench-pass") for i in range(max(annotators, pool))]
        for s in sessions:
            s.login()
        acknowledged: list[int] = []
        errors: list[str] = []
        capacity = _capacity(sessions[:annotators], capacity_seconds, acknowledged, errors)
        _prepare(env, tasks, 0, top_up="Second", chat=chat)  # the open loop gets a full queue of its own
        latency = _open_loop(sessions[:pool], rate, open_seconds, acknowledged, errors)
        rss = server.worker_peak_rss_mb()
    finally:
        server.stop()
    stored = _choices_in_db(env)
    stored_assignments = set(stored["assignments"])
    return {
        "db": db,
        "prompt_format": "chat" if chat else "text",
        "tasks": tasks,  # open tasks at the start of each phase
        "capacity": capacity,
        "latency": latency,
        "errors": len(errors),
        "error_samples": errors[:3],
        "duplicate_choices": stored["tasks_chosen_twice"] + (len(acknowledged) - len(set(acknowledged))),
        "lost_choices": sum(1 for a in acknowledged if a not in stored_assignments),
        "choices_in_db": stored["choices"],
        "acknowledged": len(acknowledged),
        "gunicorn": {"workers": workers, "threads": threads},
        "web_worker_peak_rss_mb": rss,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.labeling")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--capacity-seconds", type=float, default=20)
    parser.add_argument("--annotators", type=int, default=16, help="closed-loop annotators")
    parser.add_argument("--rate", type=float, default=50, help="open-loop round trips per second")
    parser.add_argument("--open-seconds", type=float, default=60)
    parser.add_argument("--pool", type=int, default=32, help="annotator sessions serving the open loop")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--chat", action="store_true",
                        help="a chat project: conversations and Markdown answers (compare with the default text)")
    parser.add_argument("--tiny", action="store_true", help="a smoke run: SQLite, 300 tasks, a few seconds")
    args = parser.parse_args(argv)
    if args.tiny:
        args.db, args.tasks, args.capacity_seconds, args.open_seconds, args.rate = "sqlite", 300, 2, 2, 10
        args.annotators, args.pool = 4, 4
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    report = {
        "benchmark": "labeling",
        "results": [
            run(db, tasks=args.tasks, capacity_seconds=args.capacity_seconds, rate=args.rate,
                open_seconds=args.open_seconds, annotators=args.annotators, pool=args.pool,
                workers=args.workers, threads=args.threads, chat=args.chat)
            for db in dbs
        ],
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
