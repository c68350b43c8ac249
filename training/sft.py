"""Supervised rounds (SFT): fine-tune a policy on demonstrations with TRL's SFTTrainer.

A demonstration is a prompt (text, or a conversation ending in a user turn) and the answer a
person wrote for it. The loss covers the answer tokens only (for a conversation, the assistant
turn including its end-of-turn token), so the model learns to answer, not to write questions.
This is the one SFT implementation: SFT rounds and the chat starter's build both call
`train_supervised`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from training.artifacts import save_version
from training.config import SupervisedConfig
from training.data import Demonstration
from training.models import load_policy, load_tokenizer, lora_config, pick_device, pick_dtype
from training.progress import Progress
from training.sampling import prompt_text
from training.templates import end_of_turn_ids, prompts_kind, require_chat_template

META_FILE = "quartet_sft.json"


@dataclass
class SupervisedResult:
    path: str
    metrics: list[dict]  # one record per logged step: step, loss, heldout_loss (latest)
    heldout_loss_before: float | None  # mean answer-token loss on held-out demonstrations
    heldout_loss_after: float | None
    n_train: int
    n_heldout: int
    data_hash: str


def validate_demonstrations(demos) -> tuple[list[Demonstration], bool]:
    """Coerce rows to Demonstrations; refuse an empty set, mixed prompt kinds or blank answers.
    Returns the list and whether the prompts are conversations."""
    out = [d if isinstance(d, Demonstration) else Demonstration.from_dict(d) for d in demos]
    if not out:
        raise ValueError("the set of demonstrations is empty")
    chat = prompts_kind([d.prompt for d in out], "demonstrations.prompt")
    for i, d in enumerate(out):
        if not isinstance(d.answer, str) or not d.answer.strip():
            raise ValueError(f"demonstrations[{i}].answer: is empty")
    return out, chat


def demonstrations_hash(demos: list[Demonstration]) -> str:
    h = hashlib.sha256()
    for d in demos:
        h.update(json.dumps({"prompt": d.prompt, "answer": d.answer}, sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def _rows(tok, demos: list[Demonstration], chat: bool) -> dict:
    """TRL prompt/completion columns; TRL masks the prompt out of the loss (completion_only_loss).

    Conversations use TRL's conversational form, so the tokenizer's own chat template renders
    them; text prompts get the BOS the starter family expects, and TRL appends the EOS.
    """
    if chat:
        return {
            "prompt": [d.prompt for d in demos],
            "completion": [[{"role": "assistant", "content": d.answer}] for d in demos],
        }
    return {
        "prompt": [prompt_text(tok, d.prompt) for d in demos],
        "completion": [d.answer for d in demos],
    }


class _ProgressCallback(TrainerCallback):
    """Turns the trainer's logs into per-step records and progress(step, total, metrics) calls."""

    def __init__(self, progress: Progress | None, total_steps: int):
        self.progress, self.total_steps = progress, total_steps
        self.records: list[dict] = []
        self.heldout_loss: float | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs:
            return
        if "eval_loss" in logs:
            self.heldout_loss = float(logs["eval_loss"])
            if self.records and self.records[-1]["step"] == state.global_step:
                self.records[-1]["heldout_loss"] = self.heldout_loss
            return
        if "loss" not in logs:
            return
        record = {
            "step": state.global_step,
            "loss": float(logs["loss"]),
            "heldout_loss": self.heldout_loss,
            "lr": logs.get("learning_rate"),
        }
        self.records.append(record)
        if self.progress is not None:
            self.progress(state.global_step, self.total_steps, record)


def train_supervised(
    demonstrations,
    *,
    policy_path: str,
    out_dir: str,
    cfg: SupervisedConfig | None = None,
    heldout=None,
    progress: Progress | None = None,
    tokenizer=None,
    model=None,
) -> SupervisedResult:
    """Fine-tune `policy_path` on demonstrations and save the result to `out_dir` (atomically).

    Held-out demonstrations are `heldout` when given, else a `cfg.heldout_fraction` share drawn
    with `cfg.seed`; their mean answer-token loss is measured before and after training.
    `tokenizer`/`model` let a caller pass ones it already changed (the chat starter adds a chat
    template and tokens); they must belong to `policy_path`'s family.
    Raises ValueError before any training, writing nothing, when inputs are invalid (including
    conversation prompts for a tokenizer without a chat template).
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    cfg = cfg or SupervisedConfig()
    demos, chat = validate_demonstrations(demonstrations)
    if Path(out_dir).exists():
        raise ValueError(f"output folder {out_dir!r} already exists")
    if not 0.0 <= cfg.heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {cfg.heldout_fraction}")
    if cfg.batch_size < 1 or cfg.epochs <= 0 or (cfg.max_steps is not None and cfg.max_steps < 1):
        raise ValueError("batch_size and max_steps must be >= 1 and epochs > 0")
    tok = tokenizer if tokenizer is not None else load_tokenizer(policy_path)
    if chat:
        require_chat_template(tok, policy_path)
    if heldout is not None:
        held, held_chat = validate_demonstrations(heldout)
        if held_chat != chat:
            raise ValueError("held-out demonstrations must be of the same kind as the training ones")
        train = demos
    else:
        order = list(range(len(demos)))
        random.Random(cfg.seed).shuffle(order)
        n_held = min(int(round(len(demos) * cfg.heldout_fraction)), len(demos) - 1)
        held = [demos[i] for i in order[:n_held]]
        train = [demos[i] for i in order[n_held:]]

    device = pick_device()
    torch.manual_seed(cfg.seed)
    if model is None:
        model = load_policy(policy_path, device=device, dtype=torch.float32)
    if chat:
        # Generation stops at the end of an assistant turn, in this round's samples and later.
        model.generation_config.eos_token_id = end_of_turn_ids(tok)
    model.generation_config.pad_token_id = tok.pad_token_id
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = cfg.max_steps or max(1, math.ceil(steps_per_epoch * cfg.epochs))
    eval_every = cfg.eval_every or max(1, total // 4)
    peft_config = lora_config(cfg)
    callback = _ProgressCallback(progress, total)
    with tempfile.TemporaryDirectory(prefix="quartet-sft-") as scratch:
        args = SFTConfig(
            output_dir=scratch,
            per_device_train_batch_size=cfg.batch_size,
            per_device_eval_batch_size=max(cfg.batch_size, 16),
            learning_rate=cfg.lr,
            lr_scheduler_type="linear",
            warmup_steps=cfg.warmup_steps,
            weight_decay=cfg.weight_decay,
            num_train_epochs=cfg.epochs,
            max_steps=cfg.max_steps or -1,
            max_length=cfg.max_length,
            completion_only_loss=True,
            packing=False,
            eval_strategy="steps" if held else "no",
            eval_steps=eval_every,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=cfg.seed,
            data_seed=cfg.seed,
            bf16=pick_dtype(device) == torch.bfloat16,
            use_cpu=device.type != "cuda",
            disable_tqdm=progress is not None,
            dataloader_num_workers=0,
            dataset_num_proc=None,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_dict(_rows(tok, train, chat)),
            eval_dataset=Dataset.from_dict(_rows(tok, held, chat)) if held else None,
            processing_class=tok,
            peft_config=peft_config,
            callbacks=[callback],
        )
        if progress is not None:
            trainer.remove_callback(PrinterCallback)
        before = trainer.evaluate()["eval_loss"] if held else None
        callback.heldout_loss = before
        trainer.train()
        after = trainer.evaluate()["eval_loss"] if held else None
        trained = trainer.accelerator.unwrap_model(trainer.model)
        if cfg.use_lora:
            trained = trained.merge_and_unload()

    # Trained from `policy_path`: the saved config names it (transformers' public property).
    trained.config.name_or_path = policy_path
    digest = demonstrations_hash(train)
    meta = {
        "parent": policy_path,
        "kind": "sft",
        "heldout_loss_before": before,
        "heldout_loss_after": after,
        "n_train": len(train),
        "n_heldout": len(held),
        "data_hash": digest,
        "metrics": callback.records,
        "config": cfg.to_dict(),
    }
    save_version(out_dir, trained, tok, META_FILE, meta)
    return SupervisedResult(
        path=str(out_dir),
        metrics=callback.records,
        heldout_loss_before=before,
        heldout_loss_after=after,
        n_train=len(train),
        n_heldout=len(held),
        data_hash=digest,
    )
