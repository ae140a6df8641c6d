"""PPO for teams of agents (a multi-agent env, ``envs.multi_agent``): IPPO (de Witt et
al., 2020) and MAPPO (Yu et al., 2022), feed-forward and recurrent.

The team is trained as rows (``AgentRows``): each of ``num_envs`` env copies gives one
row per agent, so a rollout is ``[num_steps, num_envs * num_agents]`` and the whole of
PPO (its objectives, GAE, value losses, recurrent sequences, minibatches) runs on it
as it does on one agent. The agents share one network's parameters (the common choice
for cooperative teams, JaxMARL's baselines' too) and tell themselves apart by a one-hot
agent id in their rows (``agent_ids``). Each row is its agent's reward, and its end:
a recurrent core's carry goes back to its initial value where that agent's part of an
episode ended (its own end, or the team's), and every agent's where the team's episode
ended.

- ``ippo``: actor and critic read the agent's own observation (and id).
- ``mappo``: the critic is centralised: it reads the team's global state (and the
  agent's id); the actor still reads only the agent's own. A recurrent MAPPO gives the
  critic a core of its own.

Env steps are the team's: one step of one env copy is one env step, whatever its agents.
Evaluation is greedy for every agent, with the team's return (``multi_agent``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

from jaxrl.algorithms.ppo import PPO, PPOConfig, PPOHParams
from jaxrl.components.action_masks import ActionMask
from jaxrl.components.rollout import LearnerEnvs
from jaxrl.config import ConfigError, static_field
from jaxrl.contract import Policy
from jaxrl.envs import EpisodeStatistics, VecEnv
from jaxrl.envs.multi_agent import AgentRows, RowLayout, team_policy


@dataclasses.dataclass(frozen=True)
class TeamPPOConfig(PPOConfig):
    agent_ids: bool = static_field(True, "a one-hot agent id in each agent's observation "
                                         "(the agents share the network's parameters)")
    centralised_critic: bool = static_field(False, "the critic reads the team's global "
                                                   "state (MAPPO), not the agent's own "
                                                   "observation (IPPO)")

    def validate(self) -> "TeamPPOConfig":
        super().validate()
        if self.torso not in ("auto", "mlp"):
            raise ConfigError(f"torso={self.torso!r}: a team's agents read flat observations; "
                              f"use torso='mlp'")
        return self


class TeamPPO(PPO):
    name, Config, HParams = "ippo", TeamPPOConfig, PPOHParams
    multi_agent = True

    def learner_envs(self, env_params: Any, config: TeamPPOConfig) -> LearnerEnvs:
        self.layout = RowLayout.of(self.env, env_params, config.agent_ids,
                                   config.centralised_critic)
        rows = AgentRows(VecEnv(EpisodeStatistics(self.env), config.num_envs), self.layout)
        return LearnerEnvs(self.env, rows, (self.layout.width,), "mlp",
                           ActionMask(self.layout.num_actions))

    @property
    def num_agents(self) -> int:
        return self.layout.num_agents

    def network_inputs(self):
        if not self.config.centralised_critic:
            return {}
        return {"actor_features": self.layout.actor_features,
                "critic_features": self.layout.critic_features}

    def initial_carry(self, batch_size: int) -> Any:
        carry = super().initial_carry(batch_size)
        if self.memory.recurrent and self.config.centralised_critic:  # the critic's core
            import jax.numpy as jnp

            return jnp.concatenate([carry, carry], axis=-1)
        return carry

    def policy(self, state):
        """Every agent greedy, on batches of team observations (``[B, A]`` actions)."""
        rows = super().policy(state)
        agents = self.layout.num_agents
        return Policy(team_policy(self.layout, rows.act),
                      lambda batch_size: rows.initial_carry(batch_size * agents))


def make(env, env_params, config: TeamPPOConfig = TeamPPOConfig(),
         name: Optional[str] = None) -> TeamPPO:
    return TeamPPO(env, env_params, config, name)


Config, HParams = TeamPPOConfig, PPOHParams
