"""What a learner is given: the dataset a spec names (a directory, a local Minari id, or
``random:N``), checked against the env."""
from __future__ import annotations

import numpy as np

from jaxrl.config import ConfigError
from jaxrl.offline.dataset import RANDOM_PREFIX, Dataset, read_minari
from jaxrl.offline.record import random_dataset


def load(spec: str, env, env_params, seed: int = 0) -> Dataset:
    """The dataset named by ``spec`` for ``env`` (the env as learners see it,
    ``eval_env``): a directory or Minari id, or ``random:N`` (N steps of a uniform
    random policy, made here from ``seed``). Checks that its observations and actions
    fit the env, naming both where they do not."""
    if spec.startswith(RANDOM_PREFIX):
        try:
            steps = int(spec[len(RANDOM_PREFIX):])
        except ValueError:
            steps = 0
        if steps <= 0:
            raise ConfigError(f"dataset={spec!r}: write random:N with N > 0 steps")
        return random_dataset(env, env_params, steps, seed)
    dataset = read_minari(spec)
    check_fits(dataset, env, env_params)
    return dataset


def check_fits(dataset: Dataset, env, env_params) -> None:
    obs_shape = tuple(env.observation_space(env_params).shape)
    space = env.action_space(env_params)
    data = dataset.transitions
    if tuple(np.shape(data.obs)[1:]) != obs_shape:
        raise ConfigError(f"dataset {dataset.source!r} has observations of shape "
                          f"{np.shape(data.obs)[1:]}; {env.id} gives {obs_shape}: record it "
                          f"on this env or pick the env it was recorded on "
                          f"({dataset.metadata.get('jaxrl', {}).get('env', 'see its metadata')})")
    if tuple(np.shape(data.action)[1:]) != tuple(space.shape):
        raise ConfigError(f"dataset {dataset.source!r} has actions of shape "
                          f"{np.shape(data.action)[1:]}; {env.id}'s are {tuple(space.shape)}")
