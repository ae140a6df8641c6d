"""Learning tests for the value-based family with each algorithm's *default*
configuration (what `jaxrl train NAME --env CartPole-v1` runs): thresholds on the final
greedy evaluation over 4-8 seeds (slow; `make test` runs them in CI)."""
import pytest
from learning import final_returns

pytestmark = pytest.mark.slow


# DQN runs in CI; the others run in `make test-extended` (CI's 40 minutes left them out):
# - the distributional learners over 4 seeds (2 per device): qrdqn 500 on all, c51
#   [500, 363, 500, 500], about 2 min each; c51's projection and the quantile loss are
#   checked by hand (tests/components/test_value_components.py), and the value heads share
#   dqn's learner;
# - PQN (53 s in CI): it learns with the MinAtar CNN in tests/test_learning_suites.py.
extended = pytest.mark.extended


@pytest.mark.parametrize("algorithm, threshold, num_seeds", [
    ("dqn", 450.0, 8), pytest.param("pqn", 475.0, 8, marks=extended),
    pytest.param("c51", 450.0, 4, marks=extended),
    pytest.param("qrdqn", 450.0, 4, marks=extended)])
def test_default_config_learns_cartpole(algorithm, threshold, num_seeds):
    iqm, returns = final_returns(algorithm, "CartPole-v1", num_seeds=num_seeds)
    assert iqm >= threshold, returns


# PQN with the MinAtar CNN on Breakout: tests/test_learning_suites.py (pgx's port).
