"""Offline RL on datasets recorded from jaxrl's own agents, D4RL's recipe: a SAC agent
trained online; its final policy is the expert, an earlier checkpoint the medium policy;
"medium" holds the medium policy's episodes, "medium-replay" the replay buffer that
trained it. Offline learners train on each over 8 seeds and are scored online, in
normalised scores (0 = a uniform random policy, 100 = the expert); then IQL trained
offline is fine-tuned online (``run.init_from``) on medium.

    python benchmarks/offline_learning.py --env Pendulum-v1 \
        --json benchmarks/results/offline_pendulum.json

Every step is a `jaxrl` command's library call (train, record); the work directory keeps
the runs and datasets (``--work``), and a step whose output exists is not redone.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

# per env: the recorder's SAC settings, the medium checkpoint's target normalised score,
# the offline learners' shared settings and their own, the fine-tuning budget
SETUPS = {
    "Pendulum-v1": {
        "recorder": {"total_timesteps": 12_000, "num_chunks": 24, "eval_interval": 1,
                     "checkpoint_interval": 1, "keep_checkpoints": 30},
        "medium_score": 50.0,
        "episodes": 100,
        # D4RL recorded its agents' stochastic policies; jaxrl's policies act greedily,
        # so the medium dataset adds Gaussian noise of 0.2 half-ranges to their actions
        "noise": 0.2,
        # 64-wide networks: Pendulum needs no more, and 2 CPU cores run 256-wide ones at
        # about 1,100 BC gradient steps/s over 8 members
        "offline": {"offline_steps": 10_000, "offline_steps_per_update": 500, "num_chunks": 4,
                    "eval_interval": 1, "batch_size": 256, "hidden_sizes": (64, 64),
                    "eval_episodes": 16},
        "learners": {"bc": {}, "td3_bc": {}, "implicit_ql": {}, "cql": {}, "rebrac": {}},
        # offline model selection: TD3+BC's alpha (its paper fixes 2.5 everywhere) per
        # dataset, by a grid sweep on tuning seeds, the best retrained on fresh test seeds
        "select": {"td3_bc": {"alpha": [1.0, 2.5, 10.0, 40.0]}},
        # fine-tuning with IQL's online values (its paper's AntMaze settings: expectile 0.9,
        # temperature 10), a quarter of each batch from the dataset
        "finetune": {"total_timesteps": 20_000, "gradient_steps": 1, "num_chunks": 5,
                     "eval_interval": 1, "dataset_ratio": 0.25, "batch_size": 256,
                     "hidden_sizes": (64, 64), "eval_episodes": 16, "expectile": 0.9,
                     "temperature": 10.0},
    },
}
# brax's inverted pendulum (MuJoCo physics on JAX): episodes of up to 1,000 steps, ended
# when the pole falls; SAC solves it in about 20k steps. CQL is left out here for CPU time
# (its 30 proposal actions per state make it ~15x IQL's cost per gradient step).
SETUPS["brax/inverted_pendulum"] = {
    "recorder": {"total_timesteps": 20_000, "num_chunks": 20, "eval_interval": 1,
                 "checkpoint_interval": 1, "keep_checkpoints": 30, "eval_episodes": 8},
    "medium_score": 50.0,
    "episodes": 50,
    "noise": 0.2,
    # 50k gradient steps: at 10k the critics' values were still climbing (TD3+BC's mean Q
    # 11 of the ~100 a balancing policy earns) and IQL scored 15 on medium-replay; at 50k, 100
    "offline": {**SETUPS["Pendulum-v1"]["offline"], "eval_episodes": 8, "offline_steps": 50_000,
                "offline_steps_per_update": 2_500, "num_chunks": 5},
    "learners": {"bc": {}, "td3_bc": {}, "implicit_ql": {}},
    # the learning rate too: at TD3+BC's 3e-4 it stayed below the medium policy on
    # medium whatever alpha, in 50k steps (JAX-CORL's scripts use 1e-3)
    "select": {"td3_bc": {"alpha": [1.0, 2.5, 10.0, 40.0], "learning_rate": [3e-4, 1e-3]}},
    "finetune": {**SETUPS["Pendulum-v1"]["finetune"], "eval_episodes": 8},
}
SEEDS = 8
TUNING_SEEDS = 4  # per configuration of a selection sweep; its test seeds are SEEDS more


def run_dir(work, name):
    return os.path.join(work, name)


def train(algorithm, env, values, out, num_seeds, seed=0):
    """`jaxrl train` as a library call; skipped where ``out`` holds a finished run."""
    from jaxrl.experiment import make_experiment
    from jaxrl.runner import train as run_train

    summary = os.path.join(out, "summary.json")
    if os.path.exists(summary):
        return json.load(open(summary))
    exp = make_experiment(algorithm, env, values, {}, num_seeds=num_seeds, seed=seed)
    algo, population = exp.build()
    start = time.perf_counter()
    from jaxrl.warm_start import warm_start_from

    init_from = exp.run_config.init_from
    result = run_train(algo, population, exp.run_config, run_dir=out, progress=False,
                       config_record=exp.record(),
                       start=warm_start_from(init_from) if init_from else None)
    print(f"{algorithm} -> {out}: {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return result.summary


def record(args_list):
    from jaxrl.cli import main

    out = args_list[args_list.index("--out") + 1]
    if not os.path.exists(os.path.join(out, "data", "metadata.json")):
        assert main(["record", *args_list]) == 0
    from jaxrl.offline.dataset import read_minari

    return read_minari(out)


def select(algorithm, env, values, grid, out):
    """`jaxrl sweep` over ``grid`` (a full product), ``TUNING_SEEDS`` per configuration;
    the best is retrained on ``SEEDS`` test seeds no tuning run used. Its summary says
    what the selection spent online (``online_evaluation_episodes``)."""
    from jaxrl.cli import main as cli

    summary = os.path.join(out, "summary.json")
    if not os.path.exists(summary):
        space = os.path.join(os.path.dirname(out), os.path.basename(out) + "-space.json")
        with open(space, "w") as f:
            json.dump({"method": "grid",
                       "parameters": {k: {"values": v} for k, v in grid.items()}}, f)
        flags = [f for k, v in values.items() for f in
                 ("--set", f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}")]
        assert cli(["sweep", algorithm, "--env", env, "--space", space, *flags,
                    "--seeds-per-config", str(TUNING_SEEDS), "--test-seeds", str(SEEDS),
                    "--out", out, "--no-progress"]) == 0
    return json.load(open(summary))


def medium_checkpoint(recorder_dir, ref_min, ref_max, target):
    """The checkpoint (chunks done) whose evaluation's normalised score is closest to
    ``target`` (D4RL's medium policies score about a third to a half of the expert)."""
    rows = [json.loads(line) for line in open(os.path.join(recorder_dir, "metrics.jsonl"))]
    scored = [(abs(100 * (r["eval_return_mean"] - ref_min) / (ref_max - ref_min) - target),
               r["chunk"] + 1) for r in rows if "eval_return_mean" in r]
    return min(scored)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Pendulum-v1", choices=sorted(SETUPS))
    parser.add_argument("--work", default="offline-work")
    parser.add_argument("--json", required=True)
    parser.add_argument("--learners", default=None, help="comma-separated subset")
    args = parser.parse_args()
    from jaxrl.platform import configure_cpu_devices

    configure_cpu_devices(None)  # one XLA host device per core, as `jaxrl train` does
    setup = SETUPS[args.env]
    work = os.path.join(args.work, args.env.replace("/", "_"))
    os.makedirs(work, exist_ok=True)
    results = {"env": args.env, "seeds": SEEDS, "setup": setup}

    recorder = run_dir(work, "sac")
    results["recorder"] = train("sac", args.env, setup["recorder"], recorder, 1)
    expert = record([recorder, "--out", run_dir(work, "expert"),
                     "--episodes", str(setup["episodes"]),
                     "--reference-episodes", str(setup["episodes"])])
    ref_min, ref_max = expert.ref_min_score, expert.ref_max_score
    refs = ["--ref-min", str(ref_min), "--ref-max", str(ref_max)]
    chunk = medium_checkpoint(recorder, ref_min, ref_max, setup["medium_score"])
    episodes = ["--reference-episodes", str(setup["episodes"])]
    medium = record([recorder, "--out", run_dir(work, "medium"), "--checkpoint", str(chunk),
                     "--episodes", str(setup["episodes"]), "--noise", str(setup["noise"]),
                     *refs, *episodes])
    replay = record([recorder, "--out", run_dir(work, "medium-replay"), "--replay",
                     "--checkpoint", str(chunk), *refs, *episodes])
    medium_policy = medium.metadata["jaxrl"]["policies"][0]["return"]
    results["references"] = {
        "random": ref_min, "expert": ref_max, "medium_checkpoint": chunk,
        "medium_policy_return": medium_policy,
        "medium_policy_score": float(medium.normalized_score(medium_policy)),
        "datasets": {name: data.describe() for name, data in
                     (("expert", expert), ("medium", medium), ("medium-replay", replay))},
        # each dataset's own episodes, scored: what copying it would reach
        "dataset_scores": {name: float(data.normalized_score(data.episode_returns.mean()))
                           for name, data in (("medium", medium), ("medium-replay", replay))}}

    learners = setup["learners"]
    if args.learners:
        learners = {k: v for k, v in learners.items() if k in args.learners.split(",")}
    results["offline"] = {}
    for name, data in (("medium", medium), ("medium-replay", replay)):
        for algorithm, own in learners.items():
            out = run_dir(work, f"{algorithm}-{name}")
            summary = train(algorithm, args.env, {**setup["offline"], **own,
                                                  "dataset": data.source}, out, SEEDS)
            results["offline"][f"{algorithm}/{name}"] = {
                k: summary.get(k) for k in ("final_normalized_score_iqm",
                                            "final_normalized_score_ci95",
                                            "final_normalized_score", "final_eval_return_iqm",
                                            "gradient_steps_per_second", "compile_seconds")}
            row = results["offline"][f"{algorithm}/{name}"]
            print(f"{algorithm:12s} {name:14s} IQM {row['final_normalized_score_iqm']:6.1f} "
                  f"CI {row['final_normalized_score_ci95']}", file=sys.stderr)
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)

    results["selection"] = {}
    for algorithm, grid in setup.get("select", {}).items():
        if algorithm not in learners:
            continue
        for name, data in (("medium", medium), ("medium-replay", replay)):
            summary = select(algorithm, args.env, {**setup["offline"], "dataset": data.source},
                             grid, run_dir(work, f"{algorithm}-{name}-select"))
            (best,) = summary["best"]
            results["selection"][f"{algorithm}/{name}"] = {
                "grid": grid, "chosen": {k: best[k] for k in grid},
                "tune": {str(tuple(r[k] for k in grid)): r["tune_normalized_iqm"]
                         for r in summary["ranking"]},
                "test_iqm": best["test_normalized_iqm"],
                "test_ci95": best["test_normalized_ci95"],
                "tuning_seeds": summary["tuning_seeds"], "test_seeds": summary["test_seeds"],
                "online_evaluation_episodes": summary["online_evaluation_episodes"]}
            row = results["selection"][f"{algorithm}/{name}"]
            print(f"{algorithm:12s} {name:14s} selected {row['chosen']}: test IQM "
                  f"{row['test_iqm']:6.1f} CI {row['test_ci95']}", file=sys.stderr)
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)

    if "implicit_ql" in learners:  # offline-to-online: IQL's offline runs, continued online
        results["offline_to_online"] = {}
        for name, data in (("medium", medium), ("medium-replay", replay)):
            source = run_dir(work, f"implicit_ql-{name}")
            summary = train("implicit_ql", args.env, {**setup["finetune"],
                                                      "dataset": data.source,
                                                      "init_from": source},
                            run_dir(work, f"implicit_ql-{name}-online"), SEEDS)
            before = results["offline"][f"implicit_ql/{name}"]
            results["offline_to_online"][name] = {
                "offline_iqm": before["final_normalized_score_iqm"],
                "offline_ci95": before["final_normalized_score_ci95"],
                "online_iqm": summary.get("final_normalized_score_iqm"),
                "online_ci95": summary.get("final_normalized_score_ci95"),
                "online_env_steps": setup["finetune"]["total_timesteps"],
                "per_member_offline": before["final_normalized_score"],
                "per_member_online": summary.get("final_normalized_score")}
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps({k: v for k, v in results.items() if k != "setup"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
