"""Sampling completions from a policy: several per prompt, batched across prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from training.config import SampleConfig
from training.models import load_policy, load_tokenizer

Progress = Callable[[int, int, dict], None]


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


def _finish_row(tok, new_ids: list[int], logps: list[float], stop: str | None) -> Sample:
    """Cut a generated row at EOS or the first stop string; count and score only what is kept."""
    eos, pad = tok.eos_token_id, tok.pad_token_id
    kept: list[int] = []
    text = ""
    for tid in new_ids:
        if tid == eos:
            kept.append(tid)
            break
        kept.append(tid)
        text = tok.decode([t for t in kept if t != eos], skip_special_tokens=True)
        if stop and stop in text:
            break
    # After EOS, generate pads finished rows; those positions were not sampled.
    if pad is not None and pad != eos:
        kept = [t for t in kept if t != pad]
    text = truncate_at_stop(
        tok.decode([t for t in kept if t != eos], skip_special_tokens=True), stop
    )
    return Sample(text=text, n_tokens=len(kept), logprob=float(sum(logps[: len(kept)])))


@torch.no_grad()
def sample_with_model(
    model,
    tok,
    prompts: list[str],
    cfg: SampleConfig,
    progress: Progress | None = None,
) -> list[list[Sample]]:
    """Sample `cfg.n_completions` completions for every prompt with an already loaded model.

    Prompts are left-padded so every row's last prompt token sits at the same position and the
    KV cache stays valid for the whole batch.
    """
    if not prompts:
        return []
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
        eos_token_id=tok.eos_token_id,
        use_cache=True,
        return_dict_in_generate=True,
        output_scores=True,
    )
    if cfg.stop:
        gen_kwargs.update(stop_strings=[cfg.stop], tokenizer=tok)
    for start in range(0, len(prompts), cfg.batch_size):
        chunk = prompts[start : start + cfg.batch_size]
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
            out.append([_finish_row(tok, new_ids[r], logps[r], cfg.stop) for r in rows])
        if progress is not None:
            progress(min(start + cfg.batch_size, len(prompts)), len(prompts), {})
    return out


def sample_completions(
    policy_path: str,
    prompts: list[str],
    cfg: SampleConfig | None = None,
    progress: Progress | None = None,
) -> list[list[Sample]]:
    """Load the policy at `policy_path` (hub id or folder) and sample; see sample_with_model."""
    cfg = cfg or SampleConfig()
    tok = load_tokenizer(policy_path)
    model = load_policy(policy_path)
    return sample_with_model(model, tok, prompts, cfg, progress)
