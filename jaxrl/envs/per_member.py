"""Environment parameters that differ across a population (domain randomisation, task
distributions).

An env setting given as a distribution (``--env-set 'length={distribution: uniform,
min: 0.3, max: 0.7}'``, the sweep space's syntax) is drawn once per member; the
population carries the members' params as a traced axis beside their hyperparameters,
and every learner steps its envs with its member's params (``Learner.member_env``). Only
params that are pytree leaves can differ (a static field decides shapes or the
program); time limits cannot (evaluation loops are sized by them).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Tuple

import jax
import numpy as np

from jaxrl.config import ConfigError, coerce_scalar

# Settings whose per-member values would change a loop bound or a shape.
FIXED_PER_RUN = ("max_steps_in_episode", "max_timesteps", "max_steps", "episode_length",
                 "time_limit")


def is_distribution(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, str) and value.lstrip().startswith("{")


def _as_mapping(name: str, value: Any) -> Mapping:
    if isinstance(value, Mapping):
        return value
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"env parameter {name}={value!r} is not a valid mapping: "
                          f"{str(exc).splitlines()[0]}")
    if not isinstance(parsed, Mapping):
        raise ConfigError(f"env parameter {name}={value!r} must be a value or a mapping "
                          f"such as {{distribution: uniform, min: 0.3, max: 0.7}}")
    return parsed


def traced_kinds(params) -> Dict[str, type]:
    """Name -> type of the params fields that may differ per member: scalar numbers that
    are pytree leaves."""
    kinds = {}
    for field in dataclasses.fields(params):
        if not field.metadata.get("pytree_node", True):
            continue
        value = getattr(params, field.name)
        value = value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value
        if isinstance(value, (bool, int, float)):
            kinds[field.name] = type(value)
    return kinds


def split(env_id: str, overrides: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(fixed values, {name: sweep-space Param})`` of ``overrides``; each distribution
    is checked against the env's params (a pytree leaf, a number, not a time limit)."""
    fixed = {k: v for k, v in overrides.items() if not is_distribution(v)}
    drawn = {k: v for k, v in overrides.items() if is_distribution(v)}
    if not drawn:
        return fixed, {}
    from jaxrl.dimensions import parse_param

    kinds = env_kinds(env_id, fixed)
    distributions = {}
    for name, value in drawn.items():
        where = f"env parameter {name}"
        check(env_id, kinds, name, where)  # the name before its distribution's syntax
        param = parse_param(name, _as_mapping(name, value), where)
        distributions[name] = check(env_id, kinds, name, where, param)
    return fixed, distributions


def env_kinds(env_id: str, fixed: Dict[str, Any]) -> Dict[str, type]:
    """``traced_kinds`` of ``env_id``'s params with the ``fixed`` overrides."""
    import jaxrl.envs

    _, params = jaxrl.envs.make(env_id, **fixed)
    return traced_kinds(params)


def check(env_id: str, kinds: Dict[str, type], name: str, where: str, param: Any = None):
    """``param`` (a sweep-space ``Param`` over env parameter ``name``, or None to check the
    name alone) if ``name`` may differ per member and ``param`` suits its type."""
    from jaxrl.dimensions import IntUniform, QUniform, Uniform

    if name in FIXED_PER_RUN:
        raise ConfigError(f"{where}: a time limit is the same for every member (evaluation "
                          f"loops are sized by it); give it one value")
    if name not in kinds:
        raise ConfigError(f"{where} cannot differ per member: {env_id}'s per-member "
                          f"params are {', '.join(sorted(kinds)) or 'none'} (a static "
                          f"field decides shapes or the program)")
    whole_steps = isinstance(param, IntUniform) or (
        isinstance(param, QUniform) and float(param.q).is_integer()
        and float(param.low).is_integer())
    if isinstance(param, Uniform) and (kinds[name] is bool or (kinds[name] is int
                                                               and not whole_steps)):
        raise ConfigError(f"{where} is a {kinds[name].__name__}: use "
                          f"{'int_uniform or ' if kinds[name] is int else ''}values: [...]")
    return param


def draw(params: Any, distributions: Dict[str, Any], members: int, seed: int) -> Any:
    """The members' params: ``params`` with each distribution's field drawn per member
    (numpy, from ``seed``: a run rebuilds them exactly), every leaf with a leading member
    axis (float32 / int32 / bool)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    return columns(params, {name: [param.from_unit(u) for u in rng.random(members)]
                            for name, param in sorted(distributions.items())}, members)


def columns(params: Any, values: Dict[str, Any], members: int) -> Any:
    """``params`` with a leading member axis on every leaf (float32 / int32 / bool) and
    the fields in ``values`` set to their ``members`` per-member values (a sweep's
    configurations, or draws)."""
    batched = jax.tree.map(lambda x: np.broadcast_to(_typed(x), (members,) + np.shape(x)).copy(),
                           params)
    for name, column in values.items():
        if len(column) != members:
            raise ValueError(f"{name}: {len(column)} values for {members} members")
        batched = batched.replace(**{name: _column(params, name, column)})
    return batched


def _typed(x) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float32 if np.issubdtype(x.dtype, np.floating) else
                    np.int32 if np.issubdtype(x.dtype, np.integer) else x.dtype)


def _column(params: Any, name: str, values) -> np.ndarray:
    """Per-member values of field ``name``, coerced to its kind, in its batched dtype."""
    kind = traced_kinds(params)[name]
    dtype = _typed(getattr(params, name)).dtype
    return np.asarray([coerce_scalar(kind, v, f"env parameter {name}") for v in values], dtype)


def sampler(params: Any, distributions: Dict[str, Any], resolution: int = 1024):
    """``draw(key) -> params``, traceable: each distribution's field drawn independently
    from ``resolution`` evenly spaced quantiles of it (exact for choices whose count
    divides ``resolution``). Meta tasks draw an inner run's env from its key with it."""
    import jax.numpy as jnp

    names = sorted(distributions)
    quantiles = (np.arange(resolution) + 0.5) / resolution
    tables = {name: jnp.asarray(_column(params, name, [distributions[name].from_unit(u)
                                                       for u in quantiles]))
              for name in names}

    def draw(key):
        keys = jax.random.split(key, len(names))
        return params.replace(**{
            name: tables[name][jax.random.randint(k, (), 0, resolution)]
            for name, k in zip(names, keys)})

    return draw


def record(distributions: Dict[str, Any]) -> Dict[str, Any]:
    return {name: param.record() for name, param in sorted(distributions.items())}
