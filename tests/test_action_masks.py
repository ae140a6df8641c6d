"""Legal-action masks (``jaxrl.components.action_masks``): hand-computed cases for the
masked logits, argmax, targets and exploration, and every discrete-action learner run
on an env that punishes an illegal action, which none of them may take."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import jaxrl.envs as envs
from jaxrl import registry
from jaxrl.components.action_masks import ILLEGAL, ActionMask, random_legal
from jaxrl.components.exploration import epsilon_greedy
from jaxrl.envs import Adapter, Box, Dict, Discrete, FlattenObservation
from jaxrl.evaluation import evaluate
from jaxrl.experiment import make_experiment

STEPS = 8          # episode length: a legal-only episode returns exactly STEPS
PENALTY = -100.0   # an illegal action's reward (it never ends the episode)


@struct.dataclass
class ChainParams:
    max_steps_in_episode: int = STEPS


class MaskedChain(Adapter):
    """Three actions; at step t action ``t % 3`` is illegal. Observation: the phase
    (one-hot) and the mask."""

    keeps_time_limit = True

    @property
    def default_params(self):
        return ChainParams()

    def _observe(self, t):
        phase = jax.nn.one_hot(t % 3, 3)
        return {"phase": phase, "action_mask": 1.0 - phase}

    def reset_env(self, key, params):
        t = jnp.zeros((), jnp.int32)
        return self._observe(t), t

    def step_env(self, key, t, action, params):
        reward = jnp.where(action == t % 3, PENALTY, 1.0)
        return self._observe(t + 1), t + 1, reward, False, False

    def observation_space(self, params):
        return Dict({"phase": Box(0.0, 1.0, (3,)), "action_mask": Box(0.0, 1.0, (3,))})

    def action_space(self, params):
        return Discrete(3)


envs.register("test/masked-chain", MaskedChain)


# ------------------------------------------------------------------- hand-computed cases
def test_the_mask_goes_last_in_the_flat_observation_and_masks_by_hand():
    env = FlattenObservation(MaskedChain())
    obs, _ = env.reset(jax.random.key(0), ChainParams())
    np.testing.assert_array_equal(obs, [1, 0, 0, 0, 1, 1])  # phase first, action_mask last
    mask = ActionMask(3)
    logits = jnp.array([2.0, 1.0, 3.0])
    obs = jnp.array([9.0, 9.0, 9.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(mask.apply(logits, obs), [2.0, ILLEGAL, 3.0])
    probs = np.asarray(jax.nn.softmax(mask.apply(logits, obs)))
    np.testing.assert_allclose(probs, [np.exp(2) / (np.exp(2) + np.exp(3)), 0.0,
                                       np.exp(3) / (np.exp(2) + np.exp(3))], rtol=1e-6)
    log_probs = jax.nn.log_softmax(mask.apply(logits, obs))
    assert float(np.sum(probs * np.asarray(log_probs))) == pytest.approx(
        float(np.sum(probs[[0, 2]] * np.log(probs[[0, 2]]))), rel=1e-6)  # 0 * log 0 is 0
    # normalisation passes the mask through
    np.testing.assert_array_equal(mask.keep_raw(jnp.zeros(6), obs), [0, 0, 0, 1, 0, 1])
    assert ActionMask(0).apply(logits, obs) is logits


def test_masked_argmax_and_bootstrap_target_by_hand():
    """The best Q-value is illegal in the next state: argmax and max skip it."""
    q_next = jnp.array([[5.0, 9.0, 1.0], [0.5, -2.0, 7.0]])
    obs = jnp.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])  # masks only (size 3)
    masked = ActionMask(3).apply(q_next, obs)
    np.testing.assert_array_equal(jnp.argmax(masked, -1), [0, 0])
    reward, gamma, terminated = jnp.array([1.0, 0.0]), 0.9, jnp.array([False, True])
    target = reward + gamma * jnp.where(terminated, 0.0, jnp.max(masked, -1))
    np.testing.assert_allclose(target, [1.0 + 0.9 * 5.0, 0.0])


def test_exploration_draws_uniformly_among_legal_actions():
    legal = jnp.array([True, False, True, True])
    q = ActionMask(4).apply(jnp.array([0.0, 10.0, 0.0, 0.0]), legal.astype(jnp.float32))
    keys = jax.random.split(jax.random.key(0), 6000)
    actions = np.asarray(jax.vmap(lambda k: epsilon_greedy(k, q, 1.0, legal))(keys))
    counts = np.bincount(actions, minlength=4)
    assert counts[1] == 0
    np.testing.assert_allclose(counts[[0, 2, 3]] / 6000, 1 / 3, atol=0.03)
    greedy = jax.vmap(lambda k: epsilon_greedy(k, q, 0.0, legal))(keys[:10])
    assert set(np.asarray(greedy).tolist()) == {0}  # the illegal 10.0 is never greedy
    assert int(random_legal(jax.random.key(1), jnp.zeros(3, bool))) == 0  # none legal


# ---------------------------------------------------------------------- every learner
DISCRETE = [("ppo", {}), ("dqn", {}), ("c51", {}), ("pqn", {}), ("sac", {})]


@pytest.mark.parametrize("name, extra", DISCRETE, ids=[n for n, _ in DISCRETE])
def test_no_learner_ever_takes_an_illegal_action(name, extra):
    """Training (exploration at its widest: a fresh network, epsilon 1) and greedy
    evaluation: every completed episode returns exactly STEPS, so no step was illegal."""
    entry = registry.get(name)
    values = {**entry.smoke, **extra, "learning_starts": 0} if "buffer_size" in entry.smoke \
        else {**entry.smoke, **extra}
    exp = make_experiment(name, "test/masked-chain", values, {})
    env, params = envs.make("test/masked-chain")
    algo = entry.make(env, params, exp.config)
    hp = exp.hparams
    state = algo.init(jax.random.key(0), hp)
    update = jax.jit(algo.update)
    returns, episodes = 0.0, 0.0
    for _ in range(6):  # off-policy smoke: 2 steps per env per update; episodes of 8
        state, metrics = update(state, hp)
        returns += float(metrics["episode_return_sum"])
        episodes += float(metrics["episode_count"])
    assert episodes > 0 and returns == pytest.approx(STEPS * episodes)
    greedy = evaluate(algo.eval_env, params, algo.policy(state), jax.random.key(1), 4)
    np.testing.assert_array_equal(np.asarray(greedy), STEPS)
