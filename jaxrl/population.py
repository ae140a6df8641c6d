"""A population: members = (hyperparameter configuration x seed), as batched pytrees."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, List, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import ConfigError, check_fields, check_seed, check_seed_range


@dataclasses.dataclass
class Population:
    """``hparams`` has a leading member axis on every leaf; ``seeds`` one int per member;
    ``config_index`` says which configuration each member runs (the bootstrap strata).
    ``env_params``: None (every member on the algorithm's env params), or the members'
    own, a leading member axis on every leaf (``jaxrl.envs.per_member``)."""

    hparams: Any
    seeds: np.ndarray
    config_index: np.ndarray
    env_params: Any = None

    @classmethod
    def from_configs(cls, configs: Sequence[Any], seeds: Sequence[int]) -> "Population":
        """Every configuration crossed with every seed (members ordered config-major).
        Seeds must lie in [0, 2**32); values are checked before they are stacked. Each
        field keeps its declared dtype (int -> int32, bool -> bool, float -> float32)."""
        configs, seeds = list(configs), list(seeds)
        if not configs or not seeds:
            raise ConfigError("a population needs at least one configuration and one seed")
        seeds = np.asarray([check_seed(s, f"seeds[{i}]") for i, s in enumerate(seeds)],
                           np.int64)
        for config in configs:
            if dataclasses.is_dataclass(config):
                check_fields(config)
        stacked = stack_hparams(configs)
        hparams = jax.tree.map(lambda x: np.repeat(x, seeds.size, axis=0), stacked)
        return cls(hparams, np.tile(seeds, len(configs)),
                   np.repeat(np.arange(len(configs)), seeds.size))

    @classmethod
    def from_seeds(cls, hparams: Any, num_seeds: int, base_seed: int = 0) -> "Population":
        """Seeds ``base_seed .. base_seed + num_seeds - 1``, all within [0, 2**32)."""
        check_seed_range(base_seed, num_seeds)
        return cls.from_configs([hparams], np.arange(base_seed, base_seed + num_seeds))

    @property
    def size(self) -> int:
        return int(self.seeds.shape[0])

    def keys(self) -> jax.Array:
        return jax.vmap(jax.random.PRNGKey)(jnp.asarray(self.seeds, jnp.uint32))

    def member_hparams(self, i: int) -> Dict[str, Any]:
        """Member ``i``'s scalar hyperparameters as Python values, nested ones by path
        (``objective.dpo_alpha``); array-valued leaves, such as learned parameters, are
        left out."""
        return _member_scalars(self.hparams, i)

    def describe(self, i: int) -> str:
        hp = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in self.member_hparams(i).items())
        return f"member {i} (seed {self.seeds[i]}, config {self.config_index[i]}: {hp})"

    def member_env_params(self, i: int) -> Dict[str, Any]:
        """Member ``i``'s own env parameters (``env.NAME``), where it has its own."""
        if self.env_params is None:
            return {}
        varying = {f.name for f in dataclasses.fields(self.env_params)
                   if np.unique(np.asarray(getattr(self.env_params, f.name))).size > 1}
        return {f"env.{k}": v for k, v in _member_scalars(self.env_params, i).items()
                if k in varying or self.size == 1}

    def table(self) -> List[Dict[str, Any]]:
        return [{"member": i, "seed": int(self.seeds[i]), "config": int(self.config_index[i]),
                 **self.member_hparams(i), **self.member_env_params(i)}
                for i in range(self.size)]


def _member_scalars(hparams: Any, i: int, prefix: str = "") -> Dict[str, Any]:
    out = {}
    for f in dataclasses.fields(hparams):
        value = getattr(hparams, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(_member_scalars(value, i, f"{prefix}{f.name}."))
            continue
        value = np.asarray(value)
        if value.ndim == 1:
            out[prefix + f.name] = value[i].item()
    return out


_DTYPES = {int: np.int32, bool: np.bool_, float: np.float32}


def stack_hparams(configs: Sequence[Any]) -> Any:
    """Stacks configurations along a new leading member axis. A dataclass field declared
    ``int``/``bool``/``float`` becomes int32/bool/float32; other leaves keep their array
    dtype (Python floats become float32)."""
    first = configs[0]
    if dataclasses.is_dataclass(first):
        hints = typing.get_type_hints(type(first))
        stacked = {}
        for f in dataclasses.fields(first):
            values = [getattr(c, f.name) for c in configs]
            dtype = _DTYPES.get(hints.get(f.name))
            if dataclasses.is_dataclass(values[0]) and not isinstance(values[0], type):
                stacked[f.name] = stack_hparams(values)  # nested settings, by their types
            else:
                stacked[f.name] = np.asarray(values, dtype) if dtype is not None else \
                    _stack_tree(values)
        return first.replace(**stacked) if hasattr(first, "replace") else type(first)(**stacked)
    return _stack_tree(configs)


def _stack_tree(trees: Sequence[Any]) -> Any:
    def stack(*xs):
        arr = np.asarray(xs)
        return arr.astype(np.float32) if arr.dtype == np.float64 else arr
    return jax.tree.map(stack, *trees)
