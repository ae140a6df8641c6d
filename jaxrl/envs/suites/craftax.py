"""Craftax (Matthews et al., 2024): ``craftax/Craftax-Classic-Symbolic-v1`` and the other
three (Classic / full, Symbolic / Pixels).

Craftax's step returns one ``done`` that is also set at its time limit
(``state.timestep >= params.max_timesteps``, 10,000 steps by default). The adapter keeps
them apart: ``terminated`` is Craftax's own game-over test with the time limit lifted
(death, lava, the final boss beaten), ``truncated`` a ``done`` that is not that. Craftax
generates a world at every reset, the costliest part of a step under vmap: with
``reset_mode="first_state"`` every episode of a copy replays the world drawn at
``reset`` (cheap, less diverse); ``reset_mode="optimistic"`` generates one fresh world per
16 copies per step and hands them to the copies whose episodes ended (``VecEnv``): at
256 PPO members here, 3.2k env steps/s fresh, 6.4k optimistic, 10.4k first_state.
"""
from __future__ import annotations

import jax.numpy as jnp

from jaxrl.envs.suites import Suite, dataclass_kinds, reset_mode_option
from jaxrl.envs.suites.gymnax import GymnaxEnv

NAMES = ("Craftax-Classic-Symbolic-v1", "Craftax-Classic-Pixels-v1", "Craftax-Symbolic-v1",
         "Craftax-Pixels-v1")
NO_TIME_LIMIT = 2**31 - 1


class CraftaxEnv(GymnaxEnv):
    """Craftax's envs are gymnax-style; only their one ``done`` needs splitting."""

    def __init__(self, env, env_id: str, params, reset_mode: str = "fresh"):
        super().__init__(env, env_id, params)
        self.reset_mode = reset_mode_option(reset_mode)

    def step_env(self, key, state, action, params):
        obs, state, reward, done, _ = self.gymnax_env.step_env(key, state, action, params)
        no_limit = params.replace(max_timesteps=NO_TIME_LIMIT)
        terminated = self.gymnax_env.is_terminal(state, no_limit)
        truncated = jnp.asarray(done, bool) & ~terminated
        return jnp.asarray(obs, jnp.float32), state, reward, terminated, truncated

    def max_episode_steps(self, params):
        return int(params.max_timesteps)


def _make(name, reset_mode: str = "fresh"):
    from craftax.craftax_env import make_craftax_env_from_name

    env = make_craftax_env_from_name(name, auto_reset=False)
    params = env.default_params
    return CraftaxEnv(env, f"craftax/{name}", params, reset_mode), params


def _param_kinds(name):
    return dataclass_kinds(_make(name)[1])


SUITE = Suite(
    prefix="craftax", module="craftax", extra="craftax", names=lambda: NAMES, make=_make,
    param_kinds=_param_kinds, options={"reset_mode": str},
    time_limit="one `done`, also set at state.timestep >= params.max_timesteps (10,000); "
               "jaxrl splits it with Craftax's game-over test at no time limit",
    description="open-ended survival and crafting (Classic and full; symbolic and pixels)",
)
