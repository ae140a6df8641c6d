"""The optimiser and the learning-rate decay every learner uses, written once.

Both are built from traced values inside the program (a member's ``max_grad_norm`` and
learning rate are pytree leaves), so every member of a population can differ.
"""
from __future__ import annotations

import jax.numpy as jnp
import optax


def clipped_adam(max_grad_norm, learning_rate, eps: float = 1e-8,
                 rectified: bool = False) -> optax.GradientTransformation:
    """Global-norm gradient clipping, then Adam (``eps``) or, with ``rectified``,
    RAdam (PQN's choice)."""
    step = optax.radam(learning_rate) if rectified else optax.adam(learning_rate, eps=eps)
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), step)


def linear_decay(value, step, total):
    """``value`` decayed linearly from step 0 to zero at step ``total`` (and held at zero
    beyond it)."""
    return value * jnp.maximum(1.0 - step / total, 0.0)
