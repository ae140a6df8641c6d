"""Collecting on-policy experience: the env stack a learner trains on, and the scan."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.components.action_masks import ActionMask, mask_size
from jaxrl.contract import EPISODE_COUNT, EPISODE_RETURN_SUM, reset_carry, split_batch
from jaxrl.envs import Env, EpisodeStatistics, FlattenObservation, VecEnv
from jaxrl.envs.spaces import Box


def observation_env(env: Env, env_params: Any, keep_images: bool = False) -> Env:
    """The env as a learner sees it (and is evaluated on): 1-D float observations, or,
    with ``keep_images``, ``[H, W, C]`` image observations left as they are (for a CNN)."""
    space = env.observation_space(env_params)
    is_vector = isinstance(space, Box) and len(space.shape) == 1
    if not (is_vector or (keep_images and is_image_env(env, env_params))):
        env = FlattenObservation(env)
    return env


def is_image_env(env: Env, env_params: Any) -> bool:
    space = env.observation_space(env_params)
    return isinstance(space, Box) and len(space.shape) == 3


def training_env(env: Env, env_params: Any, num_envs: int, keep_images: bool = False) -> VecEnv:
    """The learner's observations, episode statistics, ``num_envs`` batched copies."""
    return VecEnv(EpisodeStatistics(observation_env(env, env_params, keep_images)), num_envs)


@struct.dataclass
class Transition:
    """One batched env step, time-major once stacked by ``collect``."""

    obs: jax.Array
    action: jax.Array            # raw sample (pre-squash), what log-probs are computed from
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array         # true successor observation (pre-reset where done)
    extras: Dict[str, jax.Array]  # learner-specific per-step values (log_prob, value, ...)
    episode_return: jax.Array    # of episodes completed at this step, else 0
    episode_done: jax.Array      # validity flag for episode_return


# act(carry, obs, key) -> (carry, raw_action, env_action, extras); a feed-forward
# policy's carry is ()
ActFn = Callable[[Any, jax.Array, jax.Array],
                 Tuple[Any, jax.Array, jax.Array, Dict[str, jax.Array]]]


def collect(env: VecEnv, env_params: Any, act: ActFn, env_state: Any, obs: jax.Array,
            key: jax.Array, num_steps: int, carry: Any = (), initial_carry: Any = ()):
    """Runs ``num_steps`` batched steps; returns (env_state, obs, carry,
    Transition[T, N]). A policy's ``carry`` (rows per env) goes back to
    ``initial_carry`` where an episode ended (terminated or truncated), so the next
    episode's first step starts from it."""

    def step(loop, step_key):
        env_state, obs, carry = loop
        act_key, env_key = jax.random.split(step_key)
        carry, raw, env_action, extras = act(carry, obs, act_key)
        next_obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, env_state, env_action, env_params)
        carry = reset_carry(terminated | truncated, carry, initial_carry)
        transition = Transition(obs, raw, reward, terminated, truncated,
                                info["final_observation"], extras,
                                info["episode_return"], info["episode_done"])
        return (env_state, next_obs, carry), transition

    # Under a data-parallel runner each device steps its share of the envs.
    (env_state, obs, carry), batch = jax.lax.scan(step, split_batch((env_state, obs, carry)),
                                                  jax.random.split(key, num_steps))
    return env_state, obs, carry, split_batch(batch, axis=1)


def flatten_steps(tree: Any) -> Any:
    """Leaves ``[T, N, ...]`` (steps x envs) as one batch ``[T * N, ...]``; under a
    data-parallel runner each device keeps its share of it."""
    return split_batch(jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), tree))


def shuffled_minibatches(key: jax.Array, data: Any, num_minibatches: int) -> Any:
    """``data`` (leaves ``[B, ...]``) in a random order as ``[num_minibatches, B /
    num_minibatches, ...]``, for one epoch's scan; under a data-parallel runner each
    device holds its share of every minibatch."""
    perm = random_permutation(key, jax.tree.leaves(data)[0].shape[0])
    return split_batch(jax.tree.map(
        lambda x: x[perm].reshape((num_minibatches, -1) + x.shape[1:]), data), axis=1)


def random_permutation(key: jax.Array, n: int) -> jax.Array:
    """A uniformly random permutation of ``range(n)``, sorting one integer array per round.

    ``jax.random.permutation`` sorts (random key, index) pairs, and XLA:CPU sorts two
    arrays about five times slower than one: at PureJaxRL's CartPole batch (512) that sort
    was a tenth of a PPO update. Here each round packs the position into the low bits of
    a random word and sorts the words. Rounds compose, so the order is biased only if
    every round drew tied random parts; we take as many rounds as make that chance below
    ``1/n``, ``jax.random.permutation``'s own standard, and leave large batches (too few
    random bits left, where the sort is a small share of the update anyway) to it."""
    rounds = permutation_rounds(n)
    if rounds is None:
        return jax.random.permutation(key, n)
    index_bits = max(1, (n - 1).bit_length())
    positions = jnp.arange(n, dtype=jnp.uint32)
    perm = None
    for round_key in jax.random.split(key, rounds):
        words = (jax.random.bits(round_key, (n,), jnp.uint32) << index_bits) | positions
        order = jnp.sort(words) & ((1 << index_bits) - 1)
        perm = order if perm is None else perm[order]  # the first round needs no gather
    return perm.astype(jnp.int32)


def permutation_rounds(n: int, most: int = 3):
    """Rounds of ``random_permutation`` for ``n`` items (``None``: more than ``most``)."""
    if n <= 1:
        return 1
    random_bits = 32 - (n - 1).bit_length()
    log2_tie = math.log2(n * (n - 1) / 2) - random_bits  # a round has ties: < 2^log2_tie
    if log2_tie >= 0:
        return None
    rounds = max(1, math.ceil(math.log2(n) / -log2_tie))  # all rounds tied: < 1/n
    return rounds if rounds <= most else None


def episode_metrics(batch: Transition) -> Dict[str, jax.Array]:
    """Sums and counts of completed episodes (averaged later, only over real episodes)."""
    done = batch.episode_done
    return {EPISODE_RETURN_SUM: jnp.sum(jnp.where(done, batch.episode_return, 0.0)),
            EPISODE_COUNT: jnp.sum(done).astype(jnp.float32)}


class LearnerEnvs(NamedTuple):
    """The env stacks a learner needs, and what its torso sees."""

    eval_env: Env          # what ``policy`` acts on
    train_env: VecEnv
    obs_shape: Tuple[int, ...]
    torso: str             # 'mlp', 'cnn' or 'impala' (resolved)
    action_mask: ActionMask  # where a legal-action mask sits in the observation


class EnvStacks:
    """What a learner that steps envs itself mixes in (``class OnPolicyLearner(EnvStacks,
    Learner)``): its env stacks as attributes (``eval_env``, ``train_env``, ``obs_shape``,
    ``torso_kind``, ``action_mask``), and ``num_rows``, the rows a training step acts
    for: one per env, or one per agent of a team."""

    def learner_envs(self, env_params: Any, config: Any) -> LearnerEnvs:
        """The env stacks the learner trains and is evaluated on (a team's rows for a
        multi-agent learner: ``algorithms.team``)."""
        return learner_envs(self.env, env_params, config.num_envs, config.torso)

    def set_learner_envs(self, env_params: Any, config: Any) -> None:
        envs = self.learner_envs(env_params, config)
        self.eval_env, self.train_env, self.obs_shape, self.torso_kind, self.action_mask = envs
        self.num_rows = self.train_env.num_envs


def learner_envs(env: Env, env_params: Any, num_envs: int, torso: str) -> LearnerEnvs:
    """Image observations stay ``[H, W, C]`` for an image torso ('auto', 'cnn' or
    'impala'); anything else is flattened for an MLP. Refuses an image torso on
    non-image observations."""
    from jaxrl.config import ConfigError
    from jaxrl.networks.torsos import IMAGE_TORSOS, resolve_torso

    images = is_image_env(env, env_params) and torso in ("auto", *IMAGE_TORSOS)
    train_env = training_env(env, env_params, num_envs, images)
    obs_shape = tuple(train_env.observation_space(env_params).shape)
    kind = resolve_torso(torso, obs_shape)
    if kind in IMAGE_TORSOS and len(obs_shape) != 3:
        raise ConfigError(f"torso={kind!r} needs [H, W, C] image observations; this env's "
                          f"are {obs_shape}: use torso='mlp' or 'auto'")
    mask = ActionMask(mask_size(env.observation_space(env_params)))
    actions = env.action_space(env_params)
    if mask.active and getattr(actions, "n", mask.size) != mask.size:
        raise ConfigError(f"{env.id}: its action_mask has {mask.size} entries for {actions}; a "
                          f"learner needs one per (joint) action")
    return LearnerEnvs(observation_env(env, env_params, images), train_env, obs_shape, kind, mask)
