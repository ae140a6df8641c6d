"""Several processes, one population: ``jax.distributed`` across hosts (or processes).

Every process runs the same program over a mesh of all global devices (each process
holds the members on its own devices). Arrays that span processes are not addressable
from one of them, so what the host reads (metrics, alive masks, evaluation returns,
checkpoint digests) is gathered to every process first (``to_host``), and what the host
hands in (keys, hyperparameters) is built from the same full value everywhere
(``put``). Only process 0 writes logs, reports and the progress bar (``is_leader``);
checkpoints are written by all processes together (orbax).

``initialize`` calls ``jax.distributed.initialize``: with no arguments it detects TPU
pods, SLURM and Open MPI; otherwise it takes the coordinator address, process count and
process id (or ``JAXRL_COORDINATOR``, ``JAXRL_NUM_PROCESSES``, ``JAXRL_PROCESS_ID``). On
CPU the processes talk through gloo.
"""
from __future__ import annotations

import os
from typing import Any, Optional

import jax
import numpy as np

from jaxrl.config import ConfigError

ENV_VARS = ("JAXRL_COORDINATOR", "JAXRL_NUM_PROCESSES", "JAXRL_PROCESS_ID")


def initialize(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None) -> None:
    """Joins this process to the others (before any JAX computation)."""
    coordinator = coordinator or os.environ.get("JAXRL_COORDINATOR")
    if num_processes is None and os.environ.get("JAXRL_NUM_PROCESSES"):
        num_processes = int(os.environ["JAXRL_NUM_PROCESSES"])
    if process_id is None and os.environ.get("JAXRL_PROCESS_ID"):
        process_id = int(os.environ["JAXRL_PROCESS_ID"])
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if any(given) and not all(given):
        raise ConfigError(f"--distributed needs all of coordinator address, process count "
                          f"and process id ({', '.join(ENV_VARS)}), or none of them (TPU "
                          f"pods, SLURM and Open MPI are detected)")
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if not platforms or "cpu" in platforms:  # CPU processes exchange data through gloo
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator,
                               num_processes=num_processes, process_id=process_id)


def is_leader() -> bool:
    """The process that writes logs, reports and the progress bar."""
    return jax.process_index() == 0


def to_host(tree: Any) -> Any:
    """``tree`` as numpy arrays on this host, gathered from every process if needed."""
    def fetch(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(jax.device_get(x))
    return jax.tree.map(fetch, tree)


def put(tree: Any, sharding) -> Any:
    """``tree`` (the same full value on every process) laid out by ``sharding``, which
    may span processes. Arrays already laid out so are passed through."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def place(x):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        value = to_host(x)
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])
    return jax.tree.map(place, tree)


def barrier(name: str) -> None:
    """Every process waits here until all have arrived (no-op alone)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
