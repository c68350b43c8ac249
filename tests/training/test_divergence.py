"""The benchmark's KL is the policy round's KL: same temperature on both sides, same sum."""

import pytest
import torch

from training.config import SampleConfig
from training.divergence import completion_logprobs, kl_estimate
from training.models import load_policy, load_tokenizer
from training.sampling import prompt_text, sample_with_model

T = 0.7


@pytest.fixture(scope="module")
def models(starter_path, tmp_path_factory):
    """ρ = the starter; π = the starter with its weights nudged, saved, so the KL is not zero."""
    tok = load_tokenizer(starter_path)
    rho = load_policy(starter_path, dtype=torch.float32)
    pi = load_policy(starter_path, dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in pi.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
    pi_path = tmp_path_factory.mktemp("pi") / "pi"
    pi.save_pretrained(pi_path)
    tok.save_pretrained(pi_path)
    return tok, pi, rho, str(pi_path)


def _trainer_kl(starter_path, pi_path, tok, prompts, completions) -> list[float]:
    """The per-completion KL as RLOOTrainer computes it: its own log-prob routine (logits over
    its temperature) for π and for the reference it builds from ρ, summed over completion tokens."""
    from datasets import Dataset
    from trl import RLOOConfig, RLOOTrainer

    model = load_policy(pi_path, dtype=torch.float32)
    model.config.name_or_path = starter_path  # as build_policy_trainer does: the reference is ρ
    args = RLOOConfig(
        output_dir=str(pi_path) + "-scratch", per_device_train_batch_size=4, num_generations=4,
        temperature=T, beta=0.1, max_steps=1, report_to="none", use_cpu=True, save_strategy="no",
    )
    trainer = RLOOTrainer(
        model=model, reward_funcs=lambda completions, **_: [0.0] * len(completions), args=args,
        train_dataset=Dataset.from_dict({"prompt": prompts}), processing_class=tok,
    )
    out = []
    for prompt, completion in zip(prompts, completions):
        context = tok(prompt_text(tok, prompt), add_special_tokens=True).input_ids
        target = tok(completion, add_special_tokens=False).input_ids
        ids = torch.tensor([context + target])
        mask = torch.ones_like(ids)
        with torch.no_grad():
            pi_lp, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, len(target))
            ref_lp, _, _ = trainer._get_per_token_logps_and_entropies(trainer.ref_model, ids, mask, len(target))
        out.append(float((pi_lp - ref_lp).sum()))
    return out


def test_bench_kl_equals_the_trainers_definition_on_the_same_samples(models, starter_path, demo_prompts):
    tok, pi, rho, pi_path = models
    prompts = demo_prompts[:8]
    rows = sample_with_model(pi, tok, prompts, SampleConfig(temperature=T, n_completions=1, seed=3))
    completions = [r[0].text for r in rows]
    ours = kl_estimate(pi, rho, tok, prompts, completions, temperature=T)
    theirs = _trainer_kl(starter_path, pi_path, tok, prompts, completions)
    # Equal up to float rounding: TRL's fused head and its forward pass take other kernels, and
    # on an AVX-512 machine single answers differed by up to 0.13 nats (of 4-45; both signs), the
    # mean of 8 by 5e-4 relative (1e-4 held where this was written). Scoring at temperature 1
    # instead, the mistake this test exists for, is off by ~40%.
    assert ours == pytest.approx(sum(theirs) / len(theirs), rel=2e-3)
    assert abs(ours) > 0.05  # the nudge is visible: the comparison is not 0 == 0
    # Scoring at temperature 1 (the old benchmark's mix) gives a different number.
    mixed = kl_estimate(pi, rho, tok, prompts, completions, temperature=1.0)
    assert abs(mixed - ours) > 1e-3


def test_logprobs_at_a_temperature_match_sampling_scores(models, demo_prompts):
    tok, pi, _, _ = models
    prompts = demo_prompts[:6]
    rows = sample_with_model(pi, tok, prompts, SampleConfig(temperature=T, n_completions=1, seed=5, stop=None))
    # Without a stop string nor EOS cut, the sampler's own log-prob (warped at T) is the same sum.
    kept = [(p, r[0]) for p, r in zip(prompts, rows) if r[0].n_tokens == len(tok(r[0].text).input_ids)]
    assert kept
    ours = completion_logprobs(pi, tok, [p for p, _ in kept], [s.text for _, s in kept], temperature=T)
    for value, (_, sample) in zip(ours, kept):
        assert value == pytest.approx(sample.logprob, abs=1e-3)


def test_chat_prompts_are_scored_through_the_chat_template():
    """A chat project's KL scores the answer after the chat template's tokens, as sampling fed
    them: the sampler's own log-prob at T of an answer that ran to the token cap (no end of turn
    to leave out) is the same sum."""
    from pathlib import Path

    chat_starter = Path(__file__).resolve().parents[2] / "training" / "chat_starter"
    if not (chat_starter / "model.safetensors").is_file():
        pytest.skip("training/chat_starter is missing")
    from training.build_chat import chat_demo_prompts

    tok = load_tokenizer(str(chat_starter))
    model = load_policy(str(chat_starter), dtype=torch.float32)
    prompts = chat_demo_prompts(seed=0, n=8)
    rows = sample_with_model(model, tok, prompts, SampleConfig(temperature=T, n_completions=1, seed=5,
                                                               max_new_tokens=12, stop=None))
    kept = [(p, r[0]) for p, r in zip(prompts, rows)
            if r[0].n_tokens == 12 == len(tok(r[0].text, add_special_tokens=False).input_ids)]
    assert kept
    ours = completion_logprobs(model, tok, [p for p, _ in kept], [s.text for _, s in kept], temperature=T)
    for value, (_, sample) in zip(ours, kept):
        assert value == pytest.approx(sample.logprob, abs=1e-3)
    # The same answers after the conversation as raw text (no template) score differently.
    raw = completion_logprobs(model, tok, [p[-1]["content"] for p, _ in kept], [s.text for _, s in kept],
                              temperature=T)
    assert max(abs(a - b) for a, b in zip(raw, ours)) > 0.1
