import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _run(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, env=ENV
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_committed_starter_is_small_and_loads_like_a_hub_model(starter_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert (Path(starter_path) / "model.safetensors").stat().st_size <= 20 * 1024 * 1024
    model = AutoModelForCausalLM.from_pretrained(starter_path)
    tok = AutoTokenizer.from_pretrained(starter_path)
    assert model.config.model_type == "gpt2" and len(tok) == model.config.vocab_size
    meta = json.loads((Path(starter_path) / "quartet_starter.json").read_text())
    assert meta["heldout_perplexity"] < 150


def test_starter_samples_read_as_english_words(starter_path, demo_prompts):
    from training.config import SampleConfig
    from training.corpus import load_corpus
    from training.sampling import sample_completions

    train, heldout = load_corpus()
    vocab = {w.lower() for p in train + heldout for w in re.findall(r"[A-Za-z]+", p)}
    rows = sample_completions(starter_path, demo_prompts[:16], SampleConfig(seed=5))
    words = [w.lower() for r in rows for s in r for w in re.findall(r"[A-Za-z]+", s.text)]
    assert len(words) > 100
    known = sum(w in vocab for w in words) / len(words)
    assert known > 0.9, known


def test_build_starter_command_writes_a_loadable_folder(tmp_path):
    out = tmp_path / "starter"
    summary = _run("-m", "training", "build-starter", "--out", str(out), "--steps", "2")
    assert summary["ok"] and summary["params"] > 1_000_000 and summary["heldout_perplexity"] > 0
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["starter"]  # no temporary folder left


def test_cli_sample_writes_jsonl(tmp_path, starter_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "The value"}\n{"prompt": "If the"}\n')
    out = tmp_path / "samples.jsonl"
    summary = _run(
        "-m",
        "training",
        "sample",
        "--policy",
        starter_path,
        "--prompts",
        str(prompts),
        "--out",
        str(out),
        "--max-new-tokens",
        "8",
    )
    assert summary["completions"] == 8
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["The value", "If the"]
    assert all(set(c) == {"text", "n_tokens", "logprob"} for r in rows for c in r["completions"])


def test_sampling_bench_tiny_prints_json(starter_path):
    result = _run("-m", "bench.sampling", "--tiny")
    assert result["bench"] == "sampling" and result["prompts"] == 8
    assert result["batched_completions_per_s"] > 0 and result["speedup"] > 0


@pytest.mark.parametrize("cmd", ["sample", "train-reward", "update-policy", "build-starter"])
def test_cli_help(cmd):
    proc = subprocess.run(
        [sys.executable, "-m", "training", cmd, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert proc.returncode == 0 and "--out" in proc.stdout
