"""Learning tests for the off-policy actor-critics with their *default* configurations
(what `jaxrl train sac --env Pendulum-v1` runs), 8 seeds, final greedy evaluation
(slow; `make test` runs them in CI)."""
import numpy as np
import pytest
from learning import final_returns

pytestmark = pytest.mark.slow

# A random policy scores about -1,200 on Pendulum-v1 and a good one -150 (rejax's
# published configs reach it in 10k steps); the issue asks for an IQM >= -250 within 20k.
PENDULUM_STEPS = 12_000


@pytest.mark.parametrize("algorithm", ["sac", "td3"])
def test_default_config_learns_pendulum(algorithm):
    iqm, returns = final_returns(algorithm, "Pendulum-v1", PENDULUM_STEPS)
    assert iqm >= -250.0, returns


def test_discrete_sac_learns_cartpole():
    # 1 env, a gradient step per env step, 50k steps: with the default batch of 256 the
    # IQM was 480 (272 s); with batches of 64 every seed scored 500 (108 s). A quarter of
    # the gradient steps (4 envs per step) only reached 239.
    iqm, returns = final_returns("sac", "CartPole-v1", 50_000, batch_size=64)
    assert iqm >= 400.0, returns


# brax/inverted_pendulum pays 1 per step until the pole falls, 1,000 at most. With 8
# seeds 7 reached 1,000 (196 s); 4 seeds keep the median test at about half the cost.
def test_sac_balances_brax_inverted_pendulum():
    _, returns = final_returns("sac", "brax/inverted_pendulum", 20_000, num_seeds=4,
                               eval_episodes=8)
    assert np.median(returns) >= 500.0, returns
