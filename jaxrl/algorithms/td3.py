"""TD3 (Fujimoto et al., 2018) on the off-policy skeleton, and DDPG (Lillicrap et al.,
2016) as TD3 configured: ``ddpg`` is this learner registered with one critic, no target
policy smoothing and a policy update every step.

A deterministic tanh actor explores with Gaussian noise (its scale decays linearly from
``exploration_noise`` to ``exploration_noise_end``); the critics regress onto the
clipped double-Q target at a smoothed target action ``clip(pi'(s') + clip(eps, -c, c),
-1, 1)``; the actor (following the first critic) and all targets move every
``policy_delay`` gradient steps.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algorithms.off_policy import make_optimizer
from jaxrl.algorithms.off_policy_ac import (ActorCriticConfig, ActorCriticHParams,
                                            OffPolicyActorCritic)
from jaxrl.components.exploration import decay_over_run
from jaxrl.config import NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, traced_field
from jaxrl.contract import any_member, select
from jaxrl.envs import Env
from jaxrl.networks.off_policy import DeterministicActor


@dataclasses.dataclass(frozen=True)
class TD3Config(ActorCriticConfig):
    pass


@struct.dataclass
class TD3HParams(ActorCriticHParams):
    exploration_noise: float = traced_field(0.1, "std of the Gaussian exploration noise "
                                                 "(normalised actions) at step 0")
    exploration_noise_end: float = traced_field(0.1, "its std after the decay")
    exploration_noise_fraction: float = traced_field(1.0, "fraction of the run over which "
                                                          "it decays linearly")
    target_noise: float = traced_field(0.2, "std of the target policy smoothing noise "
                                            "(0: none, as DDPG)")
    target_noise_clip: float = traced_field(0.5, "the smoothing noise is clipped to "
                                                 "+-this")
    policy_delay: int = traced_field(2, "gradient steps per actor and target update")

    RULES = {**ActorCriticHParams.RULES, "exploration_noise": NON_NEGATIVE,
             "exploration_noise_end": NON_NEGATIVE,
             "exploration_noise_fraction": UNIT_INTERVAL, "target_noise": NON_NEGATIVE,
             "target_noise_clip": NON_NEGATIVE, "policy_delay": POSITIVE}


@struct.dataclass
class TD3Learner:
    actor_params: Any
    target_actor_params: Any
    critic_params: Any
    target_critic_params: Any
    actor_opt: Any
    critic_opt: Any
    actor_loss: jax.Array       # as of the last actor step (reported between them)
    actor_grad_norm: jax.Array

    # what the memory model counts each field as (contract.state_bytes_by_part)
    memory_parts = {"parameters": ("actor_params", "target_actor_params", "critic_params", "target_critic_params"),
                    "optimiser": ("actor_opt", "critic_opt")}


def smoothed_target_action(target_action, noise, noise_clip):
    """``clip(target_action + clip(noise, -noise_clip, noise_clip), -1, 1)``."""
    return jnp.clip(target_action + jnp.clip(noise, -noise_clip, noise_clip), -1.0, 1.0)


class TD3(OffPolicyActorCritic):
    name, Config, HParams = "td3", TD3Config, TD3HParams

    def __init__(self, env: Env, env_params: Any, config: TD3Config, name: str | None = None):
        super().__init__(env, env_params, config, name)
        self.actor = self.with_memory(
            lambda torso: DeterministicActor(torso, self.action_dim), actor=True)

    def init_learner(self, key, hp: TD3HParams) -> TD3Learner:
        actor_key, critic_key = jax.random.split(key)
        actor_params = self.init_actor(actor_key)
        critic_params = self.init_critics(critic_key)
        opt = make_optimizer(hp, hp.learning_rate)
        zero = jnp.zeros((), jnp.float32)
        return TD3Learner(actor_params, actor_params, critic_params, critic_params,
                          opt.init(actor_params), opt.init(critic_params), zero, zero)

    def noise_scale(self, hp: TD3HParams, env_steps):
        return decay_over_run(hp.exploration_noise, hp.exploration_noise_end,
                              hp.exploration_noise_fraction, self.config.total_timesteps,
                              env_steps)

    def sample_action(self, out, obs, key, hp: TD3HParams, env_steps):
        noise = self.noise_scale(hp, env_steps) * jax.random.normal(key, out.shape)
        return jnp.clip(out + noise, -1.0, 1.0)

    def greedy_action(self, out, obs):
        return out

    def exploration_metrics(self, hp, env_steps):
        return {"exploration_noise": self.noise_scale(hp, env_steps)}

    def target_action(self, learner: TD3Learner, at, hp: TD3HParams, key):
        """The target actor's smoothed action ``a'`` at successor observations."""
        target_action = self.actor_outputs(learner.target_actor_params, at)
        noise = hp.target_noise * jax.random.normal(key, target_action.shape)
        return smoothed_target_action(target_action, noise, hp.target_noise_clip)

    def next_value(self, learner: TD3Learner, at, hp: TD3HParams, key):
        """``min_c Q'_c(s', a')`` at the target actor's smoothed action ``a'``."""
        action = self.target_action(learner, at, hp, key)
        return jnp.min(self.q_values(learner.target_critic_params, at, action), axis=0)

    def actor_loss(self, actor_params, critic_params, at, batch, hp):
        """``-E[Q_1(s, pi(s))]`` (the first critic only, as in TD3: the others are not
        evaluated). ``batch`` and ``hp``: for the offline variants' penalties."""
        return -jnp.mean(self.first_q(critic_params, at, self.actor_outputs(actor_params, at)))

    def learn(self, learner: TD3Learner, batch, hp: TD3HParams, key, grad_step):
        lr = self.learning_rate(hp, grad_step)
        at = self.inputs(batch)[0]
        target = jax.lax.stop_gradient(self.critic_target(learner, batch, hp, key))
        critic_params, critic_opt, critic_loss, priorities, q_mean = self.critic_step(
            hp, learner.critic_params, learner.critic_opt, batch, target, lr)

        # The actor step is computed only when some member of the program is due (all
        # are, in lockstep: every policy_delay-th step) and kept only where this one is.
        due = (grad_step + 1) % hp.policy_delay == 0

        def actor_step(learner):
            loss, grads = jax.value_and_grad(self.actor_loss)(
                learner.actor_params, critic_params, at, batch, hp)
            updates, opt = make_optimizer(hp, lr).update(grads, learner.actor_opt,
                                                         learner.actor_params)
            return (optax.apply_updates(learner.actor_params, updates), opt, loss,
                    optax.global_norm(grads))

        def no_actor_step(learner):
            return (learner.actor_params, learner.actor_opt, learner.actor_loss,
                    learner.actor_grad_norm)

        stepped = jax.lax.cond(any_member(due), actor_step, no_actor_step, learner)
        actor_params, actor_opt, actor_loss, actor_grad_norm = select(
            due, stepped, no_actor_step(learner))

        learner = TD3Learner(
            actor_params,
            self.update_target(learner.target_actor_params, actor_params, hp, grad_step, due),
            critic_params,
            self.update_target(learner.target_critic_params, critic_params, hp, grad_step, due),
            actor_opt, critic_opt, actor_loss, actor_grad_norm)
        stats = {"loss": critic_loss, "actor_loss": actor_loss, "q_mean": q_mean,
                 "grad_norm": actor_grad_norm}
        return learner, priorities, stats


def make(env: Env, env_params: Any, config: TD3Config = TD3Config(),
         name: Optional[str] = None) -> TD3:
    """``name``: the registered name it runs under (errors and summaries say it)."""
    return TD3(env, env_params, config, name)


Config, HParams = TD3Config, TD3HParams
