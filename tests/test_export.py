"""Policies that leave the framework: ``jaxrl export``, ``jaxrl.load_policy``,
``jaxrl eval --export`` and ``--video``. (That every learner's export acts bitwise as
its own policy is in the contract suite.)"""
import json
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
import jaxrl.envs
from jaxrl import cli, registry
from jaxrl.experiment import make_experiment
from jaxrl.export import export_policy
from jaxrl.rendering import MIN_SIDE, PALETTE, observation_frame

RUN_FLAGS = ["--env", "CartPole-v1", "--num-seeds", "2", "--total-timesteps", "8192",
             "--set", "num_chunks=2", "--set", "eval_episodes=4", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small CartPole PPO run and its export (the member the run's evaluation rates
    best, the default)."""
    root = tmp_path_factory.mktemp("export")
    run_dir, out = str(root / "run"), str(root / "policy")
    assert cli.main(["train", "ppo", *RUN_FLAGS, "--out", run_dir]) == 0
    assert cli.main(["export", run_dir, "--out", out]) == 0
    return root, run_dir, out


def test_export_records_the_member_and_chooses_the_best(trained):
    _, run_dir, out = trained
    info = json.load(open(os.path.join(out, "policy.json")))
    ev = cli.evaluate_run(run_dir)
    scores = ev.returns.mean(axis=1)
    assert info["member"] == int(scores.argmax())
    assert info["eval_return_mean"] == pytest.approx(float(scores.max()))
    assert info["seed"] == info["member"]  # seeds 0 and 1
    assert info["learner"] == "ppo" and info["env"]["id"] == "CartPole-v1"
    assert info["checkpoint"] == info["num_chunks"] == 2
    assert info["action"] == {"type": "Discrete", "n": 2}
    assert info["observation"]["shape"] == [4] and not info["recurrent"]
    assert info["hparams"]["learning_rate"] == pytest.approx(2.5e-4)
    assert sorted(info["parameters"]) == sorted(
        f"params/params/actor/Dense_{i}/{p}" for i in range(3) for p in ("bias", "kernel"))
    assert info["env"]["params"]["max_steps_in_episode"] == 500


def test_load_policy_needs_only_jax_flax_and_numpy(trained):
    """A fresh interpreter loads and runs the export; nothing of jaxrl's training stack
    (its learners, envs, optax, gymnax, brax, orbax) is imported."""
    _, _, out = trained
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import jaxrl
        policy = jaxrl.load_policy({out!r})
        one, batch = policy(np.zeros(4, np.float32)), policy(np.zeros((3, 4), np.float32))
        assert one.shape == () and batch.shape == (3,), (one.shape, batch.shape)
        loaded = {{m.split(".")[0] for m in sys.modules}}
        heavy = {{"optax", "distrax", "gymnax", "brax", "orbax", "mujoco", "evosax"}} & loaded
        assert not heavy, heavy
        ours = sorted(m for m in sys.modules if m.startswith("jaxrl"))
        assert ours == ["jaxrl", "jaxrl.inference"], ours
        print("ok", int(one))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]


def frames_in(path):
    import imageio.v3 as iio

    return iio.imread(path, index=None)


def test_eval_export_and_its_video(trained, capsys):
    """``jaxrl eval --export`` scores the artefact on its env; the GIF is the first of
    those episodes, one frame per step (CartPole pays 1 a step: frames = return)."""
    root, _, out = trained
    gif = str(root / "export.gif")
    capsys.readouterr()
    assert cli.main(["eval", "--export", out, "--episodes", "3", "--video", gif]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "3 episodes, seed 0: return mean" in text
    shown = re.search(r"video: \S+ \(episode 0 of those: (\d+) frames, return ([\d.]+)\)",
                      text)
    assert int(shown.group(1)) == round(float(shown.group(2)))
    frames = frames_in(gif)  # a GIF merges identical neighbours into one longer frame
    assert frames.ndim == 4 and frames.shape[-1] == 3 and 1 < frames.shape[0] <= int(
        shown.group(1))


def test_run_video_is_the_episode_eval_scores(trained, capsys):
    """``jaxrl eval RUN --video`` renders episode 0 of the member's evaluation: its
    length and return are that episode's."""
    root, run_dir, _ = trained
    gif = str(root / "run.gif")
    capsys.readouterr()
    assert cli.main(["eval", run_dir, "--member", "1", "--video", gif]) == 0
    text = " ".join(capsys.readouterr().out.split())
    ev = cli.evaluate_run(run_dir)
    shown = re.search(r"\((member 1, episode 0 of the 4 above): (\d+) frames, return "
                      r"([\d.]+)\)", text)
    assert shown, text
    assert float(shown.group(3)) == ev.returns[1][0] == int(shown.group(2))
    assert 1 < frames_in(gif).shape[0] <= int(shown.group(2))


def test_bad_export_and_eval_arguments_are_one_line_errors(trained, tmp_path, capsys):
    root, run_dir, out = trained
    assert cli.main(["eval"]) == cli.EXIT_CONFIG_ERROR
    assert "a run directory or --export DIR" in capsys.readouterr().err
    assert cli.main(["eval", "--export", str(tmp_path)]) == cli.EXIT_CONFIG_ERROR
    assert "not a jaxrl policy export" in capsys.readouterr().err
    assert cli.main(["eval", "--export", out, "--member", "0"]) == cli.EXIT_CONFIG_ERROR
    assert cli.main(["export", run_dir, "--member", "5", "--out", str(tmp_path / "x")]) \
        == cli.EXIT_CONFIG_ERROR
    assert "out of range" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")


def test_export_replays_the_observation_pipeline(tmp_path):
    """An MLP on MinAtar's ``[10, 10, 4]`` images acts on flattened observations; the
    export takes the env's own and flattens them inside, to the same actions."""
    name, env_id = "ppo", "Breakout-MinAtar"
    exp = make_experiment(name, env_id, {**registry.get(name).smoke, "torso": "mlp"}, {})
    env, params = jaxrl.envs.make(exp.env)
    algo = registry.get(name).make(env, params, exp.config)
    state = jax.jit(algo.init)(jax.random.PRNGKey(0), exp.hparams)
    export_policy(algo, state, str(tmp_path))
    policy = jaxrl.load_policy(str(tmp_path))
    keys = jax.random.split(jax.random.PRNGKey(1), 6)
    raw, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    flat, _ = jax.vmap(algo.eval_env.reset, in_axes=(0, None))(keys, params)
    assert raw.shape == (6, 10, 10, 4) and flat.shape == (6, 400)
    want = jax.jit(lambda s, o: algo.policy(s).act((), o)[1])(state, flat)
    np.testing.assert_array_equal(np.asarray(policy(raw)), np.asarray(want))
    assert policy.info["observation"]["shape"] == [10, 10, 4]


def test_observation_frame_colours_each_channel():
    obs = np.zeros((2, 4, 5), np.float32)
    obs[0, 0, 1] = 1  # channel 1
    obs[1, 3, 0] = obs[1, 3, 2] = 1  # channels 0 and 2: the last set one wins
    frame = observation_frame(obs)
    scale = -(-MIN_SIDE // 2)
    assert frame.shape == (2 * scale, 4 * scale, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[0, 0], PALETTE[1])
    np.testing.assert_array_equal(frame[-1, -1], PALETTE[2])
    np.testing.assert_array_equal(frame[0, -1], [0, 0, 0])
    rgb = np.full((8, 8, 3), 0.5, np.float32)  # RGB in [0, 1] stays RGB
    assert observation_frame(rgb)[0, 0].tolist() == [128, 128, 128]
    grid = observation_frame(np.eye(2))  # one channel (bsuite Catch's [10, 5] board)
    np.testing.assert_array_equal(grid[0, 0], PALETTE[0])
    np.testing.assert_array_equal(grid[0, -1], [0, 0, 0])
    with pytest.raises(NotImplementedError, match="not an image"):
        observation_frame(jnp.zeros(4))
