"""Launch settings, the accelerate command, engine selection, and cancelling a launched round."""

import random
import time
from pathlib import Path

import pytest

from training.config import LaunchConfig, SampleConfig
from training.generation import pick_generation_backend, vllm_sampling_params
from training.launch import accelerate_command


def test_launch_settings_are_validated():
    assert LaunchConfig().in_process  # one process stays the default
    assert not LaunchConfig(num_processes=2).in_process
    assert not LaunchConfig(config_file="ds.yaml").in_process  # DeepSpeed even on one GPU
    for bad, field in [
        ({"num_processes": 0}, "num_processes"),
        ({"num_processes": "2"}, "num_processes"),
        ({"num_processes": True}, "num_processes"),
        ({"mixed_precision": "bf17"}, "mixed_precision"),
        ({"config_file": " "}, "config_file"),
        ({"kill_grace_seconds": -1}, "kill_grace_seconds"),
    ]:
        with pytest.raises(ValueError, match=field):
            LaunchConfig(**bad)


def test_accelerate_command_carries_the_launch_settings():
    cmd = accelerate_command(
        LaunchConfig(num_processes=4, mixed_precision="bf16", config_file="/etc/q/fsdp.yaml"),
        "/tmp/spec.json", port=29555,
    )
    text = " ".join(cmd)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"]
    assert "--num_processes 4" in text and "--mixed_precision bf16" in text
    assert "--config_file /etc/q/fsdp.yaml" in text and "--multi_gpu" not in text
    assert "--main_process_port 29555" in text
    assert cmd[-5:] == ["-m", "training", "round", "--spec", "/tmp/spec.json"]
    plain = accelerate_command(LaunchConfig(num_processes=2, accelerate="/opt/bin/accelerate"),
                               "s.json", port=1)
    assert plain[:2] == ["/opt/bin/accelerate", "launch"] and "--multi_gpu" in plain
    assert "--mixed_precision" not in plain


def test_generation_backend_selection():
    assert pick_generation_backend("auto", installed=True, cuda=True) == "vllm"
    assert pick_generation_backend("auto", installed=True, cuda=False) == "transformers"
    assert pick_generation_backend("auto", installed=False, cuda=True) == "transformers"
    assert pick_generation_backend("transformers", installed=True, cuda=True) == "transformers"
    assert pick_generation_backend("vllm", installed=True, cuda=True) == "vllm"
    with pytest.raises(ValueError, match="not installed"):
        pick_generation_backend("vllm", installed=False, cuda=True)
    with pytest.raises(ValueError, match="no CUDA"):
        pick_generation_backend("vllm", installed=True, cuda=False)
    with pytest.raises(ValueError, match="backend"):
        pick_generation_backend("tgi")
    # Here: vllm is not installable on this CPU machine, so auto falls back without asking torch.
    assert pick_generation_backend("auto") == "transformers"


def test_vllm_sampling_matches_the_generate_settings():
    p = vllm_sampling_params(SampleConfig(temperature=0.7, top_p=0.9, max_new_tokens=24, stop=".",
                                          seed=5, n_completions=4))
    assert p == {"n": 4, "temperature": 0.7, "top_p": 0.9, "top_k": -1, "max_tokens": 24,
                 "stop": ["."], "include_stop_str_in_output": True, "logprobs": 0, "seed": 5}
    assert vllm_sampling_params(SampleConfig(stop=None))["stop"] is None


def _round_pids() -> set[int]:
    """Processes of launched rounds on this machine (launcher and ranks)."""
    found = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"training round --spec" in cmd and b"quartet-launch-" in cmd:
                found.add(int(d.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def _wait_until(predicate, attempts: int = 100) -> bool:
    """SIGKILL is delivered asynchronously: poll the state (at most ~10 s), not a fixed sleep."""
    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class Cancelled(Exception):
    pass


def test_cancel_ends_every_rank_of_a_launched_round(tmp_path, starter_path, demo_prompts):
    from training.config import RewardConfig
    from training.data import FourWayChoice
    from training.launch import reward_round
    from training.storage import ArtifactStore

    rng = random.Random(0)
    choices = [FourWayChoice(p, [f" {w}." for w in rng.sample("abcdefgh", 4)], 0)
               for p in demo_prompts[:40]]
    seen = {}

    def cancel_at_first_report(step, total, metrics):
        seen["pids"] = _round_pids()
        seen["report"] = (step, total, metrics)
        raise Cancelled

    out = tmp_path / "art" / "rm"
    with pytest.raises(Cancelled):
        reward_round(
            choices, policy_path=starter_path, reference_path=starter_path, out=str(out),
            cfg=RewardConfig(batch_size=8, n_norm_samples=8), progress=cancel_at_first_report,
            store=ArtifactStore(root=str(tmp_path / "art"), cache_dir=str(tmp_path / "cache")),
            launch=LaunchConfig(num_processes=2, kill_grace_seconds=5),
        )
    step, total, metrics = seen["report"]
    assert step == 1 and total == 4 + 2 and metrics["phase"] == "train"  # rank 0 reported
    # The launcher and both ranks were running; none is left.
    assert len(seen["pids"]) >= 3, seen["pids"]
    assert _wait_until(lambda: not [pid for pid in seen["pids"] if _alive(pid)])
    assert not out.exists()
