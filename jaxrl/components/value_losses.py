"""Value losses: squared/Huber TD, the C51 categorical projection, the quantile Huber
loss (QR-DQN) and HL-Gauss ("value learning as classification", Farebrother et al.,
2024), usable by any value-based learner and as PPO's critic loss.

All functions are written for one sample; ``jax.vmap`` them over a batch.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.scipy.special import erf


def huber(x: jax.Array, kappa: float = 1.0) -> jax.Array:
    """0.5 x^2 inside [-kappa, kappa], kappa (|x| - kappa / 2) outside."""
    ax = jnp.abs(x)
    return jnp.where(ax <= kappa, 0.5 * x ** 2, kappa * (ax - 0.5 * kappa))


# ---- C51 -----------------------------------------------------------------------------
def categorical_projection(next_probs: jax.Array, reward: jax.Array, discount: jax.Array,
                           support: jax.Array) -> jax.Array:
    """Projects the distribution ``reward + discount * Z`` (Z on ``support`` with
    ``next_probs``) back onto the fixed, evenly spaced ``support`` (Bellemare et al.,
    2017): each shifted atom's mass is split between its two neighbours in proportion
    to distance; atoms beyond the ends land on the end atoms."""
    v_min, v_max = support[0], support[-1]
    delta = (v_max - v_min) / (support.shape[0] - 1)
    shifted = jnp.clip(reward + discount * support, v_min, v_max)
    # weight of target atom j from source atom i: max(0, 1 - |shifted_i - z_j| / delta).
    # A sum over i, not ``next_probs @ weights``: XLA fuses the weights into the
    # reduction, where the matmul form wrote them out and ran a batch of tiny
    # vector-matrix products (benchmarks/README.md, "Figures behind code comments").
    weights = jnp.clip(1.0 - jnp.abs(shifted[:, None] - support[None, :]) / delta, 0.0, 1.0)
    return jnp.sum(next_probs[:, None] * weights, axis=0)


def categorical_loss(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """Cross-entropy of predicted atom logits against projected target probabilities."""
    return -jnp.sum(jax.lax.stop_gradient(target_probs) * jax.nn.log_softmax(logits))


# ---- QR-DQN -------------------------------------------------------------------------
def quantile_midpoints(num_quantiles: int) -> jax.Array:
    """tau_i = (2i + 1) / (2N): the quantile levels QR-DQN regresses."""
    return (2 * jnp.arange(num_quantiles, dtype=jnp.float32) + 1) / (2 * num_quantiles)


def quantile_huber_loss(quantiles: jax.Array, targets: jax.Array,
                        kappa: float = 1.0) -> jax.Array:
    """QR-DQN loss (Dabney et al., 2018) of predicted ``quantiles [N]`` at levels
    ``quantile_midpoints(N)`` against target samples ``targets [M]``:
    ``sum_i mean_j |tau_i - 1{u_ij < 0}| * huber(u_ij) / kappa``, ``u_ij = t_j - q_i``."""
    taus = quantile_midpoints(quantiles.shape[0])
    u = jax.lax.stop_gradient(targets)[None, :] - quantiles[:, None]
    weight = jnp.abs(taus[:, None] - (u < 0).astype(jnp.float32))
    return jnp.sum(jnp.mean(weight * huber(u, kappa) / kappa, axis=1))


# ---- HL-Gauss -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HLGauss:
    """A histogram over ``[v_min, v_max]`` with ``num_bins`` equal bins. A scalar target
    y (clipped to the range) becomes the probabilities a Gaussian N(y, sigma^2) puts in
    each bin, renormalised over the range (mass beyond the ends dropped), with
    ``sigma = sigma_ratio * bin_width`` (0.75, as recommended); the loss is their
    cross-entropy with the predicted logits, and the value is the mean of the bins'
    centres under the predicted probabilities."""

    v_min: float
    v_max: float
    num_bins: int = 51
    sigma_ratio: float = 0.75

    @property
    def edges(self) -> jax.Array:
        return jnp.linspace(self.v_min, self.v_max, self.num_bins + 1, dtype=jnp.float32)

    @property
    def centres(self) -> jax.Array:
        edges = self.edges
        return (edges[:-1] + edges[1:]) / 2

    @property
    def sigma(self) -> float:
        return self.sigma_ratio * (self.v_max - self.v_min) / self.num_bins

    def target_probs(self, y: jax.Array) -> jax.Array:
        y = jnp.clip(y, self.v_min, self.v_max)
        cdf = 0.5 * (1.0 + erf((self.edges - y) / (jnp.sqrt(2.0) * self.sigma)))
        mass = cdf[1:] - cdf[:-1]
        return mass / jnp.maximum(cdf[-1] - cdf[0], 1e-12)

    def loss(self, logits: jax.Array, y: jax.Array) -> jax.Array:
        target = jax.lax.stop_gradient(self.target_probs(y))
        return -jnp.sum(target * jax.nn.log_softmax(logits))

    def value(self, logits: jax.Array) -> jax.Array:
        return jnp.sum(jax.nn.softmax(logits, axis=-1) * self.centres, axis=-1)
