"""JaxMARL (Rutherford et al., 2024): MPE, SMAX, Overcooked, the Coin Game and Hanabi
as multi-agent envs (``jaxrl.envs.multi_agent``).

JaxMARL marks every episode end ``done``; jaxrl keeps termination apart from truncation
per family: MPE, Overcooked and the Coin Game end only at their time limits
(truncated); SMAX terminates when a team is eliminated and is truncated at its time
limit; Hanabi terminates when the game ends. A SMAX unit that dies is terminated from
then on (JaxMARL's per-agent ``done``), while its team plays on.

The adapter steps JaxMARL's ``step_env`` (no reset) and leaves the auto-reset to
``Adapter``. Observations are flattened per agent (Overcooked's grids too, for an MLP)
and zero-padded to one width; the global state is SMAX's ``world_state`` and, for the
others, every agent's observation side by side (JaxMARL's MAPPO world state for MPE).
Legal-action masks are SMAX's available actions and Hanabi's legal moves. jaxrl also
keeps a time limit, ``max_steps_in_episode`` (by default the suite's own episode length,
so it changes nothing unless set lower).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.core import Adapter, EpisodeParams
from jaxrl.envs.multi_agent import AGENTS, MASK, STATE, team_spaces
from jaxrl.envs.suites import Suite, reset_mode_option


class JaxMARLEnv(Adapter):
    """One JaxMARL env behind the multi-agent protocol. ``family`` picks how its episode
    ends (``ENDS``) and where its global state and action masks come from."""

    multi_agent = True
    keeps_time_limit = True

    def __init__(self, env_id: str, env: Any, family: str, episode_steps: int,
                 time_limit: Optional[int] = None, reset_mode: str = "fresh"):
        self.id = env_id
        self.jaxmarl_env = env
        self.family = family
        self.episode_steps = int(episode_steps)
        self.time_limit = int(time_limit or episode_steps)
        self.reset_mode = reset_mode_option(reset_mode)
        self.agent_names = tuple(env.agents)
        self.num_agents = len(self.agent_names)
        obs, _ = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
        self._obs_dims = [int(np.prod(obs[a].shape)) for a in self.agent_names]
        self.obs_dim = max(self._obs_dims)
        self._actions = [int(env.action_space(a).n) for a in self.agent_names]
        self.num_actions = max(self._actions)
        self.state_dim = (int(np.prod(obs["world_state"].shape)) if family == "smax"
                          else self.num_agents * self.obs_dim)
        self._padding_mask = np.stack([np.arange(self.num_actions) < n for n in self._actions])
        self._spaces = team_spaces(self.num_agents, self.obs_dim, self.state_dim,
                                   self.num_actions)

    @property
    def default_params(self):
        return EpisodeParams(max_steps_in_episode=self.time_limit)

    def with_params(self, params):
        return JaxMARLEnv(self.id, self.jaxmarl_env, self.family, self.episode_steps,
                          int(params.max_steps_in_episode), self.reset_mode)

    # ---- the team's observation ------------------------------------------------------
    def _observe(self, obs: Dict[str, jax.Array], state: Any) -> Dict[str, jax.Array]:
        rows = []
        for name, dim in zip(self.agent_names, self._obs_dims):
            row = jnp.asarray(obs[name], jnp.float32).reshape(-1)
            rows.append(jnp.pad(row, (0, self.obs_dim - dim)))
        agents = jnp.stack(rows)
        if self.family == "smax":
            global_state = jnp.asarray(obs["world_state"], jnp.float32).reshape(-1)
        else:
            global_state = agents.reshape(-1)
        return {AGENTS: agents, STATE: global_state, MASK: self._mask(state)}

    def _mask(self, state) -> jax.Array:
        legal = jnp.asarray(self._padding_mask)
        if self.family == "smax":
            available = self.jaxmarl_env.get_avail_actions(state)
        elif self.family == "hanabi":
            available = self.jaxmarl_env.get_legal_moves(state)
        else:
            return legal.astype(jnp.float32)
        rows = [jnp.pad(jnp.asarray(available[a], bool), (0, self.num_actions - n))
                for a, n in zip(self.agent_names, self._actions)]
        return (legal & jnp.stack(rows)).astype(jnp.float32)

    # ---- the protocol ----------------------------------------------------------------
    def reset_env(self, key, params):
        obs, state = self.jaxmarl_env.reset(key)
        return self._observe(obs, state), state

    def step_env(self, key, state, action, params):
        actions = {name: action[i] for i, name in enumerate(self.agent_names)}
        obs, state, rewards, dones, _ = self.jaxmarl_env.step_env(key, state, actions)
        done = jnp.asarray(dones["__all__"], bool)
        terminated = done & ENDS[self.family](self.jaxmarl_env, state)
        agent_ended = jnp.zeros((self.num_agents,), bool)
        if self.family == "smax":  # a dead unit's part is over
            agent_ended = jnp.stack([jnp.asarray(dones[a], bool) for a in self.agent_names])
        agent_reward = jnp.stack([jnp.asarray(rewards[a], jnp.float32)
                                  for a in self.agent_names])
        info = {"agent_reward": agent_reward, "agent_terminated": agent_ended | terminated}
        return (self._observe(obs, state), state, agent_reward.mean(), terminated,
                done & ~terminated, info)

    def observation_space(self, params):
        return self._spaces[0]

    def action_space(self, params):
        return self._spaces[1]


def _smax_terminal(env, state) -> jax.Array:
    """A team eliminated (the rest of SMAX's ``is_terminal`` is its time limit)."""
    alive = state.state.unit_alive
    return ~jnp.any(alive[:env.num_allies]) | ~jnp.any(alive[env.num_allies:])


# family -> (jaxmarl env, its state after a step whose episode is done) -> terminated
ENDS: Dict[str, Callable[[Any, Any], jax.Array]] = {
    "mpe": lambda env, state: jnp.asarray(False),
    "overcooked": lambda env, state: jnp.asarray(False),
    "coin_game": lambda env, state: jnp.asarray(False),
    "smax": _smax_terminal,
    "hanabi": lambda env, state: jnp.asarray(True),
}

# jaxrl name -> (family, JaxMARL's name, its constructor's arguments (a callable: they
# import jaxmarl), the episode's length in steps)
MPE = {"MPE_simple_spread_v3": 3, "MPE_simple_reference_v3": 2,
       "MPE_simple_speaker_listener_v4": 2}
SMAX = ("3m", "2s3z", "5m_vs_6m")
OVERCOOKED = ("cramped_room", "asymm_advantages", "coord_ring", "forced_coord",
              "counter_circuit")


def _spec(name: str):
    if name in MPE:
        return "mpe", name, {}, 26  # JaxMARL's MPE is done after 25 steps' count + 1
    if name.startswith("smax-") and name[5:] in SMAX:
        from jaxmarl.environments.smax import map_name_to_scenario

        # JaxMARL's SMAX baselines' settings
        return "smax", "HeuristicEnemySMAX", dict(
            scenario=map_name_to_scenario(name[5:]), see_enemy_actions=True,
            walls_cause_death=True, attack_mode="closest"), 100
    if name.startswith("overcooked-") and name[11:] in OVERCOOKED:
        from jaxmarl.environments.overcooked import overcooked_layouts

        return "overcooked", "overcooked", dict(layout=overcooked_layouts[name[11:]]), 400
    if name == "coin_game":
        return "coin_game", "coin_game", {}, 100  # 10 games of 10 steps
    if name == "hanabi":
        return "hanabi", "hanabi", {}, 1000  # a game ends long before
    raise KeyError(name)


NAMES = (*MPE, *(f"smax-{m}" for m in SMAX), *(f"overcooked-{layout}" for layout in OVERCOOKED),
         "coin_game", "hanabi")


def _make(name: str, reset_mode: str = "fresh"):
    import jaxmarl

    family, jaxmarl_name, kwargs, steps = _spec(name)
    env = JaxMARLEnv(f"jaxmarl/{name}", jaxmarl.make(jaxmarl_name, **kwargs), family, steps,
                     reset_mode=reset_mode)
    return env, env.default_params


SUITE = Suite(
    prefix="jaxmarl", module="jaxmarl", extra="jaxmarl", names=lambda: NAMES, make=_make,
    param_kinds=lambda name: {"max_steps_in_episode": int}, options={"reset_mode": str},
    time_limit="JaxMARL's done at its own time limits (truncated; SMAX's eliminations and "
               "Hanabi's game end terminate); jaxrl also keeps params.max_steps_in_episode",
    description="multi-agent: MPE, SMAX (vs the heuristic enemy), Overcooked, Coin Game, "
                "Hanabi (ippo, mappo)",
)
