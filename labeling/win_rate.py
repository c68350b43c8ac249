"""The human win rate of an evaluation round and its 95% confidence interval (no Django, no
numpy), and the reward model's predicted win rate on the same four answers.

The statistic. Each evaluation task shows one prompt's four answers, two sampled from the
candidate policy and two from the baseline. A decision is a *win* when the chosen answer is one
of the candidate's. An annotator with no preference between the versions picks a candidate answer
with probability 2/4, so indifference reads 50%, and "people prefer the candidate" reads above
it. A prompt's score is the share of its decisions that are wins; the win rate is the mean of the
prompts' scores, so a prompt counts once however many annotators judged it.

The interval. With exactly one decision per prompt, the outcomes are independent Bernoulli draws
(prompts drawn at random from the split, one judgment each), the number of wins is binomial, and
the Wilson score interval is used: its coverage stays close to 95% even for few prompts or rates
near 0 or 1, where the percentile bootstrap collapses (ten wins of ten gives [1, 1]). With several
decisions on some prompts, the judgments of one prompt are correlated (same answers), so the
interval comes from a percentile bootstrap that resamples whole prompts, seeded so that a page
shows the same interval every time it is drawn.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class WinRate:
    prompts: int  # prompts with at least one decision
    decisions: int
    rate: float | None  # mean over prompts of their share of wins; None without decisions
    low: float | None
    high: float | None
    method: str  # "wilson" | "bootstrap" | "none"


def wilson(wins: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``wins`` successes in ``n`` Bernoulli trials (n ≥ 1)."""
    if n < 1 or not 0 <= wins <= n:
        raise ValueError(f"need 0 <= wins <= n and n >= 1, got wins={wins}, n={n}")
    p = wins / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean(
    values: Sequence[float], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampled with replacement)."""
    if not values:
        raise ValueError("bootstrap of no values")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    low = means[int(math.floor(tail * resamples))]
    high = means[min(resamples - 1, int(math.ceil((1 - tail) * resamples)) - 1)]
    return low, high


def win_rate(per_prompt: Sequence[Sequence[bool]], *, seed: int = 0) -> WinRate:
    """The win rate and its 95% interval from each prompt's decisions (True: the chosen answer
    was the candidate's). Prompts without decisions are ignored."""
    judged = [list(outcomes) for outcomes in per_prompt if len(outcomes)]
    decisions = sum(len(o) for o in judged)
    if not judged:
        return WinRate(prompts=0, decisions=0, rate=None, low=None, high=None, method="none")
    scores = [sum(o) / len(o) for o in judged]
    rate = sum(scores) / len(scores)
    if decisions == len(judged):
        low, high = wilson(sum(int(o[0]) for o in judged), len(judged))
        method = "wilson"
    else:
        low, high = bootstrap_mean(scores, seed=seed)
        method = "bootstrap"
    return WinRate(prompts=len(judged), decisions=decisions, rate=rate, low=low, high=high, method=method)


def candidate_share(scores: Sequence[float], candidate_positions: Sequence[int]) -> float:
    """The reward model's probability that the best of four is one of the candidate's answers:
    the softmax over the four raw scores (the distribution the four-way loss trained), summed
    over the candidate's positions. 0.5 when all four scores are equal."""
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    return sum(weights[p] for p in candidate_positions) / sum(weights)
