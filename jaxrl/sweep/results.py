"""The results table: one row per member per evaluation, written as Parquet.

Columns are plain (strings, ints, floats, bools), so ``pandas.read_parquet`` and
``pyarrow.parquet.read_table`` read it as is. Rows come from the runs' own
``metrics.jsonl`` (which a resumed run truncates to its checkpoint), so a sweep or PBT
run killed and resumed writes the same table as one that was never interrupted.
Wall-clock columns are deliberately absent for the same reason.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Sequence


def cell(value: Any) -> Any:
    """A tuple/list value (e.g. ``hidden=(64, 64)``) as the text a flag would take."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return value


def tuning_score(returns) -> float:
    """A configuration's score: the IQM of its final returns over seeds (``-inf`` when
    none is finite), what the sweep ranks by and what Optuna is told."""
    import math

    from jaxrl import stats

    value = stats.iqm(returns)
    return -math.inf if not math.isfinite(value) else value


def read_jsonl(path: str) -> List[Dict[str, Any]]:
    records = []
    if not os.path.exists(path):
        return records
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
    return records


def evaluation_rows(run_dir: str, members: Sequence[Dict[str, Any]]) -> Iterable[Dict[str, Any]]:
    """Rows for every evaluation in ``run_dir/metrics.jsonl``; ``members[i]`` holds the
    columns that describe member ``i`` (configuration values, seed, ...)."""
    for rec in read_jsonl(os.path.join(run_dir, "metrics.jsonl")):
        if "eval_return" not in rec:
            continue
        alive = rec.get("alive") or [True] * len(members)
        for i, described in enumerate(members):
            value = rec["eval_return"][i]
            yield {**described, "env_steps": int(rec["env_steps"]), "updates": int(rec["updates"]),
                   "gradient_steps": int(rec.get("gradient_steps", 0)),
                   "eval_return": float("nan") if value is None else float(value),
                   "alive": bool(alive[i])}


def write_table(rows: List[Dict[str, Any]], path: str) -> None:
    """Atomically (a kill mid-write leaves the previous table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names: List[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    columns = {n: [cell(row.get(n)) for row in rows] for n in names}
    table = pa.table(columns) if rows else pa.table({})
    tmp = path + ".tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_table(path: str):
    """The table as a pandas DataFrame (pandas is optional; pyarrow reads it too)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()
