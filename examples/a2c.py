"""A learner of your own: advantage actor-critic (A2C; Mnih et al., 2016), trained by
name: `jaxrl train a2c:a2c --env CartPole-v1`. The "write your own learner" guide
(docs/guides/learner.md) walks through this file; the contract suite runs it.

It fills in the four parts of jaxrl's on-policy update (``OnPolicyLearner``: collect a
rollout, compute targets, epochs of minibatches, metrics): how the rollout acts, what
its targets are, the loss and the optimiser. A2C takes one gradient step per rollout.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl import registry
from jaxrl.algorithms.on_policy import OnPolicyLearner
from jaxrl.components import distributions
from jaxrl.components.advantages import compute_gae
from jaxrl.components.counters import StepCount
from jaxrl.components.normalization import RunningMeanStd
from jaxrl.components.optim import clipped_adam
from jaxrl.components.rollout import flatten_steps
from jaxrl.config import (NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, RolloutShape,
                          check_fields, check_ranges, static_field, traced_field)
from jaxrl.contract import Policy
from jaxrl.networks import ActorCritic
from jaxrl.networks.memory import MemorySpec
from jaxrl.networks.torsos import Activation, Torso, check_torso_fields


# --8<-- [start:settings]
@dataclasses.dataclass(frozen=True)
class A2CConfig(RolloutShape):
    """Static: every field shapes the compiled program (one compile per value)."""

    total_timesteps: int = static_field(500_000, "env steps per member over the whole run")
    num_envs: int = static_field(16, "parallel envs per member")
    num_steps: int = static_field(8, "rollout length per env per update")
    hidden_sizes: Tuple[int, ...] = static_field((64, 64), "dense widths of actor and critic")
    activation: Activation = static_field("tanh", "hidden-layer activation")
    torso: Torso = static_field("auto", "'auto': a CNN for image observations, else an MLP")
    normalize_observations: bool = static_field(False, "running mean/std observation norm")
    anneal_lr: bool = static_field(True, "decay the learning rate linearly to 0")

    num_epochs = num_minibatches = 1  # one gradient step on each whole rollout
    memory = MemorySpec()  # feed-forward (a recurrent core would go here)

    def validate(self) -> "A2CConfig":
        """Checked in Python before anything is traced; errors name the field."""
        self.check_rollout_shape()
        check_torso_fields(self)
        return self


@struct.dataclass
class A2CHParams:
    """Traced: one value per population member (vmapped, swept, perturbed by PBT)."""

    learning_rate: float = traced_field(7e-4, "Adam step size (initial, if annealed)")
    gamma: float = traced_field(0.99, "discount factor")
    gae_lambda: float = traced_field(1.0, "GAE lambda (1: n-step returns)")
    ent_coef: float = traced_field(0.01, "entropy bonus coefficient")
    vf_coef: float = traced_field(0.5, "value loss coefficient")
    max_grad_norm: float = traced_field(0.5, "global-norm gradient clipping threshold")

    def validate(self) -> "A2CHParams":
        check_fields(self)
        check_ranges(self, {
            "learning_rate": NON_NEGATIVE, "gamma": UNIT_INTERVAL, "gae_lambda": UNIT_INTERVAL,
            "ent_coef": NON_NEGATIVE, "vf_coef": NON_NEGATIVE, "max_grad_norm": POSITIVE})
        return self


# --8<-- [end:settings]
# --8<-- [start:state]
@struct.dataclass
class A2CState:
    """Everything a resume needs: a checkpoint is this pytree, per member."""

    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array
    obs_stats: RunningMeanStd
    update_count: jax.Array
    env_steps: StepCount
    carry: Any = ()  # the policy's memory per env (none: feed-forward)

    memory_parts = {"parameters": ("params",), "optimiser": ("opt_state",),
                    "env": ("env_state", "obs", "carry")}


# --8<-- [end:state]
# --8<-- [start:contract]
class A2C(OnPolicyLearner):
    name, Config, HParams = "a2c", A2CConfig, A2CHParams

    def __init__(self, env, env_params, config: A2CConfig, name: Optional[str] = None):
        super().__init__(env, env_params, config, name)
        self.action_dist = distributions.for_space(self.env.action_space(env_params))
        self.network = ActorCritic(
            action_dim=self.action_dist.action_dim,
            continuous=isinstance(self.action_dist, distributions.DiagGaussian),
            hidden_sizes=config.hidden_sizes, activation=config.activation,
            torso=self.torso_kind, action_mask=self.action_mask)

    # ---- the contract: init and the evaluation policy (update is the skeleton's) ----
    def init(self, key: jax.Array, hp: A2CHParams) -> A2CState:
        net_key, env_key, key = jax.random.split(key, 3)  # each key used once
        params = self.init_params(net_key)
        obs, env_state = self.train_env.reset(env_key, self.env_params)
        return A2CState(params, self.optimizer(hp, hp.learning_rate).init(params), env_state,
                        obs, key, self.obs_norm.init(self.obs_shape),
                        jnp.zeros((), jnp.int32), StepCount.zero())

    def policy(self, state: A2CState) -> Policy:
        norm = self.normalizer(state.obs_stats)

        def act(obs):  # the greedy (mode) action, on a batch of observations
            outputs = self.network.apply(state.params, norm(obs),
                                         method=ActorCritic.policy_outputs)
            return self.action_dist.to_env(self.action_dist.mode(outputs))

        return Policy.stateless(act)

# --8<-- [end:contract]
# --8<-- [start:parts]
    # ---- the four parts of the on-policy update --------------------------------------
    def rollout_policy(self, state: A2CState, hp: A2CHParams):
        norm = self.normalizer(state.obs_stats)

        def act(carry, obs, key):  # -> carry, action as stored, action for the env, extras
            outputs = self.network.apply(state.params, norm(obs),
                                         method=ActorCritic.policy_outputs)
            raw, _ = self.action_dist.sample(key, outputs)
            return carry, raw, self.action_dist.to_env(raw), {}

        return act, {}  # and metrics of acting (none)

    def targets(self, state: A2CState, hp: A2CHParams, batch):
        norm = self.normalizer(state.obs_stats)
        obs = norm(batch.obs)
        values = self.network.apply(state.params, obs, method=ActorCritic.value)
        # V of each step's true successor: batch.final_obs is the observation the episode
        # ended on where it ended (truncated steps bootstrap from it), else the next one
        next_values = self.network.apply(state.params, norm(batch.final_obs),
                                         method=ActorCritic.value)
        advantages, returns = compute_gae(batch.reward, values, next_values, batch.terminated,
                                          batch.truncated, hp.gamma, hp.gae_lambda)
        return flatten_steps((obs, batch.action, advantages, returns)), hp, state

    def minibatch_loss(self, state: A2CState, hp: A2CHParams):
        def loss(params, obs, actions, advantages, returns):
            outputs, values = self.network.apply(params, obs)
            policy_loss = -jnp.mean(self.action_dist.log_prob(outputs, actions) * advantages)
            value_loss = 0.5 * jnp.mean(jnp.square(values - returns))
            entropy = jnp.mean(self.action_dist.entropy(outputs))
            total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
            return total, {"loss": total, "policy_loss": policy_loss,
                           "value_loss": value_loss, "entropy": entropy}

        return loss

    def optimizer(self, hp: A2CHParams, learning_rate):
        return clipped_adam(hp.max_grad_norm, learning_rate)


# --8<-- [end:parts]
# --8<-- [start:make]
def make(env, env_params, config: A2CConfig = A2CConfig(), name: Optional[str] = None) -> A2C:
    return A2C(env, env_params, config, name)


Config, HParams = A2CConfig, A2CHParams

# --8<-- [end:make]
# --8<-- [start:register]
# The smoke configuration is what the contract suite runs (seconds, not a learning run).
registry.register(
    "a2c", __name__, "Advantage actor-critic: one gradient step per rollout (guide example)",
    smoke_env="CartPole-v1",
    smoke_values={"total_timesteps": 512, "num_envs": 4, "num_steps": 16,
                  "hidden_sizes": (16, 16)})
# --8<-- [end:register]
