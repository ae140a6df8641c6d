"""pgx (Koyamada et al., 2023): its one-player games, ``pgx/minatar-breakout`` (the five
MinAtar games) and ``pgx/2048``.

A pgx state carries ``terminated`` and ``truncated``; pgx's envs never truncate, so jaxrl
keeps a time limit (``params.max_steps_in_episode``: 1,000 for MinAtar, as gymnax's
MinAtar ports, and 10,000 for 2048). ``rewards`` is per player; a one-player game's
is its first entry. 2048's observation carries its legal-action mask
(``{"board", "action_mask"}``), which every discrete learner honours. The games of two
or more players (chess, go, ...) need an opponent or self-play, which single-agent
training does not define: they are refused.
"""
from __future__ import annotations

import jax.numpy as jnp

from jaxrl.envs import spaces
from jaxrl.envs.core import Adapter, EpisodeParams
from jaxrl.envs.suites import Suite, reset_mode_option

ONE_PLAYER = ("2048", "minatar-asterix", "minatar-breakout", "minatar-freeway",
              "minatar-seaquest", "minatar-space_invaders")


class PgxEnv(Adapter):
    keeps_time_limit = True

    def __init__(self, env, time_limit: int, reset_mode: str = "fresh"):
        self.pgx_env = env
        self.time_limit = int(time_limit)
        self.reset_mode = reset_mode_option(reset_mode)

    @property
    def default_params(self):
        return EpisodeParams(max_steps_in_episode=self.time_limit)

    def with_params(self, params):
        return PgxEnv(self.pgx_env, int(params.max_steps_in_episode), self.reset_mode)

    @property
    def has_illegal_actions(self) -> bool:
        """MinAtar allows every action in every state; 2048 does not (a move that
        shifts no tile)."""
        return not self.pgx_env.id.startswith("minatar")

    def _observe(self, state):
        obs = jnp.asarray(state.observation, jnp.float32)
        if not self.has_illegal_actions:
            return obs
        return {"board": obs, "action_mask": state.legal_action_mask.astype(jnp.float32)}

    def reset_env(self, key, params):
        state = self.pgx_env.init(key)
        return self._observe(state), state

    def step_env(self, key, state, action, params):
        state = self.pgx_env.step(state, action, key)
        return self._observe(state), state, state.rewards[0], state.terminated, state.truncated

    def observation_space(self, params):
        # both MinAtar's and 2048's boards are bool planes
        board = spaces.Box(0.0, 1.0, tuple(self.pgx_env.observation_shape))
        if not self.has_illegal_actions:
            return board
        return spaces.Dict({"board": board,
                            "action_mask": spaces.Box(0.0, 1.0, (int(self.pgx_env.num_actions),))})

    def action_space(self, params):
        return spaces.Discrete(int(self.pgx_env.num_actions))


# pgx 2.6's games (pgx.available_envs()), listed without importing pgx
NAMES = ("2048", "animal_shogi", "backgammon", "chess", "connect_four", "gardner_chess",
         "go_9x9", "go_19x19", "hex", "kuhn_poker", "leduc_holdem", "minatar-asterix",
         "minatar-breakout", "minatar-freeway", "minatar-seaquest", "minatar-space_invaders",
         "othello", "shogi", "sparrow_mahjong", "tic_tac_toe")
_MULTI_PLAYER = ("a game of two or more players; jaxrl trains one agent (pgx's one-player "
                 "games: 2048, minatar-*)")


def _make(name, reset_mode: str = "fresh"):
    import pgx

    env = pgx.make(name)
    adapted = PgxEnv(env, 10_000 if name == "2048" else 1000, reset_mode)
    return adapted, adapted.default_params


SUITE = Suite(
    prefix="pgx", module="pgx", extra="pgx", names=lambda: NAMES, make=_make,
    param_kinds=lambda name: {"max_steps_in_episode": int}, options={"reset_mode": str},
    refused={name: _MULTI_PLAYER for name in NAMES if name not in ONE_PLAYER},
    time_limit="State.terminated and State.truncated; pgx never truncates, so jaxrl keeps "
               "params.max_steps_in_episode",
    description="MinAtar and 2048 (board games need self-play: refused)",
)
