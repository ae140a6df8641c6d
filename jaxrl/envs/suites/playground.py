"""MuJoCo Playground (brax's successor): the dm_control suite in MJX,
``playground/CartpoleBalance`` and its other 24 envs.

Playground's envs, like brax's, have no time limit (its training wrapper adds one and
marks ``info["truncation"]``); jaxrl keeps it (``params.max_steps_in_episode``, the
env config's ``episode_length``, 1,000) and reads ``state.done`` as the termination.
``impl`` picks the MJX backend: ``"jax"`` here (the default; Playground's own default,
warp, needs a GPU). The locomotion and manipulation envs fetch robot models from a
repository when loaded and cannot be built offline. The physics is traced once per
shape (``TracedOnce``) as for brax, and ``reset_mode="first_state"`` reuses the state
drawn at ``reset``.
"""
from __future__ import annotations

import copy
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces
from jaxrl.envs.core import Adapter, EpisodeParams
from jaxrl.envs.suites import Suite, reset_mode_option
from jaxrl.envs.suites.brax import TracedOnce

NAMES = ("AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
         "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
         "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop",
         "HopperStand", "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup",
         "PointMass", "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun",
         "WalkerStand", "WalkerWalk")


def _float_obs(obs):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), obs)


class PlaygroundEnv(Adapter):
    step_uses_key = False  # MJX physics is deterministic: the whole key draws the reset
    keeps_time_limit = True

    def __init__(self, env, episode_length: int, reset_mode: str = "fresh"):
        self.playground_env = env
        self.episode_length = int(episode_length)
        self.reset_mode = reset_mode_option(reset_mode)
        self._reset = TracedOnce(env.reset)
        self._step = TracedOnce(env.step)

    @property
    def default_params(self):
        return EpisodeParams(max_steps_in_episode=self.episode_length)

    def with_params(self, params):
        changed = copy.copy(self)
        changed.episode_length = int(params.max_steps_in_episode)
        return changed

    def reset_env(self, key, params):
        state = self._reset(key)
        return _float_obs(state.obs), state

    def step_env(self, key, state, action, params):
        state = self._step(state, action)
        return (_float_obs(state.obs), state, state.reward, state.done > 0.5,
                jnp.zeros((), bool))

    @functools.cached_property
    def _obs_shapes(self):
        return jax.eval_shape(self._reset, jax.random.PRNGKey(0)).obs

    def observation_space(self, params):
        shapes = self._obs_shapes
        if isinstance(shapes, dict):
            return spaces.Dict({k: spaces.Box(-np.inf, np.inf, v.shape) for k, v in shapes.items()})
        return spaces.Box(-np.inf, np.inf, shapes.shape)

    def action_space(self, params):
        return spaces.Box(-1.0, 1.0, (int(self.playground_env.action_size),))


def _make(name, impl: str = "jax", reset_mode: str = "fresh"):
    from mujoco_playground import registry

    config = registry.get_default_config(name)
    env = registry.load(name, config_overrides={"impl": impl})
    adapted = PlaygroundEnv(env, int(config.episode_length), reset_mode)
    return adapted, adapted.default_params


# mujoco_playground 0.2's own lists (importing it takes ~10 s: `jaxrl envs` lists these
# without it). Each fetches robot models from a repository when loaded.
LOCOMOTION = ("ApolloJoystickFlatTerrain", "BarkourJoystick",
              "BerkeleyHumanoidJoystickFlatTerrain", "BerkeleyHumanoidJoystickRoughTerrain",
              "G1JoystickFlatTerrain", "G1JoystickRoughTerrain", "Go1JoystickFlatTerrain",
              "Go1JoystickRoughTerrain", "Go1Getup", "Go1Handstand", "Go1Footstand",
              "H1InplaceGaitTracking", "H1JoystickGaitTracking", "Op3Joystick",
              "SpotFlatTerrainJoystick", "SpotGetup", "SpotJoystickGaitTracking",
              "T1JoystickFlatTerrain", "T1JoystickRoughTerrain")
MANIPULATION = ("AlohaHandOver", "AlohaSinglePegInsertion", "PandaPickCube",
                "PandaPickCubeOrientation", "PandaPickCubeCartesian", "PandaOpenCabinet",
                "PandaRobotiqPushCube", "LeapCubeReorient", "LeapCubeRotateZAxis",
                "AeroCubeRotateZAxis")
_DOWNLOADS = "it fetches robot models from a repository when loaded, which needs a network"


SUITE = Suite(
    prefix="playground", module="mujoco_playground", extra="playground",
    names=lambda: (*NAMES, *LOCOMOTION, *MANIPULATION),
    make=_make, param_kinds=lambda name: {"max_steps_in_episode": int},
    options={"impl": str, "reset_mode": str},
    refused={name: _DOWNLOADS for name in (*LOCOMOTION, *MANIPULATION)},
    time_limit="no time limit in the envs (the training wrapper adds one); jaxrl keeps "
               "params.max_steps_in_episode = the config's episode_length (1,000)",
    description="dm_control suite in MJX (locomotion and manipulation need downloads)",
)
