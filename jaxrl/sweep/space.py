"""Typed search spaces over an algorithm's fields, in Python or a W&B-style sweep file.

A file (YAML or JSON) maps each field under ``parameters:`` to one of::

    {value: x}                                            fixed
    {values: [a, b, ...]}                                 categorical
    {distribution: uniform, min: a, max: b}               (also log_uniform_values,
                                                           int_uniform, q_uniform + q)

Every parameter is checked against the algorithm before anything compiles: the field
must exist and be one a sweep may vary (a static ``Config`` field splits the sweep into
compiled groups; a traced ``HParams`` field varies inside one program; run settings
cannot vary), its values must have the field's type, and the ends of a range must be
valid values of the field. ``env.NAME`` varies an env parameter per member inside one
program, as ``--env-set NAME={distribution: ...}`` does for `jaxrl train`: only params
that are pytree leaves (``jaxrl.envs.per_member``).
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from jaxrl import registry
from jaxrl.config import (ConfigError, coerce, coerce_scalar, field_paths, path_type,
                          split_overrides)

# the dimensions a space is made of (re-exported: jaxrl.sweep.Uniform, ...)
from jaxrl.dimensions import (Choice, Fixed, IntUniform, LogUniform, Param,  # noqa: F401
                              QUniform, Uniform, _plain, parse_param)

STATIC, TRACED, ENV = "static", "traced", "env"
ENV_PREFIX = "env."


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Parameters keyed by field name, checked against ``algorithm``'s fields."""

    algorithm: str
    params: Tuple[Param, ...]
    kinds: Tuple[Tuple[str, str], ...]  # (name, STATIC | TRACED | ENV)
    env_types: Tuple[Tuple[str, type], ...] = ()  # ENV parameters' value types

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], algorithm: str,
                  where: str = "search space",
                  base: Optional[Mapping[str, Any]] = None, env: Optional[str] = None,
                  env_base: Optional[Mapping[str, Any]] = None) -> "SearchSpace":
        """``spec``: a W&B sweep mapping (``parameters:``; ``method``, ``metric``, ``name``
        and ``description`` are allowed and left to the caller) or the parameters alone.
        ``env`` (an env id, its fixed overrides ``env_base``): where ``env.NAME``
        parameters may vary (None: they are refused)."""
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: expected a mapping with a 'parameters:' section")
        params_spec = spec.get("parameters", spec) if "parameters" in spec else spec
        if not isinstance(params_spec, Mapping) or not params_spec:
            raise ConfigError(f"{where}: 'parameters:' must map field names to "
                              f"{{value: x}}, {{values: [...]}} or {{distribution: ..., "
                              f"min: a, max: b}}")
        params = tuple(parse_param(_bare_name(name, algorithm, where, env is not None), p,
                                   f"{where}: {name}")
                       for name, p in params_spec.items())
        return cls.build(algorithm, params, where, base, env, env_base)

    @classmethod
    def build(cls, algorithm: str, params: Sequence[Param], where: str = "search space",
              base: Optional[Mapping[str, Any]] = None, env: Optional[str] = None,
              env_base: Optional[Mapping[str, Any]] = None) -> "SearchSpace":
        """``base``: the sweep's other field values (``--set``, ``--config``), against
        which each value of the space is checked."""
        entry = registry.get(algorithm)
        static, traced = field_paths(entry.Config), field_paths(entry.HParams)
        kinds, checked, env_types = [], [], []
        env_kinds = None
        for p in params:
            if p.name.startswith(ENV_PREFIX):
                from jaxrl.envs import per_member

                if env_kinds is None:
                    env_kinds = per_member.env_kinds(env, dict(env_base or {}))
                name = p.name[len(ENV_PREFIX):]
                per_member.check(env, env_kinds, name, f"{where}: {p.name}", p)
                tp = env_kinds[name]
                for value in [p.value] if isinstance(p, Fixed) else (
                        p.values if isinstance(p, Choice) else [p.low, p.high]):
                    coerce_scalar(tp, _plain(value), f"{where}: {p.name}")
                checked.append(p)
                kinds.append((p.name, ENV))
                env_types.append((p.name, tp))
                continue
            if p.name in static or p.name in traced:  # named by its path from here on
                p = dataclasses.replace(p, name={**static, **traced}[p.name])
            if p.name in static:
                kind, owner = STATIC, entry.Config
            elif p.name in traced:
                kind, owner = TRACED, entry.HParams
            else:
                from jaxrl.runner import RunConfig

                if p.name in {f.name for f in dataclasses.fields(RunConfig)}:
                    raise ConfigError(f"{where}: {p.name} is a run setting (evaluation, "
                                      f"checkpoints, logging), which cannot vary between "
                                      f"members; set it with --set instead")
                split_overrides({p.name: None}, entry.Config, entry.HParams,
                                algorithm=algorithm)  # raises "unknown field ... did you mean"
            checked.append(_check_param(p, owner, where))
            if kind == STATIC and isinstance(p, Uniform):
                raise ConfigError(
                    f"{where}: {p.name} is a static field (one compiled program per value), "
                    f"so a {p.record()['distribution']} range would compile a program for "
                    f"every value it draws; list the values to compile instead, e.g. "
                    f"{p.name}: {{values: [{p.low:g}, {p.high:g}]}}")
            kinds.append((p.name, kind))
        names = [p.name for p in checked]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: a field appears twice")
        space = cls(algorithm, tuple(checked), tuple(kinds), tuple(env_types))
        space._check_values(entry, where, dict(base or {}))
        return space

    # ---- views -------------------------------------------------------------------
    def kind(self, name: str) -> str:
        return dict(self.kinds)[name]

    @property
    def names(self) -> List[str]:
        return [p.name for p in self.params]

    @property
    def varying(self) -> List[Param]:
        return [p for p in self.params if not p.is_fixed]

    @property
    def static_names(self) -> List[str]:
        return [n for n, k in self.kinds if k == STATIC]

    @property
    def traced_names(self) -> List[str]:
        return [n for n, k in self.kinds if k == TRACED]

    @property
    def env_names(self) -> List[str]:
        """``env.NAME`` parameters (drawn per member, one program)."""
        return [n for n, k in self.kinds if k == ENV]

    def param(self, name: str) -> Param:
        return {p.name: p for p in self.params}[name]

    def record(self) -> Dict[str, Any]:
        return {"parameters": {p.name: p.record() for p in self.params}}

    def from_unit(self, u: Sequence[float]) -> Dict[str, Any]:
        """One configuration from a point of the unit cube over the varying parameters."""
        values = {p.name: p.value for p in self.params if p.is_fixed}
        for p, x in zip(self.varying, u):
            values[p.name] = p.from_unit(float(x))
        return self.coerce({n: values[n] for n in self.names})

    def grid(self) -> List[Dict[str, Any]]:
        axes = [p.grid() for p in self.params]
        return [self.coerce(dict(zip(self.names, combo))) for combo in itertools.product(*axes)]

    def coerce(self, values: Dict[str, Any]) -> Dict[str, Any]:
        entry = registry.get(self.algorithm)
        env_types = dict(self.env_types)
        return {n: (coerce_scalar(env_types[n], _plain(v), n) if n in env_types else
                    coerce(entry.Config if self.kind(n) == STATIC else entry.HParams, n, v))
                for n, v in values.items()}

    def _check_values(self, entry, where: str, base: Dict[str, Any]) -> None:
        """Every categorical value and both ends of every range build a valid config."""
        from jaxrl.runner import RunConfig

        defaults = {**dict(entry.defaults), **base}
        for p in self.params:
            if self.kind(p.name) == ENV:
                continue  # checked against the env's params in build
            probes = p.grid() if isinstance(p, (Fixed, Choice)) else [p.low, p.high]
            for value in probes:
                values = {**defaults, p.name: value}
                config, hparams, _ = split_overrides(values, entry.Config, entry.HParams,
                                                     RunConfig, algorithm=self.algorithm)
                try:
                    if self.kind(p.name) == STATIC:
                        entry.Config(**config).validate()
                    else:
                        entry.HParams(**hparams).validate()
                except ConfigError as exc:
                    raise ConfigError(f"{where}: {p.name}={_plain(value)!r} is not a valid "
                                      f"value: {exc}")


def _bare_name(name: str, algorithm: str, where: str, env_may_vary: bool = False) -> str:
    """A space's parameter named with its namespace (``ppo.learning_rate``) or without;
    the algorithm's own fields (nested ones by path) and, where ``env_may_vary``, env
    parameters (``env.NAME``, kept so) can vary between members."""
    namespace, dot, bare = str(name).partition(".")
    if not dot:
        return name
    if namespace == algorithm:
        return bare
    if namespace == "env" and env_may_vary:
        return name
    if namespace == "run":
        raise ConfigError(f"{where}: {name} is a run setting, which a search space cannot "
                          f"vary; set it with --set instead")
    if namespace == "env":
        raise ConfigError(f"{where}: {name} is an env parameter, which only `jaxrl sweep` "
                          f"varies between members (and `jaxrl train --env-set "
                          f"'{bare}={{distribution: ...}}'`); give it one value with "
                          f"--env-set {bare}=VALUE here")
    from jaxrl import registry

    if namespace in registry.names():
        raise ConfigError(f"{where}: {name}: {namespace!r} is not this sweep's algorithm "
                          f"({algorithm}); name fields as {algorithm}.NAME or NAME")
    return name  # a path into a nested setting (objective.dpo_alpha)


def _check_param(p: Param, owner: type, where: str) -> Param:
    """Ranges only over numeric fields of a matching kind; values coerced to the type."""
    tp = path_type(owner, p.name)
    if isinstance(p, Uniform):
        if tp not in (int, float):
            raise ConfigError(f"{where}: {p.name} is a {getattr(tp, '__name__', tp)} field; "
                              f"a {p.record()['distribution']} range needs a number field; "
                              f"list its choices with {{values: [...]}}")
        if tp is int and not isinstance(p, (IntUniform, QUniform)):
            raise ConfigError(f"{where}: {p.name} is an int field; use int_uniform (or "
                              f"q_uniform with a whole-number q)")
        if tp is int and isinstance(p, QUniform) and not (
                float(p.q).is_integer() and float(p.low).is_integer()):
            raise ConfigError(f"{where}: {p.name} is an int field; q_uniform needs whole-"
                              f"number min and q")
        return p
    try:
        if isinstance(p, Fixed):
            coerce(owner, p.name, _plain(p.value))
        else:
            for v in p.values:
                coerce(owner, p.name, _plain(v))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}")
    return p


def load_space(path: str, algorithm: str, base: Optional[Mapping[str, Any]] = None,
               env: Optional[str] = None, env_base: Optional[Mapping[str, Any]] = None
               ) -> Tuple[SearchSpace, Dict[str, Any]]:
    """A space file and its other top-level keys (``method``, ``metric``, ...); ``env``:
    where ``env.NAME`` parameters may vary (``SearchSpace.from_dict``)."""
    from jaxrl.experiment import load_config_file

    data = load_config_file(path, flag="--space")
    where = f"--space {path}"
    if "parameters" not in data:
        raise ConfigError(f"{where}: no 'parameters:' section (W&B sweep format: "
                          f"parameters: {{learning_rate: {{values: [1e-4, 3e-4]}}}})")
    extra = {k: v for k, v in data.items() if k != "parameters"}
    return SearchSpace.from_dict(data, algorithm, where, base, env, env_base), extra
