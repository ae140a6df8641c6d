"""Meta-learning by evolution strategies: the strategies find a known optimum, every
program is traced once, a resumed run ends with bitwise the same meta-parameters, and a
population of learned PPO drifts trains as inner runs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
])
def test_meta_cli_refuses_bad_settings_in_one_line(flags, message, tmp_path, capsys):
    from jaxrl import cli

    args = ["meta", "lpo", "--train-envs", "CartPole-v1", "--out", str(tmp_path / "m")]
    assert cli.main(args + flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "m").exists()


def test_meta_cli_end_to_end(tmp_path, capsys):
    """References, meta-training, meta-test on a held-out env against PPO-clip and DPO,
    the drift and fitness plots (a tiny budget: this checks the pipeline, not learning)."""
    import json
    import os

    from jaxrl import cli

    out = str(tmp_path / "m")
    assert cli.main(["meta", "lpo", "--train-envs", "CartPole-v1", "--test-envs",
                     "Acrobot-v1", "--objective", "ta-lpo", "--generations", "2",
                     "--popsize", "4", "--test-seeds", "2", "--total-timesteps", "2048",
                     "--set", "num_envs=4", "--set", "num_steps=32", "--set",
                     "num_minibatches=2", "--out", out, "--no-progress"]) == 0
    summary = json.load(open(os.path.join(out, "meta_test.json")))
    assert summary["traces"] == {"ask": 1, "CartPole-v1": 1, "tell": 1}
    assert summary["meta_test"]["Acrobot-v1"]["held_out"] is True
    for label in ("learned", "ppo_clip", "dpo"):
        assert len(summary["meta_test"]["Acrobot-v1"][label]["returns"]) == 2
    for name in ("drift.png", "fitness.png", "mean_params.npz", "references.json"):
        assert os.path.exists(os.path.join(out, name)), name
    assert "meta-test" in capsys.readouterr().out
