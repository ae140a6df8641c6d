"""Sweeps end to end on a tiny budget: static groups and shared compiled programs, the
seed protocol, the results table, and Optuna's batch ask-and-tell."""
import json
import os

import numpy as np
import pytest

from jaxrl import stats
from jaxrl.sweep import SweepSpec, run_sweep
from jaxrl.sweep.results import read_table

TINY = {"total_timesteps": 1024, "num_steps": 32, "num_minibatches": 2, "num_epochs": 1,
        "num_chunks": 2, "eval_interval": 1, "eval_episodes": 2}
SPACE = {"learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 3e-3},
         "clip_eps": {"values": [0.1, 0.3]},
         "num_envs": {"values": [4, 8]}}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sweep") / "s")
    # 4 configurations (2 per num_envs group) x 2 seeds, at most 2 members per program:
    # each group runs in 2 batches sharing one compiled program, and the test phase (the
    # best configuration on 2 fresh seeds) reuses its group's program too.
    spec = SweepSpec("ppo", "CartPole-v1", SPACE, TINY, sampler="sobol", num_configs=4,
                     seeds_per_config=2, seed=10, test_seeds=2, test_top=1, max_members=2)
    return run_sweep(spec, out, progress=False), out


def test_static_groups_compile_once_each_and_batches_share_programs(sweep):
    result, out = sweep
    assert sorted({c["num_envs"] for c in result.configs}) == [4, 8]
    units = sorted(os.listdir(os.path.join(out, "units")))
    assert units == ["test-g002-b000", "tune-g000-b000", "tune-g000-b001", "tune-g001-b000",
                     "tune-g001-b001"]
    assert result.summary["compiled_programs_this_session"] == 2


def test_test_seeds_are_fresh_and_the_best_is_the_tuning_argmax(sweep):
    result, out = sweep
    summary = result.summary
    assert summary["tuning_seeds"] == [10, 11] and summary["test_seeds"] == [12, 13]
    table = read_table(os.path.join(out, "results.parquet"))
    assert set(table[table.phase == "tune"].seed) == {10, 11}
    assert set(table[table.phase == "test"].seed) == {12, 13}
    final = table[(table.phase == "tune") & (table.env_steps == table.env_steps.max())]
    by_config = {c: stats.iqm(g.eval_return) for c, g in final.groupby("config")}
    best = max(sorted(by_config), key=lambda c: by_config[c])
    assert result.best == [best]
    assert summary["best"][0]["tune_iqm"] == pytest.approx(by_config[best])
    test_final = table[(table.phase == "test") & (table.env_steps == table.env_steps.max())]
    assert set(test_final.config) == {best}
    assert summary["best"][0]["test_iqm"] == pytest.approx(stats.iqm(test_final.eval_return))


def test_results_table_has_a_row_per_member_per_evaluation(sweep):
    result, out = sweep
    table = read_table(os.path.join(out, "results.parquet"))
    # Tuning: 4 configs x 2 seeds x 2 evaluations; test: 1 config x 2 seeds x 2.
    assert len(table) == 4 * 2 * 2 + 2 * 2
    assert {"phase", "config", "seed", "env_steps", "eval_return", "learning_rate",
            "clip_eps", "num_envs", "alive"} <= set(table.columns)
    for _, row in table.iterrows():  # every row carries its configuration's values
        config = result.configs[row.config]
        assert row.learning_rate == pytest.approx(config["learning_rate"])
        assert row.num_envs == config["num_envs"]
    # Each batch is an ordinary run directory whose summary agrees with the table.
    run = json.load(open(os.path.join(out, "units", "tune-g000-b000", "summary.json")))
    rows = table[(table.unit == "tune-g000-b000") & (table.env_steps == 1024)]
    np.testing.assert_allclose(rows.eval_return, run["final_eval_return"])


def test_a_finished_sweep_needs_resume_and_resumes_to_the_same_table(sweep, tmp_path):
    from jaxrl.config import ConfigError

    result, out = sweep
    with pytest.raises(ConfigError, match="--resume"):
        run_sweep(SweepSpec("ppo", space=SPACE, base_values=TINY), out, progress=False)
    before = read_table(os.path.join(out, "results.parquet"))
    summary = open(os.path.join(out, "summary.json")).read()
    again = run_sweep(None, out, resume=True, progress=False)
    assert again.best == result.best and set(again.scores) == set(result.scores)
    assert open(os.path.join(out, "summary.json")).read() == summary  # nothing rewritten
    assert read_table(os.path.join(out, "results.parquet")).equals(before)


def test_optuna_rounds_tell_each_trial_its_tuning_iqm(tmp_path):
    optuna = pytest.importorskip("optuna")
    out = str(tmp_path / "o")
    spec = SweepSpec("ppo", "CartPole-v1", {k: SPACE[k] for k in ("learning_rate", "clip_eps")},
                     TINY, sampler="optuna", num_configs=4, trials_per_round=2, seeds_per_config=2,
                     test_seeds=0)
    result = run_sweep(spec, out, progress=False)
    study = optuna.load_study(study_name="jaxrl-sweep",
                              storage=f"sqlite:///{os.path.join(out, 'optuna.db')}")
    trials = study.get_trials()
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    plan = json.load(open(os.path.join(out, "sweep.json")))
    assert plan["rounds"] == [[0, 1], [2, 3]]
    for t in trials:
        cid = t.user_attrs["config"]
        assert t.value == pytest.approx(result.scores[cid]["tune_iqm"])
        assert t.params["learning_rate"] == pytest.approx(result.configs[cid]["learning_rate"])
    # Both rounds have the same static shape and size: one compiled program.
    assert result.summary["compiled_programs_this_session"] == 1


def test_report_of_the_sweep(sweep, capsys):
    from jaxrl import cli

    result, out = sweep
    assert cli.main(["report", out]) == 0
    md = open(os.path.join(out, "report", "report.md")).read()
    assert "tuning IQM [95% CI]" in md and "test IQM [95% CI]" in md
    for fig in ("sensitivity_s.png", "curves_s.png"):
        assert f"figures/{fig}" in md
        assert os.path.getsize(os.path.join(out, "report", "figures", fig)) > 10_000
    assert "<table>" in open(os.path.join(out, "report", "report.html")).read()
    assert "tuning IQM" in capsys.readouterr().out  # the key table, in the terminal
