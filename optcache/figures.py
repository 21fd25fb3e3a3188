"""Figures of a study table: cost breakdown against each swept knob (the paper's Fig. 3) and gaps.

Reads only the table (`optcache.study.COLUMNS`), so figures can be redrawn from a Parquet file
without rerunning anything.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from optcache.evaluator import TERMS  # noqa: E402
from optcache.study import KNOBS  # noqa: E402

_HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--", "**", "||")


def swept_knobs(df: pd.DataFrame) -> list[str]:
    """Knobs that take more than one value in the table, in ScenarioConfig order."""
    return [k for k in KNOBS if k in df and df[k].nunique() > 1]


def knob_slice(df: pd.DataFrame, knob: str) -> pd.DataFrame:
    """Rows where every other swept knob sits at its most frequent value (ties: the smallest).

    For one-knob-at-a-time sweeps around a default point, that is the sweep of `knob`.
    """
    keep = pd.Series(True, index=df.index)
    for other in swept_knobs(df):
        if other != knob:
            counts = df[other].value_counts()
            ref = min(counts.index[counts == counts.max()])
            keep &= df[other] == ref
    return df[keep]


def _save(fig: plt.Figure, path: Path) -> Path:
    """savefig to a temporary file beside `path`, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path


def cost_breakdown(df: pd.DataFrame, knob: str | None, path: Path) -> Path:
    """Grouped stacked bars: one group per knob value, one bar per method, one colour per term."""
    labels = sorted(df["label"].unique())
    xs = sorted(df[knob].unique()) if knob else [None]
    mean = (df.groupby([knob, "label"] if knob else ["label"])[list(TERMS)].mean())
    colors = plt.get_cmap("tab10").colors
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(xs) * max(1, len(labels)) ** 0.5), 4))
    for j, lab in enumerate(labels):
        pos = np.arange(len(xs)) - 0.4 + width * (j + 0.5)
        bottom = np.zeros(len(xs))
        for t, term in enumerate(TERMS):
            vals = np.array([mean[term].get((x, lab) if knob else lab, np.nan) for x in xs])
            ax.bar(pos, np.nan_to_num(vals), width, bottom=bottom, color=colors[t],
                   hatch=_HATCHES[j % len(_HATCHES)], edgecolor="black", linewidth=0.4)
            bottom += np.nan_to_num(vals)
    ax.set_xticks(np.arange(len(xs)), [str(x) for x in xs] if knob else [""])
    ax.set_xlabel(knob or "")
    ax.set_ylabel("average cost per slot (Σ stations)")
    n_seeds = df.groupby([knob, "label"] if knob else ["label"]).size().max()
    ax.set_title(f"Cost breakdown by method{f' vs {knob}' if knob else ''} (mean of ≤{n_seeds} seeds)")
    handles = [Patch(facecolor=colors[t], label=term) for t, term in enumerate(TERMS)]
    handles += [Patch(facecolor="white", edgecolor="black", hatch=_HATCHES[j % len(_HATCHES)], label=lab)
                for j, lab in enumerate(labels)]
    ax.legend(handles=handles, fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, path)


def gap_plot(df: pd.DataFrame, path: Path) -> Path:
    """Box plot (with the points) of gap_to_best_bound per method over the instances."""
    labels = sorted(df["label"].unique())
    data = [df.loc[df["label"] == lab, "gap_to_best_bound"].to_numpy() for lab in labels]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(labels)), 4))
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(np.arange(1, len(labels) + 1), labels, rotation=30, ha="right")
    for j, d in enumerate(data):
        ax.plot(np.full(len(d), j + 1.0), d, "o", ms=3, alpha=0.6, color="black")
    ax.set_ylabel("(cost − best certified bound) / cost")
    ax.set_title(f"Gap to the best bound ({df['instance'].nunique()} instances)")
    ax.axhline(0.0, color="grey", lw=0.6)
    return _save(fig, path)


def figures(results: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
    """Write the study's PNGs to `out_dir` and return their paths.

    cost_vs_<knob>.png for every swept knob (cost_by_method.png if none), from rows with status
    ok; gap_to_best_bound.png if some exact method gave a bound.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ok = results[results["status"] == "ok"]
    paths: list[Path] = []
    if ok.empty:
        return paths
    knobs = [k for k in swept_knobs(ok) if knob_slice(ok, k)[k].nunique() > 1]
    for k in knobs:
        paths.append(cost_breakdown(knob_slice(ok, k), k, out / f"cost_vs_{k}.png"))
    if not knobs:
        paths.append(cost_breakdown(ok, None, out / "cost_by_method.png"))
    gaps = ok[np.isfinite(ok["gap_to_best_bound"].astype(float))]
    if not gaps.empty:
        paths.append(gap_plot(gaps, out / "gap_to_best_bound.png"))
    return paths
