"""Adapter for brax environments, ``brax/<name>``.

brax's own training wrappers restart every episode from the *first* state drawn at
reset and drop the terminal observation. Under the shared episode end
(``jaxrl.envs.core.Adapter``) neither happens: jaxrl keeps the time limit (so
``truncated`` is exact and separate from ``terminated``), returns the pre-reset
observation in ``info["final_observation"]`` and, with ``reset_mode="fresh"`` (default),
draws a new initial state for every episode; ``reset_mode="first_state"`` reuses the
state drawn at ``reset``, as brax does, and says so explicitly.
"""
from __future__ import annotations

import copy
import functools

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Adapter, EpisodeParams
from jaxrl.envs.suites import Suite, reset_mode_option


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
        if any(_varying(x) for x in flat):
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


def _varying(x) -> bool:
    """Whether ``x`` varies over a shard_map's manual axes (JAX 0.9: ``aval.vma``; 0.10:
    ``aval.manual_axis_type.varying``)."""
    aval = jax.typeof(x)
    vma = getattr(aval, "vma", None)
    if vma is None:
        vma = getattr(getattr(aval, "manual_axis_type", None), "varying", None)
    return bool(vma)


class PhysicsEnv(Adapter):
    """A deterministic physics env (brax's, MJX Playground's: ``reset(key) -> state``,
    ``step(state, action) -> state`` with ``obs``, ``reward``, ``done``) and no time limit
    of its own: jaxrl keeps one (``max_steps_in_episode``, default ``episode_length``).

    The physics takes about a second to trace and as long again to vmap. Traced once per
    input shape (``TracedOnce``) and reused as the same jaxpr by every program that steps
    or resets (init, training, evaluation, the memory plan), whatever its tracing context:
    vmapping it again then hits JAX's caches."""

    step_uses_key = False  # the physics is deterministic: the whole key draws the reset
    keeps_time_limit = True

    def __init__(self, reset, step, action_size: int, episode_length: int = 1000,
                 reset_mode: str = "fresh"):
        try:
            self.episode_length = int(episode_length)
        except (TypeError, ValueError):
            raise ValueError(f"episode_length={episode_length!r} must be an integer")
        if self.episode_length <= 0:
            raise ValueError(f"episode_length={episode_length} must be positive")
        self.reset_mode = reset_mode_option(reset_mode)
        self.action_size = int(action_size)
        self._reset = TracedOnce(reset)
        self._step = TracedOnce(step)

    @property
    def default_params(self):
        return EpisodeParams(max_steps_in_episode=self.episode_length)

    def with_params(self, params):
        changed = copy.copy(self)
        changed.episode_length = int(params.max_steps_in_episode)
        return changed

    def reset_env(self, key, params):
        state = self._reset(key)
        return _float_obs(state.obs), state

    def step_env(self, key, state, action, params):
        state = self._step(state, action)
        # some envs return a Python float reward; ``done`` is a float flag
        return (_float_obs(state.obs), state, state.reward, state.done > 0.5,
                jnp.zeros((), bool))

    @functools.cached_property
    def _obs_shapes(self):
        # brax's ``observation_size`` runs a reset op by op (seconds of small compiles,
        # on every call); the shape of a traced reset costs no compile.
        return jax.eval_shape(self._reset, jax.random.PRNGKey(0)).obs

    def observation_space(self, params):
        shapes = self._obs_shapes
        if isinstance(shapes, dict):  # some Playground envs observe a dict
            return spaces.Dict({k: spaces.Box(-np.inf, np.inf, v.shape)
                                for k, v in shapes.items()})
        return spaces.Box(-np.inf, np.inf, shapes.shape)

    def action_space(self, params):
        return spaces.Box(-1.0, 1.0, (self.action_size,))


def _float_obs(obs):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), obs)


class BraxEnv(PhysicsEnv):
    def __init__(self, name: str, episode_length: int = 1000, reset_mode: str = "fresh",
                 **brax_kwargs):
        from brax import envs as brax_envs  # heavy import, only when a brax env is made

        _fluid_drag_on_jax_0_10()
        self.brax_env = brax_envs.get_environment(name, **brax_kwargs)
        self.id = f"brax/{name}"
        super().__init__(self.brax_env.reset, self.brax_env.step, self.brax_env.action_size,
                         episode_length, reset_mode)

    def render_env(self, state, params):
        """brax's MuJoCo renderer: OpenGL, offscreen through EGL where no display is set
        (``jaxrl eval --video`` sets ``MUJOCO_GL=egl`` before MuJoCo loads)."""
        from brax.io import image

        from jaxrl.rendering import RenderError

        try:
            return image.render_array(self.brax_env.sys, state.pipeline_state, 240, 320)
        except Exception as exc:  # no OpenGL context: MuJoCo raises its FatalError
            raise RenderError(f"{self.id}: MuJoCo could not render ({exc}); set MUJOCO_GL="
                              f"egl (or osmesa) before jaxrl starts") from exc


class _ClipWithOldKeywords:
    """``jax.numpy`` whose ``clip`` also takes ``a_min``/``a_max`` (for brax.fluid)."""

    def __getattr__(self, name):
        return getattr(jnp, name)

    @staticmethod
    def clip(x, min=None, max=None, a_min=None, a_max=None):
        return jnp.clip(x, a_min if min is None else min, a_max if max is None else max)


def _fluid_drag_on_jax_0_10():
    """brax 0.14.2's fluid drag (what swimmer's viscosity uses) calls ``jnp.clip(x,
    a_min=...)``, keywords JAX 0.10 removed: brax.fluid alone gets a ``jnp`` that still
    takes them (same values; nothing else in brax or JAX changes)."""
    import inspect

    import brax.fluid

    if "a_min" not in inspect.signature(jnp.clip).parameters and brax.fluid.jp is jnp:
        brax.fluid.jp = _ClipWithOldKeywords()


NAMES = ("ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup", "inverted_pendulum",
         "inverted_double_pendulum", "pusher", "reacher", "swimmer", "walker2d")


def _make(name, **options):
    env = BraxEnv(name, **options)
    return env, env.default_params


def _param_kinds(name):
    return {"max_steps_in_episode": int}


SUITE = Suite(
    prefix="brax", module="brax", extra=None, names=lambda: NAMES, make=_make,
    param_kinds=_param_kinds,
    options={"episode_length": int, "reset_mode": str, "backend": str, "n_frames": int},
    time_limit="brax's envs have no time limit (its training wrapper adds one and drops "
               "the final observation); jaxrl keeps it: params.max_steps_in_episode, "
               "default episode_length=1000",
    description="brax physics (MJX, spring, positional, generalized backends)",
    solved={"inverted_pendulum": 950.0},
)
