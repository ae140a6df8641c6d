"""A sweep's batches as Ray tasks (``jaxrl sweep --ray ADDRESS``; extra ``jaxrl[ray]``).

Each unit of the plan (one static-field group's batch of members) is one task: a worker
loads the sweep from its directory (``sweep.json``, on a file system every node sees),
trains the unit's population on the devices Ray gave it, and writes the unit's run
directory exactly as a local sweep does. The driver updates the results table as each
task finishes. A task whose worker dies is retried by Ray and resumes from the unit's
newest checkpoint; a finished unit (its ``summary.json``) is never run again, so a
killed worker or a killed driver loses at most one checkpoint interval of one unit.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from jaxrl.config import ConfigError

_LOADED: Dict[str, Any] = {}  # per worker process: sweeps (and their compiled programs)


@dataclasses.dataclass(frozen=True)
class RayOptions:
    address: str = "auto"   # a running cluster ("auto": the one this machine belongs to)
    cpus: float = 1.0       # per task; the task's JAX gets one host device per CPU
    gpus: float = 0.0       # per task
    max_retries: int = 3    # after a worker (or node) dies

    def validate(self) -> "RayOptions":
        if self.cpus <= 0 or self.gpus < 0 or self.max_retries < 0:
            raise ConfigError(f"--ray-cpus must be positive and --ray-gpus, retries >= 0 "
                              f"(got {self.cpus}, {self.gpus}, {self.max_retries})")
        return self


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs the optional extra: pip install 'jaxrl[ray]'")
    return ray


def run_unit_task(out: str, unit: Dict[str, Any], index: int, count: int) -> Dict[str, Any]:
    """In a Ray worker: train (or resume, or skip) one unit of the sweep in ``out``."""
    import os

    from jaxrl.sweep.sweep import Sweep, Unit

    if out not in _LOADED:
        _LOADED[out] = Sweep.load(out, progress=False)
    sweep = _LOADED[out]
    with open(os.path.join(sweep.unit_dir(Unit(**unit)) + ".worker"), "w") as f:
        f.write(str(os.getpid()))  # which worker process trains it (to find or kill it)
    return sweep.run_unit(Unit(**unit), index, count)


class RayExecutor:
    """A sweep's executor (``Sweep(..., executor=RayExecutor(options))``): its batches as
    Ray tasks."""

    def __init__(self, options: RayOptions):
        self.options = options.validate()

    def run_units(self, sweep, units: List[Any]) -> None:
        run_units(sweep, units, self.options)


def run_units(sweep, units: List[Any], options: RayOptions) -> None:
    """Runs ``units`` as Ray tasks, at most as many at once as the cluster has room for."""
    import os

    from jaxrl.platform import host_device_flags

    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=options.address, log_to_driver=False)
    os.makedirs(os.path.join(sweep.out, "units"), exist_ok=True)
    devices = max(1, int(options.cpus))
    task = ray.remote(run_unit_task).options(
        num_cpus=options.cpus, num_gpus=options.gpus, max_retries=options.max_retries,
        runtime_env={"env_vars": {"XLA_FLAGS": host_device_flags(devices)}})
    pending = {task.remote(os.path.abspath(sweep.out), dataclasses.asdict(u), i,
                           len(units)): u for i, u in enumerate(units)}
    sweep.console.print(f"{len(units)} batches as Ray tasks ({options.cpus:g} CPU"
                        f"{f', {options.gpus:g} GPU' if options.gpus else ''} each) on "
                        f"{len(ray.nodes())} node(s)")
    failed: Optional[BaseException] = None
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        unit = pending.pop(done[0])
        try:
            summary = ray.get(done[0])
        except Exception as exc:  # noqa: BLE001 - report every failure, keep the rest
            failed = failed or exc
            sweep.console.print(f"[red]batch {unit.name} failed:[/] {exc}")
            continue
        sweep.write_results()
        rate = (summary or {}).get("session", {}).get("env_steps_per_second") or 0
        sweep.console.print(f"batch {unit.name} done ({len(units) - len(pending)}/"
                            f"{len(units)}, {rate:,.0f} env steps/s)")
    if failed is not None:
        raise ConfigError(f"a Ray task failed after {options.max_retries} retries ({failed}); "
                          f"finished batches are kept: --resume runs the rest")
