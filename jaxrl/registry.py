"""The algorithm registry: the single source of names for the CLI, benchmarks, experiment
files and the contract test suite.

Each entry points at a module exposing ``Config`` (static), ``HParams`` (traced) and
``make(env, env_params, config)`` returning a ``jaxrl.contract.Algorithm``. ``smoke``
is a tiny configuration (env id and field values) that the contract tests and quick
checks run; it must compile and run in seconds. ``more_smoke_envs`` are further envs the
contract tests run it on, where the learner takes another form (SAC's categorical form
on discrete actions).
"""
from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType
from typing import Any, Dict, List, Tuple

from jaxrl.config import ConfigError


@dataclasses.dataclass(frozen=True)
class AlgorithmEntry:
    name: str
    module_name: str
    summary: str
    smoke_env: str
    smoke_values: Tuple[Tuple[str, Any], ...]
    defaults: Tuple[Tuple[str, Any], ...] = ()  # field values this name sets (variants)
    more_smoke_envs: Tuple[str, ...] = ()

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self.module_name)

    @property
    def Config(self) -> type:  # noqa: N802 - mirrors the module attribute
        return self.module.Config

    @property
    def HParams(self) -> type:  # noqa: N802
        return self.module.HParams

    def make(self, env, env_params, config):
        return self.module.make(env, env_params, config, name=self.name)

    @property
    def smoke(self) -> Dict[str, Any]:
        return dict(self.smoke_values)


_REGISTRY: Dict[str, AlgorithmEntry] = {}


def register(name: str, module_name: str, summary: str, smoke_env: str,
             smoke_values: Dict[str, Any], defaults: Dict[str, Any] = None,
             more_smoke_envs: Tuple[str, ...] = ()) -> AlgorithmEntry:
    """Adds ``name``; ``defaults`` are field values the name implies (e.g. ``c51`` is the
    value-based learner with a categorical value distribution): applied before the user's."""
    if name in _REGISTRY:
        raise ValueError(f"algorithm {name!r} is already registered")
    entry = AlgorithmEntry(name, module_name, summary, smoke_env,
                           tuple(sorted(smoke_values.items())),
                           tuple(sorted((defaults or {}).items())), tuple(more_smoke_envs))
    _REGISTRY[name] = entry
    return entry


def _load() -> None:
    """Registers the built-in algorithms (``jaxrl.algorithms.BUILT_IN``) on first use."""
    from jaxrl.algorithms import BUILT_IN

    for entry in BUILT_IN:
        if entry["name"] not in _REGISTRY:
            register(**entry)


def names() -> List[str]:
    _load()
    return list(_REGISTRY)


def _load_from_module(name: str) -> None:
    """``MODULE:NAME``: imports MODULE (installed, on PYTHONPATH or in the working
    directory), which registers NAME; the entry then goes by the qualified name, which
    config files record, so a resume, ``eval`` or ``export`` finds it again."""
    from jaxrl.config import import_user_module

    module_name, _, short = name.partition(":")
    try:
        module = import_user_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"algorithm {name}: cannot import {module_name!r} ({exc}); the "
                          f"module must be importable (installed, or on PYTHONPATH)")
    entry = _REGISTRY.get(short)
    if entry is None or entry.module_name != module.__name__:
        raise ConfigError(f"algorithm {name}: {module_name} registers no algorithm {short!r} "
                          f"(it must call jaxrl.registry.register({short!r}, __name__, ...))")
    del _REGISTRY[short]
    _REGISTRY[name] = dataclasses.replace(entry, name=name)


def get(name: str) -> AlgorithmEntry:
    """The entry registered as ``name``; ``MODULE:NAME`` loads a learner of one's own
    from MODULE (the way ``--env MODULE:FACTORY`` loads an env)."""
    _load()
    if name not in _REGISTRY and ":" in name:
        _load_from_module(name)
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown algorithm {name!r}{hint}; available: "
                          f"{', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def entries() -> List[AlgorithmEntry]:
    _load()
    return list(_REGISTRY.values())


def smoke_cases() -> List[Tuple[str, str]]:
    """(name, env id) for every form of every registered learner the contract tests run."""
    return [(e.name, env) for e in entries() for env in (e.smoke_env, *e.more_smoke_envs)]
