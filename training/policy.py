"""Policy rounds: KL-penalized RL against a normalized reward model, with TRL's RLOOTrainer.

Reward per completion is R(x, y) = r(x, y) - beta * log(pi(y|x) / rho(y|x)), where rho is the
project's initial policy (never the previous version), so every round is anchored to the same
distribution the reward model was normalized on.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from training.artifacts import save_version
from training.config import PolicyConfig
from training.generation import pick_generation_backend
from training.models import (
    check_same_tokenizer,
    load_policy,
    lora_config,
    pick_device,
    pick_dtype,
    policy_tokenizer,
)
from training.progress import Progress
from training.reward import load_reward_scorer
from training.reward_trainer import is_main_rank, world_size
from training.sampling import needs_bos, prompt_text, truncate_at_stop
from training.templates import end_of_turn_ids, prompts_kind, require_chat_template

META_FILE = "quartet_policy.json"
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
    """Reads each step's KL from the metrics TRL logs, updates `trainer.beta`, and records step metrics.

    RLOOTrainer passes its step metrics (KL per token, mean completion length, the reward
    function's mean, loss) to every callback's `on_log`; with `logging_steps=1` that is once per
    optimizer step, before the next step generates, so the new beta prices the next batch exactly
    as an update at the end of the step would. The trainer logs KL per token; the controller works
    in nats per completion like the paper's targets, so it is multiplied by the mean completion
    length of the same batch.
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

    def on_log(self, args, state, control, logs=None, **kwargs):
        # The end-of-training summary is logged too; it has "train_loss", not a step's "loss".
        if logs is None or "loss" not in logs:
            return
        kl_token = logs.get("kl") or 0.0  # absent when beta is 0: no reference model runs
        length = logs.get("completions/mean_length") or 0.0
        kl = kl_token * length
        beta_used = self.trainer.beta
        self.trainer.beta = self.controller.update(kl, self.episodes_per_step)
        record = {
            "step": state.global_step,
            "reward": logs.get(self.reward_key),
            "kl": kl,
            "kl_per_token": kl_token,
            "beta": beta_used,
            "beta_next": self.trainer.beta,
            "completion_length": length,
            "loss": logs["loss"],
        }
        self.records.append(record)
        if self.progress is not None:
            self.progress(record["step"], self.total_steps, record)


def _stop_token_ids(tok, stop: str | None) -> list[int]:
    # TRL's generate call takes no tokenizer, so stop strings cannot be passed; stopping at any
    # token that contains the stop string is equivalent at token granularity.
    if not stop:
        return []
    return [i for i in range(len(tok)) if stop in tok.decode([i])]


def _check_inputs(policy_path, reference_path, reward_path, prompts, cfg: PolicyConfig):
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
    AdaptiveKLController(cfg.beta, cfg.kl_target, cfg.horizon)  # validates target and horizon
    tok = policy_tokenizer(policy_path, reference_path, chat=chat)
    scorer = load_reward_scorer(reward_path)
    check_same_tokenizer(tok, scorer.tokenizer, policy_path, reward_path)
    if chat:
        require_chat_template(scorer.tokenizer, reward_path)
    return tok, scorer, chat


@dataclass
class PolicyTrainer:
    """One policy round, built and not yet trained (see `build_policy_trainer`)."""

    trainer: object  # trl.RLOOTrainer
    callback: KLControlCallback
    controller: AdaptiveKLController
    tokenizer: object
    original_eos: object  # the policy's own eos_token_id, restored before saving


def build_policy_trainer(
    *,
    policy_path: str,
    reference_path: str,
    reward_path: str,
    prompts: list,
    scratch_dir: str,
    cfg: PolicyConfig,
    progress: Progress | None = None,
) -> PolicyTrainer:
    """Check a policy round's inputs and build TRL's RLOOTrainer for it: π loaded from
    `policy_path` (trained), ρ from `reference_path` (the trainer's KL reference), the reward
    model at `reward_path` as the reward function. Trains nothing and writes only to
    `scratch_dir` (the trainer's output_dir). Raises ValueError for invalid inputs, like
    `update_policy`. Sets the torch seed and changes the loaded policy's generation config
    (stop tokens, padding); the original end-of-sequence ids are returned for saving.
    """
    # Imported here, not at the top: importing TRL (and datasets) takes seconds, and the
    # modules that only need the controller or PolicyResult should not pay for it.
    from datasets import Dataset
    from trl import RLOOConfig, RLOOTrainer

    tok, scorer, chat = _check_inputs(policy_path, reference_path, reward_path, prompts, cfg)
    ranks = world_size()
    if cfg.batch_size % ranks:
        raise ValueError(f"batch_size ({cfg.batch_size}) must split evenly over {ranks} processes")
    # vLLM in TRL's colocate mode shares each rank's GPU with training (GPU machines only).
    use_vllm = pick_generation_backend(cfg.generation_backend) == "vllm"
    device = pick_device()
    torch.manual_seed(cfg.seed)
    # Trained weights stay fp32; with CUDA+bf16 the trainer's bf16 flag runs autocast over them.
    model = load_policy(policy_path, device=device, dtype=torch.float32)
    # RLOOTrainer (TRL 1.16) takes no reference model: without PEFT it loads one itself from
    # the policy config's `name_or_path` (rloo_trainer.py: `create_model_from_path(
    # get_config_model_id(self.model.config), ...)`), and RLOOConfig has no setting for it.
    # `name_or_path` is transformers' public property for where a model was loaded from;
    # naming ρ there makes the KL anchor the initial policy rather than the version being
    # continued. tests/training/test_policy_reference.py proves the trainer's reference is ρ,
    # so a TRL that builds it otherwise fails in seconds. Put back before saving.
    model.config.name_or_path = reference_path
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

    peft_config = lora_config(cfg)
    use_bf16 = pick_dtype(device) == torch.bfloat16
    controller = AdaptiveKLController(cfg.beta, cfg.kl_target, cfg.horizon)
    callback = KLControlCallback(
        controller, cfg.batch_size, "rewards/quartet_reward/mean", progress, cfg.steps
    )
    if chat:
        dataset = Dataset.from_dict({"prompt": [list(p) for p in prompts]})
    else:
        dataset = Dataset.from_dict({"prompt": [prompt_text(tok, p) for p in prompts]})
    args = RLOOConfig(
        output_dir=scratch_dir,
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
        # Every step is logged: the KL callback reads each step's metrics from the logs.
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
        trainer.remove_callback(PrinterCallback)
    if cfg.use_lora and cfg.beta > 0 and policy_path != reference_path:
        _attach_reference(trainer, reference_path)
    return PolicyTrainer(trainer, callback, controller, tok, original_eos)


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
    cfg = cfg or PolicyConfig()
    if Path(out_dir).exists():
        raise ValueError(f"output folder {out_dir!r} already exists")
    with tempfile.TemporaryDirectory(prefix="quartet-rloo-") as scratch:
        built = build_policy_trainer(
            policy_path=policy_path, reference_path=reference_path, reward_path=reward_path,
            prompts=prompts, scratch_dir=scratch, cfg=cfg, progress=progress,
        )
        built.trainer.train()
        trained = built.trainer.accelerator.unwrap_model(built.trainer.model)
        if cfg.use_lora:
            trained = trained.merge_and_unload()

    if not is_main_rank():
        return None  # rank 0 saves; the other ranks only trained
    trained.config.name_or_path = policy_path
    trained.generation_config.eos_token_id = built.original_eos
    records = built.callback.records
    tail = records[len(records) // 2 :] or records
    final = {
        "steps": len(records),
        "reward_first": records[0]["reward"] if records else None,
        "reward_last": records[-1]["reward"] if records else None,
        "kl_last": records[-1]["kl"] if records else None,
        "kl_mean_second_half": sum(r["kl"] for r in tail) / len(tail) if tail else None,
        "beta_start": cfg.beta,
        "beta_final": built.controller.beta,
        "kl_target": cfg.kl_target,
        "episodes": len(records) * cfg.batch_size,
    }
    meta = {
        "parent": policy_path,
        "reference": reference_path,
        "reward": reward_path,
        "final": final,
        "metrics": records,
        "config": cfg.to_dict(),
    }
    save_version(out_dir, trained, built.tokenizer, META_FILE, meta)
    return PolicyResult(path=str(out_dir), metrics=records, final=final)


def _attach_reference(trainer, reference_path: str) -> None:
    """With LoRA the trainer's default reference is the adapter-free base, i.e. the parent policy;
    later rounds must still be anchored to rho, so load it as an explicit reference model.

    RLOOTrainer has no argument for this, so ρ replaces the trainer's `ref_model` attribute,
    prepared as the trainer prepares its own: in eval mode (no dropout; the trainer never puts
    it in train mode) and with TRL's fused LM head, which the trainer's log-prob pass calls
    (`model(..., fused_lm_head=True)`). `add_fused_lm_head` is exported by `trl.trainer`.
    """
    from trl.trainer import add_fused_lm_head

    ref = load_policy(reference_path, device=trainer.accelerator.device, dtype=trainer.model.dtype)
    ref.eval()
    add_fused_lm_head(ref, temperature=trainer.temperature)
    trainer.ref_model = trainer.accelerator.prepare_model(ref, evaluation_mode=True)
