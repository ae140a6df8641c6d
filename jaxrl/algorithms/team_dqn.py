"""Q-learning for teams from replay (``algorithms.team``): independent Q-learning, VDN
and QMIX, on DQN's off-policy skeleton (double Q, dueling, n-step, prioritised replay,
recurrent sequences with stored carries and burn-in).

The agents act on their own rows (observation and id, parameters shared) epsilon-greedily
over their legal actions. Each replay item is one team step: its agents' rows together
(``[A, ...]``), so a sampled window holds every agent of the same steps.

- ``mixer="none"`` (IQL; Tan, 1993): each agent's row is its own transition, regressing
  its own reward and end; a team step's priority is its agents' largest.
- ``mixer="vdn"`` (Sunehag et al., 2018): ``Q_tot`` is the sum of the agents' values of
  the actions taken, regressing the team's n-step return (the team's reward, the mean of
  its agents', cut where the team's episode ended), bootstrapped from ``Q_tot`` of every
  agent's double-Q choice at the true successor under the target network.
- ``mixer="qmix"`` (Rashid et al., 2018): the same with ``networks.mixers.QMixer`` on the
  global state (rows carry it; the agents' Q-network never reads it).

Recurrent (``memory.cell``, the registered default as in JaxMARL's and pymarl's
baselines): each agent's core runs over the window's steps, reset where that agent's part
of an episode ended, from the carry stored at the window's first step after ``burn_in``
steps; ``Q_tot`` is mixed per step and the team's n-step targets are cut at the window's
end.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import jax
import jax.numpy as jnp

from jaxrl.algorithms.dqn import DQN, DQNConfig, DQNHParams, DQNLearner
from jaxrl.algorithms.off_policy import Batch, Sequences
from jaxrl.algorithms.team import (TeamRows, agent_ids_field, check_mixer, check_team_fields,
                                   shared_parameters_field, team_step)
from jaxrl.components.sequences import (at_successors, bootstrap_values, burned_in,
                                        episode_starts, sequence_n_step, sequence_priorities,
                                        time_major)
from jaxrl.components.targets import n_step_return
from jaxrl.config import check_positive, choice, static_field
from jaxrl.networks.mixers import MixedQNetwork, QMixer

MIXERS = ("none", "vdn", "qmix")
Mixer = choice(*MIXERS)


@dataclasses.dataclass(frozen=True)
class TeamDQNConfig(DQNConfig):
    agent_ids: bool = agent_ids_field()
    shared_parameters: bool = shared_parameters_field()
    mixer: Mixer = static_field("qmix", "how the agents' Q-values make the team's: 'qmix' "
                                        "(a monotonic mixer on the global state), 'vdn' "
                                        "(their sum) or 'none' (independent Q-learning)")
    mixer_embedding: int = static_field(32, "QMIX: width of the mixing layer")
    mixer_hidden: int = static_field(64, "QMIX: hidden width of its hypernetworks")
    mixer_init_scale: float = static_field(1e-3, "QMIX: gain of its layers' orthogonal init")

    def validate(self) -> "TeamDQNConfig":
        super().validate()
        check_team_fields(self)
        check_mixer(self, MIXERS)
        check_positive(self, "mixer_embedding", "mixer_hidden", "mixer_init_scale")
        return self


class TeamDQN(TeamRows, DQN):
    name, Config, HParams = "qmix", TeamDQNConfig, DQNHParams

    def __init__(self, env, env_params, config: TeamDQNConfig, name: Optional[str] = None):
        super().__init__(env, env_params, config, name)
        layout, mixing = self.layout, config.mixer == "qmix"
        agent = (self.network.clone(input_features=layout.actor_features) if mixing
                 else self.network)
        mixer = (QMixer(config.mixer_embedding, config.mixer_hidden, config.mixer_init_scale)
                 if mixing else None)
        self.network = MixedQNetwork(agent, mixer, layout.num_agents, layout.state_dim)

    def global_state_in_rows(self, config) -> bool:
        return config.mixer == "qmix"

    def mix(self, params, q, rows):
        """``Q_tot [...]`` of the agents' values ``q [..., A]`` in the team's ``rows``."""
        return self.network.mix(params, q, self.layout.team_state(rows))

    # ---- replay items as the loss reads them -----------------------------------------
    def _batch(self, windows, weights, gamma, norm):
        """Windows ``[B, n, A, ...]`` of team steps: each agent's own (IQL, ``[B * A,
        ...]``), the team's transitions (``Batch`` with ``[B, A, ...]`` observations and
        actions and the team's n-step reward and discount), or the team's sequences."""
        agents = self.layout.num_agents
        if self.config.mixer == "none":
            rows = jax.tree.map(
                lambda x: jnp.swapaxes(x, 1, 2).reshape((-1,) + x.shape[1:2] + x.shape[3:]),
                windows)
            return super()._batch(rows, jnp.repeat(weights, agents), gamma, norm)
        if self.recurrent:
            return super()._batch(windows, weights, gamma, norm)
        reward, last, discount = jax.vmap(n_step_return, in_axes=(0, 0, 0, None))(
            *team_step(windows.reward, windows.terminated, windows.truncated), gamma)
        index = jnp.arange(reward.shape[0])
        return Batch(norm(windows.obs[:, 0]), windows.action[:, 0], reward, discount,
                     norm(windows.final_obs[index, last]), weights)

    def learn(self, learner: DQNLearner, batch, hp: DQNHParams, key, grad_step):
        learner, priorities, stats = super().learn(learner, batch, hp, key, grad_step)
        if self.config.mixer == "none":  # a team step's priority: its agents' largest
            priorities = priorities.reshape(-1, self.layout.num_agents).max(-1)
        return learner, priorities, stats

    def loss_fn(self, learner: DQNLearner, batch, hp: DQNHParams):
        if self.config.mixer == "none":
            return super().loss_fn(learner, batch, hp)
        if isinstance(batch, Sequences):
            return self._team_sequence_loss(learner, batch, hp)
        return self._team_transition_loss(learner, batch)

    # ---- the team's losses -------------------------------------------------------------
    def _double_q_choice(self, learner: DQNLearner, online_q, target_q):
        """Each agent's value under the target net of the action the online net (double
        Q) or the target net picks, illegal actions masked in both."""
        chooser = online_q if self.config.double_q else target_q
        action = jnp.argmax(chooser, axis=-1)
        return jnp.take_along_axis(target_q, action[..., None], axis=-1)[..., 0]

    def _td_loss(self, q_tot, targets):
        """``(losses, |TD errors|)`` of ``Q_tot`` against its targets, elementwise."""
        squared = self.config.td_loss == "mse"
        losses, errors = jax.vmap(lambda q, t: self.value_head.loss(q[None], t, squared))(
            q_tot.reshape(-1), targets.reshape(-1))
        return losses.reshape(q_tot.shape), errors.reshape(q_tot.shape)

    def _team_transition_loss(self, learner: DQNLearner, batch: Batch):
        """Feed-forward: one team step per item, ``Q_tot`` regressing the team's n-step
        target."""
        next_q = self._double_q_choice(learner, self.q_values(learner.params, batch.next_obs),
                                       self.q_values(learner.target_params, batch.next_obs))
        targets = batch.reward + batch.discount * self.mix(learner.target_params, next_q,
                                                           batch.next_obs)

        def loss_fn(params):
            q = self.q_values(params, batch.obs)                          # [B, A, n]
            q_taken = jnp.take_along_axis(q, batch.action[..., None], axis=-1)[..., 0]
            q_tot = self.mix(params, q_taken, batch.obs)                  # [B]
            losses, errors = self._td_loss(q_tot, targets)
            return jnp.mean(batch.weights * losses), (errors, q_tot)

        return loss_fn

    def _team_sequence_loss(self, learner: DQNLearner, seq: Sequences, hp: DQNHParams):
        """Recurrent: windows ``[B, W, A, ...]``; each agent's core over its own rows
        (``[W, B * A, ...]``), ``Q_tot`` mixed per step, the team's n-step targets."""
        cfg, agents = self.config, self.layout.num_agents
        burn = cfg.burn_in
        obs, final_obs, action, reward, terminated, truncated = time_major(
            (seq.obs, seq.final_obs, seq.action, seq.reward, seq.terminated, seq.truncated))
        batch = action.shape[1]

        def rows(x):  # [W, B, A, ...] -> [W, B * A, ...]
            return x.reshape((x.shape[0], batch * agents) + x.shape[3:])

        row_obs, row_final = rows(obs), rows(final_obs)
        starts = episode_starts(rows(terminated | truncated))  # each agent's own resets
        carry = jax.tree.map(lambda c: c.reshape((batch * agents,) + c.shape[2:]), seq.carry)

        def team(x):  # [L, B * A, ...] -> [L, B, A, ...]
            return x.reshape((x.shape[0], batch, agents) + x.shape[2:])

        def successor_q(params):  # [L, B, A, n] at each trained step's true successor
            out = at_successors(functools.partial(self.network.apply, params), carry, row_obs,
                                starts, row_final, burn)
            return team(self.action_mask.apply(self.value_head.q_values(out), row_final[burn:]))

        next_q = self._double_q_choice(learner, successor_q(learner.params),
                                       successor_q(learner.target_params))
        next_tot = self.mix(learner.target_params, next_q, final_obs[burn:])   # [L, B]
        total, last, discount = sequence_n_step(*team_step(reward, terminated, truncated),
                                                hp.gamma, cfg.n_step, burn)
        targets = total + discount * bootstrap_values(next_tot, last)

        def loss_fn(params):
            out = burned_in(functools.partial(self.network.apply, params), carry, row_obs,
                            starts, burn)
            q = team(self.value_head.q_values(out))                       # [L, B, A, n]
            q_taken = jnp.take_along_axis(q, action[burn:, ..., None], axis=-1)[..., 0]
            q_tot = self.mix(params, q_taken, obs[burn:])                 # [L, B]
            losses, errors = self._td_loss(q_tot, targets)
            return (jnp.mean(seq.weights * losses.mean(axis=0)),
                    (sequence_priorities(errors), q_tot))

        return loss_fn


def make(env, env_params, config: TeamDQNConfig = TeamDQNConfig(),
         name: Optional[str] = None) -> TeamDQN:
    return TeamDQN(env, env_params, config, name)


Config, HParams = TeamDQNConfig, DQNHParams
