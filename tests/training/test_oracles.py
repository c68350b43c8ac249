import random

from training.oracles import ORACLES, get_oracle


def test_registry_has_two_oracles():
    assert {"sentiment", "length"} <= set(ORACLES)


def test_sentiment_lexicon_scores():
    o = get_oracle("sentiment")
    assert o.score("This is a simple and useful way.") == 2.0
    assert o.score("An invalid value raises an error.") == -3.0
    assert o.score("The object.") == 0.0


def test_length_prefers_more_words_up_to_a_cap():
    o = get_oracle("length")
    assert o.score(" is.") < o.score(" is a short sentence.")
    assert o.score(" word" * 50) == 20.0


def test_choices_are_deterministic_given_seed_and_noisy():
    o = get_oracle("length")
    comps = [" a.", " a b c.", " a b c d e.", " a b."]
    picks = [o.choose("p", comps, random.Random(s)) for s in range(200)]
    assert picks == [o.choose("p", comps, random.Random(s)) for s in range(200)]
    # Mostly the longest, but not always: labelers are noisy.
    assert picks.count(2) > 100 and len(set(picks)) > 1
    sharp = get_oracle("length", temperature=0.01)
    assert all(sharp.choose("p", comps, random.Random(s)) == 2 for s in range(50))
