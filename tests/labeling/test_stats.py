import math

import pytest

from labeling.stats import chi_square_uniform, entropy, fleiss


def test_fleiss_kappa_matches_the_hand_computed_value():
    # Four tasks, three annotators each, categories = the four completions.
    table = [
        [3, 0, 0, 0],  # all agree: P_i = (9 - 3) / 6 = 1
        [2, 1, 0, 0],  # P_i = (4 + 1 - 3) / 6 = 1/3
        [0, 1, 1, 1],  # P_i = (1 + 1 + 1 - 3) / 6 = 0
        [0, 0, 3, 0],  # P_i = 1
    ]
    result = fleiss(table)
    # P̄ = (1 + 1/3 + 0 + 1) / 4 = 7/12
    assert result.observed == pytest.approx(7 / 12)
    # column totals 5, 2, 4, 1 of 12: P̄e = (25 + 4 + 16 + 1) / 144 = 46/144
    assert result.chance == pytest.approx(46 / 144)
    assert result.kappa == pytest.approx((7 / 12 - 46 / 144) / (1 - 46 / 144))
    assert result.items == 4


def test_fleiss_with_unequal_raters_and_single_judgments_ignored():
    result = fleiss([[2, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]])
    assert result.items == 2
    assert result.observed == pytest.approx(0.5)  # (1 + 0) / 2
    assert result.chance == pytest.approx((3 / 4) ** 2 + (1 / 4) ** 2)


def test_perfect_agreement_on_one_category_has_undefined_kappa():
    assert fleiss([[2, 0, 0, 0], [3, 0, 0, 0]]).kappa is None
    assert fleiss([]).items == 0


def test_chi_square_p_value_against_known_quantiles():
    stat, p = chi_square_uniform([25, 25, 25, 25])
    assert stat == 0 and p == pytest.approx(1.0)
    # 7.815 is the 95th percentile of chi-square with 3 degrees of freedom.
    stat, p = chi_square_uniform([40, 20, 20, 20])
    assert stat == pytest.approx((15**2 + 3 * 5**2) / 25)
    from math import erfc, exp, pi, sqrt

    assert p == pytest.approx(erfc(sqrt(stat / 2)) + sqrt(2 * stat / pi) * exp(-stat / 2))
    assert p == pytest.approx(0.00738, abs=1e-5)  # tables: P(chi2 with 3 df > 12) = 0.00738
    assert chi_square_uniform([0, 0, 0, 0]) == (0.0, None)


def test_entropy_is_highest_for_balanced_scores():
    assert entropy([0, 0, 0, 0]) == pytest.approx(math.log(4))
    assert entropy([5, 0, 0, 0]) < entropy([1, 0, 0, 0]) < math.log(4)
