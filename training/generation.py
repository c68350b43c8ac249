"""Which engine generates text: vLLM where it is installed and a CUDA device is present (sampling
rounds, and TRL's `use_vllm` generation in policy rounds), else transformers' `generate`.

vLLM runs on GPUs only and is not a dependency of the project; it is imported only when it was
chosen. Either engine returns the same `Sample` rows, so the tasks a sampling round writes have
the same format whichever produced them.
"""

from __future__ import annotations

import importlib.util

from training.config import GENERATION_BACKENDS, SampleConfig
from training.progress import Progress

BACKENDS = GENERATION_BACKENDS  # defined beside the settings check that refuses other names


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def cuda_available() -> bool:
    import torch  # only asked once vLLM is installed: the answer needs torch

    return torch.cuda.is_available()


def pick_generation_backend(
    preference: str = "auto",
    *,
    installed: bool | None = None,
    cuda: bool | None = None,
) -> str:
    """"vllm" or "transformers".

    preference: "auto" (vLLM where usable), "transformers" (never vLLM), or "vllm" (required:
    a ValueError says why it cannot be used). `installed`/`cuda` override the checks for callers
    that already know (and for tests).
    """
    if preference not in BACKENDS:
        raise ValueError(
            f"generation backend must be one of {', '.join(BACKENDS)}, got {preference!r}"
        )
    if preference == "transformers":
        return "transformers"
    installed = vllm_installed() if installed is None else installed
    if cuda is None:
        cuda = installed and cuda_available()
    if installed and cuda:
        return "vllm"
    if preference == "vllm":
        why = "vllm is not installed" if not installed else "no CUDA device is present"
        raise ValueError(f"generation backend 'vllm' was asked for, but {why}")
    return "transformers"


def vllm_sampling_params(cfg: SampleConfig) -> dict:
    """SamplingParams keyword arguments equivalent to `SampleConfig` under generate: the same
    temperature, nucleus, length cap and stop string (kept in the text, as generate keeps it),
    and the summed log-probability of the sampled tokens."""
    return {
        "n": cfg.n_completions,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "top_k": -1,  # no top-k cut, as generate(top_k=0)
        "max_tokens": cfg.max_new_tokens,
        "stop": [cfg.stop] if cfg.stop else None,
        "include_stop_str_in_output": True,
        "logprobs": 0,  # the sampled token's log-probability only
        "seed": cfg.seed,
    }


def sample_with_vllm(
    policy_path: str, prompts: list[str], cfg: SampleConfig, progress: Progress | None = None
):
    """Sample with vLLM (bf16 on the GPU); returns `training.sampling.Sample` rows like
    `sample_completions`. Precondition: `pick_generation_backend` chose "vllm"."""
    from vllm import LLM, SamplingParams  # optional, GPU-only dependency

    from training.models import load_tokenizer
    from training.sampling import Sample, prompt_text

    if not prompts:
        return []
    tok = load_tokenizer(policy_path)
    # processed_logprobs: log-probabilities of the warped distribution tokens were drawn from,
    # as `sample_with_model` records them.
    llm = LLM(
        model=policy_path, dtype="bfloat16", seed=cfg.seed, logprobs_mode="processed_logprobs"
    )
    params = SamplingParams(**vllm_sampling_params(cfg))
    outputs = llm.generate([prompt_text(tok, p) for p in prompts], params)
    rows = [
        [
            Sample(
                text=c.text, n_tokens=len(c.token_ids), logprob=float(c.cumulative_logprob or 0.0)
            )
            for c in out.outputs
        ]
        for out in outputs
    ]
    if progress is not None:
        progress(len(prompts), len(prompts), {})
    return rows
