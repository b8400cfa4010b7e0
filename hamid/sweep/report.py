"""Tables and plots of a sweep's results file (pandas; matplotlib with the Agg backend, both imported here).

:func:`results_frame` flattens the records into one row per job; :func:`summary_frame` averages over seeds;
:func:`benchmark_frame` counts solved tasks when the jobs were scored; :func:`build_report` writes them all.
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

from hamid.io import atomic_write

from .results import read_results

__all__ = ["results_frame", "summary_frame", "benchmark_frame", "to_markdown", "build_report"]

#: metrics averaged over seeds in the summary, in this order where present
SUMMARY_METRICS = ("solved", "field_exact_support", "field_max_rel_error", "exact_support", "max_rel_error",
                   "vector_field_mse", "rollout_mse", "max_energy_drift", "valid_time", "n_parameters",
                   "fit_time_s")
GROUP = ["system", "data", "noise", "model"]


def _latest(records):
    """One record per job key: the last one in the file (a retried job's new line wins)."""
    by_key = {}
    for r in records:
        by_key.pop(r["job"], None)
        by_key[r["job"]] = r
    return list(by_key.values())


def results_frame(path):
    """One row per job: its configuration's main fields, ``status``, ``ok`` and every scalar metric.

    Parameters
    ----------
    path : str or os.PathLike
        A results file written by :func:`hamid.sweep.run_sweep`.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    rows = []
    for r in _latest(read_results(path)):
        cfg = r.get("config", {})
        s, d, m = cfg.get("system", {}), cfg.get("data", {}), cfg.get("model", {})
        row = {
            "job": r["job"],
            "system": s.get("name") or Path(s.get("file", "?")).name,
            "data": d.get("name"), "noise": d.get("noise"), "n_traj": d.get("n_traj"), "n_time": d.get("n_time"),
            "derivatives": d.get("derivatives"), "seed": cfg.get("seed"),
            "dt_setting": d.get("dt"), "model": m.get("label"), "kind": m.get("kind"),
            "status": r.get("status"), "ok": r.get("status") == "ok", "time_s": r.get("time_s"),
        }
        constants = s.get("constants") or {}
        for k, v in sorted(constants.items()):
            row[f"constant.{k}"] = v
        for k, v in sorted((m.get("params") or {}).items()):
            row[f"param.{k}"] = v if isinstance(v, (bool, int, float, str)) or v is None else json.dumps(v)
        for k, v in (r.get("metrics") or {}).items():
            if isinstance(v, (bool, int, float)) or v is None:
                row[k] = v
            elif k in ("extra", "missing", "field_extra", "field_missing"):
                row[k] = ";".join(v)
            elif k == "hamiltonian":
                row[k] = v
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in ("exact_support", "field_exact_support", "solved"):
        if col in frame:
            frame[col] = frame[col].astype("float")
    return frame


def _group_columns(frame, base):
    """``base`` plus every other configuration column that varies among the jobs of one (system, data setting,
    model) — a parameter axis of one model, an n_time axis inside one data setting, a constants axis — so that
    only seeds are averaged. Settings that differ only between systems (a system's library or dt) are not
    split out."""
    candidates = [c for c in frame.columns
                  if (c in ("n_traj", "n_time", "dt_setting", "derivatives") or c.startswith(("param.", "constant.")))
                  and c not in base]
    cells = frame.groupby(["system", "data", "model"], sort=False, dropna=False)
    extra = [c for c in candidates if cells[c].agg(lambda v: v.astype(str).nunique()).max() > 1]
    return base[:-1] + extra + base[-1:]


def summary_frame(frame):
    """Means over seeds per (system, data, noise, [other varying settings], model), with the numbers of jobs
    and failures.

    Failed jobs count as not solved and not recovered (0) in the rates, and are left out of the error means.
    """
    import pandas as pd

    if frame.empty:
        return frame
    frame = frame.copy()
    for col in ("solved", "exact_support", "field_exact_support"):
        if col in frame:
            frame[col] = frame[col].where(frame["ok"], 0.0)
    metrics = [m for m in SUMMARY_METRICS if m in frame]
    group = _group_columns(frame, GROUP)
    for col in group:  # NaN keys (a parameter only some models have) would drop rows from groupby
        frame[col] = frame[col].astype(str).where(frame[col].notna(), "") if col not in ("noise",) else frame[col]
    grouped = frame.groupby(group, sort=True, dropna=False)
    out = grouped[metrics].mean(numeric_only=True) if metrics else pd.DataFrame(index=grouped.size().index)
    out.insert(0, "failed", grouped["ok"].apply(lambda s: int((~s).sum())))
    out.insert(0, "jobs", grouped.size())
    return out.reset_index()


def benchmark_frame(frame):
    """Solved tasks per (model, data setting) and noise level: ``"solved/total"`` strings, and totals.

    Only for scored sweeps (records with a ``solved`` metric); a failed job is an unsolved task.
    """
    import pandas as pd

    if frame.empty or "solved" not in frame:
        return None
    frame = frame.copy()
    frame["solved"] = frame["solved"].where(frame["ok"], 0.0).fillna(0.0)
    rows = [c for c in _group_columns(frame, ["model", "data", "noise"]) if c != "noise"]
    rows = ["model"] + [c for c in rows if c != "model"]
    for col in rows:
        frame[col] = frame[col].astype(str).where(frame[col].notna(), "")
    counts = frame.groupby(rows + ["noise"], sort=True)["solved"].agg(["sum", "count"])
    table = {}
    for key, row in counts.iterrows():
        table.setdefault(key[:-1], {})[f"{key[-1]:.0%}"] = f"{int(row['sum'])}/{int(row['count'])}"
    totals = frame.groupby(rows, sort=True)["solved"].agg(["sum", "count"])
    for key, row in totals.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        table[key]["all"] = f"{int(row['sum'])}/{int(row['count'])}"
    out = pd.DataFrame.from_dict(table, orient="index")
    out.index = pd.MultiIndex.from_tuples(list(out.index), names=rows)
    return out.reset_index()


def _cell(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1e4 or abs(value) < 1e-2:
            return f"{value:.2e}"
        return f"{value:.3g}"
    return str(value).replace("|", "\\|")


def to_markdown(frame) -> str:
    """A pipe table of a DataFrame (no dependency on tabulate)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _write_text(path, text):
    atomic_write(path, lambda fh: fh.write(text.encode()))


def _plots(summary, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    scored = "solved" in summary and summary["solved"].notna().any()
    panels = [(m, label) for m, label in (
        ("solved" if scored else "field_exact_support",
         "solved (fraction of seeds)" if scored else "exact support of the field (fraction of seeds)"),
        ("exact_support", "exact support of H (fraction of seeds)"),
        ("max_energy_drift", "max relative energy drift on the test rollouts"),
    ) if m in summary and summary[m].notna().any()]
    systems = sorted(summary["system"].unique())
    settings = sorted(summary["data"].unique())
    for metric, label in panels:
        fig, axes = plt.subplots(len(settings), len(systems), squeeze=False, sharex=True,
                                 figsize=(2.6 * len(systems) + 1, 2.2 * len(settings) + 0.8))
        log = metric == "max_energy_drift"
        for i, setting in enumerate(settings):
            for j, system in enumerate(systems):
                ax = axes[i][j]
                part = summary[(summary["system"] == system) & (summary["data"] == setting)]
                for model, group in part.groupby("model", sort=True):
                    group = group.sort_values("noise")
                    values = group[metric].astype(float)
                    if log:
                        values = values.where(values > 0)
                    ax.plot(group["noise"] * 100, values, marker="o", label=str(model))
                if log:
                    ax.set_yscale("log")
                else:
                    ax.set_ylim(-0.05, 1.05)
                if i == 0:
                    ax.set_title(system, fontsize=9)
                if j == 0:
                    ax.set_ylabel(setting, fontsize=9)
                if i == len(settings) - 1:
                    ax.set_xlabel("noise (%)", fontsize=8)
                ax.tick_params(labelsize=7)
        handles, labels = axes[0][0].get_legend_handles_labels()
        for row in axes:
            for ax in row:
                h, lab = ax.get_legend_handles_labels()
                if len(lab) > len(labels):
                    handles, labels = h, lab
        if labels:
            fig.legend(handles, labels, loc="upper right", fontsize=8)
        fig.suptitle(label, fontsize=10)
        fig.tight_layout(rect=(0, 0, 0.9, 0.95))
        path = Path(out_dir) / f"{metric}_vs_noise.png"
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        atomic_write(path, lambda fh, data=buf.getvalue(): fh.write(data))
        written.append(path)
    return written


def build_report(results_path, out_dir, plots=True) -> list:
    """Write the tables (and plots) of a results file into ``out_dir``.

    Writes ``results.csv`` (one row per job), ``summary.csv`` and ``summary.md`` (means over seeds),
    ``benchmark.md`` and ``benchmark.csv`` (solved counts, scored sweeps only) and, with ``plots``, one PNG per
    metric against noise (``solved_vs_noise.png``, ``max_energy_drift_vs_noise.png``, ...).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    ValueError
        When the results file holds no records.
    """
    results_path, out_dir = Path(results_path), Path(out_dir)
    if not results_path.is_file():
        raise FileNotFoundError(f"results file not found: {results_path}")
    frame = results_frame(results_path)
    if frame.empty:
        raise ValueError(f"{results_path} holds no result records")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    path = out_dir / "results.csv"
    _write_text(path, frame.to_csv(index=False))
    written.append(path)
    summary = summary_frame(frame)
    for name, text in (("summary.csv", summary.to_csv(index=False)), ("summary.md", to_markdown(summary))):
        _write_text(out_dir / name, text)
        written.append(out_dir / name)
    bench = benchmark_frame(frame)
    if bench is not None:
        for name, text in (("benchmark.csv", bench.to_csv(index=False)), ("benchmark.md", to_markdown(bench))):
            _write_text(out_dir / name, text)
            written.append(out_dir / name)
    if plots:
        written.extend(_plots(summary, out_dir))
    return written
