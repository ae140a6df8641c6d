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

from jaxrl.envs.suites import Suite
from jaxrl.envs.suites.brax import PhysicsEnv

NAMES = ("AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
         "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
         "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop",
         "HopperStand", "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup",
         "PointMass", "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun",
         "WalkerStand", "WalkerWalk")


class PlaygroundEnv(PhysicsEnv):
    def __init__(self, env, episode_length: int, reset_mode: str = "fresh"):
        self.playground_env = env
        super().__init__(env.reset, env.step, env.action_size, episode_length, reset_mode)


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
