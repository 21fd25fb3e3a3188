"""Exact solve of problem (28) on one station: build time, solve time, nodes and gap against size.

Run: .venv/bin/python benchmarks/solve_scaling.py [--time-limit 120] [--threads 2] [--quick]
     [--axes slots pairs gpus] [--formulations network bigm] [--slots-values 12 25 ...]

Three sweeps around the paper's default station (optcache.generate(...) station 0: 100 slots,
10 pairs, 24 GPUs): slots ∈ {12, 25, 50, 100}, pairs (services) ∈ {5, 10, 15, 20} and GPUs ∈
{2, 6, 12, 24}, the other two knobs at their default (slots 25 in the pairs and GPUs sweeps, so
that each run ends within the time limit). `network` is `solve_station` (the matrix of
models/matrix28.py handed to highspy, least-AoT as the first incumbent, as the `milp` method runs
it); `bigm` is `solve_station_reference` (the Pyomo model of models/problem28.py, big-M context
rows, no warm start). Gap target 1e-4. --slots-values replaces the slots sweep's values (it needs
the slots axis). Writes benchmarks/results/solve_scaling.csv (or --out, atomically at the end),
one row per run, with columns:
axis, formulation, slots, pairs, gpus, seed, termination, cost, bound, gap (relative),
build_s (model build), solve_s (everything else: HiGHS rounds and re-scoring), total_s, nodes,
rounds (outer-approximation rounds), round_s (seconds of each round, ';'-joined), cols, rows (of
the matrix, network only), threads, time_limit, load1 (1-minute load average when the run ended).
HiGHS checks its time limit between root cut rounds, so a run can overshoot it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from common import (
    Parser,
    check_outputs,
    check_station,
    distinct,
    entry,
    positive_int,
    seed_id,
    threads,
    time_limit,
    write_csv,
)

from optcache.scenario import generate
from optcache.solvers.exact import solve_station, solve_station_reference
from optcache.solvers.policies import replace_station

OUT = Path(__file__).resolve().parent / "results" / "solve_scaling.csv"
GRID = {
    "slots": [dict(slots=s) for s in (12, 25, 50, 100)],
    "pairs": [dict(slots=25, services=p) for p in (5, 10, 15, 20)],
    "gpus": [dict(slots=25, gpus=g) for g in (2, 6, 12, 24)],
}
QUICK = {"slots": [dict(slots=12)], "pairs": [dict(slots=12, services=5)], "gpus": [dict(slots=12, gpus=2)]}


def run_one(axis: str, formulation: str, knobs: dict, seed: int, time_limit: float, threads: int) -> dict:
    inst = generate(stations=1, seed=seed, **knobs)
    d = inst.station_data(0)
    t0 = time.perf_counter()
    if formulation == "network":  # as the `milp` method runs it: least-AoT as the first incumbent
        s = solve_station(d, time_limit=time_limit, gap=1e-4, threads=threads,
                          warm_start=replace_station(d, "laot"))
    else:
        s = solve_station_reference(d, time_limit=time_limit, gap=1e-4, threads=threads)
    total = time.perf_counter() - t0
    cols = rows = None
    if formulation == "network":
        from optcache.models.matrix28 import build_matrix28

        mm = build_matrix28(d)
        cols, rows = mm.n_cols, mm.n_rows
    return {"axis": axis, "formulation": formulation, "slots": d.T, "pairs": d.P,
            "gpus": knobs.get("gpus", 24), "seed": seed, "termination": s.termination,
            "cost": s.cost, "bound": s.bound, "gap": s.gap, "build_s": s.build_seconds,
            "solve_s": total - s.build_seconds, "total_s": total, "nodes": s.nodes,
            "rounds": s.iterations, "round_s": ";".join(f"{h['seconds']:.2f}" for h in s.history),
            "cols": cols, "rows": rows, "threads": threads,
            "time_limit": time_limit, "load1": os.getloadavg()[0]}


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=time_limit, default=120.0, help="seconds per station solve (default: 120)")
    ap.add_argument("--threads", type=threads, default=2, help="HiGHS threads per solve (default: 2)")
    ap.add_argument("--seeds", type=seed_id, nargs="+", metavar="SEED", default=[0],
                    help="scenario seeds, a list of seed ids (default: 0)")
    ap.add_argument("--axes", nargs="+", default=list(GRID), choices=list(GRID),
                    help="sweeps to run (default: all three)")
    ap.add_argument("--formulations", nargs="+", default=["network"], choices=["network", "bigm"],
                    help="network: solve_station (as milp runs it); bigm: the Pyomo reference model "
                         "(default: network)")
    ap.add_argument("--quick", action="store_true", help="one small point per axis")
    ap.add_argument("--slots-values", type=positive_int, nargs="+",
                    help="override the slots sweep's values (needs slots in --axes)")
    ap.add_argument("--out", type=Path, default=OUT,
                    help="output CSV (default: benchmarks/results/solve_scaling.csv)")
    args = ap.parse_args()
    grid = dict(QUICK) if args.quick else dict(GRID)
    if args.slots_values:
        if "slots" not in args.axes:
            ap.fail("--slots-values", f"needs the slots axis, but --axes is {' '.join(args.axes)}")
        for v in args.slots_values:
            check_station(ap, "--slots-values", str(v), slots=v)
        grid["slots"] = [dict(slots=s) for s in distinct(args.slots_values)]
    check_outputs(ap, "--out", args.out)
    rows = []
    for axis in distinct(args.axes):
        for knobs in grid[axis]:
            for form in distinct(args.formulations):
                for seed in distinct(args.seeds):
                    row = run_one(axis, form, knobs, seed, args.time_limit, args.threads)
                    rows.append(row)
                    print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in row.items()), flush=True)
    write_csv(args.out, pd.DataFrame(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    entry(main)
