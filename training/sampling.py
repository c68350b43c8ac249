"""Sampling completions from a policy: several per prompt, batched across prompts."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.config import SampleConfig
from training.models import load_policy, load_tokenizer
from training.progress import Progress
from training.templates import (
    chat_prompt_ids,
    end_of_turn_ids,
    prompts_kind,
    require_chat_template,
)



@dataclass
class Sample:
    text: str  # the completion alone; prompt + text is the full passage
    n_tokens: int  # tokens generated, up to and including the EOS or stop token
    logprob: float  # summed log-probability of those tokens under the sampling distribution


def needs_bos(tok) -> bool:
    """True when the tokenizer does not add its BOS itself (GPT-2 style).

    Such models were pretrained on documents separated by that token, so a prompt that starts
    with it looks like the opening of a passage, and an empty prompt still has a token to read.
    """
    if tok.bos_token_id is None:
        return False
    ids = tok("a", add_special_tokens=True)["input_ids"]
    return not ids or ids[0] != tok.bos_token_id


def prompt_text(tok, prompt: str) -> str:
    return (tok.bos_token + prompt) if needs_bos(tok) else prompt


def truncate_at_stop(text: str, stop: str | None) -> str:
    if stop and stop in text:
        return text[: text.index(stop) + len(stop)]
    return text


def _finish_row(
    tok, new_ids: list[int], logps: list[float], stop: str | None, eos_ids: list[int]
) -> Sample:
    """Cut a generated row at EOS (or end of turn) or the first stop string; count and score
    only what is kept. The end token is counted but is never part of the text."""
    pad = tok.pad_token_id
    kept: list[int] = []
    text = ""
    for tid in new_ids:
        if tid in eos_ids:
            kept.append(tid)
            break
        kept.append(tid)
        if stop:
            text = tok.decode(kept, skip_special_tokens=True)
            if stop in text:
                break
    # After EOS, generate pads finished rows; those positions were not sampled.
    if pad is not None and pad not in eos_ids:
        kept = [t for t in kept if t != pad]
    text = truncate_at_stop(
        tok.decode([t for t in kept if t not in eos_ids], skip_special_tokens=True), stop
    )
    return Sample(text=text, n_tokens=len(kept), logprob=float(sum(logps[: len(kept)])))


def _encode_chat(tok, chunk: list[list[dict]], device) -> dict:
    """Left-padded batch of the chat template's ids for each conversation, generation prompt
    included; the ids are exactly `apply_chat_template(..., add_generation_prompt=True)`'s."""
    rows = [chat_prompt_ids(tok, m) for m in chunk]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        input_ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}


@torch.no_grad()
def sample_with_model(
    model,
    tok,
    prompts: list[str],
    cfg: SampleConfig,
    progress: Progress | None = None,
) -> list[list[Sample]]:
    """Sample `cfg.n_completions` completions for every prompt with an already loaded model.

    Prompts are all text or all conversations. A conversation is rendered with the tokenizer's
    chat template and its generation prompt; its answer ends at the template's end of turn (the
    stop string is for text prompts only) and `Sample.text` is the answer's content alone.
    Prompts are left-padded so every row's last prompt token sits at the same position and the
    KV cache stays valid for the whole batch.
    """
    if not prompts:
        return []
    chat = prompts_kind(prompts)
    if chat:
        require_chat_template(tok, getattr(model.config, "_name_or_path", "the policy"))
    eos_ids = end_of_turn_ids(tok) if chat else [tok.eos_token_id]
    stop = None if chat else cfg.stop
    tok.padding_side = "left"
    model.eval()
    device = next(model.parameters()).device
    torch.manual_seed(cfg.seed)
    out: list[list[Sample]] = []
    gen_kwargs = dict(
        do_sample=True,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=0,
        max_new_tokens=cfg.max_new_tokens,
        num_return_sequences=cfg.n_completions,
        pad_token_id=tok.pad_token_id,
        eos_token_id=eos_ids if chat else tok.eos_token_id,
        use_cache=True,
        return_dict_in_generate=True,
        output_scores=True,
    )
    if stop:
        gen_kwargs.update(stop_strings=[stop], tokenizer=tok)
    for start in range(0, len(prompts), cfg.batch_size):
        chunk = prompts[start : start + cfg.batch_size]
        if chat:
            enc = _encode_chat(tok, chunk, device)
        else:
            enc = tok(
                [prompt_text(tok, p) for p in chunk],
                return_tensors="pt",
                padding=True,
                add_special_tokens=True,
            ).to(device)
        gen = model.generate(**enc, **gen_kwargs)
        # Scores are the warped (temperature, top-p) logits, so these are log-probabilities of
        # the distribution each token was actually drawn from.
        logps = model.compute_transition_scores(gen.sequences, gen.scores, normalize_logits=True)
        new_ids = gen.sequences[:, enc["input_ids"].shape[1] :].tolist()
        logps = logps.float().cpu().tolist()
        for i in range(len(chunk)):
            rows = range(i * cfg.n_completions, (i + 1) * cfg.n_completions)
            out.append([_finish_row(tok, new_ids[r], logps[r], stop, eos_ids) for r in rows])
        if progress is not None:
            progress(min(start + cfg.batch_size, len(prompts)), len(prompts), {})
    return out


def sample_completions(
    policy_path: str,
    prompts: list,
    cfg: SampleConfig | None = None,
    progress: Progress | None = None,
) -> list[list[Sample]]:
    """Load the policy at `policy_path` (hub id or folder) and sample; see sample_with_model.

    Conversation prompts for a policy without a chat template raise ValueError before the model
    is loaded.
    """
    cfg = cfg or SampleConfig()
    tok = load_tokenizer(policy_path)
    if prompts and prompts_kind(prompts):
        require_chat_template(tok, policy_path)
    model = load_policy(policy_path)
    return sample_with_model(model, tok, prompts, cfg, progress)
