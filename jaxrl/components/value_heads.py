"""How a network's per-action outputs ``[..., A, K]`` represent action values, and the
loss each representation learns from: the one switch that makes DQN, C51, QR-DQN and
HL-Gauss one learner.

* ``scalar``      K = 1, the Q-value itself; Huber (DQN) or squared (PQN) TD error.
* ``categorical`` K atoms' logits on a fixed support (C51); cross-entropy against the
  projected target distribution.
* ``quantile``    K quantiles at levels (2i + 1) / 2K (QR-DQN); quantile Huber loss.
* ``hl_gauss``    K bins' logits over [v_min, v_max]; cross-entropy against the
  Gaussian-smoothed histogram of the scalar TD target ("value learning as
  classification").

Every method is written for one sample; vmap over a batch. A ``target`` is whatever the
loss consumes (a scalar, target atom probabilities, or target quantile samples).
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp

from jaxrl.components.value_losses import (HLGauss, categorical_loss, categorical_projection,
                                           huber, quantile_huber_loss)

VALUE_DISTRIBUTIONS = ("scalar", "categorical", "quantile", "hl_gauss")


@dataclasses.dataclass(frozen=True)
class ValueHead:
    """``kind`` from ``VALUE_DISTRIBUTIONS``; ``num_outputs`` atoms / quantiles / bins
    (ignored for ``scalar``); ``[v_min, v_max]`` is the support (categorical, hl_gauss)."""

    kind: str = "scalar"
    num_outputs: int = 51
    v_min: float = -100.0
    v_max: float = 100.0

    def __post_init__(self):
        if self.kind not in VALUE_DISTRIBUTIONS:
            raise ValueError(f"value distribution {self.kind!r}: choose one of "
                             f"{VALUE_DISTRIBUTIONS}")

    @property
    def outputs(self) -> int:
        return 1 if self.kind == "scalar" else self.num_outputs

    @property
    def support(self) -> jax.Array:
        return jnp.linspace(self.v_min, self.v_max, self.num_outputs, dtype=jnp.float32)

    @property
    def hl_gauss(self) -> HLGauss:
        return HLGauss(self.v_min, self.v_max, self.num_outputs)

    def q_values(self, out: jax.Array) -> jax.Array:
        """``[..., A, K] -> [..., A]`` expected action values."""
        if self.kind == "scalar":
            return out[..., 0]
        if self.kind == "categorical":
            return jnp.sum(jax.nn.softmax(out, axis=-1) * self.support, axis=-1)
        if self.kind == "quantile":
            return jnp.mean(out, axis=-1)
        return self.hl_gauss.value(out)

    def bootstrap_target(self, next_out: jax.Array, reward: jax.Array,
                         discount: jax.Array) -> jax.Array:
        """The target for one action from the (target network's) outputs ``[K]`` of the
        bootstrap action at the successor state: ``reward + discount * Z``."""
        if self.kind == "categorical":
            return categorical_projection(jax.nn.softmax(next_out), reward, discount,
                                          self.support)
        if self.kind == "quantile":
            return reward + discount * next_out
        return reward + discount * self.q_values(next_out[None])[0]

    def loss(self, out: jax.Array, target: jax.Array,
             squared: bool = False) -> Tuple[jax.Array, jax.Array]:
        """``(loss, priority)`` of one action's outputs ``[K]`` against ``target``; the
        priority (for prioritised replay) is |TD error| for scalar targets and the
        distributional loss itself otherwise. ``squared``: 0.5 * TD^2 instead of Huber
        for the scalar kind."""
        target = jax.lax.stop_gradient(target)
        if self.kind == "scalar":
            td = out[0] - target
            loss = 0.5 * jnp.square(td) if squared else huber(td)
            return loss, jnp.abs(td)
        if self.kind == "categorical":
            loss = categorical_loss(out, target)
            return loss, loss
        if self.kind == "quantile":
            loss = quantile_huber_loss(out, target)
            return loss, loss
        loss = self.hl_gauss.loss(out, target)
        return loss, jnp.abs(self.hl_gauss.value(out) - target)


def check_value_fields(kind: str, allowed, num_outputs: int, v_min: float, v_max: float,
                       kind_field: str = "value_distribution",
                       num_field: str = "num_atoms") -> None:
    """Validates a config's value representation fields (names as the config spells them)."""
    from jaxrl.config import ConfigError

    if kind not in allowed:
        raise ConfigError(f"{kind_field}={kind!r}: choose one of {tuple(allowed)}")
    if kind not in ("scalar", "mse") and num_outputs < 2:
        raise ConfigError(f"{num_field}={num_outputs} must be at least 2")
    if v_min >= v_max:
        raise ConfigError(f"v_min={v_min} must be below v_max={v_max}")
