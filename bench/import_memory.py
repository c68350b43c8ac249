"""A web worker's memory while importing: a 50 MB JSONL accepted, a small Parquet bomb refused.

    python -m bench.import_memory [--mb 50] [--bomb-mb 200]

For each upload a fresh gunicorn (one sync worker, as a worker of `make run` would hold it) serves
the API on a fresh SQLite database under var/bench-import-memory/; the upload goes through
`POST /api/projects/{slug}/imports/` with a token. Reported per case: the worker's resident memory
after a warm-up request, its peak (VmHWM) over the import, and what it keeps afterwards; the HTTP
status and the rows written. The Parquet bomb is one row whose single string of --bomb-mb MB
compresses to a few KB: it must be refused from the file's footer without being decompressed.

Prints one JSON object as its last line. A benchmark, not a test: no assertion on memory.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
import urllib.error
import urllib.request
import uuid

from bench._stack import Stack, memory_mb


def _request(url: str, token: str, body: bytes | None = None, content_type: str | None = None):
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _multipart(kind: str, name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _measure(stack: Stack, token: str, slug: str, name: str, content: bytes) -> dict:
    stack.start(workers=1, threads=1, celery=False, gunicorn_args=("--timeout", "600"))
    try:
        base = f"{stack.url}/api/projects/{slug}/"
        [worker] = stack.web_workers()
        deadline = time.monotonic() + 60
        while True:
            try:
                _request(base, token)  # warm: Django, DRF and the URL conf loaded
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        before = memory_mb(worker, "VmRSS")
        body, content_type = _multipart("prompts", name, content)
        started = time.perf_counter()
        status, answer = _request(base + "imports/", token, body, content_type)
        seconds = time.perf_counter() - started
        return {
            "file": name, "file_mb": round(len(content) / 1024 / 1024, 2), "status": status,
            "created": (answer or {}).get("created"),
            "error": None if status < 300 else ((answer or {}).get("errors") or [str(answer)])[0][:200],
            "seconds": round(seconds, 2), "worker_rss_before_mb": before,
            "worker_peak_rss_mb": memory_mb(worker, "VmHWM"), "worker_rss_after_mb": memory_mb(worker, "VmRSS"),
        }
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50, help="size of the JSONL to import")
    parser.add_argument("--bomb-mb", type=int, default=200, help="the Parquet bomb's string, decompressed")
    args = parser.parse_args()

    stack = Stack("import-memory")
    stack.setup_django()
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from labeling.models import Project

    staff = get_user_model().objects.create_user("bench-staff", password="bench-pass", is_staff=True)
    project = Project.objects.create(name="Import memory", slug="import-memory")
    token = AuthToken.objects.create(user=staff)[1]

    lines, size, i = [], 0, 0
    target = int(args.mb * 1024 * 1024)
    filler = "lorem ipsum dolor sit amet " * 36  # ~1 KB of text per prompt
    while size < target:
        line = json.dumps({"prompt": f"prompt {i}: {filler}", "metadata": {"n": i, "source": "bench"}}) + "\n"
        lines.append(line)
        size += len(line)
        i += 1
    jsonl = "".join(lines).encode()
    del lines

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table({"prompt": ["x" * (args.bomb_mb * 1024 * 1024)]}), buffer, compression="zstd")
    bomb = buffer.getvalue()
    del buffer

    from django.conf import settings

    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "max_upload_mb": settings.QUARTET_MAX_UPLOAD_MB,
        "jsonl": _measure(stack, token, project.slug, "prompts.jsonl", jsonl),
        "parquet_bomb": {**_measure(stack, token, project.slug, "bomb.parquet", bomb),
                         "decompressed_mb": args.bomb_mb},
        "prompts_in_db": project.prompts.count(),
        "rows_in_file": i,
    }
    report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
