import pytest

from training.policy import AdaptiveKLController


def test_beta_rises_when_kl_above_target():
    c = AdaptiveKLController(beta=0.15, target=6.0, horizon=10_000)
    beta = c.update(kl=9.0, n_episodes=512)
    # err = clip(9/6 - 1) = 0.2 (clipped from 0.5)
    assert beta == pytest.approx(0.15 * (1 + 0.2 * 512 / 10_000))


def test_beta_falls_when_kl_below_target():
    c = AdaptiveKLController(beta=0.15, target=6.0, horizon=10_000)
    beta = c.update(kl=5.4, n_episodes=512)
    assert beta == pytest.approx(0.15 * (1 - 0.1 * 512 / 10_000))
    assert beta < 0.15


def test_fixed_beta_without_target():
    c = AdaptiveKLController(beta=0.05, target=None, horizon=10_000)
    assert c.update(kl=100.0, n_episodes=512) == 0.05


def test_repeated_updates_move_beta_toward_holding_kl():
    c = AdaptiveKLController(beta=0.1, target=2.0, horizon=100)
    for _ in range(10):
        c.update(kl=8.0, n_episodes=10)
    assert c.beta == pytest.approx(0.1 * 1.02**10)


@pytest.mark.parametrize("target,horizon", [(0.0, 100), (-1.0, 100), (1.0, 0)])
def test_invalid_settings(target, horizon):
    with pytest.raises(ValueError):
        AdaptiveKLController(0.1, target, horizon)
