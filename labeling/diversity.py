"""Diversity of a policy's sampled answers: how early over-optimization shows itself.

A tuned policy can learn that one stock phrase pleases the reward model and tack it onto many
answers long before labelers notice. These figures, computed from a version's samples, make
that visible: distinct-n (distinct word n-grams over all n-grams; falls as answers repeat each
other), the phrases found in the most answers, and the share of answers that end alike.

Pure Python (no torch, no Django) like labeling/stats.py, so the web process computes it for the
dashboard without importing training/.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[\w']+")

PHRASE_WORDS = 4  # a "phrase" is a run of this many words
ENDING_WORDS = 3  # answers "share an ending" when their last this-many words match
# Shares of answers above which a version is flagged: far beyond what independent samples of
# varied prompts repeat (the starter's ρ stays under 5% on the demo prompts).
PHRASE_FLAG_SHARE = 0.15
ENDING_FLAG_SHARE = 0.15


@dataclass(frozen=True)
class Diversity:
    answers: int
    distinct: dict[int, float]  # n -> distinct n-grams / all n-grams (1.0 = no repetition)
    top_phrases: list[tuple[str, float]]  # phrase, share of answers containing it
    top_ending: tuple[str, float] | None  # most shared ending and the share of answers with it
    flags: list[str] = field(default_factory=list)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _TOKEN.findall(text)]


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def diversity(answers: list[str], *, top: int = 5) -> Diversity:
    """Diversity figures of `answers` (one policy version's samples); empty answers count as
    answers with no n-grams. Flags name a phrase or an ending shared by too many answers."""
    tokenized = [_words(a) for a in answers]
    distinct = {}
    for n in (1, 2, 3):
        grams = [g for words in tokenized for g in _ngrams(words, n)]
        distinct[n] = len(set(grams)) / len(grams) if grams else 1.0
    phrases = Counter(g for words in tokenized for g in set(_ngrams(words, PHRASE_WORDS)))
    endings = Counter(tuple(w[-ENDING_WORDS:]) for w in tokenized if len(w) >= ENDING_WORDS)
    total = len(answers) or 1
    top_phrases = [(" ".join(g), c / total) for g, c in phrases.most_common(top) if c >= 2]
    top_ending = None
    if endings:
        ending, count = endings.most_common(1)[0]
        if count >= 2:
            top_ending = ("… " + " ".join(ending), count / total)
    flags = []
    if top_phrases and top_phrases[0][1] >= PHRASE_FLAG_SHARE:
        flags.append(f"“{top_phrases[0][0]}” appears in {top_phrases[0][1]:.0%} of answers")
    if top_ending and top_ending[1] >= ENDING_FLAG_SHARE:
        flags.append(f"{top_ending[1]:.0%} of answers end with “{top_ending[0]}”")
    return Diversity(answers=len(answers), distinct=distinct, top_phrases=top_phrases, top_ending=top_ending,
                     flags=flags)
