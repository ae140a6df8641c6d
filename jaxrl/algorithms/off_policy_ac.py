"""What the off-policy actor-critics (SAC, TD3, DDPG) share, on the off-policy skeleton:
actions in the normalised box, a critic ensemble with Polyak targets, the clipped
(minimum over critics) bootstrap target and the critic regression.

Continuous actions live in ``[-1, 1]^d`` for the networks and the replay buffer;
``to_env`` maps them onto the env's bounds, so one learner fits Pendulum's ``[-2, 2]``
and brax's ``[-1, 1]`` alike. Bounds must be finite (a squashed actor needs them).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl.algorithms.off_policy import (Batch, OffPolicyConfig, OffPolicyHParams,
                                         OffPolicyLearner, make_optimizer)
from jaxrl.components.target_networks import polyak
from jaxrl.config import NON_NEGATIVE, ConfigError, static_field, traced_field
from jaxrl.envs import Env
from jaxrl.envs.spaces import Box, Discrete
from jaxrl.networks import ACTIVATIONS, make_torso
from jaxrl.networks.off_policy import (ContinuousCritic, DiscreteCritic, ensemble_apply,
                                       ensemble_init)
from jaxrl.networks.torsos import IMAGE_TORSOS, Activation

from flax import struct


@dataclasses.dataclass(frozen=True)
class ActorCriticConfig(OffPolicyConfig):
    num_envs: int = static_field(1, "parallel envs per member")
    batch_size: int = static_field(256, "transitions per gradient step")
    hidden_sizes: Tuple[int, ...] = static_field((64, 64), "dense widths of actor and "
                                                           "critic torsos (256,256 for "
                                                           "MuJoCo-scale tasks)")
    activation: Activation = static_field("relu", "hidden-layer activation")
    num_critics: int = static_field(2, "critics in the ensemble; the bootstrap target "
                                       "takes their minimum (clipped double Q)")
    random_warmup: bool = static_field(True, "act uniformly at random until "
                                             "learning_starts (else with the initial policy)")

    def validate(self):
        super().validate()
        if self.num_critics < 1:
            raise ConfigError(f"num_critics={self.num_critics} must be >= 1 (2: twin "
                              f"critics, 1: DDPG's single critic)")
        return self


@struct.dataclass
class ActorCriticHParams(OffPolicyHParams):
    learning_rate: float = traced_field(3e-4, "Adam step size of actor, critics "
                                              "(and temperature)")
    learning_starts: int = traced_field(1_000, "env steps before the first gradient step")
    max_grad_norm: float = traced_field(10.0, "global-norm gradient clipping threshold "
                                              "(per network)")
    target_tau: float = traced_field(0.005, "target network Polyak rate (1: hard copy)")

    RULES = {**OffPolicyHParams.RULES, "learning_rate": NON_NEGATIVE}


class OffPolicyActorCritic(OffPolicyLearner):
    """Sets up action handling and the critic ensemble; subclasses add their actor."""

    #: whether the subclass accepts discrete action spaces (SAC's categorical form)
    supports_discrete = False

    def __init__(self, env: Env, env_params: Any, config: ActorCriticConfig,
                 name: Optional[str] = None):
        super().__init__(env, env_params, config, name)
        space = self.env.action_space(env_params)
        self.discrete = isinstance(space, Discrete)
        if self.discrete and not self.supports_discrete:
            raise ConfigError(f"{self.name} needs a continuous (Box) action space; this "
                              f"env's is {space}: use sac (categorical form) or dqn")
        if not self.discrete:
            if not isinstance(space, Box) or len(space.shape) != 1:
                raise ConfigError(f"{self.name} needs 1-D Box actions, got {space}")
            if not space.bounded:
                raise ConfigError(f"{self.name} squashes actions into the env's bounds, "
                                  f"which must be finite; this env's are "
                                  f"[{space.low}, {space.high}]")
            self.low = np.asarray(space.low, np.float32)
            self.high = np.asarray(space.high, np.float32)
        self.action_dim = space.n if self.discrete else int(space.shape[0])
        if self.discrete:
            self.critic = DiscreteCritic(self.torso(), space.n)
        else:  # an image is embedded before the action joins it
            encoder = self.torso() if self.torso_kind in IMAGE_TORSOS else None
            self.critic = ContinuousCritic(tuple(config.hidden_sizes),
                                           ACTIVATIONS[config.activation], config.layer_norm,
                                           encoder)

    def torso(self):
        """A fresh actor or critic torso (``torso``: an MLP, or an image torso for
        ``[H, W, C]`` observations)."""
        cfg = self.config
        return make_torso(self.torso_kind, self.obs_shape, cfg.hidden_sizes, cfg.activation,
                          cfg.layer_norm)

    # ---- actions ---------------------------------------------------------------
    def explore_policy(self, learner, obs, key, hp, env_steps) -> jax.Array:
        """The learner's exploration policy (normalised actions)."""
        raise NotImplementedError

    def explore(self, learner, obs, key, hp, env_steps):
        """``explore_policy``, replaced by uniform random actions during warm-up."""
        policy_key, random_key = jax.random.split(key)
        action = self.explore_policy(learner, obs, policy_key, hp, env_steps)
        if not self.config.random_warmup:
            return action
        batch = obs.shape[:obs.ndim - len(self.obs_shape)]
        if self.discrete:
            random = jax.random.randint(random_key, batch, 0, self.action_dim, jnp.int32)
        else:
            random = jax.random.uniform(random_key, batch + (self.action_dim,),
                                        minval=-1.0, maxval=1.0)
        return jnp.where(env_steps.at_least(hp.learning_starts), action, random)

    def to_env(self, action):
        if self.discrete:
            return action
        return self.low + (action + 1.0) * 0.5 * (self.high - self.low)

    def _example_action(self):
        if self.discrete:
            return jnp.zeros((), jnp.int32)
        return jnp.zeros((self.action_dim,), jnp.float32)

    # ---- critics ---------------------------------------------------------------
    def init_critics(self, key) -> Any:
        obs = jnp.zeros(self.obs_shape, jnp.float32)
        return ensemble_init(self.critic, key, self.config.num_critics, obs,
                             self._example_action())

    def q_values(self, params, obs, action=None) -> jax.Array:
        """``[num_critics, B]`` for continuous actions, ``[num_critics, B, A]`` for
        discrete ones (``action`` ignored)."""
        return ensemble_apply(self.critic, params, obs, action)

    def critic_step(self, hp, params, opt_state, batch: Batch, target: jax.Array,
                    learning_rate) -> Tuple[Any, Any, jax.Array, jax.Array, jax.Array]:
        """One regression step of every critic onto ``target`` (importance-weighted
        squared error, halved, summed over critics). Returns (params, opt_state, loss,
        per-sample |TD error| averaged over critics (priorities), mean Q)."""
        def loss_fn(params):
            q = self.q_values(params, batch.obs, batch.action)
            if self.discrete:
                q = jnp.take_along_axis(q, batch.action[None, :, None], axis=-1)[..., 0]
            error = q - target[None]
            loss = 0.5 * jnp.sum(jnp.mean(batch.weights * error ** 2, axis=-1))
            return loss, (jnp.mean(jnp.abs(error), axis=0), jnp.mean(q))

        (loss, (priorities, q_mean)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        optimizer = make_optimizer(hp, learning_rate)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, priorities, q_mean

    @staticmethod
    def update_target(target, online, hp, grad_step, due=True):
        """Polyak step toward ``online`` every ``target_period`` gradient steps (and only
        where ``due``: TD3 moves its targets with its delayed policy updates)."""
        due = due & ((grad_step + 1) % hp.target_period == 0)
        return polyak(target, online, jnp.where(due, hp.target_tau, 0.0))


def bootstrap_target(reward: jax.Array, discount: jax.Array, next_q: jax.Array,
                     next_bonus: jax.Array = 0.0) -> jax.Array:
    """``reward + discount * (min_c next_q[c] - next_bonus)``: the clipped double-Q
    target (Fujimoto et al., 2018) over the critic axis 0; ``next_bonus`` is SAC's
    ``alpha * log pi(a'|s')``. ``discount`` is 0 after termination and gamma^m when the
    window was truncated, bootstrapping from the pre-reset final observation."""
    return reward + discount * (jnp.min(next_q, axis=0) - next_bonus)
