"""Importing demonstrations: prompts with the answer a person wrote for them.

Rows (JSONL or Parquet), in TRL's SFT shapes or Quartet's:
  {"messages": [..., {"role": "assistant", "content": "the answer"}]}   conversational
  {"prompt": [messages] | "text", "completion": "answer" | [assistant message]}
  {"prompt": "text", "answer": "the answer"}
A chat project takes conversations (a plain string becomes one user turn); a text project takes
text prompts (a ``messages`` row of one user turn and the answer counts as text). All-or-nothing like every import: each error names
the file, the line and the field, and nothing is written unless every row is good. The same
prompt and answer twice (in the file or already stored) are skipped and counted.
"""

from dataclasses import dataclass
from functools import partial

from django.db import transaction
from training.chat import ConversationError, answer_content, conversation_validate

from labeling.models import Demonstration, Project, Prompt
from labeling.services import conversations
from labeling.services.demonstrations import demonstration_hash
from labeling.services.imports import (
    MAX_TEXT_CHARS,
    ImportResult,
    _metadata,
    _parse_rows,
    _Row,
)


@dataclass(frozen=True)
class _Parsed:
    prompt: str | list  # text, or (chat projects) a validated conversation ending in a user turn
    answer: str
    metadata: dict


def _where(name: str, row: _Row, field: str) -> str:
    return f"{name}, line {row.line}, field '{field}'"


def _bounded(name: str, row: _Row, key: str, text: str, errors: list[str]) -> str | None:
    """``text`` if it is neither blank nor longer than MAX_TEXT_CHARS, else None after an error."""
    if not text.strip():
        errors.append(f"{_where(name, row, key)}: empty")
        return None
    if len(text) > MAX_TEXT_CHARS:
        errors.append(f"{_where(name, row, key)}: longer than {MAX_TEXT_CHARS} characters")
        return None
    return text


def _answer(name: str, row: _Row, key: str, value, errors: list[str]) -> str | None:
    # TRL's conversational prompt-completion puts the answer in a one-message list.
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    try:
        text = answer_content(value)
    except ConversationError as exc:
        errors.append(f"{_where(name, row, key + exc.field)}: {exc.message}")
        return None
    except (TypeError, ValueError) as exc:
        errors.append(f"{_where(name, row, key)}: {exc}")
        return None
    return _bounded(name, row, key, text, errors)


def _prompt(name: str, row: _Row, key: str, value, errors: list[str], chat: bool = False):
    """A chat project's conversation; for a text project a text prompt, where a conversation is
    accepted only when it is a single user turn."""
    if chat:
        return conversations.conversation_value(name, row.line, key, value, errors)
    if isinstance(value, list):
        try:
            turns = conversation_validate(value)
        except ConversationError as exc:
            errors.append(f"{_where(name, row, key + exc.field)}: {exc.message}")
            return None
        if len(turns) != 1:
            errors.append(
                f"{_where(name, row, key)}: a conversation of {len(turns)} turns, but this project "
                "takes text prompts (make it a chat project to import conversations)"
            )
            return None
        value = turns[0]["content"]
    if not isinstance(value, str):
        errors.append(f"{_where(name, row, key)}: expected text or a list of messages, got {type(value).__name__}")
        return None
    return _bounded(name, row, key, value, errors)


def _parse(name: str, row: _Row, errors: list[str], chat: bool) -> _Parsed | None:
    data = row.data
    if data.get("messages") is not None:
        messages = data["messages"]
        if not isinstance(messages, list) or len(messages) < 2:
            errors.append(f"{_where(name, row, 'messages')}: expected the conversation followed by the assistant answer")
            return None
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") != "assistant":
            errors.append(f"{_where(name, row, f'messages[{len(messages) - 1}].role')}: the last message must be the assistant's answer")
            return None
        prompt = _prompt(name, row, "messages", messages[:-1], errors, chat)
        answer = _answer(name, row, f"messages[{len(messages) - 1}]", last, errors)
    else:
        key = "answer" if "answer" in data else "completion"
        if data.get("prompt") is None:
            errors.append(f"{_where(name, row, 'prompt')}: missing (or give 'messages')")
            return None
        if data.get(key) is None:
            errors.append(f"{_where(name, row, 'answer')}: missing (or 'completion')")
            return None
        prompt = _prompt(name, row, "prompt", data["prompt"], errors, chat)
        answer = _answer(name, row, key, data[key], errors)
    metadata = _metadata(name, row, errors)
    if prompt is None or answer is None:
        return None
    return _Parsed(prompt=prompt, answer=answer, metadata=metadata)


def demonstrations_import(*, project: Project, source, name: str | None = None, user=None) -> ImportResult:
    """Import demonstrations from JSONL or Parquet (see the module docstring for the rows).

    ``source`` is a path or a file object. Atomic: raises ImportValidationError naming file,
    line and field, and writes nothing, if any row is bad. Prompts are reused when the project
    has them, else created. Side effects: Demonstration rows with source 'imported'
    (``user`` recorded as their annotator when given).
    """
    parse_row = partial(_parse, chat=conversations.is_chat(project))
    parsed: list[_Parsed] = _parse_rows(source, name, parse_row, jsonl_or_parquet="demonstrations")

    result = ImportResult()
    html = conversations.rendered(project, (p.prompt for p in parsed))  # before the write lock
    with transaction.atomic():
        hashes = {conversations.prompt_hash(p.prompt) for p in parsed}
        prompts = {
            p.text_hash: p for p in Prompt.objects.filter(project=project, text_hash__in=hashes)
        }
        new_prompts = {}
        for item in parsed:
            digest = conversations.prompt_hash(item.prompt)
            if digest not in prompts and digest not in new_prompts:
                new_prompts[digest] = conversations.prompt_new(
                    project=project, prompt=item.prompt, metadata=item.metadata, html=html
                )
        Prompt.objects.bulk_create(list(new_prompts.values()), batch_size=1000)
        result.prompts_created = len(new_prompts)
        prompts.update(new_prompts)
        seen = set(
            Demonstration.objects.filter(project=project, prompt__in=list(prompts.values())).values_list(
                "content_hash", flat=True
            )
        )
        rows = []
        for item in parsed:
            prompt = prompts[conversations.prompt_hash(item.prompt)]
            digest = demonstration_hash(prompt.text_hash, item.answer)
            if digest in seen:
                result.duplicates += 1
                continue
            seen.add(digest)
            rows.append(Demonstration(
                project=project, prompt=prompt, text=item.answer, annotator=user,
                source=Demonstration.Source.IMPORTED, content_hash=digest,
            ))
        Demonstration.objects.bulk_create(rows, batch_size=1000)
        result.created = len(rows)
    return result
