"""Adapter for brax environments, ``brax/<name>``.

brax's own training wrappers restart every episode from the *first* state drawn at
reset and drop the terminal observation. This adapter does neither: it keeps its own
time limit (so ``truncated`` is exact and separate from ``terminated``), returns the
pre-reset observation in ``info["final_observation"]`` and, with
``reset_mode="fresh"`` (default), draws a new initial state for every episode. Under
vmap that fresh reset is computed every step and selected where an episode ended; for
expensive systems ``reset_mode="first_state"`` reuses the state drawn at ``reset``,
as brax does, and says so explicitly.
"""
from __future__ import annotations

import copy
import functools
from typing import Any

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Env

RESET_MODES = ("fresh", "first_state")


class TracedOnce:
    """``fn`` traced to a jaxpr once per input structure, shapes and dtypes, and
    evaluated from that jaxpr in every later trace.

    ``jax.jit`` would trace again in each new tracing context (a mesh, a shard_map, the
    named member axis): the init, training and evaluation programs each differ, so each
    paid a brax reset's and step's full trace and vmap (benchmarks/README.md, "Compile
    time on brax"). The jaxpr
    (and the jitted functions inside it, whose vmapped forms JAX caches) does not depend
    on the context, only on the inputs' shapes and dtypes."""

    def __init__(self, fn):
        self.fn = fn
        self._traced = {}

    def __call__(self, *args):
        flat, tree = jax.tree.flatten(args)
        if any(getattr(jax.typeof(x), "vma", None) for x in flat):
            # inside a shard_map that checks varying axes, a replayed jaxpr's constants
            # would not be marked varying as traced Python constants are: trace anew
            return self.fn(*args)
        signature = (tree, tuple((jnp.shape(x), jnp.result_type(x)) for x in flat))
        if signature not in self._traced:
            abstract = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in signature[1]]
            jaxpr, out_shape = jax.make_jaxpr(self.fn, return_shape=True)(
                *jax.tree.unflatten(tree, abstract))
            self._traced[signature] = jaxpr, jax.tree.structure(out_shape)
        jaxpr, out_tree = self._traced[signature]
        return jax.tree.unflatten(out_tree, jax.extend.core.jaxpr_as_fun(jaxpr)(*flat))


@struct.dataclass
class BraxParams:
    max_steps_in_episode: int = 1000


@struct.dataclass
class BraxEnvState:
    brax_state: Any
    time: jax.Array
    first_state: Any  # only used with reset_mode="first_state"; None otherwise


class BraxEnv(Env):
    def __init__(self, name: str, episode_length: int = 1000, reset_mode: str = "fresh",
                 **brax_kwargs):
        from brax import envs as brax_envs  # heavy import, only when a brax env is made

        if reset_mode not in RESET_MODES:
            raise ValueError(f"reset_mode={reset_mode!r}: choose one of {RESET_MODES}")
        self.brax_env = brax_envs.get_environment(name, **brax_kwargs)
        self.id = f"brax/{name}"
        try:
            self.episode_length = int(episode_length)
        except (TypeError, ValueError):
            raise ValueError(f"episode_length={episode_length!r} must be an integer")
        if self.episode_length <= 0:
            raise ValueError(f"episode_length={episode_length} must be positive")
        self.reset_mode = reset_mode
        # brax's physics takes about a second to trace and as long again to vmap. Traced
        # once per input shape and reused as the same jaxpr by every program that steps
        # or resets (init, training, evaluation, the memory plan), whatever its tracing
        # context: vmapping it again then hits JAX's caches.
        self._brax_reset = TracedOnce(self.brax_env.reset)
        self._brax_step = TracedOnce(self.brax_env.step)

    @property
    def default_params(self):
        return BraxParams(max_steps_in_episode=self.episode_length)

    def reset(self, key, params):
        brax_state = self._brax_reset(key)
        first = brax_state if self.reset_mode == "first_state" else None
        state = BraxEnvState(brax_state, jnp.zeros((), jnp.int32), first)
        return brax_state.obs.astype(jnp.float32), state

    def step(self, key, state, action, params):
        next_brax = self._brax_step(state.brax_state, action)
        time = state.time + 1
        terminated = jnp.asarray(next_brax.done).astype(bool)
        truncated = (time >= params.max_steps_in_episode) & ~terminated
        done = terminated | truncated
        final_obs = next_brax.obs.astype(jnp.float32)
        if self.reset_mode == "fresh":
            reset_brax = self._brax_reset(key)
        else:
            reset_brax = state.first_state
        # Where the episode ended the whole brax State (done/reward fields included) is
        # replaced by the reset one; the returned reward/flags come from the real step.
        new_brax = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_brax, next_brax)
        new_state = BraxEnvState(new_brax, jnp.where(done, 0, time), state.first_state)
        info = {"final_observation": final_obs, "terminated": terminated, "truncated": truncated}
        obs = jnp.where(done, reset_brax.obs, next_brax.obs).astype(jnp.float32)
        reward = jnp.asarray(next_brax.reward, jnp.float32)  # some envs return a Python float
        return obs, new_state, reward, terminated, truncated, info

    def for_evaluation(self):
        """Evaluation stops each copy at its first episode's end, so the state an
        auto-reset draws is never used: reusing the first state (no reset traced into
        the step) is exact there and compiles a smaller step."""
        if self.reset_mode == "first_state":
            return self
        evaluated = copy.copy(self)
        evaluated.reset_mode = "first_state"
        return evaluated

    @functools.cached_property
    def _obs_shape(self):
        # brax's ``observation_size`` runs a reset op by op (seconds of small compiles,
        # on every call); the shape of a traced reset costs no compile.
        return tuple(jax.eval_shape(self._brax_reset, jax.random.PRNGKey(0)).obs.shape)

    def observation_space(self, params):
        return spaces.Box(-np.inf, np.inf, self._obs_shape)

    def action_space(self, params):
        return spaces.Box(-1.0, 1.0, (self.brax_env.action_size,))

    def max_episode_steps(self, params):
        return int(params.max_steps_in_episode)
