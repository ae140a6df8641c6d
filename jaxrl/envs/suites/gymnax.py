"""gymnax (>= 1.0): classic control, bsuite, MinAtar and the misc envs, under their plain
ids (``CartPole-v1``).

gymnax's ``step_env`` is one transition and ``is_truncated`` its time limit
(``state.time >= params.max_steps_in_episode``, apart from ``terminated`` since 1.0); the
auto-reset is jaxrl's, with gymnax's own key split, so a run steps exactly as under
gymnax's ``step``. The adapter fixes dtypes (float32 observations and rewards, bool
flags) so scan carries are stable across envs. bsuite's DeepSea carries diagnostic
counters across its resets; under the shared reset they restart with each episode.
"""
from __future__ import annotations

import builtins
import copy
import os

import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Adapter
from jaxrl.envs.suites import Suite, dataclass_kinds, defer_imports


def convert_space(space) -> spaces.Space:
    """A gymnax-style space (gymnax's, Craftax's) as a jaxrl space."""
    name = type(space).__name__
    if name == "Discrete":
        return spaces.Discrete(int(space.n))
    if name == "Box":
        shape = tuple(space.shape) if not isinstance(space.shape, int) else (space.shape,)
        low = np.asarray(space.low, np.float32)
        high = np.asarray(space.high, np.float32)
        big = np.finfo(np.float32).max
        low = np.where(low <= -big, -np.inf, low)
        high = np.where(high >= big, np.inf, high)
        return spaces.Box(low, high, shape)
    raise TypeError(f"unsupported gymnax space {space!r}")


CLASSIC_CONTROL = ("Acrobot-v1", "CartPole-v1", "Pendulum-v1", "MountainCar-v0",
                   "MountainCarContinuous-v0")


def _obs(x):
    return jnp.asarray(x, jnp.float32)


class GymnaxEnv(Adapter):
    """Any env with gymnax's ``reset_env(key, params)`` / ``step_env(key, state, action,
    params)`` and ``is_truncated`` (gymnax's base class); also what a custom factory that
    returns a gymnax env is wrapped in."""

    def __init__(self, env, env_id: str, params=None):
        self.gymnax_env = env
        self.id = env_id
        self._use_params(env.default_params if params is None else params)

    def _use_params(self, params):
        # Spaces are static: read them once from concrete params, never from traced ones.
        self._params = params
        self._observation_space = convert_space(self.gymnax_env.observation_space(params))
        self._action_space = convert_space(self.gymnax_env.action_space(params))

    @property
    def default_params(self):
        """The params ``make`` built (gymnax defaults with the overrides applied)."""
        return self._params

    def with_params(self, params):
        changed = copy.copy(self)  # a subclass's settings (Craftax's reset_mode) kept
        changed._use_params(params)
        return changed

    def reset_env(self, key, params):
        obs, state = self.gymnax_env.reset_env(key, params)
        return _obs(obs), state

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, _ = self.gymnax_env.step_env(key, state, action, params)
        truncated = self.gymnax_env.is_truncated(state, params)
        return _obs(obs), state, reward, terminated, truncated

    def render_env(self, state, params):
        """Classic control through gymnasium's renderer (gymnax's adapter, pygame), the
        image envs (MinAtar, bsuite Catch, ...) from their observation."""
        from jaxrl.rendering import RenderError, observation_frame

        name = getattr(self.gymnax_env, "name", self.id)
        if name in CLASSIC_CONTROL:
            # pygame's init: no sound card, no display (it draws off screen)
            os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
            try:
                from gymnax.visualize.vis_gym import render_gym_frame
            except ImportError as exc:
                raise RenderError(f"{self.id}: rendering classic control needs gymnasium "
                                  f"and pygame (pip install 'jaxrl[render]'): {exc}") from exc
            return render_gym_frame(name, state, params)
        if not hasattr(self.gymnax_env, "get_obs"):
            raise NotImplementedError(f"{self.id} has no renderer")
        try:
            obs = self.gymnax_env.get_obs(state, params)
        except TypeError:
            obs = self.gymnax_env.get_obs(state)
        return observation_frame(obs)

    def observation_space(self, params):
        return self._observation_space

    def action_space(self, params):
        return self._action_space


# envs that fetch data from the internet when constructed
NEEDS_DOWNLOAD = {"MNISTBandit-bsuite": "it downloads MNIST when constructed, which needs a "
                                        "network"}


def _gymnax():
    """gymnax, its render-only imports deferred (``defer_imports``)."""
    defer_imports("seaborn", "matplotlib.pyplot")
    import gymnax

    return gymnax


def _names():
    gymnax = _gymnax()

    return builtins.list(gymnax.registered_envs)


def _make(name):
    gymnax = _gymnax()

    raw, params = gymnax.make(name)
    return GymnaxEnv(raw, name, params), params


def _param_kinds(name):
    gymnax = _gymnax()

    return dataclass_kinds(gymnax.make(name)[1])


SUITE = Suite(
    prefix="", module="gymnax", extra=None, names=_names, make=_make,
    param_kinds=_param_kinds, refused=NEEDS_DOWNLOAD,
    time_limit="gymnax >= 1.0 returns `terminated` from step_env and marks its time limit "
               "apart (`is_truncated`: state.time >= params.max_steps_in_episode)",
    description="classic control, bsuite, MinAtar and misc envs (plain ids)",
    # gym's reward_threshold for the envs that define one
    solved={"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0,
            "MountainCarContinuous-v0": 90.0},
    # (random, max) returns for score normalisation. "random" is the mean return of a
    # uniform random policy, measured on the gymnax envs (20,000 episodes each,
    # PRNGKey(0)); "max" is the most an episode can return. CartPole-v1: random 22.35
    # +- 0.08 (s.e.), max 500 = one point per step for gym's 500-step limit. Acrobot-v1
    # and MountainCar-v0 pay -1 per step until the goal, within 500 and 200 steps: the
    # random policy measured -498.9 and -200.0, so we use the time-out returns -500 and
    # -200; their max of 0 is the reward bound (goal at once), which no policy attains.
    reference={"CartPole-v1": (22.35, 500.0), "Acrobot-v1": (-500.0, 0.0),
               "MountainCar-v0": (-200.0, 0.0)},
)
