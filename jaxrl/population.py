"""A population: members = (hyperparameter configuration x seed), as batched pytrees."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import ConfigError, check_fields, check_seed, check_seed_range


@dataclasses.dataclass
class Population:
    """``hparams`` has a leading member axis on every leaf; ``seeds`` one int per member;
    ``config_index`` says which configuration each member runs (the bootstrap strata)."""

    hparams: Any
    seeds: np.ndarray
    config_index: np.ndarray

    @classmethod
    def from_configs(cls, configs: Sequence[Any], seeds: Sequence[int]) -> "Population":
        """Every configuration crossed with every seed (members ordered config-major).
        Seeds must lie in [0, 2**32); values are checked before they are cast to float32."""
        configs, seeds = list(configs), list(seeds)
        if not configs or not seeds:
            raise ConfigError("a population needs at least one configuration and one seed")
        seeds = np.asarray([check_seed(s, f"seeds[{i}]") for i, s in enumerate(seeds)],
                           np.int64)
        for config in configs:
            if dataclasses.is_dataclass(config):
                check_fields(config)
        stacked = jax.tree.map(lambda *xs: np.asarray(xs, np.float32), *configs)
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

    def member_hparams(self, i: int) -> Dict[str, float]:
        return {f.name: float(np.asarray(getattr(self.hparams, f.name))[i])
                for f in dataclasses.fields(self.hparams)}

    def describe(self, i: int) -> str:
        hp = ", ".join(f"{k}={v:g}" for k, v in self.member_hparams(i).items())
        return f"member {i} (seed {self.seeds[i]}, config {self.config_index[i]}: {hp})"

    def table(self) -> List[Dict[str, Any]]:
        return [{"member": i, "seed": int(self.seeds[i]), "config": int(self.config_index[i]),
                 **self.member_hparams(i)} for i in range(self.size)]
