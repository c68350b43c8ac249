"""`python -m training <command>`: each command shows a progress bar and prints a JSON summary
as the last line of stdout, so scripts can parse the outcome without scraping logs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

from training.config import ChatStarterConfig, PolicyConfig, RewardConfig, SampleConfig, SupervisedConfig
from training.data import read_choices, read_demonstrations, read_prompts, write_jsonl
from training.progress import TqdmProgress


def _config(cls, args, **overrides):
    """A config dataclass from the command's options of the same names (each option's default
    is the field's default, see build_parser), with ``overrides`` for options that are renamed
    or read from a file."""
    given = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    return cls(**{**given, **overrides})


def _summary(result, *names: str) -> dict:
    """The JSON summary of a round: the named fields of its result."""
    return {name: getattr(result, name) for name in names}


def _cmd_build_starter(args) -> dict:
    from training.starter import StarterConfig, build_starter

    return build_starter(args.out, _config(StarterConfig, args))


def _cmd_build_chat_starter(args) -> dict:
    from training.build_chat import build_chat_starter, write_chat_demo_prompts

    with TqdmProgress("chat starter SFT") as progress:
        summary = build_chat_starter(args.out, _config(ChatStarterConfig, args), progress)
    if args.demo_prompts:
        summary["demo_prompts"] = write_chat_demo_prompts(args.demo_prompts, seed=args.seed)
    return summary


def _cmd_sft(args) -> dict:
    from training.sft import train_supervised

    with TqdmProgress("SFT round") as progress:
        result = train_supervised(
            read_demonstrations(args.demonstrations),
            heldout=read_demonstrations(args.heldout) if args.heldout else None,
            policy_path=args.policy,
            out_dir=args.out,
            cfg=_config(SupervisedConfig, args, use_lora=args.lora),
            progress=progress,
        )
    return _summary(result, "path", "heldout_loss_before", "heldout_loss_after", "n_train", "n_heldout", "data_hash")


def _cmd_sample(args) -> dict:
    from training.sampling import sample_completions

    if Path(args.out).exists():
        raise ValueError(f"output file {args.out!r} already exists")
    prompts = read_prompts(args.prompts)
    cfg = _config(SampleConfig, args, stop=args.stop or None)
    t0 = time.time()
    with TqdmProgress("sample") as progress:
        rows = sample_completions(args.policy, prompts, cfg, progress)
    tmp = f"{args.out}.tmp-{os.getpid()}"
    write_jsonl(
        tmp, ({"prompt": p, "completions": [vars(s) for s in row]} for p, row in zip(prompts, rows))
    )
    os.replace(tmp, args.out)
    n = sum(len(r) for r in rows)
    return {
        "out": args.out,
        "prompts": len(prompts),
        "completions": n,
        "seconds": round(time.time() - t0, 2),
    }


def _cmd_train_reward(args) -> dict:
    from training.reward import train_reward_model

    choices = read_choices(args.choices)
    cfg = _config(RewardConfig, args, norm_prompts=read_prompts(args.norm_prompts) if args.norm_prompts else None)
    with TqdmProgress("reward round") as progress:
        result = train_reward_model(
            choices,
            policy_path=args.policy,
            reference_path=args.reference or args.policy,
            out_dir=args.out,
            cfg=cfg,
            progress=progress,
        )
    return _summary(result, "path", "gain", "bias", "data_hash", "metrics")


def _cmd_update_policy(args) -> dict:
    from training.policy import update_policy

    with TqdmProgress("policy round") as progress:
        result = update_policy(
            policy_path=args.policy,
            reference_path=args.reference or args.policy,
            reward_path=args.reward,
            prompts=read_prompts(args.prompts),
            out_dir=args.out,
            cfg=_config(PolicyConfig, args, use_lora=args.lora),
            progress=progress,
        )
    return _summary(result, "path", "final")


def _cmd_round(args) -> dict | None:
    from training.launch import run_spec

    return run_spec(json.loads(Path(args.spec).read_text()))


def build_parser() -> argparse.ArgumentParser:

    s, r, p, f, k = (
        SampleConfig(),
        RewardConfig(),
        PolicyConfig(),
        SupervisedConfig(),
        ChatStarterConfig(),
    )
    parser = argparse.ArgumentParser(prog="python -m training")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build-starter", help="pretrain the small offline starter policy")
    b.add_argument("--out", required=True, help="folder to create (must not exist)")
    b.add_argument("--steps", type=int, default=700, help="optimizer steps (batch 32 x 128 tokens)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    b.set_defaults(func=_cmd_build_starter)

    k_ = sub.add_parser(
        "build-chat-starter", help="give the starter a chat template and tune it with SFT"
    )
    k_.add_argument("--out", required=True, help="folder to create (must not exist)")
    k_.add_argument("--base", default=k.base, help="text starter folder to start from")
    k_.add_argument("--epochs", type=float, default=k.epochs)
    k_.add_argument("--seed", type=int, default=k.seed)
    k_.add_argument("--threads", type=int, default=k.threads, help="torch CPU threads")
    k_.add_argument(
        "--demo-prompts", help="also write held-out conversation prompts to this JSONL file"
    )
    k_.set_defaults(func=_cmd_build_chat_starter)

    f_ = sub.add_parser("sft", help="supervised round: fine-tune a policy on demonstrations")
    f_.add_argument("--policy", required=True, help="policy to start from (hub id or folder)")
    f_.add_argument(
        "--demonstrations",
        required=True,
        help='JSONL of {"prompt", "answer"} or {"messages": [..., assistant]}',
    )
    f_.add_argument("--heldout", help="JSONL demonstrations to measure held-out loss on instead")
    f_.add_argument("--out", required=True, help="folder to create")
    f_.add_argument("--lr", type=float, default=f.lr)
    f_.add_argument("--epochs", type=float, default=f.epochs)
    f_.add_argument("--max-steps", type=int, default=f.max_steps)
    f_.add_argument("--batch-size", type=int, default=f.batch_size)
    f_.add_argument("--max-length", type=int, default=f.max_length)
    f_.add_argument("--heldout-fraction", type=float, default=f.heldout_fraction)
    f_.add_argument("--seed", type=int, default=f.seed)
    f_.add_argument("--lora", action="store_true", help="train LoRA adapters instead of all weights")
    f_.set_defaults(func=_cmd_sft)

    c = sub.add_parser("sample", help="sample 4 completions per prompt into a JSONL file")
    c.add_argument("--policy", required=True, help="hub id or model folder")
    c.add_argument("--prompts", required=True, help='JSONL, one {"prompt": ...} per line')
    c.add_argument("--out", required=True, help="JSONL file to create")
    c.add_argument("--temperature", type=float, default=s.temperature)
    c.add_argument("--top-p", type=float, default=s.top_p)
    c.add_argument("--max-new-tokens", type=int, default=s.max_new_tokens)
    c.add_argument("--stop", default=s.stop, help="stop string ('' for none)")
    c.add_argument("--seed", type=int, default=s.seed)
    c.add_argument("--batch-size", type=int, default=s.batch_size, help="prompts per generate call")
    c.set_defaults(func=_cmd_sample)

    t = sub.add_parser(
        "train-reward", help="train and normalize a reward model on four-way choices"
    )
    t.add_argument(
        "--choices", required=True, help='JSONL of {"prompt", "completions": [4], "best"}'
    )
    t.add_argument("--policy", required=True, help="policy whose copy initializes the reward model")
    t.add_argument("--reference", help="initial policy rho for normalization (default: --policy)")
    t.add_argument("--out", required=True, help="folder to create")
    t.add_argument("--init-from", help="sequence-classification model to start from instead")
    t.add_argument("--lr", type=float, default=r.lr)
    t.add_argument("--batch-size", type=int, default=r.batch_size)
    t.add_argument("--epochs", type=int, default=r.epochs)
    t.add_argument("--heldout-fraction", type=float, default=r.heldout_fraction)
    t.add_argument("--n-norm-samples", type=int, default=r.n_norm_samples)
    t.add_argument(
        "--norm-prompts", help="JSONL prompts for normalization samples (default: the choices')"
    )
    t.add_argument("--seed", type=int, default=r.seed)
    t.set_defaults(func=_cmd_train_reward)

    u = sub.add_parser("update-policy", help="one KL-penalized RLOO round against a reward model")
    u.add_argument("--policy", required=True, help="latest policy version to continue from")
    u.add_argument("--reference", help="initial policy rho, the KL anchor (default: --policy)")
    u.add_argument("--reward", required=True, help="reward model folder from train-reward")
    u.add_argument("--prompts", required=True, help="JSONL prompts")
    u.add_argument("--out", required=True, help="folder to create")
    u.add_argument("--steps", type=int, default=p.steps)
    u.add_argument("--batch-size", type=int, default=p.batch_size, help="completions per step")
    u.add_argument("--lr", type=float, default=p.lr)
    u.add_argument("--beta", type=float, default=p.beta)
    u.add_argument(
        "--kl-target",
        type=float,
        default=p.kl_target,
        help="nats per completion; omit for fixed beta",
    )
    u.add_argument("--horizon", type=int, default=p.horizon)
    u.add_argument("--seed", type=int, default=p.seed)
    u.add_argument("--lora", action="store_true", help="train LoRA adapters instead of all weights")
    u.set_defaults(func=_cmd_update_policy)

    r = sub.add_parser(
        "round", help="run one rank of a round the worker launched (`accelerate launch`)"
    )
    r.add_argument("--spec", required=True, help="JSON spec written by training.launch")
    r.set_defaults(func=_cmd_round)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = args.func(args)
    except ValueError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
        return 2
    sys.stdout.flush()
    if summary is None:
        return 0  # a rank other than 0 of a launched round: rank 0 prints the summary
    print(json.dumps({"ok": True, **summary}))
    return 0
