"""The generic runner: one compiled program trains a whole population.

    config.py     RunConfig (evaluation, checkpoints, logging)
    chunk.py      the compiled unit: a member's chunk of updates, divergence isolation
    program.py    Run: compile + shard the chunk, init and evaluation programs
    driver.py     Driver: the one host loop of steps (resume, checkpoints, sinks,
                  progress, hooks between steps) that train, PBT and ES run on
    loop.py       train(): a population's chunks on the driver (records, evaluation,
                  divergence reports, throughput, the summary)
    summary.py    run totals across sessions, the summary
    memory.py     memory accounting before compiling
    progress.py   the progress lines;  provenance.py  versions and git commit

Outer loops reuse this: a sweep runs ``train`` per batch (sharing a ``Run``'s compiled
programs through ``Run.with_population``), PBT is ``train`` with its exploit/explore as
a ``driver.Hook`` (new traced values go to the compiled program with
``Run.set_hparams``), and ES runs its generations on the ``Driver``.
"""
from jaxrl.runner.chunk import Carry, plan_chunks
from jaxrl.runner.config import RunConfig
from jaxrl.runner.driver import Driver, Hook
from jaxrl.runner.loop import RunResult, check_run_dir, train
from jaxrl.runner.program import Run

__all__ = ["Carry", "Driver", "Hook", "Run", "RunConfig", "RunResult", "check_run_dir",
           "plan_chunks", "train"]
