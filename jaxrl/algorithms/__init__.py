"""Learners, one module each (``Config``, ``HParams``, ``make``), registered by name."""
from jaxrl.registry import register

register("ppo", "jaxrl.algorithms.ppo",
         "Proximal Policy Optimisation (clipped surrogate, GAE; discrete and continuous)",
         smoke_env="CartPole-v1",
         smoke_values={"total_timesteps": 512, "num_envs": 4, "num_steps": 16,
                       "num_minibatches": 2, "num_epochs": 2})
