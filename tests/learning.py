"""The learning tests' one measurement: train a population with an algorithm's default
configuration (plus the given fields) and read its final greedy evaluation (or, with
``measure="train"``, the sampling policy's episodes in the last chunk).

Each measurement runs in a fresh process with one XLA host device per core, as `jaxrl
train` does, so the population trains on every core. The test process itself keeps one
device (see conftest.py)."""
import json
import subprocess
import sys

import numpy as np
from cli_processes import host_devices_env

from jaxrl import stats
from jaxrl.platform import host_device_count

CHILD = """
import ast, json, sys
import numpy as np
from jaxrl.experiment import make_experiment
from jaxrl.runner import train

algorithm, env, values, env_values, num_seeds = ast.literal_eval(sys.argv[1])
# Each device's members all at once: the memory plan cannot change results (members never
# interact), and a given batch spares this process XLA's analysis of the update (a
# compile as long as the run's own; the plan is tested in test_memory and the contract).
from jaxrl.runner.program import dividing_devices
values.setdefault("member_batch", num_seeds // len(dividing_devices(num_seeds)))
exp = make_experiment(algorithm, env, values, env_values, num_seeds=num_seeds)
algo, population = exp.build()
result = train(algo, population, exp.run_config, progress=False)
print("RESULT" + json.dumps(result.summary))
"""


def run_summary(algorithm, env, total_timesteps=None, num_seeds=8, env_values=None,
                devices=None, **values):
    """The run's summary (``summary.json``'s contents). ``devices``: host devices for the
    run (default: one per core that divides the seeds)."""
    if total_timesteps is not None:
        values["total_timesteps"] = total_timesteps
    spec = (algorithm, env, {"eval_episodes": 16, **values}, env_values or {}, num_seeds)
    proc_env = host_devices_env(devices or host_device_count(num_seeds))
    proc = subprocess.run([sys.executable, "-c", CHILD, repr(spec)], env=proc_env,
                          capture_output=True, text=True, timeout=880)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1][6:])
    assert not summary["diverged_members"], summary["diverged_members"]
    return summary


def final_returns(algorithm, env, total_timesteps=None, num_seeds=8, env_values=None,
                  devices=None, measure="eval", **values):
    """(IQM, per-member returns) of the final greedy evaluation (``measure="eval"``) or of
    the training episodes of the last chunk (``"train"``)."""
    out = run_summary(algorithm, env, total_timesteps, num_seeds, env_values, devices,
                      **values)
    if measure == "train":
        returns = out["final_train_return"]
        iqm = stats.iqm(np.asarray(returns, float))
    else:
        returns, iqm = out["final_eval_return"], out["final_eval_return_iqm"]
    print(f"{algorithm} {env} final {measure} returns:", [round(r, 2) for r in returns],
          "IQM", round(iqm, 2))
    return iqm, returns
