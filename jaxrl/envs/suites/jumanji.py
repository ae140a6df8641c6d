"""Jumanji (InstaDeep): ``jumanji/Snake-v1`` and every registered id.

Jumanji follows dm_env: a ``TimeStep`` whose ``last()`` ends the episode, with
``discount == 0`` where the episode terminated and ``discount > 0`` where it was cut at
the env's ``time_limit`` (a constructor argument of the envs that have one). The adapter
reads that discount, and jaxrl keeps a time limit of its own as well
(``params.max_steps_in_episode``, defaulting to the env's ``time_limit`` or 1,000) so
every id has a bound, however its own is set. Observations are named tuples: the
adapter gives dicts (``spaces.Dict``), flattened for an MLP; the legal-action mask many
of them carry (``action_mask``) is part of the observation.
"""
from __future__ import annotations

import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Adapter, EpisodeParams
from jaxrl.envs.suites import Suite

DEFAULT_TIME_LIMIT = 1000


def convert_spec(spec, observation: bool) -> spaces.Space:
    """A Jumanji spec as a jaxrl space. In observations every array (discrete ones too:
    a step count with 4,000 values is not a one-hot) is a float Box."""
    from jumanji import specs

    if isinstance(spec, specs.MultiDiscreteArray):
        if observation:
            return spaces.Box(0.0, np.asarray(spec.num_values, np.float32) - 1, spec.shape)
        return spaces.MultiDiscrete(np.asarray(spec.num_values))
    if isinstance(spec, specs.DiscreteArray):
        if observation:
            return spaces.Box(0.0, float(spec.num_values - 1), spec.shape)
        return spaces.Discrete(int(spec.num_values))
    if isinstance(spec, specs.BoundedArray) and not observation \
            and np.issubdtype(np.dtype(spec.dtype), np.integer):
        # integer actions given as a bounded array (MultiCVRP's vehicles): one choice each
        low = np.asarray(spec.minimum)
        if np.any(low != 0):
            raise ValueError(f"integer actions from {low} are not supported")
        return spaces.MultiDiscrete(np.broadcast_to(np.asarray(spec.maximum) + 1, spec.shape))
    if isinstance(spec, specs.BoundedArray):
        return spaces.Box(np.asarray(spec.minimum, np.float32),
                          np.asarray(spec.maximum, np.float32), spec.shape)
    if isinstance(spec, specs.Array):
        return spaces.Box(-np.inf, np.inf, spec.shape)
    return spaces.Dict({name: convert_spec(part, observation)
                        for name, part in spec._specs.items()})


def as_observation(obs):
    """Named tuples and dataclasses (nested ones too) as dicts of float32 arrays."""
    import dataclasses

    import jax.numpy as jnp

    if hasattr(obs, "_asdict"):
        return {name: as_observation(value) for name, value in obs._asdict().items()}
    if dataclasses.is_dataclass(obs):
        return {f.name: as_observation(getattr(obs, f.name)) for f in dataclasses.fields(obs)}
    if isinstance(obs, dict):
        return {name: as_observation(value) for name, value in obs.items()}
    return jnp.asarray(obs, jnp.float32)


class JumanjiEnv(Adapter):
    step_uses_key = False  # a Jumanji step draws from the key in its state
    keeps_time_limit = True

    def __init__(self, env, time_limit: int):
        self.jumanji_env = env
        self.time_limit = int(time_limit)
        self._observation_space = convert_spec(env.observation_spec, observation=True)
        self._action_space = convert_spec(env.action_spec, observation=False)

    @property
    def default_params(self):
        return EpisodeParams(max_steps_in_episode=self.time_limit)

    def with_params(self, params):
        return JumanjiEnv(self.jumanji_env, int(params.max_steps_in_episode))

    def reset_env(self, key, params):
        state, timestep = self.jumanji_env.reset(key)
        return as_observation(timestep.observation), state

    def step_env(self, key, state, action, params):
        state, timestep = self.jumanji_env.step(state, action)
        last = timestep.last()
        terminated = last & (timestep.discount == 0)
        truncated = last & (timestep.discount != 0)
        return as_observation(timestep.observation), state, timestep.reward, terminated, truncated

    def observation_space(self, params):
        return self._observation_space

    def action_space(self, params):
        return self._action_space


# jumanji 1.1's ids, listed without importing it; a test checks it
NAMES = (
    'BinPack-v2', 'CVRP-v1', 'Cleaner-v0', 'Connector-v3', 'FlatPack-v0', 'Game2048-v1',
    'GraphColoring-v1', 'JobShop-v0', 'Knapsack-v1', 'LevelBasedForaging-v0', 'MMST-v0',
    'Maze-v0', 'Minesweeper-v0', 'MultiCVRP-v0', 'PacMan-v1', 'RobotWarehouse-v0',
    'RubiksCube-partly-scrambled-v0', 'RubiksCube-v0', 'SearchAndRescue-v0',
    'SlidingTilePuzzle-v0', 'Snake-v1', 'Sokoban-v0', 'Sudoku-v0', 'Sudoku-very-easy-v0',
    'TSP-v1', 'Tetris-v0',
)


def _make(name):
    import jumanji

    env = jumanji.make(name)
    limit = getattr(env, "time_limit", None)
    jumanji_env = JumanjiEnv(env, int(limit) if limit else DEFAULT_TIME_LIMIT)
    return jumanji_env, jumanji_env.default_params


_MULTI_AGENT = "a reward per agent (multi-agent); jaxrl trains one agent on one reward"
REFUSED = {"Connector-v3": _MULTI_AGENT, "LevelBasedForaging-v0": _MULTI_AGENT,
           "SearchAndRescue-v0": _MULTI_AGENT,
           "Sokoban-v0": "it downloads its levels from the Hugging Face hub, which needs a "
                         "network"}

SUITE = Suite(
    prefix="jumanji", module="jumanji", extra="jumanji", names=lambda: NAMES, make=_make,
    refused=REFUSED,
    param_kinds=lambda name: {"max_steps_in_episode": int},
    time_limit="dm_env TimeStep: last() with discount 0 is a termination, with discount "
               "> 0 a time limit (the env's time_limit); jaxrl also keeps "
               "params.max_steps_in_episode",
    description="combinatorial problems and games (routing, packing, logic)",
)
