"""Streaming exports: peak memory and time to export N synthetic choices (default 200,000).

    python -m bench.export [--choices N] [--keep]

Seeds a throwaway SQLite database (N choices: N/4 tasks, each judged by 4 annotators; about 90%
best-of-four, 5% skipped, 5% flagged), then runs each export (listwise and pairwise, to JSONL
and to Parquet) in its own process and reads that process's peak RSS from the kernel
(``wait4``). ``baseline`` is a process that sets up Django and imports pyarrow, exporting
nothing. Prints one JSON object as its last line. A benchmark, not a test: no assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANNOTATORS = 4
BATCH = 5000
EXPORTS = [("listwise", "jsonl"), ("listwise", "parquet"), ("pairwise", "jsonl"), ("pairwise", "parquet")]


def _django(db_path: Path) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "bench-export-not-a-secret-" + "x" * 40,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "QUARTET_ARTIFACTS_DIR": str(db_path.parent / "artifacts"),
    })
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def seed(db_path: Path, choices: int) -> None:
    """Tasks through the real service (DB triggers apply), choices in bulk."""
    _django(db_path)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from labeling.models import Choice, Completion, Project
    from labeling.services import NewTask, tasks_create

    call_command("migrate", verbosity=0)
    project = Project.objects.create(name="Bench", slug="bench", annotations_per_task=ANNOTATORS)
    users = [get_user_model().objects.create(username=f"bench{i}") for i in range(ANNOTATORS)]
    filler = "a sentence of ordinary length that stands for model output, " * 2
    n_tasks = -(-choices // ANNOTATORS)
    for start in range(0, n_tasks, BATCH):
        tasks_create(project=project, tasks=[
            NewTask(f"Prompt {i}: {filler}", [f"{filler}completion {p} of {i}" for p in range(4)])
            for i in range(start, min(n_tasks, start + BATCH))
        ])
    made = 0
    completions = Completion.objects.filter(task__project=project).order_by("task_id", "position")
    batch, rows = [], completions.values_list("task_id", "position", "pk").iterator(chunk_size=BATCH * 4)
    for task_id, position, completion_id in rows:
        if made >= choices:
            break
        user = users[position]  # each annotator judges every task once
        kind = ("skip" if made % 20 == 0 else "flag" if made % 20 == 1 else "best")
        batch.append(Choice(
            task_id=task_id, annotator=user, project=project, kind=kind,
            completion_id=completion_id if kind == "best" else None,
            display_order=[3, 1, 0, 2], decision_ms=1000 + made % 5000,
        ))
        made += 1
        if len(batch) == BATCH:
            Choice.objects.bulk_create(batch)
            batch = []
    Choice.objects.bulk_create(batch)


def child(db_path: Path, fmt: str, out: str | None) -> None:
    _django(db_path)
    import pyarrow  # noqa: F401  (the baseline pays for the same imports)

    from labeling.models import Project
    from labeling.services.exports import ExportFilters, preferences_export

    if fmt == "baseline":
        return
    project = Project.objects.get(slug="bench")
    filters = ExportFilters(include_skipped=True, include_flagged=True)
    result = preferences_export(project=project, format=fmt, out=out, filters=filters)
    print(json.dumps({"rows": result.rows, "choices": result.choices}))


def _measured(db_path: Path, fmt: str, out: Path | None) -> dict:
    command = [sys.executable, "-m", "bench.export", "--child", fmt, "--db", str(db_path)]
    if out is not None:
        command += ["--out", str(out)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{fmt} export failed with exit code {process.returncode}")
    result = {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    if out is not None:
        result.update(json.loads(output.strip().splitlines()[-1]))
        result["bytes"] = out.stat().st_size
    return result


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(prog="python -m bench.export")
    parser.add_argument("--choices", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(Path(args.db), args.child, args.out)
    if args.seed:
        return seed(Path(args.db), args.choices)

    workdir = Path(tempfile.mkdtemp(prefix="quartet-bench-export-"))
    db_path = workdir / "bench.sqlite3"
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bench.export", "--seed", "--db", str(db_path),
                        "--choices", str(args.choices)], cwd=REPO, check=True)
        seed_seconds = time.perf_counter() - started
        results = {"baseline": _measured(db_path, "baseline", None)}
        for fmt, ext in EXPORTS:
            results[f"{fmt}.{ext}"] = _measured(db_path, fmt, workdir / f"{fmt}.{ext}")
            print(f"{fmt}.{ext}: {results[f'{fmt}.{ext}']}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = {
        "benchmark": "export",
        "choices": args.choices,
        "database": "sqlite",
        "seed_seconds": round(seed_seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "results": results,
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in results.values()),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
