"""Using every CPU core: one XLA host device per core, the population sharded over them.

XLA:CPU runs a scan of small kernels (a PPO update) on roughly one core. The driver
already shards the member axis over ``jax.devices()``, so exposing one host device per
core lets each core run its own slice of the population. This must happen before JAX
initialises its backends; the CLI calls it first thing. An ``XLA_FLAGS`` that already
sets the device count wins. On GPU/TPU the flag only affects the (unused) host platform.
"""
from __future__ import annotations

import os
from typing import Optional

FLAG = "--xla_force_host_platform_device_count"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def host_device_count(population_size: Optional[int], cores: Optional[int] = None) -> int:
    """The most devices (at most one per core) that split the population evenly."""
    cores = cores or usable_cores()
    if not population_size:
        return cores
    return max(d for d in range(1, cores + 1) if population_size % d == 0)


def configure_cpu_devices(population_size: Optional[int] = None) -> int:
    """Sets ``XLA_FLAGS`` for one host device per core (if not already set); returns the
    device count requested, or 0 when the user's XLA_FLAGS already decided it."""
    flags = os.environ.get("XLA_FLAGS", "")
    if FLAG in flags or _backends_started():
        return 0
    count = host_device_count(population_size)
    os.environ["XLA_FLAGS"] = f"{flags} {FLAG}={count}".strip()
    return count


def _backends_started() -> bool:
    """Too late to change the device count once JAX has started (e.g. inside pytest)."""
    try:
        from jax._src import xla_bridge
    except ImportError:
        return False
    return bool(xla_bridge.backends_are_initialized())
