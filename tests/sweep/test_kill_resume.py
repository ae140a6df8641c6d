"""A sweep and a PBT run killed with SIGKILL mid-run and resumed end with results tables
identical to uninterrupted runs (the command line, in subprocesses, as users run it).
Each uninterrupted run starts after the killed one and loads the programs it compiled
(the suite's shared compilation cache): one compile per test, not two at once."""
import os

import pytest
from cli_processes import finish, kill_when, launch

from jaxrl.sweep.results import read_jsonl, read_table

pytestmark = pytest.mark.slow

TINY = ["--total-timesteps", "4096", "--set", "num_envs=4", "--set", "num_steps=32",
        "--set", "num_minibatches=2", "--set", "num_epochs=1", "--set", "eval_episodes=2",
        "--set", "checkpoint_interval=1", "--no-progress"]
SPACE = """parameters:
  learning_rate: {distribution: log_uniform_values, min: 1.0e-4, max: 3.0e-3}
  clip_eps: {values: [0.1, 0.2, 0.3]}
"""


def _has_checkpoint(run_dir):
    ckpt = os.path.join(run_dir, "checkpoints")
    return os.path.isdir(ckpt) and any(n.isdigit() for n in os.listdir(ckpt))


def test_sweep_killed_mid_batch_resumes_to_the_same_results(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    args = ["sweep", "ppo", "--space", str(space), "--sampler", "sobol", "--num-configs", "4",
            "--seeds-per-config", "2", "--test-seeds", "2", "--max-members", "4",
            "--set", "num_chunks=8", "--set", "eval_interval=2", *TINY]
    killed = tmp_path / "killed"
    units = killed / "units"
    proc = launch([*args, "--out", "killed"], tmp_path)
    kill_when(proc, lambda: (units / "tune-g000-b000" / "summary.json").exists()
               and _has_checkpoint(units / "tune-g000-b001"),
               "the second batch checkpointed")
    assert not (units / "tune-g000-b001" / "summary.json").exists()
    finish(launch([*args, "--out", "whole"], tmp_path))  # what the killed run compiled
    finish(launch(["sweep", "ppo", "--out", "killed", "--resume", "--no-progress"], tmp_path))
    whole = read_table(str(tmp_path / "whole" / "results.parquet"))
    resumed = read_table(str(killed / "results.parquet"))
    assert len(whole) == (4 * 2 + 2) * 4  # members x 4 evaluations each
    assert resumed.equals(whole)


def test_pbt_killed_mid_run_resumes_to_the_same_results(tmp_path):
    space = tmp_path / "lr.yaml"
    space.write_text(SPACE.split("  clip_eps")[0])
    args = ["pbt", "ppo", "--space", str(space), "--population", "4", "--ready-interval",
            "2", "--set", "checkpoint_interval=2", *TINY]
    history = tmp_path / "killed" / "history.jsonl"
    proc = launch([*args, "--out", "killed"], tmp_path)
    kill_when(proc, lambda: len(read_jsonl(str(history))) >= 5, "five generations")
    assert len(read_jsonl(str(history))) < 16
    finish(launch([*args, "--out", "whole"], tmp_path))
    finish(launch(["pbt", "ppo", "--out", "killed", "--resume", "--no-progress"], tmp_path))
    whole = read_table(str(tmp_path / "whole" / "results.parquet"))
    resumed = read_table(str(tmp_path / "killed" / "results.parquet"))
    assert len(whole) == 4 * 16
    assert resumed.equals(whole)
