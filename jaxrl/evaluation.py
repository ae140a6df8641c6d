"""Deterministic evaluation of a policy on fresh episodes."""
from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp

from jaxrl.contract import as_policy
from jaxrl.envs import Env


def evaluate(env: Env, env_params: Any, policy: Any, key: jax.Array,
             num_episodes: int, max_steps: Optional[int] = None) -> jax.Array:
    """Returns the undiscounted return of ``num_episodes`` episodes, one per env copy.

    ``policy``: a ``contract.Policy`` (its carry starts at ``initial_carry``), or a plain
    ``act(obs) -> action``. Each copy runs until its first episode ends, so no carry is
    ever reset; the loop stops once all have ended (at most ``env.max_episode_steps``
    steps). Pass the same ``key`` to every population member so all are scored on the
    same episodes.
    """
    policy = as_policy(policy)
    env = env.for_evaluation()  # nothing after the first episode's end is used
    if max_steps is None:  # given where env_params are traced (a member's own)
        max_steps = env.max_episode_steps(env_params)
    reset_key, step_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_episodes), env_params)
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    active = jnp.ones((num_episodes,), bool)

    def cond(carry):
        t, _, _, _, _, active = carry
        return (t < max_steps) & jnp.any(active)

    def body(carry):
        t, memory, obs, state, returns, active = carry
        keys = jax.random.split(jax.random.fold_in(step_key, t), num_episodes)
        memory, action = policy.act(memory, obs)
        obs, state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None))(keys, state, action, env_params)
        returns = returns + jnp.where(active, reward, 0.0)
        active = active & ~(terminated | truncated)
        return t + 1, memory, obs, state, returns, active

    init = (0, policy.initial_carry(num_episodes), obs, state, zeros, active)
    return jax.lax.while_loop(cond, body, init)[4]


def evaluate_member(algo: Any, state: Any, key: jax.Array, num_episodes: int,
                    max_steps: Optional[int] = None) -> jax.Array:
    """A learner state's deterministic policy on ``algo.eval_env`` (the observation
    pipeline it was trained with) under ``algo.env_params`` (a member's own inside
    ``contract.member_env``): what the runner, the meta tasks and the meta pipeline
    score."""
    return evaluate(algo.eval_env, algo.env_params, algo.policy(state), key, num_episodes,
                    max_steps)
