"""The Markdown tables of benchmarks/RESULTS.md "Exact method at the paper's scale", from the CSVs.

Run: .venv/bin/python benchmarks/grid_report.py [--seeds 101 102 103] [--dir benchmarks/results] [--out F.md]

Reads DIR/exact_grid_SEED.csv and DIR/exact_grid_SEED_policies.csv (exact_grid.py) and, when all
are there, DIR/rolling_grid_SEED.csv (rolling_grid.py), and prints to stdout (or writes to --out,
atomically):

- the grid table: per point the slots where memory (3) and the budget (5) can bind, per seed the
  first run's time to the certificate (bold) or its certified gap at its limit (exact_grid.py
  --time-limit), then after an arrow the retry's (--retry-limit), and (cost − root bound)/cost of
  the first run, %;
- how many stations are certified within the first limit, within 0.5 % of their bound then, and
  meet the issue's bar (certified by the first run, or within 0.5 % then and certified by the
  retry), and the mean, median and largest gap of the first run;
- the retries: gap of the first run, the retry's certificate time or gap, nodes, bound, incumbent;
- least-AoT's distance to the optimum, bracketed by the exact runs' best bound L and cheapest
  schedule U: (laot − U)/U to (laot − L)/L, and on how many stations it is the cheapest of the
  four replacement policies;
- the rolling table: per point, least-AoT's and rolling's (c − U)/U–(c − L)/L (the CSVs'
  above_opt_min–above_opt_max), mean over the seeds, %, and their range over the stations.

Points are in the order of the first seed's exact_grid table (the order exact_grid.py solved
them). Without --out nothing is written. A missing or malformed table is one error naming --dir.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from common import Parser, entry, read_table, report_options, write_report

STATION = ["knob", "value", "seed"]
EXACT = ("knob", "value", "seed", "coupled_memory", "coupled_budget", "run", "time_limit", "termination", "cost",
         "bound", "gap", "seconds", "root_bound", "nodes")
POLICY = ("knob", "value", "seed", "method", "cost")
ROLLING = ("knob", "value", "seed", "method", "above_opt_min", "above_opt_max")
BAR = 0.005
"""The issue's bar: within 0.5 % at the first limit (and certified by the retry)."""


def certified(run) -> bool:
    """Whether a run (a row of exact_grid.py's table; None: no such run) ended certified."""
    return run is not None and run.termination == "optimal"


def meets_bar(first, retry) -> bool:
    """Whether a station meets the issue's bar: its first run certified, or within BAR of its bound
    and certified by the retry (`retry` None: not retried)."""
    return certified(first) or (first.gap <= BAR and certified(retry))


def exact_report(exact: pd.DataFrame, seeds: list[int], points: list[tuple[str, int]]) -> list[str]:
    """The grid table, its counts and the retries' table."""
    runs = {(r.knob, r.value, r.seed, r.run): r for r in exact.itertuples(index=False)}
    lines = ["| point | memory slots | budget slots | " + " | ".join(f"seed {s}" for s in seeds)
             + " | (cost − root bound)/cost, % |", "|---|---|---|" + "---|" * len(seeds) + "---|"]
    first_gaps, retries = [], []
    n60 = within = bar = 0
    for k, v in points:
        cells, mem, bud, root = [], [], [], []
        for s in seeds:
            a, b = runs[(k, v, s, "limit")], runs.get((k, v, s, "retry"))
            mem.append(str(int(a.coupled_memory)))
            bud.append(str(int(a.coupled_budget)))
            root.append("–" if pd.isna(a.root_bound) else f"{(a.cost - a.root_bound) / a.cost * 100:.2f}")
            first_gaps.append(a.gap)
            within += bool(a.gap <= BAR)
            bar += meets_bar(a, b)
            if certified(a):
                n60 += 1
                cells.append(f"**{round(a.seconds)} s**")
                continue
            cell = f"{a.gap * 100:.2f} %"
            if b is not None:
                retries.append((k, v, s, a, b))
                cell += f" → **{round(b.seconds)} s**" if certified(b) else f" → {b.gap * 100:.3f} %"
            cells.append(cell)
        lines.append(f"| {k} = {v} | {'/'.join(mem)} | {'/'.join(bud)} | " + " | ".join(cells)
                     + f" | {'/'.join(root)} |")
    g = np.array(first_gaps)
    n = len(g)
    first = "/".join(f"{x:g} s" for x in exact.loc[exact.run == "limit", "time_limit"].unique())
    lines += ["", f"{n60} of {n} stations certified within {first}, {within} of {n} within 0.5 %, "
              f"median gap {np.median(g) * 100:.3f} %, mean {g.mean() * 100:.2f} %, largest {g.max() * 100:.2f} %; "
              f"{bar} of {n} meet the bar (certified within {first}, or within 0.5 % then and by the retry)"]
    if retries:
        again = "/".join(f"{x:g} s" for x in exact.loc[exact.run == "retry", "time_limit"].unique())
        lines += ["", f"| station | gap at {first} | at {again} | nodes | bound | incumbent |",
                  "|---|---|---|---|---|---|"]
        retries.sort(key=lambda r: (not certified(r[4]), r[4].seconds if certified(r[4]) else r[4].gap))
        for k, v, s, a, b in retries:
            end = f"**certified, {round(b.seconds)} s**" if certified(b) else f"{b.gap * 100:.3f} %"
            lines.append(f"| `{k}={v}`/{s} | {a.gap * 100:.2f} % | {end} | {int(b.nodes)} | {b.bound:.6f} | "
                         f"{b.cost:.6f} |")
    return lines


def policy_report(exact: pd.DataFrame, policies: pd.DataFrame) -> list[str]:
    """Least-AoT's bracket against the exact runs' best bound and cheapest schedule."""
    best = exact.groupby(STATION).agg(U=("cost", "min"), L=("bound", "max"))
    cost = policies.pivot_table(index=STATION, columns="method", values="cost").join(best)
    lo, hi = (cost.laot - cost.U) / cost.U, (cost.laot - cost.L) / cost.L
    others = [m for m in ("fifo", "lru", "lfu") if m in cost]
    cheapest = int((cost.laot <= cost[others].min(axis=1)).sum()) if others else len(cost)
    return ["", f"least-AoT above the optimum: {lo.min() * 100:.1f}–{hi.max() * 100:.0f} % (mean "
            f"{lo.mean() * 100:.1f}–{hi.mean() * 100:.1f} %, the interval {(hi - lo).mean() * 100:.1f} points wide "
            f"on average and at most {(hi - lo).max() * 100:.1f}); the cheapest of laot, {', '.join(others)} on "
            f"{cheapest} of {len(cost)}"]


def rolling_report(rolling: pd.DataFrame, points: list[tuple[str, int]], certain: set) -> list[str]:
    """Per point, least-AoT's and rolling's bracket (mean over the seeds), in two column blocks."""
    mean = rolling.groupby(["knob", "value", "method"])[["above_opt_min", "above_opt_max"]].mean() * 100

    def cell(k: str, v: int) -> str:
        a, r = mean.loc[(k, v, "laot")], mean.loc[(k, v, "rolling")]
        return (f"{k} = {v} | {a.above_opt_min:.1f}–{a.above_opt_max:.1f} | "
                f"{r.above_opt_min:.2f}–{r.above_opt_max:.2f}")

    # two blocks, split where a knob ends, nearest the middle (ties: the longer left block)
    ends = [i for i in range(1, len(points)) if points[i][0] != points[i - 1][0]] or [(len(points) + 1) // 2]
    half = min(ends, key=lambda i: (abs(2 * i - len(points)), -i))
    lines = ["", "| point | least-AoT | rolling | | point | least-AoT | rolling |", "|---|---|---|---|---|---|---|"]
    for i in range(max(half, len(points) - half)):
        left = f"{cell(*points[i])} |" if i < half else "| | |"
        right = f"{cell(*points[half + i])} |" if half + i < len(points) else "| | |"
        lines.append(f"| {left} | {right}")
    ro, la = rolling[rolling.method == "rolling"], rolling[rolling.method == "laot"]
    sure = ro[[key in certain for key in zip(ro.knob, ro.value, ro.seed, strict=True)]]
    lines += ["", f"rolling {ro.above_opt_min.min() * 100:.1f}–{ro.above_opt_max.max() * 100:.1f} % above the "
              f"optimum (mean {ro.above_opt_min.mean() * 100:.2f}–{ro.above_opt_max.mean() * 100:.2f} %, upper end's "
              f"median {ro.above_opt_max.median() * 100:.2f} %); least-AoT {la.above_opt_min.min() * 100:.1f}–"
              f"{la.above_opt_max.max() * 100:.0f} % ({la.above_opt_min.mean() * 100:.1f}–"
              f"{la.above_opt_max.mean() * 100:.1f} %); on the {len(sure)} certified stations rolling "
              f"{sure.above_opt_max.mean() * 100:.2f} % on average, at most {sure.above_opt_max.max() * 100:.2f} %"]
    return lines


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    args = report_options(ap, [101, 102, 103], "exact_grid_SEED.csv, ..._policies.csv and rolling_grid_SEED.csv")
    seeds = args.seeds

    def tables(name: str, columns: tuple[str, ...], what: str) -> pd.DataFrame:
        paths = [args.dir / name.format(s) for s in seeds]
        return pd.concat([read_table(ap, "--dir", p, columns, what) for p in paths], ignore_index=True)

    exact = tables("exact_grid_{}.csv", EXACT, "an exact_grid.py table")
    policies = tables("exact_grid_{}_policies.csv", POLICY, "an exact_grid.py policies table")
    first = exact[exact.seed == seeds[0]]
    points = list(dict.fromkeys(zip(first.knob, first.value, strict=True)))
    for s in seeds:
        limit = exact[(exact.seed == s) & (exact.run == "limit")]
        have = set(zip(limit.knob, limit.value, strict=True))
        if len(limit) != len(have) or have != set(points):
            ap.fail("--dir", f"exact_grid_{s}.csv: not one first run for each point of exact_grid_{seeds[0]}.csv")
    if "laot" not in set(policies["method"]):
        ap.fail("--dir", "the exact_grid policies tables have no laot rows")
    lines = exact_report(exact, seeds, points) + policy_report(exact, policies)
    if all((args.dir / f"rolling_grid_{s}.csv").is_file() for s in seeds):
        rolling = tables("rolling_grid_{}.csv", ROLLING, "a rolling_grid.py table")
        have = set(zip(rolling.knob, rolling.value, rolling.method, strict=True))
        lacking = [f"{k}={v}" for k, v in points if not {(k, v, "laot"), (k, v, "rolling")} <= have]
        if lacking:
            ap.fail("--dir", f"rolling_grid tables: no laot or no rolling row for {', '.join(lacking)}")
        certain = {key for key, group in exact.groupby(STATION) if (group.termination == "optimal").any()}
        lines += rolling_report(rolling, points, certain)
    write_report(lines, args.out)


if __name__ == "__main__":
    entry(main)
