"""A custom environment, trained by name: `jaxrl train ppo --env corridor:make`."""
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.envs import Adapter, Box, Discrete


@struct.dataclass
class Params:  # every field is an env parameter: --env-set length=12
    length: int = 8                  # the goal is at the corridor's end
    max_steps_in_episode: int = 50   # jaxrl's time limit truncates here


class Corridor(Adapter):
    """Walk right to the end of a corridor; every step costs 0.01."""

    keeps_time_limit = True  # the shared episode end adds the time limit and the resets

    def reset_env(self, key, params):
        position = jax.random.randint(key, (), 0, params.length // 2)
        return self.observe(position, params), position

    def step_env(self, key, position, action, params):
        position = jnp.clip(position + 2 * action - 1, 0, params.length)
        at_goal = position == params.length  # terminated: the episode's natural end
        return self.observe(position, params), position, jnp.where(at_goal, 1.0, -0.01), \
            at_goal, False

    def observe(self, position, params):
        return jnp.array([position / params.length], jnp.float32)

    def observation_space(self, params):
        return Box(0.0, 1.0, (1,))

    def action_space(self, params):
        return Discrete(2)

    def render_env(self, position, params):  # optional: `jaxrl eval RUN --video ep.gif`
        frame = np.full((16, 16 * (int(params.length) + 1), 3), 255, np.uint8)
        frame[:, -16:] = (90, 200, 90)  # the goal
        x = 16 * int(position)
        frame[4:12, x + 4:x + 12] = (40, 40, 200)  # the walker
        return frame


def make():
    return Corridor(), Params()
