"""Memory accounting before compiling: refuse (today) what would not fit."""
from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import numpy as np

from jaxrl.config import ConfigError

if TYPE_CHECKING:
    from jaxrl.runner.config import RunConfig


def estimate_member_bytes(algo, hp_one) -> int:
    """Learner state plus (if the algorithm says) its per-update working set."""
    shapes = jax.eval_shape(algo.init, jax.random.PRNGKey(0), hp_one)
    state = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    transient = algo.transient_bytes_per_member()
    return 3 * state + transient  # state in, state out, and the frozen copy


def available_memory_bytes() -> int:
    device = jax.devices()[0]
    if device.platform != "cpu":
        limit = (device.memory_stats() or {}).get("bytes_limit")
        if limit:
            return int(limit) * len(jax.devices())
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(algo, hp_one, members: int, run_config: RunConfig) -> None:
    """Refuse a population whose estimated footprint exceeds the memory budget."""
    per = estimate_member_bytes(algo, hp_one)
    need, have = per * members, available_memory_bytes()
    if need > run_config.memory_fraction * have:
        fits = max(0, int(run_config.memory_fraction * have // per))
        raise ConfigError(
            f"population of {members} members needs about {need / 2**30:.1f} GiB but "
            f"{have / 2**30:.1f} GiB is available; use at most {fits} members (--num-seeds) "
            f"or smaller num_envs/num_steps")
