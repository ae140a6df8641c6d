"""Output paths checked before any work: a command that cannot write its results says so
in one line before it trains, compiles or writes anything."""
from __future__ import annotations

import os
import tempfile

from jaxrl.config import ConfigError


def check_run_dir(run_dir: str, what: str = "run directory", flag: str = "--out") -> None:
    """Refuses a directory that cannot be created or written. ``os.access`` alone is not
    enough (it says yes to root on read-only mounts such as /sys or /proc), so a temporary
    directory is made and removed in the nearest existing ancestor."""
    path = os.path.abspath(run_dir)
    probe = path
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ConfigError(f"{what} {run_dir} cannot be created: {probe} is not a "
                          f"directory; choose another {flag}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".jaxrl-write-check-", dir=probe))
    except OSError as exc:
        raise ConfigError(f"{what} {run_dir} is not writable ({probe}: "
                          f"{exc.strerror or exc}); choose another {flag}")


def check_output_file(path: str, flag: str) -> None:
    """Refuses a file path that is a directory or whose directory cannot be made or
    written."""
    if os.path.isdir(path):
        raise ConfigError(f"{flag} {path} is a directory; give a file name")
    check_run_dir(os.path.dirname(os.path.abspath(path)), f"{flag} {path}: its directory",
                  flag)
