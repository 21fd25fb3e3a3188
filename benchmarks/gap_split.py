"""How much of a 60-s gap is the schedule's and how much the bound's, against the optimum of longer runs.

Run: .venv/bin/python benchmarks/gap_split.py [--seeds 102 103 104 105] [--dir benchmarks/results] [--out F.md]

Reads, per seed, DIR/exact_grid_SEED.csv (the grid's runs: the 60-s 'limit' row, and a 600-s
'retry' row where there is one), DIR/exact_grid_long_SEED.csv (300-s runs; optional) and
DIR/exact_grid_1200_SEED.csv (20-minute runs: exact_grid.py --time-limit 1200 --retry-limit 0
--points ...), and prints a Markdown table (to stdout, or atomically to --out), one row per station
of the 20-minute tables:

- each run's gap at its limit (60, 300 and 1,200 s), the last as the time to its certificate when
  it has one, with its nodes;
- where the optimum lies: between the largest bound B and the cheapest schedule U of all the
  station's runs;
- the 60-s gap split in two, certified both ways: its schedule U60 lies (U60 − OPT)/OPT above the
  optimum and its bound B60 lies (OPT − B60)/OPT under it, each given as the range it spans over
  OPT in [B, U], in %;
- the 20-minute run's root r under the optimum, (OPT − r)/OPT over the same range ('cut' when the
  root ran into its share of the limit, `search.ROOT_SHARE`, without converging).

Then the counts: how many the 20-minute runs certified, and over those (whose split is exact to
the certificate's gap) the median share of the 60-s gap that is the schedule's: (U60 − U)/U over
(U60 − U)/U + (B − B60)/B. A missing or
malformed table, or a station of a 20-minute table with no 'limit' row in its seed's grid
table, is one error naming --dir.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from common import Parser, entry, read_table, report_options, write_report
from miss_report import COLUMNS as MISS_COLUMNS
from miss_report import require_grid_rows, root_cut

COLUMNS = (*MISS_COLUMNS, "seconds")


def interval(lo: float, hi: float) -> str:
    """A range in %, one number when both ends agree to 0.005 points."""
    return f"{100 * lo:.2f}" if abs(hi - lo) < 5e-5 else f"{100 * lo:.2f}–{100 * hi:.2f}"


def report(runs: pd.DataFrame, long: pd.DataFrame) -> list[str]:
    """The table and its counts; `runs` holds every run of the stations (exact_grid.py rows with a
    `table` column: 'grid', 'long' or '1200'), `long` the 20-minute runs."""
    lines = ["| station | gap at 60 s | at 300 s | at 1,200 s (nodes) | optimum in | 60-s schedule above it, % "
             "| 60-s bound under it, % | root under it, % |", "|---|---|---|---|---|---|---|---|"]
    shares, certified = [], 0
    for r in long.itertuples(index=False):
        mine = runs[(runs.knob == r.knob) & (runs.value == r.value) & (runs.seed == r.seed)]
        first = mine[(mine.table == "grid") & (mine.run == "limit")].iloc[0]
        mid = mine[mine.table == "long"]
        B, U = float(mine.bound.max()), float(mine.cost.min())
        above = ((first.cost - U) / U, (first.cost - B) / B)
        under = ((B - first.bound) / B, (U - first.bound) / U)
        if r.termination == "optimal":
            certified += 1
            gap = above[0] + under[0]
            shares.append(above[0] / gap if gap > 0 else np.nan)
            last = f"**{r.seconds:.0f} s** ({r.nodes})"
        else:
            last = f"{100 * r.gap:.2f} % ({r.nodes})"
        root = "cut" if root_cut(r) else interval((B - r.root_bound) / B, (U - r.root_bound) / U)
        at300 = f"{100 * mid.gap.iloc[0]:.2f} %" if len(mid) else "–"
        lines.append(f"| `{r.knob}={r.value}`/{r.seed} | {100 * first.gap:.2f} % | {at300} | {last} "
                     f"| {B:.6f}–{U:.6f} | {interval(*above)} | {interval(*under)} | {root} |")
    share = np.nanmedian(shares) if any(np.isfinite(shares)) else np.nan
    lines += ["", f"{len(long)} stations; {certified} certified within 1,200 s. The schedule's share of those "
              f"stations' 60-s gaps (the rest is the bound's): median "
              + ("–" if np.isnan(share) else f"{100 * share:.0f} %") + f" (of {len(shares)})."]
    return lines


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    args = report_options(ap, [102, 103, 104, 105], "exact_grid_SEED.csv, exact_grid_long_SEED.csv (optional) "
                          "and exact_grid_1200_SEED.csv")
    tables = []
    for s in args.seeds:
        for table, name, what in (("grid", "exact_grid_{}.csv", "an exact_grid.py table"),
                                  ("long", "exact_grid_long_{}.csv", "an exact_grid.py table of 300-s runs"),
                                  ("1200", "exact_grid_1200_{}.csv", "an exact_grid.py table of 20-minute runs")):
            path = args.dir / name.format(s)
            if table == "long" and not path.exists():
                continue
            tables.append(read_table(ap, "--dir", path, COLUMNS, what).assign(table=table))
    runs = pd.concat(tables, ignore_index=True)
    long = runs[runs.table == "1200"]
    require_grid_rows(ap, runs[(runs.table == "grid") & (runs.run == "limit")], long, "20-minute tables")
    write_report(report(runs, long), args.out)


if __name__ == "__main__":
    entry(main)
