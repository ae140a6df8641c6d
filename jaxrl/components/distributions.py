"""Action distributions: what the network's outputs mean and how actions reach the env.

The learner stores the *raw* sample (pre-squash for tanh-Gaussian), so log-probs are
always computed from it and never from an inverted, clipped action: atanh at the
action bounds is where tanh-Gaussian PPO usually produces NaN.
"""
from __future__ import annotations

import dataclasses

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces

CONTINUOUS_MODES = ("clipped", "tanh")


@dataclasses.dataclass(frozen=True, eq=False)
class Categorical:
    n: int

    @property
    def action_dim(self) -> int:
        return self.n

    def sample(self, key, outputs):
        return distrax.Categorical(logits=outputs[0]).sample_and_log_prob(seed=key)

    def log_prob(self, outputs, raw):
        return distrax.Categorical(logits=outputs[0]).log_prob(raw)

    def entropy(self, outputs):
        return distrax.Categorical(logits=outputs[0]).entropy()

    def mode(self, outputs):
        return jnp.argmax(outputs[0], axis=-1).astype(jnp.int32)

    def to_env(self, raw):
        return raw


@dataclasses.dataclass(frozen=True, eq=False)
class DiagGaussian:
    """Gaussian actions; ``squash="clipped"`` clips the sample into the bounds for the
    env, ``squash="tanh"`` maps it through tanh onto them (with the log-det correction)."""

    low: np.ndarray
    high: np.ndarray
    squash: str = "clipped"

    @property
    def action_dim(self) -> int:
        return int(self.low.shape[0])

    def _base(self, outputs):
        mean, log_std = outputs
        return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))

    def _tanh_correction(self, raw):
        return jnp.sum(distrax.Tanh().forward_log_det_jacobian(raw), axis=-1)

    def sample(self, key, outputs):
        raw, log_prob = self._base(outputs).sample_and_log_prob(seed=key)
        if self.squash == "tanh":
            log_prob = log_prob - self._tanh_correction(raw)
        return raw, log_prob

    def log_prob(self, outputs, raw):
        log_prob = self._base(outputs).log_prob(raw)
        if self.squash == "tanh":
            log_prob = log_prob - self._tanh_correction(raw)
        return log_prob

    def entropy(self, outputs):
        # The tanh-squashed entropy has no closed form; the base Gaussian's entropy is
        # the usual surrogate for the bonus.
        return self._base(outputs).entropy()

    def mode(self, outputs):
        return outputs[0]

    def to_env(self, raw):
        if self.squash == "tanh":
            return self.low + (jnp.tanh(raw) + 1.0) * 0.5 * (self.high - self.low)
        return jnp.clip(raw, self.low, self.high)


def for_space(space: spaces.Space, squash: str = "clipped"):
    if isinstance(space, spaces.Discrete):
        return Categorical(space.n)
    if isinstance(space, spaces.Box):
        if len(space.shape) != 1:
            raise ValueError(f"continuous actions must be 1-D, got shape {space.shape}")
        if squash not in CONTINUOUS_MODES:
            raise ValueError(f"continuous_actions={squash!r}: choose one of {CONTINUOUS_MODES}")
        if squash == "tanh" and not space.bounded:
            raise ValueError("continuous_actions='tanh' needs a bounded action space; "
                             "use 'clipped'")
        return DiagGaussian(space.low, space.high, squash)
    raise TypeError(f"unsupported action space {space!r}")


def tanh_gaussian_log_prob(mean, log_std, raw):
    """log pi(tanh(raw)) of a tanh-squashed diagonal Gaussian, from the *pre-squash*
    sample: Gaussian log-density minus sum log(1 - tanh(raw)^2), the latter in the
    stable form ``2 (log 2 - raw - softplus(-2 raw))`` (distrax's Tanh bijector), so it
    stays finite where tanh(raw) rounds to +-1."""
    gaussian = distrax.MultivariateNormalDiag(mean, jnp.exp(log_std)).log_prob(raw)
    return gaussian - jnp.sum(distrax.Tanh().forward_log_det_jacobian(raw), axis=-1)


def tanh_gaussian_sample(key, mean, log_std):
    """A reparameterised action ``tanh(mean + std * eps)`` in ``[-1, 1]^d`` and its
    log-probability (computed from the pre-squash sample, never by inverting tanh)."""
    raw = mean + jnp.exp(log_std) * jax.random.normal(key, jnp.shape(mean))
    return jnp.tanh(raw), tanh_gaussian_log_prob(mean, log_std, raw)
