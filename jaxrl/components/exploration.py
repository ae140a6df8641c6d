"""Exploration schedules and epsilon-greedy action selection."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrl.components.counters import StepCount


def linear_schedule(start: jax.Array, end: jax.Array, duration: jax.Array,
                    step: jax.Array) -> jax.Array:
    """``start`` at step 0, linearly to ``end`` at ``duration`` steps, ``end`` after."""
    frac = jnp.clip(step / jnp.maximum(duration, 1e-8), 0.0, 1.0)
    return start + frac * (end - start)


def decay_over_run(start: jax.Array, end: jax.Array, fraction: jax.Array,
                   total_timesteps: int, env_steps: StepCount) -> jax.Array:
    """``start`` to ``end`` over the first ``fraction`` of a run of ``total_timesteps``
    env steps, ``end`` after. ``total_timesteps`` is a static Python int that may pass
    int32 (a traced product with it would overflow), so it enters as a float."""
    return linear_schedule(start, end, fraction * float(total_timesteps),
                           env_steps.as_float())


def epsilon_greedy(key: jax.Array, q_values: jax.Array, epsilon: jax.Array,
                   legal: jax.Array | None = None) -> jax.Array:
    """Greedy actions over the last axis, each replaced by a uniform one w.p. epsilon
    (leading axes are batch axes); with ``legal`` (a mask like ``q_values``), a uniform
    legal one (``q_values`` are masked already: the greedy action is legal)."""
    from jaxrl.components.action_masks import random_legal

    explore_key, action_key = jax.random.split(key)
    greedy = jnp.argmax(q_values, axis=-1)
    if legal is None:
        random = jax.random.randint(action_key, greedy.shape, 0, q_values.shape[-1])
    else:
        random = random_legal(action_key, legal)
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy).astype(jnp.int32)
