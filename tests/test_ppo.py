"""PPO pieces: the loss on a hand-computed batch, distributions, normalisers, config."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs
from jaxrl.algorithms import ppo
from jaxrl.components import distributions
from jaxrl.components.normalization import RewardScaler, RunningMeanStd
from jaxrl.config import ConfigError
from jaxrl.envs import spaces


def test_ppo_loss_matches_hand_computation():
    dist = distributions.Categorical(2)
    logits = jnp.array([[0.0, 0.0], [math.log(3.0), 0.0]])     # probs .5/.5 and .75/.25
    actions = jnp.array([0, 0])
    old_log_probs = jnp.log(jnp.array([0.4, 0.5]))             # ratios 1.25 and 1.5
    advantages = jnp.array([1.0, -1.0])
    values, old_values = jnp.array([1.0, 2.0]), jnp.array([0.5, 2.5])
    returns = jnp.array([2.0, 2.0])
    hp = ppo.PPOHParams(clip_eps=0.2, vf_clip_eps=0.2, ent_coef=0.01, vf_coef=0.5)
    total, stats = ppo.ppo_loss(dist, (logits,), values, actions, old_log_probs, old_values,
                                advantages, returns, hp, normalize_advantages=False)
    # surrogate: min(1.25, 1.2)=1.2 and min(-1.5, -1.2)=-1.5 -> policy loss 0.15
    # value: max((1-2)^2, (0.7-2)^2)=1.69, max(0, (2.3-2)^2)=0.09 -> 0.5*mean=0.445
    # entropy: ln2=0.693147, H(.75,.25)=0.562335 -> 0.627741
    np.testing.assert_allclose(stats["policy_loss"], 0.15, rtol=1e-5)
    np.testing.assert_allclose(stats["value_loss"], 0.445, rtol=1e-5)
    np.testing.assert_allclose(stats["entropy"], 0.6277411, rtol=1e-5)
    np.testing.assert_allclose(total, 0.15 + 0.5 * 0.445 - 0.01 * 0.6277411, rtol=1e-5)
    np.testing.assert_allclose(stats["clip_fraction"], 1.0)


def test_unclipped_value_loss_option():
    dist = distributions.Categorical(2)
    _, stats = ppo.ppo_loss(dist, (jnp.zeros((2, 2)),), jnp.array([1.0, 2.0]),
                            jnp.array([0, 1]), jnp.log(jnp.array([0.5, 0.5])),
                            jnp.array([0.5, 2.5]), jnp.array([1.0, -1.0]),
                            jnp.array([2.0, 2.0]), ppo.PPOHParams(), False, False)
    np.testing.assert_allclose(stats["value_loss"], 0.25, rtol=1e-6)  # 0.5*mean(1, 0)


def test_tanh_gaussian_log_prob_is_finite_at_the_bounds():
    dist = distributions.DiagGaussian(np.array([-2.0]), np.array([2.0]), "tanh")
    outputs = (jnp.zeros((3, 1)), jnp.zeros((3, 1)))
    raw = jnp.array([[0.0], [20.0], [-50.0]])  # tanh saturates to exactly +-1 in float32
    logp = dist.log_prob(outputs, raw)
    assert bool(jnp.all(jnp.isfinite(logp)))
    env_action = dist.to_env(raw)
    np.testing.assert_allclose(env_action[:, 0], [0.0, 2.0, -2.0], atol=1e-6)
    # at raw=0 the log-det is 0: log N(0; 0, 1) = -0.5*log(2*pi)
    np.testing.assert_allclose(logp[0], -0.5 * math.log(2 * math.pi), rtol=1e-6)
    grads = jax.grad(lambda m: dist.log_prob((m, jnp.zeros((3, 1))), raw).sum())(outputs[0])
    assert bool(jnp.all(jnp.isfinite(grads)))


def test_clipped_gaussian_clips_env_action_but_not_log_prob():
    dist = distributions.DiagGaussian(np.array([-1.0]), np.array([1.0]), "clipped")
    outputs = (jnp.zeros((1, 1)), jnp.zeros((1, 1)))
    raw = jnp.array([[3.0]])
    np.testing.assert_allclose(dist.to_env(raw), [[1.0]])
    np.testing.assert_allclose(dist.log_prob(outputs, raw), -0.5 * math.log(2 * math.pi) - 4.5,
                               rtol=1e-6)


def test_tanh_needs_bounded_space():
    with pytest.raises(ValueError, match="bounded"):
        distributions.for_space(spaces.Box(-np.inf, np.inf, (2,)), "tanh")


def test_running_mean_std_matches_numpy():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 3)).astype(np.float32)
    stats = RunningMeanStd.create((3,)).update(jnp.asarray(x[:20])).update(jnp.asarray(x[20:]))
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats.var, x.var(0), rtol=1e-3)


def test_reward_scaler_resets_return_at_episode_end():
    scaler = RewardScaler.create(1)
    rewards = jnp.array([[1.0], [1.0], [1.0]])
    dones = jnp.array([[False], [True], [False]])
    scaler, scaled = scaler.update_and_scale(rewards, dones, 0.5)
    # discounted returns seen: 1, 1.5 (done -> reset), 1
    np.testing.assert_allclose(scaler.returns, [1.0])
    seen = np.array([1.0, 1.5, 1.0])
    expected_var = seen.var() * 3 / (3 + 1e-4) + 1e-4 * 1.0 / (3 + 1e-4) \
        + (seen.mean() ** 2) * 1e-4 * 3 / (3 + 1e-4) ** 2
    np.testing.assert_allclose(scaled[:, 0], 1.0 / np.sqrt(expected_var + 1e-8), rtol=1e-3)


@pytest.mark.parametrize("field,value,match", [
    ("num_minibatches", 3, "num_minibatches=3 must divide num_envs\\*num_steps=512"),
    ("num_envs", 0, "num_envs=0 must be positive"),
    ("total_timesteps", 100, "less than one update"),
    ("activation", "sigmoid", "activation='sigmoid'"),
])
def test_static_config_errors_name_the_field(field, value, match):
    with pytest.raises(ConfigError, match=match):
        ppo.PPOConfig(**{field: value}).validate()


@pytest.mark.parametrize("field,value", [("learning_rate", -1.0), ("gamma", 1.5),
                                         ("clip_eps", 0.0), ("max_grad_norm", float("nan"))])
def test_hparam_errors_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        ppo.PPOHParams(**{field: value}).validate()


def test_batched_hparams_validate_every_member():
    hp = ppo.PPOHParams(learning_rate=np.array([1e-3, -2.0, 1e-4]))
    with pytest.raises(ConfigError, match="learning_rate=-2"):
        hp.validate()


@pytest.fixture(scope="module")
def cartpole_ppo():
    env, params = jaxrl.envs.make("CartPole-v1")
    return ppo.make(env, params, ppo.PPOConfig(total_timesteps=2048, num_envs=4, num_steps=16,
                                               num_minibatches=2, num_epochs=2))


def test_update_counts_steps_and_reports_metrics(cartpole_ppo):
    hp = ppo.PPOHParams()
    state = cartpole_ppo.init(jax.random.PRNGKey(0), hp)
    state, metrics = jax.jit(cartpole_ppo.update)(state, hp)
    assert state.env_steps.exact() == 64 and int(state.update_count) == 1
    for name in ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
                 "grad_norm", "episode_return_sum", "episode_count", "learning_rate"):
        assert np.isfinite(float(metrics[name])), name
    np.testing.assert_allclose(metrics["entropy"], math.log(2), rtol=0.05)  # near-uniform init


def test_update_has_no_key_reuse(cartpole_ppo):
    hp = ppo.PPOHParams()
    with jax.debug_key_reuse(True):
        state = cartpole_ppo.init(jax.random.PRNGKey(1), hp)
        cartpole_ppo.update(state, hp)


def test_learning_rate_is_traced_and_annealed(cartpole_ppo):
    update = jax.jit(cartpole_ppo.update)
    hp = ppo.PPOHParams(learning_rate=1e-3)
    state = cartpole_ppo.init(jax.random.PRNGKey(0), hp)
    lrs = []
    for _ in range(3):
        state, metrics = update(state, hp)
        lrs.append(float(metrics["learning_rate"]))
    n = cartpole_ppo.num_updates  # 2048 / 64 = 32
    np.testing.assert_allclose(lrs, [1e-3, 1e-3 * (1 - 1 / n), 1e-3 * (1 - 2 / n)], rtol=1e-5)
    # a different learning rate reuses the same compiled program (it is a traced leaf)
    update(state, ppo.PPOHParams(learning_rate=5e-4))
    assert update._cache_size() == 1


def test_continuous_ppo_runs_with_normalisers():
    env, params = jaxrl.envs.make("Pendulum-v1")
    algo = ppo.make(env, params, ppo.PPOConfig(total_timesteps=256, num_envs=2, num_steps=32,
                                               num_minibatches=2, num_epochs=1,
                                               continuous_actions="tanh",
                                               normalize_observations=True,
                                               normalize_rewards=True))
    hp = ppo.PPOHParams()
    state, metrics = jax.jit(algo.train)(jax.random.PRNGKey(0), hp)
    assert np.all(np.isfinite(np.asarray(metrics["loss"])))
    assert float(state.obs_stats.count) > 256  # updated with every rollout observation
    action = algo.policy(state).act((), jnp.zeros((5, 3)))[1]
    assert action.shape == (5, 1) and bool(jnp.all(jnp.abs(action) <= 2.0))
