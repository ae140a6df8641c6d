"""Learned hyperparameter schedules: traced functions of training progress n/N.

A schedule multiplies a traced hyperparameter (the learning rate, the entropy
coefficient, ...) by ``exp(g(n/N))``, where ``g`` interpolates linearly between values
at ``K`` evenly spaced knots of progress. The knot values (log-multipliers) are a
traced pytree, ``HParams.schedule_params = {field: [K] array}``, so a population of
schedules is one vmapped program and an evolution strategy can search them (``jaxrl
meta schedule``). All-zero knots multiply by 1: the search starts from the fixed
schedule (including any built-in annealing, which the multiplier scales).
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

import jax.numpy as jnp
import numpy as np

from jaxrl.config import ConfigError, field_paths, get_path, path_type, replace_path

DEFAULT_KNOTS = 5


def multiplier(log_knots, progress):
    """``exp`` of the piecewise-linear interpolation of ``log_knots [K]`` at ``progress``
    in [0, 1] (knots at 0, 1/(K-1), ..., 1)."""
    log_knots = jnp.asarray(log_knots)
    grid = jnp.linspace(0.0, 1.0, log_knots.shape[-1])
    return jnp.exp(jnp.interp(jnp.clip(progress, 0.0, 1.0), grid, log_knots))


def apply_schedules(hp, progress):
    """``hp`` with every scheduled field multiplied at ``progress`` (unchanged if
    ``hp.schedule_params`` is None). A field is named as in ``--set``: top-level, or
    nested by path or unambiguous bare name (``objective.mdpo_coef``, ``mdpo_coef``)."""
    if hp.schedule_params is None:
        return hp
    paths = field_paths(type(hp))
    for name, knots in hp.schedule_params.items():
        path = paths[name]
        hp = replace_path(hp, path, get_path(hp, path) * multiplier(knots, progress))
    return hp


def scheduled_values(hp) -> Dict[str, Any]:
    """The current value of each scheduled field, by the name its schedule gives."""
    paths = field_paths(type(hp))
    return {name: get_path(hp, paths[name]) for name in (hp.schedule_params or {})}


def init_schedule_params(fields: Sequence[str], knots: int = DEFAULT_KNOTS) -> Dict[str, Any]:
    """All-zero knots for ``fields``: the fixed schedule, a known-good start."""
    return {name: np.zeros(knots, np.float32) for name in fields}


def check_schedule_params(hparams_cls, schedule_params) -> None:
    """One-line errors for schedules over unknown or non-float fields, or bad knots."""
    if schedule_params is None:
        return
    if not isinstance(schedule_params, dict) or not schedule_params:
        raise ConfigError("schedule_params must map hyperparameter names to knot arrays, "
                          "e.g. {'learning_rate': [0, 0, 0, 0, 0]}")
    floats = [name for name, path in field_paths(hparams_cls).items()
              if path_type(hparams_cls, path) is float]
    for name, knots in schedule_params.items():
        if name not in floats:
            raise ConfigError(f"schedule_params[{name!r}]: only float hyperparameters can be "
                              f"scheduled: {', '.join(floats)}")
        shape = np.shape(knots)
        if len(shape) != 1 or shape[0] < 2:
            raise ConfigError(f"schedule_params[{name!r}] has shape {shape}: give 1-D "
                              f"log-multipliers at K >= 2 evenly spaced points of n/N")
        if not np.all(np.isfinite(np.asarray(knots, np.float64))):
            raise ConfigError(f"schedule_params[{name!r}] must be finite")


def describe(schedule_params, points: int = 5) -> Dict[str, list]:
    """The multiplier of each scheduled field at ``points`` evenly spaced progresses."""
    grid = np.linspace(0.0, 1.0, points)
    return {name: [float(multiplier(knots, p)) for p in grid]
            for name, knots in (schedule_params or {}).items()}
