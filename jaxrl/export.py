"""Writing a trained member's policy as a self-contained artefact (``jaxrl export``).

The artefact (``jaxrl.inference``) is the learner's own deterministic policy
(``Algorithm.policy``), serialised with ``jax.export`` so that loading it needs neither
jaxrl's learners nor its env suites. Which parts of the learner state it reads is found
by tracing the policy, not declared per learner: a replay buffer, optimiser moments or a
target network never go into it, and a new learner exports with no code of its own.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxrl.envs import spaces
from jaxrl.envs.wrappers import FlattenObservation, JointDiscreteActions
from jaxrl.inference import FILES, FORMAT, ExportError

# lowered for every backend it may be loaded on (lowering needs no such device here)
PLATFORMS = ("cpu", "cuda", "tpu")


def path_name(path) -> str:
    """A state leaf's path as ``params/actor/Dense_0/kernel``."""
    parts = []
    for key in path:
        for attr in ("name", "key", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
    return "/".join(parts)


def read_leaves(algo, state: Any, carry: Any, obs: Any) -> Tuple[Any, list]:
    """The state's tree structure and, for each leaf, whether the policy reads it."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(state)
    leaves = [leaf for _, leaf in flat]

    def act(leaves, carry, obs):
        return algo.policy(treedef.unflatten(leaves)).act(carry, obs)

    jaxpr = jax.make_jaxpr(act)(leaves, carry, obs).jaxpr
    inputs = {id(v): i for i, v in enumerate(jaxpr.invars[:len(leaves)])}
    read = [False] * len(leaves)
    for v in [v for eqn in jaxpr.eqns for v in eqn.invars] + list(jaxpr.outvars):
        if id(v) in inputs:
            read[inputs[id(v)]] = True
    return treedef, [(path_name(p), leaf, r) for (p, leaf), r in zip(flat, read)]


def env_pipeline(algo) -> Tuple[Callable, Callable]:
    """What jaxrl puts between the env ``jaxrl.envs.make`` built and the policy, as
    ``(observation_in, action_out)`` for one observation / action: the wrappers from
    ``algo.eval_env`` down to ``algo.base_env``."""
    chain, node = [], algo.eval_env
    base = getattr(algo, "base_env", algo.eval_env)
    while node is not base:
        if not isinstance(node, (FlattenObservation, JointDiscreteActions)):
            raise ExportError(f"{type(node).__name__} between the env and the policy: an "
                              f"export knows how to replay FlattenObservation and "
                              f"JointDiscreteActions only")
        chain.append(node)
        node = node.env
    params = algo.env_params

    def observation_in(obs):
        for wrapper in reversed(chain):  # innermost first, as the env's step applies them
            if isinstance(wrapper, FlattenObservation):
                obs = wrapper.observation(obs, params)
        return obs

    def action_out(action):
        for wrapper in chain:
            if isinstance(wrapper, JointDiscreteActions):
                action = wrapper.inner_action(action, params)
        return action

    return observation_in, action_out


def describe_space(space) -> Dict[str, Any]:
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": np.asarray(space.nvec).tolist()}
    if isinstance(space, spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "low": space.low.tolist(),
                "high": space.high.tolist()}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: describe_space(s)
                                           for k, s in space.spaces.items()}}
    return {"type": type(space).__name__}


def _jsonable(tree: Any) -> Any:
    return jax.tree.map(lambda x: np.asarray(x).tolist(), serialization.to_state_dict(tree))


def export_policy(algo, state: Any, out: str, info: Optional[Dict[str, Any]] = None,
                  platforms: Tuple[str, ...] = PLATFORMS) -> Dict[str, Any]:
    """Writes one member's policy (``state``: its learner state, unbatched) to ``out``
    and returns what ``policy.json`` says. ``info``: what to record beside it (the run,
    member, seed, hyperparameters, env settings)."""
    state = jax.device_get(state)
    observation_in, action_out = env_pipeline(algo)
    env, env_params = algo.base_env if hasattr(algo, "base_env") else algo.eval_env, \
        algo.env_params
    one_obs = jax.eval_shape(lambda k: env.reset(k, env_params)[0], jax.random.PRNGKey(0))
    batch, = jax.export.symbolic_shape("batch")
    obs_spec = jax.tree.map(lambda s: jax.ShapeDtypeStruct((batch, *s.shape), s.dtype),
                            one_obs)

    def prepared(obs):
        return jax.vmap(observation_in)(obs)

    probe = algo.policy(state)
    # the carry crosses the export boundary as a tuple of its arrays (a learner's own
    # carry types are not serialisable, and a loader needs no jaxrl types)
    carry_tree = jax.tree.structure(jax.eval_shape(lambda: probe.initial_carry(1)))
    carry_spec = tuple(jax.tree.leaves(jax.eval_shape(lambda o: probe.initial_carry(_rows(o)),
                                                      obs_spec)))
    treedef, leaves = read_leaves(algo, state, probe.initial_carry(2),
                                  prepared(jax.tree.map(lambda s: jnp.zeros((2, *s.shape),
                                                                            s.dtype), one_obs)))
    params = {name: np.asarray(leaf) for name, leaf, read in leaves if read}
    if len(params) != sum(read for *_, read in leaves):
        raise ExportError("two state leaves the policy reads have the same path name")

    def act(params, carry, obs):
        values = [params[name] if read else _placeholder(leaf) for name, leaf, read in leaves]
        carry, action = algo.policy(treedef.unflatten(values)).act(
            carry_tree.unflatten(carry), prepared(obs))
        return tuple(jax.tree.leaves(carry)), jax.vmap(action_out)(action)

    def initial_carry(obs):
        return tuple(jax.tree.leaves(probe.initial_carry(_rows(obs))))

    params_spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in params.items()}
    exported = {
        "act": jax.export.export(jax.jit(act), platforms=platforms)(
            params_spec, carry_spec, obs_spec),
        "initial_carry": jax.export.export(jax.jit(initial_carry), platforms=platforms)(
            obs_spec)}
    record = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "learner": getattr(algo, "name", type(algo).__name__),
        "recurrent": bool(carry_spec),
        "observation": {
            "shape": jax.tree.map(lambda s: list(s.shape), one_obs),
            "dtype": jax.tree.map(lambda s: np.dtype(s.dtype).name, one_obs),
            "space": describe_space(env.observation_space(env_params))},
        "action": describe_space(env.action_space(env_params)),
        "action_kind": "greedy / mean action (the policy jaxrl evaluates)",
        "parameters": {name: {"shape": list(v.shape), "dtype": v.dtype.name}
                       for name, v in params.items()},
        "platforms": list(platforms),
        "versions": {"jax": jax.__version__, "jaxrl": _version()},
        **(info or {})}
    record.setdefault("env", {})
    record["env"] = {"id": env.id, **record["env"], "params": _jsonable(env_params)}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, FILES["params"]), "wb") as f:
        f.write(serialization.msgpack_serialize(params))
    for name, fn in exported.items():
        with open(os.path.join(out, FILES[name]), "wb") as f:
            f.write(fn.serialize())
    with open(os.path.join(out, FILES["info"]), "w") as f:
        json.dump(record, f, indent=1, default=_json_default)
    return record


def _rows(obs: Any):
    return jax.tree.leaves(obs)[0].shape[0]


def _placeholder(leaf):
    """An unread state leaf's stand-in while tracing (dropped from the program)."""
    leaf = jnp.asarray(leaf) if not hasattr(leaf, "dtype") else leaf
    if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(jnp.zeros(jax.random.key_data(leaf).shape, jnp.uint32))
    return jnp.zeros(leaf.shape, leaf.dtype)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return str(value)


def _version() -> str:
    from jaxrl import __version__

    return __version__
