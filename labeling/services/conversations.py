"""Chat prompts on their way in: import fields checked with training.chat, and the rows stored.

The row parser in labeling.services.imports calls these for a chat project; the rules of a valid
conversation live in ``training.chat`` alone (torch-free), shared with the training rounds.
Errors use the importer's "file, line N, field F: problem" form, with the field naming the part
of the conversation, e.g. ``prompt[2].role``.
"""

import hashlib
from collections.abc import Iterable

from training.chat import ConversationError, answer_content, conversation_validate, prompt_key

from labeling.markdown import markdown_html
from labeling.models import Project, Prompt

# Keys a conversation may come under: Quartet's and TRL's ``prompt``, and the common ``messages``.
CONVERSATION_KEYS = ("prompt", "messages")


def is_chat(project: Project) -> bool:
    return project.prompt_format == Project.PromptFormat.CHAT


def _where(name: str, line: int, field: str) -> str:
    return f"{name}, line {line}, field '{field}'"


def conversation_field(name: str, line: int, data: dict, errors: list[str]) -> list[dict] | None:
    """The row's conversation (under ``prompt`` or ``messages``), validated, or None after
    appending an error. A plain string is taken as a single user turn."""
    key = next((k for k in CONVERSATION_KEYS if data.get(k) is not None), None)
    if key is None:
        errors.append(f"{_where(name, line, 'prompt')}: missing (a list of messages under 'prompt' or 'messages')")
        return None
    return conversation_value(name, line, key, data[key], errors)


def conversation_value(name: str, line: int, key: str, value, errors: list[str]) -> list[dict] | None:
    """``value`` (field ``key`` of the row on ``line``) as a validated conversation, or None after
    appending an error. A plain string is taken as a single user turn."""
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    try:
        return conversation_validate(value)
    except ConversationError as exc:
        errors.append(f"{_where(name, line, key + exc.field)}: {exc.message}")
        return None


def answer_field(name: str, line: int, index: int, answer: object, errors: list[str]) -> object:
    """One of a chat comparison's completions (a string or an assistant message) as the
    message's content, or None after appending an error; the caller then checks it as text."""
    try:
        return answer_content(answer)
    except ConversationError as exc:
        errors.append(f"{_where(name, line, f'completions[{index}]{exc.field}')}: {exc.message}")
        return None


def text_prompt_refused(name: str, line: int, data: dict, errors: list[str]) -> bool:
    """A conversation offered to a text project: an error naming the field, rather than a
    'expected text, got list' that hides what to change."""
    for key in CONVERSATION_KEYS:
        if isinstance(data.get(key), list):
            errors.append(
                f"{_where(name, line, key)}: a conversation, but this project takes text prompts "
                "(make it a chat project to import conversations)"
            )
            return True
    return False


def prompt_text(prompt: str | list[dict]) -> str:
    """What a prompt of either kind stores in ``Prompt.text`` (and hashes)."""
    return prompt_key(prompt)


def prompt_hash(prompt: str | list[dict]) -> str:
    return hashlib.sha256(prompt_text(prompt).encode("utf-8")).hexdigest()


def rendered(project: Project, prompts: Iterable, answers: Iterable[str] = ()) -> dict[str, str]:
    """Markdown → HTML for every message and answer about to be stored in a chat project (empty
    for a text project). Callers render before their transaction opens, so a large import does
    not hold the database's write lock while rendering."""
    if not is_chat(project):
        return {}
    contents = {m["content"] for p in prompts if isinstance(p, list) for m in p} | set(answers)
    return {content: markdown_html(content) for content in contents}


def prompt_new(*, project: Project, prompt: str | list[dict], metadata: dict, html: dict[str, str]) -> Prompt:
    """An unsaved Prompt row for either kind; a conversation keeps its turns' HTML (from
    ``rendered``) beside it."""
    if isinstance(prompt, list):
        return Prompt(
            project=project, text=prompt_text(prompt), text_hash=prompt_hash(prompt), metadata=metadata,
            messages=prompt, messages_html=[html[m["content"]] for m in prompt],
        )
    return Prompt(project=project, text=prompt, text_hash=prompt_hash(prompt), metadata=metadata)
