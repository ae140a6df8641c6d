"""An experiment: everything needed to build (and rebuild) a run, and its serialisation.

The one place where field values from any source (command-line strings, YAML/JSON files,
Python values, a run's config.json) are routed to the algorithm's ``Config`` /
``HParams`` and the ``RunConfig``, coerced strictly and validated before tracing. The
CLI, the benchmarks and (next) sweeps read experiments through here.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

from jaxrl import registry
from jaxrl.config import (ConfigError, check_seed_range, coerce_scalar, field_names,
                          route_settings, split_overrides, to_dict)

DEFAULT_ENV = "CartPole-v1"
# Keys a config file may hold besides the algorithm's and the run's fields: the same
# settings as the flags of the same names (a flag given on the command line wins).
FILE_KEYS = {"env": str, "num_seeds": int, "seed": int}


@dataclasses.dataclass
class Experiment:
    """Everything needed to rebuild a run; what config.json stores."""

    algorithm: str
    env: str
    env_overrides: Dict[str, Any]
    config: Any
    hparams: Any
    run_config: Any
    num_seeds: int
    seed: int
    # env parameters drawn per member: name -> distribution spec (jaxrl.envs.per_member)
    env_distributions: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def record(self) -> Dict[str, Any]:
        return {"algorithm": self.algorithm, "env": self.env,
                "env_overrides": self.env_overrides,
                "env_distributions": self.env_distributions, "config": to_dict(self.config),
                "hparams": to_dict(self.hparams), "run_config": to_dict(self.run_config),
                "num_seeds": self.num_seeds, "seed": self.seed}

    @classmethod
    def from_record(cls, rec: Dict[str, Any]) -> "Experiment":
        algorithm = rec["algorithm"]
        return make_experiment(algorithm, rec["env"],
                               {**{f"{algorithm}.{k}": v for k, v in rec["config"].items()},
                                **{f"{algorithm}.{k}": v for k, v in rec["hparams"].items()},
                                **{f"run.{k}": v for k, v in rec["run_config"].items()}},
                               {**rec.get("env_overrides", {}),
                                **rec.get("env_distributions", {})}, int(rec["num_seeds"]),
                               int(rec["seed"]), apply_defaults=False)

    def shared_env_params(self, command: str) -> "Experiment":
        """This experiment, for a command that takes one set of env parameters from
        ``--env-set`` (a distribution would otherwise be dropped without a word)."""
        if self.env_distributions:
            names = sorted(self.env_distributions)
            where = (f"; a sweep varies them in its space (env.{names[0]}: {{distribution: "
                     f"...}} under --space's parameters)" if command == "sweep" else
                     f"; distributions are drawn per member by `jaxrl train` and per inner "
                     f"run by `jaxrl meta`")
            raise ConfigError(f"jaxrl {command} takes one value for each env parameter from "
                              f"--env-set (e.g. --env-set {names[0]}=VALUE): "
                              f"{', '.join(names)} given as a distribution{where}")
        return self

    def build(self):
        """The algorithm and its population. Memory is planned before the population's
        arrays are built (``Run`` plans again for its devices): an absurd ``num_seeds``
        fails here in one line, not in numpy."""
        import jaxrl.envs
        from jaxrl.population import Population
        from jaxrl.runner.program import plan_on_devices

        env, env_params = jaxrl.envs.make(self.env, **self.env_overrides)
        algo = registry.get(self.algorithm).make(env, env_params, self.config)
        algo.check_hparams(self.hparams)
        plan_on_devices(algo, self.hparams, self.num_seeds, self.run_config)
        population = Population.from_seeds(self.hparams.validate(), self.num_seeds, self.seed)
        if self.env_distributions:
            from jaxrl.envs import per_member

            _, distributions = per_member.split(self.env, {**self.env_overrides,
                                                           **self.env_distributions})
            population.env_params = per_member.draw(env_params, distributions,
                                                    population.size, self.seed)
        return algo, population


def settings_namespaces(algorithm: str) -> Dict[str, Any]:
    """Where a run's settings live: ``ALGORITHM.`` (its Config and HParams fields),
    ``run.`` (RunConfig) and ``env.`` (env parameters, checked against the env)."""
    from jaxrl.runner import RunConfig

    entry = registry.get(algorithm)
    return {algorithm: field_names(entry.Config, entry.HParams),
            "run": field_names(RunConfig), "env": None}


def make_experiment(algorithm: str, env: str, values: Dict[str, Any],
                    env_overrides: Dict[str, Any], num_seeds: int = 1, seed: int = 0,
                    apply_defaults: bool = True) -> Experiment:
    """Routes ``{field: value}`` to Config / HParams / RunConfig, types the env overrides
    and validates everything (before tracing). Values are coerced strictly
    (``jaxrl.config.coerce``), so what config.json records is exactly what runs. A
    registered variant's defaults (e.g. ``c51``'s value distribution) come first."""
    from jaxrl.envs.registry import coerce_overrides
    from jaxrl.runner import RunConfig

    entry = registry.get(algorithm)
    routed = route_settings(values, settings_namespaces(algorithm),
                            f"; `jaxrl train {algorithm} --help` lists every field")
    algo_values = routed[algorithm]
    if apply_defaults:
        algo_values = {**dict(entry.defaults), **algo_values}
    config, hparams = split_overrides(algo_values, entry.Config, entry.HParams,
                                      algorithm=algorithm)
    (run_config,) = split_overrides(routed["run"], RunConfig, algorithm=algorithm)
    env_overrides = {**env_overrides, **routed["env"]}
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds <= 0:
        raise ConfigError(f"--num-seeds {num_seeds} must be positive")
    check_seed_range(seed, num_seeds)
    from jaxrl.envs import per_member

    if not isinstance(env_overrides, dict):
        coerce_overrides(env, env_overrides)  # raises, naming what is wrong
    fixed, distributions = per_member.split(env, env_overrides)
    experiment = Experiment(algorithm, env, coerce_overrides(env, fixed), entry.Config(**config),
                            entry.HParams(**hparams), RunConfig(**run_config), num_seeds, seed,
                            per_member.record(distributions))
    experiment.config.validate()
    experiment.hparams.validate()
    experiment.run_config.validate()
    return experiment


def merge_sources(config_path: Optional[str] = None,
                  values: Optional[Dict[str, Any]] = None,
                  env_values: Optional[Dict[str, Any]] = None,
                  total_timesteps: Any = None):
    """A config file with the flags over it: ``(field values, env overrides, the file's
    env / num_seeds / seed settings)``. What every command's common flags mean."""
    file_values = load_config_file(config_path)
    where = f"--config {config_path}"
    env_overrides = file_values.pop("env_overrides", None)
    if env_overrides is None:
        env_overrides = {}
    if not isinstance(env_overrides, dict):
        raise ConfigError(f"{where}: env_overrides must be a mapping of env parameter names "
                          f"to values (e.g. env_overrides: {{max_steps_in_episode: 200}}); "
                          f"got {env_overrides!r}")
    from_file = {key: coerce_scalar(kind, file_values.pop(key), f"{where}: {key}")
                 for key, kind in FILE_KEYS.items() if key in file_values}
    file_values.update(values or {})
    if total_timesteps is not None:
        file_values["total_timesteps"] = total_timesteps
    return file_values, {**env_overrides, **(env_values or {})}, from_file


def experiment_from_sources(algorithm: str, config_path: Optional[str] = None,
                            values: Optional[Dict[str, Any]] = None,
                            env_values: Optional[Dict[str, Any]] = None,
                            env: Optional[str] = None, num_seeds: Optional[int] = None,
                            seed: Optional[int] = None,
                            total_timesteps: Any = None) -> Experiment:
    """A config file, then field values (``--set``), ``total_timesteps``, env values
    (``--env-set``) and the env / num_seeds / seed settings over it (``None``: not given,
    the file's value or the default applies)."""
    values, env_overrides, from_file = merge_sources(config_path, values, env_values,
                                                     total_timesteps)

    def pick(given, key, default):
        return given if given is not None else from_file.get(key, default)

    return make_experiment(algorithm, pick(env, "env", DEFAULT_ENV), values,
                           env_overrides, pick(num_seeds, "num_seeds", 1), pick(seed, "seed", 0))


def resume_differences(recorded: Experiment, algorithm: Optional[str] = None,
                       config_path: Optional[str] = None,
                       values: Optional[Dict[str, Any]] = None,
                       env_values: Optional[Dict[str, Any]] = None,
                       env: Optional[str] = None, num_seeds: Optional[int] = None,
                       seed: Optional[int] = None, total_timesteps: Any = None) -> List[str]:
    """The settings given for a resume (``None``: not given) that differ from the
    recorded experiment's, as ``"name (recorded X, given Y)"``. Given values are coerced
    and validated as for a new run, so ``1e6`` equals ``1000000``."""
    if algorithm is not None and algorithm != recorded.algorithm:
        return [f"algorithm (recorded {recorded.algorithm}, given {algorithm})"]
    values, env_overrides, from_file = merge_sources(config_path, values, env_values,
                                                     total_timesteps)
    given_env = env if env is not None else from_file.get("env", recorded.env)
    rec = recorded.record()
    fields = {**rec["config"], **rec["hparams"], **rec["run_config"]}
    candidate = make_experiment(
        recorded.algorithm, given_env, {**fields, **values},
        {**recorded.env_overrides, **recorded.env_distributions, **env_overrides}
        if given_env == recorded.env
        else env_overrides,
        num_seeds if num_seeds is not None else from_file.get("num_seeds", recorded.num_seeds),
        seed if seed is not None else from_file.get("seed", recorded.seed),
        apply_defaults=False).record()
    differ = []
    for key in ("env", "num_seeds", "seed", "env_overrides", "env_distributions"):
        if candidate[key] != rec[key]:
            differ.append(f"{key} (recorded {rec[key]}, given {candidate[key]})")
    for part in ("config", "hparams", "run_config"):
        for name, value in candidate[part].items():
            if value != rec[part].get(name) and name != "memory_budget_gb":
                differ.append(f"{name} (recorded {rec[part].get(name)}, given {value})")
    return differ


def read_run_config(run_dir: str) -> Experiment:
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path) as f:
            return Experiment.from_record(json.load(f))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is missing or damaged ({type(exc).__name__}: {exc}); "
                          f"it is needed to resume or evaluate this run")



def load_config_file(path: Optional[str], flag: str = "--config") -> Dict[str, Any]:
    """A YAML or JSON mapping; errors name ``flag``, the option the path came from."""
    if not path:
        return {}
    if not os.path.exists(path):
        raise ConfigError(f"{flag} {path}: file not found")
    import yaml

    try:
        with open(path) as f:
            text = f.read()
        data = (yaml.safe_load(text) or {}) if path.endswith((".yaml", ".yml")) \
            else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{flag} {path} could not be read: {first}")
    if not isinstance(data, dict):
        raise ConfigError(f"{flag} {path}: expected a mapping of field names to values")
    return data
