"""The reward round's optimization as a `transformers.Trainer` with the four-way loss.

Subclassing the Trainer (as TRL's trainers do) brings accelerate with it: under
`accelerate launch` every rank gets its own shard of the choices, gradients are averaged by
DDP (or DeepSpeed/FSDP from an accelerate config file), and mixed precision is the Trainer's.
The global batch stays `RewardConfig.batch_size` choices whatever the number of ranks, so a
round over two processes takes the same optimizer steps as one.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Callable

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from training.config import RewardConfig
from training.progress import Progress

# (model, rows) -> mean four-way loss of those choices; rows are (four token-id lists, best).
ChoiceLoss = Callable[[torch.nn.Module, list], torch.Tensor]


def world_size() -> int:
    """Ranks of this round as accelerate/torchrun set them; 1 outside `accelerate launch`."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def trainer_precision(device: torch.device) -> dict:
    """bf16/fp16 flags for TrainingArguments: what `accelerate launch --mixed_precision` asked
    for, else bf16 where the device supports it (the in-process default)."""
    asked = os.environ.get("ACCELERATE_MIXED_PRECISION")
    if asked in ("bf16", "fp16", "no"):
        return {"bf16": asked == "bf16", "fp16": asked == "fp16"}
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": False}


class FourWayRewardTrainer(Trainer):
    """Trainer whose batches are four-way choices: `{"rows": [(four id lists, best), ...]}`.

    compute_loss is `choice_loss`: the softmax cross-entropy over each choice's four scores
    (`training.reward.four_way_loss`), averaged over this rank's choices; DDP averages the
    gradients over ranks, which equals the mean over the global batch (equal shards).
    """

    def __init__(self, *args, choice_loss: ChoiceLoss, **kwargs):
        super().__init__(*args, **kwargs)
        self._choice_loss = choice_loss
        self.last_loss: float | None = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = self._choice_loss(model, inputs["rows"])
        self.last_loss = loss.detach().item()
        return (loss, {}) if return_outputs else loss


class _ReportSteps(TrainerCallback):
    def __init__(self, trainer_ref: list, progress: Progress | None, work_total: int):
        self.trainer_ref, self.progress, self.work_total = trainer_ref, progress, work_total
        self.losses: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        loss = self.trainer_ref[0].last_loss
        self.losses.append(loss)
        if self.progress is not None and state.is_world_process_zero:
            self.progress(state.global_step, self.work_total, {"phase": "train", "loss": loss})


def _collate(batch):
    return {"rows": batch}


def fit_four_way(
    model,
    rows: list[tuple[list[list[int]], int]],
    *,
    cfg: RewardConfig,
    choice_loss: ChoiceLoss,
    progress: Progress | None,
    work_total: int,
    device: torch.device,
):
    """Train `model` in place on `rows` (each: four token-id lists and the best index).

    Adam at `cfg.lr` (eps `cfg.adam_eps`, no weight decay, no clipping) decayed linearly to 0,
    `cfg.epochs` passes, `cfg.batch_size` choices per step over all ranks.
    Returns (unwrapped model, per-step losses on this rank, steps per epoch).
    Raises ValueError when the batch cannot be split evenly over the ranks.
    """
    ranks = world_size()
    if cfg.batch_size % ranks:
        raise ValueError(
            f"reward batch_size ({cfg.batch_size}) must be a multiple of the {ranks} processes"
        )
    steps_per_epoch = math.ceil(len(rows) / cfg.batch_size)
    trainer_ref: list = []
    report = _ReportSteps(trainer_ref, progress, work_total)
    with tempfile.TemporaryDirectory(prefix="quartet-reward-") as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            per_device_train_batch_size=cfg.batch_size // ranks,
            num_train_epochs=cfg.epochs,
            learning_rate=cfg.lr,
            adam_epsilon=cfg.adam_eps,
            weight_decay=0.0,
            max_grad_norm=0.0,  # the hand-written round never clipped; keep its dynamics
            lr_scheduler_type="linear",
            warmup_steps=0,
            seed=cfg.seed,
            data_seed=cfg.seed,
            remove_unused_columns=False,
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=device.type != "cuda",
            dataloader_drop_last=False,
            gradient_accumulation_steps=1,
            **trainer_precision(device),
        )
        trainer = FourWayRewardTrainer(
            model=model,
            args=args,
            train_dataset=rows,
            data_collator=_collate,
            callbacks=[report],
            choice_loss=choice_loss,
        )
        trainer_ref.append(trainer)
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.train()
        trained = trainer.accelerator.unwrap_model(trainer.model)
    return trained, report.losses, steps_per_epoch
