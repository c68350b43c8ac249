"""The SFT exports are what TRL's SFTTrainer reads: each one trains it for a step."""

import math
import os
from pathlib import Path

import pytest

from labeling.models import Demonstration, Prompt
from labeling.services.demonstrations import demonstration_hash
from labeling.services.sft_exports import sft_export
from tests.trl_support import starter_with_chat_template

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A minimal chat template for the text starter, so the conversational export can be tested
# without the chat starter (the chat contract's suggestion).
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def starter(tmp_path):
    return str(starter_with_chat_template(tmp_path / "starter", CHAT_TEMPLATE))


def _load(out: Path, tmp_path: Path):
    import datasets

    if out.suffix == ".jsonl":
        return datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "c"))
    if out.suffix == ".parquet":
        return datasets.Dataset.from_parquet(str(out), cache_dir=str(tmp_path / "c"))
    return datasets.load_from_disk(str(out))


@pytest.mark.parametrize(
    "style,name",
    [("prompt_completion", "sft.jsonl"), ("messages", "sft.parquet"), ("messages", "sft-folder")],
)
def test_sft_export_trains_trl_sfttrainer_for_a_step(project, tmp_path, starter, style, name):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(0)
    for i in range(4):
        prompt = Prompt.objects.create(project=project, text=f"Describe item {i}.", text_hash=f"h{i}")
        Demonstration.objects.create(
            project=project, prompt=prompt, text=f"Item {i} is a small object used for tests.",
            content_hash=demonstration_hash(f"h{i}", str(i)), source="imported",
        )
    out = tmp_path / name
    sft_export(project=project, style=style, out=out)
    dataset = _load(out, tmp_path)
    assert len(dataset) == 4

    tokenizer = AutoTokenizer.from_pretrained(starter)
    model = AutoModelForCausalLM.from_pretrained(starter)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            output_dir=str(tmp_path / "run"), max_steps=1, per_device_train_batch_size=4,
            learning_rate=1e-3, report_to="none", save_strategy="no", use_cpu=True,
            max_length=64, dataloader_num_workers=0, disable_tqdm=True, logging_steps=1,
        ),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    result = trainer.train()
    assert result.global_step == 1 and math.isfinite(result.training_loss) and result.training_loss > 0
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))
