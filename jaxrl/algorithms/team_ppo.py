"""PPO for teams of agents: IPPO (de Witt et al., 2020) and MAPPO (Yu et al., 2022),
feed-forward and recurrent, on the team's rows (``algorithms.team``).

- ``ippo``: actor and critic read the agent's own observation (and id).
- ``mappo``: the critic is centralised: it reads the team's global state (and the
  agent's id); the actor still reads only the agent's own. A recurrent MAPPO gives the
  critic a torso and core of its own (the carry holds both).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax.numpy as jnp

from jaxrl.algorithms.ppo import PPO, PPOConfig, PPOHParams
from jaxrl.algorithms.team import (TeamRows, agent_ids_field, check_team_fields,
                                   shared_parameters_field)
from jaxrl.config import static_field


@dataclasses.dataclass(frozen=True)
class TeamPPOConfig(PPOConfig):
    agent_ids: bool = agent_ids_field()
    shared_parameters: bool = shared_parameters_field()
    centralised_critic: bool = static_field(False, "the critic reads the team's global "
                                                   "state (MAPPO), not the agent's own "
                                                   "observation (IPPO)")

    def validate(self) -> "TeamPPOConfig":
        super().validate()
        check_team_fields(self)
        return self


class TeamPPO(TeamRows, PPO):
    name, Config, HParams = "ippo", TeamPPOConfig, PPOHParams

    def network_inputs(self):
        if not self.config.centralised_critic:
            return {}
        return {"actor_features": self.layout.actor_features,
                "critic_features": self.layout.critic_features}

    def initial_carry(self, batch_size: int) -> Any:
        carry = super().initial_carry(batch_size)
        if self.memory.recurrent and self.config.centralised_critic:  # the critic's core
            return jnp.concatenate([carry, carry], axis=-1)
        return carry


def make(env, env_params, config: TeamPPOConfig = TeamPPOConfig(),
         name: Optional[str] = None) -> TeamPPO:
    return TeamPPO(env, env_params, config, name)


Config, HParams = TeamPPOConfig, PPOHParams
