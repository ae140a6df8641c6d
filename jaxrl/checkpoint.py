"""Population checkpoints (orbax) with integrity checks and fallback.

Each checkpoint stores the driver's whole carry (learner state of every member, the
alive mask) plus JSON metadata carrying a SHA-256 digest of every array, so a
checkpoint that restores without error but with damaged bytes is still caught. Next to
orbax's files, ``jaxrl_files.json`` records the size and SHA-256 of every file written,
so damaged files are found *before* orbax reads them (orbax on damaged files leaves
un-awaited coroutines and closed event loops behind, which print pages of "Exception
ignored in" noise). On restore, the newest checkpoint that verifies wins; damaged ones
are reported in one line each and moved aside.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import os
import re
import sys
import threading
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxrl.distributed import barrier, is_leader, to_host

log = logging.getLogger("jaxrl")
MANIFEST = "jaxrl_files.json"


class CheckpointError(RuntimeError):
    pass


def tree_digest(tree: Any) -> str:
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        arr = to_host(leaf)
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


class PopulationCheckpointer:
    def __init__(self, directory: str, max_to_keep: int = 3):
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                                 enable_async_checkpointing=False,
                                                 create=True))

    def save(self, step: int, tree: Any, meta: Dict[str, Any]) -> None:
        meta = {**meta, "digest": tree_digest(tree)}
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)), force=True)
        self.manager.wait_until_finished()
        if is_leader():  # several processes write one checkpoint; one lists its files
            self._write_manifest(step)
        barrier(f"jaxrl-checkpoint-{step}")

    # ---- file-level integrity ---------------------------------------------------------
    def _step_dir(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def _write_manifest(self, step: int) -> None:
        root = self._step_dir(step)
        files = {rel: _file_record(os.path.join(root, rel)) for rel in _files_under(root)
                 if rel != MANIFEST}
        tmp = os.path.join(root, MANIFEST + ".tmp")
        with open(tmp, "w") as f:
            json.dump(files, f)
        os.replace(tmp, os.path.join(root, MANIFEST))

    def verify_files(self, step: int) -> Optional[str]:
        """What is wrong with checkpoint ``step``'s files (None if nothing, or if it
        predates the manifest)."""
        root = self._step_dir(step)
        path = os.path.join(root, MANIFEST)
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                files = json.load(f)
        except (OSError, ValueError) as exc:
            return f"its file list {MANIFEST} is unreadable ({type(exc).__name__})"
        for rel, expected in sorted(files.items()):
            full = os.path.join(root, rel)
            if not os.path.isfile(full):
                return f"file {rel} is missing"
            size = os.path.getsize(full)
            if size != expected["size"]:
                return f"file {rel} has {size} bytes, {expected['size']} were written"
            if _file_record(full)["sha256"] != expected["sha256"]:
                return f"file {rel} does not match its SHA-256 digest"
        return None

    def steps(self):
        self.manager.reload()
        return sorted(self.manager.all_steps())

    def restore_latest(self, abstract_tree: Any,
                       warn: Callable[[str], None] = log.warning,
                       at_most: Optional[int] = None) -> Tuple[int, Any, Dict]:
        """Newest checkpoint that restores and verifies (at step ``at_most`` or before,
        where given); raises if none does."""
        steps = self.steps()
        if at_most is not None:
            kept = steps
            steps = [s for s in steps if s <= at_most]
            if not steps:
                raise CheckpointError(f"no checkpoint at step {at_most} or before in "
                                      f"{self.directory} (it holds steps {kept})")
        if not steps:
            raise CheckpointError(f"no checkpoint found in {self.directory}")
        problems, bad_steps = [], []
        for step in reversed(steps):
            reason = self.verify_files(step)
            if reason is None:
                try:
                    with _quiet_orbax():
                        restored = self.manager.restore(step, args=ocp.args.Composite(
                            state=ocp.args.StandardRestore(abstract_tree),
                            meta=ocp.args.JsonRestore()))
                    tree, meta = restored["state"], restored["meta"]
                    if tree_digest(tree) != meta.get("digest"):
                        raise CheckpointError("array contents do not match the saved digest")
                except Exception as exc:  # orbax/tensorstore raise many types on damage
                    reason = _one_line(exc)
            if reason is not None:
                problems.append(f"step {step}: {reason}")
                bad_steps.append(step)
                warn(f"checkpoint {step} in {self.directory} is unreadable or corrupt "
                     f"({reason}); trying the previous one")
                continue
            self._quarantine(bad_steps)
            return step, tree, meta
        raise CheckpointError(f"every checkpoint in {self.directory} failed to restore ("
                              + "; ".join(problems) + "); start a new run with another --out")

    def _quarantine(self, steps) -> None:
        """Move damaged checkpoints aside (kept for inspection) so new saves can reuse
        their step numbers."""
        if not steps:
            return
        barrier("jaxrl-quarantine")  # every process has read before one moves files
        if is_leader():
            aside = self.directory + ".corrupt"
            os.makedirs(aside, exist_ok=True)
            for step in steps:
                src = os.path.join(self.directory, str(step))
                if os.path.exists(src):
                    os.replace(src, os.path.join(aside, f"{step}-{os.getpid()}"))
        barrier("jaxrl-quarantined")
        self.manager.reload()

    def close(self):
        self.manager.close()


def _files_under(root: str):
    for dirpath, _, names in os.walk(root):
        for name in names:
            yield os.path.relpath(os.path.join(dirpath, name), root)


def _file_record(path: str) -> Dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"size": os.path.getsize(path), "sha256": h.hexdigest()}


_OBJECT_REPR = re.compile(r"<[^<>]*(?: at 0x[0-9a-fA-F]+|pybind11|bound method)[^<>]*>")


def _one_line(exc: BaseException) -> str:
    """An exception as one short, readable line (object reprs such as pybind11 bound
    methods removed)."""
    text = _OBJECT_REPR.sub("", str(exc)).strip()
    text = " ".join(text.split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def _quiet_orbax():
    """Silences what orbax/tensorstore print while failing on a damaged checkpoint that
    has no file list to check first (written before it existed): absl and asyncio ERROR
    logs, exceptions in its worker threads, and "Exception ignored in <coroutine ...>"
    reports of coroutines it leaves un-awaited (collected here, inside the context)."""
    loggers = [logging.getLogger(name) for name in ("absl", "asyncio")]
    levels = [logger.level for logger in loggers]
    hooks = sys.unraisablehook, threading.excepthook
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    sys.unraisablehook = threading.excepthook = lambda *_: None
    try:
        yield
    finally:
        gc.collect()
        sys.unraisablehook, threading.excepthook = hooks
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
