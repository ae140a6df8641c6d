"""Two processes on loopback (``jax.distributed`` with gloo CPU collectives, 2 host
devices each) train one population: the same result as one process with 4 devices, and
a checkpoint they wrote together resumes in a single process; a sweep over them scores
what one process scores; a meta-learning run over them learns what one process learns."""
import json
import os
import shutil
import subprocess
import sys

import jax
import pytest

from cli_processes import free_port, host_devices_env
from jaxrl.checkpoint import PopulationCheckpointer
from jaxrl.experiment import read_run_config
from jaxrl.runner import Run
from tolerances import assert_member_matches

TRAIN = ["train", "ppo", "--num-seeds", "8", "--total-timesteps", "4096", "--set",
         "num_chunks=4", "--set", "checkpoint_interval=1", "--no-progress"]


def quick_env(count):
    """Every process here is compared only with the others here: see QUICK_COMPILE."""
    return host_devices_env(count, quick_compile=True)


def cli(args, env):
    return subprocess.Popen([sys.executable, "-m", "jaxrl.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(procs):
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return outs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    port = free_port()
    procs = [cli([*TRAIN, "--distributed", "--out", str(root / "two")],
                 {**quick_env(2), "JAXRL_COORDINATOR": f"localhost:{port}",
                  "JAXRL_NUM_PROCESSES": "2", "JAXRL_PROCESS_ID": str(i)})
             for i in range(2)]
    reference = cli([*TRAIN, "--out", str(root / "one")], quick_env(4))
    outs = finish(procs)
    finish([reference])
    return root, outs


def final_state(run_dir):
    """The newest checkpoint of ``run_dir``, restored on this process's one device."""
    algo, population = read_run_config(run_dir).build()
    run = Run(algo, population, devices=jax.devices()[:1])
    checkpointer = PopulationCheckpointer(os.path.join(run_dir, "checkpoints"))
    step, carry, _ = checkpointer.restore_latest(run.abstract_carry())
    checkpointer.close()
    return step, carry


def summary(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def test_two_processes_train_what_one_process_trains(runs):
    root, outs = runs
    (leader_out, leader_err), (follower_out, follower_err) = outs
    assert "on 4 cpu device(s)" in leader_err  # one population over both processes
    assert "run files" in leader_out and "run files" not in follower_out  # 0 reports
    assert "compiled" not in follower_err
    assert "memory:" not in follower_err and "memory:" in leader_err
    two, one = summary(root / "two"), summary(root / "one")
    assert two["final_eval_return"] == one["final_eval_return"]
    (step_two, carry_two), (step_one, carry_one) = final_state(root / "two"), \
        final_state(root / "one")
    assert step_two == step_one == 4
    assert_member_matches(carry_two.state, carry_one.state)  # shard_map: in fact equal


def test_a_checkpoint_written_by_two_processes_resumes_in_one(runs):
    root, _ = runs
    resumed = root / "resumed"
    shutil.copytree(root / "two", resumed)
    for later in ("3", "4"):  # as if both processes were killed after chunk 2
        shutil.rmtree(resumed / "checkpoints" / later)
    os.remove(resumed / "summary.json")
    finish([cli(["train", "ppo", "--resume", "--out", str(resumed), "--no-progress"],
                quick_env(2))])
    assert summary(resumed)["final_eval_return"] == summary(root / "two")["final_eval_return"]
    assert_member_matches(final_state(resumed)[1].state, final_state(root / "two")[1].state)


def test_a_sweep_across_two_processes_scores_what_one_process_scores(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("parameters:\n  learning_rate: {values: [0.0003, 0.001]}\n")
    sweep = ["sweep", "ppo", "--space", str(space), "--sampler", "grid",
             "--total-timesteps", "2048", "--seeds-per-config", "2", "--test-seeds", "4",
             "--set", "num_chunks=2", "--no-progress"]
    port = free_port()
    finish([*(cli([*sweep, "--distributed", "--out", str(tmp_path / "two")],
                  {**quick_env(2), "JAXRL_COORDINATOR": f"localhost:{port}",
                   "JAXRL_NUM_PROCESSES": "2", "JAXRL_PROCESS_ID": str(i)})
              for i in range(2)),
            cli([*sweep, "--out", str(tmp_path / "one")], quick_env(4))])
    two, one = summary(tmp_path / "two"), summary(tmp_path / "one")
    assert two["ranking"] == one["ranking"] and two["best"] == one["best"]


META = ["meta", "schedule", "--train-envs", "CartPole-v1", "--schedule", "learning_rate",
        "--knots", "2", "--generations", "2", "--total-timesteps", "2048", "--set",
        "num_envs=4", "--set", "num_steps=32", "--set", "num_minibatches=2", "--set",
        "num_epochs=1", "--set", "eval_episodes=4", "--popsize", "4", "--inner-seeds", "3",
        "--test-seeds", "4", "--seed", "2", "--no-progress"]


# In `make test-extended` (95 s in CI): meta's population split over devices, its bitwise
# resume and two-process runs are each tested in CI (test_meta, the tests above).
@pytest.mark.extended
def test_meta_across_two_processes_ends_where_one_process_resuming_their_checkpoint_ends(
        tmp_path):
    """The meta-population (4 members) split over two processes' devices, only process 0
    reporting. Their ES checkpoint after generation 1, resumed in one 4-device process,
    ends bitwise where the two processes ended: generation 2, the search mean and the
    meta-test (4 seeds, split over the devices) computed again by one process. The
    references (3 seeds, which do not split over 2 processes: each computes them all)
    are reused from the two."""
    import numpy as np

    port = free_port()
    procs = [cli([*META, "--distributed", "--out", str(tmp_path / "two")],
                 {**quick_env(2), "JAXRL_COORDINATOR": f"localhost:{port}",
                  "JAXRL_NUM_PROCESSES": "2", "JAXRL_PROCESS_ID": str(i)})
             for i in range(2)]
    (leader_out, leader_err), (follower_out, follower_err) = finish(procs)
    assert "fixed schedule" in leader_out and "fixed schedule" not in follower_out
    assert "reference CartPole-v1" in leader_err and "reference" not in follower_err
    assert "sharded over 4 device(s)" in " ".join(leader_err.split())

    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "two", resumed)
    shutil.rmtree(resumed / "es" / "checkpoints" / "2")  # as if killed after generation 1
    for name in ("mean_params.npz", "meta_test.json"):
        os.remove(resumed / name)
    _, err = finish([cli(["meta", "schedule", "--resume", "--out", str(resumed),
                          "--no-progress"], quick_env(4))])[0]
    assert "after generation 1/2" in " ".join(err.split())

    def outputs(name):
        root = tmp_path / name
        summary = json.load(open(root / "meta_test.json"))
        for record in summary["curve"]:
            del record["seconds"], record["inner_env_steps_per_second"]
        return summary, np.load(root / "mean_params.npz")["learning_rate"]

    (two, two_params), (one, one_params) = outputs("two"), outputs("resumed")
    assert two["curve"] == one["curve"] and len(two["curve"]) == 2
    np.testing.assert_array_equal(two_params, one_params)
    assert two["meta_test"] == one["meta_test"]
