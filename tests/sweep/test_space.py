"""Search spaces and samplers: parsing the W&B format, one-line rejections of bad spaces,
and where samplers put their points (no compilation here)."""
import math

import numpy as np
import pytest

from jaxrl.config import ConfigError
from jaxrl.sweep import SearchSpace, sample
from jaxrl.sweep.samplers import unit_points
from jaxrl.sweep.space import Choice, Fixed, IntUniform, LogUniform, QUniform, Uniform

ISSUE_EXAMPLE = {"parameters": {
    "learning_rate": {"distribution": "log_uniform_values", "min": 1.0e-4, "max": 3.0e-3},
    "ent_coef": {"distribution": "uniform", "min": 0.0, "max": 0.02},
    "num_envs": {"values": [4, 8]},
    "gamma": {"value": 0.99},
}}


def test_wandb_format_parses_and_classifies_fields():
    space = SearchSpace.from_dict(ISSUE_EXAMPLE, "ppo")
    assert space.static_names == ["num_envs"]
    assert space.traced_names == ["learning_rate", "ent_coef", "gamma"]
    assert isinstance(space.param("learning_rate"), LogUniform)
    assert isinstance(space.param("gamma"), Fixed)
    assert [p.name for p in space.varying] == ["learning_rate", "ent_coef", "num_envs"]
    # The record round-trips (what sweep.json stores).
    again = SearchSpace.from_dict(space.record(), "ppo")
    assert again.params == space.params


def test_from_unit_maps_by_hand():
    assert LogUniform("lr", 1e-4, 1e-2).from_unit(0.5) == pytest.approx(1e-3)  # geometric mid
    assert Uniform("x", 0.0, 0.02).from_unit(0.25) == pytest.approx(0.005)
    assert [IntUniform("n", 1, 3).from_unit(u) for u in (0.0, 0.34, 0.67, 0.999)] == [1, 2, 3, 3]
    assert QUniform("q", 0.0, 1.0, 0.25).from_unit(0.6) == pytest.approx(0.5)
    assert Choice("c", (4, 8)).from_unit(0.49) == 4 and Choice("c", (4, 8)).from_unit(0.5) == 8
    assert QUniform("q", 0.0, 1.0, 0.25).grid() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_values_are_coerced_to_the_field_types():
    space = SearchSpace.from_dict({"parameters": {
        "num_envs": {"values": [4, "8"]}, "hidden_sizes": {"values": [[32, 32], [64]]},
        "anneal_lr": {"values": [True, False]}}}, "ppo")
    configs = space.grid()
    assert len(configs) == 8
    assert {type(c["num_envs"]) for c in configs} == {int}
    assert {c["hidden_sizes"] for c in configs} == {(32, 32), (64,)}


@pytest.mark.parametrize("params, message", [
    ({"learning_rate": {"distribution": "uniform", "min": 0.1, "max": 0.1}}, "empty range"),
    ({"learning_rate": {"distribution": "uniform", "min": 0.2, "max": 0.1}}, "empty range"),
    ({"learning_rate": {"distribution": "log_uniform_values", "min": 0.0, "max": 0.1}},
     "log_uniform_values needs min > 0"),
    ({"learning_rte": {"values": [0.1]}}, "did you mean 'learning_rate'"),
    ({"eval_episodes": {"values": [4, 8]}}, "run setting"),
    ({"num_envs": {"values": [4, "many"]}}, "not a valid int"),
    ({"anneal_lr": {"values": [True, "sometimes"]}}, "not a valid bool"),
    ({"anneal_lr": {"distribution": "uniform", "min": 0, "max": 1}}, "needs a number field"),
    ({"num_envs": {"distribution": "uniform", "min": 2, "max": 8}}, "use int_uniform"),
    ({"learning_rate": {"distribution": "uniform", "min": -0.1, "max": 0.1}},
     "learning_rate=-0.1 is not a valid value"),
    ({"gae_lambda": {"distribution": "uniform", "min": 0.5, "max": 1.5}},
     "gae_lambda=1.5 is not a valid value"),
    ({"learning_rate": {"distribution": "normal", "min": 0, "max": 1}}, "not one of"),
    ({"learning_rate": {"values": []}}, "non-empty list"),
    ({"learning_rate": 0.1}, "expected {value: x}"),
    ({"run.eval_episodes": {"values": [4, 8]}}, "a search space cannot vary"),
    ({"dqn.gamma": {"values": [0.9]}}, "'dqn' is not this sweep's algorithm"),
])
def test_bad_spaces_are_rejected_in_one_line(params, message):
    with pytest.raises(ConfigError, match=message) as info:
        SearchSpace.from_dict({"parameters": params}, "ppo")
    assert "\n" not in str(info.value)


def test_values_are_checked_against_the_sweeps_other_settings():
    space = {"parameters": {"num_minibatches": {"values": [4, 3]}}}
    SearchSpace.from_dict(space, "ppo", base={"num_envs": 4, "num_steps": 3})  # 12 % 3 == 0
    with pytest.raises(ConfigError, match="num_minibatches=3 is not a valid value"):
        SearchSpace.from_dict(space, "ppo", base={"num_envs": 4, "num_steps": 128})


def test_grid_is_the_full_product_and_refuses_continuous_ranges():
    space = SearchSpace.from_dict({"parameters": {
        "num_envs": {"values": [4, 8]}, "clip_eps": {"values": [0.1, 0.2, 0.3]},
        "gamma": {"value": 0.99}}}, "ppo")
    grid = sample(space, "grid", None)
    assert len(grid) == 6 and len({(c["num_envs"], c["clip_eps"]) for c in grid}) == 6
    with pytest.raises(ConfigError, match="smaller than the grid's 6"):
        sample(space, "grid", 4)
    with pytest.raises(ConfigError, match="a grid needs"):
        sample(SearchSpace.from_dict(ISSUE_EXAMPLE, "ppo"), "grid", None)


@pytest.mark.parametrize("sampler", ["random", "sobol", "halton"])
def test_samplers_stay_in_range_and_are_seeded(sampler):
    space = SearchSpace.from_dict(ISSUE_EXAMPLE, "ppo")
    a = sample(space, sampler, 64, seed=3)
    assert a == sample(space, sampler, 64, seed=3)
    assert a != sample(space, sampler, 64, seed=4)
    lr = np.array([c["learning_rate"] for c in a])
    assert lr.min() >= 1e-4 and lr.max() <= 3e-3
    assert {c["num_envs"] for c in a} == {4, 8}
    assert {c["gamma"] for c in a} == {0.99}
    # Log-uniform: about half of the points below the geometric midpoint.
    assert 0.3 < np.mean(lr < math.sqrt(1e-4 * 3e-3)) < 0.7


def test_quasi_random_points_cover_the_cube_more_evenly_than_random():
    qmc = pytest.importorskip("scipy.stats.qmc")
    disc = {k: np.mean([qmc.discrepancy(unit_points(k, 128, 3, s)) for s in range(5)])
            for k in ("random", "sobol", "halton")}
    assert disc["sobol"] < disc["random"] / 2 and disc["halton"] < disc["random"] / 2


def test_space_names_may_carry_the_algorithms_namespace():
    space = SearchSpace.from_dict({"parameters": {"ppo.learning_rate": {"values": [1e-3]}}},
                                  "ppo")
    assert space.names == ["learning_rate"]


def test_nested_settings_are_searched_by_path():
    space = SearchSpace.from_dict({"parameters": {
        "dpo_alpha": {"distribution": "uniform", "min": 1.0, "max": 3.0},
        "ppo.objective.dpo_beta": {"values": [0.5, 0.6]}}}, "ppo")
    assert space.names == ["objective.dpo_alpha", "objective.dpo_beta"]
    assert space.traced_names == space.names
    values = space.from_unit([0.5, 0.0])
    assert values == {"objective.dpo_alpha": 2.0, "objective.dpo_beta": 0.5}
