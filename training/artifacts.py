"""Crash-safe output folders: built in a sibling temporary folder, renamed when complete."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_output_dir(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to `out_dir`; on success it becomes `out_dir`.

    A sibling (same file system) makes the final rename atomic. On any error the temporary folder
    is removed, so nothing that looks like a finished artifact is left behind. An existing
    `out_dir` is refused rather than overwritten: versions are immutable once written.
    """
    out = Path(out_dir)
    if out.exists():
        raise ValueError(f"output folder {str(out)!r} already exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a finished version is meant to be shared
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_version(out_dir: str | os.PathLike, model, tokenizer, meta_file: str, meta: dict) -> None:
    """Write one immutable version at `out_dir`, atomically: the model's weights (safetensors),
    its tokenizer, and `meta_file` holding `meta` as JSON (values JSON cannot hold, such as
    paths, written as strings). Refuses an existing `out_dir` (atomic_output_dir)."""
    with atomic_output_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / meta_file).write_text(json.dumps(meta, indent=2, default=str))
