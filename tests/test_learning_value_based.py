"""Learning tests for the value-based family with each algorithm's *default*
configuration (what `jaxrl train NAME --env CartPole-v1` runs): thresholds on the final
greedy evaluation over 4-8 seeds (slow; `make test` runs them in CI)."""
import pytest
from learning import final_returns

pytestmark = pytest.mark.slow


# The distributional learners over 4 seeds: with 8 they took 205-244 s each; with 4 (2 per
# device) qrdqn scored 500 on all, c51 [500, 363, 500, 500], about 2 min each. Both left CI
# to keep the test command under 40 minutes (qrdqn last, for the recurrent actor-critics'
# tests): c51's projection and the quantile loss are checked by hand
# (tests/components/test_value_components.py), the value heads share dqn's learner (in CI
# below), and `jaxrl train c51|qrdqn --env CartPole-v1 --num-seeds 4` measures learning.
@pytest.mark.parametrize("algorithm, threshold, num_seeds", [
    ("pqn", 475.0, 8), ("dqn", 450.0, 8)])
def test_default_config_learns_cartpole(algorithm, threshold, num_seeds):
    iqm, returns = final_returns(algorithm, "CartPole-v1", num_seeds=num_seeds)
    assert iqm >= threshold, returns


# PQN with the MinAtar CNN on Breakout: tests/test_learning_suites.py (pgx's port).
