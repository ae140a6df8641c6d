"""jaxrl against rejax, paired: both compiled once in two long-lived workers, then timed
alternately, round after round, so each ratio compares two runs seconds apart.

Separate processes run one after another (``ppo_side_by_side.sh``) put a compile and up
to a minute between the two runs of a round; this machine's speed moves by a third
within minutes, so such rounds read 1.75x-2.51x for the same two programs. Here a round
is one whole training run of each (the same keys and work every time), in ABBA order
(rejax first in odd rounds, jaxrl first in even ones) so a steady drift cancels; the
summary is the median per-round ratio, its spread and the share of rounds at or above
``--target``.

    python benchmarks/peers/paired.py ppo --members 16 --rounds 8 \\
        --json benchmarks/results/peers/paired_ppo_cartpole.json

Needs /work/rejax-venv (``rejax_algorithms.py``); stdlib only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from rows import RESULT, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# jaxrl's side of rejax's PPO config (rejax_algorithms.CONFIGS["ppo"]): env, env steps per
# member, --set overrides. Other algorithms' pairings go here once measured; their flags
# live in value_based_side_by_side.sh and actor_critic_side_by_side.sh today.
JAXRL_SIDE = {"ppo": ("CartPole-v1", 262_144, {"anneal_lr": "false"})}


class Worker:
    """One side: a process that compiled its program and times a run per ``run`` line."""

    def __init__(self, name: str, argv: list, env=None):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT, env=env)
        self.ready = self._expect("READY ")

    def _expect(self, marker: str) -> dict:
        for line in self.proc.stdout:
            if line.startswith(marker):
                return json.loads(line[len(marker):])
        sys.exit(f"{self.name} worker exited (code {self.proc.wait()}) before {marker.strip()}")

    def time_run(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._expect(RESULT)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def summarise(ratios: list, target: float) -> dict:
    quartiles = (statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1
                 else ratios * 3)
    return {"median_ratio": statistics.median(ratios), "min_ratio": min(ratios),
            "max_ratio": max(ratios), "quartiles": quartiles,
            "rounds_at_target": sum(r >= target for r in ratios), "target": target}


def paired(algo: str, members: int, rounds: int, rejax_python: str, target: float) -> dict:
    env_id, steps, overrides = JAXRL_SIDE[algo]
    spec = {"algorithm": algo, "env_id": env_id, "members": members,
            "total_timesteps": steps, "overrides": overrides}
    # compiled one after the other, so neither compile is slowed by the other
    peer = Worker("rejax", [rejax_python, os.path.join(HERE, "rejax_algorithms.py"),
                            "--serve", json.dumps({"algo_name": algo, "members": members,
                                                   "total_timesteps": steps,
                                                   "eval_freq": 0})])
    ours = Worker("jaxrl", [os.path.join(ROOT, ".venv", "bin", "python"), "-m",
                            "jaxrl.bench", "--serve", json.dumps(spec)])
    rows = []
    try:
        for r in range(rounds):
            order = [peer, ours] if r % 2 == 0 else [ours, peer]
            timed = {w.name: w.time_run() for w in order}
            ratio = (timed["jaxrl"]["env_steps_per_second"]
                     / timed["rejax"]["env_steps_per_second"])
            rows.append({"round": r + 1, "first": order[0].name, **{
                f"{k}_env_steps_per_second": v["env_steps_per_second"]
                for k, v in timed.items()}, "ratio": ratio,
                "load_average_1min": timed["jaxrl"]["load_average_1min"]})
            print(f"{algo} x {members}, round {r + 1} ({order[0].name} first): rejax "
                  f"{timed['rejax']['env_steps_per_second']:,.0f}, jaxrl "
                  f"{timed['jaxrl']['env_steps_per_second']:,.0f} env steps/s: "
                  f"{ratio:.2f}x", flush=True)
    finally:
        peer.close()
        ours.close()
    summary = summarise([row["ratio"] for row in rows], target)
    print(f"{algo} x {members}: median {summary['median_ratio']:.2f}x (quartiles "
          f"{summary['quartiles'][0]:.2f}-{summary['quartiles'][2]:.2f}, range "
          f"{summary['min_ratio']:.2f}-{summary['max_ratio']:.2f}), "
          f"{summary['rounds_at_target']} of {len(rows)} rounds at {target}x or more",
          flush=True)
    return {"algorithm": algo, "env": env_id, "members": members,
            "total_timesteps": steps, "jaxrl_overrides": overrides,
            "compile_seconds": {"rejax": peer.ready["compile_seconds"],
                                "jaxrl": ours.ready["compile_seconds"]},
            "jaxrl_device_count": ours.ready["device_count"], "per_round": rows, **summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algorithm", choices=sorted(JAXRL_SIDE))
    parser.add_argument("--members", default="16", help="comma-separated population sizes")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--target", type=float, default=2.0, help="ratio to count rounds at")
    parser.add_argument("--rejax-python",
                        default=os.environ.get("REJAX_PYTHON", "/work/rejax-venv/bin/python"))
    parser.add_argument("--json", "--out", dest="json")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit(f"--rounds {args.rounds}: at least one round")
    start = time.strftime("%Y-%m-%dT%H:%M:%S")
    results = [paired(args.algorithm, int(m), args.rounds, args.rejax_python, args.target)
               for m in args.members.split(",")]
    if args.json:
        write_json(args.json, {"peer": "rejax 0.1.3", "protocol": "paired, ABBA",
                               "date": start}, results)


if __name__ == "__main__":
    main()
