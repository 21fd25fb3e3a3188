"""The exact method on the paper's Fig. 3 grid, one station per point: certified or how close.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/exact_grid.py \
         [--seeds 101 102 103] [--time-limit 60] [--retry-limit 600] [--points slots=20 users=25 ...]

For every point of benchmarks/grids/fig3.toml (slots 20–100, services 2–12, GPUs 8–40, users 5–25,
one knob at a time around the defaults) and every seed: station 0 of
`generate(stations=1, seed=seed, knob=value)`, solved by `lagrange` (gap 1e-4, one thread, least-AoT
as the first incumbent) within --time-limit; a point not certified there is solved again with
--retry-limit (0: no retry). Least-AoT, FIFO, LRU and LFU are scored on the same station, and each
method's distance to the optimum is bounded by the certified bound: over_bound = (cost − bound)/cost
of the longest run. The seeds are ones no other benchmark here uses.

Writes benchmarks/results/exact_grid.csv, one row per (knob, value, seed, run), columns:
knob, value, seed, run ('limit' or 'retry'), time_limit, termination, cost, bound, gap, seconds,
build_seconds, root_bound, root_seconds, root_primal, nodes, cuts, lns_improvements, coupled_memory,
coupled_budget (numbers of slots where memory (3) and the budget (5) can bind), load1; and
benchmarks/results/exact_grid_policies.csv: knob, value, seed, method, cost, bound (of the
longest exact run), over_bound.
"""

from __future__ import annotations

import argparse
import os
import time
import tomllib
from pathlib import Path

import pandas as pd

from optcache.evaluator import evaluate_station
from optcache.scenario import generate
from optcache.solvers.lagrange import coupled_slots, lagrange_station
from optcache.solvers.policies import replace_station

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
POLICIES = ("laot", "fifo", "lru", "lfu")


def grid_points(grid: Path) -> list[tuple[str, int]]:
    """(knob, value) of every sweep point of a study grid TOML."""
    spec = tomllib.loads(grid.read_text())
    return [(k, v) for sweep in spec["sweep"] for k, vs in sweep.items() for v in vs]


def solve(d, limit: float) -> dict:
    t0 = time.perf_counter()
    s = lagrange_station(d, time_limit=limit, gap=1e-4, warm_start=replace_station(d, "laot"))
    h = s.history[0]
    return {"time_limit": limit, "termination": s.termination, "cost": s.cost, "bound": s.bound,
            "gap": s.gap, "seconds": time.perf_counter() - t0, "build_seconds": s.build_seconds,
            "root_bound": h["root_bound"], "root_seconds": h["root_seconds"],
            "root_primal": h["root_primal"], "nodes": s.nodes, "cuts": h["cuts"],
            "lns_improvements": h["lns_improvements"], "load1": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", type=Path, default=HERE / "grids" / "fig3.toml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--retry-limit", type=float, default=600.0)
    ap.add_argument("--points", nargs="*", default=None, help="knob=value points (default: the grid)")
    ap.add_argument("--out", type=Path, default=RESULTS / "exact_grid.csv")
    args = ap.parse_args()
    points = grid_points(args.grid)
    if args.points:
        points = [(p.split("=")[0], int(p.split("=")[1])) for p in args.points]
    lagrange_station(generate(slots=3, services=2, stations=1, seed=0).station_data(0))  # compile
    rows, pol = [], []
    for knob, value in points:
        for seed in args.seeds:
            d = generate(stations=1, seed=seed, **{knob: value}).station_data(0)
            mem, bud = coupled_slots(d)
            base = {"knob": knob, "value": value, "seed": seed, "coupled_memory": len(mem),
                    "coupled_budget": len(bud)}
            runs = [dict(base, run="limit", **solve(d, args.time_limit))]
            if runs[0]["termination"] != "optimal" and args.retry_limit > 0:
                runs.append(dict(base, run="retry", **solve(d, args.retry_limit)))
            for r in runs:
                print({k: (round(v, 7) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
            rows += runs
            bound = max(r["bound"] for r in runs)
            best = min(r["cost"] for r in runs)
            for m in POLICIES:
                a, x = replace_station(d, m)
                cost = evaluate_station(d, a, x).cost
                pol.append(dict(base, method=m, cost=cost, bound=bound, over_bound=(cost - bound) / cost))
            pol.append(dict(base, method="lagrange", cost=best, bound=bound, over_bound=(best - bound) / best))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(args.out, index=False)
            pd.DataFrame(pol).to_csv(args.out.with_name(args.out.stem + "_policies.csv"), index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
