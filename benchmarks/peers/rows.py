"""What the peer scripts share (stdlib only: they run in throwaway venvs): one
measurement per fresh subprocess (its own compile and peak RSS), and the JSON file."""
import json
import os
import platform
import subprocess
import sys


def answer_single(args, single) -> bool:
    """In the child (``--single <spec>``): measure, print the ``ROW``, return True."""
    if not args.single:
        return False
    print("ROW " + json.dumps(single(**json.loads(args.single))), flush=True)
    return True


def run_row(script: str, spec: dict, label: str) -> dict:
    """Runs ``script --single <spec>`` in a fresh process; returns its ``ROW`` dict."""
    proc = subprocess.run([sys.executable, script, "--single", json.dumps(spec)],
                          capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("ROW ")]
    if proc.returncode or not lines:
        sys.exit(f"{label} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][4:])


def write_json(path: str, header: dict, rows: list) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({**header, "machine": {"cpu_count": os.cpu_count(),
                                         "platform": platform.platform()},
                   "results": rows}, f, indent=2)
        f.write("\n")
