"""In-context meta-RL (RL²; Duan et al., 2016; Wang et al., 2016): trials of several
episodes of one task, where a recurrent policy keeps its memory across the episodes of a
trial and so can learn, within the trial, what the task is.

``InContextTrials(env, episodes)`` makes a trial the learner's episode:

* a task is whatever the inner env's reset draws from its key (a bandit's arm
  probabilities, a maze's goal); every episode of a trial resets with the trial's key, so
  the task (and the start) stay, and a new trial draws a new key;
* the end of an inner episode is not an episode end for the learner (its carry, reset
  where an episode ends, persists); the trial ends after ``episodes`` inner episodes,
  terminated or truncated as its last episode was;
* observations carry the previous step's action (one-hot where discrete), reward and
  inner-episode end, RL²'s inputs;
* ``info["trial_episode"]``: the index of the episode a step's reward belongs to, from
  which ``evaluation.evaluate`` scores the return per episode index of a trial (the
  within-trial curve ``jaxrl report`` plots).

Set it on any env with ``--env-set trial_episodes=K``.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs.core import Env, Wrapper
from jaxrl.envs.spaces import Box, Discrete


@struct.dataclass
class TrialState:
    env_state: Any
    task_key: jax.Array   # every episode of the trial resets with it
    episode: jax.Array    # index of the current episode in the trial
    previous: jax.Array   # [previous action..., reward, episode ended]


class InContextTrials(Wrapper):
    def __init__(self, env: Env, episodes: int):
        super().__init__(env)
        if episodes < 1:
            raise ValueError(f"trial_episodes={episodes} must be at least 1")
        self.trial_episodes = int(episodes)

    # ---- spaces ------------------------------------------------------------------------
    def _action_features(self, params) -> int:
        space = self.env.action_space(params)
        if isinstance(space, Discrete):
            return int(space.n)
        return int(np.prod(space.shape))

    def _encode_action(self, action, params):
        space = self.env.action_space(params)
        if isinstance(space, Discrete):
            return jax.nn.one_hot(action, space.n, dtype=jnp.float32)
        return jnp.asarray(action, jnp.float32).reshape(-1)

    def observation_space(self, params):
        inner = self.env.observation_space(params)
        size = int(np.prod(inner.shape)) + self._action_features(params) + 2
        return Box(-np.inf, np.inf, (size,), np.float32)

    def max_episode_steps(self, params):
        return self.trial_episodes * self.env.max_episode_steps(params)

    def _observe(self, obs, previous):
        return jnp.concatenate([jnp.asarray(obs, jnp.float32).reshape(-1), previous])

    # ---- dynamics ----------------------------------------------------------------------
    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        previous = jnp.zeros((self._action_features(params) + 2,), jnp.float32)
        return self._observe(obs, previous), TrialState(state, key, jnp.zeros((), jnp.int32),
                                                        previous)

    def step(self, key, state: TrialState, action, params):
        step_key, trial_key = jax.random.split(key)
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            step_key, state.env_state, action, params)
        episode_end = terminated | truncated
        trial_end = episode_end & (state.episode + 1 >= self.trial_episodes)
        previous = jnp.concatenate([self._encode_action(action, params),
                                    jnp.stack([jnp.asarray(reward, jnp.float32),
                                               episode_end.astype(jnp.float32)])])
        # the next episode of the same task, or the first of a new trial's task
        next_task = jnp.where(trial_end, trial_key, state.task_key)
        again_obs, again_state = self.env.reset(next_task, params)
        pick = lambda new, old: jnp.where(episode_end, new, old)  # noqa: E731
        env_state = jax.tree.map(pick, again_state, env_state)
        obs = pick(again_obs, obs)
        next_previous = jnp.where(trial_end, jnp.zeros_like(previous), previous)
        observed = self._observe(obs, next_previous)
        final = jnp.where(trial_end, self._observe(info["final_observation"], previous),
                          observed)
        episode = jnp.where(trial_end, 0, state.episode + episode_end.astype(jnp.int32))
        info = {**info, "final_observation": final, "trial_episode": state.episode}
        return (observed, TrialState(env_state, next_task, episode, next_previous), reward,
                terminated & trial_end, truncated & trial_end, info)

    def for_evaluation(self):
        # every inner episode is scored, so the inner env keeps its own resets (ours
        # replace them anyway); only what wraps the trial may be simplified
        return self
