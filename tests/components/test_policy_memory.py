"""Policies with memory: the cores (one code path for a step and a sequence), the carry
reset where an episode ends (terminated or truncated), the stored carries training
sequences start from, and recurrent PPO replaying its rollout exactly."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs
from jaxrl.algorithms import ppo, pqn
from jaxrl.components import sequences
from jaxrl.components.rollout import collect
from jaxrl.config import ConfigError
from jaxrl.contract import Policy, reset_carry
from jaxrl.envs import Env, EpisodeStatistics, VecEnv
from jaxrl.envs.spaces import Box, Discrete
from jaxrl.evaluation import evaluate
from jaxrl.networks.memory import MemorySpec

CELLS = ("gru", "lstm", "lru", "gtrxl")


def core_and_params(cell, in_dim=3, size=5):
    spec = MemorySpec(cell, size)
    if cell == "gtrxl":  # a window shorter than the test sequences, so it slides
        spec = MemorySpec(cell, 8, window=4, layers=2, heads=2)
    core = spec.core()
    t, b = 1, 2
    params = core.init(jax.random.key(0), spec.initial_carry((b,)), jnp.zeros((t, b, in_dim)),
                       jnp.zeros((t, b), bool))
    return spec, core, params


@pytest.mark.parametrize("cell", CELLS)
def test_a_sequence_equals_its_steps_one_by_one(cell):
    """The scan over a whole sequence (with resets inside it) and T calls of one step
    each give the same outputs and final carry (float32 summation order aside)."""
    spec, core, params = core_and_params(cell)
    xs = jax.random.normal(jax.random.key(1), (7, 2, 3))
    resets = jnp.zeros((7, 2), bool).at[3, 0].set(True).at[5, 1].set(True)
    carry0 = jax.random.normal(jax.random.key(2), (2, spec.carry_size)) * 0.5
    whole_carry, whole = core.apply(params, carry0, xs, resets)

    carry, steps = carry0, []
    for t in range(7):
        carry, y = core.apply(params, carry, xs[t:t + 1], resets[t:t + 1])
        steps.append(y[0])
    np.testing.assert_allclose(whole, jnp.stack(steps), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole_carry, carry, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_a_reset_forgets_everything_before_it(cell):
    """After a reset at step 3, env 0's outputs equal a fresh run from step 3 (zero
    carry), whatever came before; env 1 (no reset) still depends on its past."""
    spec, core, params = core_and_params(cell)
    xs = jax.random.normal(jax.random.key(1), (6, 2, 3))
    resets = jnp.zeros((6, 2), bool).at[3, 0].set(True)
    carry0 = jnp.ones((2, spec.carry_size))
    _, ys = core.apply(params, carry0, xs, resets)
    _, fresh = core.apply(params, spec.initial_carry((2,)), xs[3:], jnp.zeros((3, 2), bool))
    np.testing.assert_allclose(ys[3:, 0], fresh[:, 0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(ys[3:, 1], fresh[:, 1], atol=1e-4)


class Scripted(Env):
    """One env whose episodes end on a schedule of global steps: terminated after step 2,
    truncated after step 5. Observations count global steps; a new episode's first
    observation is 100 + the step it follows."""

    id = "scripted"
    default_params = None

    def reset(self, key, params):
        return jnp.zeros((1,), jnp.float32), jnp.zeros((), jnp.int32)

    def step(self, key, step, action, params):
        terminated, truncated = step == 2, step == 5
        final = jnp.full((1,), step + 1, jnp.float32)
        obs = jnp.where(terminated | truncated, 100.0 + step, final)
        return (obs, step + 1, jnp.ones((), jnp.float32), terminated, truncated,
                {"final_observation": final})

    def observation_space(self, params):
        return Box(-np.inf, np.inf, (1,))

    def action_space(self, params):
        return Discrete(2)

    def max_episode_steps(self, params):
        return 100


def counting_act(carry, obs, key):
    """A carry that counts the steps since the episode began."""
    out = carry + 1.0
    action = jnp.zeros(obs.shape[:1], jnp.int32)
    return out, action, action, {"carry": out, "carry_in": carry}


def test_collect_resets_the_carry_where_an_episode_ends_terminated_or_truncated():
    env = VecEnv(EpisodeStatistics(Scripted()), 1)
    obs, env_state = env.reset(jax.random.key(0), None)
    zero = jnp.zeros((1, 1))
    _, _, carry, batch = collect(env, None, counting_act, env_state, obs, jax.random.key(1), 8,
                                 zero, zero)
    # episodes: steps 0-2 (terminated), 3-5 (truncated), 6-7 (still running)
    np.testing.assert_array_equal(batch.extras["carry_in"][:, 0, 0], [0, 1, 2, 0, 1, 2, 0, 1])
    np.testing.assert_array_equal(batch.extras["carry"][:, 0, 0], [1, 2, 3, 1, 2, 3, 1, 2])
    assert float(carry[0, 0]) == 2.0  # the next rollout goes on from here
    np.testing.assert_array_equal(batch.terminated[:, 0], [0, 0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.truncated[:, 0], [0, 0, 0, 0, 0, 1, 0, 0])

    # what a learner rebuilds from the output carries: the carry each step started from
    done = batch.terminated | batch.truncated
    np.testing.assert_array_equal(
        sequences.carries_in(zero, batch.extras["carry"], done), batch.extras["carry_in"])
    np.testing.assert_array_equal(sequences.episode_starts(done)[:, 0],
                                  [0, 0, 0, 1, 0, 0, 1, 0])


def test_sequences_of_a_rollout_and_their_stored_first_carries():
    """T=4 steps x N=2 envs cut into sequences of 2: chunk-major, env-minor, each with
    the carry stored at its first step."""
    t, n = 4, 2
    steps = jnp.arange(t * n).reshape(t, n)  # value 2*t + env
    cut = sequences.to_sequences(steps, 2)
    np.testing.assert_array_equal(cut, [[0, 2], [1, 3], [4, 6], [5, 7]])
    carries = (10 * steps)[..., None]
    np.testing.assert_array_equal(sequences.sequence_starts(carries, 2)[:, 0], [0, 10, 40, 50])
    np.testing.assert_array_equal(sequences.time_major(cut), cut.T)
    whole = sequences.to_sequences(steps, 4)
    np.testing.assert_array_equal(whole, [[0, 2, 4, 6], [1, 3, 5, 7]])


def test_burn_in_windows_are_the_steps_before_each_sequence():
    """T=6 steps x N=2 envs in sequences of 2 with a burn-in of 1: each sequence after
    the first chunk is preceded by its env's step just before it, from the carry
    stored there; the first chunk's sequences have no history."""
    t, n = 6, 2
    steps = jnp.arange(t * n).reshape(t, n)  # value 2*t + env
    carries = (10 * steps)[..., None].astype(jnp.float32)
    starts = steps % 7 == 0
    burn = sequences.burn_in_windows(carries, steps, starts, 2, 1)
    np.testing.assert_array_equal(burn.has_history, [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(burn.obs[2:, 0], [2, 3, 6, 7])  # steps 1 and 3
    np.testing.assert_array_equal(burn.carry[2:, 0], [20, 30, 60, 70])
    np.testing.assert_array_equal(burn.starts[2:, 0], [0, 0, 0, 1])
    np.testing.assert_array_equal(burn.stored[:, 0], [0, 10, 40, 50, 80, 90])
    # two steps of burn-in: the whole previous chunk
    burn = sequences.burn_in_windows(carries, steps, starts, 2, 2)
    np.testing.assert_array_equal(burn.obs[2:], [[0, 2], [1, 3], [4, 6], [5, 7]])
    np.testing.assert_array_equal(burn.carry[2:, 0], [0, 10, 40, 50])

    # the stored carry is kept where there is no history, the burned one elsewhere, and
    # no gradient reaches the burn-in
    def apply(carry, obs, starts):
        return carry + obs.sum(0)[:, None]

    burned = sequences.burned_carry(apply, burn)
    np.testing.assert_array_equal(burned[:, 0], [0, 10, 2, 14, 50, 62])
    grad = jax.grad(lambda c: sequences.burned_carry(apply, burn._replace(carry=c)).sum())(
        burn.carry)
    np.testing.assert_array_equal(grad, 0.0)


def test_reset_carry_resets_only_the_done_rows():
    carry = {"h": jnp.ones((3, 2)), "c": jnp.full((3,), 5.0)}
    initial = jax.tree.map(jnp.zeros_like, carry)
    out = reset_carry(jnp.array([False, True, False]), carry, initial)
    np.testing.assert_array_equal(out["h"], [[1, 1], [0, 0], [1, 1]])
    np.testing.assert_array_equal(out["c"], [5, 0, 5])


def test_evaluation_threads_a_policy_carry():
    """A policy that alternates left and right (its carry counts steps) balances
    CartPole longer than one that always pushes left: the carry moved."""
    env, params = jaxrl.envs.make("CartPole-v1")

    def act(carry, obs):
        return carry + 1, (carry % 2).astype(jnp.int32)

    timed = Policy(act, lambda n: jnp.zeros((n,), jnp.int32))
    left = Policy.stateless(lambda obs: jnp.zeros(obs.shape[:1], jnp.int32))
    key = jax.random.key(0)
    assert float(evaluate(env, params, timed, key, 4).mean()) > float(
        evaluate(env, params, left, key, 4).mean())


SMALL = dict(total_timesteps=2048, num_envs=4, num_steps=32, num_minibatches=2,
             num_epochs=1, hidden_sizes=(16,))


def first_carries(algo, params, first):
    """A minibatch's first carries as the replay builds them (burned in where set)."""
    if isinstance(first, sequences.BurnIn):
        return sequences.burned_carry(lambda *xs: algo.network.apply(params, *xs)[0], first)
    return first


@pytest.mark.parametrize("cell,length,burn_in", [("gru", 0, 0), ("lstm", 8, 4),
                                                 ("lru", 16, 0)])
def test_recurrent_ppo_training_sequences_replay_the_rollout(cell, length, burn_in):
    """Replayed from their stored carries with the rollout's resets, the training
    sequences give the rollout's own log-probabilities and values at the rollout's
    parameters; burned in, too (at those parameters the burn-in rebuilds the stored
    carry; at others it does not). CartPole's time limit is cut to 16 steps, so episodes
    end both terminated and truncated inside the rollout."""
    env, params = jaxrl.envs.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=16)
    algo = ppo.make(env, params, ppo.PPOConfig(**SMALL, memory=MemorySpec(cell, 8),
                                               sequence_length=length, burn_in=burn_in))
    hp = ppo.PPOHParams()
    state = algo.init(jax.random.key(0), hp)
    state, _ = algo.update(state, hp)  # a carry mid-episode, not zeros, starts the rollout
    act, _ = algo.rollout_policy(state, hp)
    _, _, _, batch = collect(algo.train_env, params, act, state.env_state, state.obs,
                             jax.random.key(1), 32, state.carry, algo.initial_carry(4))
    assert bool(batch.terminated.any()) and bool(batch.truncated.any())
    first, obs, starts, actions, log_probs, values, _, _ = algo.targets(state, hp, batch)[0]
    carry0 = first_carries(algo, state.params, first)
    assert carry0.shape == (4 * 32 // (length or 32), algo.memory.carry_size)
    tm = sequences.time_major
    _, outputs, replayed_values = algo.network.apply(state.params, carry0, tm(obs), tm(starts))
    np.testing.assert_allclose(algo.action_dist.log_prob(outputs, tm(actions)), tm(log_probs),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(replayed_values, tm(values), rtol=1e-4, atol=1e-5)
    if burn_in:
        assert bool(first.has_history.any()) and first.obs.shape[1] == burn_in
        later = jax.tree.map(lambda p: p * 1.1, state.params)  # stale stored carries
        stale = first.has_history
        assert not np.allclose(first_carries(algo, later, first)[stale], first.stored[stale],
                               atol=1e-3)


def test_recurrent_pqn_training_sequences_replay_the_rollout():
    """The same for PQN, burned in: the Q-values its sequences replay are the ones it
    acted on."""
    env, params = jaxrl.envs.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=16)
    algo = pqn.make(env, params, pqn.PQNConfig(**SMALL, memory=MemorySpec("gru", 8),
                                               sequence_length=8, burn_in=4))
    hp = pqn.PQNHParams()
    state, _ = algo.update(algo.init(jax.random.key(0), hp), hp)

    def act(carry, obs, key):  # acts as PQN's rollout does, and records its Q-values
        carry, q = algo.step(state.params, carry, obs)
        action = jax.random.randint(key, obs.shape[:1], 0, 2)
        return carry, action, action, {"carry": carry, "q": q}

    _, _, _, batch = collect(algo.train_env, params, act, state.env_state, state.obs,
                             jax.random.key(1), 32, state.carry, algo.initial_carry(4))
    assert bool(batch.terminated.any()) and bool(batch.truncated.any())
    first, obs, starts, _, _ = algo.targets(state, hp, batch)[0]
    tm = sequences.time_major
    _, out = algo.network.apply(state.params, first_carries(algo, state.params, first), tm(obs),
                                tm(starts))
    acted = tm(sequences.to_sequences(batch.extras["q"], 8))
    np.testing.assert_allclose(out[..., 0], acted, rtol=1e-4, atol=1e-5)


def test_recurrent_policy_acts_from_its_carry():
    env, params = jaxrl.envs.make("CartPole-v1")
    algo = ppo.make(env, params, ppo.PPOConfig(**SMALL, memory=MemorySpec("gru", 8)))
    state = algo.init(jax.random.key(0), ppo.PPOHParams())
    policy = algo.policy(state)
    carry = policy.initial_carry(5)
    assert carry.shape == (5, 8)
    carry, action = policy.act(carry, jnp.ones((5, 4)))
    assert action.shape == (5,) and not np.allclose(carry, 0.0)


@pytest.mark.parametrize("values,field", [
    (dict(memory=MemorySpec("gru"), sequence_length=24), "sequence_length=24 must divide"),
    (dict(memory=MemorySpec("gru"), num_minibatches=8), "num_minibatches=8 must divide"),
    (dict(sequence_length=8), "sequence_length=8 is for recurrent"),
    (dict(memory=MemorySpec("gru"), burn_in=4), "burn_in=4 needs chunked sequences"),
    (dict(memory=MemorySpec("gru"), sequence_length=8, burn_in=9), "burn_in=9 must be"),
    (dict(memory=MemorySpec("gru", 0)), "memory.size=0"),
    (dict(memory=MemorySpec("gtrxl", 10, heads=4)), "memory.heads=4 must divide"),
    (dict(memory=MemorySpec("gtrxl", 8, window=0)), "memory.window=0 must be"),
])
def test_bad_sequence_settings_are_refused_by_name(values, field):
    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(ppo.PPOConfig(**SMALL), **values).validate()
