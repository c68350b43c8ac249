"""`python -m bench.gpu_check` on a machine without CUDA says so and runs nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_without_cuda_exits_with_a_clear_message():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: run python -m bench.gpu_check itself")
    result = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check"], cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "needs a CUDA GPU with bf16: no CUDA device is visible" in result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["ok"] is False and "no usable GPU" in last["error"]
