"""Static config vs traced hyperparameters, and the helpers that document/validate them.

* a *static* field (``static_field``) changes shapes or loop lengths: one compiled
  program per value; it lives in a frozen dataclass.
* a *traced* field (``traced_field``) is a pytree leaf of a ``flax.struct`` dataclass:
  it can differ per population member, be swept, perturbed by PBT or differentiated.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Dict, Iterable, Tuple

from flax import struct


class ConfigError(ValueError):
    """A config value is invalid; the message names the field and the fix."""


def static_field(default, help: str):
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults")
    return dataclasses.field(default=default, metadata={"help": help})


def traced_field(default, help: str):
    return struct.field(default=default, pytree_node=True, metadata={"help": help})


def field_docs(cls) -> Iterable[Tuple[str, Any, str]]:
    for f in dataclasses.fields(cls):
        yield f.name, f.default, f.metadata.get("help", "")


def _field_type(cls, name):
    hints = typing.get_type_hints(cls)
    return hints[name]


def coerce(cls, name: str, value: Any) -> Any:
    """Converts a CLI/YAML value to the declared type of ``cls.name``."""
    tp = _field_type(cls, name)
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return str(value)
        if origin in (tuple, typing.Tuple):
            if isinstance(value, str):
                value = json.loads(value) if value.strip().startswith("[") else value.split(",")
            (elem,) = set(typing.get_args(tp)) - {Ellipsis}
            return tuple(elem(v) for v in value)
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError):
        raise ConfigError(f"{name}={value!r} is not a valid {getattr(tp, '__name__', tp)}")
    return value


def split_overrides(overrides: Dict[str, Any], *classes) -> Tuple[Dict[str, Any], ...]:
    """Routes ``{field: value}`` to the dataclass that declares each field."""
    names = [{f.name for f in dataclasses.fields(c)} for c in classes]
    routed = [dict() for _ in classes]
    for key, value in overrides.items():
        for cls, fields, out in zip(classes, names, routed):
            if key in fields:
                out[key] = coerce(cls, key, value)
                break
        else:
            import difflib

            known = sorted(set().union(*names))
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown field {key!r}{hint}; `jaxrl train ppo --help` "
                              f"lists every field")
    return tuple(routed)


def to_dict(obj) -> Dict[str, Any]:
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if hasattr(v, "tolist"):
            v = v.tolist()
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out
