"""Throughput, compile time and peak memory against population size.

``run_benchmark`` runs each population size in a fresh ``python -m jaxrl.bench --single
'<json>'`` subprocess, so that every row's peak RSS (``ru_maxrss``) and compile time
belong to that size alone (no programs or buffers left over from a previous size).

In the child: build env and algorithm, ``Run(algo, population, RunConfig(num_chunks=4))``,
compile every program (``compile_seconds``), then time all chunks back to back with
nothing else in the loop (``train_seconds``; no metrics fetch, no eval, no logging) and
evaluate the final policies once (``final_return_mean``). Then the learner's matmul
FLOPs per env step (``jaxrl.flops``) against this machine's measured matmul peak: the
fraction of the ceiling the run reached.

    jaxrl bench ppo --env CartPole-v1 --members 1,16,64 --total-timesteps 262144 \\
        --json benchmarks/results/ppo_cartpole.json
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

from jaxrl.config import ConfigError

RESULT_MARKER = "JAXRL_BENCH_RESULT "
ERROR_MARKER = "JAXRL_BENCH_CONFIG_ERROR "
DEFAULT_NUM_CHUNKS = 4


def _spec(algorithm: str, env_id: str, members: int, total_timesteps: int,
          overrides: Dict[str, Any], env_overrides: Optional[Dict[str, Any]] = None):
    """The same routing and validation as ``jaxrl train`` (ConfigError if bad)."""
    from jaxrl.experiment import make_experiment

    values = {"num_chunks": DEFAULT_NUM_CHUNKS, **(overrides or {}),
              "total_timesteps": total_timesteps}
    return make_experiment(algorithm, env_id, values, dict(env_overrides or {}),
                           num_seeds=max(1, members)).shared_env_params("bench")


COMPILE_EVENTS = {  # jax.monitoring's own clocks for every program the process builds
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "xla",
}


class CompileSeconds(dict):
    """Seconds by kind (``trace``, ``lower``, ``xla``), filled in as JAX reports them;
    ``wall()`` is the time during which any of them was under way."""

    def __init__(self, kinds):
        super().__init__({kind: 0.0 for kind in kinds})
        self.intervals: List[Tuple[float, float]] = []

    def wall(self) -> float:
        """Seconds covered by at least one compile event: each second counted once, even
        when programs are traced and XLA-compiled side by side (``Run.warm_up``). For a
        process that compiles one program at a time this is the sum of the three kinds."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self.intervals):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total


def compile_clock() -> CompileSeconds:
    """Seconds spent tracing, lowering and XLA-compiling in this process from now on, by
    JAX's own event clocks: every program counts (init, training, evaluation, helpers),
    and the peer scripts read the same clocks, so the two compare like for like.

    Traces nest: a jitted function called while another is traced (every ``jnp``
    function, a jitted env step) reports its own duration, which also lies inside the
    caller's. Each second is counted once per kind: an event's time already reported by
    events of its kind that ended inside it is not counted again (so two XLA compiles on
    two threads at once count their overlap once)."""
    import time

    from jax import monitoring

    spent = CompileSeconds(COMPILE_EVENTS.values())
    reported: Dict[str, List[Tuple[float, float]]] = {name: [] for name in spent}

    def listen(event: str, seconds: float, **_: Any) -> None:
        kind = COMPILE_EVENTS.get(event)
        if kind is None:
            return
        end = time.perf_counter()  # events are reported as they end
        start, earlier, nested = end - seconds, reported[kind], 0.0
        while earlier and earlier[-1][1] > start:  # ended inside this one: nested in it
            inner_start, inner_end = earlier.pop()
            nested += inner_end - max(inner_start, start)
        earlier.append((start, end))
        spent.intervals.append((start, end))
        spent[kind] += max(seconds - nested, 0.0)

    monitoring.register_event_duration_secs_listener(listen)
    return spent


def _compiled_run(algorithm: str, env_id: str, members: int, total_timesteps: int,
                  overrides: Dict[str, str], env_overrides: Optional[Dict[str, str]] = None):
    """The run of one population size with every program compiled (init, training and
    evaluation, side by side), before any clock starts."""
    from jaxrl.runner import Run

    spec = _spec(algorithm, env_id, members, total_timesteps, overrides, env_overrides)
    algo, population = spec.build()
    run = Run(algo, population, spec.run_config)
    run.warm_up()
    return algo, population, run


def _timed_training(run):
    """All chunks back to back from a fresh initial carry (the carry is donated, so each
    timing starts from its own), nothing else in the loop; (final carry, seconds)."""
    import time

    import jax

    carry = run.init_carry()
    jax.block_until_ready(carry)
    start = time.perf_counter()
    metrics = None
    for length in run.chunks:
        carry, metrics = run.chunk_program(length, carry)(carry, run.inputs)
    jax.block_until_ready((carry, metrics))
    return carry, time.perf_counter() - start


def serve(algorithm: str, env_id: str, members: int, total_timesteps: int,
          overrides: Dict[str, str], env_overrides: Optional[Dict[str, str]] = None,
          lines=None, out=None) -> None:
    """Paired timing against a peer (``benchmarks/peers/paired.py``): compile once, say
    ``READY``, then time one whole training run per ``run`` line read (any other line
    or EOF ends it). A controller alternating two such workers times the two sides back
    to back, with no compile in between, so a ratio is less at the mercy of the
    machine's swings."""
    import time

    lines = sys.stdin if lines is None else lines
    out = sys.stdout if out is None else out
    start = time.perf_counter()
    algo, _, run = _compiled_run(algorithm, env_id, members, total_timesteps, overrides,
                                 env_overrides)
    from jaxrl.contract import progress_unit

    unit, per_update = progress_unit(algo)  # an offline learner's: gradient steps
    steps = members * algo.num_updates * per_update
    print("READY " + json.dumps({"compile_seconds": time.perf_counter() - start,
                                 "env_steps": int(steps), "unit": unit,
                                 "device_count": len(run.devices)}),
          file=out, flush=True)
    carry = None
    for line in lines:
        if line.strip() != "run":
            break
        carry, seconds = _timed_training(run)
        print(RESULT_MARKER + json.dumps({"train_seconds": seconds,
                                          "env_steps_per_second": steps / seconds,
                                          "load_average_1min": os.getloadavg()[0]}),
              file=out, flush=True)
    if carry is not None:  # the last run's final policies, as the runner scores them
        returns = run.evaluate(carry, 0).mean(axis=1)
        dataset = getattr(algo, "dataset", None)
        scores = None if dataset is None else dataset.normalized_score(returns)
        print("SCORE " + json.dumps({
            "return_mean": float(returns.mean()),
            "normalized_score": None if scores is None else float(scores.mean())}),
            file=out, flush=True)


def run_single(algorithm: str, env_id: str, members: int, total_timesteps: int,
               overrides: Dict[str, str],
               env_overrides: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """One population size, in this process; meant to run in a fresh subprocess."""
    import resource

    import jax

    from jaxrl.flops import learner_ceiling

    spent_compiling = compile_clock()
    algo, population, run = _compiled_run(algorithm, env_id, members, total_timesteps,
                                          overrides, env_overrides)
    carry, train_seconds = _timed_training(run)

    returns = run.evaluate(carry, 0)  # (members, eval_episodes)
    # before the FLOP count below traces again
    process_compile, process_wall = dict(spent_compiling), spent_compiling.wall()
    steps_per_member = algo.num_updates * algo.env_steps_per_update
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    devices = run.devices
    env_steps_per_second = members * steps_per_member / max(train_seconds, 1e-9)
    hp_one = jax.tree.map(lambda x: x[0], population.hparams)
    ceiling = learner_ceiling(algo, hp_one, run.memory_plan.member_batch, devices,
                              run.config.data_parallel)
    gradient_steps_per_second = (members * algo.num_updates * algo.gradient_steps_per_update
                                 / max(train_seconds, 1e-9))
    rate = {"env": env_steps_per_second, "gradient": gradient_steps_per_second}
    unit = ceiling["unit"]
    achieved = rate[unit] * ceiling[f"learner_matmul_flops_per_{unit}_step"] / 1e9
    ceiling["achieved_matmul_gflops"] = achieved
    ceiling["fraction_of_ceiling"] = achieved / ceiling["matmul_peak_gflops_costliest_shape"]
    return {
        "algorithm": algorithm,
        "env": env_id,
        "members": members,
        "total_timesteps": int(steps_per_member),
        "env_steps_per_second": env_steps_per_second,
        "gradient_steps_per_second": gradient_steps_per_second,
        # wall seconds of warm_up: every program of the run, compiled side by side
        "compile_seconds": run.compile_seconds,
        # each program's own lowering + XLA seconds (they overlap within compile_seconds)
        "train_compile_seconds": sum(v for k, v in run.program_seconds.items()
                                     if k.startswith("chunk")),
        "program_compile_seconds": dict(run.program_seconds),
        # the memory plan before any program: XLA's analysis of one member's update
        "memory_plan_seconds": run.plan_seconds,
        # every trace, lowering and XLA compile of the run (init and helpers included),
        # by JAX's own clocks: what the peer scripts report too
        "process_compile_seconds": sum(process_compile.values()),
        # the same events as wall time: seconds in which any compile work was under way
        "process_compile_wall_seconds": process_wall,
        "process_compile_breakdown": process_compile,
        "peak_rss_mb": peak_kb / 1024.0,
        "final_return_mean": float(returns.mean()),
        "train_seconds": train_seconds,
        "jax_version": jax.__version__,
        "device": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "data_parallel": run.config.data_parallel,  # devices per member
        "num_updates": int(algo.num_updates),
        "chunks": list(run.chunks),
        # Other work on the machine skews the timings; this says how busy it was.
        "load_average_1min": os.getloadavg()[0],
        "memory_plan": run.memory_plan.record(),
        "xla_bytes_per_device": max((b for b in run.xla_memory.values() if b), default=None),
        # an accelerator's own allocator figures (None on CPU, which keeps none)
        "device_peak_bytes": device_memory(devices[0], "peak_bytes_in_use"),
        "device_bytes_limit": device_memory(devices[0], "bytes_limit"),
        **ceiling,
    }


def device_memory(device, stat: str) -> Optional[int]:
    try:
        value = (device.memory_stats() or {}).get(stat)
    except Exception:  # noqa: BLE001 - a backend without memory statistics
        return None
    return None if value is None else int(value)


def machine_info() -> Dict[str, Any]:
    info: Dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    if os.environ.get("XLA_FLAGS"):
        info["XLA_FLAGS"] = os.environ["XLA_FLAGS"]
    return info


def _run_child(spec: Dict[str, Any]) -> Dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "jaxrl.bench", "--single", json.dumps(spec)],
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(ERROR_MARKER):
            raise ConfigError(line[len(ERROR_MARKER):])
    if proc.returncode == 0:
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith(RESULT_MARKER):
                return json.loads(line[len(RESULT_MARKER):])
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
    raise RuntimeError(f"benchmark of {spec['members']} members failed "
                       f"(exit code {proc.returncode}):\n{tail}")


def run_benchmark(algorithm: str, env_id: str, members: List[int], total_timesteps: int,
                  overrides: Dict[str, str], json_path: Optional[str] = None,
                  env_overrides: Optional[Dict[str, str]] = None) -> List[Dict]:
    """One row per population size (see the module docstring); each size runs in a fresh
    subprocess. Writes ``{"machine": ..., "results": rows}`` to ``json_path`` if given."""
    overrides, env_overrides = dict(overrides or {}), dict(env_overrides or {})
    # errors before any subprocess
    _spec(algorithm, env_id, 1, total_timesteps, overrides, env_overrides)
    import jaxrl.envs

    if env_id not in jaxrl.envs.list():
        jaxrl.envs.make(env_id)  # raises UnknownEnvError with suggestions
    if not members or min(members) <= 0:
        raise ConfigError(f"--members {members}: population sizes must be positive")

    rows = []
    for m in members:
        print(f"bench {algorithm} {env_id}: {m} members x {total_timesteps:,} env steps ...",
              file=sys.stderr, flush=True)
        row = _run_child({"algorithm": algorithm, "env_id": env_id, "members": m,
                          "total_timesteps": total_timesteps, "overrides": overrides,
                          "env_overrides": env_overrides})
        print(f"  {row['env_steps_per_second']:,.0f} env steps/s, "
              f"{row['gradient_steps_per_second']:,.0f} gradient steps/s, compile "
              f"{row['compile_seconds']:.1f} s ({row['train_compile_seconds']:.1f} s of it the "
              f"training program; {row['process_compile_seconds']:.1f} s by JAX's clocks, "
              f"{row['process_compile_wall_seconds']:.1f} s of them as wall time, "
              f"init and helpers included), peak RSS {row['peak_rss_mb']:,.0f} MB, "
              f"final return {row['final_return_mean']:.1f}; learner matmuls "
              f"{row['learner_matmul_flops_per_env_step'] / 1e3:,.0f} kFLOP/env step, "
              f"{row['fraction_of_ceiling']:.0%} of this machine's "
              f"{row['matmul_peak_gflops_costliest_shape']:,.0f} GFLOP/s for its costliest "
              f"shape", file=sys.stderr, flush=True)
        rows.append(row)

    if json_path:
        record = {"machine": machine_info(),
                  "date": datetime.datetime.now().isoformat(timespec="seconds"),
                  "overrides": overrides, "env_overrides": env_overrides, "results": rows}
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--single"], ["--serve"]) and len(argv) == 2:
        spec = json.loads(argv[1])
        from jaxrl.platform import configure_cpu_devices, early_count

        data_parallel = early_count((spec.get("overrides") or {}).get("data_parallel"))
        # before JAX starts, as `jaxrl train` does
        configure_cpu_devices(spec["members"] * data_parallel)
        try:
            if argv[0] == "--serve":
                serve(**spec)
                return 0
            row = run_single(**spec)
        except ConfigError as exc:
            print(ERROR_MARKER + str(exc), flush=True)
            return 2
        print(RESULT_MARKER + json.dumps(row), flush=True)
        return 0
    print("usage: python -m jaxrl.bench --single|--serve '<json>' (internal: one population "
          "size in a fresh process; --serve times a run per 'run' line on stdin); run "
          "benchmarks with `jaxrl bench`", file=sys.stderr)
    return 2

if __name__ == "__main__":
    sys.exit(main())
