"""Parallel Q-learning (PQN; Gallici et al., 2024): no replay buffer and no target
network. Many envs act epsilon-greedily, the rollout's Q(lambda) returns are computed
with the online network's (stop-gradient) max-Q at each true successor, and the network
(LayerNorm keeps it stable without a target net) regresses them over epochs of
minibatches, as PPO does with its returns. ``value_distribution='hl_gauss'`` learns the
same returns by classification.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.algorithms.on_policy import (OnPolicyLearner, check_sequence_fields,
                                        sequence_length_field)
from jaxrl.components.counters import StepCount
from jaxrl.components.exploration import decay_over_run, epsilon_greedy
from jaxrl.components.normalization import RunningMeanStd
from jaxrl.components.optim import clipped_adam
from jaxrl.components.rollout import flatten_steps
from jaxrl.components.targets import q_lambda_returns
from jaxrl.components.value_heads import ValueHead, check_value_fields
from jaxrl.config import (NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, RolloutShape,
                          check_fields, check_ranges, choice, static_field, traced_field)
from jaxrl.contract import Policy
from jaxrl.envs import Env
from jaxrl.networks import QNetwork, make_torso
from jaxrl.networks.heads import RecurrentQNetwork
from jaxrl.networks.memory import MemorySpec, burn_in_field, memory_field
from jaxrl.networks.torsos import Activation, Torso, check_torso_fields

PQN_VALUES = ("scalar", "hl_gauss")  # what a scalar Q(lambda) return can train
PQNValue = choice(*PQN_VALUES)


@dataclasses.dataclass(frozen=True)
class PQNConfig(RolloutShape):
    total_timesteps: int = static_field(500_000, "env steps per member over the whole run")
    num_envs: int = static_field(16, "parallel envs per member")
    num_steps: int = static_field(128, "rollout length per env per update")
    num_epochs: int = static_field(5, "passes over each rollout")
    num_minibatches: int = static_field(16, "minibatches per epoch; must divide "
                                            "num_envs*num_steps")
    hidden_sizes: Tuple[int, ...] = static_field((64, 64), "dense widths of the torso")
    activation: Activation = static_field("relu", "hidden-layer activation")
    torso: Torso = static_field("auto", "'cnn': the MinAtar CNN; 'impala': the IMPALA "
                                        "ResNet; 'auto': the CNN for [H, W, C] image "
                                        "observations, else an MLP")
    layer_norm: bool = static_field(True, "LayerNorm after each hidden layer (what makes "
                                          "PQN stable without a target network)")
    value_distribution: PQNValue = static_field("scalar", "what the Q-head learns: "
                                                             "values or an HL-Gauss histogram")
    num_atoms: int = static_field(51, "HL-Gauss bins (value_distribution='hl_gauss')")
    v_min: float = static_field(-100.0, "lowest HL-Gauss value")
    v_max: float = static_field(100.0, "highest HL-Gauss value")
    normalize_observations: bool = static_field(False, "running mean/std observation norm")
    anneal_lr: bool = static_field(True, "decay the learning rate linearly to 0")
    memory: MemorySpec = memory_field("torso and Q-head")
    sequence_length: int = sequence_length_field()
    burn_in: int = burn_in_field()

    def validate(self) -> "PQNConfig":
        self.check_rollout_shape()
        check_torso_fields(self)
        check_value_fields(self.value_distribution, PQN_VALUES, self.num_atoms, self.v_min,
                           self.v_max)
        check_sequence_fields(self)
        return self


@struct.dataclass
class PQNHParams:
    learning_rate: float = traced_field(3e-4, "Adam step size (initial, if annealed)")
    gamma: float = traced_field(0.99, "discount factor")
    q_lambda: float = traced_field(0.9, "Q(lambda) trace decay")
    max_grad_norm: float = traced_field(10.0, "global-norm gradient clipping threshold")
    epsilon_start: float = traced_field(1.0, "exploration rate at step 0")
    epsilon_end: float = traced_field(0.05, "exploration rate after the decay")
    epsilon_fraction: float = traced_field(0.5, "fraction of the run over which epsilon "
                                                "decays linearly")

    def validate(self) -> "PQNHParams":
        """Checks concrete (host) values; call before tracing."""
        check_fields(self)
        check_ranges(self, {
            "learning_rate": NON_NEGATIVE, "gamma": UNIT_INTERVAL, "q_lambda": UNIT_INTERVAL,
            "max_grad_norm": POSITIVE, "epsilon_start": UNIT_INTERVAL,
            "epsilon_end": UNIT_INTERVAL, "epsilon_fraction": UNIT_INTERVAL})
        return self


@struct.dataclass
class PQNState:
    params: Any
    opt_state: Any
    obs_stats: RunningMeanStd
    env_state: Any
    obs: jax.Array
    key: jax.Array
    update_count: jax.Array
    env_steps: StepCount
    carry: Any = ()  # the policy's memory per env (() feed-forward)

    # what the memory model counts each field as (contract.state_bytes_by_part)
    memory_parts = {"parameters": ("params",),
                    "optimiser": ("opt_state",),
                    "env": ("env_state", "obs", "carry")}


class PQN(OnPolicyLearner):
    name, Config, HParams = "pqn", PQNConfig, PQNHParams

    def __init__(self, env: Env, env_params: Any, config: PQNConfig, name: str | None = None):
        super().__init__(env, env_params, config, name)
        space = self.discrete_action_space(use_instead="ppo")
        self.value_head = ValueHead(config.value_distribution, config.num_atoms,
                                    config.v_min, config.v_max)
        torso = make_torso(self.torso_kind, self.obs_shape, config.hidden_sizes,
                           config.activation, config.layer_norm)
        if self.memory.recurrent:
            self.network = RecurrentQNetwork(torso, self.memory, space.n,
                                             self.value_head.outputs)
        else:
            self.network = QNetwork(torso, space.n, self.value_head.outputs)

    # ---- the contract -------------------------------------------------------------
    def init(self, key: jax.Array, hp: PQNHParams) -> PQNState:
        net_key, env_key, key = jax.random.split(key, 3)
        params = self.init_params(net_key)
        opt_state = self.optimizer(hp, hp.learning_rate).init(params)
        obs, env_state = self.train_env.reset(env_key, self.env_params)
        return PQNState(params, opt_state, self.obs_norm.init(self.obs_shape), env_state, obs,
                        key, jnp.zeros((), jnp.int32), StepCount.zero(),
                        self.initial_carry(self.num_rows))

    def policy(self, state: PQNState):
        norm = self.normalizer(state.obs_stats)
        if self.memory.recurrent:
            def act(carry, obs):
                carry, q = self.step(state.params, carry, norm(obs))
                return carry, jnp.argmax(q, axis=-1).astype(jnp.int32)

            return Policy(act, self.initial_carry)
        return Policy.stateless(lambda obs: jnp.argmax(self.q_values(state.params, norm(obs)),
                                                       axis=-1).astype(jnp.int32))

    # ---- the on-policy update's parts ------------------------------------------------
    def rollout_policy(self, state: PQNState, hp: PQNHParams):
        norm = self.normalizer(state.obs_stats)
        epsilon = self.epsilon(hp, state.env_steps)

        def act(carry, obs, act_key):
            if self.memory.recurrent:
                carry, q = self.step(state.params, carry, norm(obs))
                extras = {"carry": carry}  # to bootstrap from this step's true successor
            else:
                q, extras = self.q_values(state.params, norm(obs)), {}
            action = epsilon_greedy(act_key, q, epsilon, self.action_mask.legal(obs))
            return carry, action, action, extras

        return act, {"epsilon": epsilon}

    def targets(self, state: PQNState, hp: PQNHParams, batch):
        norm = self.normalizer(state.obs_stats)
        if self.memory.recurrent:  # each true successor read with the carry it follows
            next_q = self.step(state.params, batch.extras["carry"], norm(batch.final_obs))[1]
        else:
            next_q = self.q_values(state.params, norm(batch.final_obs))
        next_values = jnp.max(next_q, axis=-1)
        returns = q_lambda_returns(batch.reward, batch.terminated, batch.truncated,
                                   jax.lax.stop_gradient(next_values), hp.gamma, hp.q_lambda)
        per_step = (norm(batch.obs), batch.action, returns)
        if self.memory.recurrent:
            return self.sequences(state.carry, batch, per_step), hp, state
        return flatten_steps(per_step), hp, state

    def minibatch_loss(self, state: PQNState, hp: PQNHParams):
        head = self.value_head

        def loss(params, *minibatch):
            if self.memory.recurrent:  # whole sequences from their stored carries
                (out,), (actions, targets) = self.replay(params, *minibatch)
            else:
                obs, actions, targets = minibatch
                out = self.network.apply(params, obs)
            out = out[jnp.arange(actions.shape[0]), actions]
            losses, _ = jax.vmap(lambda o, t: head.loss(o, t, squared=True))(out, targets)
            loss = jnp.mean(losses)
            q_taken = head.q_values(out[:, None])[:, 0]
            return loss, {"loss": loss, "q_mean": jnp.mean(q_taken)}

        return loss

    def optimizer(self, hp: PQNHParams, learning_rate):
        return clipped_adam(hp.max_grad_norm, learning_rate, rectified=True)

    # ---- pieces ----------------------------------------------------------------------
    def q_values(self, params, obs) -> jax.Array:
        """Expected returns per action, illegal actions at ``ILLEGAL`` (masked argmax
        and masked bootstrap targets)."""
        return self.action_mask.apply(self.value_head.q_values(self.network.apply(params, obs)),
                                      obs)

    def step(self, params, carry, obs):
        """One recurrent step over a batch: ``(carry, q_values)``."""
        carry, (out,) = self.recurrent_step(params, carry, obs)
        return carry, self.action_mask.apply(self.value_head.q_values(out), obs)

    def epsilon(self, hp: PQNHParams, env_steps) -> jax.Array:
        return decay_over_run(hp.epsilon_start, hp.epsilon_end, hp.epsilon_fraction,
                              self.config.total_timesteps, env_steps)


def make(env: Env, env_params: Any, config: PQNConfig = PQNConfig(),
         name: Optional[str] = None) -> PQN:
    """``name``: the registered name it runs under (errors and summaries say it)."""
    return PQN(env, env_params, config, name)


Config, HParams = PQNConfig, PQNHParams
