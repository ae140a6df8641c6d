"""Hand-computed checks of the offline learners' losses: IQL's expectile and advantage
weights, CQL's logsumexp penalty (exact on discrete actions, importance-corrected
proposals on continuous ones), TD3+BC's normalised lambda and ReBRAC's actor and critic
penalties, and the dataset sampling of the off-policy skeleton."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs
from jaxrl.algorithms import cql, implicit_ql, td3_bc
from jaxrl.algorithms.cql import proposal_values
from jaxrl.components.offline import (advantage_weights, behaviour_distance,
                                      conservative_penalty, expectile_loss,
                                      gaussian_log_prob, q_normaliser)

SMOKE = {"dataset": "random:256", "total_timesteps": 0, "offline_steps": 8,
         "offline_steps_per_update": 1, "batch_size": 4, "hidden_sizes": (8,)}


def test_expectile_loss_weights_each_side_of_zero():
    # diff = Q - V: +1 weighted tau = 0.7, -2 weighted 1 - tau = 0.3
    assert float(expectile_loss(jnp.array([1.0, -2.0]), 0.7)) == pytest.approx(
        (0.7 * 1.0 + 0.3 * 4.0) / 2)
    # tau = 0.5 is half the mean squared error
    assert float(expectile_loss(jnp.array([1.0, -2.0]), 0.5)) == pytest.approx(
        0.5 * (1.0 + 4.0) / 2)


def test_expectile_minimiser_is_the_expectile():
    """Gradient descent on V lands on the tau-expectile of {0, 1}: tau itself."""
    q = jnp.array([0.0, 1.0])
    v = 0.5
    for _ in range(2000):
        v -= 0.5 * jax.grad(lambda v: expectile_loss(q - v, 0.9))(v)
    assert v == pytest.approx(0.9, abs=1e-4)


def test_advantage_weights_are_exponentiated_and_capped():
    w = advantage_weights(jnp.array([0.0, 1.0, 10.0, -1.0]), 3.0, 100.0)
    np.testing.assert_allclose(w, [1.0, np.exp(3.0), 100.0, np.exp(-3.0)], rtol=1e-6)


def test_gaussian_log_prob_by_hand():
    mean, log_std, action = jnp.array([0.5, -0.5]), jnp.log(jnp.array([1.0, 2.0])), \
        jnp.array([1.0, 0.5])
    expected = sum(-0.5 * ((a - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)
                   for a, m, s in ((1.0, 0.5, 1.0), (0.5, -0.5, 2.0)))
    assert float(gaussian_log_prob(mean, log_std, action)) == pytest.approx(expected, rel=1e-6)


def test_conservative_penalty_by_hand():
    q_out = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    q_data = jnp.array([2.0, 0.0])
    expected = ((np.log(np.exp(1) + np.exp(2) + np.exp(3)) - 2.0) + (np.log(3.0) - 0.0)) / 2
    assert float(conservative_penalty(q_data, q_out)) == pytest.approx(expected, rel=1e-6)


def test_q_normaliser_and_behaviour_distance_by_hand():
    assert float(q_normaliser(jnp.array([1.0, -3.0]), 2.5)) == pytest.approx(1.25, rel=1e-6)
    a, b = jnp.array([[0.5, -0.5]]), jnp.array([[0.0, 0.5]])
    np.testing.assert_allclose(behaviour_distance(a, b, "mean"), [(0.25 + 1.0) / 2])
    np.testing.assert_allclose(behaviour_distance(a, b, "sum"), [0.25 + 1.0])


def test_proposal_values_subtract_each_proposals_log_density():
    """Q(s, a_k) - log p(a_k) per critic, state and proposal: [C, B, K]."""
    def q_values(obs, action):  # two critics: sum of the action, and twice it
        total = jnp.sum(action, -1) + obs[:, 0]
        return jnp.stack([total, 2 * total])

    obs = jnp.array([[1.0], [2.0]])                          # B = 2
    actions = jnp.array([[[0.5], [0.0]], [[-0.5], [1.0]]])   # K = 2, B = 2, d = 1
    log_p = jnp.array([[0.1, 0.2], [0.3, 0.4]])              # [K, B]
    out = proposal_values(q_values, obs, actions, log_p)
    assert out.shape == (2, 2, 2)
    # critic 0, state 0: Q = a + 1 at a = 0.5, -0.5 -> 1.5 - 0.1, 0.5 - 0.3
    np.testing.assert_allclose(out[0, 0], [1.4, 0.2], rtol=1e-6)
    # critic 1, state 1: Q = 2 (a + 2) at a = 0.0, 1.0 -> 4 - 0.2, 6 - 0.4
    np.testing.assert_allclose(out[1, 1], [3.8, 5.6], rtol=1e-6)
    # a scalar density (uniform proposals) applies to every sample
    np.testing.assert_allclose(proposal_values(q_values, obs, actions, 0.5)[0, 0], [1.0, 0.0])


def _batch(algo, key, size=4):
    algo_obs = algo.sample_dataset(key, size, 0.9, lambda o: o)
    return algo_obs


@pytest.fixture(scope="module")
def pendulum():
    return jaxrl.envs.make("Pendulum-v1")


def test_dataset_batches_hold_the_datas_transitions(pendulum):
    algo = td3_bc.make(*pendulum, td3_bc.TD3BCConfig(**SMOKE, normalize_observations=False))
    data = algo.shared
    batch = algo.sample_dataset(jax.random.PRNGKey(0), 8, 0.9, lambda o: o)
    for i in range(8):  # each sampled row is one of the dataset's, whole
        row = int(np.flatnonzero(np.all(np.isclose(data.obs, batch.obs[i]), axis=1))[0])
        np.testing.assert_allclose(batch.next_obs[i], data.next_obs[row])
        np.testing.assert_allclose(batch.action[i], data.action[row])
        assert float(batch.discount[i]) == pytest.approx(0.9 * (1 - data.terminated[row]))
    # Pendulum's actions in [-2, 2] are stored in the learners' [-1, 1]
    raw = algo.dataset.transitions.action
    np.testing.assert_allclose(data.action, raw / 2.0, rtol=1e-6)


@pytest.mark.parametrize("actor_layer_norm", [True, False])
def test_layer_norm_in_the_critics_alone(pendulum, actor_layer_norm):
    """``actor_layer_norm=false`` (TD3+BC's and ReBRAC's reference code): LayerNorm in
    every critic, none in the actor."""
    algo = td3_bc.make(*pendulum, td3_bc.TD3BCConfig(**SMOKE, layer_norm=True,
                                                     actor_layer_norm=actor_layer_norm))
    learner = algo.init_learner(jax.random.PRNGKey(0), td3_bc.TD3BCHParams())
    norms = lambda params: sum("LayerNorm" in jax.tree_util.keystr(path)  # noqa: E731
                               for path, _ in jax.tree_util.tree_leaves_with_path(params))
    assert norms(learner.critic_params) > 0
    assert (norms(learner.actor_params) > 0) == actor_layer_norm


def test_td3_bc_actor_loss_by_hand(pendulum):
    algo = td3_bc.make(*pendulum, td3_bc.TD3BCConfig(**SMOKE))
    hp = td3_bc.TD3BCHParams(alpha=2.5, actor_bc_coef=1.0)
    learner = algo.init_learner(jax.random.PRNGKey(1), hp)
    batch = _batch(algo, jax.random.PRNGKey(2))
    loss = algo.actor_loss(learner.actor_params, learner.critic_params, batch.obs, batch, hp)
    pi = np.asarray(algo.actor_outputs(learner.actor_params, batch.obs))
    q = np.asarray(algo.first_q(learner.critic_params, batch.obs, pi))
    lam = 2.5 / np.mean(np.abs(q))
    expected = np.mean(-lam * q + np.mean((pi - np.asarray(batch.action)) ** 2, axis=-1))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_rebrac_penalties_by_hand(pendulum):
    algo = td3_bc.make(*pendulum, td3_bc.TD3BCConfig(**SMOKE, penalty_over_actions="sum"))
    hp = td3_bc.TD3BCHParams(alpha=1.0, actor_bc_coef=0.3, critic_bc_coef=0.2,
                             target_noise=0.0)
    learner = algo.init_learner(jax.random.PRNGKey(1), hp)
    batch = _batch(algo, jax.random.PRNGKey(3), 16)
    batch = batch.replace(has_next_action=batch.has_next_action.at[0].set(False))
    # the actor: -Q / mean|Q| + 0.3 * summed squared distance
    loss = algo.actor_loss(learner.actor_params, learner.critic_params, batch.obs, batch, hp)
    pi = np.asarray(algo.actor_outputs(learner.actor_params, batch.obs))
    q = np.asarray(algo.first_q(learner.critic_params, batch.obs, pi))
    distance = np.sum((pi - np.asarray(batch.action)) ** 2, axis=-1)
    assert float(loss) == pytest.approx(np.mean(-q / np.mean(np.abs(q)) + 0.3 * distance),
                                        rel=1e-5)
    # the critic's target: r + discount (min Q'(s', a') - 0.2 d(a', a'_data)), no
    # penalty where the data has no next action (row 0 here)
    target = algo.critic_target(learner, batch, hp, jax.random.PRNGKey(4))
    a_next = np.asarray(algo.actor_outputs(learner.target_actor_params, batch.next_obs))
    q_next = np.min(np.asarray(algo.q_values(learner.target_critic_params, batch.next_obs,
                                             a_next)), axis=0)
    d_next = np.sum((a_next - np.asarray(batch.next_action)) ** 2, axis=-1)
    d_next[0] = 0.0
    expected = np.asarray(batch.reward) + np.asarray(batch.discount) * (q_next - 0.2 * d_next)
    np.testing.assert_allclose(target, expected, rtol=1e-5, atol=1e-6)


def test_implicit_ql_losses_by_hand(pendulum):
    algo = implicit_ql.make(*pendulum, implicit_ql.ImplicitQLConfig(**SMOKE))
    hp = implicit_ql.ImplicitQLHParams(expectile=0.8, temperature=2.0, max_weight=5.0)
    learner = algo.init_learner(jax.random.PRNGKey(1), hp)
    batch = _batch(algo, jax.random.PRNGKey(5), 16)
    new, _, stats = algo.learn(learner, batch, hp, jax.random.PRNGKey(6), jnp.int32(0))
    q = np.min(np.asarray(algo.q_values(learner.target_critic_params, batch.obs,
                                        batch.action)), axis=0)
    v = np.asarray(algo.state_value(learner.value_params, batch.obs))
    diff = q - v
    expected_v = np.mean(np.where(diff < 0, 0.2, 0.8) * diff ** 2)
    assert float(stats["value_loss"]) == pytest.approx(expected_v, rel=1e-5)
    # the policy's weights use the advantages of the V just updated
    new_v = np.asarray(algo.state_value(new.value_params, batch.obs))
    weights = np.minimum(np.exp(2.0 * (q - new_v)), 5.0)
    outputs = algo.actor_outputs(learner.actor_params, batch.obs)
    mean, log_std = (np.asarray(x) for x in outputs)
    std = np.exp(log_std)
    log_prob = np.sum(-0.5 * ((np.asarray(batch.action) - np.tanh(mean)) / std) ** 2
                      - log_std - 0.5 * np.log(2 * np.pi), axis=-1)
    assert float(stats["actor_loss"]) == pytest.approx(np.mean(-weights * log_prob), rel=1e-5)
    # the critics' target reads the new V at s'
    next_v = np.asarray(algo.state_value(new.value_params, batch.next_obs))
    target = np.asarray(batch.reward) + np.asarray(batch.discount) * next_v
    q_new = np.asarray(algo.q_values(learner.critic_params, batch.obs, batch.action))
    assert float(stats["loss"]) == pytest.approx(
        0.5 * np.sum(np.mean((q_new - target) ** 2, axis=1)), rel=1e-5)
    assert float(stats["advantage_weight"]) == pytest.approx(np.mean(weights), rel=1e-5)


def test_discrete_cql_penalty_is_the_exact_logsumexp():
    env = jaxrl.envs.make("CartPole-v1")
    algo = cql.make(*env, cql.CQLConfig(**SMOKE))
    hp = cql.CQLHParams(cql_alpha=3.0)
    learner = algo.init_learner(jax.random.PRNGKey(1), hp)
    batch = _batch(algo, jax.random.PRNGKey(7), 8)
    penalty = algo.critic_penalty(learner, batch, hp, jax.random.PRNGKey(8))
    q_all = np.asarray(algo.q_values(learner.critic_params, batch.obs))   # [C, B, A]
    action = np.asarray(batch.action)
    q_data = np.take_along_axis(q_all, action[None, :, None], axis=-1)[..., 0]
    lse = np.log(np.sum(np.exp(q_all), axis=-1))
    expected = 3.0 * np.sum(np.mean(lse - q_data, axis=1))
    assert float(penalty(learner.critic_params, jnp.asarray(q_data))) == pytest.approx(
        expected, rel=1e-5)


def test_continuous_cql_penalty_by_hand(pendulum):
    """logsumexp over K uniform actions (Q + d log 2), K policy actions at s (Q - log pi)
    and K policy actions at s' evaluated at s, minus Q at the data's action; per critic,
    summed."""
    from jaxrl.components.distributions import tanh_gaussian_sample

    k_samples = 3
    algo = cql.make(*pendulum, cql.CQLConfig(**SMOKE, cql_samples=k_samples))
    hp = cql.CQLHParams(cql_alpha=2.0)
    learner = algo.init_learner(jax.random.PRNGKey(1), hp)
    batch = _batch(algo, jax.random.PRNGKey(9), 4)
    key = jax.random.PRNGKey(10)
    penalty = algo.critic_penalty(learner, batch, hp, key)
    q_data = algo.q_values(learner.critic_params, batch.obs, batch.action)   # [C, B]

    # the same draws, by hand
    uniform_key, here_key, next_key = jax.random.split(jax.random.fold_in(key, 2), 3)
    uniform = jax.random.uniform(uniform_key, (k_samples, 4, 1), minval=-1.0, maxval=1.0)

    def draws(obs, k):
        mean, log_std = algo.actor_outputs(learner.actor_params, obs)
        return [tanh_gaussian_sample(kk, mean, log_std) for kk in jax.random.split(k, k_samples)]

    columns = [np.asarray(algo.q_values(learner.critic_params, batch.obs, a)) + np.log(2.0)
               for a in uniform]
    for obs, k in ((batch.obs, here_key), (batch.next_obs, next_key)):
        columns += [np.asarray(algo.q_values(learner.critic_params, batch.obs, a))
                    - np.asarray(log_p) for a, log_p in draws(obs, k)]
    stacked = np.stack(columns, axis=-1)                                      # [C, B, 3K]
    lse = np.log(np.sum(np.exp(stacked), axis=-1))
    expected = 2.0 * np.sum(np.mean(lse - np.asarray(q_data), axis=1))
    assert float(penalty(learner.critic_params, q_data)) == pytest.approx(expected, rel=1e-4)
