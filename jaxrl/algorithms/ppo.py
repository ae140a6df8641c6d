"""Proximal Policy Optimisation (Schulman et al., 2017), over populations.

``PPOConfig`` is static (shapes, loop lengths), ``PPOHParams`` is traced (one value per
population member). ``make(env, env_params, config)`` returns a ``PPO`` whose
``init(key, hp)`` / ``update(state, hp)`` / ``policy(state)`` are pure functions.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.algorithms.on_policy import (OnPolicyLearner, check_sequence_fields,
                                        sequence_length_field)
from jaxrl.components import distributions
from jaxrl.components.advantages import compute_gae, normalize
from jaxrl.components.counters import StepCount
from jaxrl.components.objectives import (OBJECTIVES, LearnedDrift, ObjectiveHParams,
                                         PolicyObjective, ppo_clip_like_params)
from jaxrl.components.normalization import RewardScaler, RunningMeanStd
from jaxrl.components.optim import clipped_adam
from jaxrl.components.rollout import flatten_steps
from jaxrl.components.schedules import (apply_schedules, check_schedule_params,
                                        scheduled_values)
from jaxrl.components.value_heads import check_value_fields
from jaxrl.components.value_losses import HLGauss
from jaxrl.config import (FINITE, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, ConfigError,
                          RolloutShape, check_fields, check_ranges, choice, static_field,
                          traced_field)
from jaxrl.envs import Env
from jaxrl.contract import Policy
from jaxrl.networks import ActorCritic
from jaxrl.networks.actor_critic import RecurrentActorCritic
from jaxrl.networks.memory import MemorySpec, burn_in_field, memory_field
from jaxrl.networks.torsos import Activation, Torso, check_torso_fields

VALUE_LOSSES = ("mse", "hl_gauss")
ValueLoss = choice(*VALUE_LOSSES)
ObjectiveName = choice(*OBJECTIVES)
ContinuousActions = choice(*distributions.CONTINUOUS_MODES)


@dataclasses.dataclass(frozen=True)
class PPOConfig(RolloutShape):
    total_timesteps: int = static_field(500_000, "env steps per member over the whole run")
    num_envs: int = static_field(4, "parallel envs per member")
    num_steps: int = static_field(128, "rollout length per env per update")
    num_epochs: int = static_field(4, "passes over each rollout")
    num_minibatches: int = static_field(4, "minibatches per epoch; must divide num_envs*num_steps")
    hidden_sizes: Tuple[int, ...] = static_field((64, 64), "dense widths of actor and critic")
    activation: Activation = static_field("tanh", "hidden-layer activation")
    torso: Torso = static_field("auto", "'cnn': the MinAtar CNN; 'impala': the IMPALA "
                                        "ResNet; 'auto': the CNN for [H, W, C] image "
                                        "observations, else an MLP")
    continuous_actions: ContinuousActions = static_field(
        "clipped", "Box actions: 'clipped' Gaussian or 'tanh'-squashed Gaussian")
    init_log_std: float = static_field(0.0, "initial log-std of Gaussian policies")
    anneal_lr: bool = static_field(True, "decay the learning rate linearly to 0")
    normalize_advantages: bool = static_field(True, "normalise advantages per minibatch")
    clip_value_loss: bool = static_field(True, "clip value updates by vf_clip_eps (mse)")
    value_loss: ValueLoss = static_field("mse", "critic loss; 'hl_gauss' learns returns "
                                                "by classification over bins")
    value_bins: int = static_field(51, "HL-Gauss bins (value_loss='hl_gauss')")
    v_min: float = static_field(-100.0, "lowest HL-Gauss value (value_loss='hl_gauss')")
    v_max: float = static_field(100.0, "highest HL-Gauss value (value_loss='hl_gauss')")
    normalize_observations: bool = static_field(False, "running mean/std observation norm")
    normalize_rewards: bool = static_field(False, "scale rewards by running return std")
    adam_eps: float = static_field(1e-5, "Adam epsilon")
    policy_objective: ObjectiveName = static_field(
        "clip", "policy objective (mirror learning)")
    memory: MemorySpec = memory_field("torso and heads")
    sequence_length: int = sequence_length_field()
    burn_in: int = burn_in_field()

    def validate(self) -> "PPOConfig":
        self.check_rollout_shape()
        check_torso_fields(self)
        if self.continuous_actions not in distributions.CONTINUOUS_MODES:
            raise ConfigError(f"continuous_actions={self.continuous_actions!r}: choose one of "
                              f"{distributions.CONTINUOUS_MODES}")
        check_value_fields(self.value_loss, VALUE_LOSSES, self.value_bins, self.v_min,
                           self.v_max, "value_loss", "value_bins")
        if self.policy_objective not in OBJECTIVES:
            raise ConfigError(f"policy_objective={self.policy_objective!r}: choose one of "
                              f"{', '.join(OBJECTIVES)}")
        check_sequence_fields(self)
        return self

    @property
    def hl_gauss(self) -> Optional[HLGauss]:
        if self.value_loss != "hl_gauss":
            return None
        return HLGauss(self.v_min, self.v_max, self.value_bins)


@struct.dataclass
class PPOHParams:
    learning_rate: float = traced_field(2.5e-4, "Adam step size (initial, if annealed)")
    gamma: float = traced_field(0.99, "discount factor")
    gae_lambda: float = traced_field(0.95, "GAE lambda")
    clip_eps: float = traced_field(0.2, "policy ratio clipping range")
    vf_clip_eps: float = traced_field(0.2, "value clipping range (if clip_value_loss)")
    ent_coef: float = traced_field(0.01, "entropy bonus coefficient")
    vf_coef: float = traced_field(0.5, "value loss coefficient")
    max_grad_norm: float = traced_field(0.5, "global-norm gradient clipping threshold")
    objective: ObjectiveHParams = traced_field(
        ObjectiveHParams(), "the knobs of the mirror-learning objectives (mdpo_coef, "
                            "dpo_alpha, dpo_beta, drift_params)")
    schedule_params: Any = traced_field(None, "learned schedules {field: [K] log-multipliers "
                                              "over n/N} (None: the fixed schedule)")

    def validate(self) -> "PPOHParams":
        """Checks concrete (host) values; call before tracing."""
        check_fields(self)
        check_ranges(self, {
            "learning_rate": NON_NEGATIVE, "gamma": UNIT_INTERVAL, "gae_lambda": UNIT_INTERVAL,
            "clip_eps": POSITIVE, "vf_clip_eps": POSITIVE, "ent_coef": FINITE,
            "vf_coef": NON_NEGATIVE, "max_grad_norm": POSITIVE})
        self.objective.validate()
        check_schedule_params(type(self), self.schedule_params)
        return self


@struct.dataclass
class PPOState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array
    obs_stats: RunningMeanStd
    reward_scaler: RewardScaler
    update_count: jax.Array
    env_steps: StepCount
    carry: Any = ()  # the policy's memory per env (recurrent cores; () feed-forward)

    # what the memory model counts each field as (contract.state_bytes_by_part)
    memory_parts = {"parameters": ("params",),
                    "optimiser": ("opt_state",),
                    "env": ("env_state", "obs", "carry")}


class PPO(OnPolicyLearner):
    name, Config, HParams = "ppo", PPOConfig, PPOHParams

    def __init__(self, env: Env, env_params: Any, config: PPOConfig, name: str | None = None):
        super().__init__(env, env_params, config, name)
        self.action_dist = distributions.for_space(self.train_env.action_space(env_params),
                                                   config.continuous_actions)
        self.objective = OBJECTIVES[config.policy_objective]
        self.default_drift_params = None
        if isinstance(self.objective, LearnedDrift):
            self.default_drift_params = ppo_clip_like_params(
                temporal=self.objective.temporal)
        network = RecurrentActorCritic if self.memory.recurrent else ActorCritic
        self.network = network(
            action_dim=self.action_dist.action_dim,
            continuous=isinstance(self.action_dist, distributions.DiagGaussian),
            hidden_sizes=tuple(config.hidden_sizes), activation=config.activation,
            init_log_std=config.init_log_std, torso=self.torso_kind,
            value_bins=config.hl_gauss, action_mask=self.action_mask,
            **self.network_inputs(),
            **({"memory": self.memory} if self.memory.recurrent else {}))

    def network_inputs(self):
        """Which features of an observation the actor and the critic read (None: all;
        ``algorithms.team``'s centralised critic reads the global state)."""
        return {}

    # ---- the contract -------------------------------------------------------------
    def init(self, key: jax.Array, hp: PPOHParams) -> PPOState:
        net_key, env_key, key = jax.random.split(key, 3)
        params = self.init_params(net_key)
        opt_state = self.optimizer(hp, hp.learning_rate).init(params)
        obs, env_state = self.train_env.reset(env_key, self.env_params)
        return PPOState(params, opt_state, env_state, obs, key,
                        self.obs_norm.init(self.obs_shape),
                        RewardScaler.create(self.num_rows),
                        jnp.zeros((), jnp.int32), StepCount.zero(),
                        self.initial_carry(self.num_rows))

    def policy(self, state: PPOState):
        """Deterministic policy (greedy / mean action) on ``eval_env`` observations
        (normalisation, if any, is applied inside)."""
        norm_obs = self.normalizer(state.obs_stats)
        if self.memory.recurrent:
            def act_with_memory(carry, obs):
                carry, outputs, _ = self.step(state.params, carry, norm_obs(obs))
                return carry, self.action_dist.to_env(self.action_dist.mode(outputs))

            return Policy(act_with_memory, self.initial_carry)

        def act(obs):
            outputs = self.network.apply(state.params, norm_obs(obs),
                                         method=ActorCritic.policy_outputs)
            return self.action_dist.to_env(self.action_dist.mode(outputs))

        return Policy.stateless(act)

    # ---- the on-policy update's parts ------------------------------------------------
    def rollout_policy(self, state: PPOState, hp: PPOHParams):
        norm_obs = self.normalizer(state.obs_stats)

        if self.memory.recurrent:
            def act_with_memory(carry, obs, act_key):
                # the value is read while acting (it needs the carry); the output carry is
                # kept to bootstrap from this step's true successor
                carry, outputs, value = self.step(state.params, carry, norm_obs(obs))
                raw, log_prob = self.action_dist.sample(act_key, outputs)
                return carry, raw, self.action_dist.to_env(raw), {
                    "log_prob": log_prob, "value": value, "carry": carry}

            return act_with_memory, {}

        def act(carry, obs, act_key):
            outputs = self.network.apply(state.params, norm_obs(obs),
                                         method=ActorCritic.policy_outputs)
            raw, log_prob = self.action_dist.sample(act_key, outputs)
            return carry, raw, self.action_dist.to_env(raw), {"log_prob": log_prob}

        return act, {}

    def targets(self, state: PPOState, hp: PPOHParams, batch):
        norm_obs = self.normalizer(state.obs_stats)
        rollout_obs = norm_obs(batch.obs)  # the statistics the rollout acted with
        if self.memory.recurrent:
            values = batch.extras["value"]
        else:
            # The critic is not needed to act: its values of the rollout's observations
            # are one batched pass here, not one small pass per step inside the scan.
            values = self.network.apply(state.params, rollout_obs, method=ActorCritic.value)

        rewards, reward_scaler = batch.reward, state.reward_scaler
        if self.config.normalize_rewards:
            reward_scaler, rewards = reward_scaler.update_and_scale(
                rewards, batch.terminated | batch.truncated, hp.gamma)
        if self.memory.recurrent:  # each true successor read with the carry it follows
            next_values = self.step(state.params, batch.extras["carry"],
                                    norm_obs(batch.final_obs))[2]
        else:
            next_values = self.network.apply(state.params, norm_obs(batch.final_obs),
                                             method=ActorCritic.value)
        advantages, returns = compute_gae(rewards, values, next_values,
                                          batch.terminated, batch.truncated, hp.gamma,
                                          hp.gae_lambda)
        # Only what the loss reads is shuffled into minibatches (gathers are not free);
        # observations are normalised once here, with the statistics the rollout used.
        per_step = (rollout_obs, batch.action, batch.extras["log_prob"], values, advantages,
                    returns)
        if self.memory.recurrent:
            data = self.sequences(state.carry, batch, per_step)
        else:
            data = flatten_steps(per_step)
        hp = apply_schedules(hp, self._progress(state))
        return data, hp, state.replace(reward_scaler=reward_scaler)

    def minibatch_loss(self, state: PPOState, hp: PPOHParams):
        if self.default_drift_params is not None and hp.objective.drift_params is None:
            hp = hp.replace(objective=hp.objective.replace(
                drift_params=self.default_drift_params))
        progress = self._progress(state)
        if self.memory.recurrent:
            return lambda params, *sequences: self._recurrent_loss(params, hp, progress,
                                                                   *sequences)
        return lambda params, *minibatch: self._loss(params, hp, progress, *minibatch)

    def optimizer(self, hp: PPOHParams, learning_rate):
        return clipped_adam(hp.max_grad_norm, learning_rate, self.config.adam_eps)

    def schedule_metrics(self, hp: PPOHParams):
        return scheduled_values(hp)

    # ---- pieces ----------------------------------------------------------------------
    def _progress(self, state: PPOState):
        return state.update_count / self.config.num_updates  # n/N: schedules and drifts

    def step(self, params, carry, obs):
        """One recurrent step over a batch: ``(carry, policy_outputs, value)``."""
        carry, (outputs, critic) = self.recurrent_step(params, carry, obs)
        return carry, outputs, self._value_of(critic)

    def _value_of(self, critic_out):
        hl_gauss = self.config.hl_gauss
        return critic_out if hl_gauss is None else hl_gauss.value(critic_out)

    def _recurrent_loss(self, params, hp: PPOHParams, progress, carry, obs, starts, *rest):
        """``_loss`` over whole sequences (``[B, L, ...]``), replayed from their stored
        carries with the rollout's resets."""
        (outputs, critic), rest = self.replay(params, carry, obs, starts, *rest)
        value_logits = None if self.config.hl_gauss is None else critic
        return ppo_loss(self.action_dist, outputs, self._value_of(critic), *rest, hp,
                        self.config.normalize_advantages, self.config.clip_value_loss,
                        self.config.hl_gauss, value_logits, self.objective, progress)

    def _loss(self, params, hp: PPOHParams, progress, obs, actions, old_log_probs,
              old_values, advantages, returns):
        outputs, values = self.network.apply(params, obs)
        value_logits = None
        if self.config.hl_gauss is not None:
            value_logits = self.network.apply(params, obs, method=ActorCritic.value_logits)
        return ppo_loss(self.action_dist, outputs, values, actions, old_log_probs, old_values,
                        advantages, returns, hp, self.config.normalize_advantages,
                        self.config.clip_value_loss, self.config.hl_gauss, value_logits,
                        self.objective, progress)


def ppo_loss(action_dist, outputs, values, actions, old_log_probs, old_values, advantages,
             returns, hp: PPOHParams, normalize_advantages: bool = True,
             clip_value_loss: bool = True, hl_gauss: Optional[HLGauss] = None,
             value_logits: Optional[jax.Array] = None,
             objective: PolicyObjective = OBJECTIVES["clip"], progress=0.0):
    """Policy loss ``-mean(ratio * A - drift)`` (``objective``; PPO-clip by default) +
    (clipped) value loss - entropy bonus. With ``hl_gauss`` the value loss is the
    cross-entropy of the critic's ``value_logits`` against the HL-Gauss histogram of the
    returns (no clipping). ``progress`` is n/N, for temporally-aware objectives."""
    log_probs = action_dist.log_prob(outputs, actions)
    log_ratio = log_probs - old_log_probs
    ratio = jnp.exp(log_ratio)
    if normalize_advantages:
        advantages = normalize(advantages)
    surrogate = objective.surrogate(ratio, advantages, progress, hp, log_ratio)
    policy_loss = -surrogate.mean()

    if hl_gauss is not None:
        value_loss = jax.vmap(hl_gauss.loss)(value_logits, returns).mean()
    else:
        value_error = jnp.square(values - returns)
        if clip_value_loss:
            clipped = old_values + jnp.clip(values - old_values, -hp.vf_clip_eps,
                                            hp.vf_clip_eps)
            value_error = jnp.maximum(value_error, jnp.square(clipped - returns))
        value_loss = 0.5 * value_error.mean()

    entropy = action_dist.entropy(outputs).mean()
    total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
    stats = {
        "loss": total, "policy_loss": policy_loss, "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > hp.clip_eps),
    }
    return total, stats


def make(env: Env, env_params: Any, config: PPOConfig = PPOConfig(),
         name: Optional[str] = None) -> PPO:
    """``name``: the registered name it runs under (errors and summaries say it)."""
    return PPO(env, env_params, config, name)


Config, HParams = PPOConfig, PPOHParams
