"""The Lagrangian decomposition (`lagrange`) on the paper's default station, against least-AoT and rolling.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/lagrange_default.py \
         [--seeds 0 1 2] [--time-limit 60] [--rolling-seeds 0]

For each seed, station 0 of `optcache.generate(stations=1, seed=seed)` (100 slots, 10 pairs,
24 GPUs): `lagrange` with gap target 1e-4 and the time limit (one thread: numba DPs, HiGHS master
with threads=1), `laot`, and for the seeds in --rolling-seeds `rolling` (horizon 12, oracle
forecast). Writes benchmarks/results/lagrange_default.csv (or --out), one row per (seed, method),
columns:
seed, method, termination, cost (the evaluator's), bound (lagrange only: certified lower bound),
gap ((cost − bound)/cost, lagrange only), seconds (wall), root_bound, root_s (lagrange:
bound of column generation at the root and when it was reached; empty when the limit came before
the pair graphs were built), nodes (branch-and-price nodes), load1 (1-minute load average when
the run ended), over_bound ((cost − lagrange bound)/cost: how far the method is at most from the
optimum, certified). Every numba kernel the timed runs use (lagrange's, the policies', rolling's)
is compiled or loaded from numba's cache before them (`optcache.warmup`, and `lagrange` on a tiny
instance), so no `seconds` includes compiling. Seeds given twice run once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from common import Parser, check_outputs, distinct, entry, seed_id, show, time_limit, write_csv

from optcache.scenario import generate
from optcache.solvers import registry
from optcache.solvers.lagrange import lagrange_station
from optcache.solvers.policies import replace_station
from optcache.warmup import warmup

OUT = Path(__file__).resolve().parent / "results" / "lagrange_default.csv"


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seed_id, nargs="+", metavar="SEED", default=[0, 1, 2],
                    help="scenario seeds, a list of seed ids (default: 0 1 2)")
    ap.add_argument("--rolling-seeds", type=seed_id, nargs="*", metavar="SEED", default=None,
                    help="the seeds of --seeds on which rolling also runs; with no value, none "
                         "(default: 0 if 0 is among --seeds)")
    ap.add_argument("--time-limit", type=time_limit, default=60.0,
                    help="seconds for each lagrange solve, pair graphs included (default: 60)")
    ap.add_argument("--out", type=Path, default=OUT,
                    help="output CSV (default: benchmarks/results/lagrange_default.csv)")
    args = ap.parse_args()
    seeds = distinct(args.seeds)
    if args.rolling_seeds is None:
        rolling_seeds = [s for s in (0,) if s in seeds]
    else:
        rolling_seeds = distinct(args.rolling_seeds)
        missing = [s for s in rolling_seeds if s not in seeds]
        if missing:
            ap.fail("--rolling-seeds", f"{', '.join(map(str, missing))} not among --seeds "
                    f"({' '.join(map(str, seeds))})")
    check_outputs(ap, "--out", args.out)
    rows = []
    # compile (or load from numba's cache) the DP, slot, policy and rolling kernels before any timing
    lagrange_station(generate(slots=3, services=2, stations=1, seed=0).station_data(0))
    warmup()
    for seed in seeds:
        inst = generate(stations=1, seed=seed)
        d = inst.station_data(0)
        t0 = time.perf_counter()
        s = lagrange_station(d, time_limit=args.time_limit, gap=1e-4, warm_start=replace_station(d, "laot"))
        secs = time.perf_counter() - t0
        # no history: out of time before the pair graphs were built (warm start and trivial bound)
        root = s.history[0] if s.history else {}
        rows.append({"seed": seed, "method": "lagrange", "termination": s.termination, "cost": s.cost,
                     "bound": s.bound, "gap": s.gap, "seconds": secs, "root_bound": root.get("root_bound"),
                     "root_s": root.get("root_seconds"), "nodes": s.nodes, "load1": os.getloadavg()[0]})
        print(show(rows[-1]), flush=True)
        others = ["laot"] + (["rolling"] if seed in rolling_seeds else [])
        for m in others:
            opts = dict(horizon=12, forecast="oracle") if m == "rolling" else {}
            t0 = time.perf_counter()
            r = registry.run(m, inst, **opts)
            rows.append({"seed": seed, "method": m, "termination": r.termination, "cost": r.cost,
                         "bound": None, "gap": None, "seconds": time.perf_counter() - t0,
                         "root_bound": None, "root_s": None, "nodes": None,
                         "load1": os.getloadavg()[0]})
            print(show(rows[-1]), flush=True)
        for r in rows:
            if r["seed"] == seed:
                r["over_bound"] = (r["cost"] - s.bound) / r["cost"]
    write_csv(args.out, pd.DataFrame(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    entry(main)
