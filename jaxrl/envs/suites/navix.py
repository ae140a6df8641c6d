"""Navix (Pignatelli et al., 2024): MiniGrid in JAX, ``navix/Navix-DoorKey-5x5-v0``.

A Navix ``Timestep`` marks how an episode ended in ``step_type``: 0 a transition, 1 a
truncation (``t >= max_steps``, a constructor argument: the ``max_steps`` option here,
100 by default), 2 a termination. Navix's ``step`` resets inside a ``lax.cond``, which
under vmap computes both branches; the adapter steps with ``_step`` (one transition)
and the shared auto-reset does the rest. Observations are Navix's default symbolic
grids (uint8 ``[H, W, 3]``), kept uint8 (a quarter of float32's bytes in replay
buffers and rollouts; networks and ``FlattenObservation`` read them as floats).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Adapter
from jaxrl.envs.suites import Suite, reset_mode_option


@struct.dataclass
class NoParams:
    """Navix's settings are static (its env is the pytree); nothing is traced."""


def convert_space(space) -> spaces.Space:
    """Navix declares [0, 8] for every categorical grid, but its symbolic grids (the
    default) hold MiniGrid's (object, colour, state) codes, some above 8: a uint8 grid
    is bounded by its dtype."""
    shape = tuple(space.shape)
    if np.dtype(space.dtype) == np.uint8:
        return spaces.Box(0.0, 255.0, shape, np.dtype(np.uint8))
    return spaces.Box(np.asarray(space.minimum, np.float32),
                      np.asarray(space.maximum, np.float32), shape)


class NavixEnv(Adapter):
    step_uses_key = False  # Navix keeps its key in its state

    def __init__(self, env, reset_mode: str = "fresh"):
        self.navix_env = env
        self.reset_mode = reset_mode_option(reset_mode)
        self._observation_space = convert_space(env.observation_space)
        self._action_space = spaces.Discrete(int(np.asarray(env.action_space.maximum)) + 1)

    @property
    def default_params(self):
        return NoParams()

    def reset_env(self, key, params):
        timestep = self.navix_env.reset(key)
        return self._obs(timestep), timestep

    def step_env(self, key, state, action, params):
        timestep = self.navix_env._step(state, action)
        return (self._obs(timestep), timestep, timestep.reward,
                timestep.step_type == 2, timestep.step_type == 1)

    def _obs(self, timestep):
        return jnp.asarray(timestep.observation, self._observation_space.dtype)

    def observation_space(self, params):
        return self._observation_space

    def action_space(self, params):
        return self._action_space

    def max_episode_steps(self, params):
        return int(self.navix_env.max_steps)


# navix 0.7's registry, listed without importing navix (seconds: it imports its
# agents); a test checks it
NAMES = (
    'Navix-DistShift1-v0', 'Navix-DistShift2-v0', 'Navix-DoorKey-16x16-v0',
    'Navix-DoorKey-5x5-v0', 'Navix-DoorKey-6x6-v0', 'Navix-DoorKey-8x8-v0',
    'Navix-DoorKey-Random-16x16-v0', 'Navix-DoorKey-Random-5x5-v0',
    'Navix-DoorKey-Random-6x6-v0', 'Navix-DoorKey-Random-8x8-v0',
    'Navix-Dynamic-Obstacles-16x16-v0', 'Navix-Dynamic-Obstacles-5x5-Random-v0',
    'Navix-Dynamic-Obstacles-5x5-v0', 'Navix-Dynamic-Obstacles-6x6-Random-v0',
    'Navix-Dynamic-Obstacles-6x6-v0', 'Navix-Dynamic-Obstacles-8x8-v0', 'Navix-Empty-16x16-v0',
    'Navix-Empty-5x5-v0', 'Navix-Empty-6x6-v0', 'Navix-Empty-8x8-v0',
    'Navix-Empty-Random-16x16-v0', 'Navix-Empty-Random-5x5-v0', 'Navix-Empty-Random-6x6-v0',
    'Navix-Empty-Random-8x8-v0', 'Navix-FourRooms-v0', 'Navix-GoToDoor-5x5-v0',
    'Navix-GoToDoor-6x6-v0', 'Navix-GoToDoor-8x8-v0', 'Navix-KeyCorridorS3R1-v0',
    'Navix-KeyCorridorS3R2-v0', 'Navix-KeyCorridorS3R3-v0', 'Navix-KeyCorridorS4R3-v0',
    'Navix-KeyCorridorS5R3-v0', 'Navix-KeyCorridorS6R3-v0', 'Navix-LavaGapS5-v0',
    'Navix-LavaGapS6-v0', 'Navix-LavaGapS7-v0', 'Navix-SimpleCrossingS11N5-v0',
    'Navix-SimpleCrossingS9N1-v0', 'Navix-SimpleCrossingS9N2-v0',
    'Navix-SimpleCrossingS9N3-v0',
)


def _make(name, max_steps: int = 100, reset_mode: str = "fresh"):
    import navix

    env = NavixEnv(navix.make(name, max_steps=max_steps), reset_mode)
    return env, env.default_params


SUITE = Suite(
    prefix="navix", module="navix", extra="navix", names=lambda: NAMES, make=_make,
    param_kinds=lambda name: {}, options={"max_steps": int, "reset_mode": str},
    time_limit="Timestep.step_type: 1 a truncation (t >= max_steps), 2 a termination",
    description="MiniGrid grid worlds",
)
