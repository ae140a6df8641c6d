"""Execute notebooks top to bottom and store them with their outputs (`make notebooks`).

    python notebooks/run_notebooks.py [NOTEBOOK ...]      # default: every notebooks/*.ipynb

The notebooks read their budget from ``JAXRL_NOTEBOOK_TIMESTEPS`` (each states its
default, the budget the stored outputs were made with); the test suite executes copies
with a small budget and leaves the stored files alone. The kernel is this interpreter
(a kernelspec in a temporary JUPYTER_PATH), so the notebooks see this venv's jaxrl.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def use_this_python_as_kernel(directory: Path) -> str:
    """Make kernel ``python3`` resolve to ``sys.executable``; JUPYTER_PATH directories are
    searched before user and system kernelspecs."""
    kernel_dir = Path(directory) / "kernels" / "python3"
    kernel_dir.mkdir(parents=True, exist_ok=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (jaxrl venv)", "language": "python"}))
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(directory) + (os.pathsep + previous if previous else "")
    return "python3"


def execute(nb, workdir: Path, kernel_name: str = "python3", timeout: int = 1200):
    """Runs ``nb`` (an nbformat notebook) in place; raises on the first failing cell."""
    import nbclient

    nbclient.NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def main(paths) -> int:
    import nbformat

    paths = [Path(p) for p in paths] or sorted(HERE.glob("*.ipynb"))
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    with tempfile.TemporaryDirectory() as tmp:
        kernel = use_this_python_as_kernel(Path(tmp) / "jupyter")
        for path in paths:
            print(f"executing {path} ...", flush=True)
            nb = nbformat.read(path, as_version=4)
            execute(nb, path.parent.resolve(), kernel)
            nbformat.write(nb, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
