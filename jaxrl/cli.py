"""``jaxrl train | eval | sweep | pbt | meta | report | bench | envs`` - the command line."""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from jaxrl import registry
from jaxrl.restore import RestoredRun, check_member, restore_run  # noqa: F401 (the API)
from jaxrl.config import (ConfigError, check_seed_range, coerce, coerce_scalar, field_docs,
                          parse_pairs, route_settings)
from jaxrl.experiment import (DEFAULT_ENV, Experiment, experiment_from_sources,
                              load_config_file, make_experiment, merge_sources,
                              read_run_config, resume_differences, settings_namespaces)

EXIT_CONFIG_ERROR = 2
SEED_RULE = ("seeds are whole numbers in [0, 2**32): PRNGKey keeps 32 bits, so larger or "
             "negative seeds would collide with others and are refused")


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2) like every other bad input."""

    def error(self, message):
        self.exit(EXIT_CONFIG_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _algorithms_help() -> str:
    lines = ["algorithms (`jaxrl train NAME --help` lists NAME's fields with defaults):"]
    for entry in registry.entries():
        lines.append(f"  {entry.name:<8} {entry.summary}")
    return "\n".join(lines)


def settings_tables(algorithm: str) -> List[Tuple[str, List[Tuple[str, str, str]]]]:
    """``algorithm``'s own fields (its variant defaults applied), then the run's: per
    group, a title and (name, default, help) rows (``train NAME --help`` and the docs'
    settings reference print them)."""
    from jaxrl.runner import RunConfig

    entry = registry.get(algorithm)
    variant = dict(entry.defaults)
    tables = []
    for title, cls in ((f"static config ({entry.name}.NAME; {entry.Config.__name__}: shapes "
                        f"and loop lengths; one compiled program per value)", entry.Config),
                       (f"traced hyperparameters ({entry.name}.NAME; {entry.HParams.__name__}:"
                        f" per-member pytree leaves)", entry.HParams),
                       ("run (run.NAME; RunConfig: evaluation, checkpoints, logging)",
                        RunConfig)):
        rows = []
        for name, default, doc in field_docs(cls):
            if dataclasses.is_dataclass(default):  # a nested spec: one row per field
                rows.append((name + ".NAME", "", doc))
                nested = [(f"{name}.{sub}", getattr(default, sub), sub_doc)
                          for sub, _, sub_doc in field_docs(type(default))]
            else:
                nested = [(name, default, doc)]
            for name, default, doc in nested:
                default = variant.get(name, default)
                if isinstance(default, tuple):
                    default = ",".join(map(str, default))
                rows.append((name, str(default), doc))
        tables.append((title, rows))
    return tables


def _fields_help(algorithm: str) -> str:
    entry = registry.get(algorithm)
    lines = [f"{entry.name}: {entry.summary}",
             f"fields for --set NAME=VALUE (or keys of --config FILE); a name may carry its "
             f"namespace ({entry.name}.NAME, run.NAME, env.NAME), which a name declared in "
             f"two namespaces must:"]
    for title, rows in settings_tables(algorithm):
        lines.append(f"\n  {title}")
        for name, default, doc in rows:
            lines.append(f"    {name:<24} {doc}" if name.endswith(".NAME") else
                         f"    {name:<24} default {default:<10} {doc}")
    lines.append("\n  env parameters: --env-set NAME=VALUE or --set env.NAME=VALUE (e.g. "
                 "max_steps_in_episode=200)")
    return "\n".join(lines)


def spec_from_args(args) -> Experiment:
    return experiment_from_sources(args.algorithm, args.config, parse_pairs(args.set, "--set"),
                                   parse_pairs(args.env_set, "--env-set"), args.env,
                                   args.num_seeds, args.seed, args.total_timesteps)


def cmd_train(args) -> int:
    from rich.console import Console

    from jaxrl.runner import train

    console = Console(stderr=True)
    if args.resume:
        if not args.out or not os.path.exists(os.path.join(args.out, "config.json")):
            raise ConfigError(f"--resume needs --out pointing at an existing run directory "
                              f"(with config.json); got {args.out!r}")
        spec = read_run_config(args.out)
        differ = resume_differences(spec, args.algorithm, args.config,
                                    parse_pairs(args.set, "--set"),
                                    parse_pairs(args.env_set, "--env-set"), args.env,
                                    args.num_seeds, args.seed, args.total_timesteps)
        if differ:
            raise ConfigError(f"--resume continues {args.out} as its config.json records "
                              f"it, but these settings differ: {'; '.join(differ)}; give the "
                              f"recorded values (or none) or start a new run with another "
                              f"--out")
        if getattr(args, "memory_budget_gb", None):
            spec.run_config = dataclasses.replace(spec.run_config,
                                                  memory_budget_gb=args.memory_budget_gb)
        run_dir = args.out
    else:
        spec = spec_from_args(args)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = args.out or os.path.join("runs", f"{spec.algorithm}-{spec.env.replace('/', '_')}-{stamp}")
        if os.path.exists(os.path.join(run_dir, "config.json")):
            raise ConfigError(f"--out {run_dir} already holds a run; pass --resume to continue "
                              f"it or choose another --out")
    algo, population = spec.build()
    if args.tensorboard or args.wandb:
        spec.run_config = dataclasses.replace(spec.run_config, tensorboard=args.tensorboard
                                              or spec.run_config.tensorboard,
                                              wandb=args.wandb or spec.run_config.wandb)
    # Solved thresholds only hold for the env as registered; overrides name the variant.
    env_label = spec.env + ("".join(f" {k}={v}" for k, v in spec.env_overrides.items()))
    from jaxrl.warm_start import warm_start_from

    start = warm_start_from(spec.run_config.init_from) if spec.run_config.init_from else None
    result = train(algo, population, spec.run_config, run_dir=run_dir, resume=args.resume,
                   config_record=spec.record(), env_id=env_label, console=console,
                   progress=not args.no_progress, start=start)
    print_summary(result.summary, Console())  # stdout: process 0's only (see main)
    return 0


def print_summary(summary: Dict[str, Any], console) -> None:
    from rich.table import Table

    offline = "dataset" in summary and not summary["total_timesteps"]
    table = Table(title=f"{summary['env']}: {summary['members']} members x "
                        + ("offline (no env steps)" if offline else
                           f"{summary['total_timesteps']:,} env steps"))
    table.add_column("metric")
    table.add_column("value", justify="right")
    lo, hi = summary["final_eval_return_ci95"]
    fmt = lambda x: "n/a" if x is None else f"{x:.1f}"
    table.add_row("final eval return IQM [95% CI]",
                  f"{fmt(summary['final_eval_return_iqm'])} [{fmt(lo)}, {fmt(hi)}]")
    table.add_row("final eval return mean", fmt(summary["final_eval_return_mean"]))
    if summary.get("final_normalized_score_iqm") is not None:
        lo, hi = summary["final_normalized_score_ci95"]
        table.add_row("normalised score IQM [95% CI] (0 random, 100 best recorder)",
                      f"{fmt(summary['final_normalized_score_iqm'])} [{fmt(lo)}, {fmt(hi)}]")
    solved = summary.get("fraction_solved")
    table.add_row("fraction of seeds solved", "n/a (no threshold)" if solved is None
                  else f"{solved:.0%}")
    if not offline:
        table.add_row("env steps/s (kept updates, excl. compile)",
                      f"{summary['env_steps_per_second']:,.0f}")
    if summary.get("gradient_steps_per_second"):
        table.add_row("gradient steps/s (all members, excl. compile)",
                      f"{summary['gradient_steps_per_second']:,.0f}")
    table.add_row("compile seconds" + (f" ({summary['sessions']} sessions)"
                                       if summary.get("sessions", 1) > 1 else ""),
                  f"{summary['compile_seconds']:.1f}")
    table.add_row("diverged members", str(len(summary["diverged_members"])))
    if summary["diverged_members"]:
        table.add_row("env steps/s incl. discarded updates",
                      f"{summary['env_steps_per_second_all_members']:,.0f}")
    console.print(table)
    if summary.get("run_dir"):
        console.print(f"run files: {summary['run_dir']} "
                      f"(config.json, metrics.jsonl, summary.json, checkpoints/)")


@dataclasses.dataclass
class RunEvaluation:
    spec: Experiment
    population: Any
    checkpoint: int  # checkpoint step = chunks done when it was saved
    num_chunks: int
    episodes: int
    eval_seed: int
    returns: Any  # (members, episodes)
    run_episodes: int  # the run's own eval_episodes and eval_seed
    run_eval_seed: int
    held_out: Optional[Dict[str, Any]] = None  # env params every member was scored on

    def describe(self) -> str:
        """Which episodes were scored, in words."""
        if self.held_out:
            return "every member on " + ", ".join(f"{k}={v}" for k, v in self.held_out.items())
        if self.eval_seed != self.run_eval_seed:
            return f"eval seed {self.eval_seed} instead of the run's {self.run_eval_seed}"
        if self.episodes != self.run_episodes:
            return f"{self.episodes} episodes instead of the run's {self.run_episodes}"
        if self.checkpoint == self.num_chunks:
            return "the episodes of summary.json's final evaluation"
        return f"the episodes the run evaluated after chunk {self.checkpoint - 1}"


def evaluate_run(run_dir: str, episodes: Optional[int] = None, eval_seed: Optional[int] = None,
                 warn=None, env_values: Optional[Dict[str, Any]] = None,
                 restored: Optional[RestoredRun] = None) -> RunEvaluation:
    """Scores the newest good checkpoint of ``run_dir``. By default on the episodes the
    run itself scored at that checkpoint (its eval_seed and eval_episodes, key
    ``fold_in(PRNGKey(eval_seed), checkpoint - 1)``), so the final checkpoint reproduces
    summary.json's ``final_eval_return``; ``eval_seed=S`` scores the episodes the run
    would have used there with eval_seed S."""
    if eval_seed is not None:
        check_seed_range(eval_seed, 1)
    restored = restored or restore_run(run_dir, episodes, warn)
    spec, population, run, step, carry = (restored.spec, restored.population, restored.run,
                                          restored.checkpoint, restored.carry)
    run_episodes = read_run_config(run_dir).run_config.eval_episodes
    run_eval_seed = spec.run_config.eval_seed
    episodes = spec.run_config.eval_episodes
    eval_seed = run_eval_seed if eval_seed is None else eval_seed
    # Checkpoint ``step`` is saved after chunk ``step - 1``, where the run evaluated.
    held_out = None
    if env_values:  # every member on the same given params (held-out values)
        import jaxrl.envs
        from jaxrl.envs.registry import coerce_overrides

        held_out = coerce_overrides(spec.env, dict(env_values))
        held_out_params = jaxrl.envs.make(spec.env, **{**spec.env_overrides, **held_out})[1]
        returns = run.evaluate(carry, step - 1, eval_seed, env_params=held_out_params)
    else:
        returns = run.evaluate(carry, step - 1, eval_seed)
    return RunEvaluation(spec, population, step, len(run.chunks), episodes, eval_seed, returns,
                         run_episodes, run_eval_seed, held_out)


def cmd_eval(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from jaxrl.stats import iqm

    if (args.run_dir is None) == (args.export is None):
        raise ConfigError("jaxrl eval takes a run directory or --export DIR (one of them)")
    if args.export is not None:
        return _eval_export(args)
    console = Console()
    if not os.path.exists(os.path.join(args.run_dir, "config.json")):
        raise ConfigError(f"{args.run_dir} is not a run directory (no config.json)")
    size = read_run_config(args.run_dir).num_seeds
    check_member(args.member, size)
    errors = Console(stderr=True)
    warn = lambda m: errors.print(f"[yellow]warning:[/] {m}", soft_wrap=True)  # noqa: E731
    restored = restore_run(args.run_dir, args.episodes, warn)
    ev = evaluate_run(args.run_dir, args.episodes, args.seed, warn,
                      parse_pairs(args.env_set, "--env-set"), restored=restored)
    table = Table(title=f"{ev.spec.env}: checkpoint {ev.checkpoint}/{ev.num_chunks}, "
                        f"{ev.episodes} episodes per member ({ev.describe()})")
    for col in ("member", "seed", "return mean", "return std", "min", "max"):
        table.add_column(col, justify="right")
    members = [args.member] if args.member is not None else range(size)
    for i in members:
        r = ev.returns[i]
        table.add_row(str(i), str(ev.population.seeds[i]), f"{r.mean():.1f}",
                      f"{r.std():.1f}", f"{r.min():.1f}", f"{r.max():.1f}")
    console.print(table)
    if args.member is None:
        console.print(f"IQM over members: {iqm(ev.returns.mean(axis=1)):.1f}")
    if args.video:
        if ev.held_out:
            raise ConfigError("--video renders a member on its own env params; drop --env-set")
        member = args.member or 0
        algo = restored.algo
        from jaxrl.contract import member_env
        from jaxrl.evaluation import evaluation_key

        key = evaluation_key(ev.eval_seed, ev.checkpoint - 1)

        with member_env(algo, restored.member_env_params(member)):
            frames, episode_return = _render_episode(
                algo.eval_env, algo.env_params, algo.policy(restored.member_state(member)),
                key, ev.episodes)
        _report_video(console, args.video, frames, episode_return,
                      f"member {member}, episode 0 of the {ev.episodes} above")
    return 0


def _render_episode(env, env_params, policy, key, episodes: int):
    """The frames and return of the first of ``episodes`` evaluation episodes (the
    episodes ``evaluation.evaluate`` scores with ``key``)."""
    import jax

    from jaxrl.evaluation import record
    from jaxrl.rendering import episode_frames

    states, active, returns = jax.jit(lambda k: record(env, env_params, policy, k, episodes))(key)
    states, active = jax.device_get((states, active))
    return episode_frames(env, env_params, states, active, 0), float(returns[0])


def _report_video(console, path: str, frames, episode_return: float, what: str) -> None:
    from jaxrl.rendering import write_video

    write_video(path, frames)
    console.print(f"video: {path} ({what}: {len(frames)} frames, return "
                  f"{episode_return:.1f})")


def _eval_export(args) -> int:
    """``jaxrl eval --export DIR``: the exported policy on its env, jaxrl's learners not
    involved (what a user of the artefact gets)."""
    import jax
    import numpy as np
    from rich.console import Console

    from jaxrl.contract import Policy
    from jaxrl.evaluation import evaluate
    from jaxrl.inference import ExportError, load_policy

    if args.member is not None or args.env_set:
        raise ConfigError("--member and --env-set are for a run directory; an export holds "
                          "one member on its own env params")
    try:
        policy = load_policy(args.export)
    except ExportError as exc:
        raise ConfigError(str(exc)) from exc
    env, env_params = exported_env(policy.info)
    episodes = args.episodes or 10
    if episodes <= 0:
        raise ConfigError(f"--episodes {episodes} must be positive")
    seed = 0 if args.seed is None else args.seed
    check_seed_range(seed, 1)
    acting = Policy(policy.step, policy.initial_carry)
    key = jax.random.PRNGKey(seed)
    returns = np.asarray(jax.jit(lambda k: evaluate(env, env_params, acting, k, episodes))(key))
    console = Console()
    info = policy.info
    origin = (f"member {info['member']} of {info['run_dir']}, checkpoint "
              f"{info['checkpoint']}" if "run_dir" in info else "")
    console.print(f"{info['env']['id']}: exported {info['learner']} policy ({origin}), "
                  f"{episodes} episodes, seed {seed}: return mean {returns.mean():.1f}, "
                  f"std {returns.std():.1f}, min {returns.min():.1f}, max {returns.max():.1f}")
    if args.video:
        frames, episode_return = _render_episode(env, env_params, acting, key, episodes)
        _report_video(console, args.video, frames, episode_return, "episode 0 of those")
    return 0


def exported_env(info: Dict[str, Any]):
    """The env an export was made on: its id, the run's overrides and the member's own
    recorded parameters."""
    import jax
    import numpy as np
    from flax import serialization

    import jaxrl.envs

    env_info = info["env"]
    env, params = jaxrl.envs.make(env_info["id"], **env_info.get("overrides", {}))
    if "params" in env_info:
        template = serialization.to_state_dict(params)
        recorded = jax.tree.map(lambda t, v: np.asarray(v, np.asarray(t).dtype), template,
                                env_info["params"])
        params = serialization.from_state_dict(params, recorded)
    return env, params


def cmd_export(args) -> int:
    from rich.console import Console

    from jaxrl.config import to_dict
    from jaxrl.contract import member_env
    from jaxrl.export import export_policy

    console = Console()
    errors = Console(stderr=True)
    warn = lambda m: errors.print(f"[yellow]warning:[/] {m}", soft_wrap=True)  # noqa: E731
    if not os.path.exists(os.path.join(args.run_dir, "config.json")):
        raise ConfigError(f"{args.run_dir} is not a run directory (no config.json)")
    check_member(args.member, read_run_config(args.run_dir).num_seeds)
    restored = restore_run(args.run_dir, warn=warn)
    member, chosen = args.member, "--member"
    scores = None
    if member is None:  # the member the run's own evaluation at this checkpoint rates best
        ev = evaluate_run(args.run_dir, restored=restored)
        scores = ev.returns.mean(axis=1)
        member, chosen = int(scores.argmax()), "best mean evaluation return at the checkpoint"
    spec, algo, population = restored.spec, restored.algo, restored.population
    info = {
        "run_dir": os.path.abspath(args.run_dir), "checkpoint": restored.checkpoint,
        "num_chunks": len(restored.run.chunks), "member": member,
        "member_chosen_by": chosen, "seed": int(population.seeds[member]),
        "hparams": population.member_hparams(member),
        "config": to_dict(spec.config),
        "env": {"overrides": spec.env_overrides},
    }
    if scores is not None:
        info["eval_return_mean"] = float(scores[member])
    with member_env(algo, restored.member_env_params(member)):
        record = export_policy(algo, restored.member_state(member), args.out, info)
    console.print(f"exported {record['learner']} member {member} ({chosen}) of "
                  f"{args.run_dir} to {args.out}: {len(record['parameters'])} arrays, "
                  f"{'recurrent' if record['recurrent'] else 'feed-forward'}; load it with "
                  f"jaxrl.load_policy({args.out!r})")
    return 0


BENCH_TIMESTEPS = 262_144  # env steps per member unless --total-timesteps or --config says


def cmd_bench(args) -> int:
    from jaxrl.bench import run_benchmark

    try:
        members = [int(m) for m in args.members.split(",")]
    except ValueError:
        members = []
    if not members or min(members) <= 0:
        raise ConfigError(f"--members {args.members!r} must be comma-separated positive "
                          f"integers, e.g. 1,16,64")
    values, env_overrides, from_file = merge_sources(
        args.config, parse_pairs(args.set, "--set"), parse_pairs(args.env_set, "--env-set"),
        args.total_timesteps)
    # an offline learner (registered with total_timesteps=0) runs offline unless told
    offline = dict(registry.get(args.algorithm).defaults).get("total_timesteps") == 0
    total_timesteps = coerce_scalar(int, values.pop("total_timesteps",
                                                    0 if offline else BENCH_TIMESTEPS),
                                    "--total-timesteps")
    env = args.env or from_file.get("env", DEFAULT_ENV)
    if args.json:
        from jaxrl.outputs import check_output_file

        check_output_file(args.json, "--json")
    results = run_benchmark(args.algorithm, env, members, total_timesteps, values,
                            json_path=args.json, env_overrides=env_overrides)
    for row in results:
        print(json.dumps(row))
    return 0


def _refuse_flags_on_resume(args, what: str, extra=()) -> None:
    given = [flag for flag, value in (("--set", args.set), ("--env-set", args.env_set),
                                      ("--config", args.config),
                                      ("--total-timesteps", args.total_timesteps),
                                      ("--space", getattr(args, "space", None)), *extra)
             if value]
    if given:
        raise ConfigError(f"--resume continues the {what} exactly as it was planned; drop "
                          f"{', '.join(given)} (or start a new {what} with another --out)")
    if not args.out:
        raise ConfigError(f"--resume needs --out pointing at the {what} directory")


def _check_resume_record(out: str, record_name: str, given: Dict[str, Any],
                         what: str) -> None:
    """A resume matches the recorded spec (``out/record_name``) in every setting given."""
    path = os.path.join(out, record_name)
    if not os.path.exists(path):
        raise ConfigError(f"--resume needs --out pointing at a {what} directory (with "
                          f"{record_name}); got {out!r}")
    try:
        with open(path) as f:
            record = json.load(f)
        record = record.get("spec", record)
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path} is missing or damaged ({type(exc).__name__}: {exc}); it is "
                          f"needed to resume this {what}")
    if "batch_size" in record:  # a sweep recorded before the Optuna flag's rename
        record["trials_per_round"] = record.pop("batch_size")
    differ = [f"{name} (recorded {record.get(name)}, given {value})"
              for name, value in given.items()
              if _plain(record.get(name)) != _plain(value)]
    if differ:
        raise ConfigError(f"--resume continues the {what} in {out} as {record_name} records "
                          f"it, but these settings differ: {'; '.join(differ)}; give the "
                          f"recorded values (or none) or start a new {what} with another --out")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# A command's own flags: spec fields, each flag named after its field (``FLAG_NAMES``
# where not), typed and documented as the spec dataclass declares it. Each is None
# unless given, so a resume compares only what was given.
SWEEP_FLAGS = ("num_configs", "seeds_per_config", "seed", "test_seeds", "test_top",
               "trials_per_round", "max_members")
PBT_FLAGS = ("population", "ready_interval", "seed", "fraction", "resample_probability")
META_FLAGS = ("knots", "strategy", "generations", "popsize", "inner_seeds", "test_seeds",
              "sigma", "learning_rate", "seed")
FLAG_NAMES = {"learning_rate": "--meta-lr"}
#: MetaSpec settings --set meta.NAME=VALUE (or --config) may give; each has a flag too
META_SETTINGS = ("objective", *META_FLAGS)


def _flag(field: str) -> str:
    return FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


def add_spec_flags(parser, spec_cls: type, fields) -> None:
    """A flag per field of ``spec_cls``, typed, with the field's help and default."""
    from jaxrl.config import type_hints

    hints = type_hints(spec_cls)
    declared = {f.name: f for f in dataclasses.fields(spec_cls)}
    for field in fields:
        kind = next((k for k in (int, float) if hints[field] in (k, Optional[k])), None)
        text, default = declared[field].metadata["help"], declared[field].default
        flag = _flag(field)
        parser.add_argument(flag, type=kind, default=None, dest=field,
                            metavar=flag.lstrip("-").replace("-", "_").upper(),
                            help=text if default is None else f"{text} (default {default})")


def _given(args, fields) -> Dict[str, Any]:
    """``{spec field: value}`` of the command's own flags that were given; the rest keep
    the spec's defaults or its record."""
    return {field: getattr(args, field) for field in fields
            if getattr(args, field, None) is not None}


def base_values(args) -> Experiment:
    """The common flags as one validated experiment (what a sweep or PBT run varies)."""
    return experiment_from_sources(args.algorithm, args.config, parse_pairs(args.set, "--set"),
                                   parse_pairs(args.env_set, "--env-set"), args.env, None,
                                   None, args.total_timesteps)


def _field_values(exp: Experiment) -> Dict[str, Any]:
    rec = exp.record()
    return {**rec["config"], **rec["hparams"], **rec["run_config"]}


def _space_and_base(args):
    """The common flags as the experiment a search varies, the ``--space`` over it (checked
    against those settings), the space file's other keys, and the settings it leaves fixed."""
    from jaxrl.sweep import load_space

    if not args.space:
        raise ConfigError(f"jaxrl {args.command} needs --space FILE (W&B format), e.g. "
                          f"parameters: {{learning_rate: {{distribution: log_uniform_values, "
                          f"min: 1e-4, max: 3e-3}}}}")
    exp = base_values(args).shared_env_params(args.command)
    values = _field_values(exp)
    env = {"env": exp.env, "env_base": exp.env_overrides} if args.command == "sweep" else {}
    space, extra = load_space(args.space, exp.algorithm, values, **env)
    return exp, space, extra, {k: v for k, v in values.items() if k not in space.names}


def _default_out(root: str, exp: Experiment) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join(root, f"{exp.algorithm}-{exp.env.replace('/', '_')}-{stamp}")


def cmd_sweep(args) -> int:
    from rich.console import Console

    from jaxrl.sweep import SweepSpec, run_sweep

    console = Console(stderr=True)
    out = args.out
    given = _given(args, SWEEP_FLAGS)
    given.update({k: v for k, v in (("env", args.env), ("sampler", args.sampler)) if v})
    if args.resume:
        _refuse_flags_on_resume(args, "sweep")
        _check_resume_record(out, "sweep.json", {"algorithm": args.algorithm, **given},
                             "sweep")
        spec = None
    else:
        exp, space, extra, base = _space_and_base(args)
        sampler = args.sampler or extra.get("method", "random")
        if sampler == "bayes":
            raise ConfigError("method: bayes (W&B) maps to --sampler optuna (TPE)")
        given.update(env=exp.env, sampler=sampler, num_configs=args.num_configs)
        spec = SweepSpec(exp.algorithm, space=space.record()["parameters"], base_values=base,
                         env_overrides=exp.env_overrides, **given)
        out = out or _default_out("sweeps", exp)
    executor = None  # here, one batch after another
    if args.ray:
        if args.distributed:
            raise ConfigError("--ray and --distributed are two ways to use several machines; "
                              "choose one")
        from jaxrl.sweep.ray_backend import RayExecutor, RayOptions

        executor = RayExecutor(RayOptions(args.ray, args.ray_cpus, args.ray_gpus))
    result = run_sweep(spec, out, resume=args.resume, console=console,
                       progress=not args.no_progress, executor=executor)
    print_best(result.summary, Console())
    return 0


def cmd_pbt(args) -> int:
    from rich.console import Console

    from jaxrl.sweep.pbt import PBTSpec, run_pbt

    console = Console(stderr=True)
    out, spec = args.out, None
    given = _given(args, PBT_FLAGS)
    if args.env:
        given["env"] = args.env
    if args.resume:
        _refuse_flags_on_resume(args, "PBT run")
        _check_resume_record(out, "pbt.json", {"algorithm": args.algorithm, **given},
                             "PBT run")
    else:
        exp, space, _, base = _space_and_base(args)
        given["env"] = exp.env
        spec = PBTSpec(exp.algorithm, space=space.record()["parameters"], base_values=base,
                       env_overrides=exp.env_overrides, **given)
        out = out or _default_out("pbt", exp)
    result = run_pbt(spec, out, resume=args.resume, console=console,
                     progress=not args.no_progress)
    print_pbt(result.summary, Console())
    return 0


def print_pbt(summary: Dict[str, Any], console) -> None:
    from rich.table import Table

    lo, hi = summary["final_eval_return_ci95"]
    table = Table(title=f"PBT {summary['algorithm']} on {summary['env']}: {summary['members']} "
                        f"members, {summary['generations']} generations")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("final eval return IQM [95% CI]",
                  f"{summary['final_eval_return_iqm']:.1f} [{lo:.1f}, {hi:.1f}]")
    table.add_row("final eval return median", f"{summary['final_eval_return_median']:.1f}")
    table.add_row("best member", str(summary["best_member"]))
    for name in summary["final_hparams"]:
        values = [row[name] for row in summary["best_schedule"]]
        table.add_row(f"best member's {name} schedule",
                      " -> ".join(f"{v:.3g}" if isinstance(v, float) else str(v)
                                  for v in values))
    console.print(table)


def print_best(summary: Dict[str, Any], console, top: int = 10) -> None:
    from rich.table import Table

    rows = summary["ranking"][:top]
    names = [k for k in rows[0] if k not in ("config",) and not k.startswith(("tune_", "test_"))] \
        if rows else []
    table = Table(title=f"{summary['algorithm']} on {summary['env']}: best of "
                        f"{summary['configs']} configurations (tuning seeds "
                        f"{_span(summary['tuning_seeds'])}, test seeds "
                        f"{_span(summary['test_seeds'])})")
    for col in ["config", *names, "tuning IQM [95% CI]", "test IQM [95% CI]"]:
        table.add_column(col, justify="right")
    fmt = lambda x: "n/a" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)  # noqa: E731

    def score(row, prefix):
        if row.get(f"{prefix}_iqm") is None:
            return "-"
        lo, hi = row[f"{prefix}_ci95"]
        return f"{row[prefix + '_iqm']:.1f} [{fmt(lo)}, {fmt(hi)}]"

    for row in rows:
        table.add_row(str(row["config"]), *[fmt(row[n]) for n in names], score(row, "tune"),
                      score(row, "test"))
    console.print(table)


def _span(seeds: List[int]) -> str:
    return f"{seeds[0]}..{seeds[-1]}" if seeds else "none"


def cmd_report(args) -> int:
    from rich.console import Console

    from jaxrl.outputs import check_run_dir
    from jaxrl.report import write_report

    if args.out:
        check_run_dir(args.out, "report directory")
    path = write_report(args.dirs, args.out, console=Console())
    Console(stderr=True).print(f"report: {path} (and report.html, figures/)")
    return 0


def cmd_meta(args) -> int:
    from rich.console import Console

    from jaxrl.distributed import is_leader
    from jaxrl.meta.pipeline import MetaSpec, run_meta

    leader = is_leader()  # with several processes, process 0 reports
    console = Console(stderr=True, quiet=not leader)
    split = lambda text: [e.strip() for e in (text or "").split(",") if e.strip()]  # noqa: E731
    spec = None
    given = _given(args, META_FLAGS)
    if args.objective is not None:
        given["objective"] = args.objective.replace("-", "_")
    if "strategy" in given:
        given["strategy"] = given["strategy"].replace("-", "_")
    for flag in ("train_envs", "test_envs"):
        if getattr(args, flag) is not None:
            given[flag] = split(getattr(args, flag))
    if args.schedule is not None:
        given["schedule"] = split(args.schedule)
    if args.resume:
        _refuse_flags_on_resume(args, "meta-learning run")
        if args.env is not None:
            given.setdefault("train_envs", [args.env])
        _check_resume_record(args.out, "meta.json", {"target": args.target, **given},
                             "meta-learning run")
    else:
        train_envs = split(args.train_envs) or ([args.env] if args.env else [])
        if not train_envs:
            raise ConfigError(f"jaxrl meta {args.target} needs --train-envs ENV[,ENV...] "
                              f"(or --env ENV)")
        values, env_overrides, _ = merge_sources(
            args.config, parse_pairs(args.set, "--set"),
            parse_pairs(args.env_set, "--env-set"), args.total_timesteps)
        # The inner PPO's settings (ppo., run., env.) and the ES's (meta.): a bare name
        # both declare (learning_rate, seed) must say which it means.
        routed = route_settings(values, {**settings_namespaces("ppo"),
                                         "meta": set(META_SETTINGS)},
                                "; `jaxrl meta --help` and `jaxrl train ppo --help` list them")
        meta_values = {name: coerce(MetaSpec, name, value)
                       for name, value in routed.pop("meta").items()}
        exp = make_experiment("ppo", train_envs[0], {f"{ns}.{k}": v for ns, part in
                                                     routed.items() for k, v in part.items()},
                              env_overrides)
        values = {k: v for k, v in _field_values(exp).items()
                  if k not in ("policy_objective", "schedule_params")}
        given = {**meta_values, **given}  # a flag wins over --set meta.NAME
        given.update(train_envs=train_envs, test_envs=given.get("test_envs", []))
        if "schedule" in given:
            given["schedule"] = tuple(given["schedule"])
        spec = MetaSpec(args.target, eval_episodes=exp.run_config.eval_episodes,
                        values=values, env_overrides={**exp.env_overrides,
                                                      **exp.env_distributions}, **given)
    out = args.out or os.path.join("meta", f"{args.target}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    summary = run_meta(spec, out, resume=args.resume, console=console,
                       progress=leader and not args.no_progress)
    print_meta_test(summary, Console())
    plots = "drift.png" if summary["spec"]["target"] == "lpo" else "schedule.png"
    console.print(f"outputs: {out} (meta_test.json, {plots}, fitness.png, es/)")
    return 0


def print_meta_test(summary: Dict[str, Any], console) -> None:
    from rich.table import Table

    labels = {"learned": "learned", "ppo_clip": "PPO-clip", "dpo": "DPO",
              "fixed": "fixed schedule"}
    rows = summary["meta_test"]
    methods = [k for k in next(iter(rows.values())) if k in labels]
    table = Table(title=f"meta-test: final greedy return, IQM [95% CI] over "
                        f"{summary['spec']['test_seeds']} fresh seeds")
    for col in ["env", "held out"] + [labels[m] for m in methods]:
        table.add_column(col, justify="right")
    cell = lambda r: f"{r['iqm']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]"  # noqa: E731
    for env_id, row in rows.items():
        table.add_row(env_id, "yes" if row["held_out"] else "no",
                      *[cell(row[m]) for m in methods])
    console.print(table)


def cmd_envs(args) -> int:
    """The suites (installed or not, and how to install them), or one suite's ids."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from jaxrl.envs import registry

    if args.suite is None and not args.ids:
        table = Table(title="environment suites (`jaxrl envs SUITE` lists a suite's ids)")
        for column in ("suite", "installed", "envs", "install", "what"):
            table.add_column(column)
        for row in registry.suite_table():
            table.add_row(row.prefix, "yes" if row.installed else "no",
                          str(row.envs) if row.installed else "-", escape(row.install),
                          row.description)
        Console(width=160).print(table)
        print("Your own env: `--env package.module:factory` on any command, or "
              "jaxrl.envs.register(id, factory).")
        return 0
    if args.suite is None:
        ids = registry.list()
    else:
        suite = registry.suites().get("" if args.suite == "gymnax" else args.suite)
        if suite is None:
            raise ConfigError(f"no suite {args.suite!r}; the suites are "
                              f"{', '.join(r.prefix for r in registry.suite_table())}")
        registry._require_installed(suite, args.suite)
        ids = [suite.env_id(name) for name in suite.names()]
        print(f"# time limit: {suite.time_limit}")
        if suite.options:
            print(f"# options (--env-set): "
                  f"{', '.join(f'{k} ({v.__name__})' for k, v in suite.options.items())}")
    for env_id in ids:
        name = env_id.split("/", 1)[-1]
        suite, _ = registry._suite_of(env_id)
        refused = suite is not None and name in suite.refused
        print(f"{env_id}  (cannot run here: {suite.refused[name]})" if refused else env_id)
    return 0


def add_common_flags(parser, out_help: str = "run directory (default runs/<algo>-<env>-<time>)",
                     resume_help: str = "continue the run in --out from its newest good "
                                        "checkpoint", positional: bool = True,
                     env_help: str = f"env id (see `jaxrl envs`; default {DEFAULT_ENV})") -> None:
    """The flags every training command takes, with the same meaning everywhere
    (``positional``: the algorithm name comes first)."""
    if positional:
        parser.add_argument("algorithm", help=f"algorithm name ({', '.join(registry.names())})")
    parser.add_argument("--env", default=None, help=env_help)
    parser.add_argument("--total-timesteps", default=None,
                        help="env steps per member (sets total_timesteps; 1e6 is accepted)")
    add_field_flags(parser)
    parser.add_argument("--out", help=out_help)
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    parser.add_argument("--distributed", action="store_true",
                        help="join the other processes of a multi-host job "
                             "(jax.distributed: TPU pods, SLURM and Open MPI are detected; "
                             "else set JAXRL_COORDINATOR, JAXRL_NUM_PROCESSES, "
                             "JAXRL_PROCESS_ID); the population spans every process's devices")
    add_memory_budget_flag(parser)


def add_field_flags(parser, file_keys: str = "env, env_overrides, num_seeds, seed") -> None:
    """``--set``, ``--env-set`` and ``--config``: what a command's run is made of."""
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="set a config/hyperparameter/run field (repeatable)")
    parser.add_argument("--env-set", action="append", metavar="NAME=VALUE",
                        help="set an env parameter (repeatable)")
    parser.add_argument("--config", help=f"YAML or JSON file of fields (and {file_keys}); "
                                         f"flags override it")


def add_memory_budget_flag(parser) -> None:
    parser.add_argument("--memory-budget", metavar="SIZE",
                        help="memory the population may use, e.g. 16GiB or 512MiB (default "
                             "memory_fraction of what is available); a population that does "
                             "not fit is updated in batches")


def _memory_budget_to_set(args) -> None:
    """``--memory-budget SIZE`` is ``--set memory_budget_gb=<GiB>``; a resumed ``train``
    takes it apart from the recorded config (the layout in memory changes no result)."""
    if not getattr(args, "memory_budget", None):
        return
    from jaxrl.runner.memory import parse_size

    args.memory_budget_gb = parse_size(args.memory_budget)
    if getattr(args, "resume", False):
        if args.command != "train":
            raise ConfigError(f"--memory-budget with --resume is supported by train only; "
                              f"drop it to resume this {args.command}")
        return
    args.set = [*(args.set or []), f"memory_budget_gb={args.memory_budget_gb!r}"]


def build_parser(algorithm: Optional[str] = None) -> argparse.ArgumentParser:
    """``algorithm``: whose fields ``train --help`` lists (else the list of algorithms)."""
    from jaxrl.meta.pipeline import MetaSpec
    from jaxrl.sweep.pbt import PBTSpec
    from jaxrl.sweep.sweep import SweepSpec

    parser = OneLineArgumentParser(prog="jaxrl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=OneLineArgumentParser)

    train = sub.add_parser("train", help="train a population",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog=_fields_help(algorithm) if algorithm in registry.names()
                           else _algorithms_help())
    add_common_flags(train)
    train.add_argument("--num-seeds", type=int, default=None,
                       help="population size (seeds; default 1)")
    train.add_argument("--seed", type=int, default=None,
                       help=f"first seed (default 0); members use seed+i. {SEED_RULE}")
    train.add_argument("--tensorboard", action="store_true", help="log to TensorBoard too")
    train.add_argument("--wandb", action="store_true", help="log to Weights & Biases too")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="evaluate a run's saved policies, or an exported one")
    ev.add_argument("run_dir", nargs="?", default=None)
    ev.add_argument("--export", metavar="DIR", default=None,
                    help="evaluate the policy `jaxrl export` wrote to DIR (instead of a run "
                         "directory) on its env, with jaxrl's learners not involved; seed 0 "
                         "and 10 episodes unless --seed and --episodes say")
    ev.add_argument("--member", type=int, default=None, help="only this member")
    ev.add_argument("--episodes", type=int, default=None,
                    help="episodes per member (default: the run's eval_episodes)")
    ev.add_argument("--video", metavar="PATH", default=None,
                    help="render the first evaluation episode (of --member, default 0) to "
                         "PATH: a .gif, or a video such as .mp4 (gymnax classic control, "
                         "image envs such as MinAtar, brax)")
    ev.add_argument("--seed", type=int, default=None,
                    help="evaluation seed (default: the run's eval_seed, so the newest "
                         "checkpoint is scored on the episodes of summary.json's final "
                         "evaluation); another seed S scores the episodes the run would have "
                         "used at that checkpoint with eval_seed=S")
    ev.add_argument("--env-set", action="append", metavar="NAME=VALUE",
                    help="score every member on these env parameters (held-out values: "
                         "a population trained with a parameter drawn per member, say) "
                         "instead of its own")
    ev.set_defaults(func=cmd_eval)

    export = sub.add_parser("export", help="write a member's policy as a self-contained "
                                           "artefact (jaxrl.load_policy reads it)")
    export.add_argument("run_dir")
    export.add_argument("--member", type=int, default=None,
                        help="the member to export (default: the one the run's evaluation "
                             "at its newest checkpoint rates best)")
    export.add_argument("--out", required=True, metavar="DIR",
                        help="directory to write policy.json, params.msgpack and the "
                             "serialised policy into")
    export.set_defaults(func=cmd_export)

    from jaxrl.offline.commands import add_parser as add_record_parser

    add_record_parser(sub)

    bench = sub.add_parser("bench", help="throughput / compile / memory vs population size")
    bench.add_argument("algorithm")
    bench.add_argument("--env", default=None, help=f"env id (default {DEFAULT_ENV})")
    bench.add_argument("--members", default="1,16,64", help="comma-separated population sizes")
    bench.add_argument("--total-timesteps", default=None,
                       help=f"env steps per member (default {BENCH_TIMESTEPS:,})")
    add_field_flags(bench, file_keys="env, env_overrides")
    bench.add_argument("--json", "--out", dest="json", help="write the results (JSON) here")
    add_memory_budget_flag(bench)
    bench.set_defaults(func=cmd_bench)

    sweep = sub.add_parser("sweep", help="a hyperparameter sweep: populations of (config x "
                                         "seed), tuning and test seeds, results table")
    add_common_flags(sweep, out_help="sweep directory (default sweeps/<algo>-<env>-<time>)",
                     resume_help="continue the sweep in --out (finished batches are kept)")
    sweep.add_argument("--space", help="search space file (YAML/JSON, W&B sweep format)")
    sweep.add_argument("--sampler", default=None,
                       help="grid | random | sobol | halton | optuna (default: the file's "
                            "`method`, else random)")
    add_spec_flags(sweep, SweepSpec, SWEEP_FLAGS)
    sweep.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                       help="run the batches as Ray tasks on the cluster at ADDRESS (default "
                            "auto: the one this machine belongs to); extra jaxrl[ray]")
    sweep.add_argument("--ray-cpus", type=float, default=1.0,
                       help="CPUs per Ray task (its JAX gets one host device per CPU)")
    sweep.add_argument("--ray-gpus", type=float, default=0.0, help="GPUs per Ray task")
    sweep.set_defaults(func=cmd_sweep)

    pbt = sub.add_parser("pbt", help="population-based training of traced hyperparameters")
    add_common_flags(pbt, out_help="PBT directory (default pbt/<algo>-<env>-<time>)",
                     resume_help="continue the PBT run in --out from its newest checkpoint")
    pbt.add_argument("--space", help="search space over traced hyperparameters (YAML/JSON, "
                                     "W&B format): initial values and explore ranges")
    add_spec_flags(pbt, PBTSpec, PBT_FLAGS)
    pbt.set_defaults(func=cmd_pbt)

    report = sub.add_parser("report", help="Markdown/HTML report of runs, sweeps or PBT runs")
    report.add_argument("dirs", nargs="+", metavar="DIR",
                        help="run, sweep or PBT directories (several runs: compared)")
    report.add_argument("--out", help="report directory (default DIR/report)")
    report.set_defaults(func=cmd_report)

    meta = sub.add_parser("meta", help="meta-learn a PPO objective or hyperparameter "
                                        "schedules by evolution strategies",
                          epilog="--set takes the inner PPO's fields (ppo.NAME, run.NAME, "
                                 "env.NAME; see `jaxrl train ppo --help`) and the ES's "
                                 f"(meta.NAME: {', '.join(META_SETTINGS)}; meta.learning_rate "
                                 "is --meta-lr). learning_rate and seed are both, so say "
                                 "which: ppo.learning_rate or meta.learning_rate.")
    meta.add_argument("target", choices=["lpo", "schedule"],
                      help="lpo = a learned policy-objective drift; schedule = learned "
                           "schedules of traced hyperparameters over training progress")
    add_common_flags(meta, out_help="output directory (default meta/<target>-<time>)",
                     resume_help="continue the meta-learning run in --out",
                     positional=False, env_help="the training env (same as --train-envs ENV)")
    meta.add_argument("--train-envs", help="comma-separated env ids to meta-train on")
    meta.add_argument("--test-envs", help="comma-separated held-out env ids to meta-test on")
    meta.add_argument("--objective", default=None, choices=["lpo", "ta-lpo", "ta_lpo"],
                      help="lpo: the learned drift (ta-lpo also sees training progress n/N)")
    meta.add_argument("--schedule", default=None,
                      help="schedule: comma-separated float PPO fields to schedule "
                           "(default learning_rate,ent_coef)")
    add_spec_flags(meta, MetaSpec, META_FLAGS)
    meta.set_defaults(func=cmd_meta)

    envs = sub.add_parser("envs", help="list environment suites, or one suite's ids")
    envs.add_argument("suite", nargs="?", help="a suite's name (gymnax, brax, craftax, ...)")
    envs.add_argument("--ids", action="store_true", help="every id of the installed suites")
    envs.set_defaults(func=cmd_envs)
    return parser


def _early_counts(args) -> Tuple[Optional[int], int]:
    """(members, devices per member) for the device count, before JAX starts: from the
    run's recorded config when resuming or evaluating, else ``--num-seeds`` and ``--set``
    over the config file."""
    from jaxrl.platform import early_count

    run_dir = args.out if getattr(args, "resume", False) else getattr(args, "run_dir", None)
    if run_dir and os.path.exists(os.path.join(run_dir, "config.json")):
        try:
            with open(os.path.join(run_dir, "config.json")) as f:
                recorded = json.load(f)
            return (len(recorded["population"]),
                    early_count(recorded["run_config"].get("data_parallel")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    try:  # a bad file is reported later, in one line
        file = load_config_file(getattr(args, "config", None))
    except ConfigError:
        file = {}
    pairs = {name.strip(): value for name, _, value in
             (pair.partition("=") for pair in getattr(args, "set", None) or [])}
    data_parallel = early_count(pairs.get("data_parallel", file.get("data_parallel")))
    members = getattr(args, "num_seeds", None)
    if members is None and getattr(args, "command", None) == "train":
        members = early_count(file.get("num_seeds"))
    return members, data_parallel


def _use_cpu_cores(args) -> None:
    """One XLA host device per core, before JAX starts (see jaxrl.platform); for
    ``train`` and ``eval``, as many as the members (times the devices per member) use."""
    from jaxrl.platform import configure_cpu_devices

    if args.command in ("train", "eval", "export"):
        members, data_parallel = _early_counts(args)
        configure_cpu_devices(members * data_parallel if members else None)
    elif args.command in ("sweep", "pbt", "meta"):
        configure_cpu_devices(None)  # one device per core; each batch uses those it divides


def main(argv: Optional[List[str]] = None) -> int:
    from jaxrl.checkpoint import CheckpointError
    from jaxrl.envs import UnknownEnvError

    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        named = argv[1] if len(argv) > 1 and argv[0] == "train" else None
        args = build_parser(named).parse_args(argv)
    except SystemExit as exc:  # --help (0) or a one-line usage error (2)
        return exc.code
    _use_cpu_cores(args)
    if getattr(args, "video", None):
        os.environ.setdefault("MUJOCO_GL", "egl")  # brax's renderer: offscreen OpenGL
    from jaxrl.platform import configure

    configure()
    try:
        if getattr(args, "distributed", False):
            from jaxrl.distributed import initialize, is_leader

            initialize()
            if not is_leader():  # process 0 prints the reports; errors still reach stderr
                sys.stdout = open(os.devnull, "w")
        _memory_budget_to_set(args)
        return args.func(args)
    except (ConfigError, UnknownEnvError, CheckpointError) as exc:
        print(f"jaxrl: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR


if __name__ == "__main__":
    sys.exit(main())
