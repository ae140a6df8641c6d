"""Sweeps, population-based training and their results.

    space.py          typed search spaces (Python or W&B-style YAML/JSON)
    samplers.py       grid, random, Sobol, Halton
    optuna_bridge.py  batch ask-and-tell with an Optuna study (extra: optuna)
    sweep.py          groups by static fields, batches, tuning and test seeds, resume
    pbt.py            population-based training between chunks of the compiled loop
    results.py        the results table (Parquet)
"""
from jaxrl.sweep.samplers import SAMPLERS, sample
from jaxrl.sweep.space import (Choice, Fixed, IntUniform, LogUniform, QUniform, SearchSpace,
                               Uniform, load_space)
from jaxrl.sweep.sweep import Sweep, SweepResult, SweepSpec, run_sweep

__all__ = ["SAMPLERS", "Choice", "Fixed", "IntUniform", "LogUniform", "QUniform",
           "SearchSpace", "Sweep", "SweepResult", "SweepSpec", "Uniform", "load_space",
           "run_sweep", "sample"]
