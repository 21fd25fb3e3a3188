"""Where the grid's misses stand after a longer run: how far their root is from the optimum, certified.

Run: .venv/bin/python benchmarks/miss_report.py [--seeds 101 102 103 104 105] [--dir benchmarks/results]
         [--out F.md]

Reads, per seed, DIR/exact_grid_SEED.csv (the grid's runs, exact_grid.py --time-limit 60) and
DIR/exact_grid_long_SEED.csv (longer runs of the stations that missed the issue's bar by more than
its 0.5 % at 60 s: exact_grid.py --time-limit 300 --retry-limit 0 --points ...), and prints a
Markdown table (to stdout, or atomically to --out), one row per station of the long tables:

- the first run's gap (at its limit);
- the long run's root: its bound r and seconds, and whether column generation converged (a root
  that ran into its share of the limit, `search.ROOT_SHARE`, is 'cut');
- the long run's bound, incumbent, gap and nodes;
- the root's distance to the optimum, certified both ways: the optimum lies between the best bound
  B and the cheapest schedule U of the two runs, so (OPT − r)/OPT lies between (B − r)/B and
  (U − r)/U, in %.

Then the counts: of the stations whose long root converged, how many have a root certifiably more
than 0.5 % under their optimum ((B − r)/B > 0.5 %: no 60-s run reaches the bar without its tree
closing the excess), and how many certifiably within it ((U − r)/U ≤ 0.5 %: a better schedule alone
would bring the converged root within the bar). A missing or malformed table, or a station of a
long table with no row in its seed's grid table, is one error naming --dir.
"""

from __future__ import annotations

import pandas as pd
from common import Parser, entry, read_table, report_options, write_report
from grid_report import BAR

from optcache.solvers.lagrange.search import ROOT_SHARE

COLUMNS = ("knob", "value", "seed", "run", "time_limit", "termination", "cost", "bound", "gap", "root_bound",
           "root_seconds", "nodes")


def root_cut(row) -> bool:
    """Whether a run's root column generation stopped at its share of the limit (`ROOT_SHARE`),
    not converged (within half a second of the share: its last master LP may end past it)."""
    return row.root_seconds >= ROOT_SHARE * row.time_limit - 0.5


def report(first: pd.DataFrame, long: pd.DataFrame) -> list[str]:
    """The table and its counts; `first` and `long` are exact_grid.py tables (their 'limit' rows)."""
    lines = ["| station | gap at 60 s | long run's root: bound, s | its bound / incumbent | its gap, nodes "
             "| root under the optimum, % |", "|---|---|---|---|---|---|"]
    over = within = converged = 0
    firsts = {(r.knob, r.value, r.seed): r for r in first.itertuples(index=False)}
    for r in long.itertuples(index=False):
        f = firsts[(r.knob, r.value, r.seed)]
        B, U, root = max(f.bound, r.bound), min(f.cost, r.cost), r.root_bound
        lo, hi = (B - root) / B, (U - root) / U
        cut = root_cut(r)
        if not cut:
            converged += 1
            over += lo > BAR
            within += hi <= BAR
        state = f"cut at {r.root_seconds:.0f} s" if cut else f"{r.root_seconds:.0f} s"
        lines.append(f"| `{r.knob}={r.value}`/{r.seed} | {100 * f.gap:.2f} % | {root:.6f}, {state} "
                     f"| {r.bound:.6f} / {r.cost:.6f} | {100 * r.gap:.2f} %, {r.nodes} | {100 * lo:.2f}–{100 * hi:.2f} |")
    lines += ["", f"{len(long)} stations; {converged} long roots converged. Of those, {over} are certifiably more "
              f"than 0.5 % under their optimum, {within} certifiably within 0.5 % of it."]
    return lines


def require_grid_rows(ap: Parser, first: pd.DataFrame, long: pd.DataFrame, what: str) -> None:
    """One error naming --dir if a station of `long` (longer runs, described by `what`) has no row in
    `first` (the grid's 'limit' rows), whose 60-s run every report compares it with."""
    have = set(zip(first.knob, first.value, first.seed, strict=True))
    lacking = [f"{k}={v}/{s}" for k, v, s in zip(long.knob, long.value, long.seed, strict=True) if (k, v, s) not in have]
    if lacking:
        ap.fail("--dir", f"no exact_grid row for {', '.join(lacking)} of the {what}")


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    args = report_options(ap, [101, 102, 103, 104, 105], "exact_grid_SEED.csv and exact_grid_long_SEED.csv")
    seeds = args.seeds

    def limit_rows(name: str, what: str) -> pd.DataFrame:
        df = pd.concat([read_table(ap, "--dir", args.dir / name.format(s), COLUMNS, what) for s in seeds],
                       ignore_index=True)
        return df[df.run == "limit"]

    first = limit_rows("exact_grid_{}.csv", "an exact_grid.py table")
    long = limit_rows("exact_grid_long_{}.csv", "an exact_grid.py table of longer runs")
    require_grid_rows(ap, first, long, "long tables")
    lines = report(first, long)
    write_report(lines, args.out)


if __name__ == "__main__":
    entry(main)
