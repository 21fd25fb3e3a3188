"""Figures of a study table (the paper's Fig. 3 and gaps to the certified optimum): the plotting API.

Every figure function takes a tidy table (`optcache.study.COLUMNS`; a study's rows, or any
frame with those columns) and an optional matplotlib axes (or array of axes for faceted figures),
draws into it, and returns the figure; without axes it makes a new figure with pyplot. Axes
carry units; gaps are in percent. `figures(table, out_dir)` writes them all, each with the
table it plots (`NAME.csv`) and a manifest `figures.json` that carries the provenance.

- `cost_vs_knob(df, knob, ax)`: mean total cost per method against a swept knob (one line per
  method label; line style by method family, error bars over seeds);
- `terms_vs_knob(df, knob, axes)`: the cost broken into its five terms, one facet per method;
- `cost_by_method(df, ax)`: the five terms per method, without a knob (one scenario point);
- `gap_by_method(df, ax)`: each method's gap to the best certified bound, in percent;
- `claim_heatmap(table, x, y, value, level, ax)`: a claimed quantity over two assumptions with the
  paper's claimed value as a contour (docs/claims.md; tables of `optcache.claims`).

Redrawing reads only the table, so figures never rerun anything.
"""

from __future__ import annotations

import json
import numbers
import os
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from optcache.errors import InvalidInput, finite
from optcache.evaluator import TERMS
from optcache.instance import atomic_path, make_folder, require_path
from optcache.provenance import FIGURES_SCHEMA, provenance
from optcache.study import KNOBS, check_costs, require_table, typed_column

COST_UNIT = "cost units"
"""The paper's (abstract) unit of every cost term; λ, l_0 and l_{n,i} are in it."""

COST_LABEL = f"average cost per slot, Σ stations [{COST_UNIT}]"
"""The y label of every cost axis: the objective (27), slot average summed over stations."""

KNOB_LABELS: dict[str, str] = {
    "slots": "time slots T [slots]",
    "services": "services [services]",
    "gpus": "GPUs per station [GPUs]",
    "users": "users per station [users]",
    "stations": "ground stations N [stations]",
    "vanishing": "vanishing factor Δ [tokens per slot]",
    "models": "reasoning models [models]",
    "switching_cost": f"switching cost λ [{COST_UNIT} per load]",
    "slot_seconds": "slot length [s]",
    "access": "access cost model",
    "route": "route to the cloud",
    "backhaul_mb_per_s": "backhaul rate r^C [MB/s]",
    "beta_min": "lower end of β [—]",
    "beta_max": "upper end of β [—]",
    "noise_dbm_per_hz": "noise density N_0 [dBm/Hz]",
    "path_loss_exponent": "ground path-loss exponent [—]",
    "cloud_match": "satellite's match m_0 [units of (κ + κ_0) ln(1/β)]",
    "coverage_share": "share of rounds in coverage [—]",
    "coverage": "share of slots in the satellite's pass [—]",
}
"""Axis label, with unit, of each scenario knob (`optcache.study.KNOBS`)."""

FAMILIES: dict[str, tuple[str, ...]] = {
    "exact": ("milp", "lagrange"),
    "look-ahead": ("rolling", "slot"),
    "replacement policies": ("laot", "fifo", "lru", "lfu"),
    "references": ("static", "all-cloud"),
}
"""Method families: one line style each in the method comparison."""

_STYLE = {"exact": ("-", 2.4), "look-ahead": ("-.", 1.6), "replacement policies": ("-", 1.4),
          "references": ("--", 1.4)}
TERM_COLORS = dict(zip(TERMS, ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"), strict=True))
"""One colour per cost term, the same in every figure."""

FORMATS = ("png", "pdf", "svg")

DPI_RANGE = (10, 2400)
"""Resolutions `save` and `figures` take: 2400 dpi is print quality; far more exhausts memory."""


def check_image(fmt: Any, dpi: Any, fields: tuple[str, str] = ("fmt", "dpi")) -> tuple[str, int]:
    """`fmt` one of FORMATS and `dpi` an integer in DPI_RANGE, else InvalidInput naming the
    argument (`fields`: the names the caller gives them)."""
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise InvalidInput(fields[0], f"must be one of {', '.join(FORMATS)}, got {fmt!r}"[:160])
    lo, hi = DPI_RANGE
    if isinstance(dpi, bool) or not isinstance(dpi, numbers.Integral) or not lo <= dpi <= hi:
        raise InvalidInput(fields[1], f"must be an integer in [{lo}, {hi}], got {dpi!r}"[:160])
    return fmt, int(dpi)


def family(method: str) -> str:
    """The family of a registered method name (`FAMILIES`; 'other' if none)."""
    return next((f for f, ms in FAMILIES.items() if method in ms), "other")


def swept_knobs(df: pd.DataFrame) -> list[str]:
    """Knobs that take more than one value in the table, in ScenarioConfig order."""
    return [k for k in KNOBS if k in df and df[k].nunique() > 1]


def slice_values(df: pd.DataFrame, knob: str) -> dict:
    """The value at which `knob_slice` holds each other swept knob: its most frequent (ties: the
    smallest)."""
    out = {}
    for other in swept_knobs(df):
        if other != knob:
            counts = df[other].value_counts()
            ref = min(counts.index[counts == counts.max()])
            out[other] = ref.item() if isinstance(ref, np.generic) else ref
    return out


def knob_slice(df: pd.DataFrame, knob: str) -> pd.DataFrame:
    """Rows where every other swept knob sits at its most frequent value (ties: the smallest),
    `slice_values`. For one-knob-at-a-time sweeps around a default point, that is the sweep of
    `knob`; on a product grid it is one slice, which `figures` names."""
    keep = pd.Series(True, index=df.index)
    for other, ref in slice_values(df, knob).items():
        keep &= df[other] == ref
    return df[keep]


def _labels(df: pd.DataFrame) -> list[str]:
    """Method labels ordered by family, then by name."""
    fam = list(FAMILIES) + ["other"]
    pairs = df[["label", "method"]].drop_duplicates() if "method" in df else \
        pd.DataFrame({"label": df["label"].unique(), "method": df["label"].unique()})
    pairs = pairs.assign(f=[fam.index(family(m)) for m in pairs["method"]])
    return list(pairs.sort_values(["f", "label"])["label"])


def _method_of(df: pd.DataFrame) -> dict[str, str]:
    if "method" not in df:
        return {lab: lab for lab in df["label"].unique()}
    return dict(zip(df["label"], df["method"], strict=True))


def _ensure_label(df: pd.DataFrame) -> pd.DataFrame:
    if "label" in df:
        return df
    if "method" in df:
        return df.assign(label=df["method"])
    return df.rename_axis("label").reset_index()


def _axes(ax, **kw) -> tuple[Figure, plt.Axes]:
    if ax is None:
        fig, ax = plt.subplots(**kw)
        return fig, ax
    if not isinstance(ax, Axes):
        raise InvalidInput("ax", f"expected a matplotlib Axes or None, got {type(ax).__name__}")
    return ax.figure, ax


def _table(df: Any, floats: tuple[str, ...], field: str = "df", needs: tuple[str, ...] = ()) -> pd.DataFrame:
    """`df` checked for drawing, with a label column and the columns `floats` as floats: a
    non-empty DataFrame with them and `needs`, whose ok rows have finite costs >= 0. Only those
    rows are drawn (a failed run has no cost: it would be drawn as 0)."""
    require_table(df, (*needs, *floats), field)
    if df.empty:
        raise InvalidInput(field, "no rows to draw")
    check_costs(df, lambda i: f"{field}, row {df.index[i]}")
    if "status" in df:
        df = df[df["status"] == "ok"]
        if df.empty:
            raise InvalidInput(field, "no rows to draw: none has status ok")
    return _ensure_label(df.assign(**{c: typed_column(df, c, "float64", field) for c in floats}))


def _knob(df: pd.DataFrame, knob: Any) -> str:
    """`knob` if it names a column of `df`, else InvalidInput naming the argument."""
    if not isinstance(knob, str) or knob not in df:
        have = [k for k in KNOBS if k in df]
        raise InvalidInput("knob", f"expected a column of the table, got {knob!r} (its knobs: "
                           f"{', '.join(have) or 'none'})"[:160])
    return knob


# --------------------------------------------------------------------------- source tables
def cost_table(df: pd.DataFrame, knob: str) -> pd.DataFrame:
    """What `cost_vs_knob` plots: per knob value and label, the mean and standard deviation of
    the cost over seeds and how many rows they average."""
    df = _table(df, ("cost",))
    knob = _knob(df, knob)
    g = df.groupby([knob, "label"])["cost"]
    out = g.agg(cost_mean="mean", cost_std="std", n="size").reset_index()
    out["method"] = out["label"].map(_method_of(df))
    return out


def terms_table(df: pd.DataFrame, knob: str | None) -> pd.DataFrame:
    """What `terms_vs_knob` and `cost_by_method` plot: the mean of each cost term per label (and
    knob value)."""
    df = _table(df, TERMS)
    keys = [_knob(df, knob), "label"] if knob is not None else ["label"]
    out = df.groupby(keys)[list(TERMS)].mean().reset_index()
    out["method"] = out["label"].map(_method_of(df))
    return out


def gap_table(df: pd.DataFrame) -> pd.DataFrame:
    """What `gap_by_method` plots: each row's gap to the best certified bound, in percent."""
    df = _table(df, ("gap_to_best_bound",), needs=("instance",))
    out = df[["instance", "label", "method"]].copy() if "method" in df else df[["instance", "label"]].copy()
    out["gap_to_best_bound_pct"] = 100.0 * df["gap_to_best_bound"].astype(float)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- figures
def cost_vs_knob(df: pd.DataFrame, knob: str, ax: plt.Axes | None = None) -> Figure:
    """Mean cost of every method label against `knob` over the seeds (their spread is in the
    source table, `cost_table`), one line per label, line style by method family (`FAMILIES`:
    thick for exact methods, dashed for references). Returns the figure."""
    df = _table(df, ("cost",))
    knob = _knob(df, knob)
    fig, ax = _axes(ax, figsize=(7.2, 4.2))
    t = cost_table(df, knob)
    methods = _method_of(df)
    for i, lab in enumerate(_labels(df)):
        d = t[t["label"] == lab].sort_values(knob)
        ls, lw = _STYLE.get(family(methods[lab]), (":", 1.2))
        ax.plot(d[knob], d["cost_mean"], ls=ls, lw=lw, marker="osD^v<>px*"[i % 10], ms=4,
                color=f"C{i % 10}", label=lab)
    xs = sorted(t[knob].unique())
    if all(isinstance(x, (int, float, np.number)) for x in xs) and len(xs) <= 12:
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.set_xlabel(KNOB_LABELS.get(knob, knob))
    ax.set_ylabel(COST_LABEL)
    ax.set_title(f"Cost by method vs {knob} (mean of ≤{int(t['n'].max())} seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


def terms_vs_knob(df: pd.DataFrame, knob: str, axes=None) -> Figure:
    """The five cost terms (stacked bars) against `knob`, one facet per method label; `axes` an
    array with at least one axes per label. Returns the figure."""
    df = _table(df, TERMS)
    knob = _knob(df, knob)
    labels = _labels(df)
    if axes is not None and not all(isinstance(a, Axes) for a in np.asarray(axes, dtype=object).ravel()):
        raise InvalidInput("axes", "expected matplotlib Axes (an array of them, one per method) or None")
    if axes is None:
        ncols = min(4, len(labels))
        nrows = -(-len(labels) // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.7 * nrows + 0.6),
                                 sharex=True, sharey=True, squeeze=False)
    axes = np.asarray(axes).ravel()
    if len(axes) < len(labels):
        raise InvalidInput("axes", f"terms_vs_knob needs {len(labels)} axes (one per method), got {len(axes)}")
    fig = axes[0].figure
    t = terms_table(df, knob)
    xs = sorted(t[knob].unique())
    pos = np.arange(len(xs))
    for ax, lab in zip(axes, labels, strict=False):
        d = t[t["label"] == lab].set_index(knob).reindex(xs)
        bottom = np.zeros(len(xs))
        for term in TERMS:
            vals = np.nan_to_num(d[term].to_numpy(float))
            ax.bar(pos, vals, 0.75, bottom=bottom, color=TERM_COLORS[term], label=term)
            bottom += vals
        ax.set_title(lab, fontsize=9)
        ax.set_xticks(pos, [f"{x:g}" if isinstance(x, (int, float, np.number)) else str(x) for x in xs],
                      fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(labels):]:
        ax.set_visible(False)
    for ax in axes[:len(labels)]:
        if ax.get_subplotspec() is None or ax.get_subplotspec().is_first_col():
            ax.set_ylabel(f"cost per slot [{COST_UNIT}]", fontsize=8)
        if ax.get_subplotspec() is None or ax.get_subplotspec().is_last_row() or \
                ax is axes[len(labels) - 1]:
            ax.set_xlabel(KNOB_LABELS.get(knob, knob), fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=TERM_COLORS[t]) for t in TERMS]
    fig.legend(handles, list(TERMS), loc="lower center", ncol=len(TERMS), fontsize=8, frameon=False)
    fig.suptitle(f"Cost terms vs {knob}, one panel per method ({COST_LABEL})", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return fig


def cost_by_method(df: pd.DataFrame, ax: plt.Axes | None = None) -> Figure:
    """The five cost terms (stacked bars) of every method label at one scenario point (rows
    averaged per label); `df` a study table or one row per method with the five terms."""
    df = _table(df, TERMS)
    fig, ax = _axes(ax, figsize=(max(5.0, 0.7 * df["label"].nunique() + 2), 4.2))
    t = terms_table(df, None).set_index("label").loc[_labels(df)]
    pos = np.arange(len(t))
    bottom = np.zeros(len(t))
    for term in TERMS:
        vals = np.nan_to_num(t[term].to_numpy(float))
        ax.bar(pos, vals, 0.7, bottom=bottom, color=TERM_COLORS[term], label=term)
        bottom += vals
    ax.set_xticks(pos, list(t.index), rotation=30, ha="right")
    ax.set_ylabel(COST_LABEL)
    ax.set_title("Cost breakdown by method", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="y", alpha=0.3)
    return fig


def gap_by_method(df: pd.DataFrame, ax: plt.Axes | None = None) -> Figure:
    """Box plot (with the points) of each method label's gap to the best certified bound on
    the same instance, in percent (0: certified optimal). Returns the figure."""
    df = _table(df, ("gap_to_best_bound",), needs=("instance",))
    labels = _labels(df)
    t = gap_table(df)
    fig, ax = _axes(ax, figsize=(max(5.0, 0.8 * len(labels) + 1.5), 4.2))
    data = [t.loc[t["label"] == lab, "gap_to_best_bound_pct"].dropna().to_numpy() for lab in labels]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(np.arange(1, len(labels) + 1), labels, rotation=30, ha="right")
    for j, d in enumerate(data):
        ax.plot(np.full(len(d), j + 1.0), d, "o", ms=3, alpha=0.6, color="black")
    ax.set_ylabel("gap to the best certified bound [%]\n(cost − bound) / cost")
    ax.set_title(f"Gap to the best bound ({t['instance'].nunique()} instances)", fontsize=10)
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.grid(axis="y", alpha=0.3)
    return fig


# --------------------------------------------------------------------------- files
def claim_heatmap(table: pd.DataFrame, x: str, y: str, value: str, level: float,
                  ax: plt.Axes | None = None, *, label: str | None = None, percent: bool = False) -> Figure:
    """A claimed quantity over two assumptions (docs/claims.md): `table` has one row per (x, y)
    (e.g. a verdict table of `optcache.claims`), `value` is drawn as a heat map with each cell's
    value written in it, and the paper's claimed value `level` as a contour (dashed, labelled).
    `percent` multiplies values and level by 100."""
    require_table(table, (), "table")
    for arg, c in (("x", x), ("y", y), ("value", value)):
        if not isinstance(c, str):
            raise InvalidInput(arg, f"expected a column name, got {c!r}"[:160])
        if c not in table:
            raise InvalidInput(c, f"not a column of the table ({', '.join(map(str, table.columns))})"[:160])
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not finite(level):
        raise InvalidInput("level", f"must be a finite number (the claimed value), got {level!r}"[:160])
    values = typed_column(table, value, "float64", value)
    if np.isinf(values).any():
        raise InvalidInput(value, f"must be finite (or missing), got {values[np.isinf(values)].iloc[0]}")
    grid = table.assign(**{value: values}).pivot_table(index=y, columns=x, values=value, aggfunc="mean")
    grid = grid.sort_index().sort_index(axis=1)
    if grid.empty:
        raise InvalidInput(value, "no values to draw")
    fig, ax = _axes(ax, figsize=(5.2, 3.8))
    scale = 100.0 if percent else 1.0
    z = grid.to_numpy(float) * scale
    im = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis")
    for (i, j), v in np.ndenumerate(z):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}" if percent else f"{v:.3g}", ha="center", va="center", fontsize=7,
                    color="w" if v < np.nanmean(z) else "k")
    if z.shape[0] > 1 and z.shape[1] > 1 and np.nanmin(z) < level * scale < np.nanmax(z):
        cs = ax.contour(np.arange(z.shape[1]), np.arange(z.shape[0]), z, levels=[level * scale],
                        colors="r", linestyles="--", linewidths=1.5)
        ax.clabel(cs, fmt=(lambda v: f"claim {v:.0f} %") if percent else (lambda v: f"claim {v:.3g}"),
                  fontsize=7)
    ax.set_xticks(range(z.shape[1]), [f"{v:g}" if isinstance(v, float) else str(v) for v in grid.columns],
                  fontsize=7)
    ax.set_yticks(range(z.shape[0]), [f"{v:g}" if isinstance(v, float) else str(v) for v in grid.index],
                  fontsize=7)
    ax.set_xlabel(KNOB_LABELS.get(x, x) + " (one column per value)")
    ax.set_ylabel(KNOB_LABELS.get(y, y))
    fig.colorbar(im, ax=ax, label=(label or value) + (" [%]" if percent else ""))
    return fig


def _savefig(fig: Figure, path: Path, fmt: str, dpi: int) -> None:
    from optcache import __version__

    fig.savefig(path, dpi=dpi, bbox_inches="tight", format=fmt, metadata={"Creator": f"optcache {__version__}"})


def save(fig: Figure, path: str | os.PathLike, *, dpi: int = 150, fmt: str | None = None) -> Path:
    """savefig to a temporary file beside `path`, then rename (the user's umask); closes `fig`.
    `fmt` (default: the suffix of `path`, else png) is one of FORMATS, `dpi` within DPI_RANGE."""
    if not isinstance(fig, Figure):
        raise InvalidInput("fig", f"expected a matplotlib Figure, got {type(fig).__name__}")
    try:
        path = require_path(path)
        suffix = path.suffix[1:]
        if fmt is None and suffix not in ("", *FORMATS):
            raise InvalidInput(str(path), f"the suffix .{suffix} is not an image format of "
                               f"{', '.join(FORMATS)}; pass fmt")
        fmt, dpi = check_image((suffix or "png") if fmt is None else fmt, dpi)
        if suffix in FORMATS and suffix != fmt:
            raise InvalidInput(str(path), f"the suffix .{suffix} says another format than fmt={fmt!r}")
        with atomic_path(path, suffix=f".{fmt}") as tmp:
            _savefig(fig, tmp, fmt, dpi)
    finally:
        plt.close(fig)
    return path


def figures(results: pd.DataFrame, out_dir: str | os.PathLike, *, format: str = "png",
            dpi: int = 150) -> list[Path]:
    """Write the study's figures to `out_dir` and return their paths; beside each its source
    table `NAME.csv`, and `figures.json` (schema, provenance of the study, units, files).

    cost_vs_<knob> and terms_vs_<knob> for every swept knob (cost_by_method if none), from rows
    with status ok; on a product grid each holds the other swept knobs at `slice_values`, which the
    figure's footnote, its table's extra columns and its figures.json entry ("slice") state.
    gap_to_best_bound if some exact method gave a bound. A table without a row
    with status ok has no figures: InvalidInput (field `results`), and nothing is created.

    Every check and drawing happens before the folder is touched. The set is then written as a
    whole: each file to a temporary beside it, and only when all are written is the old
    figures.json removed and the files renamed into place, figures.json last. A failure while
    writing leaves the folder as it was (folders this call created are removed)."""
    format, dpi = check_image(format, dpi, ("--format", "--dpi"))
    require_table(results, ("status",), "results")
    ok = results[results["status"] == "ok"]
    if ok.empty:
        counts = ", ".join(f"{n} {st}" for st, n in results["status"].value_counts().items())
        what = f"{len(results)} rows: {counts}" if len(results) else "the table is empty"
        raise InvalidInput("results", f"no figures: no row with status ok ({what})")
    if "label" not in ok and "method" not in ok:
        raise InvalidInput("results", "missing column label (or method)")
    ok = _table(ok, ("cost", *TERMS, "gap_to_best_bound"), "results", needs=("instance",))
    out = require_path(out_dir, "out_dir")
    drawn: list[tuple[str, Figure, pd.DataFrame, dict]] = []
    try:
        knobs = [k for k in swept_knobs(ok) if knob_slice(ok, k)[k].nunique() > 1]
        slices: dict[str, dict] = {}
        for k in knobs:
            s, at = knob_slice(ok, k), slice_values(ok, k)
            note = ", ".join(f"{o} = {v:g}" if isinstance(v, (int, float)) else f"{o} = {v}"
                             for o, v in at.items())
            for name, fig, table, units in (
                    (f"cost_vs_{k}", cost_vs_knob(s, k), cost_table(s, k),
                     {"x": KNOB_LABELS.get(k, k), "y": COST_LABEL}),
                    (f"terms_vs_{k}", terms_vs_knob(s, k), terms_table(s, k),
                     {"x": KNOB_LABELS.get(k, k), "y": f"cost per slot [{COST_UNIT}]"})):
                if at:  # a product grid: the other knobs are held, and the figure and table say where
                    fig.text(0.01, 0.005, f"at {note} ({len(s)} of {len(ok)} rows)", fontsize=7,
                             va="bottom")
                    table = table.assign(**at)
                    slices[name] = at
                drawn.append((name, fig, table, units))
        if not knobs:
            drawn.append(("cost_by_method", cost_by_method(ok), terms_table(ok, None), {"y": COST_LABEL}))
        gaps = ok[np.isfinite(ok["gap_to_best_bound"])]
        if not gaps.empty:
            drawn.append(("gap_to_best_bound", gap_by_method(gaps), gap_table(gaps),
                          {"y": "gap to the best certified bound [%]"}))
        entries = [{"figure": f"{name}.{format}", "table": f"{name}.csv", "axes": units,
                    **({"slice": slices[name]} if name in slices else {})}
                   for name, _, _, units in drawn]
        manifest = {"format": FIGURES_SCHEMA, "figures": entries, "cost_unit": COST_UNIT,
                    "provenance": provenance(FIGURES_SCHEMA, packages=("numpy", "pandas", "matplotlib"),
                                             study=results.attrs.get("optcache"))}
        created = [f for f in (out, *out.parents) if not f.exists()]  # the deepest first
        make_folder(out, str(out))
        try:
            with ExitStack() as files:  # each atomic_path renames on exit, in reverse order
                manifest_tmp = files.enter_context(atomic_path(out / "figures.json"))
                for name, fig, table, _ in drawn:
                    tmp = files.enter_context(atomic_path(out / f"{name}.{format}", suffix=f".{format}"))
                    _savefig(fig, tmp, format, dpi)
                    files.enter_context(atomic_path(out / f"{name}.csv")).write_bytes(
                        table.to_csv(index=False).encode())
                manifest_tmp.write_bytes(json.dumps(manifest, indent=1, default=str).encode())
                (out / "figures.json").unlink(missing_ok=True)  # no manifest over a half-renamed set
        except BaseException:
            with suppress(OSError):  # stops at the first folder that is not empty
                for folder in created:
                    folder.rmdir()
            raise
    finally:
        for _, fig, _, _ in drawn:
            plt.close(fig)
    return [out / e["figure"] for e in entries]
