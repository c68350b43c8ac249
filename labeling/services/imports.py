"""Creating tasks and importing prompts and comparisons.

Imports are all-or-nothing: every row is parsed and validated first, errors name the file, the
line and the field, and only a clean file is written, in one transaction.
"""

import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

from django.db import transaction

from labeling.models import (
    COMPLETIONS_PER_TASK,
    ComparisonTask,
    Completion,
    PolicyVersion,
    Project,
    Prompt,
)
from labeling.services import conversations, parsing

MAX_TEXT_CHARS = 100_000
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1
_MAX_ERRORS_REPORTED = 20


class ImportValidationError(ValueError):
    """A file that cannot be imported. ``errors`` lists 'file, line N, field F: problem' lines."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:_MAX_ERRORS_REPORTED]
        more = len(errors) - len(shown)
        message = "\n".join(shown) + (f"\n… and {more} more" if more else "")
        super().__init__(f"Nothing was imported.\n{message}")


@dataclass
class ImportResult:
    created: int = 0
    duplicates: int = 0
    prompts_created: int = 0
    prompts_reused: int = 0
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.created} created, {self.duplicates} duplicates skipped"
            + (f", {self.prompts_created} new prompts" if self.prompts_created else "")
        )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def comparison_hash(prompt: str | list[dict], completions: Iterable[str]) -> str:
    # \x1f (unit separator) cannot be confused with text inside a completion boundary.
    return text_hash("\x1f".join([conversations.prompt_text(prompt), *completions]))


@dataclass(frozen=True)
class _Row:
    line: int
    data: dict


def _rows(name: str, stream, errors: list[str]) -> Iterator[_Row]:
    # Streamed and bounded (see services/parsing.py): values are checked as they are read.
    for number, data in parsing.rows(name, stream, errors):
        yield _Row(number, data)


def _text_field(name: str, row: _Row, key: str, errors: list[str], label: str | None = None):
    value = row.data.get(key)
    where = f"{name}, line {row.line}, field '{label or key}'"
    if value is None:
        errors.append(f"{where}: missing")
    elif not isinstance(value, str):
        errors.append(f"{where}: expected text, got {type(value).__name__}")
    elif not value.strip():
        errors.append(f"{where}: empty")
    elif len(value) > MAX_TEXT_CHARS:
        errors.append(f"{where}: longer than {MAX_TEXT_CHARS} characters")
    else:
        return value
    return None


def _prompt_field(project: Project, name: str, row: _Row, errors: list[str]):
    """The row's prompt: text for a text project, a validated conversation for a chat one."""
    if conversations.is_chat(project):
        return conversations.conversation_field(name, row.line, row.data, errors)
    if conversations.text_prompt_refused(name, row.line, row.data, errors):
        return None
    return _text_field(name, row, "prompt", errors)


def _metadata(name: str, row: _Row, errors: list[str], extra_keys: Iterable[str] = ()) -> dict:
    metadata = row.data.get("metadata", {})
    if not isinstance(metadata, dict):
        errors.append(f"{name}, line {row.line}, field 'metadata': expected an object")
        return {}
    # CSV: every column besides the known ones is kept as metadata.
    return {**{k: row.data[k] for k in extra_keys if row.data.get(k) not in (None, "")}, **metadata}


SPLITS = ("train", "evaluation")


def _split_field(name: str, row: _Row, errors: list[str]) -> str:
    """Optional "split": "evaluation" holds a prompt out for human evaluation; "train" or
    nothing leaves it in training."""
    value = row.data.get("split")
    if value in (None, ""):
        return "train"
    if value not in SPLITS:
        errors.append(f"{name}, line {row.line}, field 'split': expected one of {', '.join(SPLITS)}, got {value!r}")
        return "train"
    return value


def _open(path_or_file, name: str | None):
    return parsing.open_source(path_or_file, name)


_JSONL_OR_PARQUET = (".jsonl", ".json", ".ndjson", ".parquet")


def _parse_rows(source, name: str | None, parse_row, *, jsonl_or_parquet: str | None = None) -> list:
    """Every row of ``source`` (a path or a file object, closed here) through
    ``parse_row(name, row, errors)``, which returns the row's item or None and appends each
    error it finds. With ``jsonl_or_parquet`` (what the rows are, e.g. "comparisons") any other
    format is refused. Raises ImportValidationError with every error of the file (an unreadable
    file and an empty one included); else returns the items in file order. Writes nothing."""
    errors: list[str] = []
    stream, name = _open(source, name)
    parsed = []
    try:
        if jsonl_or_parquet and not name.lower().endswith(_JSONL_OR_PARQUET):
            errors.append(f"{name}: {jsonl_or_parquet} are imported from JSONL (.jsonl) or Parquet")
        else:
            for row in _rows(name, stream, errors):
                item = parse_row(name, row, errors)
                if item is not None:
                    parsed.append(item)
    except (UnicodeDecodeError, csv.Error) as exc:
        errors.append(f"{name}: cannot be read ({exc})")
    finally:
        stream.close()
    if not parsed and not errors:
        errors.append(f"{name}: no rows")
    if errors:
        raise ImportValidationError(errors)
    return parsed


def _prompt_row(project: Project, name: str, row: _Row, errors: list[str]):
    """One row of a prompts file as (prompt, metadata, split), or None (and its errors)."""
    text = _prompt_field(project, name, row, errors)
    extra = [k for k in row.data if k not in ("prompt", "messages", "metadata", "split")]
    metadata = _metadata(name, row, errors, extra if name.lower().endswith(".csv") else ())
    split = _split_field(name, row, errors)
    return None if text is None else (text, metadata, split)


def prompts_import(*, project: Project, source, name: str | None = None) -> ImportResult:
    """Import prompts from JSONL ({"prompt": …, "metadata": {…}}), CSV (a ``prompt`` column) or
    Parquet (a ``prompt`` column). A chat project's prompts are conversations: a list of
    messages under ``prompt`` (or ``messages``); a plain string becomes one user turn. An optional
    ``split`` field ("train" or "evaluation") holds a prompt out for human evaluation.

    ``source`` is a path or a file object. Atomic: raises ImportValidationError naming file,
    line and field, and writes nothing, if any row is bad. Prompts already in the project (or
    repeated in the file) are skipped and counted.
    """
    parsed: list[tuple[str | list[dict], dict, str]] = _parse_rows(source, name, partial(_prompt_row, project))

    result = ImportResult()
    html = conversations.rendered(project, (t for t, _, _ in parsed))
    with transaction.atomic():
        existing = set(
            Prompt.objects.filter(
                project=project, text_hash__in=[conversations.prompt_hash(t) for t, _, _ in parsed]
            ).values_list("text_hash", flat=True)
        )
        new = []
        for text, metadata, split in parsed:
            digest = conversations.prompt_hash(text)
            if digest in existing:
                result.duplicates += 1
                continue
            existing.add(digest)
            prompt = conversations.prompt_new(project=project, prompt=text, metadata=metadata, html=html)
            prompt.is_evaluation = split == "evaluation"
            new.append(prompt)
        Prompt.objects.bulk_create(new, batch_size=1000)
        result.created = len(new)
    return result


@dataclass(frozen=True)
class NewTask:
    prompt: str | list[dict]  # text, or (chat projects) a validated conversation
    completions: list[str]  # chat projects: the assistant messages' content
    priority: int = 0
    metadata: dict = field(default_factory=dict)
    gold_position: int | None = None  # known best completion: a gold task
    evaluation: bool = False  # an evaluation round's task (labeling.services.evaluation)


# Gold tasks are judged by everyone and never complete.
GOLD_ANNOTATIONS_WANTED = 32_767


def _annotations_wanted(project: Project, task: NewTask, digest: str) -> int:
    if task.gold_position is not None:
        return GOLD_ANNOTATIONS_WANTED
    # A stable share of tasks (by content hash) gets the full overlap; the rest one annotator.
    if int(digest[:8], 16) % 100 < project.overlap_share:
        return project.annotations_per_task
    return 1


def tasks_create(
    *, project: Project, tasks: list[NewTask], policy_version: PolicyVersion | None = None
) -> ImportResult:
    """Create open four-way tasks (and their prompts, reused when already present).

    Preconditions: each NewTask has exactly four completions, and its prompt is a validated
    conversation in a chat project (text otherwise). Tasks whose prompt and completions repeat an
    existing task of the project are skipped and counted. Chat completions are rendered to HTML
    here, once. One transaction.
    """
    chat = conversations.is_chat(project)
    for task in tasks:
        if isinstance(task.prompt, list) != chat:
            raise ValueError(f"project {project.slug!r} takes {project.prompt_format} prompts, got {task.prompt!r:.80}")
    result = ImportResult()
    html = conversations.rendered(project, (t.prompt for t in tasks), (c for t in tasks for c in t.completions))
    with transaction.atomic():
        hashes = [comparison_hash(t.prompt, t.completions) for t in tasks]
        seen = set(
            ComparisonTask.objects.filter(project=project, content_hash__in=hashes).values_list(
                "content_hash", flat=True
            )
        )
        wanted: list[tuple[NewTask, str]] = []
        for task, digest in zip(tasks, hashes, strict=True):
            if len(task.completions) != COMPLETIONS_PER_TASK:
                raise ValueError(f"a task needs exactly four completions, got {len(task.completions)}")
            if digest in seen:
                result.duplicates += 1
                continue
            seen.add(digest)
            wanted.append((task, digest))
        if not wanted:
            return result

        prompt_hashes = {conversations.prompt_hash(t.prompt): t for t, _ in wanted}
        prompts = dict(
            Prompt.objects.filter(project=project, text_hash__in=prompt_hashes).values_list(
                "text_hash", "pk"
            )
        )
        result.prompts_reused = len(prompts)
        new_prompts = [
            conversations.prompt_new(project=project, prompt=t.prompt, metadata=t.metadata, html=html)
            for h, t in prompt_hashes.items()
            if h not in prompts
        ]
        for prompt in Prompt.objects.bulk_create(new_prompts, batch_size=1000):
            prompts[prompt.text_hash] = prompt.pk
        result.prompts_created = len(new_prompts)

        created = ComparisonTask.objects.bulk_create(
            [
                ComparisonTask(
                    project=project,
                    prompt_id=prompts[conversations.prompt_hash(t.prompt)],
                    policy_version=policy_version,
                    generation=policy_version.number if policy_version else 0,
                    priority=t.priority,
                    annotations_wanted=_annotations_wanted(project, t, digest),
                    is_gold=t.gold_position is not None,
                    gold_position=t.gold_position,
                    is_evaluation=t.evaluation,
                    content_hash=digest,
                    status=ComparisonTask.Status.DRAFT,
                )
                for t, digest in wanted
            ],
            batch_size=1000,
        )
        Completion.objects.bulk_create(
            [
                Completion(task_id=task.pk, position=position, text=text, html=html.get(text, ""))
                for task, (new, _) in zip(created, wanted, strict=True)
                for position, text in enumerate(new.completions)
            ],
            batch_size=4000,
        )
        ComparisonTask.objects.filter(pk__in=[t.pk for t in created]).update(
            status=ComparisonTask.Status.OPEN
        )
        result.created = len(created)
    return result


def _comparison_row(project: Project, name: str, row: _Row, errors: list[str]) -> NewTask | None:
    """One row of a comparisons file as a NewTask, or None (and its errors) if it is refused."""
    prompt = _prompt_field(project, name, row, errors)
    completions = row.data.get("completions")
    where = f"{name}, line {row.line}, field 'completions'"
    texts = None
    if not isinstance(completions, list):
        errors.append(f"{where}: expected a list of four texts")
    elif len(completions) != COMPLETIONS_PER_TASK:
        errors.append(f"{where}: expected exactly four completions, got {len(completions)}")
    else:
        refused = set()
        if conversations.is_chat(project):  # assistant messages: their content
            completions = [conversations.answer_field(name, row.line, i, c, errors)
                           for i, c in enumerate(completions)]
            refused = {i for i, c in enumerate(completions) if c is None}
        texts = [
            None if i in refused else _text_field(
                name, _Row(row.line, {"c": c}), "c", errors, label=f"completions[{i}]"
            )
            for i, c in enumerate(completions)
        ]
    priority = row.data.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        errors.append(f"{name}, line {row.line}, field 'priority': expected an integer")
        priority = 0
    elif not PRIORITY_MIN <= priority <= PRIORITY_MAX:  # a 32-bit column
        errors.append(f"{name}, line {row.line}, field 'priority': out of range "
                      f"({PRIORITY_MIN} to {PRIORITY_MAX})")
        priority = 0
    gold = row.data.get("gold")
    if gold is not None and (not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < 4):
        errors.append(f"{name}, line {row.line}, field 'gold': expected the index 0–3 of the best completion")
        gold = None
    metadata = _metadata(name, row, errors)
    if prompt is None or texts is None or None in texts:
        return None
    return NewTask(prompt, texts, priority, metadata, gold)


def comparisons_import(*, project: Project, source, name: str | None = None) -> ImportResult:
    """Import pre-sampled comparisons: JSONL rows {"prompt", "completions": [four texts]}.
    In a chat project the prompt is a conversation (under ``prompt`` or ``messages``) and each
    completion an assistant message or its content.

    Optional fields: "priority" (integer), "metadata" (object), "gold" (index 0–3 of the known
    best completion: the task becomes a gold task). Atomic, like prompts_import.
    """
    parsed = _parse_rows(source, name, partial(_comparison_row, project), jsonl_or_parquet="comparisons")
    return tasks_create(project=project, tasks=parsed)
