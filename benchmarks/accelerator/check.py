"""The accelerator check (issue 30): jaxrl's throughput, compile time, device memory and
memory plan on one GPU, as one prepared command that ends within 8 minutes.

    python benchmarks/accelerator/check.py [--out DIR] [--deadline SECONDS]
    python benchmarks/accelerator/check.py --plan     # what it would run, as JSON
    python benchmarks/accelerator/check.py --tiny     # the same steps at toy sizes (CPU)

Every (workload, population size) is one ``jaxrl bench`` call in its own process under a
time limit: its share of what is left of the deadline, so an overrun costs that row
alone (listed under ``skipped`` with the reason) and the script still writes its JSON:
``accelerator_check.json`` in ``--out`` (default benchmarks/results/accelerator), the
machine, the JAX version and devices, one row per run (env steps/s, compile seconds,
device memory, the memory plan's batches: ``jaxrl.bench``'s row) and PureJaxRL's
published A100 figure beside them.

The largest PPO populations (16,384 and 65,536 members) run fewer env steps per member
than PureJaxRL's 5e5: at 5e5 they alone would take longer than the whole check. Their
rows measure throughput, compile time and memory at that size; their returns are not
comparable with the 5e5-step rows.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "benchmarks", "results", "accelerator")
DEADLINE_SECONDS = 450  # the check's own limit; the device call gets 8 minutes

# PureJaxRL's PPO CartPole figure (its README: 2,048 agents x 5e5 steps on one A100)
REFERENCE = {"source": "PureJaxRL README (published figure, not measured here)",
             "hardware": "one NVIDIA A100", "algorithm": "ppo", "env": "CartPole-v1",
             "agents": 2048, "env_steps_per_agent": 500_000, "seconds": 98.0,
             "env_steps_per_second": 2048 * 500_000 / 98.0}


@dataclasses.dataclass(frozen=True)
class Step:
    """One ``jaxrl bench`` call: one population size of one workload."""
    workload: str
    algorithm: str
    env: str
    members: int
    total_timesteps: int  # env steps per member
    share: float  # of the deadline, against the other steps'
    sets: Dict[str, str] = dataclasses.field(default_factory=dict)

    def command(self, json_path: str) -> List[str]:
        cmd = [sys.executable, "-m", "jaxrl.cli", "bench", self.algorithm, "--env", self.env,
               "--members", str(self.members), "--total-timesteps",
               str(self.total_timesteps), "--json", json_path]
        for name, value in self.sets.items():
            cmd += ["--set", f"{name}={value}"]
        return cmd


def plan(tiny: bool = False) -> List[Step]:
    """PPO on CartPole at PureJaxRL's config (jaxrl's PPO defaults are that config) over
    five population sizes; PQN on MinAtar Breakout; PPO on brax ant; SAC on brax's
    inverted pendulum. ``tiny``: the same steps at sizes a CPU runs in seconds."""
    if tiny:
        return [Step("ppo_cartpole", "ppo", "CartPole-v1", m, 2048, 1) for m in (1, 2)] + [
            Step("pqn_minatar_breakout", "pqn", "Breakout-MinAtar", 2, 4096, 1,
                 {"num_envs": "8", "num_steps": "8"}),
        ]
    ppo = [Step("ppo_cartpole", "ppo", "CartPole-v1", m, steps, share) for m, steps, share in
           ((1, 500_000, 1.0), (64, 500_000, 1.0), (1024, 500_000, 1.2),
            (16_384, 65_536, 1.2), (65_536, 16_384, 1.4))]
    return ppo + [
        Step("pqn_minatar_breakout", "pqn", "Breakout-MinAtar", 16, 1_000_000, 1.2),
        Step("ppo_brax_ant", "ppo", "brax/ant", 8, 2_000_000, 1.8,
             {"num_envs": "256", "num_steps": "16", "num_minibatches": "8",
              "normalize_observations": "true"}),
        Step("sac_brax_inverted_pendulum", "sac", "brax/inverted_pendulum", 16, 50_000, 1.4),
    ]


def run(steps: List[Step], out: str, deadline: float) -> Dict:
    """Runs ``steps`` in order, each under its share of the time left; returns the
    merged record (also written to ``out/accelerator_check.json``)."""
    start = time.monotonic()
    rows, skipped = [], []
    for i, step in enumerate(steps):
        left = deadline - (time.monotonic() - start)
        limit = left * step.share / sum(s.share for s in steps[i:])
        if limit < 20:
            skipped.append({**dataclasses.asdict(step), "reason": "no time left"})
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "row.json")
            began = time.monotonic()
            done = _run_within(step.command(path), limit)
            if done is None:
                skipped.append({**dataclasses.asdict(step),
                                "reason": f"over its {limit:.0f} s share of the deadline"})
                continue
            if done.returncode != 0 or not os.path.exists(path):
                skipped.append({**dataclasses.asdict(step), "reason": "failed: "
                                + (done.stderr or done.stdout)[-1500:]})
                continue
            with open(path) as f:
                for row in json.load(f)["results"]:
                    rows.append({"workload": step.workload, "sets": step.sets,
                                 "process_seconds": time.monotonic() - began, **row})
        print(f"{step.workload} x {step.members}: done in {time.monotonic() - began:.0f} s",
              file=sys.stderr, flush=True)
    return merge(rows, skipped, out, time.monotonic() - start)


def _run_within(command: List[str], seconds: float):
    """``command``'s CompletedProcess, or None once ``seconds`` pass: then it is killed
    with its children (``jaxrl bench`` runs each size in a process of its own)."""
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = child.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return None
    return subprocess.CompletedProcess(command, child.returncode, out, err)


def merge(rows: List[Dict], skipped: List[Dict], out: Optional[str], seconds: float) -> Dict:
    record = {
        "check": "benchmarks/accelerator/check.py",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    **_devices()},
        "seconds": seconds,
        "rows": rows,
        "skipped": skipped,
        "reference": REFERENCE,
    }
    ppo = [r for r in rows if r["workload"] == "ppo_cartpole"]
    if ppo:  # the population size against steps/s, the figure the issue asks for
        record["ppo_cartpole_by_members"] = {
            str(r["members"]): {"env_steps_per_second": r["env_steps_per_second"],
                                "compile_seconds": r["compile_seconds"],
                                "device_peak_bytes": r.get("device_peak_bytes"),
                                "member_batches": r["memory_plan"].get("batches"),
                                "env_steps_per_member": r["total_timesteps"]}
            for r in ppo}
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "accelerator_check.json"), "w") as f:
            json.dump(record, f, indent=1, default=str)
            f.write("\n")
    return record


def _devices() -> Dict:
    """The JAX version and devices, read in a child so this process never starts JAX."""
    code = ("import json, jax; d = jax.devices(); print(json.dumps({'jax': jax.__version__, "
            "'backend': jax.default_backend(), 'devices': [x.device_kind for x in d]}))")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
        return json.loads(done.stdout.strip().splitlines()[-1])
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        return {"devices_error": repr(exc)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--deadline", type=float, default=DEADLINE_SECONDS)
    parser.add_argument("--plan", action="store_true", help="print the steps as JSON")
    parser.add_argument("--tiny", action="store_true", help="toy sizes (a CPU check)")
    args = parser.parse_args(argv)
    steps = plan(args.tiny)
    if args.plan:
        print(json.dumps([dataclasses.asdict(s) for s in steps], indent=1))
        return 0
    record = run(steps, args.out, args.deadline)
    print(json.dumps({"rows": len(record["rows"]), "skipped": len(record["skipped"]),
                      "seconds": round(record["seconds"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
