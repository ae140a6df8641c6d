"""Every bad input is one line on stderr, exit status 2, and nothing written.

Each case names the invocation. They run in-process on the CLI's real entry point and
need no compilation (every check happens before tracing), so the whole module is fast.
New algorithms and commands inherit these through the shared coercion/validation code;
add their own cases here.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from cli_processes import cli_env

import jaxrl.envs
from jaxrl import cli
from jaxrl.algorithms import ppo
from jaxrl.config import ConfigError, check_seed, coerce_scalar
from jaxrl.runner import RunConfig, check_run_dir
from jaxrl.population import Population

# (invocation after `jaxrl train ppo`, config file text or None, text the line must hold)
TRAIN_CASES = [
    # names and shapes
    ("--env CartPol-v1", None, "CartPole-v1"),
    ("--set num_minibatches=3", None, "num_minibatches=3 must divide"),
    ("--set learnin_rate=0.1", None, "did you mean 'learning_rate'"),
    ("--set learning_rate=-0.1", None, "learning_rate=-0.1 must be >= 0"),
    ("--set memory_fraction=nan", None, "memory_fraction=nan must be in (0, 1]"),
    ("--num-seeds 0", None, "--num-seeds 0 must be positive"),
    ("--num-seeds 100000000", None, "does not fit the memory budget"),
    ("--num-seeds x", None, "invalid int value: 'x'"),
    ("--total-timesteps 1.5", None, "total_timesteps='1.5' is not a valid int"),
    ("--resume --set gamma=0.9", None, "--resume needs --out pointing at an existing run"),
    ("--config /nonexistent.yaml", None, "file not found"),
    ("--config {cfg}", "{not json", "could not be read"),
    # integers: whole numbers only, the same from --set and from a file
    ("--set num_envs=two", None, "num_envs='two' is not a valid int"),
    ("--set num_envs=1.5", None, "num_envs='1.5' is not a valid int: it must be a whole"),
    ("--config {cfg}", "num_envs: 1.5\n", "num_envs=1.5 is not a valid int: it must be a whole"),
    ("--set hidden_sizes=64.5,64", None, "hidden_sizes[0]='64.5' is not a valid int"),
    ("--set total_timesteps=inf", None, "total_timesteps='inf' is not a valid int"),
    ("--set anneal_lr=2", None, "anneal_lr='2' is not a valid bool"),
    # values that do not fit the dtype they are traced/counted as
    ("--set total_timesteps=1e20", None, "below 2**62"),
    ("--set total_timesteps=1e18", None, "2**31 or more updates"),
    ("--set memory_budget_gb=-1", None, "memory_budget_gb=-1.0 must be >= 0"),
    ("--set data_parallel=0", None, "data_parallel=0 must be >= 1"),
    ("--set data_parallel=2", None, "there are 1; use at most data_parallel=1"),
    ("--memory-budget lots", None, "give a size such as 16GiB"),
    ("--set learning_rate=1e39", None, "does not fit float32"),
    ("--set learning_rate=1e-50", None, "rounds to 0 in float32"),
    # env parameters
    ("--env-set max_steps_in_episode=abc", None, "max_steps_in_episode='abc' is not a valid int"),
    ("--env-set max_steps_in_episode=1.5", None, "max_steps_in_episode='1.5' is not a valid int"),
    ("--env-set max_steps_in_episode=99999999999", None, "does not fit int32"),
    ("--env-set max_steps_in_episode=0", None, "must be positive"),
    ("--env-set gravity=1e40", None, "CartPole-v1 parameter gravity='1e40' does not fit float32"),
    ("--env-set no_such_param=1", None, "has no env parameter 'no_such_param'"),
    ("--env brax/inverted_pendulum --env-set reset_mode=foo", None, "reset_mode='foo'"),
    ("--env brax/inverted_pendulum --env-set episode_length=2.5", None,
     "episode_length='2.5' is not a valid int"),
    ("--config {cfg}", "env_overrides: 5\n", "env_overrides must be a mapping"),
    ("--config {cfg}", "env_overrides: [a, b]\n", "env_overrides must be a mapping"),
    ("--config {cfg}", "env_overrides: {max_steps_in_episode: 1.5}\n",
     "max_steps_in_episode=1.5 is not a valid int"),
    # seeds: [0, 2**32) or they collide
    ("--seed -1", None, "seed=-1 is outside [0, 4294967296)"),
    ("--seed 4294967296", None, "seed=4294967296 is outside [0, 4294967296)"),
    ("--seed 4294967295 --num-seeds 2", None, "runs seeds up to 4294967296"),
    ("--config {cfg}", "seed: -3\n", "seed=-3 is outside"),
    ("--config {cfg}", "seed: 1.5\n", "seed=1.5 is not a valid int"),
    ("--config {cfg}", "num_seeds: 0\n", "--num-seeds 0 must be positive"),
    ("--set eval_seed=-5", None, "eval_seed=-5 is outside"),
    # an --out that cannot be written: refused before compiling
    ("--out /dev/null/x", None, "/dev/null is not a directory"),
    ("--out {file}/run", None, "is not a directory"),
    ("--out /proc/jaxrl-run", None, "is not writable"),
]


def run_cli(argv, capsys):
    code = cli.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("invocation,config_text,needle", TRAIN_CASES,
                         ids=[f"{c[0]} {c[1]!r}" if c[1] else c[0] for c in TRAIN_CASES])
def test_train_rejects_bad_input_in_one_line_writing_nothing(
        invocation, config_text, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run directory (runs/...) would land here
    cfg = tmp_path / ("cfg.json" if config_text and config_text.startswith("{") else "cfg.yaml")
    if config_text is not None:
        cfg.write_text(config_text)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    argv = invocation.format(cfg=cfg, file=a_file).split()
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, err = run_cli(["train", "ppo", *argv], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_read_only_out_directory_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    code, err = run_cli(["train", "ppo", "--out", str(locked / "run")], capsys)
    assert code == 2 and "is not writable" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,needle", [
    (["eval", "{tmp}/none"], "is not a run directory"),
    (["eval", "{tmp}/none", "--episodes", "0"], "is not a run directory"),
    (["bench", "ppo", "--members", "0"], "--members '0' must be"),
    (["bench", "ppo", "--total-timesteps", "1.5"], "--total-timesteps='1.5' is not a valid int"),
    (["bench", "ppo", "--set", "num_envs=1.5"], "num_envs='1.5' is not a valid int"),
    (["bench", "ppo", "--env-set", "max_steps_in_episode=1.5"], "max_steps_in_episode='1.5' is not a valid int"),
    (["bench", "ppo", "--config", "{tmp}/none.yaml"], "none.yaml"),
    (["train"], "the following arguments are required: algorithm"),
    (["train", "nope"], "unknown algorithm 'nope'"),
])
def test_other_commands_reject_bad_input_in_one_line(argv, needle, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


# ---- every command: refused before anything is compiled or written ------------------
SPACE = "parameters: {learning_rate: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}}\n"
STATIC_RANGE = "parameters: {num_envs: {distribution: int_uniform, min: 2, max: 8}}\n"
# records of a sweep, a PBT run and a meta-learning run that a resume must match
RECORDS = {
    "sweep": ("sweep.json", {"spec": {"algorithm": "ppo", "env": "CartPole-v1",
                                      "num_configs": 2, "seeds_per_config": 2, "seed": 0,
                                      "test_seeds": 2, "test_top": 1, "sampler": "random"},
                             "configs": []}),
    "pbt": ("pbt.json", {"algorithm": "ppo", "env": "CartPole-v1", "population": 4,
                         "ready_interval": 10, "seed": 0, "fraction": 0.25,
                         "resample_probability": 0.25}),
    "meta": ("meta.json", {"target": "lpo", "train_envs": ["CartPole-v1"], "test_envs": [],
                           "popsize": 4, "generations": 2, "sigma": 0.05}),
}
COMMAND_CASES = [
    # replay settings that cannot work
    (["train", "dqn", "--set", "batch_size=512", "--set", "buffer_size=256"],
     "batch_size=512 exceeds buffer_size=256"),
    (["train", "sac", "--env", "Pendulum-v1", "--set", "batch_size=512", "--set",
      "buffer_size=256"], "batch_size=512 exceeds buffer_size=256"),
    (["sweep", "dqn", "--space", "{space}", "--num-configs", "2", "--set", "batch_size=512",
      "--set", "buffer_size=256"], "batch_size=512 exceeds buffer_size=256"),
    (["train", "dqn", "--total-timesteps", "2048"],
     "learning_starts=5000 is at or beyond the run's 2,040 env steps"),
    (["train", "td3", "--env", "Pendulum-v1", "--total-timesteps", "1000"],
     "learning_starts=1000 is at or beyond the run's 1,000 env steps"),
    (["pbt", "dqn", "--space", "{space}", "--total-timesteps", "2048", "--population", "4"],
     "learning_starts=5000 is at or beyond"),
    # a learner on an env it cannot act in, named as the user named it
    (["train", "ddpg", "--env", "CartPole-v1"], "ddpg needs a continuous (Box) action space"),
    (["train", "c51", "--env", "Pendulum-v1"], "c51 needs a discrete action space"),
    (["train", "qrdqn", "--env", "Pendulum-v1"], "qrdqn needs a discrete action space"),
    (["sweep", "dqn", "--env", "Pendulum-v1", "--space", "{space}", "--num-configs", "2"],
     "dqn needs a discrete action space"),
    (["sweep", "td3", "--env", "CartPole-v1", "--space", "{space}", "--num-configs", "2"],
     "td3 needs a continuous (Box) action space"),
    (["pbt", "dqn", "--env", "Pendulum-v1", "--space", "{space}"],
     "dqn needs a discrete action space"),
    # sweep plans that would not do what they say
    (["sweep", "ppo", "--space", "{space}", "--num-configs", "2", "--test-top", "5"],
     "--test-top 5 is more than the sweep's 2 configurations"),
    (["sweep", "ppo", "--space", "{static}", "--num-configs", "2"],
     "num_envs is a static field (one compiled program per value)"),
    (["sweep", "ppo", "--space", "{tmp}/none.yaml"], "--space {tmp}/none.yaml: file not found"),
    # meta-learning settings, each range
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--sigma", "-1"],
     "--sigma -1.0: the ES search std must be a positive number"),
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--sigma", "nan"], "--sigma nan"),
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--meta-lr", "0"],
     "--meta-lr 0.0: the ES step size must be a positive number"),
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--popsize", "3"], "--popsize 3"),
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--generations", "0"],
     "--generations must be positive"),
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--inner-seeds", "-2"],
     "--inner-seeds must be positive"),
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--test-seeds", "0"],
     "--test-seeds must be positive"),
    (["meta", "schedule", "--train-envs", "CartPole-v1", "--knots", "1"], "--knots 1"),
    # outputs that cannot be written, refused before the work
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--out", "/proc/jaxrl-meta"],
     "is not writable"),
    (["report", "{run}", "--out", "/proc/jaxrl-report"], "is not writable"),
    (["report", "{run}", "--out", "{file}"], "is not a directory"),
    (["bench", "ppo", "--json", "/proc/jaxrl-bench.json"], "is not writable"),
    (["bench", "ppo", "--json", "{tmp}"], "is a directory"),
    # namespaced settings and typed choices
    (["train", "ppo", "--set", "ppo.learnin_rate=1e-3"],
     "unknown field 'ppo.learnin_rate' (did you mean 'ppo.learning_rate'?)"),
    (["train", "ppo", "--set", "dqn.gamma=0.9"], "'dqn' is not a settings namespace here"),
    (["train", "ppo", "--set", "run.eval_episodes=2.5"], "eval_episodes='2.5' is not a valid int"),
    (["train", "ppo", "--set", "env.max_steps_in_episode=0"], "must be positive"),
    (["train", "ppo", "--set", "torso=resnet"],
     "torso='resnet' is not one of its choices: auto, mlp, cnn"),
    (["train", "dqn", "--set", "dqn.td_loss=l1"], "td_loss='l1' is not one of its choices"),
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--set", "learning_rate=1e-3"],
     "learning_rate is ambiguous here: say ppo.learning_rate or meta.learning_rate"),
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--set", "meta.sigma=-1"],
     "--sigma -1.0: the ES search std must be a positive number"),
    (["meta", "lpo", "--train-envs", "CartPole-v1", "--set", "meta.popsize=two"],
     "popsize='two' is not a valid int"),
    # a resume that does not match its record
    (["sweep", "ppo", "--resume", "--out", "{sweep}", "--num-configs", "5"],
     "num_configs (recorded 2, given 5)"),
    (["sweep", "ppo", "--resume", "--out", "{sweep}", "--test-seeds", "3"],
     "test_seeds (recorded 2, given 3)"),
    (["sweep", "dqn", "--resume", "--out", "{sweep}"], "algorithm (recorded ppo, given dqn)"),
    (["pbt", "ppo", "--resume", "--out", "{pbt}", "--population", "8"],
     "population (recorded 4, given 8)"),
    (["pbt", "ppo", "--resume", "--out", "{pbt}", "--fraction", "0.5"],
     "fraction (recorded 0.25, given 0.5)"),
    (["meta", "lpo", "--resume", "--out", "{meta}", "--popsize", "8"],
     "popsize (recorded 4, given 8)"),
    (["meta", "schedule", "--resume", "--out", "{meta}"], "target (recorded lpo, given schedule)"),
]


@pytest.mark.parametrize("argv,needle", COMMAND_CASES, ids=[" ".join(c[0]) for c in COMMAND_CASES])
def test_every_command_refuses_in_one_line_before_writing(argv, needle, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)  # default output directories would land here
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "static.yaml").write_text(STATIC_RANGE)
    (tmp_path / "a-file").write_text("")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    for kind, (name, record) in RECORDS.items():
        (tmp_path / kind).mkdir()
        (tmp_path / kind / name).write_text(json.dumps(record))
    places = {"tmp": tmp_path, "space": tmp_path / "space.yaml",
              "static": tmp_path / "static.yaml", "file": tmp_path / "a-file",
              "run": tmp_path / "run", **{kind: tmp_path / kind for kind in RECORDS}}
    argv = [a.format(**places) for a in argv]
    if argv[0] in ("train", "sweep", "pbt", "meta") and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and needle.format(**places) in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


def test_the_api_refuses_a_directory_that_holds_a_run(tmp_path):
    from jaxrl.runner import train

    env, params = jaxrl.envs.make("CartPole-v1")
    algo = ppo.make(env, params, ppo.PPOConfig(total_timesteps=64, num_envs=2, num_steps=8,
                                               num_minibatches=1, num_epochs=1))
    (tmp_path / "config.json").write_text('{"mine": true}')
    with pytest.raises(ConfigError, match="already holds a run; pass resume=True"):
        train(algo, Population.from_seeds(ppo.PPOHParams(), 1), run_dir=str(tmp_path),
              progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
    assert (tmp_path / "config.json").read_text() == '{"mine": true}'


def test_qualified_settings_go_where_they_say():
    from jaxrl.experiment import make_experiment

    exp = make_experiment("ppo", "CartPole-v1", {"ppo.learning_rate": "1e-3", "gamma": 0.9,
                                                 "run.eval_episodes": 3,
                                                 "env.max_steps_in_episode": "100"}, {})
    assert (exp.hparams.learning_rate, exp.hparams.gamma) == (1e-3, 0.9)
    assert exp.run_config.eval_episodes == 3
    assert exp.env_overrides == {"max_steps_in_episode": 100}
    # the objectives' knobs live in a nested traced pytree, named by path or bare
    nested = make_experiment("ppo", "CartPole-v1", {"ppo.objective.dpo_alpha": 3,
                                                    "mdpo_coef": "0.5"}, {})
    assert (nested.hparams.objective.dpo_alpha, nested.hparams.objective.mdpo_coef) == (3.0, 0.5)
    assert nested.record()["hparams"]["objective"]["dpo_alpha"] == 3.0
    with pytest.raises(ConfigError, match="dpo_beta=-1 must be > 0"):
        make_experiment("ppo", "CartPole-v1", {"objective.dpo_beta": -1}, {})
    with pytest.raises(ConfigError, match="objective has no field 'dpo_gamma'"):
        make_experiment("ppo", "CartPole-v1", {"objective": {"dpo_gamma": 1.0}}, {})
    members = Population.from_configs([nested.hparams, nested.hparams.replace(
        objective=nested.hparams.objective.replace(dpo_alpha=4.0))], seeds=[0])
    assert members.member_hparams(1)["objective.dpo_alpha"] == 4.0
    assert np.asarray(members.hparams.objective.dpo_alpha).dtype == np.float32
    c51 = make_experiment("c51", "CartPole-v1", {"c51.num_atoms": 11}, {})
    assert (c51.config.num_atoms, c51.config.value_distribution) == (11, "categorical")
    with pytest.raises(ConfigError, match="is not one of its choices: scalar, categorical"):
        make_experiment("dqn", "CartPole-v1", {"value_distribution": "gaussian"}, {})


# ---- the Python API refuses the same values -----------------------------------------
def test_api_refuses_what_the_cli_refuses(tmp_path):
    with pytest.raises(ConfigError, match="num_envs=1.5 is not a valid int"):
        ppo.PPOConfig(num_envs=1.5).validate()
    with pytest.raises(ConfigError, match="total_timesteps=.* below 2\\*\\*62"):
        ppo.PPOConfig(total_timesteps=10**20).validate()
    with pytest.raises(ConfigError, match="learning_rate=1e\\+39 does not fit float32"):
        ppo.PPOHParams(learning_rate=1e39).validate()
    with pytest.raises(ConfigError, match="learning_rate=1e\\+39 does not fit float32"):
        Population.from_configs([ppo.PPOHParams(learning_rate=1e39)], seeds=[0])
    with pytest.raises(ConfigError, match="eval_episodes=2.5"):
        RunConfig(eval_episodes=2.5).validate()
    with pytest.raises(ConfigError, match="max_steps_in_episode=1.5"):
        jaxrl.envs.make("CartPole-v1", max_steps_in_episode=1.5)
    with pytest.raises(ConfigError, match="does not fit int32"):
        jaxrl.envs.make("CartPole-v1", max_steps_in_episode=99999999999)
    with pytest.raises(ConfigError, match="not a valid bool"):
        coerce_scalar(bool, "maybe", "flag")
    assert coerce_scalar(int, "1e6", "n") == 1_000_000 and coerce_scalar(int, 4.0, "n") == 4
    assert coerce_scalar(bool, "off", "b") is False
    _, params = jaxrl.envs.make("CartPole-v1", max_steps_in_episode="200")
    assert params.max_steps_in_episode == 200 and isinstance(params.max_steps_in_episode, int)


@pytest.mark.parametrize("seeds", [[-1], [2**32], [0, 2**32 + 5], [1.5]])
def test_population_refuses_seeds_outside_32_bits(seeds):
    with pytest.raises(ConfigError, match=r"seeds\[\d\]="):
        Population.from_configs([ppo.PPOHParams()], seeds=seeds)


def test_population_seed_range_and_edges():
    with pytest.raises(ConfigError, match="runs seeds up to 4294967296"):
        Population.from_seeds(ppo.PPOHParams(), 2, 2**32 - 1)
    edge = Population.from_seeds(ppo.PPOHParams(), 1, 2**32 - 1)
    keys = np.asarray(edge.keys())
    assert not np.array_equal(keys[0], np.asarray(Population.from_seeds(
        ppo.PPOHParams(), 1, 0).keys())[0])
    assert check_seed(np.int64(7)) == 7


def test_unwritable_run_dir_is_refused_before_compiling(tmp_path):
    with pytest.raises(ConfigError, match="not a directory"):
        check_run_dir("/dev/null/x")
    check_run_dir(str(tmp_path / "new" / "nested"))  # creatable: fine, and nothing made
    assert list(tmp_path.iterdir()) == []


def test_config_file_may_hold_env_and_seeds(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("env: Acrobot-v1\nnum_seeds: 3\nseed: 10\nenv_overrides: "
                    "{max_steps_in_episode: '200'}\nnum_envs: 8\n")
    spec = cli.spec_from_args(cli.build_parser().parse_args(
        ["train", "ppo", "--config", str(path), "--seed", "20"]))
    assert (spec.env, spec.num_seeds, spec.seed, spec.config.num_envs) == ("Acrobot-v1", 3, 20, 8)
    assert spec.env_overrides == {"max_steps_in_episode": 200}  # typed as it runs
    assert json.loads(json.dumps(spec.record()))["env_overrides"]["max_steps_in_episode"] == 200


def test_help_states_the_seed_rule(capsys):
    assert cli.main(["train", "ppo", "--help"]) == 0
    assert "[0, 2**32)" in capsys.readouterr().out.replace("\n", " ")


# ---- every checkpoint damaged: clean lines only ------------------------------------
def test_all_checkpoints_damaged_prints_clean_lines_only(tmp_path):
    """In a fresh process (so output from orbax's threads would be seen too)."""
    run = tmp_path / "run"
    tiny = ["--total-timesteps", "256", "--set", "num_steps=16", "--set", "num_minibatches=2",
            "--set", "num_epochs=1", "--set", "num_chunks=2", "--set", "checkpoint_interval=1",
            "--set", "eval_episodes=2", "--no-progress"]
    jaxrl_cmd = [sys.executable, "-m", "jaxrl.cli"]
    env = cli_env(COLUMNS="300")  # the resume and eval load what the first run compiled
    done = subprocess.run([*jaxrl_cmd, "train", "ppo", "--out", str(run), *tiny],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = sorted(os.listdir(run / "checkpoints"))
    assert steps == ["1", "2"]
    for step in steps:  # cut every array file short
        for root, _, files in os.walk(run / "checkpoints" / step / "state"):
            for name in files:
                path = os.path.join(root, name)
                if os.path.getsize(path) > 64 and "metadata" not in name.lower():
                    with open(path, "r+b") as f:
                        f.truncate(os.path.getsize(path) // 2)
    for argv in (["train", "ppo", "--out", str(run), "--resume"], ["eval", str(run)]):
        out = subprocess.run([*jaxrl_cmd, *argv], capture_output=True, text=True, timeout=600,
                             env=env)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2, (argv, out.stderr[-3000:])
        assert [l.split(" in ")[0] for l in lines[:-1]] == ["warning: checkpoint 2",
                                                           "warning: checkpoint 1"], lines
        assert lines[-1].startswith("jaxrl: error: every checkpoint"), lines
        assert "Traceback" not in out.stderr and "pybind11" not in out.stderr
        assert "Exception ignored" not in out.stderr
