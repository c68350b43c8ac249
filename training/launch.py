"""Running a round where its settings say: in this process, or as an `accelerate launch` child.

The worker calls `reward_round`, `policy_round` or `sampling_round` with paths or artifact URLs.
Inputs given as URLs are fetched into the machine's cache first; an output URL on an object
store is trained into a local staging folder and then published (see `training.storage`).

With `LaunchConfig.in_process` (one process, no DeepSpeed/FSDP file: the default) a round runs
in the calling process exactly as before. Otherwise the round's inputs are written to a JSON
spec and the worker starts

    accelerate launch --num_processes N [--mixed_precision P] [--config_file F] \
        -m training round --spec SPEC

in a new process group. Rank 0 prints one `QUARTET_PROGRESS {json}` line per progress report
and the JSON summary last; the parent hands each report to its own progress callback (the
worker's RunReporter, which records it and keeps the heartbeat), so cancelling works as in
process: the callback raises, and the parent ends the whole group, every rank included.
Torch-free: nothing here imports torch unless a round runs in process.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from training.config import LaunchConfig, PolicyConfig, RewardConfig, SampleConfig
from training.generation import pick_generation_backend, sample_with_vllm
from training.progress import Progress
from training.storage import ArtifactStore, is_remote

PROGRESS_PREFIX = "QUARTET_PROGRESS "
_STDERR_TAIL = 4000


class RoundFailed(RuntimeError):
    """A launched round exited without a summary; the message ends with its stderr tail."""


# --- the child side ---------------------------------------------------------------------------


def progress_printer(step: int, total: int, metrics: dict) -> None:
    """The progress callable of a launched round: one line on stdout, on rank 0 only."""
    if int(os.environ.get("RANK", "0")) != 0:
        return
    plain = {
        k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None
    }
    line = json.dumps({"step": step, "total": total, "metrics": plain})
    print(PROGRESS_PREFIX + line, flush=True)


def _reward_config(d: dict) -> RewardConfig:
    d = dict(d)
    if isinstance(d.get("sample"), dict):
        d["sample"] = SampleConfig(**d["sample"])
    return RewardConfig(**d)


def run_spec(spec: dict) -> dict | None:
    """Run the round a spec describes in this process (rank of a launched job); rank 0 returns
    the summary the parent parses, other ranks None."""
    from training.policy import update_policy
    from training.reward import train_reward_model

    if spec["kind"] == "reward":
        res = train_reward_model(
            spec["choices"],
            policy_path=spec["policy_path"],
            reference_path=spec["reference_path"],
            out_dir=spec["out_dir"],
            cfg=_reward_config(spec["config"]),
            progress=progress_printer,
        )
        return None if res is None else asdict(res)
    if spec["kind"] == "policy":
        res = update_policy(
            policy_path=spec["policy_path"],
            reference_path=spec["reference_path"],
            reward_path=spec["reward_path"],
            prompts=spec["prompts"],
            out_dir=spec["out_dir"],
            cfg=PolicyConfig(**spec["config"]),
            progress=progress_printer,
        )
        return None if res is None else asdict(res)
    raise ValueError(f"unknown round kind {spec['kind']!r} in spec")


# --- the parent side --------------------------------------------------------------------------


def _free_port() -> int:
    # Two rounds on one machine must not share a rendezvous port.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_command(launch: LaunchConfig, spec_path: str, *, port: int) -> list[str]:
    """The argv that runs `spec_path` under accelerate with the launch settings."""
    head = [launch.accelerate, "launch"] if launch.accelerate else [
        sys.executable, "-m", "accelerate.commands.launch"
    ]
    cmd = [*head, "--num_processes", str(launch.num_processes), "--num_machines", "1"]
    cmd += ["--main_process_port", str(port), "--dynamo_backend", "no"]
    if launch.config_file:
        cmd += ["--config_file", str(launch.config_file)]
    elif launch.num_processes > 1:
        # Without a config file, several ranks are plain DDP (NCCL on GPUs, gloo on CPUs).
        cmd += ["--multi_gpu"]
    if launch.mixed_precision:
        cmd += ["--mixed_precision", launch.mixed_precision]
    return [*cmd, "-m", "training", "round", "--spec", spec_path]


def _end_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the child's whole process group (accelerate, torchrun and every rank), then
    SIGKILL to whatever is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGTERM:
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def _die_with_parent() -> None:
    """Runs in the child before exec: if the worker itself is killed (a hard time limit, OOM),
    the launcher gets SIGTERM and takes its ranks down instead of training for no one."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def run_launched(spec: dict, launch: LaunchConfig, progress: Progress | None) -> dict:
    """Run `spec` through `accelerate launch` and return rank 0's summary.

    Side effects: a child process group for the round's lifetime. Raises ValueError for bad
    inputs the round refused (as in process), RoundFailed when it died otherwise; anything
    `progress` raises (e.g. a cancellation) ends every rank and propagates.
    """
    with tempfile.TemporaryDirectory(prefix="quartet-launch-") as scratch:
        spec_path = str(Path(scratch) / "spec.json")
        Path(spec_path).write_text(json.dumps(spec))
        cmd = accelerate_command(launch, spec_path, port=_free_port())
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
        with open(Path(scratch) / "stderr.log", "w+") as err:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                start_new_session=True,  # its own group, so one signal reaches every rank
                preexec_fn=_die_with_parent,
            )
            summary = None
            try:
                for line in proc.stdout:
                    if line.startswith(PROGRESS_PREFIX):
                        report = json.loads(line[len(PROGRESS_PREFIX):])
                        if progress is not None:
                            progress(report["step"], report["total"], report["metrics"])
                    elif line.startswith("{"):
                        summary = json.loads(line)
                proc.wait()
            except BaseException:
                _end_group(proc, launch.kill_grace_seconds)
                raise
            finally:
                proc.stdout.close()
            _end_group(proc, 0)  # a rank that outlived its launcher must not linger
            err.seek(0, os.SEEK_END)
            err.seek(max(0, err.tell() - _STDERR_TAIL))
            tail = err.read()
    if summary is not None and not summary.get("ok", True):
        raise ValueError(summary.get("error", "the round refused its inputs"))
    if proc.returncode != 0 or summary is None:
        raise RoundFailed(f"launched round exited with status {proc.returncode}:\n{tail}")
    return summary


# --- rounds, as the worker calls them ---------------------------------------------------------


def _staging(store: ArtifactStore, out: str) -> tuple[str, str | None]:
    """Where a round writes its version: the final folder on a local store, else a fresh
    local staging folder (returned second, to be removed once published)."""
    if not is_remote(out):
        return out.removeprefix("file://"), None
    Path(store.cache_dir).mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=store.cache_dir)
    return str(Path(staging) / "version"), staging


def _publish(store: ArtifactStore, local: str, out: str, staging: str | None) -> str:
    try:
        return store.publish(local, out)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _train_and_publish(store: ArtifactStore, out: str, train):
    """Run `train(local_dir)`, which writes one version into `local_dir` and returns its result,
    then publish the folder at `out`; the result's `path` becomes the published address. A
    failed round leaves no staging folder behind."""
    local, staging = _staging(store, out)
    try:
        res = train(local)
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    res.path = _publish(store, local, out, staging)
    return res


def reward_round(
    choices,
    *,
    policy_path: str,
    reference_path: str,
    out: str,
    cfg: RewardConfig,
    store: ArtifactStore,
    launch: LaunchConfig | None = None,
    progress: Progress | None = None,
):
    """Train, normalize and publish a reward model at `out` (folder or URL); a RewardResult
    whose `path` is `out`. Inputs may be URLs (fetched into the store's cache)."""
    from training.reward import RewardResult

    launch = launch or LaunchConfig()
    policy_local, reference_local = store.fetch(policy_path), store.fetch(reference_path)
    if cfg.init_from:
        cfg.init_from = store.fetch(cfg.init_from)

    def train(local: str):
        if launch.in_process:
            from training.reward import train_reward_model

            return train_reward_model(
                choices, policy_path=policy_local, reference_path=reference_local,
                out_dir=local, cfg=cfg, progress=progress,
            )
        spec = {
            "kind": "reward", "choices": [_choice_dict(c) for c in choices],
            "policy_path": policy_local, "reference_path": reference_local,
            "out_dir": local, "config": cfg.to_dict(),
        }
        summary = run_launched(spec, launch, progress)
        return RewardResult(**{k: summary[k] for k in ("path", "metrics", "gain", "bias", "data_hash")})

    return _train_and_publish(store, out, train)


def policy_round(
    *,
    policy_path: str,
    reference_path: str,
    reward_path: str,
    prompts: list[str],
    out: str,
    cfg: PolicyConfig,
    store: ArtifactStore,
    launch: LaunchConfig | None = None,
    progress: Progress | None = None,
):
    """One policy round published at `out` (folder or URL); a PolicyResult whose `path` is
    `out`. The recorded parent/reference/reward in its metadata are the URLs given."""
    from training.policy import PolicyResult

    launch = launch or LaunchConfig()
    paths = [store.fetch(p) for p in (policy_path, reference_path, reward_path)]

    def train(local: str):
        if launch.in_process:
            from training.policy import update_policy

            return update_policy(
                policy_path=paths[0], reference_path=paths[1], reward_path=paths[2],
                prompts=prompts, out_dir=local, cfg=cfg, progress=progress,
            )
        spec = {
            "kind": "policy", "policy_path": paths[0], "reference_path": paths[1],
            "reward_path": paths[2], "prompts": list(prompts), "out_dir": local,
            "config": cfg.to_dict(),
        }
        summary = run_launched(spec, launch, progress)
        return PolicyResult(**{k: summary[k] for k in ("path", "metrics", "final")})

    return _train_and_publish(store, out, train)


def supervised_round(
    demonstrations,
    *,
    policy_path: str,
    out: str,
    cfg,
    store: ArtifactStore,
    heldout=None,
    progress: Progress | None = None,
):
    """An SFT round (training.sft) published at `out` like the other rounds: the base fetched
    into the store's cache, the new version trained into a staging folder and published whole.
    Runs in this process; `accelerate launch` is not wired for SFT yet."""
    from training.sft import train_supervised

    base = store.fetch(policy_path)
    return _train_and_publish(store, out, lambda local: train_supervised(
        demonstrations, heldout=heldout, policy_path=base, out_dir=local, cfg=cfg, progress=progress,
    ))


def _choice_dict(c) -> dict:
    return c.to_dict() if hasattr(c, "to_dict") else dict(c)


# --- sampling ---------------------------------------------------------------------------------


def sampling_round(
    policy_path: str,
    prompts: list[str],
    cfg: SampleConfig,
    *,
    store: ArtifactStore,
    backend: str = "auto",
    progress: Progress | None = None,
):
    """Sample `cfg.n_completions` per prompt from the policy at `policy_path` (folder or URL,
    fetched into the cache) with vLLM where usable, else transformers' generate. Same
    `Sample` rows either way."""
    local = store.fetch(policy_path)
    if pick_generation_backend(backend) == "vllm":
        return sample_with_vllm(local, prompts, cfg, progress)
    from training.sampling import sample_completions  # torch: only when a round runs here

    return sample_completions(local, prompts, cfg, progress=progress)
