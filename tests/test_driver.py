"""The run driver: population == members alone, resume, NaN isolation, run files, CLI."""
import glob
import json
import os

import jax
import numpy as np
import pytest

import jaxrl.envs
from jaxrl import cli
from jaxrl.experiment import Experiment
from jaxrl.algorithms import ppo
from jaxrl.checkpoint import CheckpointError, PopulationCheckpointer
from jaxrl.runner import Run, RunConfig, plan_chunks, train
from jaxrl.population import Population
from tolerances import VMAP_ATOL, VMAP_RTOL  # after 8 PPO updates observed ~1e-6 or exact

CONFIG = ppo.PPOConfig(total_timesteps=512, num_envs=4, num_steps=16, num_minibatches=2,
                       num_epochs=2)
RUN_CONFIG = RunConfig(num_chunks=4, eval_interval=2, eval_episodes=4, checkpoint_interval=1)


@pytest.fixture(scope="module")
def algo():
    env, params = jaxrl.envs.make("CartPole-v1")
    return ppo.make(env, params, CONFIG)


@pytest.fixture(scope="module")
def population():
    configs = [ppo.PPOHParams(learning_rate=2.5e-4), ppo.PPOHParams(learning_rate=1e-3,
                                                                     ent_coef=0.0)]
    return Population.from_configs(configs, seeds=[3, 7])


@pytest.fixture(scope="module")
def run(algo, population):
    return Run(algo, population, RUN_CONFIG)


@pytest.fixture(scope="module")
def full_run(algo, population, run, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("runs") / "full")
    return train(algo, population, RUN_CONFIG, run_dir=run_dir, progress=False, run=run,
                 env_id="CartPole-v1", config_record={"note": "test"})


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_plan_chunks():
    assert plan_chunks(976, 25) == [61] * 16 or sum(plan_chunks(976, 25)) == 976
    assert plan_chunks(8, 4) == [2, 2, 2, 2]
    assert plan_chunks(7, 7) == [1] * 7
    chunks = plan_chunks(97, 10)
    assert sum(chunks) == 97 and len(set(chunks)) <= 2
    assert plan_chunks(3, 25) == [1, 1, 1]


def test_chunks_of_any_lengths_share_one_program_and_end_bitwise_alike(algo, population,
                                                                        full_run):
    """A chunk's length is traced: uneven chunks (a remainder, PBT's generations) run
    the one compiled program, and how the updates are cut into chunks changes nothing."""
    uneven = Run(algo, population, RUN_CONFIG, chunks=[5, 2, 1])
    result = train(algo, population, RUN_CONFIG, progress=False, run=uneven)
    assert list(uneven._chunk_programs) == ["chunk"]
    for a, b in zip(leaves(full_run.carry), leaves(result.carry)):
        np.testing.assert_array_equal(a, b)


def test_population_layout(population):
    assert population.size == 4
    assert list(population.seeds) == [3, 7, 3, 7]
    assert list(population.config_index) == [0, 0, 1, 1]
    np.testing.assert_allclose(population.hparams.learning_rate, [2.5e-4, 2.5e-4, 1e-3, 1e-3])


def test_vmapped_member_matches_member_alone(algo, population, full_run):
    train_alone = jax.jit(algo.train)
    for member in (1, 2):
        hp = jax.tree.map(lambda x: x[member], population.hparams)
        alone, _ = train_alone(jax.random.PRNGKey(int(population.seeds[member])), hp)
        together = jax.tree.map(lambda x: x[member], full_run.carry.state)
        for a, b in zip(leaves(alone.params), leaves(together.params)):
            np.testing.assert_allclose(b, a, rtol=VMAP_RTOL, atol=VMAP_ATOL)
        assert together.env_steps.exact() == alone.env_steps.exact() == 512


def test_run_directory_contents(full_run):
    run_dir = full_run.run_dir
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    assert config["note"] == "test" and "versions" in config and "git_commit" in config
    assert len(config["population"]) == 4
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    for key in ("members", "total_timesteps", "final_eval_return", "final_eval_return_iqm",
                "final_eval_return_ci95", "env_steps_per_second", "compile_seconds"):
        assert key in summary, key
    assert summary["members"] == 4 and summary["total_timesteps"] == 512
    assert len(summary["final_eval_return"]) == 4
    lo, hi = summary["final_eval_return_ci95"]
    assert lo <= summary["final_eval_return_iqm"] <= hi
    records = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert [r["chunk"] for r in records] == [0, 1, 2, 3]
    assert records[-1]["env_steps"] == 512 and len(records[-1]["episode_return"]) == 4
    assert "eval_return" in records[1] and "eval_return" in records[3]
    assert "eval_return" not in records[0]


def test_evaluation_uses_same_episodes_for_every_member(run, full_run):
    state = full_run.carry
    np.testing.assert_array_equal(run.evaluate(state, 0), run.evaluate(state, 0))
    same = jax.tree.map(lambda x: np.stack([x[0]] * 4), state)  # member 0 copied 4 times
    returns = run.evaluate(same, 0)
    assert np.all(returns == returns[0])


def test_warm_up_compiles_every_program_side_by_side(run, full_run):
    """``warm_up`` lowers each program and XLA-compiles it on a worker thread: init, the
    chunk program (one for every chunk length) and evaluation all come out of it, and
    the compiled init draws the very carry the lazily compiled ``jax.jit`` one does."""
    assert set(run.program_seconds) == {"init", "chunk", "evaluation"}
    assert all(s > 0 for s in run.program_seconds.values())
    assert 0 < run.compile_seconds <= sum(run.program_seconds.values()) + 1.0
    keys = jax.device_put(run.population.keys(), run.sharding)
    warm = leaves(run.init_carry())
    lazy = leaves(run._init(keys, run.hparams))
    for a, b in zip(warm, lazy):
        np.testing.assert_array_equal(a, b)


def test_resume_is_bitwise_identical_and_skips_corrupt_checkpoint(
        algo, population, run, full_run, tmp_path):
    run_dir = str(tmp_path / "killed")
    partial = train(algo, population, RUN_CONFIG, run_dir=run_dir, progress=False, run=run,
                    stop_after_chunks=3)
    assert partial.summary is None
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    assert sorted(os.listdir(ckpt_dir))[-1] == "3"
    # Damage the newest checkpoint: every array file cut short.
    for path in glob.glob(os.path.join(ckpt_dir, "3", "**", "*"), recursive=True):
        if os.path.isfile(path) and os.path.getsize(path) > 0 and "meta" not in path:
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
    warnings = []

    class Console:
        def print(self, msg, *a, **k):
            warnings.append(str(msg))

    resumed = train(algo, population, RUN_CONFIG, run_dir=run_dir, resume=True,
                    progress=False, run=run, console=Console())
    assert any("corrupt" in w and "checkpoint 3" in w for w in warnings), warnings
    for a, b in zip(leaves(full_run.carry), leaves(resumed.carry)):
        np.testing.assert_array_equal(a, b)
    assert resumed.summary["final_eval_return"] == full_run.summary["final_eval_return"]
    assert resumed.summary["sessions"] == 2  # the throughput totals carried over
    assert resumed.summary["session"]["resumed_from_chunk"] == 2
    records = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert [r["chunk"] for r in records] == [0, 1, 2, 3]


def test_no_good_checkpoint_is_a_clear_error(run, tmp_path):
    checkpointer = PopulationCheckpointer(str(tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpointer.restore_latest(run.abstract_carry())


def test_diverging_member_is_frozen_and_reported(algo, tmp_path):
    configs = [ppo.PPOHParams(), ppo.PPOHParams(learning_rate=1e30), ppo.PPOHParams()]
    population = Population.from_configs(configs, seeds=[0])
    messages = []

    class Console:
        def print(self, msg, *a, **k):
            messages.append(str(msg))

    result = train(algo, population, RunConfig(num_chunks=2, eval_episodes=2),
                   progress=False, console=Console())
    alive = np.asarray(result.carry.alive)
    assert alive.tolist() == [True, False, True]
    diverged = result.summary["diverged_members"]
    assert [d["member"] for d in diverged] == [1]
    assert diverged[0]["learning_rate"] == pytest.approx(1e30)
    assert any("member 1" in m and "learning_rate=1e+30" in m for m in messages), messages
    for leaf in leaves(result.carry.state.params):
        assert np.all(np.isfinite(leaf))  # frozen at its last finite state
    assert all(np.isfinite(x) for x in result.summary["final_eval_return"])
    assert result.summary["alive_members"] == 2
    # Throughput counts only kept updates: the diverged member's discarded ones are not.
    steps_per_update = algo.env_steps_per_update
    kept = (2 * algo.num_updates + diverged[0]["frozen_after_update"]) * steps_per_update
    assert result.summary["session"]["env_steps"] == kept
    all_steps = 3 * algo.num_updates * steps_per_update
    ratio = result.summary["env_steps_per_second_all_members"] / \
        result.summary["env_steps_per_second"]
    assert ratio == pytest.approx(all_steps / kept)


def run_cli(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.err


def test_cli_config_file_and_set_override(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("num_envs: 8\nlearning_rate: 0.001\ngamma: 0.98\n")
    args = cli.build_parser().parse_args(
        ["train", "ppo", "--config", str(path), "--set", "learning_rate=3e-4"])
    spec = cli.spec_from_args(args)
    assert spec.config.num_envs == 8
    assert spec.hparams.learning_rate == pytest.approx(3e-4)
    assert spec.hparams.gamma == pytest.approx(0.98)
    again = Experiment.from_record(json.loads(json.dumps(spec.record())))
    assert again.record() == spec.record()


def test_cli_help_documents_every_field(capsys):
    assert cli.main(["train", "ppo", "--help"]) == 0
    text = capsys.readouterr().out
    import dataclasses

    for cls in (ppo.PPOConfig, ppo.PPOHParams, RunConfig):
        for f in dataclasses.fields(cls):
            assert f.name in text, f.name


def test_progress_bar_reports_steps_and_returns(algo, population, run):
    import io

    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    train(algo, population, RUN_CONFIG, progress=True, run=run, console=console)
    text = buffer.getvalue()
    assert "0.5k/0.5k steps/member" in text or "1k/1k steps/member" in text, text[-500:]
    assert "return" in text and "IQM" in text and "k/s" in text


def test_image_observation_env_trains_and_evaluates():
    """Non-vector observations are flattened for the learner *and* for evaluation."""
    env, params = jaxrl.envs.make("Catch-bsuite")
    algo = ppo.make(env, params, CONFIG)
    result = train(algo, Population.from_seeds(ppo.PPOHParams(), 2),
                   RunConfig(num_chunks=2, eval_episodes=2), progress=False)
    assert all(-1.0 <= r <= 1.0 for r in result.summary["final_eval_return"])


def test_resume_without_any_checkpoint_starts_over(algo, population, run, full_run, tmp_path):
    run_dir = tmp_path / "early-kill"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    messages = []

    class Console:
        def print(self, msg, *a, **k):
            messages.append(str(msg))

    result = train(algo, population, RUN_CONFIG, run_dir=str(run_dir), resume=True,
                   progress=False, run=run, console=Console())
    assert any("no checkpoint yet" in m for m in messages)
    for a, b in zip(leaves(full_run.carry), leaves(result.carry)):
        np.testing.assert_array_equal(a, b)
