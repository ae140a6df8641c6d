"""Advantage estimation shared by on-policy learners."""
from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp


def compute_gae(rewards: jax.Array, values: jax.Array, next_values: jax.Array,
                terminated: jax.Array, truncated: jax.Array, gamma, gae_lambda
                ) -> Tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a time-major ``[T, ...]`` rollout.

    ``next_values[t]`` is V of the true successor of step t, i.e. of
    ``info["final_observation"]``, which differs from the next stored observation only
    where an episode ended and the env auto-reset. So a truncated step bootstraps from
    V(final observation), a terminated step bootstraps from nothing, and the
    lambda-trace is cut at both (the next stored step belongs to a new episode).

    Returns ``(advantages, returns)`` with ``returns = advantages + values``.
    """
    not_terminated = 1.0 - terminated.astype(values.dtype)
    continues = 1.0 - (terminated | truncated).astype(values.dtype)
    deltas = rewards + gamma * next_values * not_terminated - values

    def backward(carry, x):
        delta, cont = x
        carry = delta + gamma * gae_lambda * cont * carry
        return carry, carry

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, continues),
                                 reverse=True)
    return advantages, advantages + values


def normalize(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    return (x - x.mean()) / (x.std() + eps)
