"""The multi-agent env protocol: a team of agents behind the one ``Env`` protocol.

A multi-agent env is an ``Env`` (the same ``reset``/``step``, auto-reset, params and
wrappers) with ``multi_agent = True``, ``num_agents`` and ``agent_names``, whose

- observation is a dict of three arrays (``AGENTS``, ``STATE``, ``MASK``):
  ``agents`` ``[A, D]`` float32, each agent's own observation, flattened and padded with
  zeros to the widest agent's; ``state`` ``[G]``, the global state a centralised critic
  reads (never an actor); ``action_mask`` ``[A, n]``, 1 where an agent may take an
  action (SMAX's available actions, Hanabi's legal moves; all ones elsewhere);
- action is one discrete action per agent, int32 ``[A]`` (``action_space`` is
  ``MultiDiscrete([n] * A)``, ``n`` the most any agent has);
- reward is the team's: the mean of the agents' rewards (a shared reward's own value),
  which episode statistics, evaluation and summaries report as the return;
- ``terminated`` / ``truncated`` are the team's episode's, and the auto-reset happens
  when the whole team's episode ends;
- ``info["agent_reward"]`` ``[A]`` and ``info["agent_terminated"]`` ``[A]`` are each
  agent's own: an agent whose part ended before the team's (a SMAX unit that died) is
  terminated from then until the team's episode ends, and every agent is terminated
  where the team's episode is; ``info["final_observation"]`` is the dict the episode
  ended on, so each agent's final observation is its row of it.

Heterogeneous agents (MPE's speaker and listener) are handled by padding and masking:
observations are zero-padded to one width, the actions an agent lacks are masked out,
and a one-hot agent id (``RowLayout.agent_ids``) tells the rows apart for a network
whose parameters the agents share. An agent with fewer actions therefore never picks a
padded one, and its log-probabilities are those of its own actions.

Learners see the team as rows (``AgentRows``): ``N`` env copies of ``A`` agents are
``N * A`` single-agent rows, each an agent's observation (plus its id, and with a
centralised critic the global state), reward and end. The on-policy machinery (rollouts,
GAE, sequences of a recurrent policy, minibatches) runs on the rows unchanged.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Env, Wrapper

AGENTS, STATE, MASK = "agents", "state", "action_mask"


def is_multi_agent(env: Env) -> bool:
    return bool(getattr(env, "multi_agent", False))


def team_spaces(num_agents: int, obs_dim: int, state_dim: int, num_actions: int):
    """The observation and action spaces of a team (the protocol above)."""
    inf = np.float32(np.inf)
    obs = spaces.Dict({
        AGENTS: spaces.Box(-inf, inf, (num_agents, obs_dim)),
        STATE: spaces.Box(-inf, inf, (state_dim,)),
        MASK: spaces.Box(0.0, 1.0, (num_agents, num_actions))})
    return obs, spaces.MultiDiscrete(np.full((num_agents,), num_actions, np.int32))


def team_shape(env: Env, params: Any) -> Tuple[int, int, int, int]:
    """``(num_agents, obs_dim, state_dim, num_actions)`` of a multi-agent env."""
    space = env.observation_space(params).spaces
    num_agents, obs_dim = space[AGENTS].shape
    return num_agents, obs_dim, space[STATE].shape[0], space[MASK].shape[1]


@dataclasses.dataclass(frozen=True)
class RowLayout:
    """One agent's row: ``[own observation | one-hot id | global state | action mask]``
    (the id and the global state where asked for; the mask always last, where
    ``components.action_masks`` looks for it). An actor reads ``actor_features``, a
    centralised critic ``critic_features`` (its id and the global state)."""

    num_agents: int
    obs_dim: int
    state_dim: int
    num_actions: int
    agent_ids: bool = True
    global_state: bool = False

    @classmethod
    def of(cls, env: Env, params: Any, agent_ids: bool, global_state: bool) -> "RowLayout":
        return cls(*team_shape(env, params), agent_ids, global_state)

    @property
    def id_dim(self) -> int:
        return self.num_agents if self.agent_ids else 0

    @property
    def width(self) -> int:
        return (self.obs_dim + self.id_dim + (self.state_dim if self.global_state else 0)
                + self.num_actions)

    @property
    def actor_features(self) -> Tuple[int, int]:
        """``[start, stop)`` of what an actor reads: its own observation and id."""
        return 0, self.obs_dim + self.id_dim

    @property
    def critic_features(self) -> Tuple[int, int]:
        """``[start, stop)`` of a centralised critic's input: the id and global state."""
        return self.obs_dim, self.obs_dim + self.id_dim + self.state_dim

    @property
    def id_features(self) -> Tuple[int, int]:
        """``[start, stop)`` of the one-hot agent id (``agent_ids`` rows)."""
        return self.obs_dim, self.obs_dim + self.id_dim

    @property
    def state_features(self) -> Tuple[int, int]:
        """``[start, stop)`` of the global state alone (``global_state`` rows)."""
        start = self.obs_dim + self.id_dim
        return start, start + self.state_dim

    def team_state(self, rows: jax.Array) -> jax.Array:
        """The global state of a team's rows ``[..., A, width]`` (every row holds it):
        ``[..., state_dim]``, what a mixer reads."""
        start, stop = self.state_features
        return rows[..., 0, start:stop]

    def rows(self, obs: Any) -> jax.Array:
        """A team observation (leading batch axes ``[...]``) as rows ``[..., A, width]``."""
        agents = jnp.asarray(obs[AGENTS], jnp.float32)
        batch = agents.shape[:-2]
        parts = [agents]
        if self.agent_ids:
            parts.append(jnp.broadcast_to(jnp.eye(self.num_agents, dtype=jnp.float32),
                                          batch + (self.num_agents, self.num_agents)))
        if self.global_state:
            state = jnp.asarray(obs[STATE], jnp.float32)[..., None, :]
            parts.append(jnp.broadcast_to(state, batch + (self.num_agents, self.state_dim)))
        parts.append(jnp.asarray(obs[MASK], jnp.float32))
        return jnp.concatenate(parts, axis=-1)

    def space(self) -> spaces.Box:
        inf = np.float32(np.inf)
        low = np.full((self.width,), -inf, np.float32)
        high = np.full((self.width,), inf, np.float32)
        low[-self.num_actions:], high[-self.num_actions:] = 0.0, 1.0
        return spaces.Box(low, high, (self.width,))


def flat_rows(layout: RowLayout, obs: Any) -> jax.Array:
    """A batch of ``N`` team observations as ``[N * A, width]`` rows (env-major)."""
    rows = layout.rows(obs)
    return rows.reshape((-1, layout.width))


def team_actions(layout: RowLayout, actions: jax.Array) -> jax.Array:
    """Rows' actions ``[N * A]`` as the team's ``[N, A]``."""
    return actions.reshape((-1, layout.num_agents))


class AgentRows(Wrapper):
    """``N`` batched copies of a multi-agent env (a ``VecEnv`` over
    ``EpisodeStatistics``) as ``N * A`` rows of one agent each, env-major: observations
    ``[N * A, width]`` (``RowLayout``), one action per row, each agent's own reward,
    ``terminated`` where the agent's part ended (its own end or the team's) and
    ``truncated`` where the team's episode was cut by a time limit and the agent's part
    had not ended. The team's completed episodes are counted once, on each team's first
    row (``episode_done`` / ``episode_return``), so a learner's episode metrics are the
    team's."""

    def __init__(self, env: Env, layout: RowLayout):
        super().__init__(env)
        self.layout = layout
        self.num_envs = env.num_envs * layout.num_agents

    def _first_rows(self, team: jax.Array) -> jax.Array:
        first = jnp.arange(self.layout.num_agents) == 0
        return jnp.where(first, team[:, None], jnp.zeros_like(team)[:, None]).reshape(-1)

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return flat_rows(self.layout, obs), state

    def step(self, key, state, action, params):
        obs, state, _, terminated, truncated, info = self.env.step(
            key, state, team_actions(self.layout, action), params)
        agent_terminated = info["agent_terminated"] | terminated[:, None]
        rows_truncated = truncated[:, None] & ~agent_terminated
        flat = lambda x: x.reshape(-1)  # noqa: E731
        rows_info = {
            "final_observation": flat_rows(self.layout, info["final_observation"]),
            "episode_done": self._first_rows(info["episode_done"]),
            "episode_return": self._first_rows(info["episode_return"]),
            "episode_length": self._first_rows(info["episode_length"]),
        }
        return (flat_rows(self.layout, obs), state, flat(info["agent_reward"]),
                flat(agent_terminated), flat(rows_truncated), rows_info)

    def observation_space(self, params):
        return self.layout.space()

    def action_space(self, params):
        return spaces.Discrete(self.layout.num_actions)


def team_policy(layout: RowLayout, act):
    """A rows policy ``act(carry, rows) -> (carry, actions)`` as one on batches of team
    observations (``[B]`` dicts -> ``[B, A]`` actions; the carry has ``B * A`` rows)."""
    def team_act(carry, obs):
        carry, actions = act(carry, flat_rows(layout, obs))
        return carry, team_actions(layout, actions)

    return team_act
