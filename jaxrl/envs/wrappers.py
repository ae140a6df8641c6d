"""Env -> Env transformations that keep the protocol (and the truncation semantics)."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Env, Wrapper


@struct.dataclass
class EpisodeStatisticsState:
    env_state: Any
    running_return: jax.Array
    running_length: jax.Array


class EpisodeStatistics(Wrapper):
    """Adds the return and length of episodes that *completed* this step to ``info``.

    ``info["episode_done"]`` is the validity flag: ``episode_return``/``episode_length``
    are only meaningful where it is True (they are 0 elsewhere, never averaged in).
    """

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        zero = jnp.zeros((), jnp.float32)
        return obs, EpisodeStatisticsState(state, zero, jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params)
        ret = state.running_return + reward
        length = state.running_length + 1
        done = terminated | truncated
        info = {
            **info,
            "episode_done": done,
            "episode_return": jnp.where(done, ret, 0.0),
            "episode_length": jnp.where(done, length, 0),
        }
        new_state = EpisodeStatisticsState(
            env_state, jnp.where(done, 0.0, ret), jnp.where(done, 0, length))
        return obs, new_state, reward, terminated, truncated, info


class FlattenObservation(Wrapper):
    """One 1-D float32 vector per observation: arrays are flattened, Discrete
    observations one-hot encoded, a Dict's parts flattened so and concatenated in
    sorted-name order, except a legal-action mask (``action_mask``), which goes last."""

    def observation(self, obs, params):
        """The wrapped env's observation (one, unbatched) as this env gives it."""
        return _flatten(self.env.observation_space(params), obs)

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return self.observation(obs, params), state

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {**info, "final_observation": self.observation(info["final_observation"], params)}
        return self.observation(obs, params), state, reward, terminated, truncated, info

    def observation_space(self, params):
        space = self.env.observation_space(params)
        low, high = _flat_bounds(space)
        return spaces.Box(low, high, (spaces.flat_dim(space),))


def _flat_order(space):
    """A Dict's parts in sorted-name order, a legal-action mask last (where learners
    look for it: ``jaxrl.components.action_masks``)."""
    return sorted(space.spaces.items(), key=lambda item: (item[0] == "action_mask", item[0]))


def _flatten(space, obs):
    if isinstance(space, spaces.Dict):
        return jnp.concatenate([_flatten(part, obs[name]) for name, part in _flat_order(space)])
    if isinstance(space, spaces.Discrete):
        return jax.nn.one_hot(obs, space.n, dtype=jnp.float32)
    return jnp.reshape(obs, (-1,)).astype(jnp.float32)


def _flat_bounds(space):
    if isinstance(space, spaces.Dict):
        parts = [_flat_bounds(part) for _, part in _flat_order(space)]
        return (np.concatenate([lo for lo, _ in parts]), np.concatenate([hi for _, hi in parts]))
    if isinstance(space, spaces.Discrete):
        return np.zeros(space.n, np.float32), np.ones(space.n, np.float32)
    return space.low.reshape(-1), space.high.reshape(-1)


class ObservationSubset(Wrapper):
    """Only some features of a 1-D Box observation: the standard way to make a fully
    observed task partially observed (Pendulum's angle without its velocity,
    ``observe=0,1``, is the "-P" task of Ni et al., 2022; its velocity alone, ``observe=2``,
    the "-V" one). Set it on any such env with ``--env-set observe=I,J,...``."""

    def __init__(self, env: Env, spec: str):
        super().__init__(env)
        space = env.observation_space(env.default_params)
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"observe={spec!r} picks features of a 1-D Box observation; "
                             f"{env.id}'s is {space}")
        try:
            features = [int(part) for part in str(spec).split(",") if part.strip()]
        except ValueError:
            features = []
        size = space.shape[0]
        if not features or any(not 0 <= i < size for i in features) or \
                len(set(features)) != len(features):
            raise ValueError(f"observe={spec!r}: give distinct feature indices in "
                             f"[0, {size}) separated by commas, e.g. observe=0,1")
        self.features = np.asarray(features, np.int32)

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return obs[..., self.features], state

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {**info, "final_observation": info["final_observation"][..., self.features]}
        return obs[..., self.features], state, reward, terminated, truncated, info

    def observation_space(self, params):
        space = self.env.observation_space(params)
        return spaces.Box(space.low[self.features], space.high[self.features],
                          (len(self.features),), space.dtype)


class ClipAction(Wrapper):
    """Clips Box actions into the action space's bounds before the env sees them."""

    def step(self, key, state, action, params):
        space = self.env.action_space(params)
        return self.env.step(key, state, jnp.clip(action, space.low, space.high), params)


class RescaleAction(Wrapper):
    """Exposes a Box action space of ``[low, high]`` (default [-1, 1]) mapped affinely
    onto the wrapped env's bounded space; out-of-range actions are clipped first."""

    def __init__(self, env: Env, low: float = -1.0, high: float = 1.0):
        super().__init__(env)
        self.low, self.high = float(low), float(high)

    def action_space(self, params):
        inner = self.env.action_space(params)
        return spaces.Box(self.low, self.high, inner.shape)

    def step(self, key, state, action, params):
        inner = self.env.action_space(params)
        if not inner.bounded:
            raise ValueError(f"RescaleAction needs a bounded action space; {self.id} has {inner}")
        action = jnp.clip(action, self.low, self.high)
        frac = (action - self.low) / (self.high - self.low)
        return self.env.step(key, state, inner.low + frac * (inner.high - inner.low), params)


class VecEnv(Wrapper):
    """Batches ``num_envs`` copies: keys are split per copy, params are shared.

    Over an env with ``reset_mode="optimistic"`` (a suite whose reset is costly), each
    step draws ``resets_per_step`` fresh resets of the whole env stack (one per
    ``OPTIMISTIC_RESET_RATIO`` copies, at least one) instead of one per copy, and the
    k-th copy (in index order) whose episode ended takes reset ``k mod
    resets_per_step``: copies share a start only when more episodes end in one step
    than there are resets. ``info["final_observation"]`` is the step's own."""

    def __init__(self, env: Env, num_envs: int):
        from jaxrl.envs.core import OPTIMISTIC_RESET_RATIO

        super().__init__(env)
        self.num_envs = int(num_envs)
        self.resets_per_step = (max(1, self.num_envs // OPTIMISTIC_RESET_RATIO)
                                if getattr(env, "reset_mode", None) == "optimistic" else None)

    def for_evaluation(self):
        inner = self.env.for_evaluation()
        return self if inner is self.env else VecEnv(inner, self.num_envs)

    def reset(self, key, params):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)

    def step(self, key, state, action, params):
        if self.resets_per_step is None:
            keys = jax.random.split(key, self.num_envs)
            return jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(keys, state, action,
                                                                   params)
        step_key, reset_key = jax.random.split(key)
        obs, state, reward, terminated, truncated, info = jax.vmap(
            self.env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(step_key, self.num_envs), state, action, params)
        pool = jax.vmap(self.env.reset, in_axes=(0, None))(
            jax.random.split(reset_key, self.resets_per_step), params)
        done = terminated | truncated
        slot = (jnp.cumsum(done) - 1) % self.resets_per_step

        def take(fresh, stepped):
            where = done.reshape(done.shape + (1,) * (stepped.ndim - 1))
            return jnp.where(where, fresh[slot], stepped)

        obs, state = jax.tree.map(take, pool, (obs, state))
        return obs, state, reward, terminated, truncated, info


class JointDiscreteActions(Wrapper):
    """A MultiDiscrete action space as one Discrete space over every combination
    (row-major: ``unravel_index``), so every discrete learner (masks included: a joint
    mask shaped like ``nvec`` flattens in the same order) runs on it. Refused where the
    combinations pass ``MAX_JOINT_ACTIONS``."""

    MAX_JOINT_ACTIONS = 4096

    def __init__(self, env: Env, params: Any):
        super().__init__(env)
        nvec = self.env.action_space(params).nvec
        self.nvec = tuple(int(n) for n in nvec.reshape(-1))
        self.n = int(np.prod(self.nvec))
        if self.n > self.MAX_JOINT_ACTIONS:
            raise ValueError(f"{env.id}: its MultiDiscrete actions {list(self.nvec)} make "
                             f"{self.n} joint actions, over the {self.MAX_JOINT_ACTIONS} a "
                             f"discrete learner takes")

    def action_space(self, params):
        return spaces.Discrete(self.n)

    def inner_action(self, action, params):
        """The wrapped env's MultiDiscrete action for a joint one (one, unbatched)."""
        shape = self.env.action_space(params).nvec.shape
        return jnp.stack(jnp.unravel_index(action, self.nvec)).reshape(shape).astype(jnp.int32)

    def step(self, key, state, action, params):
        return self.env.step(key, state, self.inner_action(action, params), params)
