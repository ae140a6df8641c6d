"""The functional environment protocol (gymnax 1.0 conventions).

    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

``step`` auto-resets: when ``terminated | truncated`` the returned ``obs``/``state`` already
belong to a fresh episode, and ``info["final_observation"]`` holds the observation the
episode ended on (for non-final steps it equals ``obs``), which is what a truncated
episode must be bootstrapped from. ``params`` is a pytree, so it can be vmapped
(domain randomisation) or swept.

Every suite adapter derives from ``Adapter``: it writes one transition and a reset, and
the episode end above (auto-reset, final observation, terminated apart from truncated,
the optional time limit and cheap reset) is written once, there.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.envs.spaces import Space

StepResult = Tuple[Any, Any, jax.Array, jax.Array, jax.Array, Dict[str, Any]]


class Env:
    """Base class: subclasses implement ``reset``/``step`` and the two spaces."""

    id: str = "env"

    @property
    def default_params(self) -> Any:
        if "_default_params" in self.__dict__:  # set by ``with_params``
            return self.__dict__["_default_params"]
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

    def with_params(self, params: Any) -> "Env":
        """The env whose ``default_params`` are ``params`` (what ``make`` returns after
        overrides). Default: a shallow copy remembering them."""
        changed = copy.copy(self)
        changed._default_params = params
        return changed

    def render(self, state: Any, params: Any) -> Any:
        """One RGB frame (``[H, W, 3]`` uint8, a numpy array) of one unbatched state, on
        the host (``jaxrl.rendering``). Envs without a renderer raise NotImplementedError."""
        raise NotImplementedError(f"{self.id} has no renderer")

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

    def render(self, state, params):
        return self.env.render(state, params)

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


RESET_MODES = ("fresh", "first_state", "optimistic")
# reset_mode="optimistic": VecEnv draws one fresh reset per this many copies per step
# (at least one), as Craftax's baselines do.
OPTIMISTIC_RESET_RATIO = 16


@struct.dataclass
class EpisodeParams:
    """Params of a suite whose env has none of its own (or whose time limit jaxrl keeps)."""

    max_steps_in_episode: int = 1000


@struct.dataclass
class EpisodeState:
    """What jaxrl keeps beside a suite's own state: the step count of a time limit it
    keeps, and with ``reset_mode="first_state"`` the episode's first observation and state."""

    env_state: Any
    time: jax.Array
    first: Any = None


class Adapter(Env):
    """A suite's env behind the protocol. An adapter implements ``reset_env`` and
    ``step_env`` (one transition, no reset, its own ``terminated`` and ``truncated``
    apart); the episode end is handled here, once for every suite:

    - the auto-reset: where ``terminated | truncated`` the returned observation and
      state are a new episode's, and ``info["final_observation"]`` the one the episode
      ended on (equal to ``obs`` elsewhere);
    - ``reset_mode="fresh"`` (default) draws a new initial state for every episode
      (computed every step under vmap, selected where an episode ended);
      ``"first_state"`` replays the state drawn at ``reset``: the cheap reset for a
      suite whose reset is expensive (brax, MJX physics; Craftax world generation);
      ``"optimistic"`` steps as ``"first_state"`` alone, and under ``VecEnv`` each
      copy whose episode ended takes one of a few fresh resets drawn for the whole
      batch that step (``VecEnv``);
    - a time limit, for a suite with none of its own (``keeps_time_limit``): ``truncated``
      after ``params.max_steps_in_episode`` steps unless the step terminated;
    - the key: ``step``'s key is split into the step's and the reset's as gymnax does,
      unless the suite's step is deterministic (``step_uses_key = False``), when the
      whole key goes to the reset.
    """

    reset_mode: str = "fresh"
    step_uses_key: bool = True
    keeps_time_limit: bool = False

    def reset_env(self, key, params) -> Tuple[Any, Any]:
        raise NotImplementedError

    def step_env(self, key, state, action, params):
        """``(obs, state, reward, terminated, truncated)`` of one transition, no reset;
        optionally a sixth element, a dict of the transition's own values that ``step``
        adds to its ``info`` (a multi-agent env's per-agent rewards and ends)."""
        raise NotImplementedError

    @property
    def _replays_first(self) -> bool:
        return self.reset_mode in ("first_state", "optimistic")

    @property
    def _wraps_state(self) -> bool:
        return self.keeps_time_limit or self._replays_first

    def reset(self, key, params):
        obs, state = self.reset_env(key, params)
        if not self._wraps_state:
            return obs, state
        first = (obs, state) if self._replays_first else None
        return obs, EpisodeState(state, jnp.zeros((), jnp.int32), first)

    def step(self, key, state, action, params):
        if self.step_uses_key:
            key_step, key_reset = jax.random.split(key)
        else:
            key_step = key_reset = key
        inner = state.env_state if self._wraps_state else state
        obs_st, inner_st, reward, terminated, truncated, *extra = self.step_env(
            key_step, inner, action, params)
        terminated = jnp.asarray(terminated).astype(bool)
        truncated = jnp.asarray(truncated).astype(bool)
        if self.keeps_time_limit:
            time = state.time + 1
            truncated = truncated | (time >= params.max_steps_in_episode)
        truncated = truncated & ~terminated
        done = terminated | truncated
        if self._replays_first:
            obs_re, inner_re = state.first
        else:
            obs_re, inner_re = self.reset_env(key_reset, params)
        select = lambda re, st: jnp.where(done, re, st)  # noqa: E731
        new_inner = jax.tree.map(select, inner_re, inner_st)
        obs = jax.tree.map(select, obs_re, obs_st)
        if self._wraps_state:
            time = jnp.where(done, 0, time) if self.keeps_time_limit else state.time
            new_state = EpisodeState(new_inner, time, state.first)
        else:
            new_state = new_inner
        info = {**(extra[0] if extra else {}), "final_observation": obs_st,
                "terminated": terminated, "truncated": truncated}
        return obs, new_state, jnp.asarray(reward, jnp.float32), terminated, truncated, info

    def render(self, state, params):
        # an evaluation copy (``for_evaluation``) may wrap states where this env does not
        return self.render_env(state.env_state if isinstance(state, EpisodeState) else state,
                               params)

    def render_env(self, state, params):
        """A frame of the suite's own state (``render``)."""
        raise NotImplementedError(f"{self.id} has no renderer")

    def for_evaluation(self):
        """Evaluation stops each copy at its first episode's end, so the state an
        auto-reset draws is never used: replaying the first state is exact there and
        traces no reset into the step."""
        if self.reset_mode == "first_state":
            return self
        evaluated = copy.copy(self)
        evaluated.reset_mode = "first_state"
        return evaluated

    def max_episode_steps(self, params):
        return int(params.max_steps_in_episode)
