"""Env-step counters that do not wrap at 2**31.

JAX runs without 64-bit integers by default, and an int32 count of env steps wraps
after 2.1e9 steps: one member of a long brax run gets there. ``StepCount`` keeps the
count in two int32 words, exact to 2**60; schedules read it as a float32.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

LOW_BITS = 30
UNIT = 1 << LOW_BITS  # one unit of ``high``


@struct.dataclass
class StepCount:
    """``high * 2**30 + low`` steps, ``0 <= low < 2**30``."""

    high: jax.Array
    low: jax.Array

    @classmethod
    def zero(cls) -> "StepCount":
        return cls.of(0)

    @classmethod
    def of(cls, steps: int) -> "StepCount":
        """A count of ``steps`` (a Python int, any size below 2**60)."""
        return cls(jnp.asarray(steps // UNIT, jnp.int32), jnp.asarray(steps % UNIT, jnp.int32))

    def add(self, steps: int) -> "StepCount":
        """The count after ``steps`` more (a non-negative Python int: a static loop size)."""
        low = self.low + steps % UNIT  # < 2**31: no overflow
        return StepCount(self.high + steps // UNIT + (low >> LOW_BITS), low & (UNIT - 1))

    def at_least(self, threshold: jax.Array) -> jax.Array:
        """Exact ``count >= threshold`` for an int32 threshold (e.g. learning_starts)."""
        threshold = jnp.asarray(threshold, jnp.int32)
        t_high, t_low = threshold >> LOW_BITS, threshold & (UNIT - 1)
        return (self.high > t_high) | ((self.high == t_high) & (self.low >= t_low))

    def as_float(self) -> jax.Array:
        """The count as float32 (relative error below 1e-7): for schedules."""
        return self.high.astype(jnp.float32) * float(UNIT) + self.low.astype(jnp.float32)

    def exact(self) -> np.ndarray:
        """The exact count(s) on the host, as int64 (any batch shape)."""
        return np.asarray(self.high, np.int64) * UNIT + np.asarray(self.low, np.int64)
