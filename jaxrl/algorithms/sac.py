"""Soft Actor-Critic (Haarnoja et al., 2018, with the learned temperature of the
"Algorithms and Applications" version) on the off-policy skeleton.

Continuous actions: a tanh-squashed Gaussian actor (log-probabilities from the
pre-squash sample, finite at the bounds), twin critics with Polyak targets and the
clipped double-Q soft target. Discrete actions (Christodoulou, 2019): a categorical actor
and Q-networks over all actions, with every expectation over actions computed exactly
rather than sampled. The temperature ``alpha = exp(log_alpha)`` is learned toward a
target entropy (or fixed). Updates per env step: ``gradient_steps / (num_envs *
rollout_steps)`` (the UTD ratio).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algorithms.off_policy import Batch, make_optimizer
from jaxrl.algorithms.off_policy_ac import (ActorCriticConfig, ActorCriticHParams,
                                            OffPolicyActorCritic)
from jaxrl.components.distributions import tanh_gaussian_sample
from jaxrl.config import POSITIVE, static_field, traced_field
from jaxrl.envs import Env
from jaxrl.networks.off_policy import CategoricalActor, GaussianActor


@dataclasses.dataclass(frozen=True)
class SACConfig(ActorCriticConfig):
    learn_temperature: bool = static_field(True, "learn alpha toward the target entropy "
                                                 "(False: alpha stays initial_temperature)")


@struct.dataclass
class SACHParams(ActorCriticHParams):
    initial_temperature: float = traced_field(1.0, "alpha at the start of the run")
    target_entropy: float = traced_field(-1.0, "continuous actions: target entropy per "
                                               "action dimension (-1: -d, as Haarnoja)")
    target_entropy_ratio: float = traced_field(0.5, "discrete actions: target entropy as a "
                                                    "fraction of log(num_actions)")

    RULES = {**ActorCriticHParams.RULES, "initial_temperature": POSITIVE,
             "target_entropy_ratio": (lambda v: (0 <= v) & (v < 1), "must be in [0, 1)")}


@struct.dataclass
class SACLearner:
    actor_params: Any
    critic_params: Any
    target_critic_params: Any
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any

    # what the memory model counts each field as (contract.state_bytes_by_part)
    memory_parts = {"parameters": ("actor_params", "critic_params", "target_critic_params",
                                   "log_alpha"),
                    "optimiser": ("actor_opt", "critic_opt", "alpha_opt")}


class SAC(OffPolicyActorCritic):
    name, Config, HParams = "sac", SACConfig, SACHParams
    supports_discrete = True

    def __init__(self, env: Env, env_params: Any, config: SACConfig, name: str | None = None):
        super().__init__(env, env_params, config, name)
        head = CategoricalActor if self.discrete else GaussianActor
        self.actor = self.with_memory(lambda torso: head(torso, self.action_dim), actor=True)

    def init_learner(self, key, hp: SACHParams) -> SACLearner:
        actor_key, critic_key = jax.random.split(key)
        actor_params = self.init_actor(actor_key)
        critic_params = self.init_critics(critic_key)
        log_alpha = jnp.log(jnp.asarray(hp.initial_temperature, jnp.float32))
        opt = make_optimizer(hp, hp.learning_rate)
        return SACLearner(actor_params, critic_params, critic_params, log_alpha,
                          opt.init(actor_params), opt.init(critic_params), opt.init(log_alpha))

    def target_entropy(self, hp: SACHParams) -> jax.Array:
        if self.discrete:
            return hp.target_entropy_ratio * jnp.log(float(self.action_dim))
        return hp.target_entropy * self.action_dim

    # ---- acting ----------------------------------------------------------------
    def sample_action(self, out, obs, key, hp, env_steps):
        if self.discrete:
            logits = self.action_mask.apply(out, obs)
            return jax.random.categorical(key, logits).astype(jnp.int32)
        mean, log_std = out
        return tanh_gaussian_sample(key, mean, log_std)[0]

    def greedy_action(self, out, obs):
        if self.discrete:
            logits = self.action_mask.apply(out, obs)
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        return jnp.tanh(out[0])

    def logits(self, actor_params, at):
        """The discrete actor's logits, illegal actions masked (probability 0)."""
        return self.action_mask.apply(self.actor_outputs(actor_params, at), self.observed(at))

    # ---- the policy's view of a state: (actions or None, probs, log-probs) -------
    def _policy_sample(self, actor_params, at, key):
        """Continuous: a reparameterised action and its log-prob. Discrete: every
        action's probability and log-probability (exact expectations)."""
        if self.discrete:
            log_probs = jax.nn.log_softmax(self.logits(actor_params, at))
            return None, jnp.exp(log_probs), log_probs
        action, log_prob = tanh_gaussian_sample(key, *self.actor_outputs(actor_params, at))
        return action, None, log_prob

    def next_value(self, learner: SACLearner, at, hp, key) -> jax.Array:
        """The soft value ``min_c Q'_c(s', a') - alpha log pi(a'|s')``, ``a' ~ pi(s')``,
        from the target critics (an exact expectation over discrete actions)."""
        alpha = jnp.exp(learner.log_alpha)
        action, probs, log_probs = self._policy_sample(learner.actor_params, at, key)
        next_q = self.q_values(learner.target_critic_params, at, action)
        if self.discrete:  # V(s') = sum_a pi(a|s') (min_c Q_c(s', a) - alpha log pi(a|s'))
            soft = jnp.min(next_q, axis=0) - alpha * log_probs
            return jnp.sum(probs * soft, axis=-1)
        return jnp.min(next_q, axis=0) - alpha * log_probs

    def actor_loss(self, actor_params, critic_params, log_alpha, at, key):
        """``E[alpha log pi(a|s) - min_c Q_c(s, a)]``; returns (loss, E[log pi])."""
        alpha = jnp.exp(log_alpha)
        action, probs, log_probs = self._policy_sample(actor_params, at, key)
        q = jnp.min(self.q_values(critic_params, at, action), axis=0)
        if self.discrete:
            q = jax.lax.stop_gradient(q)
            per_state = jnp.sum(probs * (alpha * log_probs - q), axis=-1)
            mean_log_prob = jnp.sum(probs * log_probs, axis=-1)
        else:
            per_state = alpha * log_probs - q
            mean_log_prob = log_probs
        return jnp.mean(per_state), jnp.mean(mean_log_prob)

    @staticmethod
    def temperature_loss(log_alpha, mean_log_prob, target_entropy):
        """``-log_alpha * (E[log pi] + target_entropy)``: alpha grows while the policy's
        entropy ``-E[log pi]`` is below the target and shrinks above it."""
        return -log_alpha * (jax.lax.stop_gradient(mean_log_prob) + target_entropy)

    def critic_penalty(self, learner: SACLearner, batch: Batch, hp, key):
        """A term added to the critics' loss, ``penalty(critic_params, q_data)``, or None
        (CQL adds its conservative penalty)."""
        return None

    def learn(self, learner: SACLearner, batch: Batch, hp: SACHParams, key, grad_step):
        target_key, actor_key = jax.random.split(key)
        lr = self.learning_rate(hp, grad_step)
        target = jax.lax.stop_gradient(self.critic_target(learner, batch, hp, target_key))
        critic_params, critic_opt, critic_loss, priorities, q_mean = self.critic_step(
            hp, learner.critic_params, learner.critic_opt, batch, target, lr,
            self.critic_penalty(learner, batch, hp, key))

        optimizer = make_optimizer(hp, lr)
        (actor_loss, mean_log_prob), actor_grads = jax.value_and_grad(
            self.actor_loss, has_aux=True)(learner.actor_params, critic_params,
                                           learner.log_alpha, self.inputs(batch)[0],
                                           actor_key)
        updates, actor_opt = optimizer.update(actor_grads, learner.actor_opt,
                                              learner.actor_params)
        actor_params = optax.apply_updates(learner.actor_params, updates)

        log_alpha, alpha_opt = learner.log_alpha, learner.alpha_opt
        if self.config.learn_temperature:
            alpha_grad = jax.grad(self.temperature_loss)(log_alpha, mean_log_prob,
                                                         self.target_entropy(hp))
            updates, alpha_opt = optimizer.update(alpha_grad, alpha_opt, log_alpha)
            log_alpha = optax.apply_updates(log_alpha, updates)

        target_critic_params = self.update_target(learner.target_critic_params,
                                                  critic_params, hp, grad_step)
        stats = {"loss": critic_loss, "actor_loss": actor_loss, "q_mean": q_mean,
                 "entropy": -mean_log_prob, "alpha": jnp.exp(log_alpha),
                 "grad_norm": optax.global_norm(actor_grads)}
        return (SACLearner(actor_params, critic_params, target_critic_params, log_alpha,
                           actor_opt, critic_opt, alpha_opt), priorities, stats)


def make(env: Env, env_params: Any, config: SACConfig = SACConfig(),
         name: Optional[str] = None) -> SAC:
    """``name``: the registered name it runs under (errors and summaries say it)."""
    return SAC(env, env_params, config, name)


Config, HParams = SACConfig, SACHParams
