"""Reward-round throughput and agreement: Quartet's four-way round vs TRL's pairwise RewardTrainer.

    python -m bench.reward [--tiny] [--choices 2000] [--heldout 400] [--policy training/starter]

The same simulated four-way choices (starter samples, noisy `length` labeler, fixed seeds) train
(a) `training.reward.train_reward_model`: softmax over the four scores, all four completions of a
    choice in one forward pass, 8 choices = 32 completions per optimizer step;
(b) TRL's `RewardTrainer` on the pairwise expansion (best against each of the three others, columns
    prompt/chosen/rejected), 16 pairs = 32 completions per optimizer step.
Both start from the starter as GPT2ForSequenceClassification (num_labels=1, pad token set, same
seeded head), one epoch, learning rate 5e-5 decayed linearly to 0 with no warm-up, Adam with
eps 1e-5 and no weight decay, no gradient clipping, fp32 on CPU (bf16 autocast on a bf16 GPU for
both). TRL's defaults that Quartet does not use are turned off for parity and named in the
output: gradient checkpointing, bf16 on CPU, gradient clipping at 1.0.

Throughput is four-way choices per second of training time: from the model being loaded to the
end of the last optimizer step. Quartet tokenizes inside that window; TRL tokenizes its data set
when the trainer is built, reported separately (`trl_prepare_s`) and not counted. Model loading
and Quartet's normalization sampling (after training, shrunk to `--norm-samples`) are reported
separately. Agreement is measured on the same held-out choices for both models: score all four
completions, take the argmax, compare with the labeler's (noisy) pick and with the noise-free
best (any of the tied top scores). Nothing is written to the repository.

Prints one JSON object as its last line. A benchmark, not a test: no assertion on time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from training.oracles import get_oracle, two_draw_agreement  # pure Python: no torch yet

REPO = Path(__file__).resolve().parents[1]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _simulate(policy: str, n: int, oracle_name: str, seed: int, batch_size: int):
    """n four-way choices on the policy's samples; demo prompts cycled, labeler seeded."""
    from training.config import SampleConfig
    from training.data import FourWayChoice, read_prompts
    from training.oracles import get_oracle
    from training.sampling import sample_completions

    demo = read_prompts(REPO / "training" / "data" / "demo_prompts.jsonl")
    prompts = [demo[i % len(demo)] for i in range(n)]
    rows = sample_completions(policy, prompts, SampleConfig(seed=seed, batch_size=batch_size))
    oracle, rng = get_oracle(oracle_name), random.Random(seed)
    choices, best_sets = [], []
    for prompt, row in zip(prompts, rows):
        texts = [s.text for s in row]
        choices.append(FourWayChoice(prompt, texts, oracle.choose(prompt, texts, rng)))
        scores = [oracle.score(t) for t in texts]
        top = max(scores)
        best_sets.append({i for i, s in enumerate(scores) if s == top})
    return choices, best_sets


def _picks(raw: list[float]) -> list[int]:
    return [max(range(4), key=lambda i: raw[4 * k + i]) for k in range(len(raw) // 4)]


def _agreement(picks: list[int], heldout, best_sets) -> dict:
    n = len(heldout)
    hits = sum(p == c.best for p, c in zip(picks, heldout))
    noise_free = sum(p in s for p, s in zip(picks, best_sets))
    return {"agreement": round(hits / n, 4), "noise_free_agreement": round(noise_free / n, 4)}


def _run_quartet(train, policy: str, args, workdir: str) -> tuple[dict, str]:
    import training.reward as reward
    from training.config import RewardConfig

    marks: dict[str, float] = {}
    real_loader = reward.load_reward_backbone

    def timed_loader(*a, **kw):  # a bench-only hook: when the model is ready, training starts
        model = real_loader(*a, **kw)
        marks["loaded"], marks["loaded_cpu"] = time.perf_counter(), time.process_time()
        return model

    steps: list[float] = []
    cpu: list[float] = []

    def progress(step: int, total: int, info: dict) -> None:
        if info.get("phase") == "train":
            steps.append(time.perf_counter())
            cpu.append(time.process_time())

    cfg = RewardConfig(
        lr=args.lr,
        batch_size=args.choices_per_step,
        epochs=1,
        heldout_fraction=0.0,
        seed=args.seed,
        n_norm_samples=args.norm_samples,
    )
    out = str(Path(workdir) / "quartet")
    reward.load_reward_backbone = timed_loader
    try:
        t0 = time.perf_counter()
        res = reward.train_reward_model(
            train,
            policy_path=policy,
            reference_path=policy,
            out_dir=out,
            cfg=cfg,
            progress=progress,
        )
        t_end = time.perf_counter()
    finally:
        reward.load_reward_backbone = real_loader
    train_s = steps[-1] - marks["loaded"]
    steady_s = steps[-1] - steps[0]
    steady_choices = len(train) - min(cfg.batch_size, len(train))
    return {
        "steps": len(steps),
        "completions_per_step": 4 * cfg.batch_size,
        "load_s": round(marks["loaded"] - t0, 3),
        "train_s": round(train_s, 3),
        "comparisons_per_s": round(len(train) / train_s, 2),
        "train_cpu_s": round(cpu[-1] - marks["loaded_cpu"], 3),
        "steady_comparisons_per_s": round(steady_choices / steady_s, 2) if steady_s > 0 else None,
        "after_training_s": round(t_end - steps[-1], 3),  # normalization sampling + scoring + save
        "norm_samples": cfg.n_norm_samples,
        "train_loss": round(res.metrics["train_loss"], 4),
    }, out


def _pairwise(train, tok) -> list[dict]:
    """Best against each of the three others; the prompt as Quartet's scorer sees it (BOS first)."""
    from training.sampling import prompt_text

    rows = []
    for c in train:
        for j in range(4):
            if j != c.best:
                rows.append(
                    {
                        "prompt": prompt_text(tok, c.prompt),
                        "chosen": c.completions[c.best],
                        "rejected": c.completions[j],
                    }
                )
    return rows


def _run_trl(train, policy: str, args, workdir: str):
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import RewardConfig, RewardTrainer

    from training.models import load_reward_backbone, load_tokenizer, pick_device, pick_dtype

    t0 = time.perf_counter()
    tok = load_tokenizer(policy, padding_side="right")
    device = pick_device()
    torch.manual_seed(args.seed)  # the same fresh head as Quartet's (it seeds before loading too)
    model = load_reward_backbone(
        policy, pad_token_id=tok.pad_token_id, device=device, dtype=torch.float32
    )
    load_s = time.perf_counter() - t0

    steps: list[float] = []
    cpu: list[float] = []

    class StepTimes(TrainerCallback):
        def on_step_end(self, *_a, **_kw):
            steps.append(time.perf_counter())
            cpu.append(time.process_time())

    pairs = _pairwise(train, tok)
    bf16 = pick_dtype(device) == torch.bfloat16
    config = RewardConfig(
        output_dir=str(Path(workdir) / "trl"),
        per_device_train_batch_size=args.pairs_per_step,
        gradient_accumulation_steps=1,
        num_train_epochs=1,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        optim="adamw_torch",
        weight_decay=0.0,
        adam_epsilon=1e-5,
        max_grad_norm=0.0,  # Quartet does not clip
        gradient_checkpointing=False,  # Quartet does not checkpoint; the model is small
        bf16=bf16,
        max_length=args.max_length,
        seed=args.seed,
        data_seed=args.seed,
        save_strategy="no",
        report_to="none",
        logging_steps=10,
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=device.type == "cpu",
    )
    t1 = time.perf_counter()
    trainer = RewardTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(pairs),
        processing_class=tok,
        callbacks=[StepTimes()],
    )
    prepare_s = time.perf_counter() - t1
    t2, c2 = time.perf_counter(), time.process_time()
    out = trainer.train()
    t3 = time.perf_counter()
    n_used = len(trainer.train_dataset)
    train_s = steps[-1] - t2
    steady_s = steps[-1] - steps[0]
    steady_pairs = n_used - min(args.pairs_per_step, n_used)
    return {
        "steps": len(steps),
        "pairs": len(pairs),
        "pairs_after_max_length_filter": n_used,
        "completions_per_step": 2 * args.pairs_per_step,
        "load_s": round(load_s, 3),
        "prepare_s": round(prepare_s, 3),
        "train_s": round(train_s, 3),
        "train_call_s": round(t3 - t2, 3),
        "train_cpu_s": round(cpu[-1] - c2, 3),
        "comparisons_per_s": round(len(train) / train_s, 2),
        "steady_comparisons_per_s": (
            round(steady_pairs / 3 / steady_s, 2) if steady_s > 0 else None
        ),
        "train_loss": round(out.training_loss, 4),  # mean over the epoch (Quartet's is too)
        "trl_defaults_changed": {
            "gradient_checkpointing": "True -> False",
            "bf16": f"True -> {bf16}",
            "max_grad_norm": "1.0 -> 0 (off)",
            "adam_epsilon": "1e-8 -> 1e-5",
            "learning_rate": f"1e-4 -> {args.lr}",
        },
    }, trainer.model, tok


def main(argv: list[str] | None = None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(prog="python -m bench.reward")
    parser.add_argument("--policy", default=str(REPO / "training" / "starter"))
    parser.add_argument("--choices", type=int, default=2000, help="four-way choices to train on")
    parser.add_argument("--heldout", type=int, default=400, help="extra choices for agreement")
    parser.add_argument("--oracle", default="length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--choices-per-step", type=int, default=8, help="Quartet: x4 completions")
    parser.add_argument("--pairs-per-step", type=int, default=16, help="TRL: x2 completions")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--norm-samples", type=int, default=8, help="Quartet's normalization")
    # One thread: on two shared cores, two-thread runs slowed 3x whenever the other load rose.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="40 + 16 choices: a smoke run")
    args = parser.parse_args(argv)
    if args.tiny:
        args.choices, args.heldout = 40, 16

    import torch

    from training.reward import _raw_scores, load_reward_scorer

    torch.set_num_threads(args.threads)
    load_before = _load()
    t0 = time.perf_counter()
    choices, best_sets = _simulate(
        args.policy, args.choices + args.heldout, args.oracle, args.seed, batch_size=64
    )
    simulate_s = time.perf_counter() - t0
    train, heldout = choices[: args.choices], choices[args.choices :]
    heldout_best = best_sets[args.choices :]
    prompts = [c.prompt for c in heldout for _ in range(4)]
    texts = [y for c in heldout for y in c.completions]

    with tempfile.TemporaryDirectory(prefix="quartet-bench-reward-") as workdir:
        quartet, path = _run_quartet(train, args.policy, args, workdir)
        scorer = load_reward_scorer(path)
        quartet_picks = _picks(scorer.raw(prompts, texts))
        quartet.update(_agreement(quartet_picks, heldout, heldout_best))
        del scorer
        trl, model, tok = _run_trl(train, args.policy, args, workdir)
        trl_picks = _picks(_raw_scores(model, tok, prompts, texts, args.max_length))
        trl.update(_agreement(trl_picks, heldout, heldout_best))
    # Paired view of the agreement gap: held-out choices that only one of the two models gets right.
    right = [(q == c.best, t == c.best) for q, t, c in zip(quartet_picks, trl_picks, heldout)]

    labeler_vs_noise_free = sum(c.best in s for c, s in zip(heldout, heldout_best)) / len(heldout)
    result = {
        "bench": "reward",
        "policy": args.policy,
        "device": str(next(model.parameters()).device),
        "threads": args.threads,
        "oracle": args.oracle,
        "choices": len(train),
        "heldout": len(heldout),
        "lr": args.lr,
        "simulate_s": round(simulate_s, 3),
        "quartet_comparisons_per_s": quartet["comparisons_per_s"],
        "trl_comparisons_per_s": trl["comparisons_per_s"],
        "ratio": round(quartet["comparisons_per_s"] / trl["comparisons_per_s"], 2),
        # CPU seconds of this process over the same windows: less sensitive to a busy machine.
        "cpu_ratio": round(trl["train_cpu_s"] / quartet["train_cpu_s"], 2),
        "steady_ratio": (
            round(quartet["steady_comparisons_per_s"] / trl["steady_comparisons_per_s"], 2)
            if quartet["steady_comparisons_per_s"] and trl["steady_comparisons_per_s"]
            else None
        ),
        "quartet_heldout_agreement": quartet["agreement"],
        "trl_heldout_agreement": trl["agreement"],
        "quartet_noise_free_agreement": quartet["noise_free_agreement"],
        "trl_noise_free_agreement": trl["noise_free_agreement"],
        # A model that always picks a noise-free best agrees with the noisy labeler this often.
        "heldout_only_quartet_right": sum(q and not t for q, t in right),
        "heldout_only_trl_right": sum(t and not q for q, t in right),
        "heldout_ceiling": round(_ceiling(heldout, args.oracle), 4),
        # Two draws of the labeler on the same task agree this often (people: 0.38-0.46).
        "labeler_two_draw_agreement": round(
            two_draw_agreement(get_oracle(args.oracle), [list(c.completions) for c in heldout]), 4
        ),
        "labeler_vs_noise_free": round(labeler_vs_noise_free, 4),
        "quartet": quartet,
        "trl": trl,
        "load_before": load_before,
        "load_after": _load(),
    }
    print(json.dumps(result))
    return result


def _ceiling(heldout, oracle_name: str) -> float:
    """Expected agreement with the noisy labeler of a model that always picks a noise-free best."""
    from training.oracles import get_oracle

    oracle = get_oracle(oracle_name)
    return sum(max(oracle.choice_probs(list(c.completions))) for c in heldout) / len(heldout)


if __name__ == "__main__":
    main()
