"""``jaxrl record``: datasets from a run's saved policies, its replay buffers, a uniform
random policy, or a mixture of datasets (D4RL's recipes, on jaxrl's own agents).

    jaxrl record RUN --out DATA [--member K] [--checkpoint C] [--episodes N] [--noise S]
    jaxrl record RUN --out DATA --replay            # the member's replay buffer
    jaxrl record random --env ID --out DATA --episodes N
    jaxrl record --mix DATA1 DATA2 ... --out DATA   # medium-expert = medium + expert

Every dataset's metadata names its recording policies and their returns (noise-free,
on ``--reference-episodes`` fresh episodes) and the reference returns of normalised
scores: ``ref_min_score`` a uniform random policy's, ``ref_max_score`` the best recording
policy's (``--ref-min`` / ``--ref-max`` set them instead, e.g. an expert's return).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import jax
import numpy as np

from jaxrl.config import ConfigError, parse_pairs
from jaxrl.offline.dataset import write_minari
from jaxrl.offline.record import (episode_summary, mean_return, mix, replay_episodes,
                                  rollout_episodes)

RANDOM = "random"


def _metadata(env_id: str, env_overrides: Dict[str, Any], policies: List[Dict[str, Any]],
              ref_min: Optional[float], ref_max: Optional[float], args,
              algorithm: Optional[str] = None) -> Dict[str, Any]:
    meta: Dict[str, Any] = {
        "dataset_id": args.dataset_id or f"jaxrl/{os.path.basename(os.path.abspath(args.out))}",
        "description": "recorded by `jaxrl record` (jaxrl's own agents)",
        "num_episodes_average_score": args.reference_episodes,
        "jaxrl": {"env": env_id, "env_overrides": env_overrides, "policies": policies,
                  "seed": args.seed}}
    if algorithm:
        meta["algorithm_name"] = algorithm
    ref_min = args.ref_min if args.ref_min is not None else ref_min
    ref_max = args.ref_max if args.ref_max is not None else ref_max
    if ref_min is not None:
        meta["ref_min_score"] = float(ref_min)
    if ref_max is not None:
        meta["ref_max_score"] = float(ref_max)
    return meta


def _check(args) -> None:
    if args.episodes is not None and args.episodes <= 0:
        raise ConfigError(f"--episodes {args.episodes} must be positive")
    if args.reference_episodes <= 0:
        raise ConfigError(f"--reference-episodes {args.reference_episodes} must be positive")
    if args.noise < 0:
        raise ConfigError(f"--noise {args.noise} must be >= 0")
    if os.path.exists(os.path.join(args.out, "data", "metadata.json")):
        raise ConfigError(f"--out {args.out} already holds a dataset; choose another")


def cmd_record(args) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    _check(args)
    if args.mix:
        if args.source is not None:
            raise ConfigError("jaxrl record takes a run directory, `random`, or --mix "
                              "DATASET...: one of them")
        episodes, mixed = mix(args.mix)
        info = mixed["jaxrl"]
        if not info["env"]:
            raise ConfigError("--mix: the datasets do not name the env they were recorded on "
                              "(jaxrl's metadata); mix datasets `jaxrl record` wrote")
        spaces = _spaces_of(info["env"], info["env_overrides"])
        meta = _metadata(info["env"], info["env_overrides"], info["policies"],
                         mixed.get("ref_min_score"), mixed.get("ref_max_score"), args)
        meta["jaxrl"]["mixed_from"] = info["mixed_from"]
        return _write(console, args, episodes, spaces, meta)
    if args.source is None:
        raise ConfigError("jaxrl record needs a run directory, `random` (with --env), or "
                          "--mix DATASET...")
    if args.source == RANDOM and not os.path.exists(os.path.join(RANDOM, "config.json")):
        return _record_random(console, args)
    return _record_run(console, args)


def _spaces_of(env_id: str, env_overrides: Dict[str, Any]):
    import jaxrl.envs
    from jaxrl.components.rollout import observation_env

    env, params = jaxrl.envs.make(env_id, **env_overrides)
    env = observation_env(env, params)
    return env, params


def _record_random(console, args) -> int:
    if not args.env:
        raise ConfigError("jaxrl record random needs --env ID")
    from jaxrl.envs.registry import coerce_overrides

    overrides = coerce_overrides(args.env, parse_pairs(args.env_set, "--env-set"))
    env, params = _spaces_of(args.env, overrides)
    key = jax.random.PRNGKey(args.seed)
    episodes = rollout_episodes(env, params, None, jax.random.fold_in(key, 0),
                                args.episodes or 100)
    ref_min = mean_return(env, params, None, jax.random.fold_in(key, 1),
                          args.reference_episodes)
    policies = [{"policy": RANDOM, "return": ref_min,
                 **episode_summary(episodes, None, None)}]
    meta = _metadata(args.env, overrides, policies, ref_min, None, args)
    return _write(console, args, episodes, (env, params), meta)


def _record_run(console, args) -> int:
    from jaxrl.restore import check_member, restore_run
    from jaxrl.contract import member_env

    if args.env:
        raise ConfigError("--env is for `jaxrl record random`; a run records on its own env")
    warn = lambda m: console.print(f"[yellow]warning:[/] {m}", soft_wrap=True)  # noqa: E731
    restored = restore_run(args.source, warn=warn, checkpoint=args.checkpoint)
    member = args.member or 0
    check_member(member, restored.population.size)
    algo, spec = restored.algo, restored.spec
    state = restored.member_state(member)
    key = jax.random.PRNGKey(args.seed)
    described = {"run": os.path.abspath(args.source), "algorithm": spec.algorithm,
                 "member": member, "seed": int(restored.population.seeds[member]),
                 "checkpoint": int(restored.checkpoint), "noise": args.noise}
    with member_env(algo, restored.member_env_params(member)):
        env, params = algo.eval_env, algo.env_params
        policy = algo.policy(state)
        ref_min = mean_return(env, params, None, jax.random.fold_in(key, 1),
                              args.reference_episodes)
        policy_return = mean_return(env, params, policy, jax.random.fold_in(key, 2),
                                    args.reference_episodes)
        if args.replay:
            if args.episodes is not None or args.noise:
                raise ConfigError("--replay records the member's replay buffer as it is: drop "
                                  "--episodes and --noise")
            if not hasattr(state, "replay") or not hasattr(algo, "to_env") \
                    or isinstance(state.replay, tuple):
                raise ConfigError(f"--replay needs an off-policy run with a replay buffer; "
                                  f"{spec.algorithm} keeps none")
            episodes = replay_episodes(state.replay, lambda a: np.asarray(algo.to_env(a)))
            described["kind"] = "replay buffer"
        else:
            episodes = rollout_episodes(env, params, policy, jax.random.fold_in(key, 0),
                                        args.episodes or 100, noise=args.noise)
            described["kind"] = "policy"
    described.update({"return": policy_return, **episode_summary(episodes, None, None)})
    meta = _metadata(spec.env, spec.env_overrides, [described], ref_min,
                     policy_return, args, spec.algorithm)
    return _write(console, args, episodes, (env, params), meta)


def _write(console, args, episodes, env_and_params, meta) -> int:
    env, params = env_and_params
    write_minari(args.out, episodes, env.observation_space(params), env.action_space(params),
                 meta, args.format)
    summary = episode_summary(episodes, meta.get("ref_min_score"), meta.get("ref_max_score"))
    score = summary["normalized_score"]
    refs = ("" if score is None else
            f"; normalised score {score:.1f} (0 = {meta['ref_min_score']:.1f}, "
            f"100 = {meta['ref_max_score']:.1f})")
    console.print(f"wrote {args.out}: {summary['steps']:,} transitions in "
                  f"{summary['episodes']:,} episodes, return {summary['return_mean']:.1f} +- "
                  f"{summary['return_std']:.1f}{refs}", soft_wrap=True)
    return 0


def add_parser(sub) -> None:
    record = sub.add_parser(
        "record", help="record a dataset (Minari format) from a run's policy or replay "
                       "buffer, a random policy, or a mixture of datasets")
    record.add_argument("source", nargs="?", default=None,
                        help="a run directory, or `random` (a uniform random policy on --env)")
    record.add_argument("--out", required=True, metavar="DIR",
                        help="dataset directory to write (DIR/data/, Minari's layout)")
    record.add_argument("--member", type=int, default=None, help="the run's member (default 0)")
    record.add_argument("--checkpoint", type=int, default=None, metavar="C",
                        help="the newest checkpoint at C chunks or before (default: the "
                             "newest): an earlier one records a less trained policy")
    record.add_argument("--episodes", type=int, default=None,
                        help="episodes to record (default 100)")
    record.add_argument("--noise", type=float, default=0.0,
                        help="exploration noise: Gaussian std in units of half the action "
                             "range (Box), or the probability of a random action (Discrete)")
    record.add_argument("--replay", action="store_true",
                        help="record the member's replay buffer at that checkpoint instead "
                             "of rolling out its policy (D4RL's medium-replay)")
    record.add_argument("--mix", nargs="+", metavar="DATASET",
                        help="concatenate these datasets (same env), in order")
    record.add_argument("--env", default=None, help="env id (for `random`)")
    record.add_argument("--env-set", action="append", metavar="NAME=VALUE",
                        help="env parameters (for `random`)")
    record.add_argument("--seed", type=int, default=0, help="recording seed (default 0)")
    record.add_argument("--reference-episodes", type=int, default=100,
                        help="episodes behind each reference return (default 100)")
    record.add_argument("--ref-min", type=float, default=None,
                        help="normalised score 0 (default: a uniform random policy's return)")
    record.add_argument("--ref-max", type=float, default=None,
                        help="normalised score 100 (default: the best recording policy's "
                             "return)")
    record.add_argument("--format", default="hdf5", choices=("hdf5", "arrow"),
                        help="Minari storage format (default hdf5)")
    record.add_argument("--dataset-id", default=None,
                        help="Minari dataset id (default jaxrl/<basename of --out>)")
    record.set_defaults(func=cmd_record)
