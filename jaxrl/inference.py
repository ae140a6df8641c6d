"""Loading an exported policy (``jaxrl export``): needs only jax, flax and numpy.

An export directory holds

* ``policy.json``: what the policy is (learner, network settings, env id and params,
  observation and action spaces, the run and member it came from, versions);
* ``params.msgpack``: the arrays the policy reads (network parameters, observation
  normaliser statistics), named by their path in the learner state;
* ``act.jaxexport`` and ``initial_carry.jaxexport``: the policy's computation as
  serialised StableHLO (``jax.export``), taking those arrays as arguments. It includes
  what jaxrl does between the env and the network (flattening observations, joint
  discrete actions), so it takes the env's own observations and returns its actions.

JAX reads a serialised function written by a JAX release up to about six months older
(``jax.export``'s compatibility guarantee); ``policy.json`` names the writer's version.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

FORMAT = "jaxrl-policy/1"
FILES = {"info": "policy.json", "params": "params.msgpack", "act": "act.jaxexport",
         "initial_carry": "initial_carry.jaxexport"}


class ExportError(ValueError):
    """A policy that cannot be exported or an export directory that cannot be read."""


class ExportedPolicy:
    """``policy(obs) -> action`` (feed-forward policies) and ``policy.step(carry, obs) ->
    (carry, action)`` from ``policy.initial_carry(batch)`` (any policy; the carry is a
    tuple of arrays, empty for a feed-forward policy). ``obs`` is one
    observation of the env (unbatched) or a batch of them (leading axis); the action
    comes back likewise. The greedy / mean action: the policy jaxrl evaluates."""

    def __init__(self, info: Dict[str, Any], params: Dict[str, np.ndarray], act, initial):
        self.info, self.params = info, params
        self._act, self._initial = act, initial
        self.recurrent = bool(info["recurrent"])
        self._obs_ndim = jax.tree.map(len, info["observation"]["shape"],
                                      is_leaf=lambda x: isinstance(x, list))

    def initial_carry(self, batch_size: int) -> Any:
        """The policy's memory at an episode's start (``()`` for a feed-forward policy)."""
        obs = jax.tree.map(lambda shape, dtype: jnp.zeros((batch_size, *shape), dtype),
                           self.info["observation"]["shape"], self.info["observation"]["dtype"],
                           is_leaf=lambda x: isinstance(x, list))
        return self._initial.call(obs)

    def step(self, carry: Any, obs: Any) -> Tuple[Any, Any]:
        single = self._unbatched(obs)
        if single:
            obs = jax.tree.map(lambda x: jnp.asarray(x)[None], obs)
        carry, action = self._act.call(self.params, carry, obs)
        return carry, (action[0] if single else action)

    def __call__(self, obs: Any) -> Any:
        if self.recurrent:
            raise ExportError("this policy has memory: use policy.step(carry, obs) from "
                              "policy.initial_carry(batch_size), resetting a row's carry "
                              "where its episode starts")
        return self.step((), obs)[1]  # a feed-forward policy's carry is empty

    def _unbatched(self, obs: Any) -> bool:
        ndims = jax.tree.leaves(jax.tree.map(lambda x, n: jnp.ndim(x) - n, obs,
                                             self._obs_ndim))
        if any(d not in (0, 1) for d in ndims) or len(set(ndims)) > 1:
            raise ExportError(f"observations of shape {jax.tree.map(jnp.shape, obs)}; this "
                              f"policy takes {self.info['observation']['shape']} (one) or a "
                              f"batch of them")
        return ndims[0] == 0

    def __repr__(self) -> str:
        i = self.info
        origin = (f", member {i['member']} of {i['run_dir']}" if "run_dir" in i else "")
        return (f"ExportedPolicy({i['learner']} on {i['env']['id']}{origin}, "
                f"{'recurrent' if self.recurrent else 'feed-forward'})")


def load_policy(path: str) -> ExportedPolicy:
    """The policy ``jaxrl export`` wrote to ``path``."""
    missing = [name for name in FILES.values() if not os.path.exists(os.path.join(path, name))]
    if missing:
        raise ExportError(f"{path} is not a jaxrl policy export (missing {', '.join(missing)}); "
                          f"write one with `jaxrl export RUN --out {path}`")
    with open(os.path.join(path, FILES["info"])) as f:
        info = json.load(f)
    if info.get("format") != FORMAT:
        raise ExportError(f"{path}: format {info.get('format')!r}; this jaxrl reads {FORMAT}")
    with open(os.path.join(path, FILES["params"]), "rb") as f:
        params = serialization.msgpack_restore(f.read())
    functions = []
    for name in ("act", "initial_carry"):
        with open(os.path.join(path, FILES[name]), "rb") as f:
            try:
                functions.append(jax.export.deserialize(bytearray(f.read())))
            except Exception as exc:  # the serialised form is newer or damaged
                raise ExportError(f"{path}/{FILES[name]} cannot be read by jax "
                                  f"{jax.__version__} (written by jax "
                                  f"{info['versions']['jax']}): {exc}") from exc
    return ExportedPolicy(info, params, *functions)
