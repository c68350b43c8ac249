"""Chat templates: how a conversation prompt becomes the token ids a model reads.

Every round goes through these helpers for conversation prompts, so sampling, the reward model
and the policy round see exactly the same text for the same conversation. Text prompts never come
here. No torch import: only the tokenizer is used.
"""

from __future__ import annotations

from training.chat import conversation_validate, is_conversation

# ChatML, as the chat starter uses it. The template writes the BOS first because the starter was
# pretrained on passages separated by it (see sampling.needs_bos). `{% generation %}` marks the
# assistant's tokens so TRL can mask everything else (assistant_only_loss) with this template.
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
CHATML_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_SENTINEL = "Quartet-sentinel-7f3a"


def prompts_kind(prompts, what: str = "prompts") -> bool:
    """True when `prompts` are all conversations, False when all strings; else ValueError.

    Conversations are validated with training.chat, so a malformed one fails here, naming its
    index and field, before a model is loaded.
    """
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise ValueError(f"{what} must be a non-empty list")
    chat = is_conversation(prompts[0])
    for i, p in enumerate(prompts):
        if is_conversation(p) != chat or not (chat or isinstance(p, str)):
            raise ValueError(
                f"{what}[{i}]: every prompt must be of one kind, all strings or all conversations"
            )
        if chat:
            try:
                conversation_validate(p)
            except ValueError as exc:
                raise ValueError(f"{what}[{i}]{exc}") from exc
    return chat


def require_chat_template(tok, name: str) -> None:
    """ValueError naming the model when its tokenizer cannot render conversations."""
    if not getattr(tok, "chat_template", None):
        raise ValueError(
            f"{name!r} has no chat template, so it cannot be given conversation prompts; use a chat "
            "model (e.g. training/chat_starter) or a text project"
        )


def _ids(out) -> list[int]:
    # transformers 5 returns a BatchEncoding by default; older versions a plain list.
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def chat_prompt_ids(tok, messages: list[dict]) -> list[int]:
    """Token ids of `messages` followed by the template's opening of an assistant turn.

    Control tokens typed inside a message are encoded as plain text, so untrusted content cannot
    close a turn or open a new one.
    """
    return _ids(
        tok.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, sanitize_control_tokens=True
        )
    )


def chat_answer_ids(tok, messages: list[dict], answer: str) -> list[int]:
    """Token ids of the conversation with `answer` as the assistant's closing turn."""
    return _ids(
        tok.apply_chat_template(
            [*messages, {"role": "assistant", "content": answer}],
            tokenize=True,
            sanitize_control_tokens=True,
        )
    )


def chat_prompt_text(tok, messages: list[dict]) -> str:
    return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def end_of_turn_ids(tok) -> list[int]:
    """Ids that end an assistant turn: the template's end-of-turn token and the EOS.

    The end-of-turn token is found by rendering an assistant message and reading the first token
    the template writes after its content (`<|im_end|>` for ChatML, `<|eot_id|>` for Llama 3,
    `<end_of_turn>` for Gemma), so any template works, not only the starter's.
    """
    ids = [tok.eos_token_id] if tok.eos_token_id is not None else []
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _SENTINEL}],
        tokenize=False,
    )
    if _SENTINEL in text:
        tail = text[text.index(_SENTINEL) + len(_SENTINEL) :]
        tail_ids = tok(tail, add_special_tokens=False)["input_ids"]
        if tail_ids and tail_ids[0] in tok.all_special_ids + _added_ids(tok):
            ids.append(tail_ids[0])
    return list(dict.fromkeys(i for i in ids if i is not None))


def _added_ids(tok) -> list[int]:
    return [i for i, t in tok.added_tokens_decoder.items() if t.special]
