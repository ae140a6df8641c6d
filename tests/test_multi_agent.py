"""The multi-agent protocol (``jaxrl.envs.multi_agent``) and the team's rows, by hand.

``Relay`` is a two-agent team small enough to compute every step of: heterogeneous
agents (observations of 1 and 2 features, 2 and 3 actions), a per-agent end (agent 1's
part ends when it plays action 2), a team termination (agent 0 plays 1 twice in a row)
and a time limit (``max_steps_in_episode``). The JaxMARL suite's conformance (spaces,
determinism, termination against JaxMARL's own flags, final observations) is in
test_env_suites.py, with the other suites'.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs as envs
from jaxrl.config import ConfigError
from jaxrl.envs import EpisodeStatistics, VecEnv
from jaxrl.envs.core import Adapter, EpisodeParams
from jaxrl.envs.multi_agent import (AGENTS, MASK, STATE, AgentRows, RowLayout,
                                    is_multi_agent, team_spaces)
from flax import struct


@struct.dataclass
class RelayState:
    t: jax.Array
    streak: jax.Array       # agent 0's consecutive 1s
    out: jax.Array          # agent 1's part is over


class Relay(Adapter):
    multi_agent = True
    keeps_time_limit = True
    step_uses_key = False
    id = "relay"
    num_agents, agent_names = 2, ("a", "b")

    @property
    def default_params(self):
        return EpisodeParams(max_steps_in_episode=5)

    def _observe(self, s):
        agents = jnp.stack([jnp.array([s.t, 0.0]), jnp.array([10.0 + s.t, s.out])])
        mask = jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])  # agent 0 has 2 actions
        return {AGENTS: agents.astype(jnp.float32), STATE: jnp.array([100.0 + s.t]),
                MASK: mask}

    def reset_env(self, key, params):
        s = RelayState(jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32),
                       jnp.zeros((), jnp.float32))
        return self._observe(s), s

    def step_env(self, key, s, action, params):
        streak = jnp.where(action[0] == 1, s.streak + 1, 0)
        out = jnp.maximum(s.out, (action[1] == 2).astype(jnp.float32))
        s = RelayState(s.t + 1, streak, out)
        rewards = jnp.array([1.0, 3.0]) * s.t  # the step's number, from 1
        terminated = streak >= 2
        info = {"agent_reward": rewards,
                "agent_terminated": jnp.stack([terminated, terminated | (out > 0)])}
        return self._observe(s), s, rewards.mean(), terminated, jnp.asarray(False), info

    def observation_space(self, params):
        return team_spaces(2, 2, 1, 3)[0]

    def action_space(self, params):
        return team_spaces(2, 2, 1, 3)[1]


def rows_rollout(actions, agent_ids=True, global_state=True):
    """Two Relay copies as rows, stepped with ``actions`` ``[T, 2 copies * 2 agents]``."""
    env = Relay()
    params = env.default_params
    layout = RowLayout.of(env, params, agent_ids, global_state)
    rows = AgentRows(VecEnv(EpisodeStatistics(env), 2), layout)
    obs, state = rows.reset(jax.random.key(0), params)
    out = []
    for t, action in enumerate(actions):
        obs_next, state, reward, term, trunc, info = rows.step(
            jax.random.key(t), state, jnp.asarray(action, jnp.int32), params)
        out.append((obs, reward, term, trunc, info))
        obs = obs_next
    return layout, rows, out


def test_a_team_observation_becomes_one_row_per_agent():
    layout, rows, out = rows_rollout([[0, 0, 0, 0]])
    assert layout.width == 2 + 2 + 1 + 3 and rows.num_envs == 4
    obs = np.asarray(out[0][0])
    # [own observation | one-hot id | global state | mask], env-major
    np.testing.assert_array_equal(obs[0], [0, 0, 1, 0, 100, 1, 1, 0])
    np.testing.assert_array_equal(obs[1], [10, 0, 0, 1, 100, 1, 1, 1])
    np.testing.assert_array_equal(obs[2], obs[0])
    assert layout.actor_features == (0, 4) and layout.critic_features == (2, 5)
    plain = RowLayout.of(Relay(), Relay().default_params, False, False)
    assert plain.width == 2 + 3 and plain.actor_features == (0, 2)


def test_rows_carry_each_agents_reward_and_end_and_count_team_episodes_once():
    # copy 0: agent 1 leaves at step 1 (action 2); agent 0 plays 1, 1: the team terminates
    # at step 2. copy 1: nothing ends until the time limit (5 steps).
    actions = [[0, 2, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    _, _, out = rows_rollout(actions)
    reward = np.stack([np.asarray(o[1]) for o in out])
    term = np.stack([np.asarray(o[2]) for o in out])
    trunc = np.stack([np.asarray(o[3]) for o in out])
    done = np.stack([np.asarray(o[4]["episode_done"]) for o in out])
    ret = np.stack([np.asarray(o[4]["episode_return"]) for o in out])
    np.testing.assert_array_equal(reward[0], [1, 3, 1, 3])   # each agent's own reward
    # agent 1 of copy 0 terminated from step 0 until the team's end at step 2
    np.testing.assert_array_equal(term[:, 1], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(term[:, 0], [0, 0, 1, 0, 0])
    # copy 1 truncated at its 5th step, both agents; no row is both
    np.testing.assert_array_equal(trunc[:, 2:], [[0, 0]] * 4 + [[1, 1]])
    assert not np.any(term & trunc)
    # the team's episode counted on its first row only, with the team's (mean) return
    np.testing.assert_array_equal(done[:, 0], [0, 0, 1, 0, 0])
    assert not done[:, 1].any() and not done[:, 3].any()
    assert ret[2, 0] == pytest.approx((1 + 3) / 2 * (1 + 2 + 3))
    assert ret[4, 2] == pytest.approx(2 * (1 + 2 + 3 + 4 + 5))
    # after the team's end a new episode starts: the time on copy 0's rows is back to 0
    np.testing.assert_array_equal(np.asarray(out[3][0])[0, :2], [0, 0])


def test_final_observation_of_each_agent_is_its_row_where_the_episode_ended():
    actions = [[1, 0, 0, 0], [1, 0, 0, 0]]  # copy 0 terminates at its 2nd step
    _, _, out = rows_rollout(actions)
    final = np.asarray(out[1][4]["final_observation"])
    assert final[0, 0] == 2 and final[1, 0] == 12  # t = 2, pre-reset
    np.testing.assert_array_equal(final[2:], np.asarray(out[1][0])[2:] + [1, 0, 0, 0, 1, 0, 0, 0])


def test_learners_refuse_the_other_kind_of_env():
    from jaxrl import registry

    env, params = envs.make("jaxmarl/MPE_simple_spread_v3")
    assert is_multi_agent(env)
    with pytest.raises(ConfigError, match="multi-agent env: use a multi-agent learner"):
        registry.get("ppo").make(env, params, registry.get("ppo").Config())
    cart, cart_params = envs.make("CartPole-v1")
    with pytest.raises(ConfigError, match="trains a team of agents"):
        registry.get("ippo").make(cart, cart_params, registry.get("ippo").Config())


def test_heterogeneous_agents_are_padded_and_their_missing_actions_masked():
    env, params = envs.make("jaxmarl/MPE_simple_speaker_listener_v4")
    obs, _ = env.reset(jax.random.key(0), params)
    assert obs[AGENTS].shape == (2, 11) and obs[STATE].shape == (22,)
    np.testing.assert_array_equal(obs[AGENTS][0, 3:], 0.0)  # the speaker sees 3 features
    np.testing.assert_array_equal(obs[MASK], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])


def test_smax_units_that_die_stay_terminated_until_the_team_episode_ends():
    env, params = envs.make("jaxmarl/smax-3m")
    venv = VecEnv(env, 8)

    @jax.jit
    def rollout(key):
        obs, state = venv.reset(key, params)

        def body(carry, k):
            obs, state = carry
            act_key, step_key = jax.random.split(k)
            legal = jnp.where(obs[MASK] > 0, 0.0, -jnp.inf)
            action = jax.random.categorical(act_key, legal).astype(jnp.int32)
            obs, state, reward, term, trunc, info = venv.step(step_key, state, action, params)
            return (obs, state), (reward, term, trunc, info["agent_reward"],
                                  info["agent_terminated"])

        return jax.lax.scan(body, (obs, state), jax.random.split(key, 120))[1]

    reward, term, trunc, agent_reward, agent_term = map(np.asarray, rollout(jax.random.key(0)))
    np.testing.assert_allclose(reward, agent_reward.mean(-1), rtol=1e-6)
    assert term.any() and np.all(agent_term[term])   # every agent ends with the team
    done = term | trunc
    # once a unit is out, it stays out until its team's episode ends
    for i in range(8):
        out = np.zeros(3, bool)
        for t in range(120):
            assert np.all(agent_term[t, i] >= out), (t, i)
            out = agent_term[t, i] & ~done[t, i]
            if done[t, i]:
                out = np.zeros(3, bool)
    # some unit died before its team's episode ended
    assert np.any(agent_term & ~done[..., None])


# ---- Q-learning from replay (algorithms.team_dqn) -------------------------------------

def team_dqn(mixer, **values):
    from jaxrl.algorithms import team_dqn

    config = team_dqn.Config(mixer=mixer, num_envs=2, rollout_steps=3, batch_size=4,
                             buffer_size=32, total_timesteps=600, hidden_sizes=(8,),
                             mixer_embedding=4, mixer_hidden=8, mixer_init_scale=1.0,
                             **values)
    return team_dqn.make(Relay(), Relay().default_params, config)


def stored_windows(reward, terminated, truncated):
    """Replay windows ``[B, n, A]`` of Relay team steps with the given per-agent ends."""
    from jaxrl.algorithms.off_policy import Stored

    reward = jnp.asarray(reward, jnp.float32)
    shape = reward.shape
    obs = jnp.broadcast_to(jnp.arange(shape[1], dtype=jnp.float32)[None, :, None, None],
                           shape + (8,))
    return Stored(obs, jnp.zeros(shape, jnp.int32), reward, jnp.asarray(terminated, bool),
                  jnp.asarray(truncated, bool), obs + 0.5)


def test_replay_items_are_team_steps_holding_every_agents_row():
    algo = team_dqn("vdn")
    state = algo.init(jax.random.key(0), algo.HParams(learning_starts=1000))
    state, _ = jax.jit(algo.update)(state, algo.HParams(learning_starts=1000))
    data = state.replay.data
    assert data.obs.shape == (16, 2, 2, algo.layout.width) and data.action.shape == (16, 2, 2)
    np.testing.assert_array_equal(data.reward[0], [[1, 3], [1, 3]])  # step 1: each agent's
    np.testing.assert_array_equal(data.obs[0, :, 0, 2:4], [[1, 0], [1, 0]])  # agent 0's id
    np.testing.assert_array_equal(data.obs[0, :, 1, 2:4], [[0, 1], [0, 1]])
    np.testing.assert_array_equal(data.obs[1, :, 0, 0], [1, 1])  # t = 1 at the second step


def test_team_n_step_targets_use_the_team_reward_and_the_team_end():
    gamma, no = 0.5, [[0, 0]] * 3
    reward = [[[1, 3], [2, 6], [3, 9]]] * 3
    terminated = [[[0, 0], [0, 1], [1, 1]],   # agent 1 out at step 1, the team at step 2
                  no,                         # nothing ends
                  [[1, 1], [0, 0], [0, 0]]]   # the team ends at once
    windows = stored_windows(reward, terminated, [no] * 3)
    norm = lambda x: x  # noqa: E731
    batch = team_dqn("vdn")._batch(windows, jnp.ones(3), gamma, norm)
    np.testing.assert_allclose(batch.reward, [2 + 0.5 * 4 + 0.25 * 6, 5.5, 2])
    np.testing.assert_allclose(batch.discount, [0, 0.125, 0])
    np.testing.assert_array_equal(batch.next_obs[:, 0, 0], [2.5, 2.5, 0.5])
    assert batch.obs.shape == (3, 2, 8) and batch.action.shape == (3, 2)
    # independent Q-learning: each agent's own reward and end, one row per agent
    rows = team_dqn("none")._batch(windows, jnp.ones(3), gamma, norm)
    np.testing.assert_allclose(rows.reward[:2], [1 + 1 + 0.75, 3 + 3])
    np.testing.assert_allclose(rows.discount[:2], [0, 0])
    np.testing.assert_allclose(rows.reward[2:4], [2.75, 8.25])
    np.testing.assert_allclose(rows.discount[2:4], [0.125, 0.125])
    assert rows.obs.shape == (6, 8)


def test_vdn_regresses_the_sum_of_the_agents_values_on_the_team_target():
    algo = team_dqn("vdn", double_q=True, td_loss="mse")
    learner = algo.init_learner(jax.random.key(1), algo.HParams())
    target = learner.replace(target_params=jax.tree.map(lambda p: p * 0.5,
                                                        learner.target_params))
    keys = jax.random.split(jax.random.key(2), 2)
    obs = jax.random.normal(keys[0], (5, 2, algo.layout.width)).at[..., -3:].set(1.0)
    next_obs = jax.random.normal(keys[1], obs.shape).at[..., -3:].set(1.0)
    from jaxrl.algorithms.off_policy import Batch

    batch = Batch(obs, jnp.array([[0, 1], [1, 2], [0, 0], [1, 1], [0, 2]]),
                  jnp.arange(5.0), jnp.array([0.9, 0.0, 0.5, 0.9, 0.1]), next_obs, jnp.ones(5))
    loss, (errors, q_tot) = algo.loss_fn(target, batch, algo.HParams())(target.params)
    q = np.asarray(algo.q_values(target.params, obs))
    taken = np.take_along_axis(q, np.asarray(batch.action)[..., None], -1)[..., 0].sum(-1)
    online = np.asarray(algo.q_values(target.params, next_obs)).argmax(-1)
    boot = np.take_along_axis(np.asarray(algo.q_values(target.target_params, next_obs)),
                              online[..., None], -1)[..., 0].sum(-1)
    td = taken - (np.arange(5.0) + np.asarray(batch.discount) * boot)
    np.testing.assert_allclose(q_tot, taken, rtol=1e-5)
    np.testing.assert_allclose(errors, np.abs(td), rtol=1e-4, atol=1e-5)
    assert float(loss) == pytest.approx(np.mean(0.5 * td ** 2), rel=1e-4)


def test_qmix_is_monotonic_in_every_agents_value_and_reads_the_state_only_in_its_mixer():
    algo = team_dqn("qmix")
    params = algo.init_learner(jax.random.key(3), algo.HParams()).params
    rows = jax.random.normal(jax.random.key(4), (64, 2, algo.layout.width))
    q = jax.random.normal(jax.random.key(5), (64, 2)) * 3
    grads = jax.vmap(jax.grad(lambda q, r: algo.mix(params, q, r)))(q, rows)
    assert np.all(np.asarray(grads) >= 0) and np.any(np.asarray(grads) > 0)
    # the agents' Q-values ignore the global state (the mixer reads it)
    start, stop = algo.layout.state_features
    moved = rows.at[..., start:stop].add(5.0)
    np.testing.assert_array_equal(algo.q_values(params, rows), algo.q_values(params, moved))
    assert not np.allclose(algo.mix(params, q, rows), algo.mix(params, q, moved))


# ---- independent parameters (networks.agents) ------------------------------------------

def team_ppo(**values):
    from jaxrl.algorithms import team_ppo

    config = team_ppo.Config(num_envs=2, num_steps=4, num_minibatches=1, hidden_sizes=(8,),
                             shared_parameters=False, **values)
    return team_ppo.make(Relay(), Relay().default_params, config)


@pytest.mark.parametrize("cell", ["none", "gru"])
def test_independent_parameters_give_each_row_its_own_agents_network(cell):
    from jaxrl.networks.memory import MemorySpec

    algo = team_ppo(memory=MemorySpec(cell=cell, size=8))
    params = algo.init_params(jax.random.key(0))
    one = lambda a: jax.tree.map(lambda p: p[a], params)  # noqa: E731
    assert all(p.shape[0] == 2 for p in jax.tree.leaves(params))
    _, _, out = rows_rollout([[0, 0, 0, 0]], global_state=False)
    rows = out[0][0]  # [4 rows: copy 0 agents 0, 1; copy 1 agents 0, 1]
    inner = algo.network.network
    if cell == "none":
        (logits,), value = algo.network.apply(params, rows)
        for r, agent in enumerate([0, 1, 0, 1]):
            (own_logits,), own_value = inner.apply(one(agent), rows[r])
            np.testing.assert_allclose(logits[r], own_logits, rtol=1e-6)
            np.testing.assert_allclose(value[r], own_value, rtol=1e-6)
        assert not np.allclose(inner.apply(one(0), rows[0])[1], inner.apply(one(1), rows[0])[1])
        return
    carry = jax.random.normal(jax.random.key(1), (4, 8))
    resets = jnp.zeros((1, 4), bool)
    new_carry, (logits,), value = algo.network.apply(params, carry, rows[None], resets)
    for r, agent in enumerate([0, 1, 0, 1]):
        own = inner.apply(one(agent), carry[r:r + 1], rows[None, r:r + 1], resets[:, :1])
        np.testing.assert_allclose(new_carry[r], own[0][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(logits[0, r], own[1][0][0, 0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(value[0, r], own[2][0, 0], rtol=1e-5, atol=1e-6)


def test_independent_parameters_need_agent_ids():
    with pytest.raises(ConfigError, match="set agent_ids=True"):
        team_ppo(agent_ids=False)
