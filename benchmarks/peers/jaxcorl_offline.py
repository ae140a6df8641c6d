"""JAX-CORL's single-file TD3+BC and IQL (nissymori/JAX-CORL ``algos/td3bc.py`` and
``algos/iql.py`` at d747dd8) as paired-timing workers for ``paired.py jaxcorl-td3_bc`` /
``jaxcorl-implicit_ql``, on a dataset ``jaxrl record`` wrote.

The scripts are imported from a checkout, unmodified:

    git clone https://github.com/nissymori/JAX-CORL /work/jax-corl
    git -C /work/jax-corl checkout d747dd8   # the commit measured

Only their data loading is adapted. ``d4rl.qlearning_dataset`` (which they call) returns
the recorded dataset's transitions, with the actions scaled into D4RL's ``[-1, 1]``; their
own ``get_dataset`` then does what it does to D4RL's (action clipping, dones imputed from
episode ends, normalisation, shuffling). ``gym``, ``d4rl`` and ``omegaconf`` are stand-ins:
their configuration comes from ``--serve``'s JSON instead of the command line. Their
``update_n_times`` is jitted as their ``__main__`` jits it and called in the same Python
loop (``max_steps / n_jitted_updates`` calls), without their evaluation and logging.
After the last timed run their final policy is scored in jaxrl's env (the mean action:
IQL at temperature 0, as their evaluation), observations normalised as theirs are.

``--scores '<json>'`` trains several seeds one after another and scores each final policy
(``jaxcorl_scores.py`` sets it beside jaxrl's population of the same seeds).

``--serve '<json>'`` compiles once, prints ``READY``, then times one whole training run
per ``run`` line on stdin (``rows.serve_compiled``'s protocol); steps are gradient steps.
"""
import importlib.util
import json
import os
import sys
import time
import types

from rows import RESULT

SCRIPTS = {"td3_bc": ("td3bc", "TD3BC", "create_td3bc_train_state"),
           "implicit_ql": ("iql", "IQL", "create_iql_train_state")}


def _stand_ins(dataset_dir: str, config: dict):
    """d4rl, gym and omegaconf as the scripts use them, reading the recorded dataset."""
    import numpy as np

    from jaxrl.offline.dataset import read_minari

    data = read_minari(dataset_dir)
    t = data.transitions
    low, high = _action_bounds(dataset_dir)

    def qlearning_dataset(env):
        scale = lambda a: 2.0 * (np.asarray(a, np.float32) - low) / (high - low) - 1.0  # noqa
        return {"observations": np.asarray(t.obs, np.float32),
                "actions": scale(t.action),
                "next_observations": np.asarray(t.next_obs, np.float32),
                "rewards": np.asarray(t.reward, np.float32),
                "terminals": np.asarray(t.terminated, np.float32)}

    d4rl = types.ModuleType("d4rl")
    d4rl.qlearning_dataset = qlearning_dataset
    gym = types.ModuleType("gym")
    gym.Env = object
    gym.make = lambda name: types.SimpleNamespace(name=name)
    omegaconf = types.ModuleType("omegaconf")
    omegaconf.OmegaConf = types.SimpleNamespace(from_cli=lambda: dict(config))
    sys.modules.update({"d4rl": d4rl, "gym": gym, "omegaconf": omegaconf})
    return data, low, high


def _action_bounds(dataset_dir: str):
    import numpy as np
    from minari.dataset.minari_storage import MinariStorage

    from jaxrl.offline.dataset import data_path

    space = MinariStorage.read(os.path.abspath(data_path(dataset_dir))).action_space
    return np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)


def load(checkout: str, algorithm: str, dataset_dir: str, config: dict):
    script, _, _ = SCRIPTS[algorithm]
    data, low, high = _stand_ins(dataset_dir, config)
    xla_flags = os.environ.get("XLA_FLAGS")
    spec = importlib.util.spec_from_file_location(f"jaxcorl_{script}",
                                                  os.path.join(checkout, "algos",
                                                               f"{script}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if xla_flags is None:  # their GPU-only flag, set at import: nothing for XLA:CPU
        os.environ.pop("XLA_FLAGS", None)
    else:
        os.environ["XLA_FLAGS"] = xla_flags
    return module, data, low, high


class Script:
    """One of their scripts, loaded on the recorded dataset: its config, transitions and
    normalisation, its jitted ``update_n_times``; ``fresh``, ``train`` and ``score`` are
    their ``__main__``'s steps (minus evaluation and logging)."""

    def __init__(self, checkout: str, algorithm: str, dataset: str, config: dict):
        import jax

        self.module, self.data, self.low, self.high = load(checkout, algorithm, dataset,
                                                           config)
        _, algo_name, create_name = SCRIPTS[algorithm]
        self.algorithm, self.cfg = algorithm, self.module.config
        env = self.module.gym.make(self.data.metadata["jaxrl"]["env"])
        self.transitions, self.obs_mean, self.obs_std = self.module.get_dataset(env, self.cfg)
        self.example = jax.tree_util.tree_map(lambda x: x[0], self.transitions)
        self.create = getattr(self.module, create_name)
        self.algo = getattr(self.module, algo_name)()
        self.update_fn = jax.jit(self.algo.update_n_times, static_argnums=(3,))
        self.calls = self.cfg.max_steps // self.cfg.n_jitted_updates

    def fresh(self, key):
        return self.create(key, self.example.observations, self.example.actions, self.cfg)

    def train(self, state, key):
        """``max_steps`` gradient steps, ``n_jitted_updates`` per call."""
        import jax

        for _ in range(self.calls):
            key, sub = jax.random.split(key)
            state, _ = self.update_fn(state, self.transitions, sub, self.cfg)
        return jax.block_until_ready(state)

    def score(self, state, episodes: int) -> dict:
        return _score(self.module, self.algo, state, self.data, self.obs_mean, self.obs_std,
                      self.low, self.high, self.algorithm, episodes)


def serve(checkout: str, algorithm: str, dataset: str, max_steps: int, config: dict,
          seed: int = 0, eval_episodes: int = 16) -> None:
    import jax

    start = time.perf_counter()
    script = Script(checkout, algorithm, dataset, {**config, "max_steps": max_steps,
                                                   "seed": seed})
    rng = jax.random.PRNGKey(script.cfg.seed)
    fresh = lambda: script.fresh(jax.random.split(rng)[1])  # noqa: E731
    jax.block_until_ready(script.update_fn(fresh(), script.transitions, rng,
                                           script.cfg))  # compile
    steps = script.calls * script.cfg.n_jitted_updates
    print("READY " + json.dumps({"compile_seconds": time.perf_counter() - start,
                                 "env_steps": steps, "unit": "gradient",
                                 "device_count": 1}), flush=True)
    state = None
    for line in sys.stdin:
        if line.strip() != "run":
            break
        begin = time.perf_counter()
        state = script.train(fresh(), rng)
        seconds = time.perf_counter() - begin
        print(RESULT + json.dumps({"train_seconds": seconds,
                                   "env_steps_per_second": steps / seconds,
                                   "load_average_1min": os.getloadavg()[0]}), flush=True)
    if state is not None:
        print("SCORE " + json.dumps(script.score(state, eval_episodes)), flush=True)


def scores(checkout: str, algorithm: str, dataset: str, max_steps: int, config: dict,
           seeds: int = 8, eval_episodes: int = 16) -> None:
    """Their script trained on ``seeds`` seeds one after another (one compile; their
    ``__main__``'s loop per seed, the seed its only change), each final policy scored;
    prints ``SCORES`` and the per-seed JSON."""
    import jax

    script = Script(checkout, algorithm, dataset, {**config, "max_steps": max_steps,
                                                   "seed": 0})
    rows = []
    for seed in range(seeds):
        key, sub = jax.random.split(jax.random.PRNGKey(seed))
        state = script.train(script.fresh(sub), key)
        rows.append({"seed": seed, **script.score(state, eval_episodes)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("SCORES " + json.dumps(rows), flush=True)


def _score(module, algo, state, data, obs_mean, obs_std, low, high, algorithm, episodes):
    """Their final policy's mean action in jaxrl's env, scored as jaxrl scores its own."""
    import jax
    import jax.numpy as jnp

    import jaxrl.envs
    from jaxrl.components.rollout import observation_env
    from jaxrl.evaluation import evaluate

    env, params = jaxrl.envs.make(data.metadata["jaxrl"]["env"])
    env = observation_env(env, params)
    eps = 1e-5 if algorithm == "implicit_ql" else 0.0  # each script's own normalisation

    def act(obs):
        obs = (obs - obs_mean) / (obs_std + eps)
        if algorithm == "implicit_ql":
            action = algo.get_action(state, obs, jax.random.PRNGKey(0), temperature=0.0)
        else:
            action = algo.get_action(state, obs)
        return low + (jnp.clip(action, -1.0, 1.0) + 1.0) * 0.5 * (high - low)

    returns = jax.jit(lambda key: evaluate(env, params, act, key, episodes))(
        jax.random.PRNGKey(12345))
    mean = float(returns.mean())
    score = data.normalized_score(mean)
    return {"return_mean": mean, "normalized_score": None if score is None else float(score)}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", help="JSON: serve()'s arguments")
    parser.add_argument("--scores", help="JSON: scores()'s arguments")
    args = parser.parse_args()
    if args.scores:
        scores(**json.loads(args.scores))
    else:
        serve(**json.loads(args.serve))
