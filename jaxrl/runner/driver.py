"""The host driver: the one loop of steps that training, PBT and ES all run on.

A *step* is a compiled chunk of a population's updates (``train``; PBT is ``train`` with a
hook between chunks) or one generation of an evolution strategy (``meta_train``). The
loop that calls it supplies the step and what it records; the driver owns everything
around the steps that every loop needs and that must behave the same everywhere:

- **resume**: the newest checkpoint that verifies (damaged ones reported, moved aside),
  or a clean start when there is none yet;
- **checkpoints** every ``checkpoint_interval`` steps and after the last one, with the
  loop's metadata and the hooks' own state;
- **sinks**: ``metrics.jsonl`` (cut back to the restored step on resume, so the file
  reads as one uninterrupted run), TensorBoard and W&B when asked;
- **progress**: the loop's bar, advanced after every step and closed on any exit;
- **hooks** between steps (``Hook``): PBT's exploit/explore is one; a hook may change
  the state and add its own state to every checkpoint;
- **stopping early** (``stop_after``: as a kill would, but cleanly, for tests) and, with
  several processes, one writer (process 0) and every process at the same checkpoints.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from jaxrl.checkpoint import PopulationCheckpointer
from jaxrl.distributed import is_leader
from jaxrl.logging import JsonlSink, Sinks, TensorBoardSink, WandbSink

Record = Dict[str, Any]
METRICS_FILE = "metrics.jsonl"


class Hook:
    """Runs between steps. ``after_step`` may return a changed state (and add fields to
    the step's record before the sinks see it); ``state``/``abstract_state``/``restore``
    let it keep its own pytree in every checkpoint (under ``name``)."""

    name = "hook"

    def begin(self, start: int) -> None:
        """Before the first step (``start`` steps already done, when resumed)."""

    def after_step(self, index: int, state: Any, record: Record, last: bool) -> Any:
        return state

    def state(self) -> Any:
        return None

    def abstract_state(self) -> Any:
        return None

    def restore(self, tree: Any) -> None:
        pass

    def end(self) -> None:
        """After the last step, or on any exit from the loop."""


class Driver:
    """Resume, checkpoints, sinks, progress and hooks for a loop of ``count`` steps
    writing into ``out`` (``None``: nothing is written or resumed)."""

    def __init__(self, out: Optional[str], count: int, checkpoint_interval: int = 1,
                 keep_checkpoints: int = 3, hooks: Sequence[Hook] = (), console=None,
                 stop_after: Optional[int] = None):
        self.out, self.count = out, count
        self.checkpoint_interval = checkpoint_interval
        self.hooks = list(hooks)
        self.console = console
        self.stop_after = stop_after
        self.keep_checkpoints = keep_checkpoints
        self.checkpointer: Optional[PopulationCheckpointer] = None
        self.sinks = Sinks([])

    def _checkpoints(self, create: bool) -> Optional[PopulationCheckpointer]:
        """The checkpointer of ``out/checkpoints``, opened on first use: nothing is made
        on disk before the loop's first save (a run refused while compiling leaves no
        directory behind)."""
        if self.out is None:
            return None
        if self.checkpointer is None:
            path = os.path.join(self.out, "checkpoints")
            if not create and not os.path.isdir(path):
                return None
            self.checkpointer = PopulationCheckpointer(path, self.keep_checkpoints)
        return self.checkpointer

    # ---- resume ----------------------------------------------------------------------
    def _with_hooks(self, tree: Any, hook_trees: Dict[str, Any]) -> Any:
        """A checkpoint holds the loop's tree alone when no hook keeps state (the format
        of a plain training run), else ``{"carry": tree, <hook name>: ...}``."""
        hook_trees = {k: v for k, v in hook_trees.items() if v is not None}
        return {"carry": tree, **hook_trees} if hook_trees else tree

    def restore(self, abstract: Any, warn: Callable[[str], None]) -> Tuple[int, Any, Dict]:
        """``(steps done, the loop's tree, metadata)`` from the newest good checkpoint;
        ``(0, None, {})`` when there is none yet. Hooks get their own state back."""
        checkpointer = self._checkpoints(create=False)
        if checkpointer is None or not checkpointer.steps():
            return 0, None, {}
        hook_abstract = {h.name: h.abstract_state() for h in self.hooks}
        start, tree, meta = checkpointer.restore_latest(
            self._with_hooks(abstract, hook_abstract), warn=warn)
        if any(v is not None for v in hook_abstract.values()):
            for hook in self.hooks:
                if hook_abstract[hook.name] is not None:
                    hook.restore(tree[hook.name])
            tree = tree["carry"]
        return start, tree, meta

    # ---- the loop --------------------------------------------------------------------
    def open_sinks(self, start: int, tensorboard: bool = False,
                   wandb_config: Optional[Record] = None) -> None:
        """``metrics.jsonl`` (cut back to ``start`` steps), and TensorBoard / W&B if asked;
        on process 0 only."""
        if self.out is None or not is_leader():
            return
        os.makedirs(self.out, exist_ok=True)
        sinks: List[Any] = [JsonlSink(os.path.join(self.out, METRICS_FILE),
                                      truncate_after_chunk=start - 1)]
        if tensorboard:
            sinks.append(TensorBoardSink(os.path.join(self.out, "tensorboard")))
        if wandb_config is not None:
            sinks.append(WandbSink(self.out, wandb_config))
        self.sinks = Sinks(sinks)

    def run(self, start: int, state: Any, step: Callable[[int, Any], Tuple[Any, Record]],
            meta: Callable[[int], Record], bar=None) -> Tuple[Any, int]:
        """Steps ``start .. count - 1`` (``step(index, state) -> (state, record)``), hooks
        after each, the record to the sinks, a checkpoint when due (``meta(index)``: its
        metadata), the bar advanced. Returns the state and the steps done."""
        done = start
        for hook in self.hooks:
            hook.begin(start)
        try:
            for index in range(start, self.count):
                state, record = step(index, state)
                last = index == self.count - 1
                for hook in self.hooks:
                    state = hook.after_step(index, state, record, last)
                self.sinks.write(record)
                done = index + 1
                if self.out is not None and (last or done % self.checkpoint_interval == 0):
                    hook_trees = {h.name: h.state() for h in self.hooks}
                    self._checkpoints(create=True).save(
                        done, self._with_hooks(state, hook_trees), meta(index))
                if bar is not None:
                    bar.advance(record)
                if self.stop_after is not None and done >= self.stop_after:
                    break
        finally:
            if bar is not None:
                bar.close()
            self.sinks.close()
            for hook in self.hooks:
                hook.end()
        return state, done

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
