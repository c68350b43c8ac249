"""KL(π‖ρ) on sampled completions, defined exactly as a policy round logs it.

TRL's RLOOTrainer (the policy round) scores each sampled completion under both models with the
logits divided by the sampling temperature, and penalizes the sequence by the summed log-ratio of
the completion's tokens; `KLControlCallback` logs its mean per completion. Estimating the KL of a
tuned policy anywhere else (a benchmark, an evaluation) must use the same definition: sample from
π at temperature T and score both π and ρ at the same T. Scoring at temperature 1 samples drawn
at 0.7 mixes two distributions and is not a KL.
"""

from __future__ import annotations

import torch

from training.sampling import prompt_text
from training.templates import chat_prompt_ids


@torch.no_grad()
def completion_logprobs(model, tok, prompts: list[str], completions: list[str], temperature: float) -> list[float]:
    """log p_T(completion | prompt) for each pair: the completion's tokens' log-probabilities,
    summed, under softmax(logits / temperature). An empty completion scores 0.

    Prompts are formatted as sampling formats them (a conversation through the tokenizer's chat
    template with its generation prompt); completions are tokenized on their own
    without special tokens (as the text that was sampled after the prompt).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    device = next(model.parameters()).device
    model.eval()
    limit = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None)
    out = []
    for prompt, completion in zip(prompts, completions):
        if isinstance(prompt, list):  # a conversation: the chat template's ids, as sampling feeds them
            context = torch.tensor([chat_prompt_ids(tok, prompt)], dtype=torch.long)
        else:
            context = tok(prompt_text(tok, prompt), return_tensors="pt", add_special_tokens=True).input_ids
        target = tok(completion, return_tensors="pt", add_special_tokens=False).input_ids
        n = target.shape[1]
        if n == 0:
            out.append(0.0)
            continue
        ids = torch.cat([context, target], dim=1)
        if limit:
            ids = ids[:, -limit:]
        ids = ids.to(device)
        logits = model(ids, attention_mask=torch.ones_like(ids)).logits[0, -n - 1 : -1].float() / temperature
        logps = torch.log_softmax(logits, dim=-1).gather(1, ids[0, -n:].unsqueeze(1))
        out.append(float(logps.sum()))
    return out


def kl_per_completion(
    policy, reference, tok, prompts: list[str], completions: list[str], temperature: float
) -> list[float]:
    """log π_T(y|x) − log ρ_T(y|x) per completion, for completions sampled from π at T: the
    sequence-level quantity the policy round subtracts as β·KL (TRL RLOO's first-order estimate)."""
    pi = completion_logprobs(policy, tok, prompts, completions, temperature)
    rho = completion_logprobs(reference, tok, prompts, completions, temperature)
    return [a - b for a, b in zip(pi, rho)]


def kl_estimate(policy, reference, tok, prompts: list[str], completions: list[str], temperature: float) -> float:
    """Mean KL(π‖ρ) in nats per completion over samples from π: what a policy round logs as `kl`."""
    values = kl_per_completion(policy, reference, tok, prompts, completions, temperature)
    if not values:
        raise ValueError("no completions to estimate a KL on")
    return sum(values) / len(values)
