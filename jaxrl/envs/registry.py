"""``make(id)`` / ``list()`` / ``register(id, factory)``: every env by one name.

An id is one of:
- a plain gymnax id (``CartPole-v1``);
- ``suite/name`` for a suite in ``jaxrl.envs.suites`` (``craftax/Craftax-Classic-Symbolic-v1``,
  ``brax/ant``) or one a package registers through the ``jaxrl.envs`` entry-point group
  (an entry point names a ``Suite``);
- an id given to ``register(id, factory)`` in this process;
- ``package.module:factory``: the factory imported by name, so a custom env runs from
  the command line (``jaxrl train ppo --env my_envs:make_maze``).

A factory takes no arguments and returns a jaxrl ``Env``, ``(Env, params)``, or a
gymnax-style env (``reset_env``/``step_env``/``default_params``), which is adapted.
"""
from __future__ import annotations

import builtins
import dataclasses
import difflib
import functools
import importlib
import importlib.metadata
from typing import Any, Callable, Dict, List, Optional, Tuple

from jaxrl.config import ConfigError, coerce_scalar
from jaxrl.envs.core import Env
from jaxrl.envs.suites import BUILTIN, Suite, dataclass_kinds

ENTRY_POINT_GROUP = "jaxrl.envs"


class UnknownEnvError(ValueError):
    pass


# ------------------------------------------------------------------------------- suites

@functools.cache
def suites() -> Dict[str, Suite]:
    """Suites by prefix: jaxrl's own, then those installed packages register."""
    found = {}
    for module in BUILTIN:
        suite = importlib.import_module(f"jaxrl.envs.suites.{module}").SUITE
        found[suite.prefix] = suite
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            suite = entry.load()
        except Exception as exc:  # a broken plug-in must not take every command down
            import warnings

            warnings.warn(f"the {ENTRY_POINT_GROUP} entry point {entry.name!r} "
                          f"({entry.value}) failed to load: {exc}")
            continue
        if not isinstance(suite, Suite):
            raise UnknownEnvError(f"the {ENTRY_POINT_GROUP} entry point {entry.name!r} "
                                  f"({entry.value}) must name a jaxrl.envs.Suite; got "
                                  f"{type(suite).__name__}")
        found.setdefault(suite.prefix, suite)
    return found


# envs registered in this process: id -> factory
_REGISTERED: Dict[str, Callable[[], Any]] = {}


def register(env_id: str, factory: Callable[[], Any]) -> None:
    """Makes ``factory`` buildable as ``env_id`` (by ``make`` and every command run in
    this process). ``factory()`` returns an ``Env``, ``(Env, params)`` or a gymnax-style
    env; its params' scalar fields become the env's parameters (``--env-set``)."""
    if not isinstance(env_id, str) or not env_id or ":" in env_id:
        raise ValueError(f"register: env id {env_id!r} must be a non-empty string without ':'")
    prefix = env_id.split("/", 1)[0] if "/" in env_id else ""
    if prefix and prefix in suites():
        raise ValueError(f"register: {env_id!r} would shadow the {prefix!r} suite; choose "
                         f"another prefix")
    if not callable(factory):
        raise ValueError(f"register: the factory for {env_id!r} must be callable")
    _REGISTERED[env_id] = factory


def _suite_of(env_id: str) -> Tuple[Optional[Suite], str]:
    """``(suite, name)`` for a suite id, ``(None, env_id)`` for a registered or
    ``module:factory`` id."""
    if env_id in _REGISTERED or ":" in env_id:
        return None, env_id
    prefix, _, name = env_id.partition("/")
    if name and prefix in suites():
        return suites()[prefix], name
    return suites()[""], env_id


def _require_installed(suite: Suite, env_id: str) -> None:
    if not suite.installed():
        raise UnknownEnvError(f"{env_id} needs the {suite.prefix or suite.module} suite, "
                              f"which is not installed: {suite.install_hint()}")


def list() -> List[str]:  # noqa: A001 - mirrors gymnax/gym naming: jaxrl.envs.list()
    """Every env id of the installed suites, and the ids registered in this process."""
    ids = []
    for suite in suites().values():
        if suite.installed():
            ids += [suite.env_id(name) for name in suite.names()]
    return ids + builtins.list(_REGISTERED)


def _check_id(env_id: str) -> Tuple[Optional[Suite], str]:
    if not isinstance(env_id, str) or not env_id:
        raise UnknownEnvError(f"env id {env_id!r} must be a non-empty string")
    suite, name = _suite_of(env_id)
    if suite is None:
        return None, name
    _require_installed(suite, env_id)
    known = suite.names()
    if name not in known:
        everything = list()
        close = difflib.get_close_matches(env_id, everything, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownEnvError(f"unknown env {env_id!r}.{hint} `jaxrl envs` lists all "
                              f"{len(everything)} ids.")
    if name in suite.refused:
        raise UnknownEnvError(f"{env_id} cannot be used here: {suite.refused[name]}.")
    return suite, name


# ----------------------------------------------------------------- custom envs by name

def _load_factory(env_id: str) -> Callable[[], Any]:
    if env_id in _REGISTERED:
        return _REGISTERED[env_id]
    from jaxrl.config import import_user_module

    module_name, _, attr = env_id.partition(":")
    try:
        module = import_user_module(module_name)
    except ImportError as exc:
        raise UnknownEnvError(f"--env {env_id}: cannot import {module_name!r} ({exc}); the "
                              f"module must be importable (installed, or on PYTHONPATH)")
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise UnknownEnvError(f"--env {env_id}: {module_name} has no {attr!r}")
    if not callable(factory):
        raise UnknownEnvError(f"--env {env_id}: {attr} is not callable")
    return factory


@functools.cache
def _built_by_factory(env_id: str) -> Tuple[Env, Any]:
    """The env a factory returns, adapted to the protocol (built once per process: its
    parameter kinds are read from it)."""
    made = _load_factory(env_id)()
    params = None
    if isinstance(made, tuple) and len(made) == 2:
        made, params = made
    if not isinstance(made, Env):
        if all(hasattr(made, a) for a in ("reset_env", "step_env", "default_params")):
            from jaxrl.envs.suites.gymnax import GymnaxEnv

            made = GymnaxEnv(made, env_id, params)
            params = made.default_params
        else:
            raise UnknownEnvError(
                f"--env {env_id}: the factory returned {type(made).__name__}; it must return "
                f"a jaxrl.envs.Env, (Env, params) or a gymnax-style env")
    if params is None:
        params = made.default_params
    made.id = env_id
    return made, params


# ------------------------------------------------------------------ parameters and make

def param_kinds(env_id: str) -> Dict[str, Optional[type]]:
    """Name -> Python type of every parameter and constructor option of ``env_id``
    (None for an array parameter, which no flag can set)."""
    suite, name = _check_id(env_id)
    if suite is None:
        return {**dataclass_kinds(_built_by_factory(env_id)[1]), **WRAPPER_OPTIONS}
    kinds = (suite.param_kinds(name) if suite.param_kinds is not None
             else dataclass_kinds(suite.make(name)[1]))
    return {**kinds, **suite.options, **WRAPPER_OPTIONS}


#: Options every env takes, applied by a wrapper around it
WRAPPER_OPTIONS = {"trial_episodes": int,  # in-context trials (envs.trials), RL²
                   "observe": str}         # partial observability (wrappers.ObservationSubset)

POSITIVE = ("max_steps_in_episode", "episode_length", "n_frames", "max_steps",
            "max_timesteps", "time_limit", "trial_episodes")


def coerce_overrides(env_id: str, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Env overrides (CLI strings, YAML values or Python values) typed by the parameter they
    set, with ``coerce_scalar``'s rules (whole numbers within int32 for ints, float32 range
    for floats); raises UnknownEnvError / ConfigError naming the parameter."""
    suite, _ = _check_id(env_id)
    if not isinstance(overrides, dict):
        raise ConfigError(f"env_overrides for {env_id} must be a mapping of parameter names "
                          f"to values (e.g. {{max_steps_in_episode: 200}}); got {overrides!r}")
    if not overrides:
        return {}
    kinds = param_kinds(env_id)
    unknown = sorted(set(overrides) - set(kinds), key=str)
    if unknown:
        raise UnknownEnvError(
            f"{env_id} has no env parameter {unknown[0]!r}; its parameters are: "
            f"{', '.join(sorted(kinds))}.")
    typed = {}
    for name, value in overrides.items():
        kind = kinds[name]
        if kind not in (int, float, bool, str):
            raise UnknownEnvError(f"{env_id} parameter {name} is an array; it cannot be set "
                                  f"as an override")
        typed[name] = coerce_scalar(kind, value, f"{env_id} parameter {name}")
    for name in POSITIVE:
        if name in typed and typed[name] <= 0:
            raise UnknownEnvError(f"{env_id} parameter {name}={overrides[name]} must be "
                                  f"positive")
    if "reset_mode" in typed:
        from jaxrl.envs.core import RESET_MODES

        if typed["reset_mode"] not in RESET_MODES:
            raise UnknownEnvError(f"{env_id} parameter reset_mode={typed['reset_mode']!r}: "
                                  f"choose one of {RESET_MODES}")
    return typed


def make(env_id: str, **overrides: Any) -> Tuple[Env, Any]:
    """Build an env and its default params, with overrides applied.

    Overrides that name a field of the env's params pytree replace it (``make(
    "CartPole-v1", max_steps_in_episode=200)``); the others are the suite's
    constructor options (brax: ``episode_length``, ``reset_mode``, ``backend``,
    ``n_frames``; ``jaxrl envs --suite NAME`` lists them). ``trial_episodes=K`` (any
    env) makes trials of K episodes of one task the learner's episodes (in-context
    meta-RL, ``envs.trials``); ``observe=I,J,...`` keeps only those features of a 1-D
    observation (a partially observed task, ``wrappers.ObservationSubset``). Values are
    typed strictly (``coerce_overrides``).
    """
    overrides = coerce_overrides(env_id, overrides)
    trials = overrides.pop("trial_episodes", None)
    observe = overrides.pop("observe", None)
    env, params = _make(env_id, overrides)
    if observe is not None:
        from jaxrl.envs.wrappers import ObservationSubset

        try:
            env = ObservationSubset(env, observe)
        except ValueError as exc:
            raise UnknownEnvError(f"{env_id}: {exc}") from exc
    if trials is not None:
        from jaxrl.envs.trials import InContextTrials

        env = InContextTrials(env, trials)
    return env, params


def _make(env_id: str, overrides: Dict[str, Any]) -> Tuple[Env, Any]:
    suite, name = _suite_of(env_id)
    if suite is None:
        env, params = _built_by_factory(env_id)
        if overrides:
            params = params.replace(**overrides)
            env = env.with_params(params)
        return env, params
    options = {k: overrides.pop(k) for k in suite.options if k in overrides}
    try:
        env, params = suite.make(name, **options)
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
        raise UnknownEnvError(f"{env_id} with {options}: {exc}") from exc
    if overrides:
        params = params.replace(**overrides)
        env = env.with_params(params)  # its default_params (and spaces) follow them
    env.id = env_id
    return env, params


# ------------------------------------------------------------------------------ metadata

def solved_threshold(env_id: str) -> Optional[float]:
    """The return at which an episode counts as solved, where the suite defines one."""
    try:
        suite, name = _suite_of(env_id)
    except Exception:
        return None
    return None if suite is None else suite.solved.get(name)


def reference_scores(env_id: str) -> Optional[Tuple[float, float]]:
    """``(random, max)`` returns for score normalisation, where known."""
    try:
        suite, name = _suite_of(env_id)
    except Exception:
        return None
    return None if suite is None else suite.reference.get(name)


def all_reference_scores() -> Dict[str, Tuple[float, float]]:
    return {suite.env_id(name): ref for suite in suites().values()
            for name, ref in suite.reference.items()}


@dataclasses.dataclass(frozen=True)
class SuiteStatus:
    prefix: str
    installed: bool
    install: str
    envs: int
    time_limit: str
    description: str


def suite_table() -> List[SuiteStatus]:
    """What ``jaxrl envs`` prints: every suite, installed or not, and how to install it."""
    rows = []
    for suite in suites().values():
        installed = suite.installed()
        rows.append(SuiteStatus(suite.prefix or "gymnax", installed, suite.install_hint(),
                                len(suite.names()) if installed else 0, suite.time_limit,
                                suite.description))
    return rows
