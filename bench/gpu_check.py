"""GPU check: reward, policy and sampling rounds on CUDA with bf16, on the committed starter.

    python -m bench.gpu_check [--processes N] [--choices 400] [--policy-steps 16] [--prompts 256]

Runs what a GPU worker runs, through the same entry points (`training.launch`): a reward round
on simulated four-way choices (starter samples, noisy `length` labeler), a policy round against
that reward model, and a sampling round from the new policy (vLLM where installed, else
transformers' generate). `--processes N` runs the reward and policy rounds through
`accelerate launch` over N GPUs. Mixed precision is bf16 (`--mixed-precision`).

On a machine without CUDA it exits at once with status 2 and says so: this check is for GPUs,
the CPU paths are covered by the test suite. Prints one JSON object as its last line (seconds,
throughput, learning figures, peak GPU memory). A benchmark, not a test: no assertion on time.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _no_cuda_message() -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return f"no CUDA device is visible to torch {torch.__version__}"
    if not torch.cuda.is_bf16_supported():
        return f"{torch.cuda.get_device_name(0)} does not support bf16"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.gpu_check", description=__doc__.split("\n")[0]
    )
    p.add_argument("--policy", default=str(REPO / "training" / "starter"))
    p.add_argument("--processes", type=int, default=1, help="GPUs per reward/policy round")
    p.add_argument("--mixed-precision", default="bf16", choices=["bf16", "fp16", "no"])
    p.add_argument("--choices", type=int, default=400)
    p.add_argument("--policy-steps", type=int, default=16)
    p.add_argument("--prompts", type=int, default=256, help="prompts in the sampling round (x4)")
    p.add_argument("--backend", default="auto", choices=["auto", "vllm", "transformers"])
    args = p.parse_args(argv)

    why = _no_cuda_message()
    if why:
        print(
            f"bench.gpu_check needs a CUDA GPU with bf16: {why}. Nothing was run.",
            file=sys.stderr,
        )
        print(json.dumps({"ok": False, "error": f"no usable GPU: {why}"}))
        return 2

    import torch

    from training.config import LaunchConfig, PolicyConfig, RewardConfig, SampleConfig
    from training.data import FourWayChoice, read_prompts
    from training.generation import pick_generation_backend
    from training.launch import policy_round, reward_round, sampling_round
    from training.oracles import get_oracle
    from training.storage import ArtifactStore

    demo = read_prompts(REPO / "training" / "data" / "demo_prompts.jsonl")
    launch = LaunchConfig(num_processes=args.processes, mixed_precision=args.mixed_precision)
    figures: dict = {
        "device": torch.cuda.get_device_name(0), "gpus_visible": torch.cuda.device_count(),
        "processes": args.processes, "mixed_precision": args.mixed_precision,
        "generation_backend": pick_generation_backend(args.backend),
    }
    with tempfile.TemporaryDirectory(prefix="quartet-gpu-check-") as tmp:
        store = ArtifactStore(root=tmp, cache_dir=str(Path(tmp) / "cache"))
        oracle, rng = get_oracle("length"), random.Random(0)
        prompts = [demo[i % len(demo)] for i in range(args.choices)]

        t = time.perf_counter()
        rows = sampling_round(args.policy, prompts, SampleConfig(seed=11), store=store,
                              backend=args.backend)
        figures["simulate_choices_s"] = round(time.perf_counter() - t, 2)
        choices = []
        for pr, r in zip(prompts, rows):
            texts = [s.text for s in r]
            choices.append(FourWayChoice(pr, texts, oracle.choose(pr, texts, rng)))

        torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        rm = reward_round(choices, policy_path=args.policy, reference_path=args.policy,
                          out=store.version_url("rm"), store=store, launch=launch,
                          cfg=RewardConfig(n_norm_samples=256, norm_prompts=demo))
        secs = time.perf_counter() - t
        figures["reward"] = {
            "seconds": round(secs, 2), "choices_per_s": round(rm.metrics["n_train"] / secs, 1),
            "heldout_agreement": rm.metrics["heldout_agreement"],
            "heldout_loss": rm.metrics["heldout_loss"],
        }

        t = time.perf_counter()
        pol = policy_round(policy_path=args.policy, reference_path=args.policy, reward_path=rm.path,
                           prompts=demo, out=store.version_url("pi1"), store=store, launch=launch,
                           cfg=PolicyConfig(steps=args.policy_steps, batch_size=32, lr=3e-5,
                                            kl_target=3.0, horizon=1000,
                                            generation_backend=args.backend))
        secs = time.perf_counter() - t
        figures["policy"] = {
            "seconds": round(secs, 2),
            "episodes_per_s": round(pol.final["episodes"] / secs, 1),
            "reward_first": pol.final["reward_first"], "reward_last": pol.final["reward_last"],
            "kl_mean_second_half": pol.final["kl_mean_second_half"],
        }

        sample_prompts = [demo[i % len(demo)] for i in range(args.prompts)]
        t = time.perf_counter()
        out = sampling_round(pol.path, sample_prompts, SampleConfig(seed=1), store=store,
                             backend=args.backend)
        secs = time.perf_counter() - t
        figures["sampling"] = {
            "seconds": round(secs, 2), "completions": sum(len(r) for r in out),
            "completions_per_s": round(sum(len(r) for r in out) / secs, 1),
        }
        # Peak of this (parent) process: in-process rounds and sampling; launched ranks are
        # separate processes and not counted here.
        figures["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps({"ok": True, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
