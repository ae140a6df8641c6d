"""Plot a `jaxrl bench` JSON: env steps/s, compile seconds and peak RSS vs members.

    .venv/bin/python benchmarks/plot.py benchmarks/results/ppo_cartpole.json \
        [--out benchmarks/results/ppo_cartpole.png] [--no-peers]

The throughput panel also shows the peer numbers of benchmarks/README.md (measured on
the same machine class, not in the same session) unless --no-peers is given.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

# Peer reference throughput (env steps/s, all members) on this machine class, PPO on
# CartPole-v1 with the PureJaxRL hyperparameters; see benchmarks/README.md.
PEERS = {
    "rejax 0.1.3": {1: 66_000, 16: 115_500, 64: 110_000},  # 16 seeds: 106k-125k (midpoint)
    "PureJaxRL": {1: 64_000, 16: 109_000},
    "SB3 PPO": {1: 2_900},
}


def load(path: str):
    with open(path) as f:
        data = json.load(f)
    rows = data["results"] if isinstance(data, dict) else data
    rows = sorted(rows, key=lambda r: r["members"])
    return rows, (data.get("machine", {}) if isinstance(data, dict) else {})


def plot(rows, machine, out: str, peers: bool = True) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    members = [r["members"] for r in rows]
    ticks = sorted(set(members) | ({m for pts in PEERS.values() for m in pts} if peers else set()))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = [("env_steps_per_second", "env steps / s (all members, excl. compile)"),
              ("compile_seconds", "compile seconds"),
              ("peak_rss_mb", "peak RSS (MB)")]
    for ax, (key, label) in zip(axes, panels):
        ax.plot(members, [r[key] for r in rows], "o-", label="jaxrl")
        for m, r in zip(members, rows):
            ax.annotate(f"{r[key]:,.0f}" if r[key] >= 100 else f"{r[key]:.1f}", (m, r[key]),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.margins(x=0.12)
        ax.set_xticks(ticks, [str(m) for m in ticks])
        if key != "env_steps_per_second" or not peers:
            ax.set_ylim(bottom=0, top=1.15 * max(r[key] for r in rows))
        ax.set_xlabel("population size (members)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if peers:
        ax = axes[0]
        for (name, points), marker in zip(PEERS.items(), "s^v"):
            xs = sorted(points)
            ax.plot(xs, [points[x] for x in xs], marker, ls="--", alpha=0.6, label=name)
        ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    first = rows[0]
    title = (f"{first['algorithm']} on {first['env']}, {first['total_timesteps']:,} env steps "
             f"per member - jax {first['jax_version']}, {first['device']}")
    if machine:
        title += f", {machine.get('cpu_count')} CPUs"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="file written by `jaxrl bench ... --json`")
    parser.add_argument("--out", help="PNG path (default: the JSON path with .png)")
    parser.add_argument("--no-peers", action="store_true", help="omit peer reference points")
    args = parser.parse_args(argv)
    rows, machine = load(args.json)
    if not rows:
        print(f"{args.json}: no results", file=sys.stderr)
        return 1
    out = args.out or os.path.splitext(args.json)[0] + ".png"
    print(plot(rows, machine, out, peers=not args.no_peers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
