"""Environment parameters per member (``jaxrl.envs.per_member``): drawn from the sweep
space's distributions, carried by the population as a traced axis, and every member
equal to its run alone with those params fixed."""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.config import ConfigError
from jaxrl.experiment import Experiment, make_experiment
from jaxrl.runner import RunConfig, train
from tolerances import assert_member_matches

TINY = {"total_timesteps": 1024, "num_envs": 4, "num_steps": 16, "num_minibatches": 2,
        "num_epochs": 1}
GRAVITY = {"gravity": "{distribution: uniform, min: 5.0, max: 15.0}"}


@pytest.fixture(scope="module")
def together():
    exp = make_experiment("ppo", "CartPole-v1", TINY, GRAVITY, num_seeds=2, seed=3)
    algo, population = exp.build()
    result = train(algo, population, RunConfig(num_chunks=1, eval_episodes=2), progress=False)
    return exp, population, result


def test_members_draw_their_own_params_reproducibly(together):
    exp, population, _ = together
    gravity = np.asarray(population.env_params.gravity)
    assert gravity.shape == (2,) and gravity.dtype == np.float32
    assert np.all((gravity >= 5.0) & (gravity <= 15.0)) and gravity[0] != gravity[1]
    np.testing.assert_array_equal(population.env_params.masscart, [1.0, 1.0])  # not drawn
    assert population.table()[1]["env.gravity"] == pytest.approx(float(gravity[1]))
    assert "env.masscart" not in population.table()[1]  # the same for every member
    # the record rebuilds the same members
    again = Experiment.from_record(json.loads(json.dumps(exp.record())))
    assert again.env_distributions == {"gravity": {"distribution": "uniform", "min": 5.0,
                                                   "max": 15.0}}
    _, rebuilt = again.build()
    np.testing.assert_array_equal(rebuilt.env_params.gravity, gravity)


def test_a_member_with_its_own_env_params_equals_its_run_alone(together):
    """Member i of the population against a one-member run with seed 3 + i and its drawn
    gravity fixed (a constant in that program, a traced value in the population's)."""
    _, population, result = together
    for i in range(2):
        gravity = float(population.env_params.gravity[i])
        alone_exp = make_experiment("ppo", "CartPole-v1", TINY, {"gravity": gravity},
                                    num_seeds=1, seed=3 + i)
        algo, alone_population = alone_exp.build()
        assert alone_population.env_params is None
        alone = train(algo, alone_population, RunConfig(num_chunks=1, eval_episodes=2),
                      progress=False)
        member = jax.tree.map(lambda x: x[i], result.carry.state)
        assert_member_matches(member, jax.tree.map(lambda x: x[0], alone.carry.state))
        assert result.summary["final_eval_return"][i] == pytest.approx(
            alone.summary["final_eval_return"][0])


def test_distributions_that_cannot_differ_per_member_are_refused():
    with pytest.raises(ConfigError, match="time limit is the same for every member"):
        make_experiment("ppo", "CartPole-v1", TINY,
                        {"max_steps_in_episode": "{distribution: int_uniform, min: 100, max: 200}"})
    with pytest.raises(ConfigError, match="cannot differ per member"):
        make_experiment("ppo", "xminigrid/MiniGrid-Empty-5x5", TINY,
                        {"view_size": {"values": [3, 5]}})
    from jaxrl.dimensions import IntUniform, LogUniform, QUniform
    from jaxrl.envs import per_member

    for bad in (LogUniform("n", 1.0, 10.0), QUniform("n", 0.0, 1.0, 0.5)):
        with pytest.raises(ConfigError, match="n is a int: use int_uniform"):
            per_member.check("x", {"n": int}, "n", "n", bad)
    assert per_member.check("x", {"n": int}, "n", "n", IntUniform("n", 1, 3)) is not None
    with pytest.raises(ConfigError, match="distribution 'gauss' is not one of"):
        make_experiment("ppo", "CartPole-v1", TINY, {"gravity": {"distribution": "gauss",
                                                                  "min": 1, "max": 2}})


def test_the_cli_takes_a_distribution_and_records_it(tmp_path):
    from jaxrl import cli

    out = str(tmp_path / "run")
    assert cli.main(["train", "ppo", "--env", "CartPole-v1", "--num-seeds", "2", "--out", out,
                     "--env-set", "gravity={distribution: uniform, min: 5, max: 15}",
                     "--no-progress", *[f"--set={k}={v}" for k, v in TINY.items()]]) == 0
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["env_distributions"]["gravity"]["max"] == 15.0
    assert config["env_overrides"] == {}
    # held-out values: every member scored on one given gravity, on the run's episodes
    own = cli.evaluate_run(out)
    summary = json.load(open(os.path.join(out, "summary.json")))
    np.testing.assert_allclose(own.returns.mean(axis=1), summary["final_eval_return"])
    held = cli.evaluate_run(out, env_values={"gravity": "25"})
    assert held.held_out == {"gravity": 25.0} and held.returns.shape == own.returns.shape
    assert "every member on gravity=25.0" in held.describe()


# ------------------------------------------------------------------ sweeps over env params
SWEEP_TINY = {**TINY, "num_chunks": 1, "eval_episodes": 2}


@pytest.fixture(scope="module")
def env_sweep(tmp_path_factory):
    from jaxrl.sweep import SweepSpec, run_sweep

    out = str(tmp_path_factory.mktemp("env_sweep") / "s")
    space = {"env.gravity": {"values": [5.0, 15.0]}, "learning_rate": {"values": [3e-4]}}
    spec = SweepSpec("ppo", "CartPole-v1", space, SWEEP_TINY, sampler="grid",
                     seeds_per_config=2, seed=4, test_seeds=0)
    return run_sweep(spec, out, progress=False), out


def test_a_sweep_varies_env_params_per_member_in_one_program(env_sweep):
    from jaxrl.sweep.results import read_table

    result, out = env_sweep
    assert [c["env.gravity"] for c in result.configs] == [5.0, 15.0]
    assert result.summary["compiled_programs_this_session"] == 1  # both gravities, one program
    table = read_table(os.path.join(out, "results.parquet"))
    assert sorted(set(table["env.gravity"])) == [5.0, 15.0]
    # the member (gravity 15, seed 5) equals its run alone with gravity 15 fixed
    exp = make_experiment("ppo", "CartPole-v1", {**SWEEP_TINY, "learning_rate": 3e-4},
                          {"gravity": 15.0}, num_seeds=1, seed=5)
    algo, population = exp.build()
    alone = train(algo, population, exp.run_config, progress=False)
    row = table[(table["env.gravity"] == 15.0) & (table.seed == 5)]
    assert float(row.eval_return.iloc[-1]) == pytest.approx(
        alone.summary["final_eval_return"][0])


def test_a_sweep_space_refuses_env_params_that_cannot_vary_and_pbt_refuses_any():
    from jaxrl.sweep import SweepSpec
    from jaxrl.sweep.pbt import PBTSpec

    with pytest.raises(ConfigError, match="--space: env.max_steps_in_episode: a time limit"):
        SweepSpec("ppo", "CartPole-v1", {"env.max_steps_in_episode": {"values": [100, 200]}}
                  ).search_space()
    with pytest.raises(ConfigError, match="env.gravity.*number|float"):
        SweepSpec("ppo", "CartPole-v1", {"env.gravity": {"values": ["high"]}}).search_space()
    with pytest.raises(ConfigError, match="cannot differ per member"):
        SweepSpec("ppo", "xminigrid/MiniGrid-Empty-5x5",
                  {"env.view_size": {"values": [3, 5]}}).search_space()
    with pytest.raises(ConfigError, match="only `jaxrl sweep` varies"):
        PBTSpec("ppo", space={"env.gravity": {"values": [5.0, 15.0]},
                              "learning_rate": {"values": [1e-4, 1e-3]}}).search_space()
    with pytest.raises(ConfigError, match="a sweep varies them in its space"):
        make_experiment("ppo", "CartPole-v1", TINY, GRAVITY).shared_env_params("sweep")


# ------------------------------------------------------------ meta over a task distribution
def test_the_traced_sampler_draws_each_field_from_its_quantiles():
    import jaxrl.envs
    from jaxrl.dimensions import Choice, Uniform
    from jaxrl.envs import per_member

    _, params = jaxrl.envs.make("CartPole-v1")
    draw = jax.jit(jax.vmap(per_member.sampler(
        params, {"gravity": Uniform("gravity", 5.0, 15.0),
                 "force_mag": Choice("force_mag", (5.0, 20.0))}, resolution=8)))
    drawn = draw(jax.random.split(jax.random.PRNGKey(0), 4000))
    gravity, force = np.asarray(drawn.gravity), np.asarray(drawn.force_mag)
    # 8 quantiles of U(5, 15): 5.625, 6.875, ..., 14.375, each about 1/8 of the draws
    np.testing.assert_allclose(np.unique(gravity), 5.0 + 10.0 * (np.arange(8) + 0.5) / 8)
    assert set(np.unique(force)) == {5.0, 20.0} and 0.45 < np.mean(force == 5.0) < 0.55
    assert abs(np.corrcoef(gravity, force)[0, 1]) < 0.1  # drawn independently
    np.testing.assert_array_equal(draw(jax.random.split(jax.random.PRNGKey(0), 4000)).gravity,
                                  gravity)  # a function of the key


def test_a_meta_task_over_a_distribution_trains_each_inner_run_on_its_drawn_env():
    """fitness(p, key) on a gravity distribution equals fitness on the gravity drawn from
    the key's first half, fixed, with the key's second half."""
    import jaxrl.envs
    from jaxrl.envs import per_member
    from jaxrl.meta.tasks import training_task

    values = {**TINY, "total_timesteps": 512}
    inject = lambda hp, p: hp.replace(learning_rate=hp.learning_rate * jnp.exp(p))  # noqa: E731
    task = training_task("ppo", "CartPole-v1", inject, values, GRAVITY, eval_episodes=2)
    key = jax.random.PRNGKey(7)
    task_key, run_key = jax.random.split(key)
    _, params = jaxrl.envs.make("CartPole-v1")
    _, distributions = per_member.split("CartPole-v1", GRAVITY)
    gravity = float(per_member.sampler(params, distributions)(task_key).gravity)
    assert 5.0 <= gravity <= 15.0
    fixed = training_task("ppo", "CartPole-v1", inject, values, {"gravity": gravity},
                          eval_episodes=2)
    p = np.float32(0.3)
    assert float(jax.jit(task.fitness)(p, key)) == pytest.approx(
        float(jax.jit(fixed.fitness)(p, run_key)), rel=1e-5)



# ------------------------------------------------- resume and sharding with drawn params
def test_a_run_with_drawn_params_resumes_bitwise_from_its_record(tmp_path):
    """Killed after its first chunk and resumed the way `jaxrl train --resume` does (the
    experiment rebuilt from config.json, so the members' params are drawn again from the
    seed): bitwise the uninterrupted run."""
    from jaxrl.experiment import read_run_config

    values = {**TINY, "num_chunks": 2}
    exp = make_experiment("ppo", "CartPole-v1", values, GRAVITY, num_seeds=2, seed=5)
    algo, population = exp.build()
    full = train(algo, population, exp.run_config, progress=False)
    run_dir = str(tmp_path / "run")
    partial = train(algo, population, exp.run_config, run_dir=run_dir, progress=False,
                    config_record=exp.record(), stop_after_chunks=1)
    assert partial.summary is None
    again = read_run_config(run_dir)
    algo2, population2 = again.build()
    np.testing.assert_array_equal(population2.env_params.gravity, population.env_params.gravity)
    resumed = train(algo2, population2, again.run_config, run_dir=run_dir, resume=True,
                    progress=False)
    for a, b in zip(jax.tree.leaves(full.carry.state), jax.tree.leaves(resumed.carry.state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert resumed.summary["final_eval_return"] == full.summary["final_eval_return"]


SHARDED = """
import json, jax, numpy as np
from jaxrl.experiment import make_experiment
from jaxrl.runner import Run, train
assert len(jax.devices()) == 2
exp = make_experiment("ppo", "CartPole-v1", {tiny!r}, {gravity!r}, num_seeds=4, seed=1)
algo, population = exp.build()
out = {{}}
for name, devices in (("one", jax.devices()[:1]), ("two", jax.devices())):
    run = Run(algo, population, exp.run_config, devices=devices)
    result = train(algo, population, exp.run_config, progress=False, run=run)
    out[name] = {{"params": [np.asarray(x, np.float64).ravel().tolist()
                            for x in jax.tree.leaves(result.carry.state.params)],
                 "eval": list(result.summary["final_eval_return"])}}
print("RESULT" + json.dumps(out))
"""


def test_members_with_drawn_params_sharded_over_two_devices_equal_one_device():
    import subprocess
    import sys

    from cli_processes import host_devices_env

    script = SHARDED.format(tiny={**TINY, "num_chunks": 1, "eval_episodes": 2},
                            gravity=GRAVITY)
    proc = subprocess.run([sys.executable, "-c", script],  # PPO at LLVM level 0: see
                          env=host_devices_env(2, quick_compile=True),  # QUICK_COMPILE
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1][6:])
    for one, two in zip(out["one"]["params"], out["two"]["params"]):
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5)  # as test_sharding
    np.testing.assert_allclose(out["two"]["eval"], out["one"]["eval"], rtol=1e-4)


def test_the_cli_sweeps_env_params_and_hands_meta_its_distribution(tmp_path, monkeypatch,
                                                                    capsys):
    import yaml

    from jaxrl import cli
    import jaxrl.meta.pipeline as pipeline

    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"parameters": {"env.gravity": {"values": [5.0, 15.0]}}}))
    out = str(tmp_path / "sweep")
    flags = [f"--set={k}={v}" for k, v in SWEEP_TINY.items()]
    assert cli.main(["sweep", "ppo", "--env", "CartPole-v1", "--space", str(space),
                     "--sampler", "grid", "--seeds-per-config", "1", "--test-seeds", "0",
                     "--out", out, "--no-progress", *flags]) == 0
    configs = json.load(open(os.path.join(out, "sweep.json")))["configs"]
    assert [c["env.gravity"] for c in configs] == [5.0, 15.0]
    # pbt refuses env params in its space; a distribution given to sweep says where it goes
    capsys.readouterr()
    assert cli.main(["pbt", "ppo", "--env", "CartPole-v1", "--space", str(space),
                     "--out", str(tmp_path / "pbt"), *flags]) != 0
    assert "only `jaxrl sweep` varies" in capsys.readouterr().err
    assert cli.main(["sweep", "ppo", "--space", str(space), "--out", str(tmp_path / "s2"),
                     "--env-set", "force_mag={distribution: uniform, min: 5, max: 15}",
                     *flags]) != 0
    assert "a sweep varies them in its space" in capsys.readouterr().err

    class Captured(Exception):
        pass

    def capture(spec, *args, **kwargs):
        raise Captured(spec)

    monkeypatch.setattr(pipeline, "run_meta", capture)
    with pytest.raises(Captured) as caught:
        cli.main(["meta", "lpo", "--env", "CartPole-v1", "--out", str(tmp_path / "m"),
                  "--env-set", "gravity={distribution: uniform, min: 5, max: 15}", *flags])
    assert caught.value.args[0].env_overrides["gravity"] == {
        "distribution": "uniform", "min": 5.0, "max": 15.0}
