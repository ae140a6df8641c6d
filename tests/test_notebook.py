"""The notebooks run top to bottom (small budget) and draw their figures."""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# name -> (small budget for the test, a file the run must leave under the temp dir)
CASES = {"quickstart": (8192, "jaxrl-quickstart-*/metrics.jsonl"),
         "sweeps": (2048, "jaxrl-sweeps-*/sweep/results.parquet"),
         "meta_learning": (4096, "jaxrl-meta-*/lpo/meta_test.json"),
         "domain_randomisation": (2048, "jaxrl-dr-randomised-*/config.json")}


sys.path.insert(0, str(NOTEBOOKS))
import run_notebooks  # noqa: E402  (notebooks/run_notebooks.py: `make notebooks`)


@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_is_stored_executed(name):
    """Someone browsing the repository sees the figures: outputs are committed."""
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    outputs = [out for cell in committed.cells if cell.cell_type == "code"
               for out in cell.outputs]
    assert all(cell.execution_count for cell in committed.cells if cell.cell_type == "code"), \
        "store the notebook executed: make notebooks"
    assert any("image/png" in o.get("data", {}) for o in outputs), "no stored figure"
    assert not [o for o in outputs if o.output_type == "error"]


# CI executes the quick start. The others run in `make test-extended`, each beside the
# tests of its pipeline that CI runs: meta_learning (119 s in CI: five meta and reference
# programs to compile; tests/test_meta.py), sweeps (59 s; tests/sweep/) and
# domain_randomisation (59 s; tests/test_env_params_per_member.py).
IN_CI = ("quickstart",)
RUNS = [name if name in IN_CI else pytest.param(name, marks=pytest.mark.extended)
        for name in sorted(CASES)]


@pytest.mark.parametrize("name", RUNS)
def test_notebook_runs(name, tmp_path, monkeypatch):
    budget, leaves = CASES[name]
    nb = copy.deepcopy(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4))
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    monkeypatch.setenv("JAXRL_NOTEBOOK_TIMESTEPS", str(budget))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # keep the kernel's inline backend
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's run dir lands in tmp_path
    monkeypatch.setenv("JUPYTER_PATH", os.environ.get("JUPYTER_PATH", ""))  # restored after
    kernel = run_notebooks.use_this_python_as_kernel(tmp_path / "jupyter")
    work = tmp_path / "cwd"
    work.mkdir()
    run_notebooks.execute(nb, work, kernel, timeout=600)

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure was drawn"
    assert nb.cells[-1].outputs[0]["text"].strip() == sys.executable
    assert list(tmp_path.glob(leaves))
