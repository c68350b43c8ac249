"""Exports of chat projects in TRL's conversational preference format (and TRL trains on them),
and text projects' exports byte for byte as before."""

import json
from datetime import datetime
from datetime import timezone as dt_timezone

import pyarrow.parquet as pq
import pytest

from labeling.models import Choice, Project
from labeling.services import NewTask, tasks_create
from labeling.services.exports import chat_schemas, preferences_export, schemas
from tests.factories import ProjectFactory, UserFactory, make_tasks
from tests.labeling.test_exports import label, read_jsonl
from tests.trl_support import starter_with_chat_template, trl_reward_trainer

SYSTEM = {"role": "system", "content": "Answer in one line."}
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def conversation(i):
    return [SYSTEM, {"role": "user", "content": f"Question {i}: what does `len` return?"}]


@pytest.fixture
def chat_labeled(db):
    project = ProjectFactory(slug="chat-x", prompt_format=Project.PromptFormat.CHAT)
    answers = ["The **number** of items.", "A list.", "Nothing at all.", "It raises."]
    tasks_create(project=project, tasks=[NewTask(conversation(i), answers) for i in range(8)])
    user = UserFactory()
    project.annotators.add(user)
    label(project, user, [0] * 7 + ["skip"])
    return project


def test_chat_pairwise_jsonl_is_trls_conversational_format(chat_labeled, tmp_path):
    result = preferences_export(project=chat_labeled, format="pairwise", out=tmp_path / "p.jsonl")
    rows = read_jsonl(result.path)
    assert result.rows == len(rows) == 21
    assert rows[0]["prompt"] == conversation(0)
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "The **number** of items."}]
    assert {r["rejected"][0]["content"] for r in rows[:3]} == {"A list.", "Nothing at all.", "It raises."}
    assert all(r["rejected"][0]["role"] == "assistant" and len(r["rejected"]) == 1 for r in rows)
    assert result.manifest["prompt_format"] == "chat"


def test_chat_listwise_parquet_keeps_conversations_and_assistant_messages(chat_labeled, tmp_path):
    result = preferences_export(project=chat_labeled, format="listwise", out=tmp_path / "l.parquet")
    table = pq.read_table(result.path)
    assert table.schema.equals(chat_schemas()["listwise"], check_metadata=False)
    first = table.to_pylist()[0]
    assert first["prompt"] == conversation(0) and first["best"] == 0
    assert first["completions"][3] == {"role": "assistant", "content": "It raises."}


def test_text_exports_are_byte_for_byte_as_before(project, annotator, tmp_path):
    make_tasks(project, 3, prefix="Prompt «ü»")  # non-ASCII: written as is, not escaped
    label(project, annotator, [2, 0, 1])
    Choice.objects.update(created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt_timezone.utc))
    choices = list(Choice.objects.order_by("pk").values_list("pk", "task_id", "display_order"))
    out = preferences_export(project=project, format="pairwise", out=tmp_path / "p.jsonl",
                             reveal_annotators=True)
    expected = ""
    for (pk, task_id, _), best, n in zip(choices, [2, 0, 1], range(3), strict=True):
        for other in (p for p in range(4) if p != best):
            expected += json.dumps({
                "prompt": f"Prompt «ü» {n}", "chosen": f"Prompt «ü» {n} completion {best}",
                "rejected": f"Prompt «ü» {n} completion {other}", "chosen_position": best,
                "rejected_position": other, "annotator": annotator.username, "policy_version": None,
                "created": "2026-01-02T03:04:05+00:00", "choice_id": pk, "task_id": task_id,
            }, ensure_ascii=False) + "\n"
    assert out.path.read_bytes() == expected.encode("utf-8")
    assert "Prompt «ü» 0" in out.path.read_text(encoding="utf-8")
    assert "prompt_format" not in out.manifest

    listwise = preferences_export(project=project, format="listwise", out=tmp_path / "l.jsonl",
                                  reveal_annotators=True)
    expected = "".join(json.dumps({
        "prompt": f"Prompt «ü» {n}", "completions": [f"Prompt «ü» {n} completion {p}" for p in range(4)],
        "best": best, "kind": "best", "display_order": order, "annotator": annotator.username,
        "policy_version": None, "decision_ms": 1200, "created": "2026-01-02T03:04:05+00:00",
        "choice_id": pk, "task_id": task_id,
    }, ensure_ascii=False) + "\n" for (pk, task_id, order), best, n in zip(choices, [2, 0, 1], range(3), strict=True))
    assert listwise.path.read_bytes() == expected.encode("utf-8")

    for fmt in ("pairwise", "listwise"):
        parquet = preferences_export(project=project, format=fmt, out=tmp_path / f"{fmt}.parquet",
                                     reveal_annotators=True)
        table = pq.read_table(parquet.path)
        assert table.schema.equals(schemas()[fmt], check_metadata=False)  # plain strings, as before
        jsonl = tmp_path / ("p.jsonl" if fmt == "pairwise" else "l.jsonl")
        assert table.to_pylist() == read_jsonl(jsonl)


# --- TRL trains on the conversational pairwise export, with no conversion code ---


@pytest.fixture
def chat_model(tmp_path):
    """The text starter with a chat template: a tiny chat model built in the test."""
    return starter_with_chat_template(tmp_path / "chat-model", CHAT_TEMPLATE)


@pytest.fixture
def chat_pairs(chat_labeled, tmp_path, monkeypatch):
    from datasets import load_dataset

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    export = preferences_export(project=chat_labeled, format="pairwise", out=tmp_path / "pairs.parquet")
    return load_dataset("parquet", data_files=str(export.path), split="train", cache_dir=str(tmp_path / "hf"))


def test_conversational_pairwise_export_trains_trls_reward_trainer(chat_model, chat_pairs, tmp_path):
    import torch

    trainer, tok = trl_reward_trainer(chat_model, chat_pairs, tmp_path / "rm", max_steps=2, batch_size=4, max_length=96)
    assert tok.chat_template == CHAT_TEMPLATE
    # TRL applied the chat template: the tokenized chosen sequence is the templated conversation.
    templated = tok.apply_chat_template(chat_pairs[0]["prompt"] + chat_pairs[0]["chosen"], tokenize=False)
    assert tok.decode(trainer.train_dataset[0]["chosen_ids"]) == templated
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert trainer.state.global_step == 2 and all(torch.isfinite(torch.tensor(losses)))


def test_conversational_pairwise_export_trains_trls_dpo_trainer(chat_model, chat_pairs, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(chat_model)
    model = AutoModelForCausalLM.from_pretrained(chat_model)
    args = DPOConfig(output_dir=str(tmp_path / "dpo"), max_steps=2, per_device_train_batch_size=4,
                     learning_rate=1e-4, logging_steps=1, save_strategy="no", report_to=[],
                     use_cpu=True, max_length=96, seed=0, dataloader_num_workers=0)
    trainer = DPOTrainer(model=model, args=args, train_dataset=chat_pairs, processing_class=tok)
    prompt = tok.apply_chat_template(chat_pairs[0]["prompt"], tokenize=False, add_generation_prompt=True)
    assert tok.decode(trainer.train_dataset[0]["prompt_ids"]) == prompt
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert trainer.state.global_step == 2 and all(torch.isfinite(torch.tensor(losses)))
