"""Recording datasets: a policy's episodes, a uniform random policy's, a run's replay
buffer, or a mixture of datasets, in Minari's format (``dataset.write_minari``).

Episodes are recorded on the env as learners see it (``eval_env``: observations
flattened, nothing normalised), so a dataset recorded from one learner's run trains any
other learner on the same env. Actions are stored as the env takes them.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import ConfigError
from jaxrl.contract import as_policy
from jaxrl.envs.spaces import Box, Discrete
from jaxrl.offline.dataset import (Dataset, Episode, episode_of, episodes_of,
                                   normalized_score, read_minari, to_episodes, to_transitions)

#: episodes per compiled rollout batch (long episodes of large observations stay bounded)
EPISODE_BATCH = 256


def perturb(space, action: jax.Array, key: jax.Array, noise) -> jax.Array:
    """``action`` with exploration noise: Gaussian of std ``noise`` x the half-range of a
    Box (clipped to its bounds), or, for Discrete actions, a uniformly random action with
    probability ``noise``. ``noise`` may be traced."""
    if isinstance(space, Discrete):
        explore_key, random_key = jax.random.split(key)
        random = jax.random.randint(random_key, action.shape, 0, space.n, action.dtype)
        return jnp.where(jax.random.uniform(explore_key, action.shape[:1]) < noise,
                         random, action)
    half = 0.5 * (space.high - space.low)
    noisy = action + noise * half * jax.random.normal(key, action.shape)
    return jnp.clip(noisy, space.low, space.high)


def uniform_actions(space, key: jax.Array, batch: int) -> jax.Array:
    if isinstance(space, Discrete):
        return jax.random.randint(key, (batch,), 0, space.n, jnp.int32)
    if not isinstance(space, Box) or not space.bounded:
        raise ConfigError(f"a uniform random policy needs Discrete or bounded Box actions; "
                          f"this env's are {space}")
    return jax.random.uniform(key, (batch,) + tuple(space.shape), jnp.float32,
                              space.low, space.high)


def _episode_program(env, env_params, policy, num_episodes: int, max_steps: int):
    """A jitted ``(key, noise) -> steps [T, E, ...]``: ``num_episodes`` copies of ``env``,
    each playing one episode (``policy`` None: uniform random actions)."""
    env = env.for_evaluation()
    space = env.action_space(env_params)
    policy = None if policy is None else as_policy(policy)

    def run(key, noise):
        reset_key, step_key = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(reset_key, num_episodes), env_params)
        memory = () if policy is None else policy.initial_carry(num_episodes)

        def step(carry, t):
            memory, obs, state, active = carry
            keys = jax.random.split(jax.random.fold_in(step_key, t), num_episodes + 2)
            if policy is None:
                action = uniform_actions(space, keys[-1], num_episodes)
            else:
                memory, action = policy.act(memory, obs)
                action = perturb(space, action, keys[-1], noise)
            action = action.astype(space.dtype)
            next_obs, state, reward, terminated, truncated, info = jax.vmap(
                env.step, in_axes=(0, 0, 0, None))(keys[:num_episodes], state, action,
                                                   env_params)
            record = (obs, action, reward.astype(jnp.float32), terminated, truncated,
                      info["final_observation"], active)
            return (memory, next_obs, state, active & ~(terminated | truncated)), record

        active = jnp.ones((num_episodes,), bool)
        _, steps = jax.lax.scan(step, (memory, obs, state, active), jnp.arange(max_steps))
        return steps

    return jax.jit(run)


def _split_episodes(steps) -> List[Episode]:
    """Each copy's one episode from ``[T, E, ...]`` records (``episode_of``)."""
    obs, action, reward, terminated, truncated, final_obs, active = (np.asarray(x)
                                                                     for x in steps)
    episodes = []
    for e in range(obs.shape[1]):
        n = int(active[:, e].sum())
        if n:
            episodes.append(episode_of(*(x[:n, e] for x in (obs, final_obs, action, reward,
                                                            terminated, truncated))))
    return episodes


def rollout_episodes(env, env_params, policy, key: jax.Array, num_episodes: int,
                     noise: float = 0.0, max_steps: Optional[int] = None) -> List[Episode]:
    """``num_episodes`` episodes of ``policy`` (a ``contract.Policy`` or ``act(obs)``;
    None: uniform random actions) with exploration ``noise`` (``perturb``)."""
    max_steps = max_steps or env.max_episode_steps(env_params)
    batch = min(num_episodes, EPISODE_BATCH)
    program = _episode_program(env, env_params, policy, batch, max_steps)
    episodes: List[Episode] = []
    for i in range(math.ceil(num_episodes / batch)):
        steps = program(jax.random.fold_in(key, i), jnp.float32(noise))
        episodes.extend(_split_episodes(steps)[:num_episodes - len(episodes)])
    return episodes


def mean_return(env, env_params, policy, key: jax.Array, num_episodes: int) -> float:
    """The mean undiscounted return of ``policy`` (None: uniform random) on fresh
    episodes: the reference returns of normalised scores."""
    episodes = rollout_episodes(env, env_params, policy, key, num_episodes)
    return float(np.mean([ep.ret for ep in episodes]))


def cut_to_steps(episodes: Sequence[Episode], steps: int) -> List[Episode]:
    """The first ``steps`` transitions of ``episodes``; the last episode kept is cut
    (truncated) where the budget ends."""
    kept, total = [], 0
    for ep in episodes:
        if total >= steps:
            break
        n = min(len(ep), steps - total)
        if n < len(ep):  # the budget ends inside it: cut there
            ep = episode_of(ep.observations[:n], ep.observations[1:n + 1], ep.actions[:n],
                            ep.rewards[:n], np.zeros(n, bool), np.zeros(n, bool))
        kept.append(ep)
        total += n
    return kept


_RANDOM_DATASETS: Dict[tuple, Dataset] = {}


def random_dataset(env, env_params, steps: int, seed: int = 0) -> Dataset:
    """``steps`` transitions of a uniform random policy (``dataset="random:N"``): its
    mean return over complete episodes is the dataset's ``ref_min_score``. Made once per
    process for each env, params, size and seed (learners of one config share it)."""
    cache_key = (env.id, repr(env_params), steps, seed)
    if cache_key not in _RANDOM_DATASETS:
        _RANDOM_DATASETS[cache_key] = _random_dataset(env, env_params, steps, seed)
    return _RANDOM_DATASETS[cache_key]


def _random_dataset(env, env_params, steps: int, seed: int) -> Dataset:
    key = jax.random.PRNGKey(seed)
    max_steps = env.max_episode_steps(env_params)
    batch = min(EPISODE_BATCH, max(8, 4 * math.ceil(steps / max_steps)))
    program = _episode_program(env, env_params, None, batch, max_steps)
    episodes: List[Episode] = []
    total, round_ = 0, 0
    while total < steps:  # batches of episodes until the budget is covered
        new = _split_episodes(program(jax.random.fold_in(key, round_), jnp.float32(0)))
        episodes.extend(new)
        total += sum(len(ep) for ep in new)
        round_ += 1
    ref_min = float(np.mean([ep.ret for ep in episodes]))
    episodes = cut_to_steps(episodes, steps)
    metadata = {"dataset_id": f"{RANDOM_ID_PREFIX}{steps}", "ref_min_score": ref_min,
                "jaxrl": {"env": env.id, "policies": [{"policy": "random", "return": ref_min}]}}
    return Dataset(to_transitions(episodes), np.asarray([ep.ret for ep in episodes]),
                   metadata, f"random:{steps}")


RANDOM_ID_PREFIX = "jaxrl/random-"


def replay_episodes(replay, to_env) -> List[Episode]:
    """The episodes in an off-policy member's replay buffer (a ``ReplayState`` of
    ``Stored`` steps, ``[capacity, num_envs, ...]``), oldest first per env: D4RL's
    "replay" datasets. Steps overwritten in a full buffer are gone, and an episode cut by
    the buffer's start or end is kept, truncated there. ``to_env``: the learner's stored
    actions as the env takes them."""
    stored = replay.data
    capacity = int(np.shape(stored.reward)[0])
    size, ptr = int(replay.size), int(replay.ptr)
    order = np.arange(size) if size < capacity else (ptr + np.arange(capacity)) % capacity
    obs, reward, terminated, truncated, final_obs = (
        np.asarray(x)[order] for x in (stored.obs, stored.reward, stored.terminated,
                                       stored.truncated, stored.final_obs))
    action = np.asarray(to_env(np.asarray(stored.action)[order]))
    return [ep for e in range(obs.shape[1]) for ep in episodes_of(
        *(x[:, e] for x in (obs, final_obs, action, reward, terminated, truncated)))]


def mix(sources: Sequence[str]) -> tuple:
    """The episodes of several datasets, in the order given (D4RL's medium-expert is
    medium + expert), and their merged metadata: every recording policy, the lowest
    ``ref_min_score`` and the highest ``ref_max_score``."""
    episodes: List[Episode] = []
    policies: List[Dict[str, Any]] = []
    mins, maxs, envs, overrides = [], [], set(), {}
    for source in sources:
        data = read_minari(source)
        episodes.extend(to_episodes(data.transitions))
        info = data.metadata.get("jaxrl", {})
        envs.add((info.get("env"), repr(sorted(info.get("env_overrides", {}).items()))))
        overrides = info.get("env_overrides", {})
        policies.extend({**p, "dataset": source} for p in info.get("policies", []))
        if data.ref_min_score is not None:
            mins.append(data.ref_min_score)
        if data.ref_max_score is not None:
            maxs.append(data.ref_max_score)
    if len(envs) > 1:
        raise ConfigError(f"--mix: the datasets were recorded on different envs or env "
                          f"parameters ({'; '.join(sorted(f'{e} {o}' for e, o in envs))})")
    env = next(iter(envs))[0]
    meta = {"jaxrl": {"env": env, "env_overrides": overrides, "policies": policies,
                      "mixed_from": list(sources)}}
    if mins:
        meta["ref_min_score"] = min(mins)
    if maxs:
        meta["ref_max_score"] = max(maxs)
    return episodes, meta


def episode_summary(episodes: Sequence[Episode], ref_min: Optional[float],
                    ref_max: Optional[float]) -> Dict[str, Any]:
    returns = np.asarray([ep.ret for ep in episodes])
    score = normalized_score(returns.mean(), ref_min, ref_max)
    return {"episodes": len(episodes), "steps": int(sum(len(ep) for ep in episodes)),
            "return_mean": float(returns.mean()), "return_std": float(returns.std()),
            "normalized_score": None if score is None else float(score)}
