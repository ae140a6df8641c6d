"""``jaxrl report DIR [DIR ...]``: Markdown and HTML reports with figures.

Reads what the commands write (a run's ``metrics.jsonl`` and ``summary.json``; a sweep's
or PBT run's ``results.parquet`` and ``summary.json``) and renders, as applicable:
learning curves (IQM with a 95% stratified-bootstrap band), sensitivity of the final
return to each swept hyperparameter (every seed shown), performance profiles, PBT
schedules with copy events, and the key tables. Several run directories are compared
(IQM with CIs, probability of improvement).
"""
from __future__ import annotations

import html
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from jaxrl import stats
from jaxrl.sweep.results import read_jsonl

Block = Tuple[Any, ...]  # ("h", text) | ("p", text) | ("table", headers, rows) | ("img", file, caption)


def _kind(path: str) -> str:
    for name, kind in (("sweep.json", "sweep"), ("pbt.json", "pbt"), ("config.json", "run")):
        if os.path.exists(os.path.join(path, name)):
            return kind
    from jaxrl.config import ConfigError

    raise ConfigError(f"{path} is not a run, sweep or PBT directory (no config.json, "
                      f"sweep.json or pbt.json)")


def _load_json(path: str) -> Optional[Dict[str, Any]]:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


STEPS = "_progress_unit"  # a column of one value: what ``env_steps`` counts, where not env steps


def _columns(path: str) -> Dict[str, np.ndarray]:
    """A results table's columns. Offline learners take no env step: their progress is
    read in gradient steps (``STEPS`` names the unit of ``env_steps``)."""
    import pyarrow.parquet as pq

    cols = {k: np.asarray(v) for k, v in pq.read_table(path).to_pydict().items()}
    steps, grads = cols.get("env_steps"), cols.get("gradient_steps")
    if steps is not None and grads is not None and steps.size and not steps.any():
        cols["env_steps"] = grads
        cols[STEPS] = np.asarray("gradient steps per member")
    return cols


def _steps_label(cols) -> str:
    return str(cols[STEPS]) if STEPS in cols else "env steps per member"


def _population_files(path: str, spec_file: str):
    """A sweep's or PBT run's summary (None until finished), spec and results table."""
    return (_load_json(os.path.join(path, "summary.json")),
            _load_json(os.path.join(path, spec_file)),
            _columns(os.path.join(path, "results.parquet")))


def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _ci(point, ci) -> str:
    if point is None or ci is None or ci[0] is None:
        return "n/a"
    return f"{point:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]"


# ---- curves from the runner's metrics.jsonl ------------------------------------------
def run_curve(run_dir: str) -> Tuple[np.ndarray, np.ndarray]:
    """(env_steps (P,), eval returns (members, P)) of every evaluation of a run (an
    offline run's gradient steps: it takes no env step)."""
    recs = [r for r in read_jsonl(os.path.join(run_dir, "metrics.jsonl")) if "eval_return" in r]
    steps = np.asarray([r["env_steps"] for r in recs], np.int64)
    if steps.size and not steps.any():
        steps = np.asarray([r.get("gradient_steps", 0) for r in recs], np.int64)
    values = np.asarray([[np.nan if v is None else v for v in r["eval_return"]] for r in recs],
                        np.float64).T
    return steps, values


def _band(ax, steps, values, label, color=None):
    """IQM over members with its 95% CI, at every evaluation (values: (members, P));
    members with a missing evaluation (a diverged member's NaN) are left out."""
    values = values[np.all(np.isfinite(values), axis=1)]
    if values.shape[0] == 0:
        return
    points, cis = stats.sample_efficiency_curve(values[:, None, :], num_resamples=500)
    line, = ax.plot(steps, points, label=label, color=color,
                    marker="o" if len(steps) == 1 else None)
    ax.fill_between(steps, cis[0], cis[1], alpha=0.25, color=line.get_color())


def _figure(ncols: int = 1, width: float = 5.5, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return plt, fig, list(axes[0])


def _save(plt, fig, out: str, name: str) -> str:
    os.makedirs(os.path.join(out, "figures"), exist_ok=True)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "figures", name), dpi=110)
    plt.close(fig)
    return f"figures/{name}"


def _profile(ax, finals: Dict[str, np.ndarray]):
    values = np.concatenate([v[np.isfinite(v)] for v in finals.values()] or [np.zeros(1)])
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    taus = np.linspace(lo, hi if hi > lo else lo + 1.0, 101)
    for label, x in finals.items():
        x = x[np.isfinite(x)]
        if x.size == 0:
            continue
        fractions, cis = stats.performance_profile(x[:, None], taus, num_resamples=500)
        line, = ax.plot(taus, fractions, label=label)
        ax.fill_between(taus, cis[0], cis[1], alpha=0.2, color=line.get_color())
    ax.set_xlabel("final evaluation return (tau)")
    ax.set_ylabel("fraction of runs with return > tau")
    ax.set_title("performance profile")
    ax.legend(fontsize=8)


# ---- one section per directory kind ----------------------------------------------------
def run_section(path: str, out: str, label: str) -> List[Block]:
    summary = _load_json(os.path.join(path, "summary.json")) or {}
    steps, values = run_curve(path)
    blocks: List[Block] = [("h", f"Run {label}")]
    if summary:
        blocks.append(("table", ["metric", "value"], [
            ["env", summary.get("env")], ["members", summary.get("members")],
            ["env steps per member", f"{summary.get('total_timesteps', 0):,}"],
            ["final eval return IQM [95% CI]", _ci(summary.get("final_eval_return_iqm"),
                                                   summary.get("final_eval_return_ci95"))],
            ["final eval return mean", _fmt(summary.get("final_eval_return_mean"))],
            ["fraction solved", _fmt(summary.get("fraction_solved"))],
            ["diverged members", len(summary.get("diverged_members", []))],
            ["env steps/s", f"{summary.get('env_steps_per_second', 0):,.0f}"]]))
    if steps.size:
        plt, fig, (ax,) = _figure()
        _band(ax, steps, values, label)
        ax.set_xlabel("env steps per member")
        ax.set_ylabel("evaluation return (IQM, 95% CI)")
        ax.set_title(f"learning curve: {label}")
        blocks.append(("img", _save(plt, fig, out, f"curve_{_slug(label)}.png"),
                       "Learning curve: IQM over members with a 95% bootstrap band"))
    if summary.get("within_trial_return"):
        blocks.extend(within_trial_blocks(summary["within_trial_return"], out, label))
    return blocks


def within_trial_blocks(per_member, out: str, label: str) -> List[Block]:
    """In-context trials (RL²): the final evaluation's return per episode index of a
    trial, IQM over members with 95% CIs; a curve that rises is learning in context."""
    values = np.asarray([[np.nan if v is None else v for v in member] for member in per_member],
                        np.float64)  # (members, trial episodes)
    values = values[np.all(np.isfinite(values), axis=1)]
    if values.shape[0] == 0:
        return []
    points, cis = stats.sample_efficiency_curve(values[:, None, :], num_resamples=500)
    episodes = np.arange(1, values.shape[1] + 1)
    plt, fig, (ax,) = _figure()
    line, = ax.plot(episodes, points, marker="o", label=label)
    ax.fill_between(episodes, cis[0], cis[1], alpha=0.25, color=line.get_color())
    ax.set_xlabel("episode of the trial")
    ax.set_ylabel("return (IQM over members, 95% CI)")
    ax.set_title(f"within-trial curve: {label}")
    rows = [[int(e), _ci(float(p), (float(lo), float(hi)))]
            for e, p, lo, hi in zip(episodes, points, cis[0], cis[1])]
    return [("table", ["episode of the trial", "return IQM [95% CI]"], rows),
            ("img", _save(plt, fig, out, f"within_trial_{_slug(label)}.png"),
             "Within-trial curve: return per episode index of an in-context trial")]


def sweep_section(path: str, out: str, label: str) -> List[Block]:
    summary, plan, cols = _population_files(path, "sweep.json")
    params = list(plan["spec"]["space"])
    blocks: List[Block] = [("h", f"Sweep {label}")]
    if summary:
        blocks.append(("p", f"{summary['algorithm']} on {summary['env']}: {summary['configs']} "
                            f"configurations; tuning seeds {_span(summary['tuning_seeds'])}, "
                            f"test seeds {_span(summary['test_seeds'])} (disjoint). Test "
                            f"scores come from fresh training runs of the chosen "
                            f"configurations, not from the runs they were chosen on."))
        rows = []
        for r in summary["ranking"][:10]:
            rows.append([r["config"], *[_fmt(r.get(p)) for p in params],
                         _ci(r.get("tune_iqm"), r.get("tune_ci95")),
                         _ci(r.get("test_iqm"), r.get("test_ci95")) if "test_iqm" in r else "-"])
        blocks.append(("table", ["config", *params, "tuning IQM [95% CI]",
                                 "test IQM [95% CI]"], rows))
    if not cols:
        return blocks
    tune = cols["phase"] == "tune"
    last = tune & (cols["env_steps"] == cols["env_steps"][tune].max())
    # Sensitivity: final return against every varying parameter, every seed shown.
    varying = [p for p in params if "value" not in plan["spec"]["space"][p]]
    if varying:
        plt, fig, axes = _figure(len(varying), width=4.2)
        for ax, p in zip(axes, varying):
            x, y, cfg = cols[p][last], cols["eval_return"][last], cols["config"][last]
            numeric = np.issubdtype(np.asarray(x).dtype, np.number)
            xs = x.astype(float) if numeric else np.unique(x, return_inverse=True)[1]
            ax.scatter(xs, y, s=8, alpha=0.4, label="one seed")
            per = {c: (xs[cfg == c][0], stats.iqm(y[cfg == c])) for c in np.unique(cfg)}
            ax.scatter([v[0] for v in per.values()], [v[1] for v in per.values()], s=22,
                       marker="D", color="black", label="config IQM")
            spec = plan["spec"]["space"][p]
            if spec.get("distribution") == "log_uniform_values":
                ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(range(len(np.unique(x))), [str(v) for v in np.unique(x)])
            ax.set_xlabel(p)
            ax.set_ylabel("final evaluation return")
        axes[0].legend(fontsize=8)
        blocks.append(("img", _save(plt, fig, out, f"sensitivity_{_slug(label)}.png"),
                       "Sensitivity: final return (tuning seeds) against each parameter"))
    # Learning curves: every configuration (thin) and the best on tuning and test seeds.
    plt, fig, axes = _figure(2)
    ax = axes[0]
    for c in np.unique(cols["config"][tune]):
        sel = tune & (cols["config"] == c)
        steps = np.unique(cols["env_steps"][sel])
        ax.plot(steps, [stats.iqm(cols["eval_return"][sel & (cols["env_steps"] == s)])
                        for s in steps], color="grey", alpha=0.3, lw=0.8)
    if summary and summary["best"]:
        best = summary["best"][0]["config"]
        for phase, color in (("tune", "C0"), ("test", "C3")):
            sel = (cols["phase"] == phase) & (cols["config"] == best)
            if sel.any():
                steps, values = _matrix(cols, sel)
                _band(ax, steps, values, f"best config {best} ({phase} seeds)", color)
        ax.legend(fontsize=8)
    ax.set_ylabel("evaluation return (IQM)")
    ax.set_title("learning curves")
    finals = {"all configurations (tuning seeds)": cols["eval_return"][last]}
    if summary and summary["best"]:
        test_last = (cols["phase"] == "test")
        if test_last.any():
            test_last &= cols["env_steps"] == cols["env_steps"][test_last].max()
            finals["best configuration (test seeds)"] = cols["eval_return"][test_last]
    _profile(axes[1], finals)
    blocks.append(("img", _save(plt, fig, out, f"curves_{_slug(label)}.png"),
                   "Learning curves (grey: each configuration's IQM over seeds; bands: 95% "
                   "bootstrap CIs) and performance profiles"))
    return blocks


def pbt_section(path: str, out: str, label: str) -> List[Block]:
    summary, spec, cols = _population_files(path, "pbt.json")
    varying = [p for p in spec["space"] if "value" not in spec["space"][p]]
    blocks: List[Block] = [("h", f"PBT {label}")]
    if summary:
        rows = [["members", summary["members"]], ["generations", summary["generations"]],
                ["final eval return IQM [95% CI]", _ci(summary["final_eval_return_iqm"],
                                                       summary["final_eval_return_ci95"])],
                ["final eval return median", _fmt(summary["final_eval_return_median"])],
                ["best member", summary["best_member"]]]
        for p in varying:
            rows.append([f"best member's {p}", " -> ".join(
                _fmt(r[p]) for r in summary["best_schedule"])])
        blocks.append(("table", ["metric", "value"], rows))
    if not cols:
        return blocks
    members = np.unique(cols["member"])
    plt, fig, axes = _figure(len(varying) + 1, width=4.5)
    for ax, p in zip(axes, varying + ["eval_return"]):
        for m in members:
            sel = cols["member"] == m
            order = np.argsort(cols["generation"][sel])
            x, y = cols["env_steps"][sel][order], cols[p][sel][order].astype(float)
            ax.step(x, y, where="pre", lw=0.9, alpha=0.8)
            copied = cols["parent"][sel][order] != m
            ax.scatter(x[copied], y[copied], marker="x", s=14, color="black")
        if spec["space"].get(p, {}).get("distribution") == "log_uniform_values":
            ax.set_yscale("log")
        ax.set_xlabel(_steps_label(cols))
        ax.set_ylabel(p)
    axes[0].set_title("schedules (x: replaced by a copy after this evaluation)")
    blocks.append(("img", _save(plt, fig, out, f"pbt_{_slug(label)}.png"),
                   "PBT: each member's hyperparameters and evaluation return over training"))
    return blocks


def compare_section(paths: Sequence[str], labels: Sequence[str], out: str) -> List[Block]:
    """Several runs: IQM with CIs, probability of improvement, profiles and curves."""
    finals = {}
    for path, label in zip(paths, labels):
        summary = _load_json(os.path.join(path, "summary.json")) or {}
        finals[label] = np.asarray([np.nan if v is None else v
                                    for v in summary.get("final_eval_return", [])], np.float64)
    blocks: List[Block] = [("h", "Comparison")]
    rows = []
    for label, x in finals.items():
        lo, hi = stats.stratified_bootstrap_ci(x)
        rows.append([label, x.size, _ci(stats.iqm(x), (lo, hi)), _fmt(float(np.nanmean(x)))])
    blocks.append(("table", ["run", "members", "final IQM [95% CI]", "mean"], rows))
    names = list(finals)
    prob_rows = []
    for a in names:
        row = [a]
        for b in names:
            if a == b:
                row.append("-")
                continue
            x, y = finals[a][np.isfinite(finals[a])], finals[b][np.isfinite(finals[b])]
            point, (lo, hi) = stats.probability_of_improvement_ci(x[:, None], y[:, None],
                                                                  num_resamples=500)
            row.append(f"{point:.2f} [{lo:.2f}, {hi:.2f}]")
        prob_rows.append(row)
    blocks.append(("p", "Probability that a run of the row beats a run of the column "
                        "(final evaluation return), with a 95% bootstrap CI:"))
    blocks.append(("table", ["P(row > column)", *names], prob_rows))
    plt, fig, axes = _figure(2)
    for path, label in zip(paths, labels):
        steps, values = run_curve(path)
        if steps.size:
            _band(axes[0], steps, values, label)
    axes[0].set_xlabel("env steps per member")
    axes[0].set_ylabel("evaluation return (IQM)")
    axes[0].legend(fontsize=8)
    _profile(axes[1], finals)
    blocks.append(("img", _save(plt, fig, out, "comparison.png"),
                   "Learning curves and performance profiles"))
    return blocks


def _matrix(cols, sel) -> Tuple[np.ndarray, np.ndarray]:
    steps = np.unique(cols["env_steps"][sel])
    seeds = np.unique(cols["seed"][sel])
    values = np.full((seeds.size, steps.size), np.nan)
    for i, s in enumerate(seeds):
        for j, t in enumerate(steps):
            hit = sel & (cols["seed"] == s) & (cols["env_steps"] == t)
            if hit.any():
                values[i, j] = cols["eval_return"][hit][0]
    return steps, values


def _span(seeds: List[int]) -> str:
    return f"{seeds[0]}..{seeds[-1]}" if seeds else "none"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)[:60]


# ---- rendering -------------------------------------------------------------------------
def render_markdown(title: str, blocks: List[Block]) -> str:
    lines = [f"# {title}", ""]
    for block in blocks:
        if block[0] == "h":
            lines += [f"## {block[1]}", ""]
        elif block[0] == "p":
            lines += [block[1], ""]
        elif block[0] == "table":
            headers, rows = block[1], block[2]
            lines.append("| " + " | ".join(map(str, headers)) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif block[0] == "img":
            lines += [f"![{block[2]}]({block[1]})", "", f"*{block[2]}*", ""]
    return "\n".join(lines)


def render_html(title: str, blocks: List[Block]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}img{max-width:100%}</style></head><body>",
             f"<h1>{e(title)}</h1>"]
    for block in blocks:
        if block[0] == "h":
            parts.append(f"<h2>{e(block[1])}</h2>")
        elif block[0] == "p":
            parts.append(f"<p>{e(block[1])}</p>")
        elif block[0] == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(f"<td>{e(_fmt(c))}</td>" for c in row) + "</tr>"
                           for row in block[2])
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        elif block[0] == "img":
            parts.append(f"<figure><img src='{e(block[1])}'><figcaption>{e(block[2])}"
                         f"</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def print_tables(blocks: List[Block], console) -> None:
    from rich.table import Table

    heading = ""
    for block in blocks:
        if block[0] == "h":
            heading = block[1]
        elif block[0] == "table":
            table = Table(title=heading)
            for h in block[1]:
                table.add_column(str(h))
            for row in block[2]:
                table.add_row(*[_fmt(c) for c in row])
            console.print(table)


def write_report(dirs: Sequence[str], out: Optional[str] = None, console=None) -> str:
    """Writes ``report.md``, ``report.html`` and ``figures/``; returns the Markdown path."""
    dirs = [d.rstrip("/") for d in dirs]
    kinds = [_kind(d) for d in dirs]
    out = out or os.path.join(dirs[0], "report")
    os.makedirs(out, exist_ok=True)
    labels = [os.path.basename(os.path.abspath(d)) for d in dirs]
    blocks: List[Block] = []
    if len(dirs) > 1 and all(k == "run" for k in kinds):
        blocks += compare_section(dirs, labels, out)
    for d, kind, label in zip(dirs, kinds, labels):
        section = {"run": run_section, "sweep": sweep_section, "pbt": pbt_section}[kind]
        blocks += section(d, out, label)
    title = "jaxrl report: " + ", ".join(labels)
    md = os.path.join(out, "report.md")
    with open(md, "w") as f:
        f.write(render_markdown(title, blocks))
    with open(os.path.join(out, "report.html"), "w") as f:
        f.write(render_html(title, blocks))
    if console is not None:
        print_tables(blocks, console)
    return md
