"""The committed starter as the tests hand it to TRL: with a chat template, or as a reward model."""

import json
import shutil
from pathlib import Path

STARTER = Path(__file__).resolve().parents[1] / "training" / "starter"


def starter_with_chat_template(folder: Path, template: str) -> Path:
    """A copy of the text starter at ``folder`` (which must not exist) whose tokenizer carries
    ``template``: a tiny chat model built in the test."""
    shutil.copytree(STARTER, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def trl_reward_trainer(model_path, dataset, out_dir: Path, *, max_steps: int, batch_size: int, max_length: int):
    """TRL's RewardTrainer on ``model_path`` as a one-label GPT-2 classifier (seeded, CPU, no
    checkpoints), and its tokenizer."""
    import torch
    from transformers import AutoTokenizer, GPT2ForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_path)
    model = GPT2ForSequenceClassification.from_pretrained(model_path, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    args = RewardConfig(output_dir=str(out_dir), max_steps=max_steps, per_device_train_batch_size=batch_size,
                        learning_rate=1e-4, logging_steps=1, save_strategy="no", report_to=[],
                        use_cpu=True, max_length=max_length, seed=0, dataloader_num_workers=0)
    return RewardTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok), tok
