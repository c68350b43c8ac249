"""Conversation prompts in every round: sampling, reward model, policy round, SFT.

The templated model is the text starter given the chat starter's ChatML template and tokens
(untuned, so these tests do not depend on the chat starter's build); the committed chat starter
is checked separately. The text starter itself is the model without a template. Sizes are tiny
and seeds fixed.
"""

import json
import random
import statistics
from pathlib import Path

import pytest
import torch

from training.config import PolicyConfig, RewardConfig, SampleConfig, SupervisedConfig
from training.data import Demonstration, FourWayChoice, read_prompts
from training.models import load_policy, load_tokenizer, load_reward_backbone

REPO = Path(__file__).resolve().parents[2]
CHAT_STARTER = REPO / "training" / "chat_starter"
CHAT_PROMPTS = REPO / "training" / "data" / "chat_demo_prompts.jsonl"
CONV = [
    {"role": "system", "content": "Answer briefly, using Markdown."},
    {"role": "user", "content": "What does `json.dumps` do?"},
    {"role": "assistant", "content": "It serializes an object to a JSON string."},
    {"role": "user", "content": "And `json.loads`?"},
]


@pytest.fixture(scope="session")
def chat_path(tmp_path_factory, starter_path) -> str:
    """The text starter with ChatML: template, two special tokens, resized embeddings."""
    from training.build_chat import chat_tokenizer

    out = tmp_path_factory.mktemp("templated") / "model"
    tok = chat_tokenizer(starter_path)
    torch.manual_seed(0)
    model = load_policy(starter_path, dtype=torch.float32)
    model.resize_token_embeddings(len(tok))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def chat_starter() -> str:
    return str(CHAT_STARTER)  # committed; rebuilt by python -m training build-chat-starter


@pytest.fixture(scope="session")
def chat_prompts() -> list:
    return read_prompts(CHAT_PROMPTS)


def _template_ids(tok, messages, **kw) -> list[int]:
    return list(tok.apply_chat_template(messages, tokenize=True, **kw)["input_ids"])


def test_demo_prompts_are_held_out_conversations(chat_prompts):
    from training.instructions import build_instruction_set

    assert len(chat_prompts) >= 64
    assert any(p[0]["role"] == "system" for p in chat_prompts)
    assert any(sum(m["role"] == "user" for m in p) >= 2 for p in chat_prompts)
    train, _ = build_instruction_set(seed=0)
    trained_on = {json.dumps(p) for p, _ in train}
    assert not any(json.dumps(p) in trained_on for p in chat_prompts)


def test_chat_sampling_feeds_exactly_the_templates_tokens(chat_path, chat_prompts):
    from training.sampling import sample_with_model
    from training.templates import end_of_turn_ids

    tok, model = load_tokenizer(chat_path), load_policy(chat_path, dtype=torch.float32)
    seen = []
    generate = model.generate

    def spy(**kw):
        seen.append((kw["input_ids"].clone(), kw["attention_mask"].clone(), kw["eos_token_id"]))
        return generate(**kw)

    model.generate = spy
    prompts = [CONV, *chat_prompts[:2]]
    rows = sample_with_model(model, tok, prompts, SampleConfig(seed=0, max_new_tokens=96))
    ((ids, mask, eos),) = seen
    assert ids.shape[0] == len(prompts)  # generate expands each row to four samples itself
    for i, prompt in enumerate(prompts):
        fed = ids[i][mask[i].bool()].tolist()  # drop the left padding
        assert fed == _template_ids(tok, prompt, add_generation_prompt=True)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end in eos and im_end in end_of_turn_ids(tok)
    texts = [s.text for r in rows for s in r]
    assert not any("<|im_end|>" in t or "<|im_start|>" in t for t in texts)


def test_chat_starter_answers_in_turns_with_markdown(chat_starter, chat_prompts):
    """The committed chat starter answers in Markdown-shaped text with inline code and no turn
    markers. (Built with 43 SFT steps, it rarely closes its turn within 96 tokens yet.)"""
    from training.sampling import sample_completions

    rows = sample_completions(chat_starter, chat_prompts[:8], SampleConfig(seed=0, max_new_tokens=96))
    samples = [s for r in rows for s in r]
    texts = [s.text for s in samples]
    assert sum("`" in t for t in texts) >= 24, texts
    assert not any("<|im_" in t for t in texts)


def test_reward_model_scores_the_templated_conversation_and_answer(chat_path, monkeypatch):
    import training.reward as reward

    tok = load_tokenizer(chat_path)
    model = load_reward_backbone(chat_path, pad_token_id=tok.pad_token_id).eval()
    scored = []
    real = reward.score_ids
    monkeypatch.setattr(
        reward, "score_ids", lambda m, ids, pad: scored.append(ids) or real(m, ids, pad)
    )
    answer = "`json.loads` parses a JSON string.\n\n- Module: `json`"
    with torch.no_grad():
        reward.score_texts(model, tok, [CONV], [answer], 128)
        reward.score_texts(model, tok, [CONV], [answer], 16)
    full = _template_ids(tok, [*CONV, {"role": "assistant", "content": answer}])
    assert scored[0] == [full]
    assert full[-2:] == tok.convert_tokens_to_ids(["<|im_end|>"]) + tok("\n")["input_ids"]
    assert scored[1] == [full[-16:]]  # truncation keeps the end: the answer is what is judged


def test_conversation_without_a_chat_template_is_refused_before_work(
    starter_path, tmp_path, monkeypatch
):
    import training.policy as policy
    import training.sampling as sampling
    from training.sft import train_supervised

    monkeypatch.setattr(sampling, "load_policy", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(ValueError, match="has no chat template"):
        sampling.sample_completions(starter_path, [CONV], SampleConfig())
    with pytest.raises(ValueError, match=f"{starter_path!r} has no chat template"):
        policy.update_policy(
            policy_path=starter_path,
            reference_path=starter_path,
            reward_path=str(tmp_path / "unused"),
            prompts=[CONV] * 8,
            out_dir=str(tmp_path / "out"),
            cfg=PolicyConfig(batch_size=8),
        )
    with pytest.raises(ValueError, match="has no chat template"):
        train_supervised(
            [Demonstration(CONV, "An answer.")] * 4,
            policy_path=starter_path,
            out_dir=str(tmp_path / "sft"),
        )
    # Mixed kinds are refused too, naming the offending prompt.
    with pytest.raises(ValueError, match=r"prompts\[1\]"):
        sampling.sample_completions(starter_path, ["text", CONV], SampleConfig())
    assert not (tmp_path / "out").exists() and not (tmp_path / "sft").exists()


def test_sft_lowers_heldout_loss_on_unseen_demonstrations(starter_path, tmp_path):
    """The text starter given ChatML, tuned on demonstrations about some modules, answers
    questions about other modules better (lower answer-token loss)."""
    from training.build_chat import chat_tokenizer
    from training.instructions import build_instruction_set
    from training.sft import META_FILE, train_supervised

    train, held = build_instruction_set(seed=0)
    rng = random.Random(0)
    demos = [Demonstration(p, a) for p, a in rng.sample(train, 96)]
    heldout = [Demonstration(p, a) for p, a in held[:32]]
    tok = chat_tokenizer(starter_path)
    model = load_policy(starter_path, dtype=torch.float32)
    model.resize_token_embeddings(len(tok))
    seen = []
    res = train_supervised(
        demos,
        heldout=heldout,
        policy_path=starter_path,
        out_dir=str(tmp_path / "sft"),
        cfg=SupervisedConfig(lr=1e-3, epochs=2, batch_size=8, warmup_steps=2, seed=0),
        tokenizer=tok,
        model=model,
        progress=lambda step, total, m: seen.append((step, total, m["loss"])),
    )
    print("sft held-out loss", res.heldout_loss_before, res.heldout_loss_after)
    assert res.heldout_loss_after < res.heldout_loss_before - 0.5
    assert [s for s, _, _ in seen] == list(range(1, 25)) and seen[0][1] == 24
    assert statistics.fmean(x for *_, x in seen[-6:]) < statistics.fmean(x for *_, x in seen[:6])
    meta = json.loads((tmp_path / "sft" / META_FILE).read_text())
    assert meta["n_train"] == 96 and meta["heldout_loss_after"] == res.heldout_loss_after
    assert load_tokenizer(res.path).chat_template  # the tuned model keeps its template


def test_policy_round_on_chat_prompts_raises_reward(chat_path, chat_prompts, tmp_path):
    """Reward model on chat-labeler choices over chat starter answers, then an RLOO round on
    conversation prompts: the reward model's score of the policy's answers rises."""
    from training.oracles import get_oracle
    from training.policy import update_policy
    from training.reward import RewardScorer, train_reward_model
    from training.sampling import sample_completions

    prompts = chat_prompts[:48]
    sample = SampleConfig(seed=5, max_new_tokens=48)
    rows = sample_completions(chat_path, prompts, sample)
    oracle, rng = get_oracle("chat"), random.Random(0)
    choices = []
    for p, row in zip(prompts, rows):
        texts = [s.text for s in row]
        choices.append(FourWayChoice(p, texts, oracle.choose(p, texts, rng)))
    rm = train_reward_model(
        choices,
        policy_path=chat_path,
        reference_path=chat_path,
        out_dir=str(tmp_path / "rm"),
        cfg=RewardConfig(
            epochs=3, lr=1e-4, n_norm_samples=64, heldout_fraction=0.0, sample=sample
        ),
    )
    res = update_policy(
        policy_path=chat_path,
        reference_path=chat_path,
        reward_path=rm.path,
        prompts=chat_prompts,
        out_dir=str(tmp_path / "pi"),
        cfg=PolicyConfig(steps=10, batch_size=16, lr=1e-4, beta=0.02, max_new_tokens=48, seed=0),
    )
    rewards = [m["reward"] for m in res.metrics]
    print("chat policy rewards", rewards)
    assert len(rewards) == 10
    assert statistics.fmean(rewards[5:]) > statistics.fmean(rewards[:5]) + 0.2, rewards
    # The new policy still answers in turns: its samples end at <|im_end|> and carry no markers.
    scorer = RewardScorer(rm.path)
    fresh = chat_prompts[48:64]
    before = sample_completions(chat_path, fresh, sample)
    after = sample_completions(res.path, fresh, sample)
    flat = lambda rows: [s.text for r in rows for s in r]  # noqa: E731
    r_before = statistics.fmean(scorer([p for p in fresh for _ in range(4)], flat(before)))
    r_after = statistics.fmean(scorer([p for p in fresh for _ in range(4)], flat(after)))
    print("reward on fresh prompts before/after", r_before, r_after)
    assert r_after > r_before, (r_before, r_after)
    assert not any("<|im_" in t for t in flat(after))
