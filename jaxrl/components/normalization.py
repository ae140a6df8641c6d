"""Running statistics for observation normalisation and reward scaling.

They live in the learner state (checkpointed with it, used by the policy at evaluation),
not inside an env wrapper. ``ObservationNormalization`` is the component every learner
uses (PPO, the value-based and actor-critic families): statistics in the state,
identity when disabled.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningMeanStd:
    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape=()) -> "RunningMeanStd":
        return cls(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32),
                   jnp.asarray(1e-4, jnp.float32))

    def update(self, batch: jax.Array) -> "RunningMeanStd":
        """Parallel-variance merge of a batch whose leading axes are sample axes."""
        batch = batch.reshape((-1,) + self.mean.shape)
        b_mean, b_var, b_count = batch.mean(0), batch.var(0), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        return RunningMeanStd(mean, m2 / total, total)

    def normalize(self, x: jax.Array, clip: float = 10.0) -> jax.Array:
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + 1e-8), -clip, clip)

    def scale(self, x: jax.Array) -> jax.Array:
        """Divide by the standard deviation only (reward scaling keeps the sign)."""
        return x / jnp.sqrt(self.var + 1e-8)


@struct.dataclass
class RewardScaler:
    """Scales rewards by the running std of the discounted return (as in SB3's
    VecNormalize); ``returns`` is the per-env discounted-return accumulator."""

    returns: jax.Array
    stats: RunningMeanStd

    @classmethod
    def create(cls, num_envs: int) -> "RewardScaler":
        return cls(jnp.zeros((num_envs,), jnp.float32), RunningMeanStd.create())

    def update_and_scale(self, rewards, dones, gamma):
        """``rewards``/``dones`` are ``[T, num_envs]``; returns (scaler, scaled rewards)."""
        def accumulate(ret, x):
            r, d = x
            ret = ret * gamma + r
            return jnp.where(d, 0.0, ret), ret

        returns, seen = jax.lax.scan(accumulate, self.returns, (rewards, dones))
        stats = self.stats.update(seen)
        return RewardScaler(returns, stats), stats.scale(rewards)


@dataclasses.dataclass(frozen=True)
class ObservationNormalization:
    """Observation normalisation as a learner component: ``init`` the statistics (kept
    in the learner state), ``apply`` them to observations (identity when disabled),
    ``update`` them from a batch of raw observations (leading axes are sample axes)."""

    enabled: bool
    action_mask: Any = None  # an ActionMask: its entries pass through unnormalised

    def init(self, obs_shape) -> RunningMeanStd:
        return RunningMeanStd.create(tuple(obs_shape))

    def apply(self, stats: RunningMeanStd, obs: jax.Array) -> jax.Array:
        if not self.enabled:
            return obs
        normalised = stats.normalize(obs)
        return normalised if self.action_mask is None else self.action_mask.keep_raw(normalised, obs)

    def update(self, stats: RunningMeanStd, batch: jax.Array) -> RunningMeanStd:
        return stats.update(batch) if self.enabled else stats
