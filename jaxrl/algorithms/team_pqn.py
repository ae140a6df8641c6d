"""PQN for teams (``algorithms.team``): PQN-VDN, purejaxql's replay-free value
decomposition (Gallici et al., 2024), and independent PQN.

Each agent acts epsilon-greedily on its own Q-values (shared parameters, agent ids).
With ``mixer="vdn"`` (Sunehag et al., 2018) the team's value is the sum of its agents'
values, ``Q_tot(s, u) = sum_a Q_a(o_a, u_a)``, and it is ``Q_tot`` that regresses the
team's Q(lambda) returns: the team's reward (the mean of its agents', as the env reports
it), bootstrapped from ``sum_a max_u Q_a`` at each true successor, cut where the team's
episode ended (terminated where every agent's part ended, truncated by the team's time
limit). Minibatches draw whole team steps, all agents together. ``mixer="none"`` is
independent PQN: each agent's row regresses its own returns.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp

from jaxrl.algorithms.pqn import PQN, PQNConfig, PQNHParams
from jaxrl.algorithms.team import (TeamRows, agent_ids_field, check_mixer, check_team_fields,
                                   shared_parameters_field, team_step)
from jaxrl.components.rollout import flatten_steps
from jaxrl.components.targets import q_lambda_returns
from jaxrl.config import ConfigError, choice, static_field

MIXERS = ("vdn", "none")
Mixer = choice(*MIXERS)


@dataclasses.dataclass(frozen=True)
class TeamPQNConfig(PQNConfig):
    agent_ids: bool = agent_ids_field()
    shared_parameters: bool = shared_parameters_field()
    mixer: Mixer = static_field("vdn", "how the agents' Q-values make the team's: 'vdn' sums "
                                       "them (PQN-VDN); 'none': each agent learns its own "
                                       "returns (independent PQN)")

    def validate(self) -> "TeamPQNConfig":
        super().validate()
        check_team_fields(self)
        check_mixer(self, MIXERS)
        if self.mixer == "vdn" and self.memory.recurrent:
            raise ConfigError("mixer='vdn' is feed-forward here: set memory.cell='none', or "
                              "mixer='none' for recurrent independent PQN")
        return self


class TeamPQN(TeamRows, PQN):
    name, Config, HParams = "pqn_vdn", TeamPQNConfig, PQNHParams

    def targets(self, state, hp: PQNHParams, batch):
        if self.config.mixer == "none":
            return super().targets(state, hp, batch)
        norm = self.normalizer(state.obs_stats)
        next_q = self.q_values(state.params, norm(batch.final_obs))
        team = self.by_team
        next_values = team(jnp.max(next_q, axis=-1)).sum(-1)           # [T, N]
        reward, terminated, truncated = team_step(team(batch.reward), team(batch.terminated),
                                                  team(batch.truncated))
        returns = q_lambda_returns(reward, terminated, truncated,
                                   jax.lax.stop_gradient(next_values), hp.gamma, hp.q_lambda)
        # one item per team step: [A, ...] observations and actions, the team's return
        per_step = (team(norm(batch.obs)), team(batch.action), returns)
        return flatten_steps(per_step), hp, state

    def minibatch_loss(self, state, hp: PQNHParams):
        if self.config.mixer == "none":
            return super().minibatch_loss(state, hp)

        def loss(params, obs, actions, targets):
            q = self.value_head.q_values(self.network.apply(params, obs))  # [B, A, n]
            q_taken = jnp.take_along_axis(q, actions[..., None], axis=-1)[..., 0]
            q_team = q_taken.sum(-1)
            loss = 0.5 * jnp.mean(jnp.square(q_team - targets))
            return loss, {"loss": loss, "q_mean": jnp.mean(q_team)}

        return loss


def make(env, env_params, config: TeamPQNConfig = TeamPQNConfig(),
         name: Optional[str] = None) -> TeamPQN:
    return TeamPQN(env, env_params, config, name)


Config, HParams = TeamPQNConfig, PQNHParams
