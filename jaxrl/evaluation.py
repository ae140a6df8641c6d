"""Deterministic evaluation of a policy on fresh episodes."""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from jaxrl.envs import Env


def evaluate(env: Env, env_params: Any, act: Callable, key: jax.Array,
             num_episodes: int, max_steps: Optional[int] = None) -> jax.Array:
    """Returns the undiscounted return of ``num_episodes`` episodes, one per env copy.

    Each copy runs until its first episode ends; the loop stops once all have ended (at
    most ``env.max_episode_steps`` steps). Pass the same ``key`` to every population
    member so all are scored on the same episodes.
    """
    env = env.for_evaluation()  # nothing after the first episode's end is used
    if max_steps is None:  # given where env_params are traced (a member's own)
        max_steps = env.max_episode_steps(env_params)
    reset_key, step_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_episodes), env_params)
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    active = jnp.ones((num_episodes,), bool)

    def cond(carry):
        t, _, _, _, active = carry
        return (t < max_steps) & jnp.any(active)

    def body(carry):
        t, obs, state, returns, active = carry
        keys = jax.random.split(jax.random.fold_in(step_key, t), num_episodes)
        obs, state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None))(keys, state, act(obs), env_params)
        returns = returns + jnp.where(active, reward, 0.0)
        active = active & ~(terminated | truncated)
        return t + 1, obs, state, returns, active

    _, _, _, returns, _ = jax.lax.while_loop(cond, body, (0, obs, state, zeros, active))
    return returns
