"""Meta-learning by evolution strategies: the strategies find a known optimum, every
program is traced once, a resumed run ends with bitwise the same meta-parameters, and a
population of learned PPO drifts trains as inner runs."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_processes import finish, host_devices_env, kill_when, launch

from jaxrl.config import ConfigError
from jaxrl.meta import Task, meta_train
from jaxrl.meta.es import make_strategy

TARGET = jnp.array([1.0, -2.0, 0.5])
# A noisy concave task: the optimum is TARGET, fitness 0 there.
QUADRATIC = Task("quadratic", lambda p, k: -jnp.sum((p["w"] - TARGET) ** 2)
                 + 0.01 * jax.random.normal(k))


@pytest.mark.parametrize("strategy", ["open_es", "snes", "cma_es"])
def test_strategies_find_the_optimum_and_trace_each_program_once(strategy):
    result = meta_train([QUADRATIC], {"w": jnp.zeros(3)}, strategy=strategy, popsize=16,
                        generations=150, inner_seeds=2, sigma=0.3, learning_rate=0.05,
                        progress=False)
    np.testing.assert_allclose(result.mean_params["w"], TARGET, atol=0.15)
    assert result.traces == {"ask": 1, "quadratic": 1, "tell": 1}
    assert len(result.curve) == 150
    assert result.curve[-1]["fitness_mean"] > result.curve[0]["fitness_mean"]


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="must be even"):
        make_strategy("open_es", 5, {"w": jnp.zeros(2)}, 0.1, 0.01)
    with pytest.raises(ConfigError, match="not one of"):
        make_strategy("pso", 4, {"w": jnp.zeros(2)}, 0.1, 0.01)


def test_resume_gives_bitwise_the_same_meta_parameters(tmp_path):
    settings = dict(strategy="open_es", popsize=8, generations=6, sigma=0.3,
                    learning_rate=0.05, progress=False)
    whole = meta_train([QUADRATIC], {"w": jnp.zeros(3)}, out=str(tmp_path / "whole"),
                       **settings)
    stopped = str(tmp_path / "stopped")
    meta_train([QUADRATIC], {"w": jnp.zeros(3)}, out=stopped, stop_after_generations=4,
               **settings)
    resumed = meta_train([QUADRATIC], {"w": jnp.zeros(3)}, out=stopped, resume=True,
                         **settings)
    np.testing.assert_array_equal(resumed.mean_params["w"], whole.mean_params["w"])
    np.testing.assert_array_equal(resumed.best_params["w"], whole.best_params["w"])
    timeless = lambda curve: [{k: v for k, v in r.items() if k not in (  # noqa: E731
        "seconds", "inner_env_steps_per_second")} for r in curve]
    assert timeless(resumed.curve) == timeless(whole.curve)


def test_a_population_of_learned_ppo_drifts_trains_as_inner_runs():
    from jaxrl.meta.tasks import ppo_clip_like_init, ppo_objective_task

    tiny = {"total_timesteps": 1024, "num_envs": 4, "num_steps": 32, "num_minibatches": 2,
            "num_epochs": 1}
    task = ppo_objective_task("CartPole-v1", "ta_lpo", tiny, eval_episodes=2)
    result = meta_train([task], ppo_clip_like_init("ta_lpo"), popsize=4, generations=2,
                        inner_seeds=2, sigma=0.05, progress=False)
    assert result.traces["CartPole-v1"] == 1
    assert all(np.isfinite(r["fitness_mean"]) and r["fitness_max"] > 0 for r in result.curve)
    assert jax.tree.structure(result.mean_params) == jax.tree.structure(ppo_clip_like_init())


@pytest.mark.parametrize("flags, message", [
    (["--popsize", "5"], "must be even"),
    (["--train-envs", "CartPol-v1"], "CartPole-v1"),
    (["--test-envs", "Nope-v0"], "Nope-v0"),
    (["--generations", "0"], "--generations must be positive"),
    (["--set", "num_envs=0"], "num_envs"),
    (["--env-set", "max_steps_in_episod=9"], "max_steps_in_episode"),
    (["--resume"], "--resume needs --out pointing at a meta-learning run directory"),
    (["schedule", "--schedule", "learning_rat"], "only float hyperparameters"),
    (["schedule", "--schedule", "learning_rate", "--knots", "1"], "at least 2 points"),
])
def test_meta_cli_refuses_bad_settings_in_one_line(flags, message, tmp_path, capsys):
    from jaxrl import cli

    target = flags.pop(0) if flags[0] == "schedule" else "lpo"
    args = ["meta", target, "--train-envs", "CartPole-v1", "--out", str(tmp_path / "m")]
    assert cli.main(args + flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "m").exists()


TINY = ["--total-timesteps", "2048", "--set", "num_envs=4", "--set", "num_steps=32",
        "--set", "num_minibatches=2", "--set", "num_epochs=1", "--set", "eval_episodes=4",
        "--popsize", "4", "--inner-seeds", "2", "--test-seeds", "2", "--no-progress"]


def test_meta_lpo_cli_end_to_end(tmp_path, capsys):
    """References, meta-training, meta-test against PPO-clip and DPO, the drift and
    fitness plots (a tiny budget: this checks the pipeline, not learning)."""
    from jaxrl import cli

    out = str(tmp_path / "m")
    assert cli.main(["meta", "lpo", "--env", "CartPole-v1", "--objective", "ta-lpo",
                     "--generations", "2", *TINY, "--out", out]) == 0
    summary = json.load(open(os.path.join(out, "meta_test.json")))
    assert summary["traces"] == {"ask": 1, "CartPole-v1": 1, "tell": 1}
    row = summary["meta_test"]["CartPole-v1"]
    assert row["held_out"] is False  # no --test-envs: meta-tested on the training env
    for label in ("learned", "ppo_clip", "dpo"):
        assert len(row[label]["returns"]) == 2
    for name in ("drift.png", "fitness.png", "mean_params.npz", "references.json"):
        assert os.path.exists(os.path.join(out, name)), name
    assert "PPO-clip" in capsys.readouterr().out


def _generations_saved(out):
    ckpt = os.path.join(out, "es", "checkpoints")
    return max([int(n) for n in os.listdir(ckpt) if n.isdigit()], default=0) \
        if os.path.isdir(ckpt) else 0


def test_meta_schedule_killed_mid_run_resumes_to_bitwise_the_same_meta_parameters(tmp_path):
    """`jaxrl meta schedule` as users run it (subprocesses): an uninterrupted run and one
    killed with SIGKILL after two generations, then resumed, end with bitwise the same
    meta-parameters and fitness curve; the uninterrupted run's outputs are checked too."""
    generations = 8
    args = ["meta", "schedule", "--train-envs", "CartPole-v1", "--test-envs", "Acrobot-v1",
            "--schedule", "learning_rate,ent_coef", "--knots", "3", "--generations",
            str(generations), *TINY]
    # one after the other: the uninterrupted run loads what the killed one compiled
    killed = launch([*args, "--out", "killed"], tmp_path)
    kill_when(killed, lambda: _generations_saved(tmp_path / "killed") >= 2,
              "two generations were saved")
    assert _generations_saved(tmp_path / "killed") < generations, "nothing was interrupted"
    stdout, stderr = finish(launch([*args, "--out", "whole"], tmp_path))
    _, resumed_err = finish(launch(["meta", "schedule", "--out", "killed", "--resume",
                                   "--no-progress"], tmp_path))
    assert "resuming" in resumed_err

    a, b = (np.load(tmp_path / name / "mean_params.npz") for name in ("whole", "killed"))
    assert sorted(a.files) == ["ent_coef", "learning_rate"] and a["learning_rate"].shape == (3,)
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])
    timeless = lambda path: [{k: v for k, v in r.items() if k not in (  # noqa: E731
        "seconds", "inner_env_steps_per_second")} for r in json.load(open(path))["curve"]]
    assert timeless(tmp_path / "whole" / "es" / "fitness_curve.json") == \
        timeless(tmp_path / "killed" / "es" / "fitness_curve.json")

    summary = json.load(open(tmp_path / "whole" / "meta_test.json"))
    assert summary["traces"] == {"ask": 1, "CartPole-v1": 1, "tell": 1}
    assert "programs traced: ask x1, CartPole-v1 x1, tell x1" in " ".join(stderr.split())
    row = summary["meta_test"]["Acrobot-v1"]
    assert row["held_out"] is True and len(row["learned"]["returns"]) == 2
    assert set(row) == {"held_out", "learned", "fixed"}
    assert len(summary["curve"]) == generations
    assert set(summary["learned_schedule"]) == {"learning_rate", "ent_coef"}
    for name in ("schedule.png", "fitness.png", "references.json"):
        assert (tmp_path / "whole" / name).exists(), name
    assert "fixed schedule" in stdout


def test_training_task_takes_any_algorithm_and_several_tasks_including_minatar():
    """The API beyond PPO: DQN's learning rate scaled by a meta-parameter, meta-trained on
    a classic-control and a MinAtar task at once (each program traced once)."""
    from jaxrl.meta.tasks import training_task

    tiny = {"total_timesteps": 400, "num_envs": 4, "learning_starts": 100,
            "batch_size": 16, "buffer_size": 400, "hidden_sizes": (16,)}
    inject = lambda hp, p: hp.replace(  # noqa: E731
        learning_rate=hp.learning_rate * jnp.exp(p["log_lr"]))
    tasks = [training_task("dqn", env, inject, tiny, eval_episodes=2, reference=ref)
             for env, ref in (("CartPole-v1", (0.0, 500.0)), ("Breakout-MinAtar", (0.0, 10.0)))]
    result = meta_train(tasks, {"log_lr": jnp.zeros(())}, popsize=4, generations=2,
                        inner_seeds=1, sigma=0.5, progress=False)
    assert result.traces == {"ask": 1, "CartPole-v1": 1, "Breakout-MinAtar": 1, "tell": 1}
    assert set(result.curve[0]["per_task_mean"]) == {"CartPole-v1", "Breakout-MinAtar"}
    assert all(np.isfinite(r["fitness_mean"]) for r in result.curve)
    assert result.curve[0]["inner_env_steps"] == 4 * 1 * (400 + 400)


SHARDED_SCRIPT = """
import json, jax, jax.numpy as jnp, numpy as np
from jaxrl.meta import Task, meta_train
assert len(jax.devices()) == 8
task = Task("quadratic", lambda p, k: -jnp.sum((p["w"] - 1.0) ** 2) + 0.01 * jax.random.normal(k))
out = {}
for popsize in (8, 12):  # 12: the largest divisor of 12 among 1..8 devices is 6
    r = meta_train([task], {"w": jnp.zeros(3)}, popsize=popsize, generations=20,
                   sigma=0.3, learning_rate=0.05, progress=False)
    out[popsize] = {"devices": r.devices, "w": np.asarray(r.mean_params["w"]).tolist()}
print("RESULT" + json.dumps(out))
"""


def test_meta_population_is_sharded_over_the_devices_that_divide_it():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT], env=host_devices_env(8),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1][6:])
    assert out["8"]["devices"] == 8 and out["12"]["devices"] == 6
    single = meta_train([Task("quadratic", lambda p, k: -jnp.sum((p["w"] - 1.0) ** 2)
                              + 0.01 * jax.random.normal(k))], {"w": jnp.zeros(3)},
                        popsize=8, generations=20, sigma=0.3, learning_rate=0.05,
                        progress=False)
    assert single.devices == len(jax.devices())
    # The same search on 8 devices as on this process's devices (up to float rounding).
    np.testing.assert_allclose(out["8"]["w"], single.mean_params["w"], rtol=1e-5, atol=1e-6)
