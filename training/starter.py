"""Build the offline starter policy: a byte-level BPE tokenizer and a small GPT-2 pretrained on
the English prose that ships with CPython (see `training.corpus`, PSF License).

The result is a plain `save_pretrained` folder that loads like any hub model.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from training.artifacts import atomic_output_dir
from training.corpus import load_corpus

EOS = "<|endoftext|>"
SAMPLE_PROMPTS = [
    "The function",
    "This module provides",
    "If the value is",
    "An object",
    "The default",
]


@dataclass
class StarterConfig:
    vocab_size: int = 4096  # BPE vocabulary; small keeps the embedding table (and the file) small
    n_embd: int = 256  # hidden width
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads
    n_positions: int = 256  # longest context in tokens
    block_size: int = 128  # training sequence length in tokens; prompts+completions are shorter
    batch_size: int = 32  # sequences per optimizer step
    steps: int = 700  # optimizer steps; ~12 minutes on 2 CPU threads
    lr: float = 1e-3  # peak AdamW learning rate, cosine-decayed to 10% after a linear warmup
    warmup_steps: int = 50  # linear warmup, in optimizer steps
    weight_decay: float = 0.1  # AdamW decoupled weight decay
    dropout: float = (
        0.1  # during pretraining only; the saved config has dropout 0 (RM/RL want none)
    )
    seed: int = 0  # fixes corpus split, initialization and batch order
    threads: int = 2  # torch intra-op threads; results are reproducible for a fixed value


def build_tokenizer(texts: list[str], vocab_size: int, out_dir: Path):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        model_max_length=10**6,
    )
    tok.save_pretrained(out_dir)
    return tok


def _token_stream(tok, paragraphs: list[str]) -> torch.Tensor:
    ids: list[int] = []
    for para in paragraphs:
        ids.extend(tok(para)["input_ids"])
        ids.append(tok.eos_token_id)
    return torch.tensor(ids, dtype=torch.long)


@torch.no_grad()
def heldout_perplexity(model, stream: torch.Tensor, block: int) -> float:
    model.eval()
    n_blocks = (len(stream) - 1) // block
    nll, count = 0.0, 0
    for i in range(0, n_blocks, 16):
        rows = [stream[j * block : (j + 1) * block + 1] for j in range(i, min(i + 16, n_blocks))]
        batch = torch.stack(rows)
        logits = model(batch[:, :-1], attention_mask=torch.ones_like(batch[:, :-1])).logits
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1), reduction="sum"
        )
        nll += loss.item()
        count += batch[:, 1:].numel()
    return math.exp(nll / count)


def _samples(model, tok, seed: int) -> list[str]:
    torch.manual_seed(seed)
    model.eval()
    tok.padding_side = "left"
    enc = tok(SAMPLE_PROMPTS, return_tensors="pt", padding=True)
    out = model.generate(
        **enc, do_sample=True, temperature=0.7, max_new_tokens=24, pad_token_id=tok.pad_token_id
    )
    return [
        p + tok.decode(o[enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for p, o in zip(SAMPLE_PROMPTS, out)
    ]


def build_starter(out_dir: str, cfg: StarterConfig, progress=None) -> dict:
    """Train tokenizer and model from scratch and write them to `out_dir` (atomically).

    Returns a summary dict: parameter count, held-out perplexity, training seconds, samples.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    train, heldout = load_corpus(seed=cfg.seed)
    with atomic_output_dir(out_dir) as tmp:
        tok = build_tokenizer(train, cfg.vocab_size, tmp)
        train_ids, heldout_ids = _token_stream(tok, train), _token_stream(tok, heldout)
        config = GPT2Config(
            vocab_size=len(tok),
            n_embd=cfg.n_embd,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            n_positions=cfg.n_positions,
            bos_token_id=tok.eos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            resid_pdrop=cfg.dropout,
            embd_pdrop=cfg.dropout,
            attn_pdrop=cfg.dropout,
        )
        model = GPT2LMHeadModel(config)
        n_params = sum(p.numel() for p in model.parameters())
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        opt = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=cfg.lr,
            betas=(0.9, 0.95),
        )

        def lr_at(step: int) -> float:
            if step < cfg.warmup_steps:
                return cfg.lr * (step + 1) / cfg.warmup_steps
            frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
            return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

        gen = torch.Generator().manual_seed(cfg.seed)
        t_train = time.time()
        model.train()
        bar = tqdm(range(cfg.steps), desc="pretrain starter", disable=progress is not None)
        ema = None
        for step in bar:
            starts = torch.randint(
                0, len(train_ids) - cfg.block_size - 1, (cfg.batch_size,), generator=gen
            )
            batch = torch.stack([train_ids[s : s + cfg.block_size + 1] for s in starts.tolist()])
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            logits = model(batch[:, :-1], attention_mask=torch.ones_like(batch[:, :-1])).logits
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1)
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
            bar.set_postfix(loss=f"{ema:.3f}")
            if progress is not None:
                progress(step + 1, cfg.steps, {"loss": ema})
        train_seconds = time.time() - t_train

        ppl = heldout_perplexity(model, heldout_ids, cfg.block_size)
        # Downstream reward and policy training follow the paper: no dropout.
        for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):
            setattr(model.config, key, 0.0)
        model.generation_config.pad_token_id = tok.pad_token_id
        model.save_pretrained(tmp, safe_serialization=True)
        samples = _samples(model, tok, cfg.seed)
        summary = {
            "params": n_params,
            "heldout_perplexity": round(ppl, 2),
            "train_tokens": len(train_ids),
            "heldout_tokens": len(heldout_ids),
            "train_seconds": round(train_seconds, 1),
            "total_seconds": round(time.time() - t0, 1),
            "weights_bytes": os.path.getsize(tmp / "model.safetensors"),
            "samples": samples,
            "config": asdict(cfg),
            "corpus": "CPython pydoc_data topics + stdlib docstrings (prose), PSF License",
        }
        (tmp / "quartet_starter.json").write_text(json.dumps(summary, indent=2))
    return summary
