"""Preference data sets out (listwise and pairwise), and Parquet rows in.

One service, ``preferences_export``, serves the command line, the staff download page and the
API. It streams: choices are read with a server-side cursor (``.iterator``) and written in
batches (JSONL lines, or one Parquet row group per batch), so memory stays flat however many
choices there are. Files are written under a temporary name and renamed into place when
complete; a manifest beside each export (``PATH.manifest.json``) records filters, counts and
versions.

Web-safe: only the stdlib and (on first use) pyarrow are imported here. The ``datasets`` folder format
(``save_to_disk``) imports ``datasets`` inside its own code path, for the command line.
"""

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timezone as dt_timezone
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from labeling.models import COMPLETIONS_PER_TASK, Choice, Completion, Project
from labeling.selectors.exports import (  # noqa: F401  (ExportError, ExportFilters: part of this service's API)
    ExportError,
    ExportFilters,
    choices_for_export,
)

# Bumped whenever a column is added, removed or changes meaning.
SCHEMA_VERSION = 1
FORMATS = ("listwise", "pairwise")
# Rows fetched per database round trip and written per JSONL batch / Parquet row group.
BATCH_ROWS = 2000
MANIFEST_SUFFIX = ".manifest.json"


@lru_cache(maxsize=None)
def schemas() -> dict:
    """Column types per format. pyarrow is imported on first use, not with the web process:
    it costs a web worker some 20 MB that labeling requests never need."""
    import pyarrow as pa

    listwise = pa.schema(
        [
            ("prompt", pa.string()),
            ("completions", pa.list_(pa.string())),  # canonical order, as sampled
            ("best", pa.int8()),  # canonical index 0–3 of the chosen one; null for skip/flag
            ("kind", pa.string()),  # best | skip | flag
            ("display_order", pa.list_(pa.int8())),  # canonical positions in the order shown
            ("annotator", pa.string()),
            ("policy_version", pa.int64()),  # sampling policy's number; null for imported tasks
            ("decision_ms", pa.int64()),
            ("created", pa.string()),  # ISO 8601, UTC
            ("choice_id", pa.int64()),
            ("task_id", pa.int64()),
        ]
    )
    # TRL's RewardTrainer and DPOTrainer read an explicit prompt in plain text: prompt + chosen
    # and prompt + rejected are the two sequences scored, so completions are kept as sampled.
    pairwise = pa.schema(
        [
            ("prompt", pa.string()),
            ("chosen", pa.string()),
            ("rejected", pa.string()),
            ("chosen_position", pa.int8()),
            ("rejected_position", pa.int8()),
            ("annotator", pa.string()),
            ("policy_version", pa.int64()),
            ("created", pa.string()),
            ("choice_id", pa.int64()),
            ("task_id", pa.int64()),
        ]
    )
    return {"listwise": listwise, "pairwise": pairwise}


@lru_cache(maxsize=None)
def chat_schemas() -> dict:
    """Chat projects: the same columns, with TRL's conversational types. ``prompt`` is the
    conversation (a list of messages); listwise ``completions`` are four assistant messages;
    pairwise ``chosen`` and ``rejected`` are each a list of one assistant message, as TRL's
    RewardTrainer and DPOTrainer read conversational preference data."""
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    conversation = pa.list_(message)
    text = schemas()
    return {
        "listwise": text["listwise"]
        .set(0, pa.field("prompt", conversation))
        .set(1, pa.field("completions", pa.list_(message))),
        "pairwise": text["pairwise"]
        .set(0, pa.field("prompt", conversation))
        .set(1, pa.field("chosen", conversation))
        .set(2, pa.field("rejected", conversation)),
    }


@dataclass
class ExportResult:
    path: Path
    manifest_path: Path
    format: str
    file_format: str
    choices: int = 0
    rows: int = 0
    manifest: dict = field(default_factory=dict)


def file_format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".parquet"):
        return suffix[1:]
    if suffix:
        raise ExportError(f"{path.name}: unknown extension {suffix}; use .jsonl, .parquet or a folder")
    return "datasets"


def annotator_label(user_id: int, *, username: str | None = None) -> str:
    """A stable pseudonym (HMAC of the user id keyed by SECRET_KEY), or the username when
    staff asked to reveal who labeled."""
    if username is not None:
        return username
    digest = hmac.new(settings.SECRET_KEY.encode(), f"annotator:{user_id}".encode(), hashlib.sha256)
    return "a-" + digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def quartet_version() -> str:
    with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["version"]


_COLUMNS = (
    "pk", "task_id", "kind", "completion__position", "display_order", "decision_ms", "created_at",
    "annotator_id", "annotator__username", "task__prompt__text", "task__policy_version__number",
)


def _assistant(content: str) -> dict:
    return {"role": "assistant", "content": content}


def _listwise_rows(queryset: QuerySet[Choice], *, reveal_annotators: bool, chat: bool = False) -> Iterator[dict]:
    # The four texts come in the same row (an indexed subquery each), so one streamed query
    # serves the whole export and nothing is held per task.
    texts = {
        f"c{p}": Subquery(
            Completion.objects.filter(task_id=OuterRef("task_id"), position=p).values("text")[:1]
        )
        for p in range(COMPLETIONS_PER_TASK)
    }
    names: dict[int, str] = {}
    # A chat prompt is exported as its conversation (stored beside its text key).
    columns = [*_COLUMNS[:-2], "task__prompt__messages", _COLUMNS[-1]] if chat else _COLUMNS
    rows = queryset.annotate(**texts).values_list(*columns, *texts).iterator(chunk_size=BATCH_ROWS)
    for (pk, task_id, kind, best, order, ms, created, user_id, username, prompt, version, *completions) in rows:
        if chat:
            completions = [_assistant(text) for text in completions]
        if user_id not in names:
            names[user_id] = annotator_label(user_id, username=username if reveal_annotators else None)
        yield {
            "prompt": prompt,
            "completions": completions,
            "best": best,
            "kind": kind,
            "display_order": order,
            "annotator": names[user_id],
            "policy_version": version,
            "decision_ms": ms,
            "created": created.astimezone(dt_timezone.utc).isoformat(),
            "choice_id": pk,
            "task_id": task_id,
        }


def _pairwise_rows(listwise: Iterator[dict]) -> Iterator[dict]:
    """The best completion against each of the other three: three rows per best-of-four choice."""
    for row in listwise:
        best = row["best"]
        if best is None:
            continue
        for other in range(COMPLETIONS_PER_TASK):
            if other == best:
                continue
            chosen, rejected = row["completions"][best], row["completions"][other]
            if isinstance(chosen, dict):  # chat: one assistant message each, as a list (TRL)
                chosen, rejected = [chosen], [rejected]
            yield {
                "prompt": row["prompt"],
                "chosen": chosen,
                "rejected": rejected,
                "chosen_position": best,
                "rejected_position": other,
                "annotator": row["annotator"],
                "policy_version": row["policy_version"],
                "created": row["created"],
                "choice_id": row["choice_id"],
                "task_id": row["task_id"],
            }


class _Counter:
    """Counts the listwise rows (choices) that pass through it."""

    def __init__(self, rows: Iterator[dict]):
        self.rows, self.choices, self.by_kind = rows, 0, {}

    def __iter__(self):
        for row in self.rows:
            self.choices += 1
            self.by_kind[row["kind"]] = self.by_kind.get(row["kind"], 0) + 1
            yield row


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write_jsonl(path: Path, rows: Iterator[dict], schema) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for batch in _batches(rows, BATCH_ROWS):
            fh.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in batch))
            count += len(batch)
    return count


def _write_parquet(path: Path, rows: Iterator[dict], schema) -> int:
    count = 0
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in _batches(rows, BATCH_ROWS):
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))  # one row group
            count += len(batch)
    return count


def _write_datasets_folder(path: Path, rows: Iterator[dict], schema) -> int:
    import datasets  # command line only: the web process never writes this format

    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        staged = Path(scratch) / "rows.parquet"
        count = _write_parquet(staged, rows, schema)
        table = datasets.Dataset.from_parquet(str(staged), cache_dir=str(Path(scratch) / "cache"))
        table.save_to_disk(str(path))
    return count


_WRITERS = {"jsonl": _write_jsonl, "parquet": _write_parquet, "datasets": _write_datasets_folder}


def export_target(out, *, allow_datasets: bool) -> tuple[Path, str]:
    """``out`` as a Path and its file format, or ExportError when it cannot be written: the
    datasets format outside the command line, an existing datasets folder, a missing parent."""
    out = Path(out)
    file_format = file_format_for(out)
    if file_format == "datasets" and not allow_datasets:
        raise ExportError("the datasets folder format is written by the command line only")
    if file_format == "datasets" and out.exists():
        raise ExportError(f"{out}: already exists; a datasets folder is never overwritten")
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent}: no such folder")
    return out, file_format


def rows_write_atomically(out: Path, rows: Iterator[dict], schema, file_format: str) -> int:
    """Stream ``rows`` into ``out`` (jsonl, parquet or a datasets folder) through a hidden
    staging name renamed into place, so a crash never leaves a file that looks finished.
    Returns the number of rows written."""
    staged = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        written = _WRITERS[file_format](staged, rows, schema)
        os.replace(staged, out)
    finally:
        if staged.is_dir():
            shutil.rmtree(staged, ignore_errors=True)
        elif staged.exists():
            staged.unlink()
    return written


def preferences_export(
    *,
    project: Project,
    format: str,
    out: str | Path,
    filters: ExportFilters | None = None,
    reveal_annotators: bool = False,
    allow_datasets: bool = True,
) -> ExportResult:
    """Write the project's choices as a listwise or pairwise preference data set to ``out``.

    The file format follows the extension: ``.jsonl``, ``.parquet``, or (no extension) a folder
    written with ``datasets``' ``save_to_disk`` (only where ``allow_datasets``: never in the web
    process). Annotators appear as pseudonyms unless ``reveal_annotators`` (staff only).
    Side effects: ``out`` is replaced atomically (a folder must not exist yet) and a manifest
    ``out.manifest.json`` is written beside it. Raises ExportError before writing anything when
    the format, path or filters are unusable.
    """
    filters = filters or ExportFilters()
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; use {' or '.join(FORMATS)}")
    out, file_format = export_target(out, allow_datasets=allow_datasets)
    queryset = choices_for_export(project=project, filters=filters)
    chat = project.prompt_format == Project.PromptFormat.CHAT
    schema = (chat_schemas() if chat else schemas())[format]
    counter = _Counter(_listwise_rows(queryset, reveal_annotators=reveal_annotators, chat=chat))
    rows = iter(counter) if format == "listwise" else _pairwise_rows(iter(counter))

    written = rows_write_atomically(out, rows, schema, file_format)

    manifest = {
        "quartet_version": quartet_version(),
        "schema_version": SCHEMA_VERSION,
        "project": project.slug,
        "format": format,
        "file_format": file_format,
        "file": out.name,
        "columns": schema.names,
        "annotators": "usernames" if reveal_annotators else "pseudonyms (HMAC of the user id)",
        **({"prompt_format": "chat"} if chat else {}),  # text manifests keep their exact keys
        "filters": filters.describe(),
        "counts": {"choices": counter.choices, "rows": written, "by_kind": counter.by_kind},
        "created": timezone.now().isoformat(),
    }
    manifest_path = out.with_name(out.name + MANIFEST_SUFFIX)
    staged_manifest = manifest_path.with_name(f".{manifest_path.name}.partial-{os.getpid()}")
    staged_manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(staged_manifest, manifest_path)
    return ExportResult(out, manifest_path, format, file_format, counter.choices, written, manifest)


# --- data in: Parquet rows for labeling.services.imports ---


def parquet_rows(source, *, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[int, dict]]:
    """Rows of a Parquet file (a path or a binary file object) as (row number from 1, dict),
    read one batch at a time. Raises ValueError when the file is not readable Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"not a readable Parquet file ({exc})") from None
    number = 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            number += 1
            yield number, row


# --- exports kept in the artifact store, for the download page and the API ---

STORED_FILE_FORMATS = ("jsonl", "parquet")
_STORED_NAME = re.compile(r"^(listwise|pairwise)-\d{8}T\d{6}-[0-9a-f]{6}\.(jsonl|parquet)$")


def _stored_dir(project: Project) -> Path:
    return Path(settings.QUARTET_ARTIFACTS_DIR) / "exports" / project.slug


def preferences_export_stored(
    *, project: Project, format: str, file_format: str, filters: ExportFilters | None = None,
    reveal_annotators: bool = False,
) -> ExportResult:
    """Write an export (JSONL or Parquet only: web-safe) into the project's export folder under
    QUARTET_ARTIFACTS_DIR, with a fresh name, and return it. See preferences_export."""
    if file_format not in STORED_FILE_FORMATS:
        raise ExportError(f"unknown file format {file_format!r}; use jsonl or parquet")
    folder = _stored_dir(project)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{format}-{timezone.now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}.{file_format}"
    return preferences_export(
        project=project, format=format, out=folder / name, filters=filters,
        reveal_annotators=reveal_annotators, allow_datasets=False,
    )


def exports_stored(*, project: Project) -> list[dict]:
    """Manifests of the project's stored exports whose file is still there, newest first."""
    folder = _stored_dir(project)
    manifests = []
    for path in folder.glob("*" + MANIFEST_SUFFIX) if folder.is_dir() else ():
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if _STORED_NAME.match(manifest.get("file", "")) and (folder / manifest["file"]).is_file():
            manifests.append(manifest)
    return sorted(manifests, key=lambda m: m["created"], reverse=True)


def export_stored_path(*, project: Project, name: str) -> Path | None:
    """The stored export file called ``name``, or None (never a path outside the folder)."""
    if not _STORED_NAME.match(name):
        return None
    path = _stored_dir(project) / name
    return path if path.is_file() else None
