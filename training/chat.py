"""Conversations as prompts: the one definition of a valid chat prompt, torch-free.

A chat prompt is a list of messages ``{"role": "system"|"user"|"assistant", "content": str}``:
at most one system message and only first, then user and assistant turns alternating, ending in
a user turn. Its answers are assistant messages; Quartet stores only their content.

Imported by the web process (import validation) and by the rounds, so it must never import
torch, transformers or Django.
"""

from __future__ import annotations

import json
from typing import Union

ROLES = ("system", "user", "assistant")
MAX_MESSAGES = 64  # turns per conversation; beyond this a prompt no longer fits a small context
MAX_MESSAGE_CHARS = 32_000  # characters per message (about 8k tokens)

Message = dict
Prompt = Union[str, list]  # a text project's string, or a chat project's list of messages


class ConversationError(ValueError):
    """A conversation that breaks a rule; ``field`` names the offending part, e.g. ``[2].role``."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def is_conversation(prompt: object) -> bool:
    return isinstance(prompt, list)


def conversation_validate(
    messages: object,
    *,
    max_messages: int = MAX_MESSAGES,
    max_chars: int = MAX_MESSAGE_CHARS,
) -> list[dict]:
    """Return ``messages`` as clean ``{"role", "content"}`` dicts, or raise ConversationError.

    Checks types, roles, order (system first and once; user and assistant alternate; the last
    turn is the user's), non-blank content, NUL characters and sizes. Extra keys are refused,
    not dropped, so a misspelled ``"contnet"`` is an error rather than a silently empty turn.
    """
    if not isinstance(messages, list):
        raise ConversationError("", f"a conversation must be a list of messages, got {type(messages).__name__}")
    if not messages:
        raise ConversationError("", "a conversation needs at least one user message")
    if len(messages) > max_messages:
        raise ConversationError("", f"{len(messages)} messages; at most {max_messages} are allowed")
    clean: list[dict] = []
    for i, msg in enumerate(messages):
        where = f"[{i}]"
        if not isinstance(msg, dict):
            raise ConversationError(where, f"a message must be an object, got {type(msg).__name__}")
        extra = set(msg) - {"role", "content"}
        if extra:
            raise ConversationError(f"{where}.{sorted(extra)[0]}", "unknown key; a message has only 'role' and 'content'")
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES:
            raise ConversationError(f"{where}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        if not isinstance(content, str):
            raise ConversationError(f"{where}.content", "must be a string")
        if not content.strip():
            raise ConversationError(f"{where}.content", "is empty")
        if "\x00" in content:
            raise ConversationError(f"{where}.content", "contains a NUL character")
        if len(content) > max_chars:
            raise ConversationError(f"{where}.content", f"{len(content)} characters; at most {max_chars}")
        if role == "system" and i != 0:
            raise ConversationError(f"{where}.role", "a system message may only come first")
        previous = clean[-1]["role"] if clean else None
        if role != "system" and previous == role:
            raise ConversationError(f"{where}.role", f"two {role} messages in a row; turns alternate")
        if role == "assistant" and previous in (None, "system"):
            raise ConversationError(f"{where}.role", "the first turn after the system prompt is the user's")
        clean.append({"role": role, "content": content})
    if clean[-1]["role"] != "user":
        raise ConversationError(f"[{len(clean) - 1}].role", "a conversation to answer must end with a user message")
    return clean


def answer_content(answer: object) -> str:
    """An answer given as a string or as one assistant message, as its content string."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict):
        if answer.get("role") != "assistant":
            raise ConversationError(".role", f"an answer must be an assistant message, got {answer.get('role')!r}")
        if not isinstance(answer.get("content"), str):
            raise ConversationError(".content", "must be a string")
        return answer["content"]
    raise ConversationError("", f"an answer must be a string or an assistant message, got {type(answer).__name__}")


def prompt_key(prompt: Prompt) -> str:
    """A stable string for hashing and de-duplicating a prompt of either kind."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps(prompt, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
