"""Policy rounds: KL-penalized RL against a normalized reward model, with TRL's RLOOTrainer.

Reward per completion is R(x, y) = r(x, y) - beta * log(pi(y|x) / rho(y|x)), where rho is the
project's initial policy (never the previous version), so every round is anchored to the same
distribution the reward model was normalized on.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from transformers import TrainerCallback

from training.artifacts import atomic_output_dir
from training.config import PolicyConfig
from training.generation import pick_generation_backend
from training.models import (
    check_same_tokenizer,
    load_policy,
    load_tokenizer,
    pick_device,
    pick_dtype,
)
from training.reward import load_reward_scorer
from training.reward_trainer import is_main_rank, world_size
from training.sampling import needs_bos, prompt_text, truncate_at_stop
from training.templates import end_of_turn_ids, prompts_kind, require_chat_template

META_FILE = "quartet_policy.json"
Progress = Callable[[int, int, dict], None]
log = logging.getLogger(__name__)


@dataclass
class PolicyResult:
    path: str
    metrics: list[dict]
    final: dict


class AdaptiveKLController:
    """The paper's proportional controller: nudges beta so the KL drifts toward `target`.

    The error is clipped to +-20% and scaled by episodes/horizon, so beta changes slowly and a
    noisy batch cannot swing it.
    """

    def __init__(self, beta: float, target: float | None, horizon: int):
        if target is not None and target <= 0:
            raise ValueError(f"kl_target must be positive, got {target}")
        if horizon <= 0:
            raise ValueError(f"horizon must be positive, got {horizon}")
        self.beta, self.target, self.horizon = beta, target, horizon

    def update(self, kl: float, n_episodes: int) -> float:
        if self.target is not None:
            err = min(max(kl / self.target - 1.0, -0.2), 0.2)
            self.beta *= 1.0 + err * n_episodes / self.horizon
        return self.beta


class KLControlCallback(TrainerCallback):
    """Reads each step's KL from the trainer, updates `trainer.beta`, and records step metrics.

    The trainer logs KL per token; the controller works in nats per completion like the paper's
    targets, so it is multiplied by the mean completion length of the same batch.
    """

    def __init__(
        self,
        controller: AdaptiveKLController,
        episodes_per_step: int,
        reward_key: str,
        progress: Progress | None,
        total_steps: int,
    ):
        self.controller, self.episodes_per_step, self.reward_key = (
            controller,
            episodes_per_step,
            reward_key,
        )
        self.progress, self.total_steps = progress, total_steps
        self.trainer = None  # set once the trainer exists; it is needed to change beta
        self.records: list[dict] = []
        self._pending: dict | None = None

    def on_step_end(self, args, state, control, **kwargs):
        m = self.trainer._metrics["train"]
        kl_token = m["kl"][-1] if m.get("kl") else 0.0
        length = m["completions/mean_length"][-1] if m.get("completions/mean_length") else 0.0
        kl = kl_token * length
        beta_used = self.trainer.beta
        self.trainer.beta = self.controller.update(kl, self.episodes_per_step)
        self._pending = {
            "step": state.global_step,
            "reward": m[self.reward_key][-1] if m.get(self.reward_key) else None,
            "kl": kl,
            "kl_per_token": kl_token,
            "beta": beta_used,
            "beta_next": self.trainer.beta,
            "completion_length": length,
        }

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._pending is None or logs is None or "loss" not in logs:
            return
        record = {**self._pending, "loss": logs["loss"]}
        self._pending = None
        self.records.append(record)
        if self.progress is not None:
            self.progress(record["step"], self.total_steps, record)


def _stop_token_ids(tok, stop: str | None) -> list[int]:
    # TRL's generate call takes no tokenizer, so stop strings cannot be passed; stopping at any
    # token that contains the stop string is equivalent at token granularity.
    if not stop:
        return []
    return [i for i in range(len(tok)) if stop in tok.decode([i])]


def _check_inputs(policy_path, reference_path, reward_path, prompts, out_dir, cfg: PolicyConfig):
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise ValueError("prompts must be a non-empty list of strings or conversations")
    chat = prompts_kind(prompts)
    if cfg.batch_size % cfg.num_generations:
        raise ValueError(
            f"batch_size ({cfg.batch_size}) must be a multiple of "
            f"num_generations ({cfg.num_generations})"
        )
    if cfg.num_generations < 2:
        raise ValueError("num_generations must be >= 2 for a leave-one-out baseline")
    if len(prompts) < cfg.batch_size // cfg.num_generations:
        raise ValueError(
            f"need at least {cfg.batch_size // cfg.num_generations} prompts, got {len(prompts)}"
        )
    if cfg.steps < 1 or cfg.beta < 0:
        raise ValueError("steps must be >= 1 and beta >= 0")
    if Path(out_dir).exists():
        raise ValueError(f"output folder {out_dir!r} already exists")
    AdaptiveKLController(cfg.beta, cfg.kl_target, cfg.horizon)  # validates target and horizon
    tok = load_tokenizer(policy_path)
    ref_tok = load_tokenizer(reference_path)
    check_same_tokenizer(tok, ref_tok, policy_path, reference_path)
    if chat:
        require_chat_template(tok, policy_path)
        require_chat_template(ref_tok, reference_path)
    scorer = load_reward_scorer(reward_path)
    check_same_tokenizer(tok, scorer.tokenizer, policy_path, reward_path)
    if chat:
        require_chat_template(scorer.tokenizer, reward_path)
    return tok, scorer, chat


def update_policy(
    *,
    policy_path: str,
    reference_path: str,
    reward_path: str,
    prompts: list[str],
    out_dir: str,
    cfg: PolicyConfig | None = None,
    progress: Progress | None = None,
) -> PolicyResult:
    """Run one policy round from `policy_path` and save the new policy to `out_dir` (atomically).

    Prompts are all text or all conversations; conversations go to TRL in its conversational form,
    so the policy's chat template renders them, answers end at its end-of-turn token, and the
    reward model scores the templated conversation plus the answer.
    Raises ValueError before any training, writing nothing, when inputs are invalid (including
    conversations for a policy, reference or reward model without a chat template).
    Under `accelerate launch` the ranks share each step's batch and rank 0 saves; other ranks
    return None. Returns per-step metrics (reward, KL in nats per completion, beta, loss) and a summary.
    """
    from datasets import Dataset
    from trl import RLOOConfig, RLOOTrainer

    cfg = cfg or PolicyConfig()
    tok, scorer, chat = _check_inputs(
        policy_path, reference_path, reward_path, prompts, out_dir, cfg
    )
    ranks = world_size()
    if cfg.batch_size % ranks:
        raise ValueError(f"batch_size ({cfg.batch_size}) must split evenly over {ranks} processes")
    # vLLM in TRL's colocate mode shares each rank's GPU with training (GPU machines only).
    use_vllm = pick_generation_backend(cfg.generation_backend) == "vllm"
    device = pick_device()
    torch.manual_seed(cfg.seed)
    # Trained weights stay fp32; with CUDA+bf16 the trainer's bf16 flag runs autocast over them.
    model = load_policy(policy_path, device=device, dtype=torch.float32)
    # RLOOTrainer builds its reference model from the policy's `_name_or_path`; pointing that at
    # rho makes the KL anchor the initial policy rather than the version being continued.
    model.config._name_or_path = reference_path
    original_eos = model.generation_config.eos_token_id
    if chat:
        # Answers end at the template's end of turn; the stop string is for text prompts only.
        model.generation_config.eos_token_id = end_of_turn_ids(tok)
    else:
        model.generation_config.eos_token_id = [tok.eos_token_id, *_stop_token_ids(tok, cfg.stop)]
    model.generation_config.pad_token_id = tok.pad_token_id
    tok.padding_side = "left"

    bos = tok.bos_token if needs_bos(tok) else ""

    def quartet_reward(prompts, completions, **_):
        if chat:
            # TRL hands back the conversations and each answer as one assistant message.
            return scorer(list(prompts), [c[-1]["content"] for c in completions])
        plain = [p[len(bos) :] if bos and p.startswith(bos) else p for p in prompts]
        return scorer(plain, [truncate_at_stop(c, cfg.stop) for c in completions])

    peft_config = None
    if cfg.use_lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=0.0,
            task_type="CAUSAL_LM",
            target_modules="all-linear",
        )
    use_bf16 = pick_dtype(device) == torch.bfloat16
    controller = AdaptiveKLController(cfg.beta, cfg.kl_target, cfg.horizon)
    callback = KLControlCallback(
        controller, cfg.batch_size, "rewards/quartet_reward/mean", progress, cfg.steps
    )
    if chat:
        dataset = Dataset.from_dict({"prompt": [list(p) for p in prompts]})
    else:
        dataset = Dataset.from_dict({"prompt": [prompt_text(tok, p) for p in prompts]})
    with tempfile.TemporaryDirectory(prefix="quartet-rloo-") as scratch:
        args = RLOOConfig(
            output_dir=scratch,
            # The step's batch is cfg.batch_size completions over all ranks together.
            per_device_train_batch_size=cfg.batch_size // ranks,
            num_generations=cfg.num_generations,
            max_completion_length=cfg.max_new_tokens,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            beta=cfg.beta,
            learning_rate=cfg.lr,
            lr_scheduler_type="constant",
            max_steps=cfg.steps,
            num_iterations=cfg.num_iterations,
            epsilon=cfg.epsilon,
            normalize_advantages=cfg.normalize_advantages,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=cfg.seed,
            data_seed=cfg.seed,
            bf16=use_bf16,
            use_cpu=device.type != "cuda",
            disable_tqdm=progress is not None,
            gradient_accumulation_steps=1,
            adam_epsilon=1e-5,
            use_vllm=use_vllm,
            vllm_mode="colocate",
        )
        trainer = RLOOTrainer(
            model=model,
            reward_funcs=quartet_reward,
            args=args,
            train_dataset=dataset,
            processing_class=tok,
            callbacks=[callback],
            peft_config=peft_config,
        )
        callback.trainer = trainer
        if progress is not None:
            # The caller draws progress from our per-step records; the default printer would
            # dump every raw log dict to stdout as well.
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
        if cfg.use_lora and cfg.beta > 0 and policy_path != reference_path:
            _attach_reference(trainer, reference_path)
        trainer.train()
        trained = trainer.accelerator.unwrap_model(trainer.model)
        if cfg.use_lora:
            trained = trained.merge_and_unload()

    if not is_main_rank():
        return None  # rank 0 saves; the other ranks only trained
    trained.config._name_or_path = policy_path
    trained.generation_config.eos_token_id = original_eos
    records = callback.records
    tail = records[len(records) // 2 :] or records
    final = {
        "steps": len(records),
        "reward_first": records[0]["reward"] if records else None,
        "reward_last": records[-1]["reward"] if records else None,
        "kl_last": records[-1]["kl"] if records else None,
        "kl_mean_second_half": sum(r["kl"] for r in tail) / len(tail) if tail else None,
        "beta_start": cfg.beta,
        "beta_final": controller.beta,
        "kl_target": cfg.kl_target,
        "episodes": len(records) * cfg.batch_size,
    }
    with atomic_output_dir(out_dir) as tmp:
        trained.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        meta = {
            "parent": policy_path,
            "reference": reference_path,
            "reward": reward_path,
            "final": final,
            "metrics": records,
            "config": cfg.to_dict(),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    return PolicyResult(path=str(out_dir), metrics=records, final=final)


def _attach_reference(trainer, reference_path: str) -> None:
    """With LoRA the trainer's default reference is the adapter-free base, i.e. the parent policy;
    later rounds must still be anchored to rho, so load it as an explicit reference model."""
    from trl.trainer.utils import add_fused_lm_head, disable_dropout_in_model

    ref = load_policy(reference_path, device=trainer.accelerator.device, dtype=trainer.model.dtype)
    disable_dropout_in_model(ref)
    add_fused_lm_head(ref, temperature=trainer.temperature)
    trainer.ref_model = trainer.accelerator.prepare_model(ref, evaluation_mode=True)
