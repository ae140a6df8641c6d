"""Hand-computed checks of the off-policy actor-critics (SAC, TD3, DDPG): the
tanh-Gaussian log-probability at the bounds, SAC's temperature loss, the clipped
double-Q targets (truncation bootstraps from the final observation, termination does
not), TD3's target smoothing clip and delayed updates, DDPG as TD3 configured."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import jaxrl.envs
from jaxrl import registry
from jaxrl.algorithms import sac, td3
from jaxrl.algorithms.off_policy import Stored
from jaxrl.components.distributions import tanh_gaussian_log_prob, tanh_gaussian_sample
from jaxrl.config import ConfigError
from jaxrl.experiment import make_experiment

G = 0.9


# ---- tanh-squashed Gaussian ---------------------------------------------------------
@pytest.mark.parametrize("raw", [-30.0, -20.0, -3.0, 0.0, 0.7, 12.0, 20.0, 30.0])
def test_tanh_gaussian_log_prob_is_finite_at_the_bounds_and_matches_change_of_variables(raw):
    mean, log_std = np.array([0.3, -0.5]), np.array([0.1, -1.0])
    u = np.array([raw, -0.25])
    # change of variables in float64: log N(u) - sum log|d tanh/du|, |d tanh/du| =
    # 1 - tanh(u)^2 = cosh(u)^-2, whose log is -2 log cosh(u) (finite even where
    # tanh(u) rounds to 1 in float32, i.e. |u| >~ 9)
    by_hand = np.sum(norm.logpdf(u, mean, np.exp(log_std)) + 2 * np.log(np.cosh(u)))
    got = tanh_gaussian_log_prob(jnp.asarray(mean, jnp.float32),
                                 jnp.asarray(log_std, jnp.float32), jnp.asarray(u, jnp.float32))
    assert np.isfinite(float(got))
    assert float(got) == pytest.approx(by_hand, rel=1e-5)
    if abs(raw) >= 20:
        assert abs(float(jnp.tanh(jnp.float32(raw)))) == 1.0  # the action is at the bound


def test_tanh_gaussian_sample_is_reparameterised_and_in_bounds():
    key = jax.random.PRNGKey(0)
    mean, log_std = jnp.array([[0.0, 25.0]] * 4), jnp.array([[0.0, -2.0]] * 4)
    action, log_prob = tanh_gaussian_sample(key, mean, log_std)
    raw = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    np.testing.assert_allclose(action, jnp.tanh(raw), rtol=1e-6)
    np.testing.assert_allclose(log_prob, tanh_gaussian_log_prob(mean, log_std, raw), rtol=1e-6)
    assert np.all(np.abs(action) <= 1.0) and np.all(np.isfinite(log_prob))
    grad = jax.grad(lambda m: tanh_gaussian_sample(key, m, log_std)[0].sum())(mean)
    assert np.all(np.isfinite(grad)) and float(grad[0, 0]) != 0.0


# ---- SAC ---------------------------------------------------------------------------
def test_sac_temperature_loss_and_its_gradient():
    log_alpha, mean_log_prob, target = jnp.log(0.5), -0.3, -1.0
    loss = sac.SAC.temperature_loss(log_alpha, mean_log_prob, target)
    assert float(loss) == pytest.approx(-np.log(0.5) * (-0.3 - 1.0), rel=1e-6)
    # entropy 0.3 is above the target -1: the gradient is +1.3, descent lowers alpha
    grad = jax.grad(sac.SAC.temperature_loss)(log_alpha, mean_log_prob, target)
    assert float(grad) == pytest.approx(1.3, rel=1e-6)
    # entropy -0.5 is below a target of 1: the gradient is -1.5, descent raises alpha
    assert float(jax.grad(sac.SAC.temperature_loss)(0.0, 0.5, 1.0)) == pytest.approx(-1.5)


class LinearCritic:
    """``Q(s, a) = w . s + c * sum(a)`` (continuous) or ``w . s + c_a`` (discrete)."""

    def __init__(self, discrete):
        self.discrete = discrete

    def apply(self, params, obs, action):
        base = obs @ params["w"]
        if self.discrete:
            return base[..., None] + params["c"]
        return base + params["c"][0] * jnp.sum(action, axis=-1)


class ConstantActor:
    """The same actor outputs for every observation."""

    def __init__(self, outputs):
        self.outputs = outputs

    def apply(self, params, obs):
        shape = obs.shape[:-1]
        return jax.tree.map(lambda x: jnp.broadcast_to(x, shape + x.shape), self.outputs)


CRITICS = {"w": jnp.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]),     # two critics
           "c": jnp.array([[0.5, -1.0], [-0.5, 0.25]])}


def windows():
    """Three one-step windows from state s=(1,2,3): going on, truncated, terminated;
    the replay keeps the pre-reset successor in ``final_obs`` (here s' = (4, 5, 6))."""
    obs = jnp.array([[[1.0, 2.0, 3.0]]] * 3)
    return Stored(obs=obs, action=jnp.zeros((3, 1, 1)), reward=jnp.array([[1.0], [2.0], [3.0]]),
                  terminated=jnp.array([[False], [False], [True]]),
                  truncated=jnp.array([[False], [True], [False]]),
                  final_obs=jnp.array([[[4.0, 5.0, 6.0]]] * 3))


def sac_learner(env_id, discrete):
    env, params = jaxrl.envs.make(env_id)
    algo = sac.make(env, params, sac.SACConfig(total_timesteps=100, batch_size=3,
                                               buffer_size=16, n_step=1))
    hp = sac.SACHParams(initial_temperature=0.2)
    learner = algo.init_learner(jax.random.PRNGKey(0), hp)
    algo.critic = LinearCritic(discrete)
    return algo, hp, learner.replace(target_critic_params=CRITICS)


def test_sac_twin_critic_target_truncation_bootstraps_termination_does_not():
    algo, hp, learner = sac_learner("Pendulum-v1", discrete=False)
    mean, log_std = jnp.array([0.4]), jnp.array([-1.0])
    algo.actor = ConstantActor((mean, log_std))
    batch = algo._batch(windows(), jnp.ones(3), G, lambda o: o)
    np.testing.assert_allclose(batch.next_obs, [[4.0, 5.0, 6.0]] * 3)
    np.testing.assert_allclose(batch.discount, [G, G, 0.0])
    key = jax.random.PRNGKey(7)
    target = algo.critic_target(learner, batch, hp, key)
    eps = np.asarray(jax.random.normal(key, (3, 1)))[:, 0]
    u = 0.4 + np.exp(-1.0) * eps
    a = np.tanh(u)
    log_pi = norm.logpdf(u, 0.4, np.exp(-1.0)) + 2 * np.log(np.cosh(u))
    q1, q2 = 4.0 + 0.5 * a, 10.0 - 0.5 * a          # w.s' + c*a for each critic
    soft = np.minimum(q1, q2) - 0.2 * log_pi
    expected = np.array([1.0, 2.0, 3.0]) + np.array([G, G, 0.0]) * soft
    np.testing.assert_allclose(target, expected, rtol=1e-5)
    assert float(target[2]) == 3.0  # termination: the reward alone


def test_discrete_sac_target_is_the_exact_expectation_over_actions():
    algo, hp, learner = sac_learner("CartPole-v1", discrete=True)
    logits = jnp.log(jnp.array([0.25, 0.75]))
    algo.actor = ConstantActor(logits)
    stored = windows()
    stored = stored.replace(obs=stored.obs[..., :2], final_obs=stored.final_obs[..., :2],
                            action=jnp.zeros((3, 1), jnp.int32))
    crit = {"w": CRITICS["w"][:, :2], "c": CRITICS["c"]}
    learner = learner.replace(target_critic_params=crit)
    batch = algo._batch(stored, jnp.ones(3), G, lambda o: o)
    target = algo.critic_target(learner, batch, hp, jax.random.PRNGKey(0))
    p = np.array([0.25, 0.75])
    q = np.minimum(4.0 + np.array([0.5, -1.0]), 10.0 + np.array([-0.5, 0.25]))  # per action
    v = np.sum(p * (q - 0.2 * np.log(p)))
    np.testing.assert_allclose(target, np.array([1.0, 2.0, 3.0]) + np.array([G, G, 0]) * v,
                               rtol=1e-5)


def test_sac_learn_moves_every_part_and_stays_finite():
    env, params = jaxrl.envs.make("Pendulum-v1")
    algo = sac.make(env, params, sac.SACConfig(total_timesteps=100, batch_size=3,
                                               buffer_size=16))
    hp = sac.SACHParams()
    learner = algo.init_learner(jax.random.PRNGKey(0), hp)
    batch = algo._batch(windows(), jnp.ones(3), G, lambda o: o)
    new, priorities, stats = algo.learn(learner, batch, hp, jax.random.PRNGKey(1),
                                        jnp.zeros((), jnp.int32))
    for name in ("actor_params", "critic_params", "target_critic_params", "log_alpha"):
        before, after = jax.tree.leaves(getattr(learner, name)), jax.tree.leaves(getattr(new, name))
        assert any(not np.allclose(b, a) for b, a in zip(before, after)), name
    assert priorities.shape == (3,)
    assert all(np.isfinite(float(v)) for v in stats.values())


# ---- TD3 / DDPG --------------------------------------------------------------------
def test_td3_target_smoothing_noise_is_clipped_and_actions_stay_in_bounds():
    smoothed = td3.smoothed_target_action(jnp.array([0.9, -0.2, 0.0, -0.9]),
                                          jnp.array([0.8, -0.8, 0.3, -0.2]), 0.5)
    np.testing.assert_allclose(smoothed, [1.0, -0.7, 0.3, -1.0], rtol=1e-6)


def td3_learner(name="td3", **hparams):
    env, params = jaxrl.envs.make("Pendulum-v1")
    exp = make_experiment(name, "Pendulum-v1", {"total_timesteps": 100, "batch_size": 3,
                                                "buffer_size": 16, **hparams}, {})
    algo = registry.get(name).make(env, params, exp.config)
    learner = algo.init_learner(jax.random.PRNGKey(0), exp.hparams)
    algo.critic = LinearCritic(False)
    critics = jax.tree.map(lambda x: x[:exp.config.num_critics], CRITICS)
    return algo, exp.hparams, learner.replace(critic_params=critics,
                                              target_critic_params=critics)


def test_td3_target_uses_the_clipped_smoothed_target_action_and_the_min_critic():
    algo, hp, learner = td3_learner(target_noise=10.0, target_noise_clip=0.5)
    algo.actor = ConstantActor(jnp.array([0.2]))
    batch = algo._batch(windows(), jnp.ones(3), G, lambda o: o)
    key = jax.random.PRNGKey(3)
    target = algo.critic_target(learner, batch, hp, key)
    noise = 10.0 * np.asarray(jax.random.normal(key, (3, 1)))[:, 0]
    a = np.clip(0.2 + np.clip(noise, -0.5, 0.5), -1, 1)
    assert np.all(np.isclose(a, -0.3) | np.isclose(a, 0.7))  # this much noise hits the clip
    q = np.minimum(4.0 + 0.5 * a, 10.0 - 0.5 * a)
    np.testing.assert_allclose(target, np.array([1.0, 2.0, 3.0]) + np.array([G, G, 0]) * q,
                               rtol=1e-6)


def test_ddpg_is_td3_with_one_critic_no_smoothing_no_delay():
    algo, hp, learner = td3_learner("ddpg")
    assert (algo.config.num_critics, int(hp.policy_delay), float(hp.target_noise)) == (1, 1, 0)
    algo.actor = ConstantActor(jnp.array([0.2]))
    batch = algo._batch(windows(), jnp.ones(3), G, lambda o: o)
    target = algo.critic_target(learner, batch, hp, jax.random.PRNGKey(3))
    np.testing.assert_allclose(target, np.array([1.0, 2.0, 3.0])
                               + np.array([G, G, 0]) * (4.0 + 0.5 * 0.2), rtol=1e-6)


def two_gradient_steps(module, hp):
    """A Pendulum learner of ``module`` and its state after gradient steps 0 and 1 on the
    ``windows()`` batch: (initial, first, second)."""
    env, params = jaxrl.envs.make("Pendulum-v1")
    algo = module.make(env, params, module.Config(total_timesteps=100, batch_size=3,
                                                  buffer_size=16))
    learner = algo.init_learner(jax.random.PRNGKey(0), hp)
    batch = algo._batch(windows(), jnp.ones(3), G, lambda o: o)
    first, _, _ = algo.learn(learner, batch, hp, jax.random.PRNGKey(1), jnp.asarray(0))
    second, _, _ = algo.learn(first, batch, hp, jax.random.PRNGKey(2), jnp.asarray(1))
    return learner, first, second


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_td3_policy_and_targets_move_only_every_policy_delay_steps():
    learner, first, second = two_gradient_steps(td3, td3.TD3HParams(policy_delay=2))
    assert same(first.actor_params, learner.actor_params)
    assert same(first.target_critic_params, learner.target_critic_params)
    assert not same(first.critic_params, learner.critic_params)
    assert not same(second.actor_params, first.actor_params)
    assert not same(second.target_actor_params, first.target_actor_params)
    assert not same(second.target_critic_params, first.target_critic_params)


def test_actions_are_rescaled_onto_the_env_bounds():
    env, params = jaxrl.envs.make("Pendulum-v1")  # torque in [-2, 2]
    algo = td3.make(env, params, td3.TD3Config(total_timesteps=100))
    np.testing.assert_allclose(algo.to_env(jnp.array([[-1.0], [0.0], [0.5], [1.0]]))[:, 0],
                               [-2.0, 0.0, 1.0, 2.0])


@pytest.mark.parametrize("name", ["td3", "ddpg"])
def test_deterministic_actor_critics_refuse_discrete_actions(name):
    env, params = jaxrl.envs.make("CartPole-v1")
    exp = make_experiment(name, "Pendulum-v1", {}, {})
    with pytest.raises(ConfigError, match="continuous.*sac"):
        registry.get(name).make(env, params, exp.config)


def test_sac_targets_move_every_target_period_steps():
    learner, first, second = two_gradient_steps(sac, sac.SACHParams(target_period=2))
    assert same(first.target_critic_params, learner.target_critic_params)
    expected = jax.tree.map(lambda t, o: 0.995 * t + 0.005 * o, first.target_critic_params,
                            second.critic_params)
    for got, want in zip(jax.tree.leaves(second.target_critic_params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
