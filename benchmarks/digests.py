"""Digests of final results for fixed small configurations: the check that a refactor
changed no number.

For every registered learner form (``registry.smoke_cases``, plus PPO under each policy
objective) a two-member population (seeds 3 and 7, the second at twice the learning
rate) trains through the runner, and the SHA-256 of its final carry (every member's
whole learner state, alive flags, counters) is recorded; so is a tiny PBT run's history
and a tiny ES run's fitness curve. Take the digests before a change and after it, on one
machine and one device count, and compare:

    python benchmarks/digests.py --json before.json
    ...change...
    python benchmarks/digests.py --json after.json --compare before.json

Bitwise claims hold for the same population layout and device count (XLA batches
differently with another number of members per device).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile


def _digest_json(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def learner_digests() -> dict:
    import jaxrl.envs
    from jaxrl import registry
    from jaxrl.checkpoint import tree_digest
    from jaxrl.experiment import make_experiment
    from jaxrl.population import Population
    from jaxrl.runner import RunConfig, train

    cases = [(name, env, {}) for name, env in registry.smoke_cases()]
    cases += [("ppo", "CartPole-v1", {"policy_objective": objective})
              for objective in ("mdpo", "dpo", "lpo")]
    out = {}
    for name, env_id, extra in cases:
        entry = registry.get(name)
        exp = make_experiment(name, env_id, {**entry.smoke, **extra, "num_chunks": 2,
                                             "eval_episodes": 2}, {})
        env, params = jaxrl.envs.make(exp.env)
        algo = entry.make(env, params, exp.config)
        hp = exp.hparams
        population = Population.from_configs(
            [hp, hp.replace(learning_rate=hp.learning_rate * 2)], seeds=[3, 7])
        result = train(algo, population, RunConfig(num_chunks=2, eval_episodes=2),
                       progress=False)
        label = f"{name}@{env_id}" + "".join(f" {k}={v}" for k, v in extra.items())
        out[label] = {"carry": tree_digest(result.carry),
                      "final_eval_return": result.summary["final_eval_return"]}
        print(label, out[label]["carry"][:16], file=sys.stderr)
    return out


def pbt_digest() -> dict:
    from jaxrl.sweep.pbt import PBTSpec, run_pbt

    spec = PBTSpec("ppo", "CartPole-v1",
                   space={"learning_rate": {"distribution": "log_uniform_values",
                                            "min": 1e-4, "max": 1e-2}},
                   base_values={"total_timesteps": 2048, "num_envs": 4, "num_steps": 16,
                                "num_minibatches": 2, "num_epochs": 1, "eval_episodes": 2},
                   population=4, ready_interval=8, fraction=0.25)
    with tempfile.TemporaryDirectory() as out:
        result = run_pbt(spec, out + "/pbt", progress=False)
    history = [{k: r[k] for k in ("chunk", "eval_return", "hparams", "parent")}
               for r in result.history]
    return {"history": _digest_json(history), "final": result.summary["final_eval_return"]}


def es_digest() -> dict:
    import jax.numpy as jnp

    from jaxrl.meta import Task, meta_train

    task = Task("quadratic", lambda p, k: -jnp.sum((p["w"] - 1.0) ** 2))
    with tempfile.TemporaryDirectory() as out:
        result = meta_train([task], {"w": jnp.zeros(3)}, popsize=8, generations=4,
                            out=out + "/es", progress=False)
    curve = [{k: r[k] for k in ("generation", "fitness_mean", "fitness_max")}
             for r in result.curve]
    return {"curve": _digest_json(curve),
            "mean_params": _digest_json({k: v.tolist() for k, v in result.mean_params.items()})}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="write the digests here")
    parser.add_argument("--compare", help="digests taken before: exit 1 on any difference")
    args = parser.parse_args(argv)
    from jaxrl import platform

    if hasattr(platform, "configure"):  # digests taken before it existed patched on import
        platform.configure()
    digests = {"learners": learner_digests(), "pbt": pbt_digest(), "es": es_digest()}
    with open(args.json, "w") as f:
        json.dump(digests, f, indent=2)
    if args.compare:
        with open(args.compare) as f:
            before = json.load(f)
        differ = [f"{part}/{k}" for part in digests for k in digests[part]
                  if before.get(part, {}).get(k) != digests[part][k]]
        print("equal" if not differ else "differ: " + ", ".join(differ))
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
