"""`python -m training <command>`: each command shows a progress bar and prints a JSON summary
as the last line of stdout, so scripts can parse the outcome without scraping logs."""

from __future__ import annotations

import argparse
import json
import sys


def _cmd_build_starter(args) -> dict:
    from training.starter import StarterConfig, build_starter

    cfg = StarterConfig(seed=args.seed, steps=args.steps, threads=args.threads)
    return build_starter(args.out, cfg)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build-starter", help="pretrain the small offline starter policy")
    p.add_argument("--out", required=True, help="folder to create (must not exist)")
    p.add_argument("--steps", type=int, default=700, help="optimizer steps (batch 32 x 128 tokens)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.set_defaults(func=_cmd_build_starter)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = args.func(args)
    except ValueError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
        return 2
    sys.stdout.flush()
    print(json.dumps({"ok": True, **summary}))
    return 0
