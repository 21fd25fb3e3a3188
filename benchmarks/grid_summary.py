"""Per point of the Fig. 3 grid, how the exact method fares over every seed of several grid runs.

Run: .venv/bin/python benchmarks/grid_summary.py [--dir DIR [DIR ...]] [--out F.md]

Reads every exact_grid.py table DIR/exact_grid_SEED.csv of each folder (the seeds are read from the
file names; exact_grid_long_SEED.csv and the like are not grid tables and are skipped) and prints a
Markdown table (to stdout, or atomically to --out), one row per point, in the order of the first
folder's first table:

- stations: how many seeds have that point;
- meet the bar: certified within the first run's limit (exact_grid.py --time-limit), or within 0.5 %
  of the bound then and certified by the retry (--retry-limit), as grid_report.py counts them;
- certified within the first limit, and within 0.5 % at it;
- the median and the largest relative gap at the first limit, %;
- the seeds of the stations that miss the bar.

Then the totals over all the stations, with how many of the retries certify and the largest gap's
station. grid_report.py prints one folder's tables seed by seed; this sums up runs of the same code
on many seeds. A missing folder, a folder without grid tables, a malformed table, a seed in two
folders, or a table without one first run for each point of the first is one error naming --dir.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from common import Parser, check_outputs, entry, read_table, report_out, write_report
from grid_report import BAR, EXACT, certified, meets_bar

RESULTS = Path(__file__).resolve().parent / "results"
CURRENT = ("rerun57", "fresh57", "fresh58", "fresh59", "fresh61", "fresh62", "fresh63", "fresh64", "fresh65",
           "fresh66", "fresh67", "fresh68", "fresh69")
"""The default --dir, under benchmarks/results: the grid runs made with the current solver code (strong
branching on the LP, since the fifty-seventh round; benchmarks/RESULTS.md, "Exact method at the
paper's scale")."""

NAME = re.compile(r"exact_grid_(\d+)\.csv")
"""A grid table's file name, with its seed."""


def grid_tables(ap: Parser, folders: list[Path]) -> pd.DataFrame:
    """Every grid table of `folders`, one DataFrame; one error naming --dir for what is wrong."""
    tables, where = [], {}
    for folder in folders:
        if not folder.is_dir():
            ap.fail("--dir", f"{folder}: not a folder")
        names = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := NAME.fullmatch(p.name)))
        if not names:
            ap.fail("--dir", f"{folder}: no exact_grid_SEED.csv table")
        for seed, path in names:
            if seed in where:
                ap.fail("--dir", f"seed {seed} is in both {where[seed]} and {folder}")
            where[seed] = folder
            table = read_table(ap, "--dir", path, EXACT, "an exact_grid.py table")
            if not (table.seed == seed).all():
                ap.fail("--dir", f"{path}: rows of another seed than {seed}")
            tables.append(table)
    return pd.concat(tables, ignore_index=True)


def grid_points(ap: Parser, exact: pd.DataFrame) -> list[tuple[str, int]]:
    """The points of the first table, in its order; one error naming --dir unless every table has
    one first run for each of them."""
    first = exact[exact.run == "limit"]
    points = list(dict.fromkeys(zip(first.knob, first.value, strict=True)))
    for seed, rows in first.groupby("seed", sort=False):
        have = list(zip(rows.knob, rows.value, strict=True))
        if len(have) != len(set(have)) or set(have) != set(points):
            ap.fail("--dir", f"exact_grid_{seed}.csv: not one first run for each point of the first table")
    return points


def summary(exact: pd.DataFrame, points: list[tuple[str, int]]) -> list[str]:
    """The per-point table and the totals."""
    first = exact[exact.run == "limit"]
    runs = {(r.knob, r.value, r.seed, r.run): r for r in exact.itertuples(index=False)}
    limit = "/".join(f"{x:g} s" for x in first.time_limit.unique())
    seeds = sorted(first.seed.unique())
    lines = [f"| point | stations | meet the bar | certified within {limit} | within 0.5 % | median gap, % | "
             "largest gap, % | missing the bar |", "|---|---|---|---|---|---|---|---|"]
    total = met = n60 = within = tried = again = 0
    worst = (-1.0, "")
    for k, v in points:
        gaps, ok, cert, near, misses = [], 0, 0, 0, []
        for s in seeds:
            a, b = runs[(k, v, s, "limit")], runs.get((k, v, s, "retry"))
            gaps.append(a.gap)
            met_bar = meets_bar(a, b)
            ok += met_bar
            cert += certified(a)
            near += bool(a.gap <= BAR)
            tried += b is not None
            again += certified(b)
            if not met_bar:
                misses.append(str(s))
            if a.gap > worst[0]:
                worst = (a.gap, f"`{k}={v}`/{s}")
        g = np.array(gaps)
        lines.append(f"| {k} = {v} | {len(g)} | {ok} | {cert} | {near} | {np.median(g) * 100:.3f} | "
                     f"{g.max() * 100:.2f} | {', '.join(misses) or '–'} |")
        total, met, n60, within = total + len(g), met + ok, n60 + cert, within + near
    lines += ["", f"{met} of {total} stations ({100 * met / total:.0f} %) on seeds {', '.join(map(str, seeds))} meet the "
              f"bar: {n60} certified within {limit}, {within} within 0.5 % then, {again} of {tried} retries "
              f"certified; the largest gap at {limit} {worst[0] * 100:.2f} % ({worst[1]})"]
    return lines


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, nargs="+", default=[RESULTS / d for d in CURRENT], metavar="DIR",
                    help="folders of exact_grid_SEED.csv tables (exact_grid.py), each seed in one folder only "
                         f"(default: {' '.join(CURRENT)} under benchmarks/results)")
    report_out(ap)
    args = ap.parse_args()
    if args.out is not None:
        check_outputs(ap, "--out", args.out)
    exact = grid_tables(ap, args.dir)
    write_report(summary(exact, grid_points(ap, exact)), args.out)


if __name__ == "__main__":
    entry(main)
