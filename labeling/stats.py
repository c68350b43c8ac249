"""Agreement and bias statistics on plain counts (no Django, no numpy): Fleiss' κ with chance
agreement, pairwise agreement, the chi-square test for position bias, entropy."""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Agreement:
    items: int  # tasks with at least two judgments
    observed: float  # P̄: mean share of agreeing rater pairs per task
    chance: float  # P̄e: agreement expected if raters chose by the overall category shares
    kappa: float | None  # Fleiss' κ = (P̄ − P̄e) / (1 − P̄e); None when undefined


def fleiss(table: Iterable[Sequence[int]]) -> Agreement:
    """Fleiss' κ for a table of counts: one row per item, one column per category (how many
    raters put the item in that category). Items may have different numbers of raters (≥ 2);
    rows with fewer than two are ignored."""
    rows = [list(r) for r in table if sum(r) >= 2]
    if not rows:
        return Agreement(items=0, observed=0.0, chance=0.0, kappa=None)
    n_categories = len(rows[0])
    per_item = []
    totals = [0] * n_categories
    for row in rows:
        n = sum(row)
        per_item.append((sum(c * c for c in row) - n) / (n * (n - 1)))
        for j, c in enumerate(row):
            totals[j] += c
    grand = sum(totals)
    observed = sum(per_item) / len(per_item)
    chance = sum((t / grand) ** 2 for t in totals)
    kappa = None if chance >= 1.0 else (observed - chance) / (1.0 - chance)
    return Agreement(items=len(rows), observed=observed, chance=chance, kappa=kappa)


def chi_square_uniform(counts: Sequence[int]) -> tuple[float, float | None]:
    """Chi-square statistic of counts against equal shares, and its p-value.

    The p-value uses the closed form of the chi-square survival function for 3 degrees of
    freedom (four displayed positions); other sizes return None for p."""
    n = sum(counts)
    if n == 0:
        return 0.0, None
    expected = n / len(counts)
    stat = sum((c - expected) ** 2 / expected for c in counts)
    if len(counts) != 4:
        return stat, None
    # P(χ²₃ > x) = erfc(√(x/2)) + √(2x/π)·e^(−x/2)
    p = math.erfc(math.sqrt(stat / 2)) + math.sqrt(2 * stat / math.pi) * math.exp(-stat / 2)
    return stat, min(1.0, max(0.0, p))


def entropy(scores: Sequence[float]) -> float:
    """Entropy (nats) of the softmax over scores: ln 4 ≈ 1.386 when four scores are equal."""
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    return -sum((w / total) * math.log(w / total) for w in weights if w > 0)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a share (sound at small n and near 0 or 1); (0, 1) at n=0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float], z: float = 1.96) -> tuple[float, float, float] | None:
    """Mean of per-item values with a normal 95% interval over items, clipped to [0, 1]."""
    if not values:
        return None
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0, 1.0
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = z * sd / math.sqrt(n)
    return mean, max(0.0, mean - half), min(1.0, mean + half)
