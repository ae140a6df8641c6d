"""A sweep fanned out as Ray tasks over a local cluster (a head and a worker node, both
on loopback, started here), with a worker killed in the middle of a batch."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from cli_processes import free_port, host_devices_env, own_devices_env, with_compilation_cache

pytest.importorskip("ray")
# Ray is an optional integration (jaxrl[ray]): its cluster run (130-180 s in `make test`)
# runs in `make test-extended`; sweeps across processes without Ray (test_distributed.py)
# and sweeps killed and resumed (test_kill_resume.py) run in CI.
pytestmark = [pytest.mark.slow, pytest.mark.extended]

SPACE = "parameters:\n  learning_rate: {values: [0.0003, 0.001]}\n"
SWEEP = ["sweep", "ppo", "--sampler", "grid", "--total-timesteps", "65536",
         "--seeds-per-config", "2", "--test-seeds", "0", "--max-members", "2",
         "--set", "num_chunks=4", "--set", "checkpoint_interval=1", "--no-progress"]


def start_ray(args, env):
    """`ray start`, failing with Ray's own words (stderr) rather than only an exit code."""
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ray"), *args],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"ray {' '.join(args)} failed:\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def cluster():
    # Ray's sockets live under the temp dir, and AF_UNIX paths stop at 107 bytes: pytest's
    # own tmp dirs (longer still under xdist, .../popen-gw1/...) overflow that.
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    port = free_port()
    # The retried task and the local run below load what the first tasks compiled.
    env = with_compilation_cache(own_devices_env())
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray runs task workers at niceness 15: beside the suite's other worker they were
    # starved (this test took 150-355 s in `make test`, 70 s alone). Normal priority.
    env["RAY_worker_niceness"] = "0"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    try:
        start_ray(["start", "--head", "--port", str(port), "--temp-dir", temp,
                   "--include-dashboard=false", *common], env)
        start_ray(["start", "--address", f"localhost:{port}", *common], env)
        yield f"localhost:{port}", env
    finally:
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "ray"), "stop",
                        "--force"], env=env, capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)


def kill_first_worker_after_its_first_checkpoint(out, killed, deadline):
    """SIGKILL the worker training the first batch once it has written a checkpoint."""
    while time.time() < deadline:
        for marker in glob.glob(os.path.join(out, "units", "*.worker")):
            unit = marker[:-len(".worker")]
            if glob.glob(os.path.join(unit, "checkpoints", "1", "jaxrl_files.json")) and \
                    not os.path.exists(os.path.join(unit, "summary.json")):
                with open(marker) as f:
                    pid = int(f.read())
                os.kill(pid, signal.SIGKILL)
                killed.update(unit=unit, pid=pid)
                return
        time.sleep(0.02)


def test_ray_runs_the_batches_retries_a_killed_worker_and_loses_nothing(cluster, tmp_path):
    address, env = cluster
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = str(tmp_path / "ray")
    killed = {}
    watcher = threading.Thread(target=kill_first_worker_after_its_first_checkpoint,
                               args=(out, killed, time.time() + 600), daemon=True)
    watcher.start()
    proc = subprocess.run([sys.executable, "-m", "jaxrl.cli", *SWEEP, "--space", str(space),
                           "--ray", address, "--out", out], env=env, capture_output=True,
                          text=True, timeout=900)
    watcher.join(timeout=1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "batches as Ray tasks" in proc.stderr and "on 2 node(s)" in proc.stderr
    assert killed, "no worker was killed mid-batch: the test did not test a retry"
    with open(killed["unit"] + ".worker") as f:
        assert int(f.read()) != killed["pid"]  # Ray ran the batch again, in a new worker
    with open(os.path.join(killed["unit"], "metrics.jsonl")) as f:
        chunks = [json.loads(line)["chunk"] for line in f]
    assert chunks == [0, 1, 2, 3]  # resumed after its checkpoint: no chunk lost or doubled

    # The same sweep in this process's way: one device, as each 1-CPU Ray task has.
    local = str(tmp_path / "local")
    subprocess.run([sys.executable, "-m", "jaxrl.cli", *SWEEP, "--space", str(space),
                    "--out", local], env=with_compilation_cache(host_devices_env(1)), check=True,
                   capture_output=True, timeout=900)
    summaries = []
    for d in (out, local):
        with open(os.path.join(d, "summary.json")) as f:
            summaries.append(json.load(f))
    assert summaries[0]["ranking"] == summaries[1]["ranking"]
    assert summaries[0]["best"] == summaries[1]["best"]
    shutil.rmtree(out, ignore_errors=True)
