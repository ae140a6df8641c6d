"""Learning tests for the value-based family with each algorithm's *default*
configuration (what `jaxrl train NAME --env CartPole-v1` runs): thresholds on the final
greedy evaluation over 4-8 seeds (slow; `make test` runs them in CI)."""
import pytest
from learning import final_returns

pytestmark = pytest.mark.slow


# The distributional learners over 4 seeds: with 8 they took 205-244 s each; with 4 (2 per
# device) qrdqn scored 500 on all, c51 [500, 363, 500, 500], about 2 min each.
@pytest.mark.parametrize("algorithm, threshold, num_seeds", [
    ("pqn", 475.0, 8), ("dqn", 450.0, 8), ("c51", 400.0, 4), ("qrdqn", 400.0, 4)])
def test_default_config_learns_cartpole(algorithm, threshold, num_seeds):
    iqm, returns = final_returns(algorithm, "CartPole-v1", num_seeds=num_seeds)
    assert iqm >= threshold, returns


# A uniformly random policy scores about 0.43 per episode on Breakout-MinAtar (256
# episodes); PQN with the MinAtar CNN reached 14-15 after 300k steps per seed here, and
# [8.0, 6.4] after 150k (79 s; 250k took 130 s). One device: both seeds' convolutions
# batched on one device took 194 s here at 250k, one seed per device (two devices) 288 s.
# With the convolution as a matmul over shifted views (torsos.ValidConv): [6.6, 6.6], 55 s.
MINATAR_STEPS = 150_000


def test_pqn_cnn_beats_random_on_breakout_minatar():
    iqm, returns = final_returns("pqn", "Breakout-MinAtar", MINATAR_STEPS, num_seeds=2,
                                 devices=1, num_envs=64, num_steps=32, num_minibatches=8,
                                 num_epochs=2, hidden_sizes=(128,), epsilon_fraction=0.2,
                                 learning_rate=1e-3)
    assert iqm >= 5.0, returns
