"""The generic runner: one compiled program trains a whole population.

    config.py     RunConfig (evaluation, checkpoints, logging)
    chunk.py      the compiled unit: a member's chunk of updates, divergence isolation
    program.py    Run: compile + shard the chunk, init and evaluation programs
    loop.py       train(): the host loop (metrics, eval, checkpoints, resume)
    summary.py    run totals across sessions, the summary
    memory.py     memory accounting before compiling
    progress.py   the progress line;  provenance.py  versions and git commit

Outer loops (sweeps, PBT, ES) drive ``Run`` directly: ``Run.chunk_program(n, carry)``
is compiled once; hand it new traced hyperparameters with ``Run.set_hparams`` or a
modified ``Carry`` between chunks, and it runs without recompiling.
"""
from jaxrl.runner.chunk import Carry, plan_chunks
from jaxrl.runner.config import RunConfig
from jaxrl.runner.loop import RunResult, check_run_dir, train
from jaxrl.runner.program import Run

__all__ = ["Carry", "Run", "RunConfig", "RunResult", "check_run_dir", "plan_chunks", "train"]
