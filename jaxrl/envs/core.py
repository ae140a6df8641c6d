"""The functional environment protocol (gymnax 1.0 conventions).

    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

``step`` auto-resets: when ``terminated | truncated`` the returned ``obs``/``state`` already
belong to a fresh episode, and ``info["final_observation"]`` holds the observation the
episode ended on (for non-final steps it equals ``obs``), which is what a truncated
episode must be bootstrapped from. ``params`` is a pytree, so it can be vmapped
(domain randomisation) or swept.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp

from jaxrl.envs.spaces import Space

StepResult = Tuple[Any, Any, jax.Array, jax.Array, jax.Array, Dict[str, Any]]


class Env:
    """Base class: subclasses implement ``reset``/``step`` and the two spaces."""

    id: str = "env"

    @property
    def default_params(self) -> Any:
        raise NotImplementedError

    def reset(self, key: jax.Array, params: Any) -> Tuple[Any, Any]:
        raise NotImplementedError

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        raise NotImplementedError

    def observation_space(self, params: Any) -> Space:
        raise NotImplementedError

    def action_space(self, params: Any) -> Space:
        raise NotImplementedError

    def max_episode_steps(self, params: Any) -> int:
        """Static upper bound on episode length (used to size evaluation loops)."""
        return int(params.max_steps_in_episode)

    def for_evaluation(self) -> "Env":
        """The same env for first-episode evaluation, where nothing after an episode's
        end is used: an env whose auto-reset is expensive to compile (brax's fresh reset)
        may return a cheaper equivalent. Default: itself."""
        return self

    @property
    def unwrapped(self) -> "Env":
        return self


class Wrapper(Env):
    """Forwards everything to ``env``; subclasses override what they change."""

    def __init__(self, env: Env):
        self.env = env
        self.id = env.id

    @property
    def default_params(self):
        return self.env.default_params

    def reset(self, key, params):
        return self.env.reset(key, params)

    def step(self, key, state, action, params):
        return self.env.step(key, state, action, params)

    def observation_space(self, params):
        return self.env.observation_space(params)

    def action_space(self, params):
        return self.env.action_space(params)

    def max_episode_steps(self, params):
        return self.env.max_episode_steps(params)

    def for_evaluation(self):
        inner = self.env.for_evaluation()
        if inner is self.env:
            return self
        evaluated = copy.copy(self)  # the same wrapper (and its settings) around it
        evaluated.env = inner
        return evaluated

    @property
    def unwrapped(self):
        return self.env.unwrapped

    def __getattr__(self, name):
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)


def as_float32(x):
    return jnp.asarray(x, jnp.float32)
