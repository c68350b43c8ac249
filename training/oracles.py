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


_FENCE = re.compile(r"^```", re.M)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S", re.M)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_DOTTED = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+\b")
_ABOUT = re.compile(r"\b(?:the|in|from|about|of)\s+(?:the\s+)?([A-Za-z_][A-Za-z0-9_.]*)", re.I)
_STOPWORDS = frozenset("a an the this that it module function python".split())


def asked_names(prompt) -> list[str]:
    """Names the last user turn asks about: `backticked` names, dotted names such as os.path,
    else words after "the/in/from/about" ("the glob module" -> glob)."""
    if isinstance(prompt, list):
        users = [m["content"] for m in prompt if m.get("role") == "user"]
        text = users[-1] if users else ""
    else:
        text = str(prompt)
    names = [n.strip("`") for n in _INLINE_CODE.findall(text)] + _DOTTED.findall(text)
    if not names:
        names = [w for w in _ABOUT.findall(text) if w.lower() not in _STOPWORDS]
    return list(dict.fromkeys(n for n in names if n))


def markdown_score(text: str) -> float:
    """+1 for inline code, +1 for a list or a fenced code block, -2 when a code fence or an
    inline backtick is left open (the page would render the rest of the answer as code)."""
    fences = len(_FENCE.findall(text))
    outside = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    score = 0.0
    if _INLINE_CODE.search(outside):
        score += 1.0
    if _LIST_ITEM.search(outside) or fences >= 2:
        score += 1.0
    if fences % 2 or outside.count("`") % 2:
        score -= 2.0
    return score


def moderate_length_score(text: str) -> float:
    """1 for 15 to 60 words, falling by 1 per 15 words outside that band (floor -2)."""
    n = len(text.split())
    if 15 <= n <= 60:
        return 1.0
    gap = 15 - n if n < 15 else n - 60
    return max(-2.0, 1.0 - gap / 15)


def chat_score(prompt, text: str) -> float:
    """The chat labeler's compound preference: well-formed Markdown (markdown_score), +1.5 when
    the answer mentions what was asked about (the last part of a dotted name counts), and a
    moderate length (moderate_length_score). Between -4 and 4.5."""
    names = asked_names(prompt)
    lowered = text.lower()
    mentions = any(n.lower() in lowered or n.split(".")[-1].lower() in lowered for n in names)
    return markdown_score(text) + (1.5 if mentions else 0.0) + moderate_length_score(text)


@dataclass(frozen=True)
class Oracle:
    name: str
    scorer: Callable[[str], float]
    temperature: float  # in score units; lower = choices closer to the argmax
    # Labelers that judge an answer against its question take the prompt too; None = text only.
    prompt_scorer: Callable[[object, str], float] | None = None

    def score(self, text: str, prompt=None) -> float:
        if self.prompt_scorer is not None and prompt is not None:
            return self.prompt_scorer(prompt, text)
        return self.scorer(text)

    def choice_probs(self, completions: list[str], prompt=None) -> list[float]:
        scores = [self.score(c, prompt) / self.temperature for c in completions]
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total = sum(weights)
        return [w / total for w in weights]

    def choose(self, prompt: str, completions: list[str], rng: random.Random) -> int:
        """Index of the preferred completion, drawn from the softmax over scores."""
        probs = self.choice_probs(completions, prompt)
        u, acc = rng.random(), 0.0
        for i, p in enumerate(probs):
            acc += p
            if u < acc:
                return i
        return len(probs) - 1


ORACLES: dict[str, Oracle] = {
    "sentiment": Oracle("sentiment", sentiment_score, temperature=0.5),
    "length": Oracle("length", length_score, temperature=1.5),
    # For chat projects: prefers answers in well-formed Markdown that name what was asked about
    # and run 15-60 words; see chat_score. `score(text)` without a prompt drops the name part.
    "chat": Oracle("chat", lambda t: chat_score("", t), temperature=0.75, prompt_scorer=chat_score),
}


def get_oracle(name: str, temperature: float | None = None) -> Oracle:
    try:
        oracle = ORACLES[name]
    except KeyError:
        raise ValueError(f"unknown oracle {name!r}; known: {sorted(ORACLES)}") from None
    if temperature is not None:
        oracle = Oracle(oracle.name, oracle.scorer, temperature, oracle.prompt_scorer)
    return oracle


# --- labelers as noisy as people ---
#
# The paper's labelers agreed with each other on 38-46% of four-way choices. A simulated labeler
# is only a fair stand-in when its two independent draws on the same task agree about as often;
# a cleaner one makes every benchmark an easy case. These functions measure that agreement and
# set the softmax temperature that reaches it.

HUMAN_AGREEMENT = (0.38, 0.46)  # four-way labeler-labeler agreement the paper reports


def two_draw_agreement(oracle: Oracle, tasks: list[list[str]]) -> float:
    """Probability that two independent choices by `oracle` on the same four answers agree,
    averaged over `tasks` (each a list of completions): mean of sum_j p_j^2. Exact, not sampled."""
    if not tasks:
        raise ValueError("no tasks to measure agreement on")
    return sum(sum(p * p for p in oracle.choice_probs(list(t))) for t in tasks) / len(tasks)


def calibrated(oracle: Oracle, tasks: list[list[str]], target: float = 0.42) -> Oracle:
    """`oracle` with the temperature at which its two-draw agreement on `tasks` equals `target`.

    Agreement falls as the temperature rises (from the tie-broken argmax towards 1/k), so a
    bisection on log temperature finds it. Raises ValueError when no temperature can reach the
    target (e.g. every task's answers score the same, so agreement is always 1/k)."""
    k = len(tasks[0]) if tasks else 0
    if not tasks or not 1.0 / k < target < 1.0:
        raise ValueError(f"target agreement must lie between 1/{k} and 1, got {target}")
    lo, hi = 1e-3, 1e3  # temperatures in score units
    if two_draw_agreement(Oracle(oracle.name, oracle.scorer, lo), tasks) < target:
        raise ValueError(f"{oracle.name!r} cannot agree with itself {target:.0%} of the time on these tasks")
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if two_draw_agreement(Oracle(oracle.name, oracle.scorer, mid), tasks) > target:
            lo = mid
        else:
            hi = mid
    return Oracle(oracle.name, oracle.scorer, math.sqrt(lo * hi))


def compound_score(text: str) -> float:
    """A preference with several parts, so that no single dial wins: fuller sentences up to about
    16 words (longer ones lose), a positive tone (capped), a complete sentence, and no repeated
    words (a stock phrase tacked on repeats words and costs points)."""
    words = [w.lower() for w in _WORD.findall(text)]
    n = len(words)
    fullness = min(n, 16) / 4.0 - max(0, n - 16) / 2.0
    tone = max(-3.0, min(3.0, sentiment_score(text)))
    complete = 1.0 if text.rstrip().endswith(".") and n >= 4 else 0.0
    long_words = [w for w in words if len(w) > 3]
    repeats = len(long_words) - len(set(long_words))
    return fullness + tone + complete - repeats


# Temperature calibrated on ρ's tasks (the starter, 200 demo prompts x 4 at temperature 0.7) to
# two-draw agreement 0.42 (`python -m bench.labelers`: 1.15), the middle of the paper's range;
# benchmarks re-measure it on their own ρ tasks and report it.
ORACLES["compound"] = Oracle("compound", compound_score, temperature=1.15)
