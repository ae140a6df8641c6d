"""Craftax's own PPO baseline (``ppo.py`` of MichaelTMatthews/Craftax_Baselines) as a
paired-timing worker for ``paired.py craftax-ppo``: its ``make_train`` at its published
defaults (3 x 512 tanh actor and critic, 64 steps per update, 4 epochs x 8 minibatches,
lr 2e-4 annealed, optimistic resets, one fresh reset per 16 envs), only the env count,
the budget and the number of seeds (its ``NUM_REPEATS``, vmapped as its ``run_ppo``
does) set here. The script is imported from a checkout, unmodified:

    git clone https://github.com/MichaelTMatthews/Craftax_Baselines /work/craftax-baselines
    git -C /work/craftax-baselines checkout 7ce36fa   # the commit measured

It runs in jaxrl's venv (craftax, wandb and orbax are there; wandb is off). ``--serve
'<json>'`` compiles once, prints ``READY``, then times one whole training run per
``run`` line on stdin, like ``python -m jaxrl.bench --serve``.
"""
import os
import sys
import time

from rows import serve_compiled, serve_main

# Craftax_Baselines ppo.py's argparse defaults at 7ce36fa, in the upper-case keys its
# run_ppo hands make_train (exploration bonuses off, as in its default run).
DEFAULTS = {
    "ENV_NAME": "Craftax-Symbolic-v1", "NUM_ENVS": 1024, "TOTAL_TIMESTEPS": int(1e9),
    "LR": 2e-4, "NUM_STEPS": 64, "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 8, "GAMMA": 0.99,
    "GAE_LAMBDA": 0.8, "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 1.0, "ACTIVATION": "tanh", "ANNEAL_LR": True, "DEBUG": False,
    "JIT": True, "SEED": 0, "USE_WANDB": False, "SAVE_POLICY": False, "NUM_REPEATS": 1,
    "LAYER_SIZE": 512, "WANDB_PROJECT": None, "WANDB_ENTITY": None,
    "USE_OPTIMISTIC_RESETS": True, "OPTIMISTIC_RESET_RATIO": 16,
    "EXPLORATION_UPDATE_EPOCHS": 4, "ICM_REWARD_COEFF": 1.0, "TRAIN_ICM": False,
    "ICM_LR": 3e-4, "ICM_FORWARD_LOSS_COEF": 1.0, "ICM_INVERSE_LOSS_COEF": 1.0,
    "ICM_LAYER_SIZE": 256, "ICM_LATENT_SIZE": 32, "E3B_REWARD_COEFF": 1.0, "USE_E3B": False,
    "E3B_LAMBDA": 0.1,
}


def serve(baselines: str, env_name: str, num_envs: int, members: int,
          total_timesteps: int) -> None:
    sys.path.insert(0, os.path.abspath(baselines))
    import jax
    import ppo  # Craftax_Baselines/ppo.py

    config = {**DEFAULTS, "ENV_NAME": env_name, "NUM_ENVS": num_envs,
              "TOTAL_TIMESTEPS": total_timesteps, "NUM_REPEATS": members}
    start = time.perf_counter()
    train = jax.jit(jax.vmap(ppo.make_train(config)))  # its run_ppo: vmap(jit(train))
    rngs = jax.random.split(jax.random.PRNGKey(config["SEED"]), members)
    compiled = train.lower(rngs).compile()
    serve_compiled(lambda: compiled(rngs),
                   members * config["NUM_UPDATES"] * num_envs * config["NUM_STEPS"],
                   time.perf_counter() - start)


if __name__ == "__main__":
    serve_main(serve, __doc__)
