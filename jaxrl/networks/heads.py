"""Heads: features -> Q-values, action-value distributions, policy outputs, values."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import flax.linen as nn
import jax.numpy as jnp

from jaxrl.networks.torsos import dense, features

Q_HEADS = ("q", "dueling")


def dueling(value: jnp.ndarray, advantages: jnp.ndarray, action_axis: int = -1) -> jnp.ndarray:
    """Q = V + A - mean_a A (Wang et al., 2016); ``value`` broadcasts against
    ``advantages``, whose actions lie on ``action_axis``."""
    return value + advantages - advantages.mean(axis=action_axis, keepdims=True)


class QHead(nn.Module):
    """``[..., num_actions, num_outputs]`` per action: 1 output (a Q-value), atoms'
    logits (C51) or quantiles (QR-DQN); optionally dueling (separate value stream)."""

    num_actions: int
    num_outputs: int = 1
    dueling: bool = False

    @nn.compact
    def __call__(self, features):
        out = dense(self.num_actions * self.num_outputs, 1.0)(features)
        out = out.reshape(features.shape[:-1] + (self.num_actions, self.num_outputs))
        if self.dueling:
            value = dense(self.num_outputs, 1.0)(features)[..., None, :]
            out = dueling(value, out, action_axis=-2)
        return out


class QNetwork(nn.Module):
    """A torso (``torsos.make_torso``) and a ``QHead``: ``[..., A, K]`` outputs."""

    torso: nn.Module
    num_actions: int
    num_outputs: int = 1
    dueling: bool = False
    # [start, stop) of the observation it reads (None: all): a team's agent reads its own
    # observation and id, not the global state in its row
    input_features: Optional[Tuple[int, int]] = None

    @nn.compact
    def __call__(self, obs):
        x = self.torso(features(obs, self.input_features))
        return QHead(self.num_actions, self.num_outputs, self.dueling)(x)


class RecurrentQNetwork(nn.Module):
    """A torso, a memory core (``memory``, a ``MemorySpec``), a ``QHead``:
    ``(carry, obs [T, *batch, ...], resets [T, *batch]) -> (carry, [T, *batch, A, K])``."""

    torso: nn.Module
    memory: Any
    num_actions: int
    num_outputs: int = 1
    dueling: bool = False
    input_features: Optional[Tuple[int, int]] = None  # as QNetwork's

    @nn.compact
    def __call__(self, carry, obs, resets):
        x = self.torso(features(obs, self.input_features))
        carry, x = self.memory.core()(carry, x, resets)
        return carry, QHead(self.num_actions, self.num_outputs, self.dueling)(x)
