"""The live progress lines: training (env steps) and meta-learning (generations)."""
from __future__ import annotations

from typing import Any, Dict


class ProgressBar:
    """One compact line: env steps per member, steps/s (all members), mean and IQM
    training return across members, ETA (rich). Advanced by the driver with each chunk's
    record (its ``env_steps``: per member, so far). An offline run (no env steps) counts
    gradient steps instead (``unit="gradient"``)."""

    def __init__(self, console, total: int, done: int = 0, enabled: bool = True,
                 unit: str = "env"):
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.total, self.unit = total, unit
        label = "steps/member" if unit == "env" else "gradient steps/member"
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(bar_width=12),
            TextColumn("{task.fields[steps]} " + label), TextColumn("{task.fields[sps]}"),
            TextColumn("return {task.fields[ret]}"), TextColumn("ETA"),
            TimeRemainingColumn(compact=True),
            console=console, transient=False, refresh_per_second=4)
        self.task = self.progress.add_task("train", total=total, completed=done,
                                           steps=self._steps(done), sps="-", ret="-")
        self.progress.start()

    def _steps(self, done: int) -> str:
        return f"{done / 1e3:,.0f}k/{self.total / 1e3:,.0f}k"

    def advance(self, record: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        import math

        fields = {}
        rate = f"{self.unit}_steps_per_second"
        if rate in record:
            fields["sps"] = f"{record[rate] / 1e3:,.1f}k/s"
        if math.isfinite(record.get("episode_return_mean", math.nan)):
            fields["ret"] = (f"{record['episode_return_mean']:.1f} "
                             f"IQM {record['episode_return_iqm']:.1f}")
        elif "eval_return_iqm" in record:
            fields["ret"] = f"eval IQM {record['eval_return_iqm']:.1f}"
        done = int(record[f"{self.unit}_steps"])
        self.progress.update(self.task, completed=done, steps=self._steps(done), **fields)

    def close(self):
        if self.enabled:
            self.progress.stop()


class GenerationBar:
    """Generations done, with the last generation's fitness statistics (``meta_train``)."""

    def __init__(self, console, total: int, done: int, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(TextColumn("[bold]meta"), BarColumn(bar_width=12),
                                 MofNCompleteColumn(), TextColumn("generations"),
                                 TextColumn("{task.fields[fit]}"), TextColumn("ETA"),
                                 TimeRemainingColumn(compact=True), console=console,
                                 refresh_per_second=4)
        self.task = self.progress.add_task("meta", total=total, completed=done, fit="")
        self.progress.start()

    def advance(self, record: Dict[str, Any]) -> None:
        if self.enabled:
            self.progress.update(self.task, advance=1, fit=(
                f"fitness mean {record['fitness_mean']:.3g} max {record['fitness_max']:.3g} "
                f"min {record['fitness_min']:.3g}"))

    def close(self) -> None:
        if self.enabled:
            self.progress.stop()
