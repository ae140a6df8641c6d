"""Actor-critic networks (PPO): separate actor and critic, MLP or MinAtar-CNN torsos."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

from jaxrl.networks.torsos import (ACTIVATIONS, IMAGE_TORSOS, dense, features,
                                   torso_module)


class Network(nn.Module):
    """A torso, then a linear output layer: dense hidden layers with orthogonal(sqrt 2)
    init, or an image torso (``torso``: the MinAtar CNN or the IMPALA ResNet, image
    observations kept 3-D)."""

    hidden_sizes: Sequence[int]
    out_dim: int
    activation: Callable = nn.tanh
    out_scale: float = 1.0
    torso: str = "mlp"

    @nn.compact
    def __call__(self, x):
        if self.torso in IMAGE_TORSOS:
            x = torso_module(self.torso, self.hidden_sizes, self.activation)(x)
        else:
            for width in self.hidden_sizes:
                x = self.activation(dense(width)(x))
        return dense(self.out_dim, self.out_scale)(x)


class ActorCritic(nn.Module):
    """Separate actor and critic networks (MLPs, or image torsos: ``torso="cnn"`` or
    ``"impala"``).
    The actor outputs logits (discrete) or the mean of a diagonal Gaussian with a
    state-independent log-std (continuous). With ``value_bins`` (an ``HLGauss``) the critic
    outputs histogram logits and ``value`` is their expectation."""

    action_dim: int
    continuous: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    init_log_std: float = 0.0
    torso: str = "mlp"
    value_bins: Any = None  # None: a scalar critic; an HLGauss: a classification critic
    action_mask: Any = None  # an ActionMask: illegal actions' logits masked (discrete)
    # [start, stop) of the observation features the actor / critic read (None: all of it):
    # a team's agent reads its own observation, a centralised critic the global state
    actor_features: Optional[Tuple[int, int]] = None
    critic_features: Optional[Tuple[int, int]] = None

    def setup(self):
        act = ACTIVATIONS[self.activation]
        self.actor = Network(self.hidden_sizes, self.action_dim, act, 0.01, self.torso)
        bins = 1 if self.value_bins is None else self.value_bins.num_bins
        self.critic = Network(self.hidden_sizes, bins, act, 1.0, self.torso)
        if self.continuous:
            self.log_std = self.param("log_std", nn.initializers.constant(self.init_log_std),
                                      (self.action_dim,))

    def __call__(self, obs) -> Tuple[Tuple[jnp.ndarray, ...], jnp.ndarray]:
        return self.policy_outputs(obs), self.value(obs)

    def policy_outputs(self, obs):
        out = self.actor(features(obs, self.actor_features))
        if self.continuous:
            return out, jnp.broadcast_to(self.log_std, out.shape)
        if self.action_mask is not None:
            out = self.action_mask.apply(out, obs)
        return (out,)

    def value(self, obs):
        if self.value_bins is None:
            return self.critic(features(obs, self.critic_features))[..., 0]
        return self.value_bins.value(self.value_logits(obs))

    def value_logits(self, obs):
        """The classification critic's histogram logits (``value_bins`` set)."""
        return self.critic(features(obs, self.critic_features))


class RecurrentActorCritic(nn.Module):
    """A torso (``torso_module``: dense layers or an image torso), a memory core shared
    by actor and critic, then one hidden layer per head (PureJaxRL's recurrent PPO
    network with ``hidden_sizes=(128,)`` and a 128-wide GRU).

    ``__call__(carry, obs [T, *batch, ...], resets [T, *batch])`` runs a time-major
    sequence and returns ``(carry, policy_outputs, critic_out)``; acting is ``T = 1``.
    ``critic_out`` is the value, or with ``value_bins`` the histogram logits."""

    action_dim: int
    continuous: bool
    memory: Any  # a MemorySpec
    hidden_sizes: Sequence[int] = (128,)
    activation: str = "tanh"
    init_log_std: float = 0.0
    torso: str = "mlp"
    value_bins: Any = None
    action_mask: Any = None
    # as ActorCritic's; with ``critic_features`` the critic has a torso and core of its
    # own on them (the carry holds the actor's core's, then the critic's)
    actor_features: Optional[Tuple[int, int]] = None
    critic_features: Optional[Tuple[int, int]] = None

    @nn.compact
    def __call__(self, carry, obs, resets):
        act = ACTIVATIONS[self.activation]
        actor_carry = carry
        if self.critic_features is not None:
            actor_carry, critic_carry = jnp.split(carry, 2, axis=-1)
        x = torso_module(self.torso, self.hidden_sizes, act)(features(obs, self.actor_features))
        actor_carry, x = self.memory.core()(actor_carry, x, resets)
        critic_x, carry = x, actor_carry
        if self.critic_features is not None:
            y = torso_module(self.torso, self.hidden_sizes, act)(
                features(obs, self.critic_features))
            critic_carry, critic_x = self.memory.core()(critic_carry, y, resets)
            carry = jnp.concatenate([actor_carry, critic_carry], axis=-1)
        head = self.hidden_sizes[-1]
        out = dense(self.action_dim, 0.01)(act(dense(head)(x)))
        if self.continuous:
            log_std = self.param("log_std", nn.initializers.constant(self.init_log_std),
                                 (self.action_dim,))
            outputs = (out, jnp.broadcast_to(log_std, out.shape))
        else:
            outputs = (out if self.action_mask is None else self.action_mask.apply(out, obs),)
        bins = 1 if self.value_bins is None else self.value_bins.num_bins
        critic = dense(bins, 1.0)(act(dense(head)(critic_x)))
        return carry, outputs, (critic[..., 0] if self.value_bins is None else critic)
