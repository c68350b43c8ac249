"""Labeling under load: simulated annotators against the app served by gunicorn.

    python -m bench.labeling [--db sqlite|postgres|both] [--tasks 12000] [--runs 3] [--chat] [--tiny]

Each annotator has its own session and does what label.js does: it loads the labeling page once
(the task shown and the one held ready), then each decision is one POST that sends the choice and
gets back the task after next. Two figures:
- capacity: 16 annotators in a closed loop with no pause; decisions per second, p50, p95, p99;
- latency: decisions arriving open-loop at 50 per second for 60 seconds, sent by a bounded pool
  of annotator sessions (one thread each); p50, p95, p99 measured from each decision's scheduled
  start (so queueing, in the server or for a free client, counts).
Both report errors (an annotator that receives no task while the queue still holds work is one),
duplicate choices, lost choices (an acknowledged assignment whose annotator has no choice on its
task in the database) and the web workers' peak RSS. The server runs with production settings
(DEBUG off) in gunicorn with `make run`'s worker and thread counts, on a fresh database of its
own with a private name (removed afterwards), started by bench._stack as the other benchmarks'
stacks are, without a Celery worker. ``--runs N`` repeats the whole run and reports the
median and range of each figure, with the load average beside each run.

With ``--chat`` the project is a chat project: each prompt a conversation (system and user
turns) and each answer a Markdown message with a list and a fenced code block, stored with its
rendered HTML as the sampling round stores it, so chat and text throughput compare directly.

Prints one JSON object as its last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

from bench._stack import REPO, Stack, memory_mb
from labeling.annotator_client import AnnotatorClient, Page

SLUG = "bench"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Annotator:
    """One annotator doing what label.js does: the page once, then one POST a decision that
    names the task held ready and gets back the ids of the next one and the one after. Only
    the ids are parsed (labeling.annotator_client parses task text on demand)."""

    def __init__(self, url: str, username: str, password: str):
        self.client = AnnotatorClient(url, username, password)
        self.username = username
        self.page: Page | None = None

    def decide(self, position: int) -> int:
        """One decision, one request. Returns the acknowledged assignment id; an annotator with
        no task to decide on is an error (the benchmark's queue never runs dry)."""
        if self.page is None or self.page.assignment is None:
            self.page = self.client.next_task(SLUG)  # the page polls when it is empty
            if self.page.assignment is None:
                raise RuntimeError("no task received")
        assignment = self.page.assignment
        try:
            self.page = self.client.choose(SLUG, self.page, position, 1500, send_held=True)
        except Exception:
            self.page = None  # start afresh from the page
            raise
        return assignment


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
    ``top_up`` (a prompt prefix), ``tasks`` more open tasks in the existing project."""
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
from django.db.models import Count, Exists, OuterRef
from labeling.models import Assignment, Choice
rows = Choice.objects.filter(project__slug="bench")
dup = rows.values("task").annotate(n=Count("pk")).filter(n__gt=1).count()
# An assignment counts as stored when its own annotator has a choice on its task.
stored = Assignment.objects.filter(project__slug="bench").filter(
    Exists(Choice.objects.filter(task=OuterRef("task"), annotator=OuterRef("annotator"))))
print(json.dumps({"choices": rows.count(), "tasks_chosen_twice": dup,
                  "assignments": list(stored.values_list("pk", flat=True))}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _figures(latencies: list[float]) -> dict:
    def ms(q):
        value = _percentile(latencies, q)
        return round(1000 * value, 1) if value is not None else None

    return {"p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99)}


def _capacity(sessions: list[Annotator], seconds: float, acknowledged: list, errors: list) -> dict:
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def loop(session: Annotator, index: int):
        n = 0
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                assignment = session.decide(position=(index + n) % 4)
            except Exception as exc:
                with lock:
                    errors.append(f"{session.username}: {exc}")
                continue
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
        "decisions": len(latencies),
        "decisions_per_s": round(len(latencies) / wall, 1),
        **_figures(latencies),
    }


def _open_loop(sessions: list[Annotator], rate: float, seconds: float, acknowledged: list, errors: list) -> dict:
    """Decisions start on a fixed schedule whatever the server does; latency counts from the
    scheduled start, so a slow server shows up as queueing instead of being hidden. A bounded
    pool: one thread per annotator session, each taking the next scheduled decision."""
    latencies: list[float] = []
    lock = threading.Lock()
    total = int(rate * seconds)
    schedule = iter(range(total))
    begin = time.perf_counter() + 0.2
    late = [0]  # decisions that found no free client at their scheduled time

    def worker(session: Annotator):
        while True:
            with lock:
                k = next(schedule, None)
            if k is None:
                return
            scheduled = begin + k / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.001:
                with lock:
                    late[0] += 1
            try:
                assignment = session.decide(position=k % 4)
            except Exception as exc:
                with lock:
                    errors.append(f"{session.username}: {exc}")
                continue
            with lock:
                latencies.append(time.perf_counter() - scheduled)
                acknowledged.append(assignment)

    threads = [threading.Thread(target=worker, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "clients": len(sessions),
        "decisions": len(latencies),
        "started_late": late[0],
        **_figures(latencies),
    }


def run(db: str, *, tasks: int, capacity_seconds: float, rate: float, open_seconds: float,
        annotators: int, pool: int, workers: int, threads: int, chat: bool = False) -> dict:
    # A private database per run: two runs (or two people) on one machine never share one.
    private = f"quartet_bench_{os.getpid()}_{int(time.time())}"
    load_before = [round(x, 2) for x in os.getloadavg()]
    if db == "postgres":
        base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        admin = base.rsplit("/", 1)[0] + "/postgres"
        subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {private}"], check=True, capture_output=True)
        stack = Stack(private, database_url=base.rsplit("/", 1)[0] + "/" + private)
    else:
        stack = Stack(private)  # SQLite in the stack's folder
    try:
        stack.manage("collectstatic", "--noinput", "-v0")
        _prepare(stack.env, tasks, max(annotators, pool), chat=chat)
        with stack:
            stack.start(workers=workers, threads=threads, celery=False)
            sessions = [Annotator(stack.url, f"bench{i}", "bench-pass") for i in range(max(annotators, pool))]
            for s in sessions:
                s.client.login()
            acknowledged: list[int] = []
            errors: list[str] = []
            capacity = _capacity(sessions[:annotators], capacity_seconds, acknowledged, errors)
            _prepare(stack.env, tasks, 0, top_up="Second", chat=chat)  # the open loop gets a full queue of its own
            latency = _open_loop(sessions[:pool], rate, open_seconds, acknowledged, errors)
            rss = [memory_mb(pid, "VmHWM") for pid in stack.web_workers()]
        stored = _choices_in_db(stack.env)
    finally:
        if db == "postgres":
            subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {private}"], capture_output=True)
    shutil.rmtree(stack.root, ignore_errors=True)  # kept, with server.log, when the run failed
    stored_assignments = set(stored["assignments"])
    return {
        "db": db,
        "prompt_format": "chat" if chat else "text",
        "tasks": tasks,  # open tasks at the start of each phase
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
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


SUMMARIZED = {
    "capacity_decisions_per_s": ("capacity", "decisions_per_s"),
    "capacity_p99_ms": ("capacity", "p99_ms"),
    "open_loop_p50_ms": ("latency", "p50_ms"),
    "open_loop_p95_ms": ("latency", "p95_ms"),
    "open_loop_p99_ms": ("latency", "p99_ms"),
}


def summary(runs: list[dict]) -> dict:
    """Median and range of each headline figure over the runs, with each run's load average."""
    out = {}
    for name, (phase, key) in SUMMARIZED.items():
        values = [r[phase][key] for r in runs if r[phase][key] is not None]
        if values:
            out[name] = {"median": statistics.median(values), "min": min(values), "max": max(values),
                         "runs": values}
    out["load_average_1m_per_run"] = [r["load_average"]["before"][0] for r in runs]
    out["web_worker_peak_rss_mb_max"] = max(max(r["web_worker_peak_rss_mb"] or [0]) for r in runs)
    for key in ("errors", "duplicate_choices", "lost_choices"):
        out[key] = sum(r[key] for r in runs)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.labeling")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    # Enough that 16 annotators at ~300 decisions/s (SQLite on a quiet 2-core machine) do not
    # run the queue dry in the default 20 s; a dry queue counts as errors.
    parser.add_argument("--tasks", type=int, default=12000)
    parser.add_argument("--capacity-seconds", type=float, default=20)
    parser.add_argument("--annotators", type=int, default=16, help="closed-loop annotators")
    parser.add_argument("--rate", type=float, default=50, help="open-loop decisions per second")
    parser.add_argument("--open-seconds", type=float, default=60)
    parser.add_argument("--pool", type=int, default=32, help="annotator sessions (client threads) serving the open loop")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1, help="repeat; report median and range")
    parser.add_argument("--chat", action="store_true",
                        help="a chat project: conversations and Markdown answers (compare with the default text)")
    parser.add_argument("--tiny", action="store_true", help="a smoke run: SQLite, 1,000 tasks, a few seconds")
    args = parser.parse_args(argv)
    if args.tiny:
        # 1,000 tasks: a quiet machine decides ~150/s, so 300 ran dry within the 2 s (27 "no task" errors in a suite run)
        args.db, args.tasks, args.capacity_seconds, args.open_seconds, args.rate = "sqlite", 1000, 2, 2, 10
        args.annotators, args.pool = 4, 4
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    report = {"benchmark": "labeling", "results": [], "summary": {}}
    for db in dbs:
        runs = []
        for _ in range(args.runs):
            result = run(db, tasks=args.tasks, capacity_seconds=args.capacity_seconds, rate=args.rate,
                         open_seconds=args.open_seconds, annotators=args.annotators, pool=args.pool,
                         workers=args.workers, threads=args.threads, chat=args.chat)
            runs.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)  # progress, one line per run
        report["results"].extend(runs)
        report["summary"][db] = summary(runs)
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
