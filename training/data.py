"""Four-way choices and prompts as plain data, with JSONL helpers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from training.chat import answer_content, conversation_validate


@dataclass(frozen=True)
class FourWayChoice:
    prompt: str | list  # text, or a conversation ending in a user turn (see training.chat)
    completions: list[str] = field(default_factory=list)  # answers; for a chat, their content
    best: int = 0

    def __post_init__(self):
        if isinstance(self.prompt, list):
            try:
                conversation_validate(self.prompt)
            except ValueError as exc:
                raise ValueError(f"a choice's prompt{exc}") from exc
        elif not isinstance(self.prompt, str):
            raise ValueError("a choice's prompt must be a string or a conversation")
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


@dataclass(frozen=True)
class Demonstration:
    prompt: str | list  # text, or a conversation ending in a user turn
    answer: str  # the answer alone (an assistant message's content)

    @classmethod
    def from_dict(cls, row: dict) -> "Demonstration":
        """From `{"prompt", "answer"|"completion"}` or `{"messages": [..., assistant]}`."""
        if not isinstance(row, dict):
            raise ValueError(f"a demonstration must be an object, got {type(row).__name__}")
        if "messages" in row:
            msgs = row["messages"]
            if not isinstance(msgs, list) or not msgs:
                raise ValueError("messages: must be a non-empty list")
            return cls(prompt=conversation_validate(msgs[:-1]), answer=answer_content(msgs[-1]))
        if "prompt" not in row or not ({"answer", "completion"} & set(row)):
            raise ValueError("a demonstration needs 'prompt' and 'answer' (or 'messages')")
        answer = row.get("answer", row.get("completion"))
        return cls(prompt=row["prompt"], answer=answer_content(answer))


def read_demonstrations(path: str | Path) -> list[Demonstration]:
    """Demonstrations from JSONL; a bad line is reported with the file and its number."""
    out = []
    for lineno, row in enumerate(read_jsonl(path), 1):
        try:
            out.append(Demonstration.from_dict(row))
        except ValueError as exc:
            raise ValueError(f"{path}: demonstration {lineno}: {exc}") from exc
    if not out:
        raise ValueError(f"{path}: no demonstrations")
    return out


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


def read_prompts(path: str | Path) -> list:
    """Prompts from JSONL, one `{"prompt": ...}` per line: a string, or a conversation (a list of
    messages ending in a user turn). All lines must be of one kind; errors name file and line."""
    prompts = []
    for lineno, row in enumerate(read_jsonl(path), 1):
        prompt = row.get("prompt") if isinstance(row, dict) else None
        if isinstance(prompt, list):
            try:
                prompt = conversation_validate(prompt)
            except ValueError as exc:
                raise ValueError(f"{path}: prompt {lineno}: prompt{exc}") from exc
        elif not isinstance(prompt, str):
            raise ValueError(f"{path}: every line needs a string 'prompt'")
        if prompts and isinstance(prompt, list) != isinstance(prompts[0], list):
            raise ValueError(f"{path}: prompt {lineno}: all prompts must be text or all conversations")
        prompts.append(prompt)
    if not prompts:
        raise ValueError(f"{path}: no prompts")
    return prompts
