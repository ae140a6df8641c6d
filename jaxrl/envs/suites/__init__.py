"""Environment suites: each module declares one ``Suite`` (its ids, how to make an env,
its constructor options and metadata); ``jaxrl.envs.registry`` looks ids up in them.

A suite's adapter subclasses ``jaxrl.envs.core.Adapter``: it writes one transition and a
reset, and the shared episode-end mechanism does the rest (auto-reset, the final
observation, terminated kept apart from truncated, the cheap-reset option).
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
import types
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

# The suites jaxrl ships, in the order `jaxrl envs` lists them.
BUILTIN = ("gymnax", "brax", "craftax", "jumanji", "navix", "xminigrid", "playground", "pgx",
           "jaxmarl")


@dataclasses.dataclass(frozen=True)
class Suite:
    """One environment suite.

    ``prefix`` is the id prefix (``craftax`` for ``craftax/Craftax-Classic-Symbolic-v1``;
    empty for gymnax, whose plain ids are jaxrl's defaults). ``make(name, **options)``
    returns ``(env, params)``; ``options`` are constructor settings (static: they decide
    shapes or the program), typed, while every field of ``params`` is an env parameter
    (a pytree leaf, traced). ``param_kinds(name)`` gives the params' field types without
    building the env where that is costly; by default ``make`` is called.
    """

    prefix: str
    module: str                                  # importable when the suite is installed
    extra: Optional[str]                         # `pip install "jaxrl[<extra>]"`; None: core
    names: Callable[[], Sequence[str]]           # the suite's env names, without the prefix
    make: Callable[..., Tuple[Any, Any]]
    time_limit: str                              # how the suite marks a time limit
    options: Mapping[str, type] = dataclasses.field(default_factory=dict)
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)  # name -> why
    solved: Mapping[str, float] = dataclasses.field(default_factory=dict)
    reference: Mapping[str, Tuple[float, float]] = dataclasses.field(default_factory=dict)
    param_kinds: Optional[Callable[[str], Dict[str, Optional[type]]]] = None
    description: str = ""

    def installed(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def env_id(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def install_hint(self) -> str:
        return f'pip install "jaxrl[{self.extra}]"' if self.extra else f"pip install {self.module}"


def dataclass_kinds(params) -> Dict[str, Optional[type]]:
    """Field name -> Python type of a params dataclass's scalar fields (None for array
    fields, which cannot be set from a flag)."""
    kinds = {}
    for field in dataclasses.fields(params):
        current = getattr(params, field.name)
        if hasattr(current, "ndim") and current.ndim > 0:
            kinds[field.name] = None
        elif isinstance(current, (tuple, list, dict)) or current is None:
            kinds[field.name] = None
        else:
            kinds[field.name] = type(current.item() if hasattr(current, "item") else current)
    return kinds


def reset_mode_option(value: str) -> str:
    from jaxrl.envs.core import RESET_MODES

    if value not in RESET_MODES:
        raise ValueError(f"reset_mode={value!r}: choose one of {RESET_MODES}")
    return value


class _Deferred(types.ModuleType):
    """A stand-in in ``sys.modules`` for a module not imported yet: the first attribute
    read imports the real module (which takes the stand-in's place in ``sys.modules``)
    and copies its namespace in, so names bound to the stand-in keep working."""

    def __getattr__(self, attr):
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def defer_imports(*names: str) -> None:
    """Defer ``names`` (modules an env package imports at its top but uses only to draw)
    until something reads from them. gymnax's pong, catch, rooms and point_robot import
    seaborn and pyplot, which pull in scipy.stats and pandas: 4 of the 7 s a fresh
    ``jaxrl train`` on CartPole spent before tracing, in every CLI run and subprocess.
    A module already imported, or not installed, is left as it is."""
    for name in names:
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        module = _Deferred(name)
        module.__spec__ = spec
        sys.modules[name] = module
