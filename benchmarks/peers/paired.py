"""jaxrl against a peer, paired: both compiled once in two long-lived workers, then timed
alternately, round after round, so each ratio compares two runs seconds apart.

Separate processes run one after another (``ppo_side_by_side.sh``) put a compile and up
to a minute between the two runs of a round; this machine's speed moves by a third
within minutes, so such rounds read 1.75x-2.51x for the same two programs. Here a round
is one whole training run of each (the same keys and work every time), in ABBA order
(the peer first in odd rounds, jaxrl first in even ones) so a steady drift cancels; the
summary is the median per-round ratio, its spread and the share of rounds at or above
``--target``.

    python benchmarks/peers/paired.py ppo --members 16 --rounds 8 \\
        --json benchmarks/results/peers/paired_ppo_cartpole.json
    python benchmarks/peers/paired.py craftax-ppo --members 1 --rounds 6 \\
        --json benchmarks/results/peers/paired_craftax_ppo.json

Pairings (``PAIRINGS``): ``ppo`` is rejax's PPO (needs /work/rejax-venv,
``rejax_algorithms.py``); ``craftax-ppo`` is Craftax's own PPO baseline script
(``craftax_ppo.py``, a Craftax_Baselines checkout); ``purejaxrl-rppo`` is PureJaxRL's
recurrent PPO script (``purejaxrl_rnn.py``, a purejaxrl checkout); ``jaxmarl-ippo`` and
``jaxmarl-rmappo`` are JaxMARL's IPPO and recurrent MAPPO scripts on MPE simple_spread
(``jaxmarl_ppo.py``, a JaxMARL checkout). stdlib only.
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

CRAFTAX_ENVS = 256  # env copies per seed: Craftax_Baselines runs 1,024 on a GPU


def _rejax_ppo(members, args):
    spec = {"algo_name": "ppo", "members": members, "total_timesteps": 262_144,
            "eval_freq": 0}
    return [args.rejax_python, os.path.join(HERE, "rejax_algorithms.py"), "--serve",
            json.dumps(spec)]


def _craftax_ppo(members, args):
    spec = {"baselines": args.craftax_baselines, "env_name": "Craftax-Classic-Symbolic-v1",
            "num_envs": CRAFTAX_ENVS, "members": members,
            "total_timesteps": CRAFTAX_ENVS * 64 * 4}
    return [os.path.join(ROOT, ".venv", "bin", "python"), os.path.join(HERE, "craftax_ppo.py"),
            "--serve", json.dumps(spec)]


# name -> (peer, its worker's argv(members, args), jaxrl's side: env, env steps per
# member, --set overrides, --env-set overrides). The Craftax side is Craftax_Baselines
# ppo.py's defaults (craftax_ppo.DEFAULTS) in jaxrl's fields, four updates per member.
def _purejaxrl_rppo(members, args):
    spec = {"checkout": args.purejaxrl, "members": members,
            "total_timesteps": PUREJAXRL_RNN_STEPS}
    return [os.path.join(ROOT, ".venv", "bin", "python"),
            os.path.join(HERE, "purejaxrl_rnn.py"), "--serve", json.dumps(spec)]


PUREJAXRL_RNN_STEPS = 4 * 128 * 128  # 128 updates of ppo_rnn.py's CartPole settings


def _jaxmarl(script, steps):
    def argv(members, args):
        spec = {"checkout": args.jaxmarl, "script": script, "members": members,
                "total_timesteps": steps}
        return [os.path.join(ROOT, ".venv", "bin", "python"),
                os.path.join(HERE, "jaxmarl_ppo.py"), "--serve", json.dumps(spec)]

    return argv


# updates of JaxMARL's MPE settings (16 envs x 128 steps): 64 feed-forward, 16 recurrent
JAXMARL_STEPS, JAXMARL_RNN_STEPS = 16 * 128 * 64, 16 * 128 * 16
# JaxMARL's MPE PPO settings in jaxrl's fields; its agents see no id, so neither do ours
_JAXMARL_PPO = {"num_envs": "16", "num_steps": "128", "num_epochs": "4",
                "num_minibatches": "4", "gamma": "0.99", "gae_lambda": "0.95",
                "clip_eps": "0.2", "vf_clip_eps": "0.2", "ent_coef": "0.01", "vf_coef": "0.5",
                "max_grad_norm": "0.5", "anneal_lr": "true", "agent_ids": "false"}


def _jaxcorl(algorithm, config):
    def argv(members, args):
        if members != 1:
            sys.exit("JAX-CORL's scripts train one seed: --members 1")
        spec = {"checkout": args.jaxcorl, "algorithm": algorithm, "dataset": args.dataset,
                "max_steps": JAXCORL_STEPS, "config": config}
        return [os.path.join(ROOT, ".venv", "bin", "python"),
                os.path.join(HERE, "jaxcorl_offline.py"), "--serve", json.dumps(spec)]

    return argv


# gradient steps per timed run of JAX-CORL's scripts (their n_jitted_updates=8 per call)
JAXCORL_STEPS = 4_000
# each script's published defaults, in jaxrl's fields: Adam unclipped (their optax.adam),
# LayerNorm critics (TD3+BC's actor has none), TD3+BC's learning rate 1e-3 and
# normalised states; IQL's reward scaling 1000 / (max - min return), raw states, no
# annealing (theirs decays the actor's step size by a cosine: left out, as it changes no
# step's cost)
_JAXCORL_TD3_BC = {"offline_steps": str(JAXCORL_STEPS), "offline_steps_per_update": "1000",
                   "batch_size": "256", "hidden_sizes": "256,256", "layer_norm": "true",
                   "actor_layer_norm": "false",
                   "learning_rate": "1e-3", "max_grad_norm": "1e9", "alpha": "2.5",
                   "normalize_observations": "true", "num_chunks": "1"}
_JAXCORL_IQL = {"offline_steps": str(JAXCORL_STEPS), "offline_steps_per_update": "1000",
                "batch_size": "256", "hidden_sizes": "256,256", "layer_norm": "true",
                "learning_rate": "3e-4", "max_grad_norm": "1e9", "expectile": "0.7",
                "temperature": "3.0", "normalize_observations": "false",
                "reward_normalization": "returns", "num_chunks": "1"}

PAIRINGS = {
    "ppo": ("rejax 0.1.3", _rejax_ppo, ("CartPole-v1", 262_144, {"anneal_lr": "false"}, {})),
    "craftax-ppo": ("Craftax_Baselines ppo.py @7ce36fa", _craftax_ppo, (
        "craftax/Craftax-Classic-Symbolic-v1", CRAFTAX_ENVS * 64 * 4,
        {"num_envs": str(CRAFTAX_ENVS), "num_steps": "64", "num_epochs": "4",
         "num_minibatches": "8", "learning_rate": "2e-4", "gamma": "0.99",
         "gae_lambda": "0.8", "clip_eps": "0.2", "vf_clip_eps": "0.2", "ent_coef": "0.01",
         "vf_coef": "0.5", "max_grad_norm": "1.0", "hidden_sizes": "512,512,512",
         "activation": "tanh", "anneal_lr": "true"},
        {"reset_mode": "optimistic"})),
    "purejaxrl-rppo": ("purejaxrl ppo_rnn.py @31756b1", _purejaxrl_rppo, (
        "CartPole-v1", PUREJAXRL_RNN_STEPS,
        {"num_envs": "4", "num_steps": "128", "num_epochs": "4", "num_minibatches": "4",
         "learning_rate": "2.5e-4", "gamma": "0.99", "gae_lambda": "0.95", "clip_eps": "0.2",
         "vf_clip_eps": "0.2", "ent_coef": "0.01", "vf_coef": "0.5", "max_grad_norm": "0.5",
         "hidden_sizes": "128", "activation": "relu", "memory.size": "128",
         "anneal_lr": "true"}, {})),
    "jaxmarl-ippo": ("JaxMARL ippo_ff_mpe.py @c793d09", _jaxmarl("ippo_ff_mpe", JAXMARL_STEPS),
                     ("jaxmarl/MPE_simple_spread_v3", JAXMARL_STEPS,
                      {**_JAXMARL_PPO, "learning_rate": "2.5e-4", "hidden_sizes": "64,64",
                       "activation": "tanh"}, {})),
    "jaxmarl-rmappo": ("JaxMARL mappo_rnn_mpe.py @c793d09",
                       _jaxmarl("mappo_rnn_mpe", JAXMARL_RNN_STEPS),
                       ("jaxmarl/MPE_simple_spread_v3", JAXMARL_RNN_STEPS,
                        {**_JAXMARL_PPO, "learning_rate": "2e-3", "hidden_sizes": "128",
                         "activation": "relu", "memory.cell": "gru", "memory.size": "128"},
                        {})),
    # offline: steps are gradient steps; the dataset is --dataset (a `jaxrl record` one)
    "jaxcorl-td3_bc": ("JAX-CORL td3bc.py @d747dd8", _jaxcorl("td3_bc", {}),
                       ("Pendulum-v1", JAXCORL_STEPS, _JAXCORL_TD3_BC, {})),
    "jaxcorl-implicit_ql": ("JAX-CORL iql.py @d747dd8", _jaxcorl("implicit_ql", {}),
                            ("Pendulum-v1", JAXCORL_STEPS, _JAXCORL_IQL, {})),
}


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

    def close(self):
        """Ends the worker; returns the ``SCORE`` it printed last (its final policies'
        return and normalised score), if any."""
        self.proc.stdin.close()
        score = None
        for line in self.proc.stdout:
            if line.startswith("SCORE "):
                score = json.loads(line[len("SCORE "):])
        self.proc.wait()
        return score


def summarise(ratios: list, target: float) -> dict:
    quartiles = (statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1
                 else ratios * 3)
    return {"median_ratio": statistics.median(ratios), "min_ratio": min(ratios),
            "max_ratio": max(ratios), "quartiles": quartiles,
            "rounds_at_target": sum(r >= target for r in ratios), "target": target}


def paired(pairing: str, members: int, rounds: int, args) -> dict:
    _, peer_argv, (env_id, steps, overrides, env_overrides) = PAIRINGS[pairing]
    algo = pairing.split("-")[-1]
    offline = "offline_steps" in overrides  # the steps are gradient steps on a dataset
    if offline:
        overrides = {**overrides, "dataset": os.path.abspath(args.dataset)}
    spec = {"algorithm": algo, "env_id": env_id, "members": members,
            "total_timesteps": 0 if offline else steps, "overrides": overrides,
            "env_overrides": env_overrides}
    # compiled one after the other, so neither compile is slowed by the other
    peer = Worker("peer", peer_argv(members, args))
    ours = Worker("jaxrl", [os.path.join(ROOT, ".venv", "bin", "python"), "-m",
                            "jaxrl.bench", "--serve", json.dumps(spec)])
    rows = []
    try:
        for r in range(rounds):
            order = [peer, ours] if r % 2 == 0 else [ours, peer]
            timed = {w.name: w.time_run() for w in order}
            ratio = (timed["jaxrl"]["env_steps_per_second"]
                     / timed["peer"]["env_steps_per_second"])
            rows.append({"round": r + 1, "first": order[0].name, **{
                f"{k}_env_steps_per_second": v["env_steps_per_second"]
                for k, v in timed.items()}, "ratio": ratio,
                "load_average_1min": timed["jaxrl"]["load_average_1min"]})
            print(f"{pairing} x {members}, round {r + 1} ({order[0].name} first): peer "
                  f"{timed['peer']['env_steps_per_second']:,.0f}, jaxrl "
                  f"{timed['jaxrl']['env_steps_per_second']:,.0f} "
                  f"{ours.ready.get('unit', 'env')} steps/s: "
                  f"{ratio:.2f}x", flush=True)
    finally:
        scores = {w.name: w.close() for w in (peer, ours)}
    summary = summarise([row["ratio"] for row in rows], args.target)
    target = args.target
    print(f"{pairing} x {members}: median {summary['median_ratio']:.2f}x (quartiles "
          f"{summary['quartiles'][0]:.2f}-{summary['quartiles'][2]:.2f}, range "
          f"{summary['min_ratio']:.2f}-{summary['max_ratio']:.2f}), "
          f"{summary['rounds_at_target']} of {len(rows)} rounds at {target}x or more",
          flush=True)
    return {"algorithm": algo, "env": env_id, "members": members,
            "total_timesteps": steps, "jaxrl_overrides": overrides,
            "jaxrl_env_overrides": env_overrides,
            "compile_seconds": {"peer": peer.ready["compile_seconds"],
                                "jaxrl": ours.ready["compile_seconds"]},
            "jaxrl_device_count": ours.ready["device_count"],
            "unit": ours.ready.get("unit", "env"), "final_scores": scores,
            "per_round": rows, **summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairing", choices=sorted(PAIRINGS))
    parser.add_argument("--members", default="16", help="comma-separated population sizes")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--target", type=float, default=2.0, help="ratio to count rounds at")
    parser.add_argument("--rejax-python",
                        default=os.environ.get("REJAX_PYTHON", "/work/rejax-venv/bin/python"))
    parser.add_argument("--craftax-baselines", default=os.environ.get(
        "CRAFTAX_BASELINES", "/work/craftax-baselines"), help="a Craftax_Baselines checkout")
    parser.add_argument("--purejaxrl", default=os.environ.get("PUREJAXRL", "/work/purejaxrl"),
                        help="a purejaxrl checkout")
    parser.add_argument("--jaxmarl", default=os.environ.get("JAXMARL", "/work/jaxmarl"),
                        help="a JaxMARL checkout (its baselines/)")
    parser.add_argument("--jaxcorl", default=os.environ.get("JAXCORL", "/work/jax-corl"),
                        help="a JAX-CORL checkout (its algos/)")
    parser.add_argument("--dataset", default=None,
                        help="offline pairings: the dataset both sides learn from")
    parser.add_argument("--json", "--out", dest="json")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit(f"--rounds {args.rounds}: at least one round")
    start = time.strftime("%Y-%m-%dT%H:%M:%S")
    results = [paired(args.pairing, int(m), args.rounds, args)
               for m in args.members.split(",")]
    if args.json:
        write_json(args.json, {"peer": PAIRINGS[args.pairing][0], "protocol": "paired, ABBA",
                               "date": start}, results)


if __name__ == "__main__":
    main()
