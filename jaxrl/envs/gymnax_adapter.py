"""Adapter for gymnax (>= 1.0) environments.

gymnax 1.0 already follows our protocol; the adapter fixes dtypes (float32 observations
and rewards, bool flags) so scan carries are stable across envs, and converts spaces.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Env


def convert_space(space) -> spaces.Space:
    name = type(space).__name__
    if name == "Discrete":
        return spaces.Discrete(int(space.n))
    if name == "Box":
        shape = tuple(space.shape) if not isinstance(space.shape, int) else (space.shape,)
        low = np.asarray(space.low, np.float32)
        high = np.asarray(space.high, np.float32)
        big = np.finfo(np.float32).max
        low = np.where(low <= -big, -np.inf, low)
        high = np.where(high >= big, np.inf, high)
        return spaces.Box(low, high, shape)
    raise TypeError(f"unsupported gymnax space {space!r}")


def _obs(x):
    return jnp.asarray(x, jnp.float32)


class GymnaxEnv(Env):
    def __init__(self, env, env_id: str, params=None):
        self.gymnax_env = env
        self.id = env_id
        # Spaces are static: read them once from concrete params, never from traced ones.
        params = env.default_params if params is None else params
        self._params = params
        self._observation_space = convert_space(env.observation_space(params))
        self._action_space = convert_space(env.action_space(params))

    @property
    def default_params(self):
        """The params ``make`` built (gymnax defaults with the overrides applied)."""
        return self._params

    def reset(self, key, params):
        obs, state = self.gymnax_env.reset(key, params)
        return _obs(obs), state

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.gymnax_env.step(
            key, state, action, params)
        terminated = jnp.asarray(terminated, bool)
        truncated = jnp.asarray(truncated, bool) & ~terminated
        info = {
            "final_observation": _obs(info["final_observation"]),
            "terminated": terminated,
            "truncated": truncated,
        }
        return _obs(obs), state, jnp.asarray(reward, jnp.float32), terminated, truncated, info

    def observation_space(self, params):
        return self._observation_space

    def action_space(self, params):
        return self._action_space

    def max_episode_steps(self, params):
        return int(params.max_steps_in_episode)
