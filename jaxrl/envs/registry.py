"""``make(id)`` / ``list()``: every gymnax id and every brax env as ``brax/<name>``."""
from __future__ import annotations

import builtins
import dataclasses
import difflib
from typing import Any, Dict, List, Tuple

from jaxrl.config import ConfigError, coerce_scalar
from jaxrl.envs.brax_adapter import RESET_MODES
from jaxrl.envs.core import Env

# gymnax envs that fetch data from the internet when constructed.
NEEDS_DOWNLOAD = {"MNISTBandit-bsuite": "it downloads MNIST when constructed"}

BRAX_NAMES = ("ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup",
              "inverted_pendulum", "inverted_double_pendulum", "pusher", "reacher",
              "swimmer", "walker2d")
# brax constructor options (not params): name -> type
BRAX_KWARGS = {"episode_length": int, "reset_mode": str, "backend": str, "n_frames": int}


class UnknownEnvError(ValueError):
    pass


def _gymnax_ids() -> List[str]:
    import gymnax

    return builtins.list(gymnax.registered_envs)


def list() -> List[str]:  # noqa: A001 - mirrors gymnax/gym naming: jaxrl.envs.list()
    """All registered env ids."""
    return _gymnax_ids() + [f"brax/{n}" for n in BRAX_NAMES]


def _check_id(env_id: str) -> None:
    known = list()
    if env_id not in known:
        close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownEnvError(
            f"unknown env {env_id!r}.{hint} `jaxrl.envs.list()` shows all {len(known)} ids.")
    if env_id in NEEDS_DOWNLOAD:
        raise UnknownEnvError(f"{env_id} cannot be built offline: {NEEDS_DOWNLOAD[env_id]}.")


def _param_kinds(env_id: str) -> Dict[str, type]:
    """Name -> Python type of every overridable parameter (without building a brax env)."""
    if env_id.startswith("brax/"):
        from jaxrl.envs.brax_adapter import BraxParams

        return {"max_steps_in_episode": int, **BRAX_KWARGS,
                **{f.name: type(getattr(BraxParams(), f.name))
                   for f in dataclasses.fields(BraxParams)}}
    import gymnax

    _, params = gymnax.make(env_id)
    kinds = {}
    for f in dataclasses.fields(params):
        current = getattr(params, f.name)
        if hasattr(current, "ndim") and current.ndim > 0:
            kinds[f.name] = None  # an array parameter: not settable from a flag
        else:
            kinds[f.name] = type(current.item() if hasattr(current, "item") else current)
    return kinds


def coerce_overrides(env_id: str, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Env overrides (CLI strings, YAML values or Python values) typed by the parameter they
    set, with ``coerce_scalar``'s rules (whole numbers within int32 for ints, float32 range
    for floats); raises UnknownEnvError / ConfigError naming the parameter."""
    _check_id(env_id)
    if not isinstance(overrides, dict):
        raise ConfigError(f"env_overrides for {env_id} must be a mapping of parameter names "
                          f"to values (e.g. {{max_steps_in_episode: 200}}); got {overrides!r}")
    if not overrides:
        return {}
    kinds = _param_kinds(env_id)
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
    for name in ("max_steps_in_episode", "episode_length", "n_frames"):
        if name in typed and typed[name] <= 0:
            raise UnknownEnvError(f"{env_id} parameter {name}={overrides[name]} must be "
                                  f"positive")
    if typed.get("reset_mode", "fresh") not in RESET_MODES:
        raise UnknownEnvError(f"{env_id} parameter reset_mode={typed['reset_mode']!r}: choose "
                              f"one of {RESET_MODES}")
    return typed


def make(env_id: str, **overrides: Any) -> Tuple[Env, Any]:
    """Build an env and its default params, with field overrides applied.

    Overrides that name a field of the env's params pytree replace it (``make(
    "CartPole-v1", max_steps_in_episode=200)``); brax envs also take constructor
    options ``episode_length``, ``reset_mode`` ("fresh" | "first_state"), ``backend``,
    ``n_frames``. Values are typed strictly (``coerce_overrides``).
    """
    overrides = coerce_overrides(env_id, overrides)
    if env_id.startswith("brax/"):
        from jaxrl.envs.brax_adapter import BraxEnv

        ctor = {k: overrides.pop(k) for k in BRAX_KWARGS if k in overrides}
        try:
            env: Env = BraxEnv(env_id.split("/", 1)[1], **ctor)
        except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
            raise UnknownEnvError(f"{env_id} with {ctor}: {exc}") from exc
        params = env.default_params.replace(**overrides)
        env.episode_length = int(params.max_steps_in_episode)  # default_params reflects it
        return env, params
    import gymnax

    from jaxrl.envs.gymnax_adapter import GymnaxEnv

    raw, raw_params = gymnax.make(env_id)
    params = raw_params.replace(**overrides)
    return GymnaxEnv(raw, env_id, params), params
