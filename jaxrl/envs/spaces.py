"""Action and observation spaces.

Spaces are plain Python objects (static: they decide shapes), never traced.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Discrete:
    """Integer actions in ``[0, n)``."""

    n: int
    dtype: np.dtype = np.dtype(np.int32)

    @property
    def shape(self) -> Tuple[int, ...]:
        return ()

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (), 0, self.n, dtype=self.dtype)

    def contains(self, x) -> jax.Array:
        x = jnp.asarray(x)
        return (x >= 0) & (x < self.n)


@dataclasses.dataclass(frozen=True, eq=False)
class Box:
    """Real-valued arrays with element-wise bounds (``low``/``high`` may be +-inf)."""

    low: np.ndarray
    high: np.ndarray
    shape: Tuple[int, ...]
    dtype: np.dtype = np.dtype(np.float32)

    def __post_init__(self):
        shape = tuple(int(s) for s in self.shape)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "low", np.broadcast_to(np.asarray(self.low, np.float32), shape))
        object.__setattr__(self, "high", np.broadcast_to(np.asarray(self.high, np.float32), shape))

    @property
    def bounded(self) -> bool:
        return bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))

    def sample(self, key: jax.Array) -> jax.Array:
        low = np.where(np.isfinite(self.low), self.low, -1.0)
        high = np.where(np.isfinite(self.high), self.high, 1.0)
        if np.issubdtype(self.dtype, np.integer):  # e.g. uint8 images
            return jax.random.randint(key, self.shape, low.astype(np.int32),
                                      high.astype(np.int32) + 1).astype(self.dtype)
        return jax.random.uniform(key, self.shape, self.dtype, low, high)

    def contains(self, x) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.all((x >= self.low) & (x <= self.high))

    def __repr__(self) -> str:
        lo, hi = np.unique(self.low), np.unique(self.high)
        lo = lo[0] if lo.size == 1 else "..."
        hi = hi[0] if hi.size == 1 else "..."
        return f"Box(low={lo}, high={hi}, shape={self.shape})"


@dataclasses.dataclass(frozen=True, eq=False)
class MultiDiscrete:
    """A vector of integer actions, entry ``i`` in ``[0, nvec[i])`` (Jumanji's
    packing and scheduling envs)."""

    nvec: np.ndarray
    dtype: np.dtype = np.dtype(np.int32)

    def __post_init__(self):
        object.__setattr__(self, "nvec", np.asarray(self.nvec, np.int64))

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.nvec.shape)

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, self.shape, 0, self.nvec, dtype=self.dtype)

    def contains(self, x) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.all((x >= 0) & (x < self.nvec))

    def __repr__(self) -> str:
        return f"MultiDiscrete({self.nvec.tolist()})"


@dataclasses.dataclass(frozen=True, eq=False)
class Dict:
    """A structured observation: named sub-spaces (Jumanji's and Playground's
    observations). A torso that wants the structure gets the dict; an MLP gets the leaves
    flattened and concatenated in sorted-name order (``FlattenObservation``)."""

    spaces: Mapping[str, "Space"]

    def __post_init__(self):
        object.__setattr__(self, "spaces", dict(sorted(self.spaces.items())))

    @property
    def shape(self):
        raise AttributeError("a Dict space has no single shape; see its .spaces")

    def sample(self, key: jax.Array):
        keys = jax.random.split(key, len(self.spaces))
        return {name: space.sample(k) for (name, space), k in zip(self.spaces.items(), keys)}

    def contains(self, x) -> jax.Array:
        return jnp.all(jnp.stack([jnp.all(space.contains(x[name]))
                                  for name, space in self.spaces.items()]))

    def __repr__(self) -> str:
        return f"Dict({', '.join(f'{k}={v!r}' for k, v in self.spaces.items())})"


Space = Union[Discrete, MultiDiscrete, Box, Dict]


def flat_dim(space: Space) -> int:
    if isinstance(space, Dict):
        return sum(flat_dim(s) for s in space.spaces.values())
    if isinstance(space, Discrete):
        return space.n  # one-hot
    return int(np.prod(space.shape)) if space.shape else 1
