"""Four-way choices and prompts as plain data, with JSONL helpers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable


@dataclass(frozen=True)
class FourWayChoice:
    prompt: str
    completions: list[str] = field(default_factory=list)
    best: int = 0

    def __post_init__(self):
        if not isinstance(self.prompt, str):
            raise ValueError("a choice's prompt must be a string")
        if not isinstance(self.completions, (list, tuple)) or len(self.completions) != 4:
            n = len(self.completions) if isinstance(self.completions, (list, tuple)) else "non-list"
            raise ValueError(f"a four-way choice needs exactly 4 completions, got {n}")
        if not all(isinstance(c, str) for c in self.completions):
            raise ValueError("completions must be strings")
        if isinstance(self.best, bool) or not isinstance(self.best, int) or not 0 <= self.best < 4:
            raise ValueError(f"best index must be an integer in 0..3, got {self.best!r}")

    @classmethod
    def from_dict(cls, row: dict) -> "FourWayChoice":
        try:
            return cls(prompt=row["prompt"], completions=list(row["completions"]), best=row["best"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed choice row: {exc}") from exc

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "completions": list(self.completions), "best": self.best}


def validate_choices(choices: Iterable) -> list[FourWayChoice]:
    """Coerce dicts to choices and refuse an empty set, so bad data fails before any training."""
    out = [c if isinstance(c, FourWayChoice) else FourWayChoice.from_dict(c) for c in choices]
    for c in out:
        # Re-run validation: a frozen dataclass can still have been built around a mutated list.
        FourWayChoice.__post_init__(c)
    if not out:
        raise ValueError("the data set of choices is empty")
    return out


def data_hash(choices: Iterable[FourWayChoice]) -> str:
    """Order-sensitive SHA-256 of the choices: identifies exactly what a reward model saw."""
    h = hashlib.sha256()
    for c in choices:
        h.update(json.dumps(c.to_dict(), sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def read_jsonl(path: str | Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: invalid JSON: {exc}") from exc
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_choices(path: str | Path) -> list[FourWayChoice]:
    return validate_choices(read_jsonl(path))


def write_choices(path: str | Path, choices: Iterable[FourWayChoice]) -> None:
    write_jsonl(path, (c.to_dict() for c in choices))


def read_prompts(path: str | Path) -> list[str]:
    prompts = []
    for row in read_jsonl(path):
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise ValueError(f"{path}: every line needs a string 'prompt'")
        prompts.append(row["prompt"])
    if not prompts:
        raise ValueError(f"{path}: no prompts")
    return prompts
