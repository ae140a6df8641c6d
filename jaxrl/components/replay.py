"""A replay buffer whose state is a pytree inside the learner state (vmapped over members,
sharded, checkpointed), with uniform or prioritised sampling of n-step windows.

Layout: ``[capacity, num_envs, ...]``, time-major per env, written one row (one step of
every env) at a time, oldest rows overwritten first. Keeping each env's steps in order
lets a sample be a window of ``n`` consecutive steps of one env, from which the learner
forms an n-step target (``targets.n_step_return``), cut at episode ends.

Prioritised replay (Schaul et al., 2016) is exact and vmappable: sampling probabilities
``p_i^alpha / sum_j p_j^alpha`` by inverse-CDF over a cumulative sum of the priorities
(one O(capacity * num_envs) scan per batch, no tree), stratified over the batch;
importance weights ``(N P(i))^-beta`` normalised by their maximum over the batch.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayState:
    data: Any              # pytree of [capacity, num_envs, ...]
    priorities: jax.Array  # [capacity, num_envs] ([1, 1] placeholder when uniform)
    max_priority: jax.Array
    ptr: jax.Array         # next row to write
    size: jax.Array        # rows written (<= capacity)


@struct.dataclass
class ReplaySample:
    data: Any              # pytree of [batch, n, ...]: windows of n consecutive steps
    rows: jax.Array        # [batch] first row of each window
    envs: jax.Array        # [batch]
    weights: jax.Array     # [batch] importance weights (ones when uniform)


class ReplayBuffer:
    """``capacity`` rows of ``num_envs`` transitions each (capacity * num_envs in all)."""

    def __init__(self, capacity: int, num_envs: int, window: int = 1,
                 prioritized: bool = False):
        if capacity < window + 1:
            raise ValueError(f"replay capacity {capacity} rows must exceed the n-step "
                             f"window {window}")
        self.capacity, self.num_envs, self.window = capacity, num_envs, window
        self.prioritized = prioritized

    def init(self, example: Any) -> ReplayState:
        """``example``: one env's transition (a pytree of arrays), for shapes/dtypes."""
        data = jax.tree.map(
            lambda x: jnp.zeros((self.capacity, self.num_envs) + jnp.shape(x),
                                jnp.asarray(x).dtype), example)
        shape = (self.capacity, self.num_envs) if self.prioritized else (1, 1)  # unused
        return ReplayState(data, jnp.ones(shape, jnp.float32),
                           jnp.ones((), jnp.float32), jnp.zeros((), jnp.int32),
                           jnp.zeros((), jnp.int32))

    def add(self, state: ReplayState, rows: Any) -> ReplayState:
        """Appends ``rows`` (pytree of ``[k, num_envs, ...]``, k consecutive steps)."""
        k = jax.tree.leaves(rows)[0].shape[0]
        index = (state.ptr + jnp.arange(k)) % self.capacity
        data = jax.tree.map(lambda buf, x: buf.at[index].set(x.astype(buf.dtype)),
                            state.data, rows)
        priorities = state.priorities
        if self.prioritized:  # new transitions are replayed at least once, soon
            priorities = priorities.at[index].set(state.max_priority)
        return state.replace(data=data, priorities=priorities,
                             ptr=(state.ptr + k) % self.capacity,
                             size=jnp.minimum(state.size + k, self.capacity))

    def can_sample(self, state: ReplayState) -> jax.Array:
        return state.size >= self.window

    def _valid_starts(self, state: ReplayState) -> jax.Array:
        """``[capacity]`` mask of rows a full window can start at: written, and the
        window's last row written (windows never run past the newest row)."""
        age = (state.ptr - 1 - jnp.arange(self.capacity)) % self.capacity  # 0 = newest
        return (age < state.size) & (age >= self.window - 1)

    def sample(self, state: ReplayState, key: jax.Array, batch_size: int,
               alpha: jax.Array = 1.0, beta: jax.Array = 1.0) -> ReplaySample:
        if not self.prioritized:  # O(batch): uniform over valid window starts directly
            row_key, env_key = jax.random.split(key)
            starts = jnp.maximum(state.size - self.window + 1, 1)
            oldest = (state.ptr - state.size) % self.capacity
            rows = (oldest + jax.random.randint(row_key, (batch_size,), 0, starts)) \
                % self.capacity
            envs = jax.random.randint(env_key, (batch_size,), 0, self.num_envs)
            return ReplaySample(self._windows(state, rows, envs), rows, envs,
                                jnp.ones((batch_size,), jnp.float32))
        valid = self._valid_starts(state)[:, None] & jnp.ones((1, self.num_envs), bool)
        p = jnp.where(valid, state.priorities ** alpha, 0.0).reshape(-1)
        cdf = jnp.cumsum(p)
        total = cdf[-1]
        # stratified: one uniform draw in each of batch_size equal slices of the mass
        u = (jnp.arange(batch_size) + jax.random.uniform(key, (batch_size,))) / batch_size
        flat = jnp.searchsorted(cdf, u * total, side="right")
        flat = jnp.minimum(flat, p.shape[0] - 1)
        rows, envs = flat // self.num_envs, flat % self.num_envs
        prob = p[flat] / jnp.maximum(total, 1e-12)
        count = jnp.maximum(jnp.sum(valid), 1)
        w = (count * jnp.maximum(prob, 1e-12)) ** (-beta)
        return ReplaySample(self._windows(state, rows, envs), rows, envs, w / jnp.max(w))

    def _windows(self, state: ReplayState, rows: jax.Array, envs: jax.Array) -> Any:
        window_rows = (rows[:, None] + jnp.arange(self.window)[None, :]) % self.capacity
        return jax.tree.map(lambda buf: buf[window_rows, envs[:, None]], state.data)

    def update_priorities(self, state: ReplayState, sample: ReplaySample,
                          priorities: jax.Array) -> ReplayState:
        """Sets the sampled windows' priorities (e.g. |TD error| + eps)."""
        if not self.prioritized:
            return state
        new = state.priorities.at[sample.rows, sample.envs].set(priorities)
        return state.replace(priorities=new,
                             max_priority=jnp.maximum(state.max_priority, priorities.max()))
