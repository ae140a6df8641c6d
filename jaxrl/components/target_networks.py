"""Target-network updates: Polyak averaging and periodic hard copies."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax


def polyak(target: Any, online: Any, tau: jax.Array) -> Any:
    """``(1 - tau) * target + tau * online`` (tau = 1: a hard copy)."""
    return optax.incremental_update(online, target, tau)


def periodic(target: Any, online: Any, step: jax.Array, period: jax.Array) -> Any:
    """A hard copy of ``online`` when ``step`` is a multiple of ``period``."""
    copy = (step % jnp.maximum(period, 1)) == 0
    return jax.tree.map(lambda t, o: jnp.where(copy, o, t), target, online)
