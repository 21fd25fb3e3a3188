"""The exact method on the paper's Fig. 3 grid, one station per point: certified or how close.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/exact_grid.py \
         [--seeds 101 102 103] [--time-limit 60] [--retry-limit 600] [--retry-gap 0.005] \
         [--points slots=20 users=25 ...]

For every point of benchmarks/grids/fig3.toml (slots 20–100, services 2–12, GPUs 8–40, users 5–25,
one knob at a time around the defaults) and every seed: station 0 of
`generate(stations=1, seed=seed, knob=value)`, solved by `lagrange` (gap 1e-4, one thread, least-AoT
as the first incumbent) within --time-limit; a point not certified there is solved again with
--retry-limit (0: no retry) if its gap at --time-limit is at most --retry-gap (default: any gap;
0.005 is the issue's bar, within 0.5 % at 60 s and certified within 10 minutes). Least-AoT, FIFO,
LRU and LFU are scored on the same station, and each method's distance to the optimum is bounded
by the certified bound: over_bound = (cost − bound)/cost of the longest run. The seeds are ones
no other benchmark here uses.

Points are read from the grid's `[[sweep]]` tables only (each moves one knob from the paper's
defaults); its `[knobs]`, `methods` and `seeds` are not used, and a grid without `[[sweep]]`
(e.g. grids/small.toml) is refused. Points that draw the same station are solved once: the
default station (slots 100 = services 10 = GPUs 24 = users 10) appears in every sweep of fig3.toml
and is solved as `slots=100`, so the default grid has 18 points. Seeds given twice run once.

Writes benchmarks/results/exact_grid.csv (or --out), one row per (knob, value, seed, run), columns:
knob, value, seed, coupled_memory, coupled_budget (numbers of slots where memory (3) and the
budget (5) can bind), run ('limit' or 'retry'), time_limit, termination, cost, bound, gap,
seconds, build_seconds, root_bound, root_seconds, root_primal, nodes, cuts, lns_improvements,
load1. The root_* columns, cuts and lns_improvements are empty when the limit came before the
pair graphs were built (the row then has the warm start's cost and the trivial bound). And
OUT_policies.csv beside it (benchmarks/results/exact_grid_policies.csv): knob, value, seed,
coupled_memory, coupled_budget, method (laot, fifo, lru, lfu, and lagrange: the cheapest
schedule of the exact runs), cost, bound (of the longest exact run), over_bound. The rows done so
far are rewritten atomically after every station to OUT.partial.csv (and the policies' beside
it), which replace OUT when the run ends: a stopped run leaves OUT as it was and its stations in
the partial files (nothing resumes from them). rolling_grid.py reads benchmarks/results/exact_grid_SEED.csv: give
`--out benchmarks/results/exact_grid_SEED.csv` for that (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
import os
import time
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
    retry_gap,
    retry_limit,
    seed_id,
    show,
    time_limit,
    write_partial,
)

from optcache.errors import InvalidInput
from optcache.evaluator import evaluate_station
from optcache.instance import read_toml
from optcache.scenario import generate
from optcache.solvers.lagrange import coupled_slots, lagrange_station
from optcache.solvers.policies import replace_station

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
POLICIES = ("laot", "fifo", "lru", "lfu")


def grid_points(grid: Path) -> list[str]:
    """KNOB=VALUE of every point of a study grid TOML's `[[sweep]]` tables (InvalidInput if it
    has none: this script only runs one-knob sweeps around the defaults)."""
    spec = read_toml(grid, "grid")
    sweeps = spec.get("sweep") if isinstance(spec, dict) else None
    if not isinstance(sweeps, list) or not sweeps or not all(isinstance(s, dict) for s in sweeps):
        raise InvalidInput(str(grid), "no [[sweep]] tables: this script solves one-knob sweeps around the "
                           "paper's defaults (like grids/fig3.toml); give --points instead")
    points = []
    for sweep in sweeps:
        for k, vs in sweep.items():
            for v in vs if isinstance(vs, list) else [vs]:
                points.append(f"{k}={v}")
    return points


def station_solve(d, limit: float):
    """`lagrange` as the grid runs it: gap 1e-4 within `limit` seconds, least-AoT as the first
    incumbent (time_split.py solves the same way)."""
    return lagrange_station(d, time_limit=limit, gap=1e-4, warm_start=replace_station(d, "laot"))


def solve(d, limit: float) -> dict:
    t0 = time.perf_counter()
    s = station_solve(d, limit)
    # no history: out of time before the pair graphs were built (warm start and trivial bound)
    h = s.history[0] if s.history else {}
    return {"time_limit": limit, "termination": s.termination, "cost": s.cost, "bound": s.bound,
            "gap": s.gap, "seconds": time.perf_counter() - t0, "build_seconds": s.build_seconds,
            "root_bound": h.get("root_bound"), "root_seconds": h.get("root_seconds"),
            "root_primal": h.get("root_primal"), "nodes": s.nodes, "cuts": h.get("cuts"),
            "lns_improvements": h.get("lns_improvements"), "load1": os.getloadavg()[0]}


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=Path, default=HERE / "grids" / "fig3.toml",
                    help="study grid TOML whose [[sweep]] tables give the points when --points is "
                         "not given ([knobs] and seeds are not used; default: grids/fig3.toml)")
    ap.add_argument("--seeds", type=seed_id, nargs="+", metavar="SEED", default=[101, 102, 103],
                    help="scenario seeds, a list of seed ids (default: 101 102 103)")
    ap.add_argument("--time-limit", type=time_limit, default=60.0,
                    help="seconds for each station's first lagrange run, pair graphs included (default: 60)")
    ap.add_argument("--retry-limit", type=retry_limit, default=600.0,
                    help="seconds for a second run of a station the first did not certify; 0: no retry "
                         "(default: 600)")
    ap.add_argument("--retry-gap", type=retry_gap, default=math.inf,
                    help="retry only stations whose relative gap at --time-limit is at most this, e.g. 0.005 "
                         "(default: inf, every station not certified)")
    ap.add_argument("--points", nargs="+", default=None, metavar="KNOB=VALUE",
                    help="points to solve instead of the grid's, e.g. slots=20 users=25 (knobs: slots, "
                         "services, gpus, users, models)")
    ap.add_argument("--out", type=Path, default=RESULTS / "exact_grid.csv",
                    help="CSV of the exact runs; OUT_policies.csv is written beside it "
                         "(default: benchmarks/results/exact_grid.csv)")
    args = ap.parse_args()
    if args.points is None:
        try:
            texts = grid_points(args.grid)
        except InvalidInput as e:
            ap.fail("--grid", str(e))
        points = parse_points(ap, texts, "--grid")
    else:
        points = parse_points(ap, args.points)
    points, notes = distinct_stations(points)
    seeds = distinct(args.seeds)
    policies_out = args.out.with_name(args.out.stem + "_policies.csv")
    check_outputs(ap, "--out", args.out, policies_out)
    for note in notes:
        print(note, flush=True)

    lagrange_station(generate(slots=3, services=2, stations=1, seed=0).station_data(0))  # compile
    rows, pol = [], []
    for knob, value in points:
        for seed in seeds:
            d = generate(stations=1, seed=seed, **{knob: value}).station_data(0)
            mem, bud = coupled_slots(d)
            base = {"knob": knob, "value": value, "seed": seed, "coupled_memory": len(mem),
                    "coupled_budget": len(bud)}
            runs = [dict(base, run="limit", **solve(d, args.time_limit))]
            first = runs[0]
            if first["termination"] != "optimal" and args.retry_limit > 0 and first["gap"] <= args.retry_gap:
                runs.append(dict(base, run="retry", **solve(d, args.retry_limit)))
            for r in runs:
                print(show(r, 7), flush=True)
            rows += runs
            bound = max(r["bound"] for r in runs)
            best = min(r["cost"] for r in runs)
            for m in POLICIES:
                a, x = replace_station(d, m)
                cost = evaluate_station(d, a, x).cost
                pol.append(dict(base, method=m, cost=cost, bound=bound, over_bound=(cost - bound) / cost))
            pol.append(dict(base, method="lagrange", cost=best, bound=bound, over_bound=(best - bound) / best))
            write_partial(args.out, pd.DataFrame(rows))
            write_partial(policies_out, pd.DataFrame(pol))
    finish(args.out, policies_out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    entry(main)
