"""Behaviour cloning on the off-policy skeleton: the policy fitted to a dataset's actions.

Three policy heads (``policy``): a ``gaussian`` one (the negative log-likelihood of the
data's action under ``N(tanh(mu(s)), sigma(s)^2)``, the mean squashed and the sample not,
so actions at the bounds keep finite likelihoods), a ``deterministic`` one (the squared
distance of ``tanh(f(s))`` to the data's action) and, on discrete actions, a categorical
one (cross-entropy). The per-sample losses are what IQL weights by its advantages
(``implicit_ql``), so both share this head. Acting online (for evaluation the mean or
most likely action) samples the Gaussian or the categorical; a deterministic head adds
Gaussian noise of ``exploration_noise``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Literal, Optional

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algorithms.off_policy import make_optimizer
from jaxrl.algorithms.off_policy_ac import OffPolicyActorCritic, OfflineConfig, OfflineHParams
from jaxrl.components.offline import gaussian_log_prob
from jaxrl.config import NON_NEGATIVE, ConfigError, static_field, traced_field
from jaxrl.envs import Env
from jaxrl.networks.off_policy import CategoricalActor, DeterministicActor, GaussianActor

POLICIES = ("gaussian", "deterministic")


@dataclasses.dataclass(frozen=True)
class BCConfig(OfflineConfig):
    policy: Literal["gaussian", "deterministic"] = static_field(
        "gaussian", "continuous actions: 'gaussian' (log-likelihood) or 'deterministic' "
                    "(squared error)")

    def validate(self):
        super().validate()
        if self.policy not in POLICIES:
            raise ConfigError(f"policy={self.policy!r}: use one of {POLICIES}")
        return self


@struct.dataclass
class BCHParams(OfflineHParams):
    learning_rate: float = traced_field(1e-3, "Adam step size")
    exploration_noise: float = traced_field(0.1, "deterministic head acting online: std of "
                                                 "its Gaussian noise (normalised actions)")

    RULES = {**OfflineHParams.RULES, "exploration_noise": NON_NEGATIVE}


@struct.dataclass
class BCLearner:
    actor_params: Any
    actor_opt: Any

    memory_parts = {"parameters": ("actor_params",), "optimiser": ("actor_opt",)}


class PolicyHead:
    """The policy of the learners that fit the data's actions (BC, IQL): built in
    ``__init__`` by ``make_actor``; per-sample losses by ``action_loss``."""

    supports_discrete = True

    def make_actor(self) -> None:
        if self.discrete:
            head = CategoricalActor
        elif self.config.policy == "gaussian":
            head = GaussianActor
        else:
            head = DeterministicActor
        self.actor = self.with_memory(lambda torso: head(torso, self.action_dim), actor=True)

    def action_loss(self, actor_params, obs, action) -> jax.Array:
        """Per sample: ``-log pi(a|s)`` (Gaussian, categorical) or ``||pi(s) - a||^2``
        summed over action dimensions (deterministic)."""
        out = self.actor_outputs(actor_params, obs)
        if self.discrete:
            log_probs = jax.nn.log_softmax(self.action_mask.apply(out, obs))
            return -jnp.take_along_axis(log_probs, action[..., None], axis=-1)[..., 0]
        if self.config.policy == "gaussian":
            mean, log_std = out
            return -gaussian_log_prob(jnp.tanh(mean), log_std, action)
        return jnp.sum((out - action) ** 2, axis=-1)

    def sample_action(self, out, obs, key, hp, env_steps):
        if self.discrete:
            return jax.random.categorical(key, self.action_mask.apply(out, obs)).astype(
                jnp.int32)
        if self.config.policy == "gaussian":
            mean, log_std = out
            noise = jnp.exp(log_std) * jax.random.normal(key, mean.shape)
            return jnp.clip(jnp.tanh(mean) + noise, -1.0, 1.0)
        noise = hp.exploration_noise * jax.random.normal(key, out.shape)
        return jnp.clip(out + noise, -1.0, 1.0)

    def greedy_action(self, out, obs):
        if self.discrete:
            return jnp.argmax(self.action_mask.apply(out, obs), axis=-1).astype(jnp.int32)
        if self.config.policy == "gaussian":
            return jnp.tanh(out[0])
        return out


class BC(PolicyHead, OffPolicyActorCritic):
    name, Config, HParams = "bc", BCConfig, BCHParams

    def __init__(self, env: Env, env_params: Any, config: BCConfig, name: str | None = None):
        super().__init__(env, env_params, config, name)
        if not config.dataset:
            raise ConfigError(f"{self.name} learns from a dataset: set dataset=DIR "
                              f"(`jaxrl record` writes one) or dataset=random:N")
        self.make_actor()

    def init_learner(self, key, hp: BCHParams) -> BCLearner:
        params = self.init_actor(key)
        return BCLearner(params, make_optimizer(hp, hp.learning_rate).init(params))

    def learn(self, learner: BCLearner, batch, hp: BCHParams, key, grad_step):
        def loss_fn(params):
            return jnp.mean(batch.weights * self.action_loss(params, batch.obs, batch.action))

        loss, grads = jax.value_and_grad(loss_fn)(learner.actor_params)
        optimizer = make_optimizer(hp, self.learning_rate(hp, grad_step))
        updates, opt = optimizer.update(grads, learner.actor_opt, learner.actor_params)
        params = optax.apply_updates(learner.actor_params, updates)
        priorities = jnp.zeros(batch.reward.shape, jnp.float32)
        return BCLearner(params, opt), priorities, {"loss": loss,
                                                    "grad_norm": optax.global_norm(grads)}


def make(env: Env, env_params: Any, config: BCConfig = BCConfig(),
         name: Optional[str] = None) -> BC:
    """``name``: the registered name it runs under (errors and summaries say it)."""
    return BC(env, env_params, config, name)


Config, HParams = BCConfig, BCHParams
