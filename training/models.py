"""Loading policies, reward models and tokenizers from a hub id or a local folder.

Every loader fails at once with a ValueError naming the id, so a misspelt id or a hub id on an
offline worker is reported as such instead of as a deep stack trace from `transformers`.
"""

from __future__ import annotations

import os

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedTokenizerBase,
)

from training.templates import require_chat_template


def pick_device() -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    # Under `accelerate launch` each rank owns the GPU of its local rank.
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def pick_dtype(device: torch.device) -> torch.dtype:
    # bf16 halves memory and is the native fast path on recent GPUs; CPUs stay fp32 for accuracy.
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def mixed_precision(device: torch.device):
    """bf16 autocast where pick_dtype would choose bf16: weights that are trained stay fp32, so
    small Adam updates are not lost to bf16 rounding, while matmuls run at bf16 speed."""
    enabled = pick_dtype(device) == torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _load(kind: str, loader, model_id: str, **kwargs):
    try:
        return loader(model_id, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot load {kind} {model_id!r}: {exc}") from exc


def load_tokenizer(model_id: str, *, padding_side: str = "left") -> PreTrainedTokenizerBase:
    tok = _load("tokenizer", AutoTokenizer.from_pretrained, model_id)
    # GPT-2 style tokenizers ship without a pad token; reusing EOS is safe because attention
    # masks (not the pad id) decide what the model sees.
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ValueError(f"tokenizer {model_id!r} has neither a pad nor an EOS token")
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def load_policy(
    model_id: str, *, device: torch.device | None = None, dtype: torch.dtype | None = None
):
    device = device or pick_device()
    model = _load(
        "policy", AutoModelForCausalLM.from_pretrained, model_id, dtype=dtype or pick_dtype(device)
    )
    return model.to(device)


def load_reward_backbone(
    model_id: str,
    *,
    pad_token_id: int,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
):
    """A sequence-classification model with one output; from a policy folder the head is fresh.

    pad_token_id must be set on the config: GPT-2 style models locate the last real token of each
    row through it, and without it they read the score at the final (possibly padded) position.
    """
    device = device or pick_device()
    model = _load(
        "reward model",
        AutoModelForSequenceClassification.from_pretrained,
        model_id,
        num_labels=1,
        dtype=dtype or pick_dtype(device),
    )
    model.config.pad_token_id = pad_token_id
    return model.to(device)


def check_same_tokenizer(
    a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase, a_name: str, b_name: str
) -> None:
    """The reward model re-tokenizes the policy's text; a different vocabulary is a mistake."""
    if a.get_vocab() != b.get_vocab():
        raise ValueError(f"tokenizer of {a_name!r} does not match tokenizer of {b_name!r}")


def policy_tokenizer(policy_path: str, reference_path: str, *, chat: bool) -> PreTrainedTokenizerBase:
    """The policy's tokenizer, once it is known to be ρ's too (a round compares their
    log-probabilities token by token) and, for a chat round, to carry a chat template, as ρ's
    must. ValueError naming the model otherwise."""
    tok = load_tokenizer(policy_path)
    ref_tok = load_tokenizer(reference_path)
    check_same_tokenizer(tok, ref_tok, policy_path, reference_path)
    if chat:
        require_chat_template(tok, policy_path)
        require_chat_template(ref_tok, reference_path)
    return tok


def lora_config(cfg):
    """The LoRA adapter a round trains when `cfg.use_lora` (rank `cfg.lora_r`, scale
    `cfg.lora_alpha`, no dropout, on every linear layer), else None: full fine-tuning.
    peft is imported only then: it is an optional dependency."""
    if not cfg.use_lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
        task_type="CAUSAL_LM", target_modules="all-linear",
    )
