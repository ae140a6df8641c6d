"""Functional environments: protocol, spaces, registry, adapters and wrappers."""
from jaxrl.envs.core import Env, Wrapper
from jaxrl.envs.registry import UnknownEnvError, list, make
from jaxrl.envs.spaces import Box, Discrete
from jaxrl.envs.wrappers import (ClipAction, EpisodeStatistics, FlattenObservation,
                                 RescaleAction, VecEnv)

__all__ = ["Env", "Wrapper", "make", "list", "UnknownEnvError", "Box", "Discrete",
           "EpisodeStatistics", "FlattenObservation", "ClipAction", "RescaleAction", "VecEnv"]
