"""Hand-computed checks of how the value-based learners use the components: the value
representations, the off-policy skeleton's n-step batches, DQN's targets (double Q,
termination, truncation) and PPO's HL-Gauss critic loss."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs
from jaxrl.algorithms import dqn, ppo
from jaxrl.algorithms.off_policy import Batch, Stored
from jaxrl.components import distributions
from jaxrl.components.value_heads import ValueHead
from jaxrl.components.value_losses import HLGauss, huber

G = 0.9


def test_scalar_head_targets_loss_and_priority():
    head = ValueHead("scalar")
    out = jnp.array([[1.0], [3.0]])                 # [A=2, K=1]
    np.testing.assert_allclose(head.q_values(out), [1.0, 3.0])
    target = head.bootstrap_target(out[1], 0.5, G)  # 0.5 + 0.9 * 3
    assert float(target) == pytest.approx(3.2)
    loss, priority = head.loss(out[0], target)
    assert float(loss) == pytest.approx(float(huber(1.0 - 3.2)))
    assert float(priority) == pytest.approx(2.2)
    squared, _ = head.loss(out[0], target, squared=True)
    assert float(squared) == pytest.approx(0.5 * 2.2 ** 2)


def test_categorical_head_expectation_and_projected_target():
    head = ValueHead("categorical", num_outputs=3, v_min=0.0, v_max=2.0)
    logits = jnp.log(jnp.array([[0.2, 0.3, 0.5]]))
    assert float(head.q_values(logits)[0]) == pytest.approx(0.3 + 1.0)
    # all mass on atom 1, reward 0.5, discount 1: 1.5 splits between atoms 1 and 2
    target = head.bootstrap_target(jnp.log(jnp.array([1e-9, 1.0, 1e-9])), 0.5, 1.0)
    np.testing.assert_allclose(target, [0.0, 0.5, 0.5], atol=1e-6)
    loss, priority = head.loss(logits[0], target)
    expected = -(0.5 * np.log(0.3) + 0.5 * np.log(0.5))
    assert float(loss) == pytest.approx(expected, rel=1e-5) and float(priority) == float(loss)


def test_quantile_head_shifts_target_quantiles():
    head = ValueHead("quantile", num_outputs=2)
    out = jnp.array([[1.0, 3.0]])
    assert float(head.q_values(out)[0]) == pytest.approx(2.0)
    np.testing.assert_allclose(head.bootstrap_target(out[0], 1.0, 0.5), [1.5, 2.5])
    # taus (0.25, 0.75); u_ij = t_j - q_i; Huber(1): u^2 / 2 inside [-1, 1], |u| - 1/2 out
    target = jnp.array([1.5, 2.5])
    loss, _ = head.loss(out[0], target)
    by_hand = 0.0
    for tau, q in zip((0.25, 0.75), (1.0, 3.0)):
        u = np.array([1.5, 2.5]) - q
        h = np.where(np.abs(u) <= 1, 0.5 * u**2, np.abs(u) - 0.5)
        by_hand += np.mean(np.abs(tau - (u < 0)) * h)
    assert float(loss) == pytest.approx(by_hand, rel=1e-6)


def test_hl_gauss_head_uses_the_scalar_target():
    head = ValueHead("hl_gauss", num_outputs=11, v_min=0.0, v_max=10.0)
    hl = HLGauss(0.0, 10.0, 11)
    logits = jnp.zeros((2, 11))
    np.testing.assert_allclose(head.q_values(logits), [5.0, 5.0], rtol=1e-6)
    target = head.bootstrap_target(logits[0], 1.0, 0.5)   # 1 + 0.5 * 5
    assert float(target) == pytest.approx(3.5)
    loss, priority = head.loss(logits[0], target)
    assert float(loss) == pytest.approx(float(hl.loss(logits[0], 3.5)), rel=1e-6)
    assert float(priority) == pytest.approx(1.5, rel=1e-5)


# ---- DQN on a tabular stub: every number below is computed by hand ----------------
class TableNet:
    """``apply(params, obs) = params["q"][obs[..., 0]]``: observations carry a state
    index, so the learner's targets and losses can be checked by hand."""

    def __init__(self, table):
        self.table = table

    def init(self, key, obs):
        return {"q": self.table}

    def apply(self, params, obs):
        return params["q"][obs[..., 0].astype(jnp.int32)]


def tabular_dqn(double_q, n_step=1):
    env, params = jaxrl.envs.make("CartPole-v1")
    config = dqn.DQNConfig(total_timesteps=100, num_envs=1, batch_size=2, buffer_size=16,
                           n_step=n_step, double_q=double_q, dueling=False)
    algo = dqn.make(env, params, config)
    # online Q: state 1 -> (5, 1): argmax 0; target Q: state 1 -> (2, 7): argmax 1
    online = jnp.array([[[0.0], [0.0]], [[5.0], [1.0]]])
    target = jnp.array([[[0.0], [0.0]], [[2.0], [7.0]]])
    algo.network = TableNet(online)
    hp = dqn.DQNHParams(learning_rate=0.0, target_tau=1.0, target_period=1000)
    learner = algo.init_learner(jax.random.PRNGKey(0), hp)
    return algo, hp, learner.replace(target_params={"q": target})


def batch(discount):
    obs = jnp.array([[0.0], [0.0]])
    return Batch(obs=obs, action=jnp.array([0, 1]), reward=jnp.array([1.0, 1.0]),
                 discount=jnp.asarray(discount), next_obs=jnp.array([[1.0], [1.0]]),
                 weights=jnp.ones(2))


@pytest.mark.parametrize("double_q, bootstrap", [(True, 2.0), (False, 7.0)])
def test_dqn_target_double_q_picks_with_online_and_values_with_target(double_q, bootstrap):
    algo, hp, learner = tabular_dqn(double_q)
    _, priorities, stats = algo.learn(learner, batch([G, 0.0]), hp, jax.random.PRNGKey(1),
                                      jnp.zeros((), jnp.int32))
    targets = np.array([1 + G * bootstrap, 1.0])  # the second transition terminated
    np.testing.assert_allclose(priorities, np.abs(0.0 - targets), rtol=1e-6)
    assert float(stats["loss"]) == pytest.approx(float(jnp.mean(huber(-targets))), rel=1e-6)


def test_n_step_batch_truncation_bootstraps_from_final_obs_termination_does_not():
    algo, _, _ = tabular_dqn(True, n_step=3)
    z = jnp.zeros(3, bool)
    windows = Stored(
        obs=jnp.array([[[0.0], [1.0], [2.0]], [[0.0], [1.0], [2.0]], [[0.0], [1.0], [2.0]]]),
        action=jnp.array([[1, 0, 0], [0, 0, 0], [0, 0, 0]]),
        reward=jnp.array([[1.0, 2.0, 3.0]] * 3),
        terminated=jnp.stack([z, jnp.array([False, True, False]), z]),
        truncated=jnp.stack([z, z, jnp.array([True, False, False])]),
        final_obs=jnp.array([[[10.0], [11.0], [12.0]]] * 3))
    b = algo._batch(windows, jnp.ones(3), G, lambda o: o)
    chex.assert_shape(b.next_obs, (3, 1))
    np.testing.assert_allclose(b.reward, [1 + G * 2 + G**2 * 3, 1 + G * 2, 1.0], rtol=1e-6)
    np.testing.assert_allclose(b.discount, [G**3, 0.0, G], rtol=1e-6)
    np.testing.assert_allclose(b.next_obs[:, 0], [12.0, 11.0, 10.0])  # final_obs[last]
    np.testing.assert_array_equal(b.action, [1, 0, 0])


def test_ppo_hl_gauss_critic_loss_is_the_cross_entropy_of_the_returns():
    hl = HLGauss(0.0, 10.0, 11)
    action_dist = distributions.Categorical(2)
    logits = jax.random.normal(jax.random.PRNGKey(0), (4, 11))
    returns = jnp.array([1.0, 4.2, 9.9, 12.0])
    zeros = jnp.zeros(4)
    hp = ppo.PPOHParams(ent_coef=0.0, vf_coef=1.0)
    _, stats = ppo.ppo_loss(action_dist, (jnp.zeros((4, 2)),), jax.vmap(hl.value)(logits),
                            jnp.zeros(4, jnp.int32), zeros + jnp.log(0.5), zeros, zeros,
                            returns, hp, hl_gauss=hl, value_logits=logits)
    by_hand = np.mean([-np.sum(np.asarray(hl.target_probs(y))
                               * np.asarray(jax.nn.log_softmax(lg)))
                       for lg, y in zip(logits, returns)])
    assert float(stats["value_loss"]) == pytest.approx(by_hand, rel=1e-5)
