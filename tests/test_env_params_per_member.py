"""Environment parameters per member (``jaxrl.envs.per_member``): drawn from the sweep
space's distributions, carried by the population as a traced axis, and every member
equal to its run alone with those params fixed."""
from __future__ import annotations

import json
import os

import jax
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
