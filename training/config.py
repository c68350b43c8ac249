"""Hyperparameters for sampling, reward rounds and policy rounds, and the check of a project's
overrides of them (`validate_round_settings`).

Defaults follow Ziegler et al. 2019 (see /work/shared/REFERENCE.md) except where a comment says
why the small offline starter needs otherwise. Standard library only: the web process imports
this module to check settings when they are saved, and never imports torch.
"""

from __future__ import annotations

import difflib
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, fields, is_dataclass


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


# Engines a round may generate with (training.generation picks among them).
GENERATION_BACKENDS = ("auto", "vllm", "transformers")
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
    threads: int = 2  # torch intra-op threads (use 1 on a crowded CPU)
    epochs: float = 2.0  # of ~1,350 demonstrations: 340 steps at batch 8, ~3.5 min on 2 cores
    lr: float = 1e-3  # the starter's pretraining peak: the model is tiny and two embeddings are new
    batch_size: int = 8  # demonstrations per step
    warmup_steps: int = 20  # linear warmup before the linear decay
    heldout_eval: int = 32  # held-out demonstrations scored for the before/after loss
    max_length: int = 256  # the starter's context; every demonstration fits


# --- checking a project's overrides -------------------------------------------------------------


class SettingsError(ValueError):
    """Round settings a round would refuse or crash on. `errors` maps each offending setting
    (dotted when nested, e.g. "sample.temperature"; "" for the settings as a whole) to its
    messages; str() lists them all."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(self.messages()))

    def messages(self) -> list[str]:
        return [f"{name}: {m}" if name else m for name, ms in self.errors.items() for m in ms]


# Which dataclass a project's settings for each kind of round override (TrainingRun.Kind values).
ROUND_SETTINGS = {
    "reward": RewardConfig,
    "policy": PolicyConfig,
    "sampling": SampleConfig,
    "evaluation": SampleConfig,
    "sft": SupervisedConfig,
}

_SEED_LIMIT = 2**32  # numpy, which transformers' set_seed seeds too, takes seeds below 2**32


def _positive(v):
    return None if v > 0 else "must be greater than 0"


def _at_least(low):
    return lambda v: None if v >= low else f"must be at least {low}"


def _fraction(v):  # a share kept out: all of it would leave nothing to train on
    return None if 0 <= v < 1 else "must be at least 0 and below 1"


def _probability_mass(v):
    return None if 0 < v <= 1 else "must be greater than 0 and at most 1"


def _seed(v):
    return None if 0 <= v < _SEED_LIMIT else f"must be at least 0 and below {_SEED_LIMIT}"


def _one_of(choices):
    return lambda v: None if v in choices else f"must be one of {', '.join(map(repr, choices))}"


def _prompts(v):
    if not v:
        return "must list at least one prompt (or be null for the choices' prompts)"
    if not all(isinstance(p, (str, list)) for p in v):
        return "must list prompts: texts or conversations (lists of messages)"
    return None


_COMMON_GENERATION = {
    # Sampling divides the logits by the temperature; 0 is refused by generate.
    "temperature": _positive,
    "top_p": _probability_mass,
    "max_new_tokens": _at_least(1),
    "seed": _seed,
}
# Bounds a value of the right type must also meet, by dataclass and field; a nullable field's
# null is always allowed and not checked here.
_BOUNDS = {
    SampleConfig: {
        **_COMMON_GENERATION,
        "batch_size": _at_least(1),
        "n_completions": lambda v: None if v == 4 else "must be 4: every task shows four completions",
    },
    RewardConfig: {
        "lr": _positive,
        "batch_size": _at_least(1),
        "epochs": _at_least(1),
        "heldout_fraction": _fraction,
        "seed": _seed,
        "n_norm_samples": _at_least(2),  # the normalization fits a standard deviation
        "norm_prompts": _prompts,
        "init_from": lambda v: None if v.strip() else "must name a model (or be null)",
        "adam_eps": _positive,
        "max_length": _at_least(1),
    },
    PolicyConfig: {
        **_COMMON_GENERATION,
        "lr": _positive,
        "beta": _at_least(0),
        "kl_target": _positive,
        "horizon": _at_least(1),
        "steps": _at_least(1),
        "batch_size": _at_least(1),
        "num_generations": _at_least(2),  # the leave-one-out baseline needs another completion
        "num_iterations": _at_least(1),
        "epsilon": _positive,
        "lora_r": _at_least(1),
        "lora_alpha": _at_least(1),
        "generation_backend": _one_of(GENERATION_BACKENDS),
    },
    SupervisedConfig: {
        "lr": _positive,
        "epochs": _positive,
        "max_steps": _at_least(1),
        "batch_size": _at_least(1),
        "warmup_steps": _at_least(0),
        "weight_decay": _at_least(0),
        "max_length": _at_least(1),
        "heldout_fraction": _fraction,
        "eval_every": _at_least(1),
        "seed": _seed,
        "lora_r": _at_least(1),
        "lora_alpha": _at_least(1),
    },
}


def _describe(value) -> str:
    if isinstance(value, bool):
        return f"{json.dumps(value)} (true/false)"
    if isinstance(value, str):
        return f"the text {json.dumps(value)}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value) if value is None else repr(value)


_KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a text",
               list: "a list"}


def _fits(value, kind) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:  # true/false are not numbers here, although Python counts them as ints
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:  # a whole number is a fine float; NaN and infinities are not settings
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    return isinstance(value, kind)


def _check(cls, data, prefix: str, errors: dict[str, list[str]]) -> None:
    if not isinstance(data, dict):
        errors.setdefault(prefix.rstrip("."), []).append(
            f"must be a JSON object of {cls.__name__} settings, got {_describe(data)}"
        )
        return
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    for name, value in data.items():
        where = prefix + str(name)
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            errors.setdefault(where, []).append(f"unknown {cls.__name__} setting{hint}")
            continue
        hint = hints[name]
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        nullable = type(None) in options
        kind = next(o for o in options if o is not type(None))
        if value is None:
            if not nullable:
                errors.setdefault(where, []).append(f"must be {_KIND_NAMES[kind]}, not null")
            continue
        if is_dataclass(kind):
            _check(kind, value, where + ".", errors)
            continue
        if not _fits(value, kind):
            errors.setdefault(where, []).append(
                f"must be {_KIND_NAMES[kind]}, got {_describe(value)}"
            )
            continue
        bound = _BOUNDS.get(cls, {}).get(name)
        if bound and (problem := bound(value)):
            shown = "" if isinstance(value, (list, dict)) else f", got {_describe(value)}"
            errors.setdefault(where, []).append(problem + shown)
    if cls is PolicyConfig and not errors:
        merged = {**asdict(PolicyConfig()), **data}
        if merged["batch_size"] % merged["num_generations"]:
            errors.setdefault(prefix + "batch_size", []).append(
                f"must be a multiple of num_generations ({merged['num_generations']}), "
                f"got {merged['batch_size']}"
            )


def validate_round_settings(kind: str, data: dict | None) -> dict:
    """Check a project's overrides for one kind of round (a key of ROUND_SETTINGS) against the
    config dataclass they override: known names (a misspelling gets the closest name
    suggested), JSON types that fit the field (true/false is not a number; a whole number is a
    fine float), and the bounds a round would otherwise fail on later, on a worker.

    Returns the settings as a new dict (null means no overrides: {}); raises SettingsError
    naming every offending setting. Changes nothing, imports nothing heavy.
    """
    if kind not in ROUND_SETTINGS:
        raise ValueError(f"unknown kind of round {kind!r}; one of {', '.join(ROUND_SETTINGS)}")
    if data is None:
        return {}
    errors: dict[str, list[str]] = {}
    _check(ROUND_SETTINGS[kind], data, "", errors)
    if errors:
        raise SettingsError(errors)
    return dict(data)
