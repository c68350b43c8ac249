import math

import pytest
import torch

from training.data import FourWayChoice, data_hash, read_choices, validate_choices, write_choices
from training.reward import four_way_loss


def test_four_way_loss_matches_hand_computed_cross_entropy():
    scores = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    best = torch.tensor([3, 1])
    # Row 0: -log(e^4 / (e^1+e^2+e^3+e^4)); row 1: four equal scores, so -log(1/4).
    row0 = math.log(math.e + math.e**2 + math.e**3 + math.e**4) - 4.0
    row1 = math.log(4.0)
    assert row0 == pytest.approx(0.4401897, abs=1e-6)
    assert four_way_loss(scores, best).item() == pytest.approx((row0 + row1) / 2, abs=1e-6)


def test_four_way_loss_rejects_other_than_four_scores():
    with pytest.raises(ValueError):
        four_way_loss(torch.zeros(2, 3), torch.tensor([0, 1]))


def test_gradients_reach_every_reward_model_parameter(starter_path):
    from training.models import load_reward_backbone, load_tokenizer
    from training.reward import _score_choices

    tok = load_tokenizer(starter_path)
    model = load_reward_backbone(starter_path, pad_token_id=tok.pad_token_id)
    model.train()
    choices = [
        FourWayChoice("The value", [" is.", " is returned.", " of the object is a string.", ""], 2),
        FourWayChoice(
            "If the", [" file.", " name is given.", " a", " argument is None, return."], 0
        ),
    ]
    loss = four_way_loss(_score_choices(model, tok, choices, 64), torch.tensor([2, 0]))
    loss.backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)
    ]
    assert missing == []


@pytest.mark.parametrize(
    "completions,best",
    [
        ([" a", " b", " c"], 0),
        ([" a"] * 5, 0),
        ([" a"] * 4, 4),
        ([" a"] * 4, -1),
        ([" a"] * 4, True),
        ([" a"] * 4, "1"),
    ],
)
def test_choice_validation(completions, best):
    with pytest.raises(ValueError):
        FourWayChoice("p", completions, best)


def test_empty_dataset_and_bad_rows_raise():
    with pytest.raises(ValueError, match="empty"):
        validate_choices([])
    with pytest.raises(ValueError):
        validate_choices([{"prompt": "p", "completions": ["a"] * 4}])


def test_jsonl_roundtrip_and_hash(tmp_path):
    choices = [
        FourWayChoice("p", ["a", "b", "c", "d"], 1),
        FourWayChoice("q", ["e", "f", "g", "h"], 3),
    ]
    path = tmp_path / "c.jsonl"
    write_choices(path, choices)
    assert read_choices(path) == choices
    assert data_hash(read_choices(path)) == data_hash(choices)
    assert data_hash(choices[::-1]) != data_hash(choices)
    assert len(data_hash(choices)) == 64
