"""What produced a run: package versions and the git commit."""
from __future__ import annotations

import os
import subprocess
from typing import Dict, Optional


def package_versions() -> Dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("jaxrl", "jax", "jaxlib", "flax", "optax", "chex", "distrax", "gymnax", "brax",
                 "orbax-checkpoint", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> Optional[str]:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(__file__), timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
