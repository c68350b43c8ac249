"""The policy round's KL reference is ρ, not the version it continues: built, not trained (seconds).

Every round is anchored to the same ρ the reward model was normalized on; RLOOTrainer builds
its reference itself (see training.policy.build_policy_trainer), so this checks what it built.
"""

import json

import pytest
import torch

from training.config import PolicyConfig
from training.models import load_policy, load_reward_backbone, load_tokenizer
from training.policy import build_policy_trainer
from training.reward import META_FILE as REWARD_META

SEQUENCE = "The value of a careful answer is that it says what it means."


def _token_log_probs(model, ids: torch.Tensor) -> torch.Tensor:
    """log p(token_t | tokens_<t) for every token after the first (the model's plain forward)."""
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids.to(next(model.parameters()).device)).logits.float()
    return torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).squeeze(-1).cpu()


@pytest.fixture
def tuned_away(starter_path, tmp_path):
    """π: ρ (the starter) with every weight nudged, saved as a policy version; and an untrained
    reward model folder (nothing trains here, so its scores do not matter)."""
    tok = load_tokenizer(starter_path)
    torch.manual_seed(0)
    pi = load_policy(starter_path, dtype=torch.float32)
    with torch.no_grad():
        for param in pi.parameters():
            param.add_(0.05 * torch.randn_like(param))
    pi.save_pretrained(tmp_path / "pi")
    tok.save_pretrained(tmp_path / "pi")
    rm = load_reward_backbone(starter_path, pad_token_id=tok.pad_token_id)
    rm.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    (tmp_path / "rm" / REWARD_META).write_text(json.dumps({"gain": 1.0, "bias": 0.0, "max_length": 48}))
    return str(tmp_path / "pi"), str(tmp_path / "rm")


@pytest.mark.parametrize("use_lora", [False, True], ids=["full", "lora"])
def test_the_trainers_reference_is_rho_not_the_policy_it_continues(
    starter_path, tuned_away, tmp_path, use_lora
):
    pi_path, rm_path = tuned_away
    built = build_policy_trainer(
        policy_path=pi_path,
        reference_path=starter_path,
        reward_path=rm_path,
        prompts=["The value"] * 2,
        scratch_dir=str(tmp_path / "scratch"),
        cfg=PolicyConfig(batch_size=8, steps=1, use_lora=use_lora),
    )
    ids = load_tokenizer(starter_path)(SEQUENCE, return_tensors="pt")["input_ids"]
    rho = _token_log_probs(load_policy(starter_path, dtype=torch.float32), ids)
    pi = _token_log_probs(load_policy(pi_path, dtype=torch.float32), ids)
    assert (rho - pi).abs().max() > 0.1  # the fixture really moved π away from ρ

    reference = _token_log_probs(built.trainer.ref_model, ids)
    assert torch.allclose(reference, rho, atol=1e-5), (reference - rho).abs().max()
    # The trained model starts from π (fresh LoRA adapters change nothing before training).
    trained = _token_log_probs(built.trainer.model, ids)
    assert torch.allclose(trained, pi, atol=1e-5), (trained - pi).abs().max()
