"""Implicit Q-learning (Kostrikov et al., 2022) on the off-policy skeleton, offline and
offline-to-online. Registered as ``implicit_ql``: ``iql`` is independent Q-learning of
teams (JaxMARL's name).

Each gradient step, in IQL's order:

1. ``V`` regresses onto the target critics' ``min_c Q'_c(s, a)`` at the data's actions
   with the expectile loss (``expectile`` toward 1: ``V`` approaches the best action in
   the data's support, never querying an action outside it);
2. every critic regresses onto ``r + discount V(s')`` (the new ``V``);
3. the policy fits the data's actions weighted by ``min(exp(temperature A), max_weight)``,
   ``A = min_c Q'_c(s, a) - V(s)`` with the new ``V`` (advantage-weighted regression;
   the policy head is BC's: Gaussian, deterministic or categorical);
4. the target critics move toward the critics (Polyak).

With env steps beside the dataset (``total_timesteps > 0``) the same steps run on
batches mixing the dataset with the learner's own replay (``dataset_ratio``): IQL
continued online, as its paper fine-tunes.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algorithms.bc import BCConfig, BCHParams, PolicyHead
from jaxrl.algorithms.off_policy import make_optimizer
from jaxrl.algorithms.off_policy_ac import OffPolicyActorCritic
from jaxrl.components.offline import advantage_weights, expectile_loss
from jaxrl.config import NON_NEGATIVE, POSITIVE, traced_field
from jaxrl.envs import Env
from jaxrl.networks.off_policy import DiscreteCritic


@dataclasses.dataclass(frozen=True)
class ImplicitQLConfig(BCConfig):
    pass


@struct.dataclass
class ImplicitQLHParams(BCHParams):
    learning_rate: float = traced_field(3e-4, "Adam step size of policy, critics and value")
    expectile: float = traced_field(0.7, "tau of V's expectile loss (0.5: the mean of Q "
                                         "over the data's actions; toward 1: their best)")
    temperature: float = traced_field(3.0, "beta of the advantage weights exp(beta A)")
    max_weight: float = traced_field(100.0, "cap of the advantage weights")

    RULES = {**BCHParams.RULES,
             "expectile": (lambda v: (0 < v) & (v < 1), "must be in (0, 1)"),
             "temperature": NON_NEGATIVE, "max_weight": POSITIVE}


@struct.dataclass
class ImplicitQLLearner:
    actor_params: Any
    critic_params: Any
    target_critic_params: Any
    value_params: Any
    actor_opt: Any
    critic_opt: Any
    value_opt: Any

    memory_parts = {"parameters": ("actor_params", "critic_params", "target_critic_params",
                                   "value_params"),
                    "optimiser": ("actor_opt", "critic_opt", "value_opt")}


class ImplicitQL(PolicyHead, OffPolicyActorCritic):
    name, Config, HParams = "implicit_ql", ImplicitQLConfig, ImplicitQLHParams

    def __init__(self, env: Env, env_params: Any, config: ImplicitQLConfig,
                 name: str | None = None):
        super().__init__(env, env_params, config, name)
        self.make_actor()
        self.value = DiscreteCritic(self.torso(), 1)  # V(s): one output

    def init_learner(self, key, hp: ImplicitQLHParams) -> ImplicitQLLearner:
        actor_key, critic_key, value_key = jax.random.split(key, 3)
        actor = self.init_actor(actor_key)
        critics = self.init_critics(critic_key)
        value = self.value.init(value_key, jnp.zeros(self.obs_shape, jnp.float32))
        opt = make_optimizer(hp, hp.learning_rate)
        return ImplicitQLLearner(actor, critics, critics, value, opt.init(actor),
                                 opt.init(critics), opt.init(value))

    def state_value(self, value_params, obs) -> jax.Array:
        return self.value.apply(value_params, obs)[..., 0]

    def data_q(self, critic_params, obs, action) -> jax.Array:
        """``min_c Q_c(s, a)`` at the data's actions (``[B]``)."""
        return jnp.min(self.taken_q(critic_params, obs, action), axis=0)

    def learn(self, learner: ImplicitQLLearner, batch, hp: ImplicitQLHParams, key, grad_step):
        lr = self.learning_rate(hp, grad_step)
        optimizer = make_optimizer(hp, lr)
        target_q = jax.lax.stop_gradient(
            self.data_q(learner.target_critic_params, batch.obs, batch.action))

        # 1. V toward the expectile of the target critics' Q at the data's actions
        def value_loss(params):
            value = self.state_value(params, batch.obs)
            return expectile_loss(target_q - value, hp.expectile), value

        (v_loss, value), v_grads = jax.value_and_grad(value_loss, has_aux=True)(
            learner.value_params)
        updates, value_opt = optimizer.update(v_grads, learner.value_opt, learner.value_params)
        value_params = optax.apply_updates(learner.value_params, updates)

        # 2. the critics toward r + discount V(s') (the new V)
        next_v = self.state_value(value_params, batch.next_obs)
        target = jax.lax.stop_gradient(batch.reward + batch.discount * next_v)
        critic_params, critic_opt, critic_loss, priorities, q_mean = self.critic_step(
            hp, learner.critic_params, learner.critic_opt, batch, target, lr)

        # 3. advantage-weighted regression of the policy onto the data's actions, with the
        #    advantages of the new V (as IQL's own code orders the steps)
        new_value = self.state_value(value_params, batch.obs)
        weights = jax.lax.stop_gradient(
            advantage_weights(target_q - new_value, hp.temperature, hp.max_weight))

        def actor_loss(params):
            return jnp.mean(weights * self.action_loss(params, batch.obs, batch.action))

        a_loss, a_grads = jax.value_and_grad(actor_loss)(learner.actor_params)
        updates, actor_opt = optimizer.update(a_grads, learner.actor_opt, learner.actor_params)
        actor_params = optax.apply_updates(learner.actor_params, updates)

        # 4. targets
        target_critic_params = self.update_target(learner.target_critic_params,
                                                  critic_params, hp, grad_step)
        stats = {"loss": critic_loss, "value_loss": v_loss, "actor_loss": a_loss,
                 "q_mean": q_mean, "value_mean": jnp.mean(value),
                 "advantage_weight": jnp.mean(weights), "grad_norm": optax.global_norm(a_grads)}
        return (ImplicitQLLearner(actor_params, critic_params, target_critic_params,
                                  value_params, actor_opt, critic_opt, value_opt),
                priorities, stats)


def make(env: Env, env_params: Any, config: ImplicitQLConfig = ImplicitQLConfig(),
         name: Optional[str] = None) -> ImplicitQL:
    """``name``: the registered name it runs under (errors and summaries say it)."""
    return ImplicitQL(env, env_params, config, name)


Config, HParams = ImplicitQLConfig, ImplicitQLHParams
