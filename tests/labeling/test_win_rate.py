"""The evaluation statistic: win rate over the baseline, its 95% interval, and the reward
model's predicted win rate. Pure Python, no database."""

import math
import random

import pytest

from labeling.win_rate import bootstrap_mean, candidate_share, wilson, win_rate


def test_wilson_interval_matches_the_hand_computed_case():
    # 7 wins in 10, z = 1.96: centre (0.7 + 1.96²/20) / (1 + 1.96²/10) = 0.64449,
    # half-width 1.96/1.38415 · √(0.021 + 1.96²/400) = 0.24772.
    low, high = wilson(7, 10)
    assert low == pytest.approx(0.3968, abs=1e-4)
    assert high == pytest.approx(0.8922, abs=1e-4)
    # Ten wins of ten still leaves room below 1: [10/(10 + 1.96²), 1].
    assert wilson(10, 10) == pytest.approx((10 / (10 + 1.959963984540054**2), 1.0))


def test_one_decision_per_prompt_uses_wilson():
    result = win_rate([[True]] * 7 + [[False]] * 3)
    assert (result.prompts, result.decisions, result.method) == (10, 10, "wilson")
    assert result.rate == pytest.approx(0.7)
    assert (result.low, result.high) == pytest.approx((0.3968, 0.8922), abs=1e-4)


def test_bootstrap_over_prompts_matches_the_hand_computed_case():
    # Four prompts judged twice: three all wins, one all losses. Rate 0.75. A resample of four
    # prompts has k ~ Binomial(4, 3/4) winning prompts: P(k=0) = 1/256, P(k≤1) = 13/256 = 0.051,
    # P(k≤3) = 175/256 = 0.684; so the 2.5% quantile is k = 1 (0.25) and the 97.5% is k = 4 (1.0).
    result = win_rate([[True, True]] * 3 + [[False, False]], seed=3)
    assert (result.prompts, result.decisions, result.method) == (4, 8, "bootstrap")
    assert result.rate == pytest.approx(0.75)
    assert (result.low, result.high) == (0.25, 1.0)
    # Prompts count once each however many annotators judged them: 1/1 and 0/3 → 0.5.
    assert win_rate([[True], [False, False, False]]).rate == pytest.approx(0.5)


def test_bootstrap_is_seeded_and_collapses_on_identical_prompts():
    values = [0.5, 1.0, 0.0, 0.5, 1.0, 0.5]
    assert bootstrap_mean(values, seed=7) == bootstrap_mean(values, seed=7)
    assert bootstrap_mean([0.5] * 20, seed=1) == (0.5, 0.5)


def test_no_decisions_reads_none():
    result = win_rate([[], []])
    assert (result.prompts, result.rate, result.low, result.method) == (0, None, None, "none")


def test_reward_models_prediction_is_the_softmax_mass_on_the_candidates_answers():
    assert candidate_share([0.3, 0.3, 0.3, 0.3], [1, 2]) == pytest.approx(0.5)  # no preference
    # weights e^ln3 : 1 : 1 : 1 = 3:1:1:1 → candidate at 0 and 1 holds 4/6.
    assert candidate_share([math.log(3), 0.0, 0.0, 0.0], [0, 1]) == pytest.approx(4 / 6)
    assert candidate_share([math.log(3), 0.0, 0.0, 0.0], [2, 3]) == pytest.approx(2 / 6)


def _simulate_round(rng: random.Random, *, prompts: int, labels: int, truth: float, spread: float):
    """Annotators judge evaluation tasks: the candidate's two answers sit at random canonical
    positions, each annotator sees them in a random display order and picks a candidate answer
    with the prompt's own preference q (prompts vary around ``truth``), otherwise a baseline one.
    Returns the per-prompt outcomes the dashboard's statistic reads."""
    outcomes = []
    for _ in range(prompts):
        q = truth + rng.uniform(-spread, spread)
        candidate_positions = set(rng.sample(range(4), 2))
        decisions = []
        for _ in range(labels):
            shown = rng.sample(range(4), 4)  # display order: the chosen slot maps back through it
            wants_candidate = rng.random() < q
            slot = rng.choice([i for i, p in enumerate(shown) if (p in candidate_positions) == wants_candidate])
            decisions.append(shown[slot] in candidate_positions)
        outcomes.append(decisions)
    return outcomes


@pytest.mark.parametrize(
    ("truth", "spread", "labels"),
    [(0.7, 0.2, 2), (0.5, 0.0, 2), (0.62, 0.0, 1)],
    ids=["preferred-bootstrap", "indifferent-bootstrap", "preferred-wilson"],
)
def test_simulated_annotators_intervals_cover_the_true_win_rate(truth, spread, labels):
    runs, covered, rates = 200, 0, []
    for seed in range(runs):
        rng = random.Random(1000 + seed)
        result = win_rate(_simulate_round(rng, prompts=60, labels=labels, truth=truth, spread=spread), seed=seed)
        covered += result.low <= truth <= result.high
        rates.append(result.rate)
    coverage = covered / runs
    # Nominal 95%; with 200 runs the binomial sd is 1.5 points, and the percentile bootstrap
    # runs a little under nominal at 60 prompts.
    assert 0.89 <= coverage <= 0.99, coverage
    assert sum(rates) / runs == pytest.approx(truth, abs=0.015)  # unbiased: indifference reads 0.5
