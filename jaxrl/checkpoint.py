"""Population checkpoints (orbax) with integrity checks and fallback.

Each checkpoint stores the driver's whole carry (learner state of every member, the
alive mask) plus JSON metadata carrying a SHA-256 digest of every array, so a
checkpoint that restores without error but with damaged bytes is still caught. On
restore, the newest checkpoint that verifies wins; damaged ones are reported and
skipped.
"""
from __future__ import annotations

import hashlib
import logging
import os
from typing import Any, Callable, Dict, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp

log = logging.getLogger("jaxrl")


class CheckpointError(RuntimeError):
    pass


def tree_digest(tree: Any) -> str:
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        arr = np.asarray(jax.device_get(leaf))
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

    def steps(self):
        self.manager.reload()
        return sorted(self.manager.all_steps())

    def restore_latest(self, abstract_tree: Any,
                       warn: Callable[[str], None] = log.warning) -> Tuple[int, Any, Dict]:
        """Newest checkpoint that restores and verifies; raises if none does."""
        steps = self.steps()
        if not steps:
            raise CheckpointError(f"no checkpoint found in {self.directory}")
        problems, bad_steps = [], []
        for step in reversed(steps):
            try:
                restored = self.manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_tree),
                    meta=ocp.args.JsonRestore()))
                tree, meta = restored["state"], restored["meta"]
                if tree_digest(tree) != meta.get("digest"):
                    raise CheckpointError("array contents do not match the saved digest")
            except Exception as exc:  # orbax/tensorstore raise many types on damaged files
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                problems.append(f"step {step}: {reason}")
                bad_steps.append(step)
                warn(f"checkpoint {step} in {self.directory} is unreadable or corrupt "
                     f"({reason}); trying the previous one")
                continue
            self._quarantine(bad_steps)
            return step, tree, meta
        raise CheckpointError("every checkpoint failed to restore: " + "; ".join(problems))

    def _quarantine(self, steps) -> None:
        """Move damaged checkpoints aside (kept for inspection) so new saves can reuse
        their step numbers."""
        if not steps:
            return
        aside = self.directory + ".corrupt"
        os.makedirs(aside, exist_ok=True)
        for step in steps:
            src = os.path.join(self.directory, str(step))
            if os.path.exists(src):
                os.replace(src, os.path.join(aside, f"{step}-{os.getpid()}"))
        self.manager.reload()

    def close(self):
        self.manager.close()
