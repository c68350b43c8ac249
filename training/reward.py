"""Reward rounds: learn r(x, y) from best-of-four choices, then normalize it on samples from rho."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from training.artifacts import save_version
from training.config import RewardConfig, SampleConfig
from training.data import FourWayChoice, data_hash, validate_choices
from training.models import (
    check_same_tokenizer,
    load_policy,
    load_reward_backbone,
    load_tokenizer,
    mixed_precision,
    pick_device,
    policy_tokenizer,
)
from training.chat import prompt_key
from training.progress import Progress
from training.reward_trainer import fit_four_way, is_main_rank
from training.sampling import prompt_text, sample_with_model
from training.templates import chat_answer_ids, prompts_kind, require_chat_template

META_FILE = "quartet_reward.json"


@dataclass
class RewardResult:
    path: str
    metrics: dict
    gain: float
    bias: float
    data_hash: str


def four_way_loss(scores: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy over the four scores of each choice against the chosen index.

    scores: (n_choices, 4) raw rewards r(x, y_i); best: (n_choices,) indices in 0..3.
    """
    if scores.dim() != 2 or scores.size(1) != 4:
        raise ValueError(f"scores must have shape (n, 4), got {tuple(scores.shape)}")
    return F.cross_entropy(scores, best)


def encode_texts(tok, prompts: list, completions: list[str], max_length: int) -> list[list[int]]:
    """Token ids of prompt + completion for each pair, unpadded; longer inputs keep their end.

    A conversation prompt is scored as the chat template renders it with the completion as the
    assistant's closing turn, end-of-turn token included.
    """
    if prompts and not isinstance(prompts[0], str):
        # The end of the answer is what is being judged, so a long conversation loses its start.
        return [chat_answer_ids(tok, p, c)[-max_length:] for p, c in zip(prompts, completions)]
    tok.truncation_side = "left"  # the end of the completion is what is being judged
    texts = [prompt_text(tok, p) + c for p, c in zip(prompts, completions)]
    enc = tok(texts, padding=False, truncation=True, max_length=max_length, add_special_tokens=True)
    return enc["input_ids"]


def _group_overhead_tokens(device: torch.device) -> int:
    # What one more forward pass costs, in padded tokens. On CPU time grows with tokens, so rows
    # of similar length are scored in separate passes (measured: 1.33x faster training steps on
    # starter samples, 58% of a batch's padded tokens real). On a GPU, small batches are
    # launch-bound and padding is nearly free, so a batch is split only around very long rows.
    return 32 if device.type == "cpu" else 4096


def _length_groups(lengths: list[int], overhead: int) -> list[tuple[int, int]]:
    """Split ascending lengths into contiguous groups minimizing padded tokens + overhead each.

    Dynamic programming over cut points: O(n^2) for n rows, negligible next to a forward pass.
    """
    n = len(lengths)
    best = [0.0] + [math.inf] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            cost = best[i] + (j - i) * lengths[j - 1] + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append((cut[j], j))
        j = cut[j]
    return groups[::-1]


def score_ids(model, ids: list[list[int]], pad_token_id: int) -> torch.Tensor:
    """Raw scalar reward for each row of token ids, in input order, differentiable.

    Rows are right-padded, which keeps GPT-2's absolute positions identical to an unpadded pass,
    and the model reads its score at the last token that is not `config.pad_token_id`, i.e. the
    last real one. Rows of similar length share a forward pass (see `_length_groups`), so little
    compute goes to padding; each row's score, and so any loss on the scores, is the same as in
    one padded pass, up to floating-point rounding.
    """
    device = next(model.parameters()).device
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    lengths = [max(len(ids[i]), 1) for i in order]
    parts = []
    for start, stop in _length_groups(lengths, _group_overhead_tokens(device)):
        rows = [ids[order[k]] for k in range(start, stop)]
        width = lengths[stop - 1]
        input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[r, : len(row)] = 1
        out = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device))
        parts.append(out.logits[:, 0].float())
    scores = torch.cat(parts)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
    return scores[inverse.to(scores.device)]


def score_texts(
    model, tok, prompts: list[str], completions: list[str], max_length: int
) -> torch.Tensor:
    """Raw scalar reward for each (prompt, completion) pair; see `score_ids`."""
    return score_ids(model, encode_texts(tok, prompts, completions, max_length), tok.pad_token_id)


def _score_choices(model, tok, batch: list[FourWayChoice], max_length: int) -> torch.Tensor:
    prompts = [c.prompt for c in batch for _ in range(4)]
    completions = [y for c in batch for y in c.completions]
    return score_texts(model, tok, prompts, completions, max_length).view(len(batch), 4)


@torch.inference_mode()
def _evaluate(model, tok, choices: list[FourWayChoice], cfg: RewardConfig) -> dict:
    if not choices:
        return {"heldout_loss": None, "heldout_agreement": None}
    model.eval()
    losses, hits = [], 0
    for i in range(0, len(choices), cfg.batch_size):
        batch = choices[i : i + cfg.batch_size]
        with mixed_precision(next(model.parameters()).device):
            scores = _score_choices(model, tok, batch, cfg.max_length)
        best = torch.tensor([c.best for c in batch], device=scores.device)
        losses.append(F.cross_entropy(scores, best, reduction="sum").item())
        hits += (scores.argmax(dim=1) == best).sum().item()
    return {"heldout_loss": sum(losses) / len(choices), "heldout_agreement": hits / len(choices)}


@torch.inference_mode()
def _raw_scores(
    model, tok, prompts: list[str], completions: list[str], max_length: int, batch: int = 64
) -> list[float]:
    model.eval()
    out: list[float] = []
    with mixed_precision(next(model.parameters()).device):
        for i in range(0, len(prompts), batch):
            scores = score_texts(
                model, tok, prompts[i : i + batch], completions[i : i + batch], max_length
            )
            out.extend(scores.tolist())
    return out


def _check_inputs(choices, cfg: RewardConfig, policy_path: str, reference_path: str, out_dir: str):
    choices = validate_choices(choices)
    if not 0.0 <= cfg.heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {cfg.heldout_fraction}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.n_norm_samples < 2:
        raise ValueError("epochs and batch_size must be >= 1 and n_norm_samples >= 2")
    if Path(out_dir).exists():
        raise ValueError(f"output folder {out_dir!r} already exists")
    chat = prompts_kind([c.prompt for c in choices], "choices.prompt")
    if cfg.norm_prompts is not None and prompts_kind(cfg.norm_prompts, "norm_prompts") != chat:
        raise ValueError("norm_prompts must be of the same kind (text or conversations) as the choices")
    tok = policy_tokenizer(policy_path, reference_path, chat=chat)
    if cfg.init_from:
        init_tok = load_tokenizer(cfg.init_from)
        check_same_tokenizer(tok, init_tok, policy_path, cfg.init_from)
        if chat:
            require_chat_template(init_tok, cfg.init_from)
    return choices, tok


def train_reward_model(
    choices,
    *,
    policy_path: str,
    reference_path: str,
    out_dir: str,
    cfg: RewardConfig | None = None,
    progress: Progress | None = None,
) -> RewardResult | None:
    """Train a reward model on four-way choices and save it, normalized on rho, to `out_dir`.

    The model starts from `cfg.init_from` or else from `policy_path` with a fresh scalar head.
    Gain and bias are fitted on `cfg.n_norm_samples` completions sampled from `reference_path`
    (the project's initial policy rho) so that rewards there have mean 0 and std 1.
    Raises ValueError before any training, writing nothing, when inputs are invalid.
    Under `accelerate launch` every rank trains on its share of each batch; only rank 0
    evaluates, normalizes and saves, and the other ranks return None.
    """
    cfg = cfg or RewardConfig()
    choices, tok = _check_inputs(choices, cfg, policy_path, reference_path, out_dir)
    device = pick_device()
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    order = list(range(len(choices)))
    rng.shuffle(order)
    n_heldout = int(round(len(choices) * cfg.heldout_fraction))
    n_heldout = min(n_heldout, len(choices) - 1)
    heldout = [choices[i] for i in order[:n_heldout]]
    train = [choices[i] for i in order[n_heldout:]]

    init = cfg.init_from or policy_path
    model = load_reward_backbone(
        init, pad_token_id=tok.pad_token_id, device=device, dtype=torch.float32
    )
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    n_norm_prompts = math.ceil(cfg.n_norm_samples / 4)
    work_total = total_steps + n_norm_prompts
    bar = tqdm(
        total=work_total, desc="reward round", disable=progress is not None or not is_main_rank()
    )
    # Tokenized once, not once per epoch; each choice carries its four rows through the shuffles.
    flat_ids = encode_texts(
        tok,
        [c.prompt for c in train for _ in range(4)],
        [y for c in train for y in c.completions],
        cfg.max_length,
    )
    rows = [(flat_ids[4 * k : 4 * k + 4], c.best) for k, c in enumerate(train)]

    def choice_loss(m, batch):
        scores = score_ids(m, [ids for four, _ in batch for ids in four], tok.pad_token_id)
        best = torch.tensor([b for _, b in batch], device=scores.device)
        return four_way_loss(scores.view(len(batch), 4), best)

    def train_progress(step: int, total: int, info: dict) -> None:
        bar.update(step - bar.n)
        if progress is not None:
            progress(step, total, info)

    # A Trainer, so that under `accelerate launch` the ranks share the choices (see reward_trainer).
    model, losses, _ = fit_four_way(
        model, rows, cfg=cfg, choice_loss=choice_loss, progress=train_progress,
        work_total=work_total, device=device,
    )
    step = total_steps
    if not is_main_rank():
        return None  # rank 0 evaluates, normalizes and saves; the others only trained
    device = next(model.parameters()).device
    metrics = {
        "train_loss": sum(losses[-steps_per_epoch:]) / min(len(losses), steps_per_epoch),
        **_evaluate(model, tok, heldout, cfg),
        "n_train": len(train),
        "n_heldout": len(heldout),
        "steps": total_steps,
    }

    def norm_progress(done: int, _total: int, info: dict) -> None:
        bar.update(step + done - bar.n)
        if progress is not None:
            progress(step + done, work_total, info)

    gain, bias, norm = _normalize(model, tok, choices, reference_path, cfg, device, norm_progress)
    bar.close()
    metrics.update(norm)
    digest = data_hash(choices)
    meta = {
        "gain": gain,
        "bias": bias,
        "metrics": metrics,
        "data_hash": digest,
        "n_choices": len(choices),
        "init_from": init,
        "policy_path": policy_path,
        "reference_path": reference_path,
        "max_length": cfg.max_length,
        "config": cfg.to_dict(),
    }
    save_version(out_dir, model, tok, META_FILE, meta)
    return RewardResult(path=str(out_dir), metrics=metrics, gain=gain, bias=bias, data_hash=digest)


def _normalize(
    model, tok, choices, reference_path: str, cfg: RewardConfig, device, progress
) -> tuple[float, float, dict]:
    # Distinct prompts in a fixed order; conversations are lists, so keyed by prompt_key.
    prompts = cfg.norm_prompts or [
        p for _, p in sorted({prompt_key(c.prompt): c.prompt for c in choices}.items())
    ]
    n_prompts = math.ceil(cfg.n_norm_samples / 4)
    rng = random.Random(cfg.seed + 1)
    picked = [prompts[i % len(prompts)] for i in range(n_prompts)]
    rng.shuffle(picked)
    sample_cfg = cfg.sample or SampleConfig()
    sample_cfg = SampleConfig(**{**sample_cfg.to_dict(), "seed": cfg.seed, "n_completions": 4})
    rho = load_policy(reference_path, device=device)
    rows = sample_with_model(
        rho,
        load_tokenizer(reference_path),
        picked,
        sample_cfg,
        lambda done, total, m: progress(done, total, {"phase": "normalize"}),
    )
    del rho
    flat_prompts = [p for p, row in zip(picked, rows) for _ in row]
    flat_texts = [s.text for row in rows for s in row]
    raw = torch.tensor(
        _raw_scores(model, tok, flat_prompts, flat_texts, cfg.max_length)[: cfg.n_norm_samples]
    )
    mu, sigma = raw.mean().item(), raw.std().item()
    sigma = max(sigma, 1e-6)  # a constant reward model would otherwise divide by zero
    return (
        1.0 / sigma,
        -mu / sigma,
        {"norm_raw_mean": mu, "norm_raw_std": sigma, "n_norm_samples": len(raw)},
    )


class RewardScorer:
    """Normalized reward r(x, y) = gain * raw(x, y) + bias, callable on lists of strings."""

    def __init__(self, path: str, device: torch.device | None = None, batch_size: int = 64):
        meta_path = Path(path) / META_FILE
        if not meta_path.is_file():
            raise ValueError(f"{path!r} is not a Quartet reward model (no {META_FILE})")
        self.meta = json.loads(meta_path.read_text())
        self.gain, self.bias = float(self.meta["gain"]), float(self.meta["bias"])
        self.max_length = int(self.meta.get("max_length", 128))
        self.tokenizer = load_tokenizer(path)
        self.model = load_reward_backbone(
            path, pad_token_id=self.tokenizer.pad_token_id, device=device
        )
        self.model.eval()
        self.batch_size = batch_size

    def raw(self, prompts: list[str], completions: list[str]) -> list[float]:
        return _raw_scores(
            self.model, self.tokenizer, prompts, completions, self.max_length, self.batch_size
        )

    def __call__(self, prompts: list[str], completions: list[str]) -> list[float]:
        if len(prompts) != len(completions):
            raise ValueError("prompts and completions must have the same length")
        return [self.gain * r + self.bias for r in self.raw(prompts, completions)]


def load_reward_scorer(path: str, device: torch.device | None = None) -> RewardScorer:
    return RewardScorer(path, device=device)
