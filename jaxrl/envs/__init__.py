"""Functional environments: protocol, spaces, suites and their registry, wrappers."""
from jaxrl.envs.core import Adapter, Env, EpisodeParams, Wrapper
from jaxrl.envs.registry import UnknownEnvError, list, make, register
from jaxrl.envs.spaces import Box, Dict, Discrete
from jaxrl.envs.suites import Suite
from jaxrl.envs.wrappers import (ClipAction, EpisodeStatistics, FlattenObservation,
                                 RescaleAction, VecEnv)

__all__ = ["Env", "Adapter", "Wrapper", "EpisodeParams", "make", "list", "register",
           "Suite", "UnknownEnvError", "Box", "Dict", "Discrete", "EpisodeStatistics",
           "FlattenObservation", "ClipAction", "RescaleAction", "VecEnv"]
