"""The live progress line."""
from __future__ import annotations

from typing import Any, Dict


class ProgressBar:
    """One compact line: env steps per member, steps/s (all members), mean and IQM
    training return across members, ETA (rich)."""

    def __init__(self, console, total: int, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.total = total
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(bar_width=12),
            TextColumn("{task.fields[steps]} steps/member"), TextColumn("{task.fields[sps]}"),
            TextColumn("return {task.fields[ret]}"), TextColumn("ETA"),
            TimeRemainingColumn(compact=True),
            console=console, transient=False, refresh_per_second=4)
        self.task = self.progress.add_task("train", total=total, steps=self._steps(0),
                                           sps="-", ret="-")
        self.progress.start()

    def _steps(self, done: int) -> str:
        return f"{done / 1e3:,.0f}k/{self.total / 1e3:,.0f}k"

    def advance(self, steps: int, record: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        fields = {}
        if "env_steps_per_second" in record:
            fields["sps"] = f"{record['env_steps_per_second'] / 1e3:,.0f}k/s"
        if "episode_return_mean" in record:
            fields["ret"] = (f"{record['episode_return_mean']:.1f} "
                             f"IQM {record['episode_return_iqm']:.1f}")
        self.progress.update(self.task, advance=steps, **fields)
        done = int(self.progress.tasks[0].completed)
        self.progress.update(self.task, steps=self._steps(done))

    def close(self):
        if self.enabled:
            self.progress.stop()
