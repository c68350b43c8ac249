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


def _simulated_run(beta0: float, target: float, rounds: int, *, carry: bool, sensitivity: float = 0.6):
    """Policy rounds of 8 steps x 16 episodes against a toy policy whose KL falls as β rises
    (KL = sensitivity / β, as a stronger penalty keeps π closer to ρ). Each round builds a fresh
    controller, as update_policy does, starting from the carried β or from beta0."""
    beta, history = beta0, []
    for _ in range(rounds):
        controller = AdaptiveKLController(beta if carry else beta0, target, horizon=500)
        for _ in range(8):
            kl = sensitivity / controller.beta
            controller.update(kl, n_episodes=16)
        history.append((controller.beta, sensitivity / controller.beta))
        beta = controller.beta
    return history


def test_beta_carried_across_rounds_rises_until_kl_reaches_the_target():
    # KL starts at 0.6/0.15 = 4 nats against a target of 2: β must rise round after round.
    history = _simulated_run(0.15, target=2.0, rounds=30, carry=True)
    betas = [b for b, _ in history]
    assert all(b2 > b1 for b1, b2 in zip(betas, betas[1:]))
    assert betas[0] < 0.15 * 1.06  # one round alone moves β by at most 5% (128/500 x 20%)...
    assert history[-1][1] < 2.2  # ...but carried over 30 rounds the KL gets near its target
    assert history[-1][1] > 2.0  # and β never overshoots: the error shrinks as KL nears it


def test_beta_carried_across_rounds_falls_when_kl_is_below_the_target():
    history = _simulated_run(0.6, target=4.0, rounds=30, carry=True)  # KL 1 nat, target 4
    betas = [b for b, _ in history]
    assert all(b2 < b1 for b1, b2 in zip(betas, betas[1:]))
    assert history[-1][1] > 2.0 and betas[-1] < 0.3


def test_without_carrying_beta_every_round_restarts_and_the_target_is_never_approached():
    history = _simulated_run(0.15, target=2.0, rounds=30, carry=False)
    assert max(b for b, _ in history) < 0.15 * 1.06
    assert min(kl for _, kl in history) > 3.7
