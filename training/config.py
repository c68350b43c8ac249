"""Hyperparameters for sampling, reward rounds and policy rounds.

Defaults follow Ziegler et al. 2019 (see /work/shared/REFERENCE.md) except where a comment says
why the small offline starter needs otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class SampleConfig:
    temperature: float = 0.7  # softmax temperature; the paper samples at 0.7
    top_p: float = 1.0  # nucleus mass kept; 1.0 = plain sampling
    max_new_tokens: int = 24  # completion length cap in tokens (paper: 24 for stylistic tasks)
    stop: str | None = (
        "."  # cut each completion after the first occurrence (kept); None = no stop string.
    )  # Text prompts only: a conversation's answer ends at its chat template's end of turn.
    seed: int = 0  # makes a sampling call reproducible on the same hardware
    batch_size: int = 64  # prompts per generate() call (each expands to n_completions rows)
    n_completions: int = 4  # completions per prompt; four-way choices need 4

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RewardConfig:
    lr: float = (
        5e-5  # Adam peak learning rate, decayed linearly to 0 (paper code: 5e-5 at batch 32)
    )
    batch_size: int = 8  # four-way choices per step (x4 completions per forward pass)
    epochs: int = 1  # passes over the training choices; the paper makes one
    heldout_fraction: float = 0.2  # share of choices kept out of training to measure agreement
    seed: int = 0  # fixes split, head init and batch order
    n_norm_samples: int = 256  # completions from the initial policy used to fit gain and bias
    norm_prompts: list | None = None  # prompts (text or conversations) for those samples; None = the choices' prompts
    init_from: str | None = (
        None  # sequence-classification model id/folder; None = policy + fresh head
    )
    adam_eps: float = 1e-5  # Adam epsilon (paper value)
    max_length: int = 128  # tokens of prompt+completion scored; longer inputs keep their end
    sample: SampleConfig | None = None  # how normalization samples are drawn; None = SampleConfig()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PolicyConfig:
    lr: float = 1e-5  # Adam learning rate for the policy (paper, 124M model)
    beta: float = 0.15  # initial KL coefficient (paper code)
    kl_target: float | None = None  # nats per completion; None = fixed beta (paper: 6-10 for style)
    horizon: int = 10_000  # episodes over which adaptive beta moves by at most +-20% (paper)
    steps: int = 20  # optimizer steps in this round
    batch_size: int = 32  # completions per step (= prompts per step x num_generations)
    num_generations: int = 4  # completions per prompt for the leave-one-out baseline
    num_iterations: int = 1  # optimization epochs per generated batch (PPO-style reuse)
    epsilon: float = 0.2  # ratio clip for the surrogate objective
    temperature: float = 0.7  # sampling temperature during the round
    top_p: float = 1.0  # nucleus mass kept during the round
    max_new_tokens: int = 24  # completion cap in tokens
    stop: str | None = "."  # the reward sees completions cut after this string, as sampling does
    # (text prompts only; conversation answers end at the chat template's end of turn)
    seed: int = 0  # fixes prompt order, sampling and adapter init
    use_lora: bool = False  # train LoRA adapters (merged on save) instead of every weight
    lora_r: int = 16  # adapter rank
    lora_alpha: int = 32  # adapter scaling numerator
    normalize_advantages: bool = False  # False keeps the reward scale the KL target was set against
    generation_backend: str = "auto"  # "auto" = TRL's vLLM generation where usable, "transformers"

    def to_dict(self) -> dict:
        return asdict(self)


MIXED_PRECISION_CHOICES = ("no", "fp16", "bf16")


@dataclass
class LaunchConfig:
    """How a worker runs a reward or policy round: in its own process, or as a child
    `accelerate launch` job over several processes (one per GPU). Torch-free, so the web
    process and settings checks can build it.
    """

    num_processes: int = 1  # ranks of one round; 1 with no config_file = in-process, as before
    mixed_precision: str | None = None  # "no" | "fp16" | "bf16"; None = bf16 where supported
    config_file: str | None = None  # accelerate config (DeepSpeed or FSDP yaml), passed through
    accelerate: str | None = None  # accelerate executable; None = `python -m accelerate...`
    # Seconds a cancelled or failed round's ranks get after SIGTERM before SIGKILL.
    kill_grace_seconds: float = 10.0

    def __post_init__(self):
        if isinstance(self.num_processes, bool) or not isinstance(self.num_processes, int):
            raise ValueError(f"num_processes must be an integer, got {self.num_processes!r}")
        if self.num_processes < 1:
            raise ValueError(f"num_processes must be >= 1, got {self.num_processes}")
        if self.mixed_precision is not None and self.mixed_precision not in MIXED_PRECISION_CHOICES:
            raise ValueError(
                f"mixed_precision must be one of {', '.join(MIXED_PRECISION_CHOICES)}, "
                f"got {self.mixed_precision!r}"
            )
        if self.config_file is not None and not str(self.config_file).strip():
            raise ValueError("config_file must be a path or None")
        if self.kill_grace_seconds < 0:
            raise ValueError("kill_grace_seconds must be >= 0")

    @property
    def in_process(self) -> bool:
        """One process and no DeepSpeed/FSDP file: the round runs inside the worker itself."""
        return self.num_processes == 1 and not self.config_file

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SupervisedConfig:
    lr: float = 1e-4  # AdamW peak learning rate, linear decay to 0; small models take more
    epochs: float = 1.0  # passes over the training demonstrations
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    batch_size: int = 8  # demonstrations per optimizer step
    warmup_steps: int = 0  # linear warmup, in optimizer steps
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    max_length: int = 256  # tokens per demonstration (prompt + answer); longer ones keep the start
    heldout_fraction: float = 0.1  # share of demonstrations kept out to measure held-out loss
    eval_every: int | None = None  # steps between held-out evaluations; None = four per round
    seed: int = 0  # fixes split, batch order and adapter init
    use_lora: bool = False  # train LoRA adapters (merged on save) instead of every weight
    lora_r: int = 16  # adapter rank
    lora_alpha: int = 32  # adapter scaling numerator

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ChatStarterConfig:
    base: str = "training/starter"  # the text starter this one is tuned from
    seed: int = 0  # fixes the instruction set, its split, new embeddings and batch order
    threads: int = 1  # torch intra-op threads; one is faster than two on a crowded CPU
    epochs: float = 0.25  # of ~1,350 demonstrations: 43 steps at batch 8 (a crowded 2-core CPU)
    lr: float = 1e-3  # the starter's pretraining peak: the model is tiny and two embeddings are new
    batch_size: int = 8  # demonstrations per step
    warmup_steps: int = 20  # linear warmup before the linear decay
    heldout_eval: int = 32  # held-out demonstrations scored for the before/after loss
    max_length: int = 256  # the starter's context; every demonstration fits
