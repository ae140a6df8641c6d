"""Final normalised scores over 8 seeds: JAX-CORL's single-file TD3+BC and IQL (trained
seed after seed by ``jaxcorl_offline.py --scores``) beside jaxrl's learner with the same
published settings (``paired.py``'s ``_JAXCORL_*``: 256-wide, their learning rates, Adam
unclipped), trained as one 8-member population, on one recorded dataset and one budget
of gradient steps. Scores only: the step rates are ``paired.py``'s interleaved runs.

    python benchmarks/peers/jaxcorl_scores.py --dataset DATA/medium --steps 10000 \\
        --json benchmarks/results/peers/jaxcorl_scores_pendulum.json
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from paired import _JAXCORL_IQL, _JAXCORL_TD3_BC  # noqa: E402

SETTINGS = {"td3_bc": _JAXCORL_TD3_BC, "implicit_ql": _JAXCORL_IQL}


def iqm_ci(scores):
    """IQM and its 95% CI as a jaxrl run's summary computes them (the same bootstrap for
    both sides)."""
    from jaxrl import stats

    return stats.iqm(np.asarray(scores, np.float64)), list(stats.stratified_bootstrap_ci(scores))


def peer(args, algorithm):
    spec = {"checkout": args.jaxcorl, "algorithm": algorithm, "dataset": args.dataset,
            "max_steps": args.steps, "config": {}, "seeds": args.seeds}
    out = subprocess.run([sys.executable, os.path.join(HERE, "jaxcorl_offline.py"),
                          "--scores", json.dumps(spec)], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    (line,) = [x for x in out.splitlines() if x.startswith("SCORES ")]
    return [r["normalized_score"] for r in json.loads(line[len("SCORES "):])]


def ours(args, algorithm, env):
    from jaxrl.cli import main

    out = os.path.join(args.work, f"jaxrl-{algorithm}")
    if not os.path.exists(os.path.join(out, "summary.json")):
        values = {**SETTINGS[algorithm], "offline_steps": str(args.steps),
                  "offline_steps_per_update": str(args.steps // 10), "dataset": args.dataset,
                  "eval_episodes": "16",
                  # XLA:CPU on several host devices holds memory per loop iteration until
                  # a call returns (cpu_loop_memory.py): ten calls, not one of 10k steps
                  "num_chunks": "10"}
        flags = [f for k, v in values.items() for f in ("--set", f"{k}={v}")]
        assert main(["train", algorithm, "--env", env, "--num-seeds", str(args.seeds),
                     *flags, "--out", out, "--no-progress"]) == 0
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)["final_normalized_score"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="a `jaxrl record` dataset")
    parser.add_argument("--steps", type=int, default=10_000, help="gradient steps")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--learners", default="td3_bc,implicit_ql")
    parser.add_argument("--jaxcorl", default=os.environ.get("JAXCORL", "/work/jax-corl"))
    parser.add_argument("--work", default=None, help="jaxrl's runs (default: a temp dir)")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    args.work = args.work or tempfile.mkdtemp(prefix="jaxcorl-scores-")
    from jaxrl.offline.dataset import read_minari

    env = read_minari(args.dataset).metadata["jaxrl"]["env"]
    results = {"dataset": args.dataset, "env": env, "gradient_steps": args.steps,
               "seeds": args.seeds, "peer": "JAX-CORL @d747dd8", "learners": {}}
    for algorithm in args.learners.split(","):
        row = {}
        for side, scores in (("jaxrl", ours(args, algorithm, env)),
                             ("peer", peer(args, algorithm))):
            iqm, ci = iqm_ci(scores)
            row[side] = {"iqm": iqm, "ci95": ci, "per_seed": scores}
            print(f"{algorithm:12s} {side:6s} IQM {iqm:6.1f} CI [{ci[0]:.1f}, {ci[1]:.1f}]",
                  file=sys.stderr)
        results["learners"][algorithm] = row
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
