"""Offline datasets: D4RL's fields, Minari's format on disk, one copy per device in a run.

On disk a dataset is a Minari dataset directory (``DIR/data/metadata.json`` and the
episodes, hdf5 or arrow), written and read by Minari's own storage classes
(``jaxrl[offline]``), so any local Minari dataset loads and ours load in Minari. Each
episode keeps ``T + 1`` observations (the last is the true successor of the last step,
before any reset), ``T`` actions, rewards, terminations and truncations.

In a run a dataset is flat transitions (``Transitions``), actions as the env takes them,
with each step's successor observation and the data's own next action (ReBRAC's critic
penalty reads it; absent where the episode ended). jaxrl's datasets carry a ``jaxrl``
entry in their metadata: the env, the recording policies and their returns, and the
reference returns of normalised scores (0 = a uniform random policy, 100 = the best
recording policy), stored as Minari's ``ref_min_score`` / ``ref_max_score``.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Iterable, List, Optional

import numpy as np
from flax import struct

from jaxrl.config import ConfigError

#: what a dataset spec of this form means: N steps of a uniform random policy, generated
#: in process (D4RL's "random" datasets; the learners' smoke checks use it)
RANDOM_PREFIX = "random:"
DATA_FORMATS = ("hdf5", "arrow")


@struct.dataclass
class Transitions:
    """Flat transitions ``[N, ...]`` (numpy on the host, device arrays in a run)."""

    obs: Any
    action: Any                # as the env takes it
    reward: Any                # float32
    terminated: Any            # bool: no bootstrap from next_obs
    truncated: Any             # bool: the episode was cut here (bootstrap from next_obs)
    next_obs: Any              # the true successor (pre-reset)
    next_action: Any           # the data's action at next_obs (zeros where none)
    has_next_action: Any       # bool: next_action is the data's (not at an episode end)

    @property
    def size(self) -> int:
        return int(np.shape(self.reward)[0])

    @property
    def nbytes(self) -> int:
        import jax

        return int(sum(np.asarray(x).nbytes for x in jax.tree.leaves(self)))


@dataclasses.dataclass(frozen=True)
class Episode:
    """One episode as Minari keeps it: ``observations`` has one row more than the rest."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def ret(self) -> float:
        return float(np.sum(self.rewards))


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A loaded dataset: its transitions, its episodes' returns, and what it says about
    itself (``metadata``: Minari's keys, and jaxrl's under ``"jaxrl"``)."""

    transitions: Transitions
    episode_returns: np.ndarray
    metadata: Dict[str, Any]
    source: str

    @property
    def ref_min_score(self) -> Optional[float]:
        value = self.metadata.get("ref_min_score")
        return None if value is None else float(value)

    @property
    def ref_max_score(self) -> Optional[float]:
        value = self.metadata.get("ref_max_score")
        return None if value is None else float(value)

    def normalized_score(self, returns: Any) -> Optional[np.ndarray]:
        """``100 (R - ref_min) / (ref_max - ref_min)``: 0 = random, 100 = the best
        recording policy (D4RL's scale); None where the dataset names no references."""
        return normalized_score(returns, self.ref_min_score, self.ref_max_score)

    def describe(self) -> str:
        r = self.episode_returns
        refs = ("" if self.ref_min_score is None or self.ref_max_score is None else
                f"; normalised scores from {self.ref_min_score:.1f} (0) to "
                f"{self.ref_max_score:.1f} (100)")
        return (f"{self.source}: {self.transitions.size:,} transitions in {len(r):,} "
                f"episodes (return {np.mean(r):.1f} +- {np.std(r):.1f}){refs}")


def normalized_score(returns: Any, ref_min: Optional[float],
                     ref_max: Optional[float]) -> Optional[np.ndarray]:
    if ref_min is None or ref_max is None or ref_max == ref_min:
        return None
    return 100.0 * (np.asarray(returns, np.float64) - ref_min) / (ref_max - ref_min)


# ---- episodes <-> transitions --------------------------------------------------------
def episode_of(obs, final_obs, action, reward, terminated, truncated) -> Episode:
    """One episode from its steps (time-major arrays of one env): its observations and
    the last step's final observation. An episode that neither terminated nor was
    truncated at its last step was cut by the recording: it is marked truncated there."""
    truncations = np.asarray(truncated, bool).copy()
    terminations = np.asarray(terminated, bool).copy()
    if not (terminations[-1] or truncations[-1]):
        truncations[-1] = True
    return Episode(np.concatenate([obs, final_obs[-1:]]), action, reward, terminations,
                   truncations)


def episodes_of(obs, final_obs, action, reward, terminated, truncated) -> List[Episode]:
    """Consecutive steps of one stream (an env's column of a replay buffer, or flat
    transitions) split into episodes where they end; an unfinished last one is cut."""
    ends = np.flatnonzero(np.asarray(terminated) | np.asarray(truncated)) + 1
    bounds = [0, *ends, *([len(reward)] if not len(ends) or ends[-1] < len(reward) else [])]
    return [episode_of(*(x[a:b] for x in (obs, final_obs, action, reward, terminated,
                                          truncated)))
            for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def to_episodes(t: Transitions) -> List[Episode]:
    """The episodes of flat transitions (the inverse of ``to_transitions``)."""
    return episodes_of(t.obs, t.next_obs, t.action, t.reward, t.terminated, t.truncated)


def to_transitions(episodes: Iterable[Episode]) -> Transitions:
    """Flat transitions of ``episodes``, in order; each step's next action is the
    episode's following action (none after its last step)."""
    parts = {name: [] for name in ("obs", "action", "reward", "terminated", "truncated",
                                   "next_obs", "next_action", "has_next_action")}
    for ep in episodes:
        n = len(ep)
        if n == 0:
            continue
        parts["obs"].append(ep.observations[:-1])
        parts["next_obs"].append(ep.observations[1:])
        parts["action"].append(ep.actions)
        parts["reward"].append(np.asarray(ep.rewards, np.float32))
        parts["terminated"].append(np.asarray(ep.terminations, bool))
        parts["truncated"].append(np.asarray(ep.truncations, bool))
        following = np.concatenate([ep.actions[1:], np.zeros_like(ep.actions[:1])])
        parts["next_action"].append(following)
        parts["has_next_action"].append(np.arange(n) < n - 1)
    if not parts["obs"]:
        raise ConfigError("the dataset holds no transitions (every episode is empty)")
    return Transitions(**{name: np.concatenate(values) for name, values in parts.items()})


def check_episode(ep: Episode, index: int) -> None:
    n = len(ep.rewards)
    if len(ep.observations) != n + 1 or len(ep.actions) != n:
        raise ConfigError(f"episode {index}: {len(ep.observations)} observations and "
                          f"{len(ep.actions)} actions for {n} rewards; Minari's format keeps "
                          f"one observation more than actions")
    if n and np.any(ep.terminations[:-1] | ep.truncations[:-1]):
        raise ConfigError(f"episode {index} ends before its last step (a termination or "
                          f"truncation flag inside it)")


# ---- Minari on disk ----------------------------------------------------------------
def _minari():
    try:
        import minari
        from minari.dataset.minari_storage import MinariStorage
    except ImportError as exc:
        raise ConfigError("offline datasets need Minari: pip install 'jaxrl[offline]'") \
            from exc
    return minari, MinariStorage


def gymnasium_space(space):
    """jaxrl's ``Box`` / ``Discrete`` as the gymnasium space Minari stores."""
    import gymnasium

    from jaxrl.envs.spaces import Box, Discrete

    if isinstance(space, Discrete):
        return gymnasium.spaces.Discrete(int(space.n))
    if isinstance(space, Box):
        return gymnasium.spaces.Box(np.asarray(space.low), np.asarray(space.high),
                                    tuple(space.shape), np.dtype(space.dtype))
    raise ConfigError(f"a dataset stores Box or Discrete spaces; this env's is {space}")


def data_path(path: str) -> str:
    """The directory that holds ``metadata.json``: ``path`` itself, or its ``data/``."""
    inner = os.path.join(path, "data")
    return inner if os.path.isdir(inner) else path


def write_minari(path: str, episodes: List[Episode], observation_space, action_space,
                 metadata: Dict[str, Any], data_format: str = "hdf5") -> str:
    """Writes ``episodes`` as a Minari dataset at ``path`` (``path/data/``) with Minari's
    own storage; refuses a directory that already holds one. Returns ``path``."""
    minari, storage_cls = _minari()
    from minari.data_collector.episode_buffer import EpisodeBuffer

    if data_format not in DATA_FORMATS:
        raise ConfigError(f"data_format={data_format!r}: use one of {DATA_FORMATS}")
    target = os.path.join(os.path.abspath(path), "data")  # Minari's storage needs it absolute
    if os.path.exists(os.path.join(target, "metadata.json")):
        raise ConfigError(f"{path} already holds a dataset; choose another --out or remove it")
    for i, ep in enumerate(episodes):
        check_episode(ep, i)
    os.makedirs(target, exist_ok=True)
    storage = storage_cls.new(target, observation_space=gymnasium_space(observation_space),
                              action_space=gymnasium_space(action_space),
                              data_format=data_format, jpeg_encoding=False)
    storage.update_episodes(
        EpisodeBuffer(observations=np.asarray(ep.observations),
                      actions=np.asarray(ep.actions),
                      rewards=[float(r) for r in ep.rewards],
                      terminations=[bool(t) for t in ep.terminations],
                      truncations=[bool(t) for t in ep.truncations], infos={})
        for ep in episodes)
    dataset_id = metadata.get("dataset_id") or f"jaxrl/{os.path.basename(os.path.abspath(path))}"
    storage.update_metadata({**metadata, "dataset_id": dataset_id,
                             "minari_version": minari.__version__,
                             "total_episodes": len(episodes),
                             "total_steps": int(sum(len(ep) for ep in episodes))})
    return path


def resolve(spec: str) -> str:
    """A dataset's directory: a path, or a Minari dataset id under Minari's datasets root
    (``MINARI_DATASETS_PATH``, default ``~/.minari/datasets``)."""
    if os.path.isdir(spec):
        return spec
    minari, _ = _minari()
    from minari.storage import get_dataset_path

    try:
        candidate = str(get_dataset_path(spec))
    except Exception:  # noqa: BLE001 - an id Minari cannot parse: reported as missing
        candidate = None
    if candidate and os.path.isdir(data_path(candidate)):
        return candidate
    raise ConfigError(f"dataset {spec!r} not found: give a dataset directory (`jaxrl record "
                      f"... --out DIR` writes one) or the id of a local Minari dataset "
                      f"(under MINARI_DATASETS_PATH); nothing is downloaded")


def read_minari(spec: str) -> Dataset:
    """A local Minari dataset (ours or any other), read with Minari's own reader."""
    minari, _ = _minari()
    path = resolve(spec)
    try:
        data = minari.MinariDataset(os.path.abspath(data_path(path)))
    except Exception as exc:  # noqa: BLE001 - Minari's errors name little; say which
        raise ConfigError(f"dataset {spec!r}: Minari cannot read {path}: {exc}") from exc
    episodes = []
    for i, ep in enumerate(data.iterate_episodes()):
        if isinstance(ep.observations, dict) or isinstance(ep.actions, dict):
            raise ConfigError(f"dataset {spec!r}: dict observations or actions are not "
                              f"supported (flatten them when recording)")
        episode = Episode(np.asarray(ep.observations), np.asarray(ep.actions),
                          np.asarray(ep.rewards, np.float32),
                          np.asarray(ep.terminations, bool), np.asarray(ep.truncations, bool))
        check_episode(episode, i)
        episodes.append(episode)
    metadata = dict(data.storage.metadata)
    for key in ("observation_space", "action_space"):
        metadata.pop(key, None)
    metadata = json.loads(json.dumps(metadata, default=lambda v: sorted(v)
                                     if isinstance(v, set) else str(v)))
    return Dataset(to_transitions(episodes), np.asarray([ep.ret for ep in episodes]),
                   metadata, spec)
