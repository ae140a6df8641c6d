"""The sweep's wall time against running its members one at a time.

    python benchmarks/sweeps/one_at_a_time.py SWEEP_DIR [--samples 3] [--json OUT]

Trains ``--samples`` of the sweep's (configuration, seed) members alone, each with
`jaxrl train` (one member, same budget and settings), and extrapolates: one at a time,
in one process that compiles once, the whole sweep would take
``compile + members x mean(train seconds of one member)``. Both numbers and the sweep's
own wall time (from its batches' summaries) land in the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("sweep_dir")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    plan = json.load(open(os.path.join(args.sweep_dir, "sweep.json")))
    spec, configs = plan["spec"], plan["configs"]
    units = sorted(os.listdir(os.path.join(args.sweep_dir, "units")))
    sweep_train = sweep_compile = 0.0
    members = 0
    for unit in units:
        s = json.load(open(os.path.join(args.sweep_dir, "units", unit, "summary.json")))
        sweep_train += s["train_seconds"]
        sweep_compile += s["compile_seconds"]
        members += s["members"]
    rng = np.random.default_rng(0)
    picks = rng.choice(len(configs), size=args.samples, replace=False)
    alone = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, cid in enumerate(picks):
            values = {**spec["base_values"], **configs[int(cid)]}
            config = os.path.join(tmp, f"c{k}.json")
            json.dump({**values, "env": spec["env"], "num_seeds": 1, "seed": spec["seed"]},
                      open(config, "w"))
            out = os.path.join(tmp, f"run{k}")
            subprocess.run([sys.executable, "-m", "jaxrl.cli", "train", spec["algorithm"],
                            "--config", config, "--out", out, "--no-progress"], check=True,
                           stdout=subprocess.DEVNULL)
            s = json.load(open(os.path.join(out, "summary.json")))
            alone.append({"config": int(cid), "train_seconds": s["train_seconds"],
                          "compile_seconds": s["compile_seconds"]})
            print(f"config {cid} alone: {s['train_seconds']:.1f} s training, "
                  f"{s['compile_seconds']:.1f} s compile", file=sys.stderr)
    per_member = float(np.mean([a["train_seconds"] for a in alone]))
    compile_once = float(np.mean([a["compile_seconds"] for a in alone]))
    one_at_a_time = compile_once + members * per_member
    sweep_wall = sweep_train + sweep_compile
    record = {"sweep_dir": args.sweep_dir, "members": members, "batches": len(units),
              "sweep_train_seconds": sweep_train, "sweep_compile_seconds": sweep_compile,
              "sweep_seconds": sweep_wall, "alone_samples": alone,
              "alone_train_seconds_per_member": per_member,
              "one_at_a_time_seconds_extrapolated": one_at_a_time,
              "speedup": one_at_a_time / sweep_wall}
    print(json.dumps(record, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
