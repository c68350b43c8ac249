"""Quartet through its REST API alone, with nothing but the standard library.

Imports prompts and pre-sampled comparisons, labels through ``next`` and ``submit`` (here a
stand-in labeler that prefers the longest completion), starts a reward round, polls it to the
end, then exports the choices as a pairwise data set and downloads it.

    python docs/api_example.py --base http://127.0.0.1:8000 --username admin --password … \\
        --project demo --prompts prompts.jsonl --comparisons comparisons.jsonl --out pairs.jsonl

The account must be staff (annotators may only label). See docs/API.md.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

FINISHED = ("succeeded", "failed", "cancelled")


class Api:
    def __init__(self, base: str):
        self.base = base.rstrip("/") + "/api/"
        self.token = None

    def request(self, method: str, path: str, *, json_body=None, form=None, files=None, raw=False):
        headers, data = {"Accept": "application/json"}, None
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if json_body is not None:
            data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif files is not None:
            data, headers["Content-Type"] = _multipart(form or {}, files)
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if raw:
            headers["Accept"] = "application/octet-stream"
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None
        return body if raw else json.loads(body or b"null")

    def login(self, username: str, password: str) -> None:
        self.token = self.request("POST", "auth/token/", form={"username": username, "password": password})["token"]


def _multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def import_file(api: Api, project: str, kind: str, path: str) -> dict:
    with open(path, "rb") as fh:
        content = fh.read()
    filename = path.rsplit("/", 1)[-1]
    return api.request("POST", f"projects/{project}/imports/", form={"kind": kind},
                       files={"file": (filename, content)})


def label(api: Api, project: str, limit: int) -> int:
    """Label up to ``limit`` tasks: the longest completion is the stand-in for a person."""
    done = 0
    while done < limit:
        state = api.request("GET", f"projects/{project}/tasks/next/")
        task = state["current"]
        if task is None:
            break
        best = max(task["cards"], key=lambda card: len(card["text"]))
        api.request("POST", f"projects/{project}/tasks/submit/", json_body={
            "assignment_id": task["assignment_id"], "position": best["position"], "decision_ms": 1500,
        })
        done += 1
    return done


def reward_round(api: Api, project: str, poll_seconds: float, timeout: float) -> dict:
    run = api.request("POST", f"projects/{project}/runs/", json_body={"kind": "reward"})
    deadline = time.monotonic() + timeout
    while run["status"] not in FINISHED:
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run['id']} still {run['status']} after {timeout:.0f} s")
        time.sleep(poll_seconds)
        run = api.request("GET", f"projects/{project}/runs/{run['id']}/")
        print(f"run {run['id']}: {run['status']} {run['percent']}%", file=sys.stderr)
    return run


def export(api: Api, project: str, out: str, fmt: str) -> dict:
    file_format = "parquet" if out.endswith(".parquet") else "jsonl"
    manifest = api.request("POST", f"projects/{project}/exports/",
                           json_body={"format": fmt, "file_format": file_format})
    content = api.request("GET", f"projects/{project}/exports/{manifest['file']}/", raw=True)
    with open(out, "wb") as fh:
        fh.write(content)
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--project", required=True, help="project slug")
    parser.add_argument("--prompts", help="prompts file (JSONL or CSV)")
    parser.add_argument("--comparisons", help="comparisons file (JSONL: prompt + four completions)")
    parser.add_argument("--labels", type=int, default=1000, help="label at most this many tasks")
    parser.add_argument("--format", default="pairwise", choices=["pairwise", "listwise"])
    parser.add_argument("--out", default="preferences.jsonl", help=".jsonl or .parquet")
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the round")
    args = parser.parse_args(argv)

    api = Api(args.base)
    api.login(args.username, args.password)
    summary = {}
    for kind, path in (("prompts", args.prompts), ("comparisons", args.comparisons)):
        if path:
            summary[f"imported_{kind}"] = import_file(api, args.project, kind, path)
    summary["labeled"] = label(api, args.project, args.labels)
    run = reward_round(api, args.project, args.poll_seconds, args.timeout)
    summary["run"] = {key: run[key] for key in ("id", "status", "summary", "error")}
    if run["status"] != "succeeded":
        print(json.dumps(summary))
        return 1
    summary["export"] = export(api, args.project, args.out, args.format)["counts"]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
