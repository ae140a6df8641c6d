"""Actors and critic ensembles of the off-policy actor-critics (SAC, TD3, DDPG).

Continuous actions are handled in the *normalised* box ``[-1, 1]^d`` throughout (actors
output it, critics take it, the replay stores it); the learner maps it onto the env's
bounds. Discrete actions (SAC's categorical form) make the critic a Q-network over all
actions and the actor a logits head. Critic ensembles (twin critics) are one critic
module with parameters stacked on a leading axis (``ensemble_init`` / ``ensemble_apply``).

With memory, an actor or critic is ``WithMemory(torso, memory, head)``: the same heads
read a memory core's features in place of the torso's (``Identity`` as their torso).
Actor and critics each keep their own core (Ni et al., 2022 found a shared one unstable).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.networks.torsos import MLPTorso, dense


class Identity(nn.Module):
    """A head's torso where the features come from a memory core."""

    @nn.compact
    def __call__(self, x):
        return x


class WithMemory(nn.Module):
    """``torso -> memory core -> head``, time-major: ``(carry, obs [T, *batch, ...],
    resets [T, *batch], *head_args) -> (carry, head outputs [T, *batch, ...])``.
    ``remember`` runs the torso and core only (a critic's memory advances without an
    action); ``read`` applies the head to features it returned."""

    torso: nn.Module
    memory: Any  # a networks.memory.MemorySpec
    head: nn.Module

    def setup(self):
        self.core = self.memory.core()

    def remember(self, carry, obs, resets):
        return self.core(carry, self.torso(obs), resets)

    def read(self, features, *head_args):
        return self.head(features, *head_args)

    def __call__(self, carry, obs, resets, *head_args):
        carry, features = self.remember(carry, obs, resets)
        return carry, self.head(features, *head_args)


class ContinuousCritic(nn.Module):
    """Q(s, a): observation and normalised action concatenated into an MLP. An image
    observation is first embedded by ``encoder`` (an image torso)."""

    hidden_sizes: Sequence[int]
    activation: Callable = nn.relu
    layer_norm: bool = False
    encoder: Optional[nn.Module] = None

    @nn.compact
    def __call__(self, obs, action):
        if self.encoder is not None:
            obs = self.encoder(obs)
        x = jnp.concatenate([obs, action], axis=-1)
        x = MLPTorso(self.hidden_sizes, self.activation, self.layer_norm)(x)
        return dense(1, 1.0)(x)[..., 0]


class DiscreteCritic(nn.Module):
    """Q(s, .) over all actions; ``action`` is ignored (kept for one signature)."""

    torso: nn.Module
    num_actions: int

    @nn.compact
    def __call__(self, obs, action=None):
        return dense(self.num_actions, 1.0)(self.torso(obs))


class GaussianActor(nn.Module):
    """Mean and log-std of a diagonal Gaussian over pre-squash actions; the log-std is
    squashed smoothly into ``[log_std_min, log_std_max]`` (no gradient-killing clip)."""

    torso: nn.Module
    action_dim: int
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs) -> Tuple[jnp.ndarray, jnp.ndarray]:
        x = self.torso(obs)
        mean = dense(self.action_dim, 0.01)(x)
        raw = dense(self.action_dim, 0.01)(x)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            jnp.tanh(raw) + 1.0)
        return mean, log_std


class DeterministicActor(nn.Module):
    """A normalised action ``tanh(f(s))`` in ``[-1, 1]^d``."""

    torso: nn.Module
    action_dim: int

    @nn.compact
    def __call__(self, obs):
        return jnp.tanh(dense(self.action_dim, 0.01)(self.torso(obs)))


class CategoricalActor(nn.Module):
    """Logits over ``num_actions``."""

    torso: nn.Module
    num_actions: int

    @nn.compact
    def __call__(self, obs):
        return dense(self.num_actions, 0.01)(self.torso(obs))


def ensemble_init(critic: nn.Module, key, size: int, obs, action):
    """Parameters of ``size`` independent critics, stacked on axis 0."""
    return jax.vmap(critic.init, in_axes=(0, None, None))(jax.random.split(key, size),
                                                          obs, action)


def ensemble_apply(critic: nn.Module, params, obs, action):
    """Every critic's values, stacked on axis 0."""
    return jax.vmap(critic.apply, in_axes=(0, None, None))(params, obs, action)
