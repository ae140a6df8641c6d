"""notebooks/quickstart.ipynb runs top to bottom (small budget) and draws its figure."""
from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


@pytest.fixture
def this_python_kernel(tmp_path, monkeypatch):
    """Make kernel ``python3`` resolve to this interpreter (the venv's): a kernelspec in
    a JUPYTER_PATH directory, which jupyter_client searches before user/system ones."""
    kernel_dir = tmp_path / "jupyter" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (test venv)", "language": "python"}))
    path = os.environ.get("JUPYTER_PATH")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter") + (os.pathsep + path if path else ""))
    return "python3"


def test_quickstart_notebook_runs(tmp_path, monkeypatch, this_python_kernel):
    committed = nbformat.read(NOTEBOOK, as_version=4)
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, \
                "commit the notebook with its outputs cleared"

    nb = copy.deepcopy(committed)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    monkeypatch.setenv("JAXRL_NOTEBOOK_TIMESTEPS", "8192")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # keep the kernel's inline backend
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's run dir lands in tmp_path
    work = tmp_path / "cwd"
    work.mkdir()
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name=this_python_kernel,
                                     resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure was drawn"
    assert nb.cells[-1].outputs[0]["text"].strip() == sys.executable
    assert list(tmp_path.glob("jaxrl-quickstart-*/metrics.jsonl"))
