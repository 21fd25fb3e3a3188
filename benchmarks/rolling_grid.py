"""Least-AoT and the rolling horizon against the certified bounds of exact_grid.py, Fig. 3 grid.

Run (after exact_grid.py has written benchmarks/results/exact_grid_SEED.csv for every seed):
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/rolling_grid.py \
        [--seeds 101 102 103] [--time-limit 60] [--horizon 12] [--points slots=20 ...]

For every station of those files (station 0 of `generate(stations=1, seed=seed, knob=value)`):
least-AoT, and `rolling` (H = --horizon, oracle forecast, relaxed tail, lagrange windows) with a
time limit covering the whole method, each scored by the evaluator. With L the best `lagrange`
bound and U the cheapest schedule known (lagrange's incumbent or a schedule found here), a method
of cost c is between (c − U)/U and (c − L)/L above the optimum (`optcache.demo.optimum_bracket`).

Writes benchmarks/results/rolling_grid.csv, one row per (knob, value, seed, method), columns:
knob, value, seed, method ('laot' or 'rolling'), cost, seconds, lagrange_cost, bound, best
(= U), above_opt_min = (cost − best)/best,
above_opt_max = (cost − bound)/bound, load1.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from optcache.demo import optimum_bracket
from optcache.instance import write_atomic
from optcache.scenario import generate
from optcache.solvers import registry

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--points", nargs="*", default=None, help="knob=value points (default: all)")
    ap.add_argument("--out", type=Path, default=RESULTS / "rolling_grid.csv")
    args = ap.parse_args()
    exact = pd.concat([pd.read_csv(RESULTS / f"exact_grid_{s}.csv") for s in args.seeds])
    exact = exact.groupby(["knob", "value", "seed"], sort=False).agg(
        lagrange_cost=("cost", "min"), bound=("bound", "max")).reset_index()
    if args.points:
        keep = exact["knob"] + "=" + exact["value"].astype(str)
        exact = exact[keep.isin(args.points)]
    rows = []
    for _, e in exact.iterrows():
        inst = generate(stations=1, seed=int(e["seed"]), **{e["knob"]: int(e["value"])})
        found = {}
        for method, opts in (("laot", {}), ("rolling", {"horizon": args.horizon, "forecast": "oracle",
                                                        "tail": "relaxed", "time_limit": args.time_limit})):
            t0 = time.perf_counter()
            res = registry.run(method, inst, **opts)
            found[method] = (res.cost, time.perf_counter() - t0)
        table = pd.DataFrame({"status": "ok", "cost": [e["lagrange_cost"]] + [c for c, _ in found.values()],
                              "bound": [e["bound"]] + [float("nan")] * len(found)},
                             index=["lagrange", *found])
        bracket = optimum_bracket(table)
        for method, (cost, seconds) in found.items():
            rows.append({"knob": e["knob"], "value": int(e["value"]), "seed": int(e["seed"]),
                         "method": method, "cost": cost, "seconds": seconds,
                         "lagrange_cost": e["lagrange_cost"], "bound": e["bound"],
                         "best": table["cost"].min(), **bracket.loc[method].to_dict(),
                         "load1": os.getloadavg()[0]})
            print({k: (round(v, 5) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
        write_atomic(args.out, pd.DataFrame(rows).to_csv(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
