"""notebooks/quickstart.ipynb runs top to bottom (small budget) and draws its figure."""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


sys.path.insert(0, str(NOTEBOOK.parent))
import run_notebooks  # noqa: E402  (notebooks/run_notebooks.py: `make notebooks`)


def test_quickstart_notebook_is_stored_executed():
    """Someone browsing the repository sees the learning curve: outputs are committed."""
    committed = nbformat.read(NOTEBOOK, as_version=4)
    outputs = [out for cell in committed.cells if cell.cell_type == "code"
               for out in cell.outputs]
    assert all(cell.execution_count for cell in committed.cells if cell.cell_type == "code"), \
        "store the notebook executed: make notebooks"
    assert any("image/png" in o.get("data", {}) for o in outputs), "no stored figure"
    assert not [o for o in outputs if o.output_type == "error"]


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    nb = copy.deepcopy(nbformat.read(NOTEBOOK, as_version=4))
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    monkeypatch.setenv("JAXRL_NOTEBOOK_TIMESTEPS", "8192")
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
    assert list(tmp_path.glob("jaxrl-quickstart-*/metrics.jsonl"))
