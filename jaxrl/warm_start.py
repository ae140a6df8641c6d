"""Warm starts (``RunConfig.init_from``): a run whose members begin from what another
run's members learned, with their own env, replay and counters fresh. Offline-to-online
fine-tuning is one: an offline run's learners continued online."""
from __future__ import annotations

import os

import jax
import numpy as np

from jaxrl.config import ConfigError
from jaxrl.distributed import put
from jaxrl.runner.chunk import Carry


def warm_start_from(source: str):
    """``runner.train``'s ``start`` for ``init_from=source``."""
    return lambda algo, run, carry: warm_start(algo, run, carry, source)


def learned_parts(algo, state):
    """The fields of a learner state that a warm start copies (``algo.learned_fields``)."""
    return {name: getattr(state, name) for name in algo.learned_fields}


def warm_start(algo, run, carry: Carry, source: str) -> Carry:
    """``carry`` with every member's learned parts (``algo.learned_fields``) taken from
    the newest good checkpoint of the run in ``source``: member ``i`` from its member
    ``i``, or every member from its only one. The two learners' learned parts must have
    the same structure and shapes (the same networks); anything else is refused with
    what differs."""
    from jaxrl.checkpoint import PopulationCheckpointer
    from jaxrl.experiment import read_run_config
    from jaxrl.runner.program import Run

    if not algo.learned_fields:
        raise ConfigError(f"init_from={source!r}: {algo.name} does not say what it learned "
                          f"(learned_fields), so it cannot start from another run")
    if not os.path.exists(os.path.join(source, "config.json")):
        raise ConfigError(f"init_from={source!r} is not a run directory (no config.json)")
    spec = read_run_config(source)
    other_algo, other_population = spec.build()
    other = Run(other_algo, other_population, spec.run_config)
    checkpointer = PopulationCheckpointer(os.path.join(source, "checkpoints"))
    try:
        _, other_carry, _ = checkpointer.restore_latest(other.abstract_carry())
    finally:
        checkpointer.close()
    if tuple(other_algo.learned_fields) != tuple(algo.learned_fields):
        raise ConfigError(f"init_from={source!r}: its {other_algo.name} learns "
                          f"{other_algo.learned_fields}, {algo.name} {algo.learned_fields}")
    theirs = jax.device_get(learned_parts(other_algo, other_carry.state))
    ours = learned_parts(algo, carry.state)
    members, source_members = run.population.size, other_population.size
    if source_members not in (1, members):
        raise ConfigError(f"init_from={source!r} has {source_members} members; this run has "
                          f"{members}: use as many, or a source with one (copied to all)")
    if source_members == 1 and members > 1:
        theirs = jax.tree.map(lambda x: np.repeat(np.asarray(x), members, axis=0), theirs)
    mine, other_tree = jax.tree.structure(ours), jax.tree.structure(theirs)
    pairs = zip(jax.tree.leaves(ours), jax.tree.leaves(theirs))
    shapes = [(np.shape(a), np.shape(b)) for a, b in pairs]
    if mine != other_tree or any(a != b for a, b in shapes):
        raise ConfigError(f"init_from={source!r}: its learned parts ({spec.algorithm}, "
                          f"{spec.config}) differ in structure or shapes from this run's; "
                          f"start from a run of the same learner and network sizes")
    placed = put(jax.tree.map(lambda mine, x: np.asarray(x).astype(mine.dtype), ours, theirs),
                 run.sharding)
    return carry.replace(state=carry.state.replace(**placed))
