"""Where chunk records go: metrics.jsonl (always), TensorBoard and W&B (optional).

Every sink receives the same per-chunk record (a flat-ish dict); JSON lines keep
per-member lists too, the scalar sinks take the scalar fields.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Optional


def _jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return _jsonable(x.tolist())
    return x


class JsonlSink:
    def __init__(self, path: str, truncate_after_chunk: Optional[int] = None):
        self.path = path
        if truncate_after_chunk is not None and os.path.exists(path):
            # Resuming: drop records newer than the restored checkpoint so the file reads
            # as one uninterrupted run.
            kept = []
            with open(path) as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short by the kill
                    if rec.get("chunk", -1) <= truncate_after_chunk:
                        kept.append(line if line.endswith("\n") else line + "\n")
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                f.writelines(kept)
            os.replace(tmp, path)  # a kill mid-rewrite leaves the old file intact
        self.file = open(path, "a")

    def write(self, record: Dict[str, Any]) -> None:
        self.file.write(json.dumps(_jsonable(record)) + "\n")
        self.file.flush()

    def close(self):
        self.file.close()


def _scalars(record: Dict[str, Any]):
    for key, value in record.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            yield key, float(value)


class TensorBoardSink:
    def __init__(self, logdir: str):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir)

    def write(self, record):
        step = int(record.get("env_steps", 0))
        for key, value in _scalars(record):
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self):
        self.writer.close()


class WandbSink:
    def __init__(self, run_dir: str, config: Dict[str, Any], project: str = "jaxrl",
                 mode: Optional[str] = None):
        try:
            import wandb
        except ImportError as exc:
            raise ImportError("W&B logging needs the extra: pip install 'jaxrl[wandb]'") from exc
        self.run = wandb.init(project=project, dir=run_dir, config=config,
                              mode=mode or os.environ.get("WANDB_MODE", "online"),
                              name=os.path.basename(os.path.abspath(run_dir)))

    def write(self, record):
        self.run.log(dict(_scalars(record)), step=int(record.get("env_steps", 0)))

    def close(self):
        self.run.finish()


class Sinks:
    def __init__(self, sinks: List[Any]):
        self.sinks = sinks

    def write(self, record):
        for sink in self.sinks:
            sink.write(record)

    def close(self):
        for sink in self.sinks:
            sink.close()
