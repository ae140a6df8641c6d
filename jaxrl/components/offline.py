"""The pieces offline learners add to the off-policy critics: each a pure function,
written once and tested by hand (tests/components/test_offline_losses.py)."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def expectile_loss(diff: jax.Array, expectile) -> jax.Array:
    """IQL's asymmetric squared loss ``mean(|tau - 1[diff < 0]| diff^2)`` with ``diff =
    Q(s, a) - V(s)``: its minimiser over ``V`` is the ``tau``-expectile of ``Q`` (0.5:
    the mean; toward 1: the maximum over the data's actions)."""
    weight = jnp.where(diff < 0, 1.0 - expectile, expectile)
    return jnp.mean(weight * diff ** 2)


def advantage_weights(advantage: jax.Array, temperature, max_weight) -> jax.Array:
    """Advantage-weighted regression's weights ``min(exp(beta A), max_weight)`` (IQL's
    policy extraction: beta = ``temperature``, capped at 100)."""
    return jnp.minimum(jnp.exp(temperature * advantage), max_weight)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """``log N(action; mean, exp(log_std)^2)`` summed over the last axis (a diagonal
    Gaussian; the offline actors' mean is ``tanh`` of the network's, never squashed
    again, so data actions at the bounds keep finite log-probabilities)."""
    var = jnp.exp(2.0 * log_std)
    per_dim = -0.5 * ((action - mean) ** 2 / var + 2.0 * log_std + jnp.log(2.0 * jnp.pi))
    return jnp.sum(per_dim, axis=-1)


def conservative_penalty(q_data: jax.Array, q_out: jax.Array) -> jax.Array:
    """CQL's ``E_s[logsumexp_a Q(s, a) - Q(s, a_data)]`` for one critic: ``q_out``
    ``[B, K]`` are the (importance-corrected) values the logsumexp runs over, exactly
    every action's for discrete actions, ``q_data`` ``[B]`` the data's."""
    return jnp.mean(jax.nn.logsumexp(q_out, axis=-1) - q_data)


def q_normaliser(q: jax.Array, alpha) -> jax.Array:
    """TD3+BC's ``lambda = alpha / mean|Q(s, pi(s))|`` (no gradient through it): the
    critic's scale divided out of the actor's objective."""
    return alpha / jax.lax.stop_gradient(jnp.mean(jnp.abs(q)) + 1e-8)


def behaviour_distance(action: jax.Array, data_action: jax.Array, over_actions: str
                       ) -> jax.Array:
    """Per sample ``||action - data_action||^2``, averaged (TD3+BC's mean squared error)
    or summed (ReBRAC's) over the action dimensions: ``over_actions`` 'mean' or 'sum'."""
    squared = (action - data_action) ** 2
    return jnp.mean(squared, axis=-1) if over_actions == "mean" else jnp.sum(squared, axis=-1)
