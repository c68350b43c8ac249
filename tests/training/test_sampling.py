import torch

from training.config import SampleConfig
from training.sampling import sample_completions, truncate_at_stop


def test_four_completions_per_prompt_with_counts_and_logprobs(starter_path, demo_prompts):
    prompts = demo_prompts[:6] + [""]
    cfg = SampleConfig(seed=3, max_new_tokens=12, batch_size=4)
    rows = sample_completions(starter_path, prompts, cfg)
    assert len(rows) == len(prompts) and all(len(r) == 4 for r in rows)
    for row in rows:
        for s in row:
            assert 1 <= s.n_tokens <= 12
            assert s.logprob <= 0.0
            # Text ends at the first stop string, if any was produced.
            assert "." not in s.text[:-1]
    again = sample_completions(starter_path, prompts, cfg)
    assert [[s.text for s in r] for r in again] == [[s.text for s in r] for r in rows]


def test_no_stop_string_runs_to_max_tokens_or_eos(starter_path):
    rows = sample_completions(
        starter_path, ["The function"], SampleConfig(seed=0, stop=None, max_new_tokens=8)
    )
    assert all(s.n_tokens <= 8 for s in rows[0])
    assert any(s.n_tokens == 8 for s in rows[0])


def test_batched_sampling_matches_unbatched_when_nearly_greedy(starter_path, demo_prompts):
    # Left padding must not change what a row generates: compare batch of 8 with one at a time.
    prompts = demo_prompts[:8]
    cfg = dict(seed=0, temperature=1e-4, max_new_tokens=10, stop=None)
    batched = sample_completions(starter_path, prompts, SampleConfig(batch_size=8, **cfg))
    single = sample_completions(starter_path, prompts, SampleConfig(batch_size=1, **cfg))
    assert [r[0].text for r in batched] == [r[0].text for r in single]


def test_reward_score_read_at_last_real_token(starter_path):
    from training.models import load_reward_backbone, load_tokenizer
    from training.reward import score_texts

    tok = load_tokenizer(starter_path)
    model = load_reward_backbone(starter_path, pad_token_id=tok.pad_token_id).eval()
    prompts = ["The value", "If the argument is"]
    comps = [" is.", " None, the default encoding of the system is used."]
    with torch.no_grad():
        together = score_texts(model, tok, prompts, comps, 128)
        alone = [score_texts(model, tok, [p], [c], 128)[0] for p, c in zip(prompts, comps)]
    assert torch.allclose(together, torch.stack(alone), atol=1e-5)


def test_truncate_at_stop():
    assert truncate_at_stop(" is a value. And more.", ".") == " is a value."
    assert truncate_at_stop(" no stop", ".") == " no stop"
    assert truncate_at_stop(" keep. all", None) == " keep. all"
