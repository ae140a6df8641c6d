"""Recurrent rollouts cut into training sequences that keep time order.

A recurrent learner's rollout is ``[T, N]`` (steps x envs). It trains on sequences of
``L`` consecutive steps of one env (``L = T``: whole rollouts), each starting from the
carry the policy had there when it acted (stored, as R2D2 stores them; Kapturowski et
al., 2019), and resetting inside the sequence where an episode ended, exactly as the
rollout did (``contract.reset_carry``). Minibatches are drawn from whole sequences, so
the shuffle never breaks one.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.contract import reset_carry


def carries_in(initial: Any, carries_out: Any, done: jax.Array) -> Any:
    """The carry each step of a rollout started from, ``[T, N, ...]``: ``initial`` (the
    rollout's first, already reset where an episode had just ended) at step 0, then the
    previous step's output carry, zeroed where that step ended an episode."""
    def shift(c0, out):
        later = reset_carry(done[:-1], out[:-1], jnp.zeros_like(out[:-1]))
        return jnp.concatenate([c0[None], later], axis=0)

    return jax.tree.map(shift, initial, carries_out)


def episode_starts(done: jax.Array) -> jax.Array:
    """``[T, N]``: where a step's carry must be reset (the previous step ended an
    episode). Step 0's carry comes in already reset, so it is never flagged."""
    return jnp.concatenate([jnp.zeros_like(done[:1]), done[:-1]], axis=0)


def to_sequences(tree: Any, length: int) -> Any:
    """Leaves ``[T, N, ...]`` as ``[T / length * N, length, ...]`` batch-major sequences
    (the chunk index outer, the env inner)."""
    def cut(x):
        t, n = x.shape[:2]
        x = x.reshape((t // length, length, n) + x.shape[2:])
        return jnp.swapaxes(x, 1, 2).reshape((t // length * n, length) + x.shape[3:])

    return jax.tree.map(cut, tree)


def sequence_starts(carries: Any, length: int) -> Any:
    """The stored carry at the first step of each ``to_sequences`` sequence:
    ``[T, N, ...]`` -> ``[T / length * N, ...]``."""
    return jax.tree.map(lambda c: c[::length].reshape((-1,) + c.shape[2:]), carries)


def time_major(tree: Any) -> Any:
    """``[B, L, ...]`` minibatch sequences as ``[L, B, ...]``."""
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)
