"""In-context trials (RL²): the task stays for a trial's episodes and changes between
trials, the learner's episode is the trial, the policy sees the previous action, reward
and episode end, and evaluation splits returns by the episode of the trial."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs
from jaxrl.contract import Policy
from jaxrl.envs import Env
from jaxrl.envs.spaces import Box, Discrete
from jaxrl.envs.trials import InContextTrials
from jaxrl.evaluation import evaluate


class TwoStepTask(Env):
    """A task drawn by the reset key (shown in the observation); every episode lasts two
    steps (terminated); the reward is the action taken."""

    id = "two-step"
    default_params = None

    def reset(self, key, params):
        task = jax.random.uniform(key, (1,))
        return task, (task, jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params):
        task, t = state
        t = t + 1
        terminated = t == 2
        fresh = jax.random.uniform(key, (1,))  # an auto-reset the trial must replace
        obs = jnp.where(terminated, fresh, task)
        new_state = (jnp.where(terminated, fresh, task), jnp.where(terminated, 0, t))
        return (obs, new_state, action.astype(jnp.float32), terminated, jnp.zeros((), bool),
                {"final_observation": task})

    def observation_space(self, params):
        return Box(0.0, 1.0, (1,))

    def action_space(self, params):
        return Discrete(3)

    def max_episode_steps(self, params):
        return 2


def run_steps(env, actions):
    obs, state = env.reset(jax.random.key(0), None)
    out = [(obs, None)]
    for i, a in enumerate(actions):
        obs, state, reward, terminated, truncated, info = env.step(
            jax.random.key(100 + i), state, jnp.asarray(a), None)
        out.append((obs, (reward, terminated, truncated, info)))
    return out


def test_a_trial_keeps_its_task_for_its_episodes_and_is_the_learners_episode():
    env = InContextTrials(TwoStepTask(), 3)
    assert env.observation_space(None).shape == (1 + 3 + 2,)
    assert env.max_episode_steps(None) == 6
    steps = run_steps(env, [1, 2, 0, 1, 2, 2, 1])
    task = float(steps[0][0][0])
    # inside the trial (6 steps, 3 episodes) every observation shows the same task
    assert all(float(obs[0]) == task for obs, _ in steps[:6])
    terminated = [bool(s[1][1]) for s in steps[1:]]
    assert terminated == [False, False, False, False, False, True, False]
    assert [int(s[1][3]["trial_episode"]) for s in steps[1:]] == [0, 0, 1, 1, 2, 2, 0]
    # a new trial draws a new task, and starts with no previous action, reward or end
    assert float(steps[6][0][0]) != task
    np.testing.assert_array_equal(steps[6][0][1:], np.zeros(5))
    # previous action (one-hot), reward, episode end, after steps 1 and 2
    np.testing.assert_array_equal(steps[1][0][1:], [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(steps[2][0][1:], [0, 0, 1, 2, 1])
    # the trial's final observation: the last episode's, with what led to it
    final = steps[6][1][3]["final_observation"]
    assert float(final[0]) == task
    np.testing.assert_array_equal(final[1:], [0, 0, 1, 2, 1])
    # elsewhere the final observation is the next observation (not an end for the learner)
    np.testing.assert_array_equal(steps[2][1][3]["final_observation"], steps[2][0])


def test_evaluation_splits_a_trials_return_by_episode():
    """A policy taking action 2 in the first episode of a trial and 1 after it (it reads
    the episode count from its carry, which counts previous episode ends)."""
    env = InContextTrials(TwoStepTask(), 3)

    def act(carry, obs):
        carry = carry + obs[:, -1]  # episode ends seen so far
        return carry, jnp.where(carry == 0, 2, 1)

    policy = Policy(act, lambda n: jnp.zeros((n,)))
    by_episode = evaluate(env, None, policy, jax.random.key(0), 4, by_trial_episode=True)
    np.testing.assert_array_equal(by_episode, np.tile([4.0, 2.0, 2.0], (4, 1)))
    np.testing.assert_array_equal(evaluate(env, None, policy, jax.random.key(0), 4),
                                  np.full(4, 8.0))


def test_trial_episodes_is_an_option_of_every_env():
    env, params = jaxrl.envs.make("CartPole-v1", trial_episodes=2)
    assert isinstance(env, InContextTrials) and env.max_episode_steps(params) == 1000
    assert env.observation_space(params).shape == (4 + 2 + 2,)
    with pytest.raises(Exception, match="trial_episodes"):
        jaxrl.envs.make("CartPole-v1", trial_episodes=0)
