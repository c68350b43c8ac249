import random

import pytest

from labeling.diversity import diversity

TOPICS = "file list value error thread socket buffer table index cache parser token".split()
VERBS = "returns holds reads writes keeps opens closes sorts checks finds".split()


def _varied(rng, n):
    return [
        f" The {rng.choice(TOPICS)} {rng.choice(VERBS)} the {rng.choice(TOPICS)} {rng.choice(['now', 'first', 'once', 'here'])}."
        for _ in range(n)
    ]


def test_a_policy_that_repeats_one_phrase_is_flagged():
    rng = random.Random(0)
    base = _varied(rng, 200)
    stock = " a list of strings."
    # A quarter of the tuned policy's answers have the stock phrase tacked on.
    tuned = [a[:-1] + "," + stock if i % 4 == 0 else a for i, a in enumerate(base)]
    before, after = diversity(base), diversity(tuned)
    assert before.flags == []
    assert after.top_phrases[0] == ("a list of strings", pytest.approx(0.25))
    assert after.top_ending == ("… list of strings", pytest.approx(0.25))
    assert any("a list of strings" in f and "25%" in f for f in after.flags)
    assert len(after.flags) == 2
    assert after.distinct[3] < before.distinct[3]


def test_distinct_n_on_hand_counted_answers():
    d = diversity([" a b a b", " a b c"])
    # unigrams a b a b a b c: 3 distinct of 7; bigrams ab ba ab ab bc: 3 of 5; trigrams aba bab abc: 3 of 3
    assert d.distinct == {1: pytest.approx(3 / 7), 2: pytest.approx(3 / 5), 3: 1.0}
    assert diversity([]).answers == 0 and diversity([]).flags == []
