"""PureJaxRL's recurrent PPO (``purejaxrl/ppo_rnn.py`` of luchris429/purejaxrl) as a
paired-timing worker for ``paired.py purejaxrl-rppo``: its ``make_train`` at its
published CartPole settings (4 envs x 128 steps, 4 epochs x 4 minibatches of whole
rollouts, Dense(128) relu -> GRU(128) -> 128-wide relu heads, lr 2.5e-4 annealed), only
the budget and the number of seeds (vmapped, as its README vmaps ``train``) set here.
The script is imported from a checkout, unmodified. It was written for flax < 0.7 and
gymnax < 1.0, so two APIs are put back as it expects them, for it alone
(``old_apis``): flax's ``GRUCell`` took its width from the carry and had a static
``initialize_carry(key, batch_dims, size)``; gymnax's ``step`` returned one ``done``
(terminated or truncated) where 1.0 returns both.

    git clone https://github.com/luchris429/purejaxrl /work/purejaxrl
    git -C /work/purejaxrl checkout 31756b1   # the commit measured

It runs in jaxrl's venv (gymnax, distrax, brax and navix, which its wrappers import, are
there). ``--serve '<json>'`` compiles once, prints ``READY``, then times one whole
training run per ``run`` line on stdin, like ``python -m jaxrl.bench --serve``.
"""
import json
import os
import sys
import time

from rows import serve_compiled, serve_main

# ppo_rnn.py's __main__ config at 31756b1 (DEBUG off: it prints every episode)
DEFAULTS = {
    "LR": 2.5e-4, "NUM_ENVS": 4, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 5e5,
    "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5,
    "ENV_NAME": "CartPole-v1", "ANNEAL_LR": True, "DEBUG": False,
}


def old_apis() -> None:
    """flax's GRUCell and gymnax's step as ppo_rnn.py calls them: the cell 128 wide (its
    hidden size) with a zero carry from ``initialize_carry(key, batch_dims, size)`` on
    the class; the env's step returning ``(obs, state, reward, done, info)``."""
    import flax.linen as nn
    import gymnax
    import jax.numpy as jnp

    class GRUCell(nn.GRUCell):
        features: int = 128

        @staticmethod
        def initialize_carry(key, batch_dims, size):
            return jnp.zeros(tuple(batch_dims) + (size,))

    class OneDone:
        def __init__(self, env):
            self._env = env

        def __getattr__(self, name):
            return getattr(self._env, name)

        def step(self, key, state, action, params=None):
            obs, state, reward, terminated, truncated, info = self._env.step(
                key, state, action, params)
            return obs, state, reward, terminated | truncated, info

    make = gymnax.make
    nn.GRUCell = GRUCell
    gymnax.make = lambda *args, **kwargs: (lambda env, params: (OneDone(env), params))(
        *make(*args, **kwargs))


def serve(checkout: str, members: int, total_timesteps: int) -> None:
    sys.path.insert(0, os.path.join(os.path.abspath(checkout), "purejaxrl"))
    import jax

    old_apis()
    import ppo_rnn  # purejaxrl/ppo_rnn.py

    config = {**DEFAULTS, "TOTAL_TIMESTEPS": total_timesteps}
    start = time.perf_counter()
    train = jax.jit(jax.vmap(ppo_rnn.make_train(config)))
    rngs = jax.random.split(jax.random.PRNGKey(30), members)
    compiled = train.lower(rngs).compile()
    serve_compiled(lambda: compiled(rngs),
                   members * config["NUM_UPDATES"] * config["NUM_ENVS"] * config["NUM_STEPS"],
                   time.perf_counter() - start)


def final_returns(checkout: str, members: int, total_timesteps: int, last: int = 10) -> None:
    """Prints each seed's mean return of the training episodes completed in the last
    ``last`` updates (``--returns '<json>'``): the measure to set beside jaxrl's
    ``final_train_return``."""
    sys.path.insert(0, os.path.join(os.path.abspath(checkout), "purejaxrl"))
    import jax
    import numpy as np

    old_apis()
    import ppo_rnn

    config = {**DEFAULTS, "TOTAL_TIMESTEPS": total_timesteps}
    out = jax.jit(jax.vmap(ppo_rnn.make_train(config)))(
        jax.random.split(jax.random.PRNGKey(30), members))
    info = jax.tree.map(np.asarray, out["metric"])  # [members, updates, steps, envs]
    done = info["returned_episode"][:, -last:]
    returns = info["returned_episode_returns"][:, -last:]
    print(json.dumps({"final_train_return": [float(r[d].mean()) for r, d in
                                             zip(returns, done)]}))


if __name__ == "__main__":
    if "--returns" in sys.argv:
        final_returns(**json.loads(sys.argv[sys.argv.index("--returns") + 1]))
    else:
        serve_main(serve, __doc__)
