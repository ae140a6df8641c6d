"""Learners. Each module exposes ``Config`` (static), ``HParams`` (traced) and ``make``."""
from jaxrl.algorithms import ppo

ALGORITHMS = {"ppo": ppo.PPO}

__all__ = ["ppo", "ALGORITHMS"]
