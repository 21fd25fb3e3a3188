"""Where the exact method spends a station's solve: its root, heuristics, windows and tree.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/time_split.py \
         [--seeds 103] [--points slots=80 gpus=16] [--time-limit 600] [--out CSV]

For every point and seed: station 0 of `generate(stations=1, seed=seed, knob=value)`, solved by
`lagrange` (gap 1e-4, one thread, least-AoT as the first incumbent, as benchmarks/exact_grid.py
does) within --time-limit, and the search's own counters (`StationSolve.history`,
`lagrange.search.SearchStats`) read back. Writes benchmarks/results/time_split.csv (or --out), one
row per station, columns:
knob, value, seed, time_limit, termination, cost, bound, gap, seconds (the whole solve), nodes;
root_seconds (the pair graphs, the warm start's local search, the root's column generation and
cuts), heuristic_seconds (the root's primal heuristics), lns_seconds (fix-and-optimise and its dive, their windows' searches
included), tree_seconds (branch and price); lp_solves and lp_seconds (the station's own master
LP, every phase; the windows' searches have masters of their own, counted in lns_seconds),
evaluations and lagrangian_seconds (Lagrangians L(u): the pair DPs, every phase of the station's
own search); tree_lp_solves (master LP solves during branch and price), pruned_children and
pruned_child_lp_solves (children pruned by their own bound as soon as column generation made it,
and the LP solves that took); load1. The rows done so far are rewritten atomically after every
station to OUT.partial.csv, which replaces OUT when the run ends.

With --report TABLE [TABLE ...] it solves nothing and prints the tables' rows as the Markdown table
of benchmarks/RESULTS.md ("Fifty-third round"): each phase's share of the solve's seconds, the
master LP's share and milliseconds a solve, and the pruned children's share of the tree's LP solves.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from common import (
    Parser,
    check_outputs,
    distinct,
    distinct_stations,
    entry,
    finish,
    parse_points,
    read_table,
    seed_id,
    show,
    time_limit,
    write_partial,
)
from exact_grid import station_solve

from optcache.scenario import generate
from optcache.solvers.lagrange import lagrange_station

OUT = Path(__file__).resolve().parent / "results" / "time_split.csv"
COUNTERS = ("root_seconds", "heuristic_seconds", "lns_seconds", "tree_seconds", "lp_solves", "lp_seconds",
            "evaluations", "lagrangian_seconds", "tree_lp_solves", "pruned_children", "pruned_child_lp_solves")
"""The history counters each row reads back (`lagrange_station`'s history)."""


def split(d, limit: float) -> dict:
    """One station's solve and where its time went."""
    s = station_solve(d, limit)
    h = s.history[0] if s.history else {}  # none: out of time before the pair graphs were built
    return {"time_limit": limit, "termination": s.termination, "cost": s.cost, "bound": s.bound, "gap": s.gap,
            "seconds": s.seconds, "nodes": s.nodes, **{k: h.get(k) for k in COUNTERS},
            "load1": os.getloadavg()[0]}


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole > 0 else "–"


def report(df: pd.DataFrame) -> list[str]:
    """The Markdown table of `df`'s rows, one per station and limit."""
    lines = ["| station | limit | outcome | seconds | root | heuristics | fix-and-optimise | tree | nodes "
             "| master LP: share, solves, ms a solve | Lagrangians | pruned children: count, share of the tree's LPs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples(index=False):
        out = "certified" if r.termination == "optimal" else f"{100 * r.gap:.2f} %"
        sec = r.seconds
        lp = f"{pct(r.lp_seconds, sec)}, {r.lp_solves:,}, {1e3 * r.lp_seconds / max(r.lp_solves, 1):.1f}"
        lines.append(f"| `{r.knob}={r.value}`/{r.seed} | {r.time_limit:.0f} s | {out} | {sec:.0f} "
                     f"| {pct(r.root_seconds, sec)} | {pct(r.heuristic_seconds, sec)} | {pct(r.lns_seconds, sec)} "
                     f"| {pct(r.tree_seconds, sec)} | {r.nodes} | {lp} | {pct(r.lagrangian_seconds, sec)} "
                     f"| {r.pruned_children}, {pct(r.pruned_child_lp_solves, r.tree_lp_solves)} |")
    return lines


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seed_id, nargs="+", metavar="SEED", default=[103],
                    help="scenario seeds, a list of seed ids (default: 103)")
    ap.add_argument("--points", nargs="+", default=["slots=80"], metavar="KNOB=VALUE",
                    help="points to solve, e.g. slots=80 gpus=16 (knobs: slots, services, gpus, users, "
                         "models; default: slots=80)")
    ap.add_argument("--time-limit", type=time_limit, default=600.0,
                    help="seconds for each station, pair graphs included (default: 600)")
    ap.add_argument("--out", type=Path, default=OUT, help="output CSV (default: benchmarks/results/time_split.csv)")
    ap.add_argument("--report", type=Path, nargs="+", default=None, metavar="TABLE",
                    help="print these tables (written by this script) as RESULTS.md's Markdown table "
                         "instead of solving anything")
    args = ap.parse_args()
    if args.report is not None:
        frames = [read_table(ap, "--report", t, ("knob", "value", "seed", *COUNTERS), "a time_split.py table")
                  for t in args.report]
        print("\n".join(report(pd.concat(frames, ignore_index=True))))
        return
    points, notes = distinct_stations(parse_points(ap, args.points))
    check_outputs(ap, "--out", args.out)
    for note in notes:
        print(note, flush=True)
    lagrange_station(generate(slots=3, services=2, stations=1, seed=0).station_data(0))  # compile
    rows = []
    for knob, value in points:
        for seed in distinct(args.seeds):
            d = generate(stations=1, seed=seed, **{knob: value}).station_data(0)
            rows.append({"knob": knob, "value": value, "seed": seed, **split(d, args.time_limit)})
            print(show(rows[-1], 7), flush=True)
            write_partial(args.out, pd.DataFrame(rows))
    finish(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    entry(main)
