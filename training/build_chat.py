"""Build the chat starter: the text starter given a ChatML template and its two special tokens,
then tuned with `training.sft` (the same code path as SFT rounds) on the standard-library
instruction set of `training.instructions`.

Offline and reproducible for a fixed seed and thread count. The held-out demonstrations are about
modules the model was not tuned on; prompts from them are the chat demo's prompts.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch

from training.artifacts import atomic_output_dir
from training.config import ChatStarterConfig, SampleConfig, SupervisedConfig
from training.instructions import build_instruction_groups, build_instruction_set
from training.models import load_policy, load_tokenizer
from training.sampling import sample_with_model
from training.sft import Demonstration, train_supervised
from training.templates import CHATML_TEMPLATE, IM_END, IM_START, end_of_turn_ids

SUMMARY_FILE = "quartet_starter.json"


def chat_tokenizer(base: str):
    """The base tokenizer plus ChatML: `<|im_start|>`, `<|im_end|>` and the template."""
    tok = load_tokenizer(base)
    tok.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
    tok.chat_template = CHATML_TEMPLATE
    return tok


def build_chat_starter(out_dir: str, cfg: ChatStarterConfig | None = None, progress=None) -> dict:
    """Write the chat starter to `out_dir` (atomically); return its summary (also saved there)."""
    cfg = cfg or ChatStarterConfig()
    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    train, held = build_instruction_set(seed=cfg.seed)
    held_eval = held[: cfg.heldout_eval]
    tok = chat_tokenizer(cfg.base)
    model = load_policy(cfg.base, device=torch.device("cpu"), dtype=torch.float32)
    # New rows start at the mean embedding (transformers' default), a neutral point to learn from.
    model.resize_token_embeddings(len(tok))
    model.generation_config.eos_token_id = end_of_turn_ids(tok)
    sft_cfg = SupervisedConfig(
        lr=cfg.lr,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        warmup_steps=cfg.warmup_steps,
        max_length=cfg.max_length,
        seed=cfg.seed,
    )
    with atomic_output_dir(out_dir) as tmp:
        result = train_supervised(
            [Demonstration(p, a) for p, a in train],
            heldout=[Demonstration(p, a) for p, a in held_eval],
            policy_path=cfg.base,
            out_dir=str(tmp / "sft"),
            cfg=sft_cfg,
            tokenizer=tok,
            model=model,
            progress=progress,
        )
        for f in sorted((tmp / "sft").iterdir()):
            shutil.move(str(f), tmp / f.name)
        (tmp / "sft").rmdir()
        tuned = load_policy(str(tmp), device=torch.device("cpu"), dtype=torch.float32)
        demo = [p for p, _ in held[:4]]
        rows = sample_with_model(
            tuned, load_tokenizer(str(tmp)), demo, SampleConfig(seed=cfg.seed, max_new_tokens=96)
        )
        summary = {
            "heldout_loss_before": round(result.heldout_loss_before, 4),
            "heldout_loss_after": round(result.heldout_loss_after, 4),
            "n_train": result.n_train,
            "n_heldout": result.n_heldout,
            "steps": result.metrics[-1]["step"] if result.metrics else 0,
            "total_seconds": round(time.time() - t0, 1),
            "weights_bytes": os.path.getsize(tmp / "model.safetensors"),
            "samples": [{"prompt": p, "answer": r[0].text} for p, r in zip(demo, rows)],
            "config": asdict(cfg),
            "data": "questions about CPython standard-library modules answered from their "
            "docstrings (training.instructions), PSF License; held out by module",
        }
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return summary


def chat_demo_prompts(seed: int = 0, n: int = 96) -> list[list[dict]]:
    """Conversation prompts about the modules the chat starter was not tuned on: every
    two-turn one, then the rest taken in turn from each held-out module, so all are covered."""
    _, groups = build_instruction_groups(seed=seed)
    multi = [p for g in groups for p, _ in g if sum(m["role"] == "user" for m in p) > 1]
    rest = [p for g in groups for p, _ in g if p not in multi]
    by_module = [[p for p, _ in g if p not in multi] for g in groups]
    turns = [g[i] for i in range(max(map(len, by_module))) for g in by_module if i < len(g)]
    assert len(turns) == len(rest)
    return (multi + turns)[:n]


def write_chat_demo_prompts(path: str | Path, seed: int = 0, n: int = 96) -> int:
    prompts = chat_demo_prompts(seed, n)
    Path(path).write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    return len(prompts)
