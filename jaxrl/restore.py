"""A run directory's newest good checkpoint, restored with what it needs to be used: for
`jaxrl eval`, `export` and `record`."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from jaxrl.config import ConfigError
from jaxrl.experiment import Experiment, read_run_config


@dataclasses.dataclass
class RestoredRun:
    """A run directory's newest good checkpoint, with what it needs to be used."""
    spec: Experiment
    algo: Any
    population: Any
    run: Any
    checkpoint: int  # chunks done when it was saved
    carry: Any

    def member_state(self, member: int) -> Any:
        import jax

        return jax.tree.map(lambda x: x[member], jax.device_get(self.carry.state))

    def member_env_params(self, member: int) -> Any:
        """The member's own env params where the population draws them, else None."""
        import jax

        params = self.population.env_params
        return None if params is None else jax.tree.map(lambda x: x[member], params)


def restore_run(run_dir: str, episodes: Optional[int] = None, warn=None,
                checkpoint: Optional[int] = None) -> RestoredRun:
    """The newest good checkpoint of ``run_dir`` (at ``checkpoint`` chunks or before,
    where given)."""
    from jaxrl.checkpoint import PopulationCheckpointer
    from jaxrl.runner import Run

    if not os.path.exists(os.path.join(run_dir, "config.json")):
        raise ConfigError(f"{run_dir} is not a run directory (no config.json)")
    if episodes is not None and episodes <= 0:
        raise ConfigError(f"--episodes {episodes} must be positive")
    spec = read_run_config(run_dir)
    if episodes is not None:
        spec.run_config = dataclasses.replace(spec.run_config, eval_episodes=episodes)
    algo, population = spec.build()
    run = Run(algo, population, spec.run_config)
    checkpointer = PopulationCheckpointer(os.path.join(run_dir, "checkpoints"))
    try:
        step, carry, _ = checkpointer.restore_latest(run.abstract_carry(),
                                                     **({"warn": warn} if warn else {}),
                                                     at_most=checkpoint)
    finally:
        checkpointer.close()
    return RestoredRun(spec, algo, population, run, step, carry)


def check_member(member: Optional[int], size: int) -> None:
    if member is not None and not 0 <= member < size:
        raise ConfigError(f"--member {member} out of range: the run has {size} members "
                          f"(0..{size - 1})")
