import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.artifacts import atomic_output_dir
from training.config import PolicyConfig, RewardConfig
from training.reward import train_reward_model

REPO = Path(__file__).resolve().parents[2]
GOOD = {"prompt": "The value", "completions": [" is.", " a.", " b.", " c."], "best": 0}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [{**GOOD, "completions": [" is.", " a.", " b."]}],
        [{**GOOD, "best": 4}],
        [GOOD, {**GOOD, "best": -1}],
    ],
)
def test_bad_choices_raise_before_training_and_write_nothing(tmp_path, starter_path, bad):
    with pytest.raises(ValueError):
        train_reward_model(
            bad,
            policy_path=starter_path,
            reference_path=starter_path,
            out_dir=str(tmp_path / "rm"),
            cfg=RewardConfig(),
        )
    assert _leftovers(tmp_path) == []


def test_mismatched_tokenizer_raises(tmp_path, starter_path):
    from transformers import AutoTokenizer

    other = tmp_path / "other"
    tok = AutoTokenizer.from_pretrained(starter_path)
    tok.add_tokens(["quartetextra"])
    tok.save_pretrained(other)
    (tmp_path / "work").mkdir()
    with pytest.raises(ValueError, match="does not match"):
        train_reward_model(
            [GOOD],
            policy_path=starter_path,
            reference_path=str(other),
            out_dir=str(tmp_path / "work" / "rm"),
        )
    assert _leftovers(tmp_path / "work") == []


def test_unloadable_model_id_fails_naming_it(tmp_path):
    from training.models import load_policy, load_tokenizer

    with pytest.raises(ValueError, match="no-such-org/no-such-model"):
        load_tokenizer("no-such-org/no-such-model")
    with pytest.raises(ValueError, match="missing-folder"):
        load_policy(str(tmp_path / "missing-folder"))


def test_existing_output_is_refused(tmp_path, starter_path):
    (tmp_path / "rm").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        train_reward_model(
            [GOOD],
            policy_path=starter_path,
            reference_path=starter_path,
            out_dir=str(tmp_path / "rm"),
        )


def test_policy_round_rejects_bad_inputs_and_writes_nothing(tmp_path, starter_path):
    from training.policy import update_policy

    (tmp_path / "work").mkdir()
    out = str(tmp_path / "work" / "pi")
    cases = [
        (["The value"] * 8, PolicyConfig()),  # the reward path is not a reward model folder
        ([], PolicyConfig()),  # no prompts
        (["x"] * 8, PolicyConfig(batch_size=30)),  # a batch the generations cannot divide
    ]
    for prompts, cfg in cases:
        with pytest.raises(ValueError):
            update_policy(policy_path=starter_path, reference_path=starter_path, reward_path=starter_path,
                          prompts=prompts, out_dir=out, cfg=cfg)
    assert _leftovers(tmp_path / "work") == []


def test_atomic_output_dir_cleans_up_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output_dir(tmp_path / "out") as tmp:
            (tmp / "half-written").write_text("x")
            raise RuntimeError("crash")
    assert _leftovers(tmp_path) == []
    with atomic_output_dir(tmp_path / "out") as tmp:
        (tmp / "done").write_text("x")
    assert _leftovers(tmp_path) == ["out"]


def test_cli_bad_choices_prints_json_error(tmp_path, starter_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**GOOD, "completions": GOOD["completions"][:3]}) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "train-reward",
            "--choices",
            str(bad),
            "--policy",
            starter_path,
            "--out",
            str(tmp_path / "rm"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["ok"] is False and "4 completions" in summary["error"]
    assert not (tmp_path / "rm").exists()
