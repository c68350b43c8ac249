import random

import pytest

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


def test_two_draw_agreement_is_exact_and_calibration_reaches_the_target():
    from training.oracles import calibrated, two_draw_agreement

    o = get_oracle("length")
    tasks = [[" a.", " a b c.", " a b c d e.", " a b."], [" x y.", " x.", " x y z w v u.", " x y z."]]
    # Mean over tasks of sum p_j^2, checked against sampled pairs of choices.
    exact = two_draw_agreement(o, tasks)
    rng = random.Random(1)
    hits = sum(o.choose("p", t, rng) == o.choose("p", t, rng) for _ in range(4000) for t in tasks)
    assert abs(hits / 8000 - exact) < 0.02
    for target in (0.38, 0.42, 0.46):
        assert abs(two_draw_agreement(calibrated(o, tasks, target), tasks) - target) < 1e-6
    with pytest.raises(ValueError):
        calibrated(o, [[" a.", " b.", " c.", " d."]], 0.42)  # equal scores: always 1/4


def test_compound_preference_cannot_be_won_by_one_dial():
    from training.oracles import compound_score

    good = " This is a simple and useful way to keep the list of values safe."
    assert compound_score(good) > compound_score(" It is.")  # fuller
    longer = good[:-1] + " and the list of values of the list of values is a list of strings."
    assert compound_score(longer) < compound_score(good)  # longer, but repeats itself
    assert compound_score(" An invalid value raises an error in the list here.") < compound_score(good)  # tone
    assert compound_score(good[:-1]) < compound_score(good)  # a complete sentence
    assert get_oracle("compound").temperature == pytest.approx(1.15)
