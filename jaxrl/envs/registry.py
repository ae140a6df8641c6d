"""``make(id)`` / ``list()``: every gymnax id and every brax env as ``brax/<name>``."""
from __future__ import annotations

import builtins
import dataclasses
import difflib
from typing import Any, Dict, List, Tuple

from jaxrl.envs.core import Env

# gymnax envs that fetch data from the internet when constructed.
NEEDS_DOWNLOAD = {"MNISTBandit-bsuite": "it downloads MNIST when constructed"}

BRAX_NAMES = ("ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup",
              "inverted_pendulum", "inverted_double_pendulum", "pusher", "reacher",
              "swimmer", "walker2d")
BRAX_KWARGS = ("episode_length", "reset_mode", "backend", "n_frames")


class UnknownEnvError(ValueError):
    pass


def _gymnax_ids() -> List[str]:
    import gymnax

    return builtins.list(gymnax.registered_envs)


def list() -> List[str]:  # noqa: A001 - mirrors gymnax/gym naming: jaxrl.envs.list()
    """All registered env ids."""
    return _gymnax_ids() + [f"brax/{n}" for n in BRAX_NAMES]


def make(env_id: str, **overrides: Any) -> Tuple[Env, Any]:
    """Build an env and its default params, with field overrides applied.

    Overrides that name a field of the env's params pytree replace it (``make(
    "CartPole-v1", max_steps_in_episode=200)``); brax envs also take constructor
    options ``episode_length``, ``reset_mode`` ("fresh" | "first_state"), ``backend``.
    """
    known = list()
    if env_id not in known:
        close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownEnvError(
            f"unknown env {env_id!r}.{hint} `jaxrl.envs.list()` shows all {len(known)} ids.")
    if env_id.startswith("brax/"):
        from jaxrl.envs.brax_adapter import BraxEnv

        ctor = {k: overrides.pop(k) for k in BRAX_KWARGS if k in overrides}
        try:
            env: Env = BraxEnv(env_id.split("/", 1)[1], **ctor)
        except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
            raise UnknownEnvError(f"{env_id} with {ctor}: {exc}") from exc
    else:
        if env_id in NEEDS_DOWNLOAD:
            raise UnknownEnvError(
                f"{env_id} cannot be built offline: {NEEDS_DOWNLOAD[env_id]}.")
        import gymnax

        from jaxrl.envs.gymnax_adapter import GymnaxEnv

        raw, raw_params = gymnax.make(env_id)
        params = replace_params(raw_params, overrides, env_id)
        return GymnaxEnv(raw, env_id, params), params
    params = replace_params(env.default_params, overrides, env_id)
    env.episode_length = int(params.max_steps_in_episode)  # default_params reflects overrides
    return env, params


def replace_params(params: Any, overrides: Dict[str, Any], env_id: str) -> Any:
    if not overrides:
        return params
    fields = {f.name for f in dataclasses.fields(params)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise UnknownEnvError(
            f"{env_id} has no env parameter {unknown[0]!r}; its parameters are: "
            f"{', '.join(sorted(fields))}.")
    typed = {}
    for name, value in overrides.items():
        current = getattr(params, name)
        kind = type(current.item() if hasattr(current, "item") else current)
        try:
            typed[name] = kind(value) if kind in (int, float, bool) else value
        except (TypeError, ValueError, OverflowError):
            raise UnknownEnvError(f"{env_id} parameter {name}={value!r} must be a "
                                  f"{kind.__name__} (default {current})")
        if name == "max_steps_in_episode" and typed[name] <= 0:
            raise UnknownEnvError(f"{env_id} parameter max_steps_in_episode={value} must be "
                                  f"positive")
    return params.replace(**typed)
