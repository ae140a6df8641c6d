"""Samplers: configurations from a ``SearchSpace``.

``grid`` enumerates; ``random``, ``sobol`` and ``halton`` draw points of the unit cube
over the varying parameters (numpy / ``scipy.stats.qmc``, scrambled and seeded) and map
them through each parameter's ``from_unit``. ``optuna`` is the batch ask-and-tell bridge
in ``jaxrl.sweep.optuna_bridge`` (each batch of trials becomes one population).
"""
from __future__ import annotations

import math
import os
import warnings
from typing import Any, Dict, List, Optional

import numpy as np

from jaxrl.config import ConfigError
from jaxrl.sweep.space import SearchSpace

SAMPLERS = ("grid", "random", "sobol", "halton", "optuna")


def unit_points(kind: str, n: int, dims: int, seed: int) -> np.ndarray:
    """``n`` points in [0, 1)^dims."""
    if dims == 0:
        return np.zeros((n, 0))
    if kind == "random":
        return np.random.default_rng(seed).random((n, dims))
    from scipy.stats import qmc

    if kind == "sobol":
        engine = qmc.Sobol(dims, scramble=True, seed=seed)
        with warnings.catch_warnings():  # balance needs 2**m points; any n is still valid
            warnings.simplefilter("ignore", UserWarning)
            points = engine.random_base2(int(math.log2(n))) if n & (n - 1) == 0 \
                else engine.random(n)
        return points
    if kind == "halton":
        return qmc.Halton(dims, scramble=True, seed=seed).random(n)
    raise ConfigError(f"sampler {kind!r} is not one of {', '.join(SAMPLERS)}")


def sample(space: SearchSpace, sampler: str, num_configs: Optional[int],
           seed: int = 0) -> List[Dict[str, Any]]:
    """Configurations as ``{field: value}`` (coerced to each field's type). A grid takes
    every combination (``num_configs``, if given, must not be smaller)."""
    if sampler == "grid":
        configs = space.grid()
        if num_configs is not None and num_configs < len(configs):
            raise ConfigError(f"--num-configs {num_configs} is smaller than the grid's "
                              f"{len(configs)} combinations; drop --num-configs or shrink "
                              f"the grid")
        return configs
    if sampler == "optuna":
        raise ConfigError("the optuna sampler asks configurations in batches during the "
                          "sweep (jaxrl.sweep.optuna_bridge), not up front")
    if num_configs is None or num_configs <= 0:
        raise ConfigError(f"--num-configs must be positive for the {sampler} sampler")
    points = unit_points(sampler, num_configs, len(space.varying), seed)
    return [space.from_unit(u) for u in points]


def strategy(sampler: str):
    """The sampling strategy of ``sampler`` (it has ``tune(sweep)``): configurations drawn
    up front (grid, random, Sobol, Halton) or asked in rounds from an Optuna study."""
    if sampler == "optuna":
        from jaxrl.sweep.optuna_bridge import OptunaRounds

        return OptunaRounds()
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {sampler!r} is not one of {', '.join(SAMPLERS)}")
    return UpFront()


class UpFront:
    """Sampling strategy of grid, random, Sobol and Halton: every configuration drawn
    before training, the tuning batches then run by the executor. A strategy has
    ``tune(sweep)``; Optuna's asks in rounds (``optuna_bridge.OptunaRounds``)."""

    def tune(self, sweep: Any) -> None:
        if not os.path.exists(sweep.plan_path):
            if not sweep.configs:
                sweep.prepare()
            sweep.save_plan()
        units = sweep.tuning_units()
        sweep.print_plan(units, f"sweep {sweep.spec.algorithm} on {sweep.spec.env}: "
                                f"{len(sweep.configs)} configurations x "
                                f"{sweep.spec.seeds_per_config} tuning seeds")
        sweep.run_units(units)
