"""SFT data sets out: the project's demonstrations in the shapes TRL's SFTTrainer reads.

``messages`` (conversational language modeling: the conversation, then the assistant answer)
or ``prompt_completion`` (``prompt`` and ``completion``; conversational message lists for chat
prompts, plain strings for text ones), as JSONL, Parquet or a ``datasets`` folder, through the
same streaming writers and atomic rename as the preference exports, with a manifest beside it.
"""

import itertools
import json
import os
from pathlib import Path

from django.utils import timezone

from labeling.models import Project
from labeling.selectors.demonstrations import sft_export_rows
from labeling.services.exports import (
    MANIFEST_SUFFIX,
    ExportError,
    ExportResult,
    export_target,
    quartet_version,
    rows_write_atomically,
)

SFT_STYLES = ("messages", "prompt_completion")
SFT_SCHEMA_VERSION = 1


def _schema(style: str, conversational: bool):
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    if style == "messages":
        return pa.schema([("messages", pa.list_(message))])
    column = pa.list_(message) if conversational else pa.string()
    return pa.schema([("prompt", column), ("completion", column)])


def sft_export(*, project: Project, style: str, out: str | Path, allow_datasets: bool = True) -> ExportResult:
    """Write the project's demonstrations as an SFT data set to ``out`` (``.jsonl``,
    ``.parquet``, or a new folder for ``datasets``' ``save_to_disk``, command line only).

    Side effects: ``out`` replaced atomically, ``out.manifest.json`` beside it. Raises
    ExportError before writing anything when the style or path is unusable.
    """
    if style not in SFT_STYLES:
        raise ExportError(f"unknown SFT style {style!r}; use {' or '.join(SFT_STYLES)}")
    out, file_format = export_target(out, allow_datasets=allow_datasets)
    rows = sft_export_rows(project=project, style=style)
    first = next(rows, None)
    conversational = first is not None and isinstance(first.get("prompt", first.get("messages")), list)
    if style == "messages":
        conversational = True
    schema = _schema(style, conversational)
    rows = itertools.chain([first] if first is not None else [], rows)

    written = rows_write_atomically(out, rows, schema, file_format)
    manifest = {
        "quartet_version": quartet_version(),
        "schema_version": SFT_SCHEMA_VERSION,
        "project": project.slug,
        "format": f"sft-{style}",
        "file_format": file_format,
        "file": out.name,
        "columns": schema.names,
        "counts": {"demonstrations": written, "rows": written},
        "created": timezone.now().isoformat(),
    }
    manifest_path = out.with_name(out.name + MANIFEST_SUFFIX)
    staged_manifest = manifest_path.with_name(f".{manifest_path.name}.partial-{os.getpid()}")
    staged_manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(staged_manifest, manifest_path)
    return ExportResult(out, manifest_path, f"sft-{style}", file_format, written, written, manifest)
