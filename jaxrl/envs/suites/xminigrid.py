"""XLand-MiniGrid (Nikulin et al., 2024): ``xminigrid/MiniGrid-DoorKey-5x5`` and the XLand
meta-RL envs (``xminigrid/XLand-MiniGrid-R1-9x9``, with the default ruleset).

XLand-MiniGrid follows dm_env: ``last()`` ends an episode, ``discount == 0`` marks a
termination and ``discount == 1`` the time limit (``step_num == params.max_steps``).
Its ``reset`` takes params first (``reset(params, key)``). The benchmark rulesets
(``xminigrid.load_benchmark``) are downloaded at run time; jaxrl cannot fetch them
offline and does not offer them. Observations are uint8 ``[view, view, 2]`` (tile,
colour), kept uint8 (a quarter of float32's bytes in replay buffers and rollouts).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Adapter
from jaxrl.envs.suites import Suite, reset_mode_option


class XMiniGridEnv(Adapter):
    step_uses_key = False  # the key lives in the state

    def __init__(self, env, params, reset_mode: str = "fresh"):
        self.xminigrid_env = env
        self._params = params
        self.reset_mode = reset_mode_option(reset_mode)

    @property
    def default_params(self):
        return self._params

    def with_params(self, params):
        return XMiniGridEnv(self.xminigrid_env, params, self.reset_mode)

    def reset_env(self, key, params):
        timestep = self.xminigrid_env.reset(params, key)
        return jnp.asarray(timestep.observation, jnp.uint8), timestep

    def step_env(self, key, state, action, params):
        timestep = self.xminigrid_env.step(params, state, action)
        last = timestep.last()
        return (jnp.asarray(timestep.observation, jnp.uint8), timestep, timestep.reward,
                last & (timestep.discount == 0), last & (timestep.discount != 0))

    def observation_space(self, params):
        return spaces.Box(0.0, 255.0, self.xminigrid_env.observation_shape(params),
                          np.dtype(np.uint8))

    def action_space(self, params):
        return spaces.Discrete(int(self.xminigrid_env.num_actions(params)))

    def max_episode_steps(self, params):
        return int(params.max_steps)


# xminigrid 0.9's ids, listed without importing it; a test checks it
NAMES = (
    'MiniGrid-BlockedUnlockPickUp', 'MiniGrid-DoorKey-16x16', 'MiniGrid-DoorKey-5x5',
    'MiniGrid-DoorKey-6x6', 'MiniGrid-DoorKey-8x8', 'MiniGrid-Empty-16x16',
    'MiniGrid-Empty-5x5', 'MiniGrid-Empty-6x6', 'MiniGrid-Empty-8x8',
    'MiniGrid-EmptyRandom-16x16', 'MiniGrid-EmptyRandom-5x5', 'MiniGrid-EmptyRandom-6x6',
    'MiniGrid-EmptyRandom-8x8', 'MiniGrid-FourRooms', 'MiniGrid-LockedRoom',
    'MiniGrid-MemoryS128', 'MiniGrid-MemoryS16', 'MiniGrid-MemoryS32', 'MiniGrid-MemoryS64',
    'MiniGrid-MemoryS8', 'MiniGrid-Playground', 'MiniGrid-Unlock', 'MiniGrid-UnlockPickUp',
    'XLand-MiniGrid-R1-11x11', 'XLand-MiniGrid-R1-13x13', 'XLand-MiniGrid-R1-15x15',
    'XLand-MiniGrid-R1-17x17', 'XLand-MiniGrid-R1-9x9', 'XLand-MiniGrid-R2-11x11',
    'XLand-MiniGrid-R2-13x13', 'XLand-MiniGrid-R2-15x15', 'XLand-MiniGrid-R2-17x17',
    'XLand-MiniGrid-R2-9x9', 'XLand-MiniGrid-R4-11x11', 'XLand-MiniGrid-R4-13x13',
    'XLand-MiniGrid-R4-15x15', 'XLand-MiniGrid-R4-17x17', 'XLand-MiniGrid-R4-9x9',
    'XLand-MiniGrid-R6-13x13', 'XLand-MiniGrid-R6-17x17', 'XLand-MiniGrid-R6-19x19',
    'XLand-MiniGrid-R9-16x16', 'XLand-MiniGrid-R9-19x19', 'XLand-MiniGrid-R9-25x25',
)


def _make(name, reset_mode: str = "fresh"):
    import xminigrid

    env, params = xminigrid.make(name)
    return XMiniGridEnv(env, params, reset_mode), params


SUITE = Suite(
    prefix="xminigrid", module="xminigrid", extra="xminigrid", names=lambda: NAMES, make=_make,
    # static fields (they decide shapes): set per run, never per member
    param_kinds=lambda name: {"height": int, "width": int, "view_size": int, "max_steps": int},
    options={"reset_mode": str},
    time_limit="dm_env TimeStep: last() with discount 0 a termination, with discount 1 the "
               "time limit (step_num == params.max_steps)",
    description="MiniGrid ports and the XLand meta-RL grid worlds",
)
