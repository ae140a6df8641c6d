"""`jaxrl sweep | pbt | report` speak train's language and refuse bad input in one line,
before anything compiles or any directory is made."""
import pytest

from jaxrl import cli

COMMON = ["--env", "--total-timesteps", "--set", "--env-set", "--config", "--out", "--resume"]


@pytest.mark.parametrize("command", ["train", "sweep", "pbt"])
def test_training_commands_share_the_common_flags(command, capsys):
    assert cli.main([command, "--help"]) == 0
    text = capsys.readouterr().out
    for flag in COMMON:
        assert flag in text, (command, flag)


@pytest.mark.parametrize("command, space, message", [
    ("sweep", "parameters: {learning_rate: {distribution: log_uniform_values, min: 0, max: 1}}",
     "log_uniform_values needs min > 0"),
    ("sweep", "parameters: {learning_rate: {distribution: uniform, min: 1, max: 1}}",
     "empty range"),
    ("sweep", "parameters: {lerning_rate: {values: [0.1]}}", "did you mean 'learning_rate'"),
    ("sweep", "parameters: {eval_seed: {values: [1, 2]}}", "run setting"),
    ("sweep", "parameters: {num_envs: {values: [4, 4.5]}}", "not a valid int"),
    ("sweep", "learning_rate: {values: [0.1]}", "no 'parameters:' section"),
    ("pbt", "parameters: {num_envs: {values: [4, 8]}}", "static field"),
])
def test_bad_spaces_fail_in_one_line_before_compiling(command, space, message, tmp_path, capsys):
    path = tmp_path / "space.yaml"
    path.write_text(space)
    out = tmp_path / "out"
    assert cli.main([command, "ppo", "--space", str(path), "--num-configs", "4",
                     "--out", str(out)] if command == "sweep" else
                    [command, "ppo", "--space", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_sweep_resume_refuses_new_settings(tmp_path, capsys):
    assert cli.main(["sweep", "ppo", "--out", str(tmp_path), "--resume", "--set",
                     "learning_rate=0.1"]) == 2
    assert "drop --set" in capsys.readouterr().err
    assert cli.main(["sweep", "ppo", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "sweep.json" in capsys.readouterr().err
