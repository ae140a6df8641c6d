"""``benchmarks/accelerator/check.sh`` (its steps in ``check.py``) without an accelerator:
the plan it runs, the JSON it writes, its deadline; the run itself at toy sizes is in
the extended tier."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "accelerator"))
import check  # noqa: E402

from jaxrl.bench import _spec  # noqa: E402


def test_the_plan_is_the_issues_workloads_and_every_step_is_a_valid_bench_call():
    steps = check.plan()
    ppo = [s for s in steps if s.workload == "ppo_cartpole"]
    assert [s.members for s in ppo] == [1, 64, 1024, 16_384, 65_536]
    assert all(s.total_timesteps == 500_000 for s in ppo[:3]) and not ppo[0].sets
    assert {(s.algorithm, s.env) for s in steps} == {
        ("ppo", "CartPole-v1"), ("pqn", "Breakout-MinAtar"), ("ppo", "brax/ant"),
        ("sac", "brax/inverted_pendulum")}
    for step in steps + check.plan(tiny=True):  # --set names and values route and validate
        spec = _spec(step.algorithm, step.env, step.members, step.total_timesteps,
                     dict(step.sets))
        assert spec.config.total_timesteps == step.total_timesteps
    # PureJaxRL's CartPole config is jaxrl's PPO default
    spec = _spec("ppo", "CartPole-v1", 1, 500_000, {})
    assert (spec.config.num_envs, spec.config.num_steps, spec.config.num_epochs,
            spec.config.num_minibatches, spec.config.activation, spec.config.anneal_lr) == (
        4, 128, 4, 4, "tanh", True)
    assert float(spec.hparams.learning_rate) == pytest.approx(2.5e-4)


def test_the_record_holds_rows_skips_and_the_reference(tmp_path):
    row = {"workload": "ppo_cartpole", "members": 64, "env_steps_per_second": 1e6,
           "compile_seconds": 12.0, "device_peak_bytes": 2**30, "total_timesteps": 500_000,
           "memory_plan": {"batches": 1}}
    record = check.merge([row], [{"workload": "ppo_brax_ant", "reason": "no time left"}],
                         str(tmp_path), 3.0)
    stored = json.load(open(tmp_path / "accelerator_check.json"))
    assert stored["ppo_cartpole_by_members"]["64"] == {
        "env_steps_per_second": 1e6, "compile_seconds": 12.0, "device_peak_bytes": 2**30,
        "member_batches": 1, "env_steps_per_member": 500_000}
    assert stored["reference"]["agents"] == 2048 and stored["reference"]["seconds"] == 98.0
    assert stored["skipped"][0]["reason"] == "no time left" and record["seconds"] == 3.0
    assert stored["machine"]["backend"] == "cpu"


def test_a_deadline_too_short_skips_every_step_and_still_writes(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/accelerator/check.py", "--out",
                           str(tmp_path), "--deadline", "15"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    stored = json.load(open(tmp_path / "accelerator_check.json"))
    assert stored["rows"] == [] and len(stored["skipped"]) == len(check.plan())
    assert {s["reason"] for s in stored["skipped"]} == {"no time left"}


def test_a_step_over_its_share_is_killed_with_its_children():
    """``jaxrl bench`` runs each size in a child process: a timed-out step must not
    leave that child running (it would slow every later step)."""
    marker = "61.25"
    parent = ("import subprocess, time; subprocess.Popen(['sleep', '" + marker + "']); "
              "time.sleep(60)")
    assert check._run_within([sys.executable, "-c", parent], 2) is None
    left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True)
    assert left.stdout.strip() == ""
    done = check._run_within([sys.executable, "-c", "print('ok')"], 60)
    assert done.returncode == 0 and done.stdout.strip() == "ok"


@pytest.mark.extended
def test_the_check_runs_end_to_end_at_toy_sizes(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/accelerator/check.py", "--tiny",
                           "--out", str(tmp_path), "--deadline", "600"], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    stored = json.load(open(tmp_path / "accelerator_check.json"))
    assert not stored["skipped"], stored["skipped"]
    assert [r["members"] for r in stored["rows"]] == [1, 2, 2]
    for r in stored["rows"]:
        assert r["env_steps_per_second"] > 0 and r["compile_seconds"] > 0
        assert r["memory_plan"]["batches"] >= 1 and r["device"] == "cpu"
        assert r["device_peak_bytes"] is None  # XLA:CPU keeps no allocator statistics
