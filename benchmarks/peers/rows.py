"""What the peer scripts share (stdlib only: they run in throwaway venvs): one
measurement per fresh subprocess (its own compile and peak RSS), and the JSON file."""
import json
import os
import platform
import subprocess
import sys

# the result line of a --serve worker: jaxrl.bench.RESULT_MARKER, for the peers too
RESULT = "JAXRL_BENCH_RESULT "


def answer_single(args, single) -> bool:
    """In the child (``--single <spec>``): measure, print the ``ROW``, return True."""
    if not args.single:
        return False
    print("ROW " + json.dumps(single(**json.loads(args.single))), flush=True)
    return True


def run_row(script: str, spec: dict, label: str) -> dict:
    """Runs ``script --single <spec>`` in a fresh process; returns its ``ROW`` dict."""
    proc = subprocess.run([sys.executable, script, "--single", json.dumps(spec)],
                          capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("ROW ")]
    if proc.returncode or not lines:
        sys.exit(f"{label} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][4:])


def serve_compiled(run, steps: int, compile_seconds: float, lines=None) -> None:
    """The peer's side of ``paired.py`` (the protocol of ``python -m jaxrl.bench --serve``):
    say ``READY``, then time one whole training call ``run()`` per ``run`` line read."""
    import time

    import jax

    print("READY " + json.dumps({"compile_seconds": compile_seconds, "env_steps": steps,
                                 "device_count": 1}), flush=True)
    for line in (sys.stdin if lines is None else lines):
        if line.strip() != "run":
            break
        start = time.perf_counter()
        jax.block_until_ready(run())
        seconds = time.perf_counter() - start
        print(RESULT + json.dumps({"train_seconds": seconds,
                                   "env_steps_per_second": steps / seconds,
                                   "load_average_1min": os.getloadavg()[0]}), flush=True)


def serve_main(serve, doc: str) -> None:
    """A peer worker's command line: ``--serve '<json>'`` holds ``serve``'s arguments."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--serve", required=True, help="JSON: serve()'s arguments")
    serve(**json.loads(parser.parse_args().serve))


def write_json(path: str, header: dict, rows: list) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({**header, "machine": {"cpu_count": os.cpu_count(),
                                         "platform": platform.platform()},
                   "results": rows}, f, indent=2)
        f.write("\n")


def brax_trainer_row(algorithm: str, env: str, seed: int, total_timesteps: int,
                     steady, spent: dict, wall: float, marks: list, **extra) -> dict:
    """The row of one call of a brax trainer: its steady rate, JAX's compile clocks
    (``spent``), wall time, last evaluation and peak RSS, and ``extra`` fields."""
    import resource

    import brax
    import jax

    return {"peer": f"brax {brax.__version__} {algorithm.upper()} trainer",
            "algorithm": algorithm, "env": f"brax/{env}", "members": 1, "seed": seed,
            "total_timesteps": total_timesteps, "env_steps_per_second": steady, **extra,
            "process_compile_seconds": sum(spent.values()),
            "process_compile_breakdown": dict(spent),
            "process_compile_wall_seconds": spent.wall(),
            "wall_seconds": wall, "final_return": marks[-1][2]["eval/episode_reward"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "jax_version": jax.__version__, "load_average_1min": os.getloadavg()[0]}


def one_call_per_seed(script: str, parser, single, spec_of, label: str) -> None:
    """main() of a brax-trainer script: brax trains one seed per call, so ``--seeds N``
    is N calls, each in a fresh process (own compile, own peak RSS), one line each."""
    import argparse

    parser.add_argument("--hidden-sizes", default="64,64")
    parser.add_argument("--seeds", type=int, default=1, help="calls, one seed each")
    parser.add_argument("--json")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if answer_single(args, single):
        return
    rows = []
    for seed in range(args.seeds):
        spec = {**spec_of(args), "env": args.env, "total_timesteps": args.total_timesteps,
                "seed": seed, "hidden_sizes": [int(h) for h in args.hidden_sizes.split(",")]}
        row = run_row(script, spec, f"seed {seed}")
        print(f"{label} {args.env} seed {seed}: {row['env_steps_per_second'] or 0:,.0f} env "
              f"steps/s, compile {row['process_compile_seconds']:.1f} s (JAX's clocks; "
              f"{row['process_compile_wall_seconds']:.1f} s as wall time), "
              f"wall {row['wall_seconds']:.1f} s, final return {row['final_return']:.1f}",
              flush=True)
        rows.append(row)
    if args.json:
        write_json(args.json, {"peer": rows[0]["peer"], "config": vars(args)}, rows)
