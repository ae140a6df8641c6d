"""What every learner of a team (a multi-agent env, ``envs.multi_agent``) shares.

The team is trained as rows (``AgentRows``): each of ``num_envs`` env copies gives one
row per agent, so a rollout is ``[num_steps, num_envs * num_agents]`` and an on-policy
learner's machinery (rollouts, returns, recurrent sequences, minibatches) runs on it as
it does on one agent. The agents share one network's parameters (the common choice for
cooperative teams, JaxMARL's baselines' too) and tell themselves apart by a one-hot
agent id in their rows (``agent_ids``); with ``shared_parameters=False`` each agent has
its own (``networks.agents.PerAgentParameters``). Each row is its agent's reward, and its end: a
recurrent core's carry goes back to its initial value where that agent's part of an
episode ended (its own end, or the team's), and every agent's where the team's episode
ended.

Env steps are the team's: one step of one env copy is one env step, whatever its agents.
Evaluation is greedy for every agent, with the team's return. The learners:
``team_ppo`` (IPPO, MAPPO), ``team_pqn`` (PQN-VDN) and ``team_dqn`` (IQL, VDN and QMIX
from replay: each replay item is a team step, its agents' rows together).
"""
from __future__ import annotations

from typing import Any

import jax

from jaxrl.components.action_masks import ActionMask
from jaxrl.components.rollout import LearnerEnvs
from jaxrl.config import ConfigError, static_field
from jaxrl.contract import Policy
from jaxrl.envs import EpisodeStatistics, VecEnv
from jaxrl.envs.multi_agent import AgentRows, RowLayout, team_policy
from jaxrl.networks.agents import PerAgentParameters


def agent_ids_field():
    return static_field(True, "a one-hot agent id in each agent's observation (the agents "
                              "share the network's parameters)")


def team_step(reward: jax.Array, terminated: jax.Array, truncated: jax.Array, axis: int = -1):
    """A team's step from its agents' (along ``axis``): ``(reward, terminated,
    truncated)``, the reward the agents' mean (the env's team reward), terminated where
    every agent's part ended, truncated where the time limit cut a part still going."""
    done = terminated.all(axis)
    return reward.mean(axis), done, truncated.any(axis) & ~done


def shared_parameters_field():
    return static_field(True, "the agents share one network's parameters (False: each has "
                              "its own, every agent's network run on every row and each row "
                              "keeping its own agent's: A times the compute)")


def check_team_fields(config) -> None:
    if config.torso not in ("auto", "mlp"):
        raise ConfigError(f"torso={config.torso!r}: a team's agents read flat observations; "
                          f"use torso='mlp'")
    if not config.shared_parameters and not config.agent_ids:
        raise ConfigError("shared_parameters=False picks each row's own agent's parameters "
                          "by the agent id in the row: set agent_ids=True")


def check_mixer(config, mixers) -> None:
    """A value-decomposition learner's ``mixer``: one of ``mixers``, and only over scalar
    Q-values ('none', independent learners, takes any)."""
    if config.mixer not in mixers:
        raise ConfigError(f"mixer={config.mixer!r}: choose one of {mixers}")
    if config.mixer != "none" and config.value_distribution != "scalar":
        raise ConfigError(f"mixer={config.mixer!r} mixes scalar Q-values; "
                          f"value_distribution={config.value_distribution!r} learns "
                          f"distributions: use value_distribution='scalar' or mixer='none'")


class TeamRows:
    """What a team's learner changes in an on-policy learner: it trains on the team's
    rows (``AgentRows``) and acts for the whole team when evaluated. Mixed in before
    the learner (``class TeamPPO(TeamRows, PPO)``)."""

    multi_agent = True

    def __init__(self, env, env_params: Any, config: Any, name=None):
        super().__init__(env, env_params, config, name)
        if not config.shared_parameters:
            self.network = PerAgentParameters(self.network, self.layout.num_agents,
                                              self.layout.id_features,
                                              config.memory.recurrent)

    def learner_envs(self, env_params: Any, config: Any) -> LearnerEnvs:
        self.layout = RowLayout.of(self.env, env_params, config.agent_ids,
                                   self.global_state_in_rows(config))
        rows = AgentRows(VecEnv(EpisodeStatistics(self.env), config.num_envs), self.layout)
        return LearnerEnvs(self.env, rows, (self.layout.width,), "mlp",
                           ActionMask(self.layout.num_actions))

    def global_state_in_rows(self, config: Any) -> bool:
        """Whether rows carry the team's global state (a centralised critic, a mixer)."""
        return getattr(config, "centralised_critic", False)

    def policy(self, state):
        """Every agent greedy, on batches of team observations (``[B, A]`` actions)."""
        rows = super().policy(state)
        agents = self.layout.num_agents
        return Policy(team_policy(self.layout, rows.act),
                      lambda batch_size: rows.initial_carry(batch_size * agents))

    def rollout_metrics(self, batch):
        """Each agent's mean reward per step (``reward_NAME``): who earns the
        team's return."""
        per_agent = self.by_team(batch.reward).mean((0, 1))
        names = getattr(self.env, "agent_names", range(self.layout.num_agents))
        return {f"reward_{name}": per_agent[i] for i, name in enumerate(names)}

    def by_team(self, x: jax.Array) -> jax.Array:
        """Rows ``[..., N * A, ...]`` (axis 1 of a rollout ``[T, N * A, ...]``) as
        ``[..., N, A, ...]``."""
        return x.reshape(x.shape[:1] + (-1, self.layout.num_agents) + x.shape[2:])
