"""Deterministic evaluation of a policy on fresh episodes."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp

from jaxrl.contract import as_policy
from jaxrl.envs import Env


def trial_episodes(env: Env) -> int:
    """Episodes per in-context trial (``envs.trials.InContextTrials``); 1 for other envs."""
    return int(getattr(env, "trial_episodes", 1))


def evaluate(env: Env, env_params: Any, policy: Any, key: jax.Array,
             num_episodes: int, max_steps: Optional[int] = None,
             by_trial_episode: bool = False) -> jax.Array:
    """Returns the undiscounted return of ``num_episodes`` episodes, one per env copy
    (``[num_episodes]``); with ``by_trial_episode``, split by the index of the episode
    in an in-context trial (``[num_episodes, trial_episodes]``: the within-trial curve;
    one column for other envs).

    ``policy``: a ``contract.Policy`` (its carry starts at ``initial_carry``), or a plain
    ``act(obs) -> action``. Each copy runs until its first episode ends, so no carry is
    ever reset; the loop stops once all have ended (at most ``env.max_episode_steps``
    steps). Pass the same ``key`` to every population member so all are scored on the
    same episodes.
    """
    init, step, max_steps = _episodes(env, env_params, policy, key, num_episodes, max_steps)

    def cond(carry):
        t, _, _, _, _, active = carry
        return (t < max_steps) & jnp.any(active)

    returns = jax.lax.while_loop(cond, step, init)[4]
    return returns if by_trial_episode else returns.sum(axis=-1)


def evaluation_key(seed: int, index: int) -> jax.Array:
    """The key of the evaluation after chunk ``index`` under ``eval_seed`` ``seed``: what
    names a run's evaluation episodes (the runner's, ``jaxrl eval``'s, a video's)."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), index)


def record(env: Env, env_params: Any, policy: Any, key: jax.Array, num_episodes: int,
           max_steps: Optional[int] = None) -> Tuple[Any, jax.Array, jax.Array]:
    """``evaluate``'s episodes (the same keys, so the same episodes and returns), with
    what happened in them: ``(states, active, returns)``, the env state before each step
    ``[max_steps, num_episodes, ...]``, whether that episode was still running then
    ``[max_steps, num_episodes]``, and the returns ``[num_episodes]``. For rendering
    (``jaxrl.rendering``); it keeps every step, so mind long episodes of large states."""
    init, step, max_steps = _episodes(env, env_params, policy, key, num_episodes, max_steps)

    def scan_step(carry, _):
        return step(carry), (carry[3], carry[5])

    final, (states, active) = jax.lax.scan(scan_step, init, None, length=max_steps)
    return states, active, final[4].sum(axis=-1)


def _episodes(env: Env, env_params: Any, policy: Any, key: jax.Array, num_episodes: int,
              max_steps: Optional[int]):
    """The first carry and the step of ``num_episodes`` evaluation episodes."""
    policy = as_policy(policy)
    env = env.for_evaluation()  # nothing after the first episode's end is used
    if max_steps is None:  # given where env_params are traced (a member's own)
        max_steps = env.max_episode_steps(env_params)
    reset_key, step_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_episodes), env_params)
    slots = trial_episodes(env)
    zeros = jnp.zeros((num_episodes, slots), jnp.float32)
    active = jnp.ones((num_episodes,), bool)

    def step(carry):
        t, memory, obs, state, returns, active = carry
        keys = jax.random.split(jax.random.fold_in(step_key, t), num_episodes)
        memory, action = policy.act(memory, obs)
        obs, state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None))(keys, state, action, env_params)
        gained = jnp.where(active, reward, 0.0)[:, None]
        if slots > 1:  # each reward to the trial episode it was earned in
            gained = gained * jax.nn.one_hot(info["trial_episode"], slots)
        returns = returns + gained
        active = active & ~(terminated | truncated)
        return t + 1, memory, obs, state, returns, active

    return (0, policy.initial_carry(num_episodes), obs, state, zeros, active), step, max_steps


def evaluate_member(algo: Any, state: Any, key: jax.Array, num_episodes: int,
                    max_steps: Optional[int] = None, by_trial_episode: bool = False
                    ) -> jax.Array:
    """A learner state's deterministic policy on ``algo.eval_env`` (the observation
    pipeline it was trained with) under ``algo.env_params`` (a member's own inside
    ``contract.member_env``): what the runner, the meta tasks and the meta pipeline
    score."""
    return evaluate(algo.eval_env, algo.env_params, algo.policy(state), key, num_episodes,
                    max_steps, by_trial_episode)
