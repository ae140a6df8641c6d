"""Static config vs traced hyperparameters, and the helpers that document/validate them.

* a *static* field (``static_field``) changes shapes or loop lengths: one compiled
  program per value; it lives in a frozen dataclass.
* a *traced* field (``traced_field``) is a pytree leaf of a ``flax.struct`` dataclass:
  it can differ per population member, be swept, perturbed by PBT or differentiated.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import typing
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
from flax import struct


class ConfigError(ValueError):
    """A config value is invalid; the message names the field and the fix."""


def import_user_module(module_name: str):
    """Imports a module a user names on the command line (``--env corridor:make``,
    ``train a2c:a2c``): installed, on PYTHONPATH, or in the working directory (as
    ``python -m`` would find it). Raises ImportError."""
    import importlib
    import os
    import sys

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    return importlib.import_module(module_name)


def static_field(default, help: str):
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults")
    return dataclasses.field(default=default, metadata={"help": help})


def traced_field(default, help: str):
    return struct.field(default=default, pytree_node=True, metadata={"help": help})


def choice(*names: str) -> Any:
    """The type of a field that takes one of ``names`` (a ``typing.Literal``): coerced and
    checked like any typed field (a bad value is refused with the choices listed), and
    listed in ``--help``."""
    return typing.Literal[names]


def choices_of(tp: Any) -> Tuple[str, ...]:
    """The names a ``choice`` type allows (empty for any other type)."""
    return tuple(typing.get_args(tp)) if typing.get_origin(tp) is typing.Literal else ()


def field_docs(cls) -> Iterable[Tuple[str, Any, str]]:
    """(name, default, help) per field; a choice field's help ends with its choices."""
    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        doc = f.metadata.get("help", "")
        names = choices_of(hints.get(f.name))
        if names:
            doc = f"{doc} [{' | '.join(names)}]".strip()
        yield f.name, f.default, doc


@functools.lru_cache(maxsize=None)
def type_hints(cls) -> Dict[str, Any]:
    """``typing.get_type_hints`` once per class (it re-evaluates annotations every call)."""
    return typing.get_type_hints(cls)


def _field_type(cls, name):
    return type_hints(cls)[name]


def is_settings_class(tp: Any) -> bool:
    """A dataclass of settings nested in another (e.g. ``PPOHParams.objective``)."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def field_paths(cls) -> Dict[str, str]:
    """Every name a setting of ``cls`` answers to -> its path: top-level fields, the
    dotted paths of nested settings classes (``objective.dpo_alpha``) and, where no other
    field has the same name, their bare leaf names (``dpo_alpha``)."""
    paths: Dict[str, str] = {}
    leaves: Dict[str, List[str]] = {}
    for f in dataclasses.fields(cls):
        paths[f.name] = f.name
        tp = type_hints(cls).get(f.name)
        if is_settings_class(tp):
            for name, path in field_paths(tp).items():
                paths[f"{f.name}.{name}"] = f"{f.name}.{path}"
                leaves.setdefault(name, []).append(f"{f.name}.{path}")
    for name, found in leaves.items():
        if name not in paths and len(set(found)) == 1:
            paths[name] = found[0]
    return paths


def path_type(cls, path: str) -> Any:
    """The declared type of the (possibly nested) field at ``path``."""
    head, _, rest = path.partition(".")
    tp = type_hints(cls)[head]
    return path_type(tp, rest) if rest else tp


def get_path(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def replace_path(obj: Any, path: str, value: Any) -> Any:
    """``obj`` with the (possibly nested) field at ``path`` replaced."""
    head, _, rest = path.partition(".")
    if rest:
        value = replace_path(getattr(obj, head), rest, value)
    return dataclasses.replace(obj, **{head: value})


def is_traced(cls, name: str) -> bool:
    """A field JAX traces (a pytree leaf of a ``flax.struct`` dataclass) rather than a
    static Python value."""
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) \
        else {}
    default = bool(getattr(cls, "_flax_dataclass", False))
    return name in fields and bool(fields[name].metadata.get("pytree_node", default))


# ---- coercion: one strict path for CLI strings, YAML/JSON values and Python values ----
# JAX traces Python ints as int32 and floats as float32 (x64 off): a value that does not
# fit is refused here, up front, rather than overflowing inside a compiled program.
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
STATIC_INT_LIMIT = 2**62  # static ints stay Python ints (total_timesteps past 2**31)
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_SMALLEST = float(np.finfo(np.float32).smallest_subnormal)
SEED_LIMIT = 2**32  # PRNGKey(seed) uses the low 32 bits: larger seeds would collide


def _number(value: Any) -> Any:
    """A str/number as an exact int where it is one, else a float; ValueError if neither."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (str, int, float, np.integer, np.floating)):
        raise ValueError(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    return value


def coerce_scalar(kind: type, value: Any, label: str, traced: bool = True) -> Any:
    """``value`` as ``kind`` (int, float, bool or str), or a ConfigError naming ``label``.

    Ints must be whole numbers within int32 (``traced``; static ints, which never enter
    a program as values, within +-2**62); floats must fit float32 (a nonzero value that
    would round to 0 is refused too); bools accept true/false/yes/no/on/off/1/0.
    """
    name = getattr(kind, "__name__", str(kind))
    try:
        if kind is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
                return _BOOL_WORDS[value.strip().lower()]
            if isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            raise ValueError(value)
        if kind is str:
            if isinstance(value, (list, tuple, dict, set)):
                raise ValueError(value)
            return str(value)
        number = _number(value)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"{label}={value!r} is not a valid {name}")
    if kind is int:
        if isinstance(number, (float, np.floating)):
            if not math.isfinite(number) or not float(number).is_integer():
                raise ConfigError(f"{label}={value!r} is not a valid int: it must be a whole "
                                  f"number")
        number = int(number)
        if not traced:
            if abs(number) >= STATIC_INT_LIMIT:
                raise ConfigError(f"{label}={value!r} is out of range: use a value below "
                                  f"2**62 in magnitude")
            return number
        if not INT32_MIN <= number <= INT32_MAX:
            raise ConfigError(f"{label}={value!r} does not fit int32, the integer type JAX "
                              f"counts and traces in: use a value in [{INT32_MIN}, {INT32_MAX}]")
        return number
    if kind is float:
        number = float(number)
        if math.isfinite(number) and abs(number) > FLOAT32_MAX:
            raise ConfigError(f"{label}={value!r} does not fit float32, the type it is traced "
                              f"as: |value| must be at most {FLOAT32_MAX:.4g}")
        if number != 0.0 and abs(number) < FLOAT32_SMALLEST:
            raise ConfigError(f"{label}={value!r} rounds to 0 in float32, the type it is "
                              f"traced as: use 0 or a magnitude of at least "
                              f"{FLOAT32_SMALLEST:.4g}")
        return number
    raise ConfigError(f"{label}: unsupported field type {name}")


_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True,
               "0": False, "false": False, "no": False, "off": False}


def coerce(cls, name: str, value: Any) -> Any:
    """Converts a CLI/YAML/Python value to the declared type of ``cls.name`` (strictly:
    see ``coerce_scalar``); the same rules whichever path the value came by. ``name``
    may be a path into a nested settings class (``objective.dpo_alpha``)."""
    head, dot, rest = name.partition(".")
    if dot:
        if not is_settings_class(type_hints(cls).get(head)):
            raise ConfigError(f"{name}: {head} has no fields")
        return coerce(type_hints(cls)[head], rest, value)
    tp = _field_type(cls, name)
    if is_settings_class(tp):
        return _settings(tp, name, value)
    if tp is Any:  # a pytree field (e.g. learned parameters): arrays, or None for unset
        if value is None:
            return None
        if isinstance(value, str):
            raise ConfigError(f"{name} holds arrays (e.g. learned parameters); set it from "
                              f"Python or a config file, not as text")
        return _float32_tree(value)
    names = choices_of(tp)
    if names:
        if not isinstance(value, str) or value.strip() not in names:
            raise ConfigError(f"{name}={value!r} is not one of its choices: "
                              f"{', '.join(names)}")
        return value.strip()
    if typing.get_origin(tp) in (tuple, typing.Tuple):
        (elem,) = set(typing.get_args(tp)) - {Ellipsis}
        items = value
        if isinstance(value, str):
            text = value.strip()
            try:
                items = json.loads(text) if text.startswith("[") else \
                    [v for v in text.split(",") if v.strip()]
            except json.JSONDecodeError:
                raise ConfigError(f"{name}={value!r} is not a valid list of {elem.__name__}; "
                                  f"write e.g. 64,64 or [64, 64]")
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{name}={value!r} must be a list of {elem.__name__}, "
                              f"e.g. 64,64 or [64, 64]")
        return tuple(coerce_scalar(elem, v, f"{name}[{i}]") for i, v in enumerate(items))
    return coerce_scalar(tp, value, name, traced=is_traced(cls, name))


def _settings(cls, name: str, value: Any) -> Any:
    """A nested settings object from an instance or a mapping of its fields."""
    if isinstance(value, cls):
        check_fields(value)
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{name}={value!r} must be a mapping of its fields "
                          f"({', '.join(f.name for f in dataclasses.fields(cls))})")
    paths = field_paths(cls)
    unknown = [k for k in value if k not in paths]
    if unknown:
        raise ConfigError(f"{name} has no field {unknown[0]!r}; it has "
                          f"{', '.join(f.name for f in dataclasses.fields(cls))}")
    obj = cls()
    for key, item in value.items():
        obj = replace_path(obj, paths[key], coerce(cls, paths[key], item))
    return obj


def _float32_tree(value: Any) -> Any:
    """Nested lists (as JSON stores arrays) and arrays as float32 array leaves."""
    import jax

    return jax.tree.map(lambda x: np.asarray(x, np.float32), value,
                        is_leaf=lambda x: isinstance(x, list))


def check_fields(obj) -> None:
    """Applies ``coerce``'s rules to a dataclass built in Python (``PPOConfig(num_envs=1.5)``),
    so the API refuses what the CLI and config files refuse. Scalar fields only: array or
    pytree fields (a population's stacked leaves, learned parameters) are left alone."""
    cls = type(obj)
    for f in dataclasses.fields(obj):
        tp = _field_type(cls, f.name)
        value = getattr(obj, f.name)
        if is_settings_class(tp) and isinstance(value, tp):
            check_fields(value)
            continue
        scalar = (tp in (int, float, bool, str) or choices_of(tp)) and np.ndim(value) == 0
        if scalar or typing.get_origin(tp) in (tuple, typing.Tuple):
            coerce(cls, f.name, value.item() if hasattr(value, "item") else value)


def check_seed(seed: Any, label: str = "seed") -> int:
    """Seeds are whole numbers in [0, 2**32): PRNGKey keeps only 32 bits, so outside that
    range two different seeds would give the same keys."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        if isinstance(seed, (float, np.floating)) and float(seed).is_integer():
            seed = int(seed)
        else:
            raise ConfigError(f"{label}={seed!r} must be a whole number in [0, 2**32)")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ConfigError(f"{label}={seed} is outside [0, {SEED_LIMIT}) (= [0, 2**32)): seeds "
                          f"wrap modulo 2**32 in PRNGKey, so it would collide with another "
                          f"seed; choose one in range")
    return int(seed)


def route_settings(values: Dict[str, Any], namespaces: Dict[str, Any],
                   help_hint: str = "") -> Dict[str, Dict[str, Any]]:
    """``{setting: value}`` by namespace: ``{"ppo": {...}, "run": {...}, ...}``.

    ``namespaces`` maps each namespace to the field names it declares (``None``: any name,
    checked later, as env parameters are). A qualified name (``ppo.learning_rate``,
    ``run.eval_episodes``, ``meta.learning_rate``, ``env.max_steps_in_episode``) goes to
    its namespace; a bare name to the one namespace that declares it. A bare name that
    several declare is refused, listing the qualified names; an unknown one is refused
    with the closest known name."""
    import difflib

    routed: Dict[str, Dict[str, Any]] = {ns: {} for ns in namespaces}
    for key, value in values.items():
        ns, dot, name = key.partition(".")
        if dot and ns not in namespaces and any(
                fields is not None and key in fields for fields in namespaces.values()):
            dot = ""  # a path into a nested setting (objective.dpo_alpha), not a namespace
        if dot:
            if ns not in namespaces:
                raise ConfigError(f"{key}: {ns!r} is not a settings namespace here; use "
                                  f"{', '.join(f'{n}.NAME' for n in namespaces)}")
            fields = namespaces[ns]
            if fields is not None and name not in fields:
                close = difflib.get_close_matches(name, sorted(fields), n=1)
                hint = f" (did you mean '{ns}.{close[0]}'?)" if close else ""
                raise ConfigError(f"unknown field {key!r}{hint}{help_hint}")
            routed[ns][name] = value
            continue
        owners = [n for n, fields in namespaces.items() if fields is not None and key in fields]
        if len(owners) > 1:
            raise ConfigError(f"{key} is ambiguous here: say "
                              f"{' or '.join(f'{n}.{key}' for n in owners)}")
        if not owners:
            known = sorted({f for fields in namespaces.values() if fields for f in fields})
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown field {key!r}{hint}{help_hint}")
        routed[owners[0]][key] = value
    return routed


def field_names(*classes) -> set:
    """Every name the settings of ``classes`` answer to (``field_paths``)."""
    return {name for cls in classes for name in field_paths(cls)}


def split_overrides(overrides: Dict[str, Any], *classes,
                    algorithm: str = "ALGO") -> Tuple[Dict[str, Any], ...]:
    """Routes ``{field: value}`` to the dataclass that declares each field; a name of a
    nested setting (``objective.dpo_alpha``, or ``dpo_alpha`` where unambiguous) sets it
    inside its field's object (whole objects first, then single settings, in order)."""
    names = [field_paths(c) for c in classes]
    routed = [dict() for _ in classes]
    for key, value in overrides.items():
        for cls, fields, out in zip(classes, names, routed):
            if key in fields:
                path = fields[key]
                head, dot, rest = path.partition(".")
                if not dot:
                    out[head] = coerce(cls, head, value)
                else:
                    inner = out.get(head, _default(cls, head))
                    out[head] = replace_path(inner, rest, coerce(cls, path, value))
                break
        else:
            import difflib

            known = sorted(set().union(*names))
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown field {key!r}{hint}; `jaxrl train {algorithm} --help` "
                              f"lists every field")
    return tuple(routed)


def _default(cls, name: str) -> Any:
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    return field.default_factory() if field.default is dataclasses.MISSING \
        else field.default


def to_dict(obj) -> Dict[str, Any]:
    """Fields as plain values (lists for tuples and arrays; nested settings as dicts)."""
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            out[f.name] = to_dict(v)
            continue
        if hasattr(v, "tolist"):
            v = v.tolist()
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def check_seed_range(seed: Any, num_seeds: Any) -> None:
    """``seed .. seed + num_seeds - 1`` (the members' seeds) all within [0, 2**32)."""
    seed = check_seed(seed)
    if isinstance(num_seeds, (bool, np.bool_)) or not isinstance(num_seeds, (int, np.integer)) \
            or num_seeds <= 0:
        raise ConfigError(f"num_seeds={num_seeds!r} must be a positive whole number")
    last = seed + int(num_seeds) - 1
    if last >= SEED_LIMIT:
        raise ConfigError(f"seed={seed} with num_seeds={num_seeds} runs seeds up to {last}, "
                          f"beyond 2**32 - 1 = {SEED_LIMIT - 1}: seeds wrap modulo 2**32 in "
                          f"PRNGKey, so members would share keys; lower seed or num_seeds")


# Range rules for traced fields, checked on concrete (possibly member-stacked) values.
POSITIVE = (lambda v: v > 0, "must be > 0")
NON_NEGATIVE = (lambda v: v >= 0, "must be >= 0")
UNIT_INTERVAL = (lambda v: (0 <= v) & (v <= 1), "must be in [0, 1]")
FINITE = (lambda v: np.isfinite(v), "must be finite")


def check_ranges(obj, rules: Dict[str, Tuple[Callable, str]]) -> None:
    """Raises ConfigError naming the first field whose value (any member's) breaks its
    rule or is not finite; ``rules`` maps field name -> (predicate, why)."""
    for name, (ok, why) in rules.items():
        value = np.asarray(getattr(obj, name), np.float64)
        good = ok(value) & np.isfinite(value)
        if not np.all(good):
            bad = value[~good] if value.ndim else value
            raise ConfigError(f"{name}={np.ravel(bad)[0]:g} {why}")


def check_positive(obj, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ConfigError(f"{name}={getattr(obj, name)} must be positive")


def check_update_size(total_timesteps: int, steps_per_update: int, label: str,
                      num_minibatches: int = 1) -> None:
    """A run holds at least one update, and minibatches split an update's batch evenly;
    ``label`` names the product that makes an update (e.g. 'num_envs*num_steps')."""
    if steps_per_update % num_minibatches:
        raise ConfigError(
            f"num_minibatches={num_minibatches} must divide {label}={steps_per_update}; "
            f"e.g. set num_minibatches to a divisor of {steps_per_update}")
    if total_timesteps // steps_per_update < 1:
        raise ConfigError(f"total_timesteps={total_timesteps} is less than one update "
                          f"({label}={steps_per_update}); raise total_timesteps")
    if total_timesteps // steps_per_update >= 2 ** 31:  # update counters are int32
        raise ConfigError(f"total_timesteps={total_timesteps} makes 2**31 or more updates of "
                          f"{label}={steps_per_update} steps; take more env steps per update")


class RolloutShape:
    """Mixin for configs that update on whole rollouts of ``num_envs x num_steps``
    transitions, split into ``num_minibatches`` for ``num_epochs`` (PPO, PQN)."""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    env_steps_per_update = batch_size

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    @property
    def gradient_steps_per_update(self) -> int:
        return self.num_epochs * self.num_minibatches

    def check_rollout_shape(self) -> None:
        check_fields(self)
        check_positive(self, "total_timesteps", "num_envs", "num_steps", "num_epochs",
                       "num_minibatches")
        check_update_size(self.total_timesteps, self.batch_size, "num_envs*num_steps",
                          self.num_minibatches)


def parse_pairs(pairs: Optional[List[str]], flag: str) -> Dict[str, str]:
    """``NAME=VALUE`` flags (``--set``, ``--env-set``) as a dict of strings; ``flag``
    names the option in the error."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"{flag} {pair!r} must look like NAME=VALUE")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out
