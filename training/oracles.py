"""Simulated labelers: deterministic scores over text, noisy best-of-four choices.

They stand in for people in tests and benchmarks, like the paper's "mock sentiment" task: a
fixed function we can query for ground truth, so progress of reward and policy is measurable.
Choices go through a softmax with a temperature because real labelers disagree often (the paper
measured 38-46% labeler-labeler agreement on four-way choices).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Callable

_WORD = re.compile(r"[A-Za-z']+")

# Chosen for the starter's domain (technical prose): words that occur there with a clear tone.
POSITIVE = frozenset(
    """
good better best great useful simple simply easy easily safe safely true valid correct correctly
success successful successfully efficient efficiently fast faster clear clearly new support supports
supported allow allows allowed enable enables enabled improve improved help helps helpful reliable
possible properly ready nice convenient powerful flexible complete consistent always
""".split()
)
NEGATIVE = frozenset(
    """
error errors fail fails failed failure invalid wrong bad deprecated never not cannot can't
unsafe slow slower exception exceptions raise raises raised broken problem problems unable
impossible missing ignored ignore incorrect illegal unknown lost undefined warning warnings
abort aborted crash
""".split()
)


def sentiment_score(text: str) -> float:
    """Positive minus negative lexicon words; unbounded integer-valued, 0 for neutral text."""
    words = [w.lower() for w in _WORD.findall(text)]
    return float(sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words))


def length_score(text: str) -> float:
    """Words in the completion, capped at 20: a stand-in for a preference for fuller sentences."""
    return float(min(len(_WORD.findall(text)), 20))


@dataclass(frozen=True)
class Oracle:
    name: str
    scorer: Callable[[str], float]
    temperature: float  # in score units; lower = choices closer to the argmax

    def score(self, text: str) -> float:
        return self.scorer(text)

    def choice_probs(self, completions: list[str]) -> list[float]:
        scores = [self.score(c) / self.temperature for c in completions]
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total = sum(weights)
        return [w / total for w in weights]

    def choose(self, prompt: str, completions: list[str], rng: random.Random) -> int:
        """Index of the preferred completion, drawn from the softmax over scores."""
        probs = self.choice_probs(completions)
        u, acc = rng.random(), 0.0
        for i, p in enumerate(probs):
            acc += p
            if u < acc:
                return i
        return len(probs) - 1


ORACLES: dict[str, Oracle] = {
    "sentiment": Oracle("sentiment", sentiment_score, temperature=0.5),
    "length": Oracle("length", length_score, temperature=1.5),
}


def get_oracle(name: str, temperature: float | None = None) -> Oracle:
    try:
        oracle = ORACLES[name]
    except KeyError:
        raise ValueError(f"unknown oracle {name!r}; known: {sorted(ORACLES)}") from None
    if temperature is not None:
        oracle = Oracle(oracle.name, oracle.scorer, temperature)
    return oracle
