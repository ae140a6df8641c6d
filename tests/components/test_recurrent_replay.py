"""Recurrent DQN (R2D2) on the off-policy skeleton: the carry each step started from is
stored beside it, replayed sequences start from it, and every step's n-step target is
what a step-by-step loop over the sequence computes by hand."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hand_targets import sequence_target_by_hand

import jaxrl.envs
from jaxrl.algorithms import dqn
from jaxrl.config import ConfigError
from jaxrl.networks.memory import MemorySpec

SMALL = dict(total_timesteps=2048, num_envs=4, rollout_steps=8, gradient_steps=1,
             batch_size=8, buffer_size=512, hidden_sizes=(16,), memory=MemorySpec("gru", 8),
             sequence_length=6, burn_in=3, n_step=3)


@pytest.fixture(scope="module")
def trained():
    """Two updates of recurrent DQN on CartPole cut to 12-step episodes (so sequences
    hold episode ends, terminated and truncated), then one sampled batch."""
    env, params = jaxrl.envs.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=12)
    algo = dqn.make(env, params, dqn.DQNConfig(**SMALL))
    hp = dqn.DQNHParams(learning_starts=0, gamma=0.9)
    update = jax.jit(algo.update)
    state = algo.init(jax.random.key(0), hp)
    for _ in range(6):
        state, _ = update(state, hp)
    # targets differ from the online net, so double Q picks and the target values differ
    state = state.replace(learner=state.learner.replace(target_params=jax.tree.map(
        lambda p: p * 0.9, state.learner.params)))
    sample = algo.buffer.sample(state.replay, jax.random.key(3), SMALL["batch_size"])
    seq = algo._batch(sample.data, sample.weights, hp.gamma, lambda obs: obs)
    return algo, state, hp, sample, seq


def test_stored_carries_are_zeros_exactly_where_an_episode_began(trained):
    """The carry stored beside a step is the one the policy acted from: back to zeros
    after an episode ended, a running memory elsewhere."""
    _, _, _, sample, _ = trained
    data = sample.data
    began = np.asarray(data.terminated | data.truncated)[:, :-1]
    empty = np.all(np.asarray(data.carry)[:, 1:] == 0.0, axis=-1)
    assert began.any()
    np.testing.assert_array_equal(empty, began)


def test_sequence_targets_equal_a_step_by_step_loop(trained):
    """Episode ends placed by hand inside the burn-in, inside the n-step windows and at a
    sequence's last step, terminated and truncated."""
    algo, state, hp, _, seq = trained
    seq = seq.replace(
        terminated=seq.terminated.at[0, 5].set(True).at[1, 1].set(True).at[3, 8].set(True),
        truncated=seq.truncated.at[2, 4].set(True).at[4, 7].set(True).at[5, 2].set(True))
    cfg, learner = algo.config, state.learner
    targets = np.asarray(algo.sequence_targets(learner, seq, hp))  # [L, B] (scalar head)
    burn, length, n, gamma = cfg.burn_in, cfg.sequence_length, cfg.n_step, hp.gamma

    q = jax.jit(lambda params, carry, obs: algo.step(params, carry[None], obs[None]))

    for b in range(seq.obs.shape[0]):
        # the target and online nets' carries after each step, by hand
        after = {}
        for name, params in (("target", learner.target_params), ("online", learner.params)):
            carry, outs = seq.carry[b], []
            for t in range(burn + length):
                if t > 0 and bool(seq.terminated[b, t - 1] | seq.truncated[b, t - 1]):
                    carry = jnp.zeros_like(carry)
                carry = q(params, carry, seq.obs[b, t])[0][0]
                outs.append(carry)
            after[name] = outs

        def value(t):  # double Q at step t's true successor
            pick = int(jnp.argmax(q(learner.params, after["online"][t], seq.final_obs[b, t])[1]))
            return float(q(learner.target_params, after["target"][t],
                           seq.final_obs[b, t])[1][0, pick])

        for i in range(length):
            expected = sequence_target_by_hand(seq, b, burn + i, n, gamma, burn + length - 1,
                                               value)
            np.testing.assert_allclose(targets[i, b], expected, rtol=1e-4, atol=1e-4)


def test_recurrent_dqn_policy_carries_memory(trained):
    algo, state, _, _, _ = trained
    policy = algo.policy(state)
    carry = policy.initial_carry(3)
    carry, action = policy.act(carry, jnp.ones((3, 4)))
    assert carry.shape == (3, 8) and action.shape == (3,) and not np.allclose(carry, 0.0)


@pytest.mark.parametrize("values,field", [
    (dict(memory=MemorySpec("gru"), sequence_length=2, n_step=3), "sequence_length=2 must"),
    (dict(memory=MemorySpec("gru"), sequence_length=4, burn_in=5), "burn_in=5 must be"),
    (dict(sequence_length=8), "sequence_length=8 is for recurrent"),
    (dict(memory=MemorySpec("gru"), sequence_length=40, buffer_size=400, num_envs=10),
     "must exceed burn_in \\+ sequence_length=40"),
])
def test_bad_recurrent_replay_settings_are_refused_by_name(values, field):
    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(dqn.DQNConfig(), **values).validate()
