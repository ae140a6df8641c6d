"""JaxMARL's own IPPO and MAPPO baselines (``baselines/IPPO/ippo_ff_mpe.py`` and
``baselines/MAPPO/mappo_rnn_mpe.py`` of FLAIROx/JaxMARL) as paired-timing workers for
``paired.py jaxmarl-ippo`` / ``jaxmarl-rmappo``: each script's ``make_train`` at its
published MPE simple_spread configuration (its yaml, below), only the budget and the
number of seeds (vmapped, as its ``main`` vmaps ``train``) set here.

The scripts are imported from a checkout, unmodified:

    git clone https://github.com/FLAIROx/JaxMARL /work/jaxmarl
    git -C /work/jaxmarl checkout c793d09   # the commit measured

They import hydra and omegaconf for their ``main`` only; where those are not installed
(jaxrl's venv) the worker puts in a decorator that does nothing and an empty
``OmegaConf``. Their ``train`` logs every update through ``wandb.log`` (an
``io_callback``), as published; wandb is started disabled, as their yaml's
``WANDB_MODE`` has it. Their orthogonal initialisers, vmapped over seeds, are batched
LAPACK QR calls, which never return under JAX 0.10.x on CPU
(``jaxrl/networks/initializers.py``, ``benchmarks/repro/jax_0_10_lapack_qr_hang.py``):
the worker gives them jaxrl's ``orthogonal``, which factorises one matrix at a time
there and gives bitwise the same values, as the recurrent kernel of flax's ``GRUCell``
too (MAPPO's ``ScannedRNN``).

``--serve '<json>'`` compiles once, prints ``READY``, then times one whole training run
per ``run`` line on stdin, like ``python -m jaxrl.bench --serve``.
"""
import json
import os
import sys
import time
import types

from rows import serve_compiled, serve_main

# the yaml of each script at c793d09 (seeds and wandb fields aside)
CONFIGS = {
    "ippo_ff_mpe": ("IPPO", {
        "LR": 2.5e-4, "NUM_ENVS": 16, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 1e7,
        "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95,
        "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5,
        "ACTIVATION": "tanh", "ENV_NAME": "MPE_simple_spread_v3", "ENV_KWARGS": {},
        "ANNEAL_LR": True}),
    "mappo_rnn_mpe": ("MAPPO", {
        "LR": 2e-3, "NUM_ENVS": 16, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 1e7,
        "FC_DIM_SIZE": 128, "GRU_HIDDEN_DIM": 128, "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4,
        "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "SCALE_CLIP_EPS": False,
        "ENT_COEF": 0.01, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh",
        "ENV_NAME": "MPE_simple_spread_v3", "ENV_KWARGS": {}, "ANNEAL_LR": True}),
}


def load(checkout: str, script: str):
    """The script's module, and its config at ``TOTAL_TIMESTEPS`` still to set."""
    for name in ("hydra", "omegaconf"):
        try:
            __import__(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.main = lambda **kwargs: (lambda fn: fn)
            stub.OmegaConf = types.SimpleNamespace(to_container=lambda c: c)
            sys.modules[name] = stub
    import flax.linen as nn
    import wandb

    from jaxrl.networks.initializers import orthogonal

    class GRUCell(nn.GRUCell):  # flax's default recurrent init, one QR at a time
        recurrent_kernel_init: object = orthogonal()

    nn.GRUCell = GRUCell

    wandb.init(mode="disabled")
    folder, config = CONFIGS[script]
    sys.path.insert(0, os.path.join(os.path.abspath(checkout), "baselines", folder))
    module = __import__(script)
    module.orthogonal = orthogonal  # the name its networks call (a from-import)
    return module, dict(config)


def serve(checkout: str, script: str, members: int, total_timesteps: int) -> None:
    module, config = load(checkout, script)
    import jax

    config["TOTAL_TIMESTEPS"] = total_timesteps
    start = time.perf_counter()
    train = jax.jit(jax.vmap(module.make_train(config)))  # make_train sets NUM_UPDATES
    rngs = jax.random.split(jax.random.PRNGKey(30), members)
    compiled = train.lower(rngs).compile()
    serve_compiled(lambda: compiled(rngs),
                   members * config["NUM_UPDATES"] * config["NUM_ENVS"] * config["NUM_STEPS"],
                   time.perf_counter() - start)


def final_returns(checkout: str, script: str, members: int, total_timesteps: int,
                  last: int = 10) -> None:
    """Prints each seed's mean training return over the last ``last`` updates
    (``--returns '<json>'``): the scripts' own ``returned_episode_returns`` (each env's
    last completed episode, per agent, averaged over agents, steps and envs), divided by
    the number of agents (their ``MPELogWrapper`` logs each agent's reward times the
    number of agents), which makes it the measure of jaxrl's ``final_train_return``: the
    team's return, the mean of its agents' rewards."""
    module, config = load(checkout, script)
    import jax
    import numpy as np

    config["TOTAL_TIMESTEPS"] = total_timesteps
    out = jax.jit(jax.vmap(module.make_train(config)))(
        jax.random.split(jax.random.PRNGKey(30), members))
    import jaxmarl

    agents = jaxmarl.make(config["ENV_NAME"], **config["ENV_KWARGS"]).num_agents
    returns = np.asarray(out["metrics"]["returned_episode_returns"]) / agents
    per_update = returns.reshape(members, returns.shape[1], -1).mean(-1)
    print(json.dumps({"final_train_return": per_update[:, -last:].mean(-1).tolist()}))


if __name__ == "__main__":
    if "--returns" in sys.argv:
        final_returns(**json.loads(sys.argv[sys.argv.index("--returns") + 1]))
    else:
        serve_main(serve, __doc__)
