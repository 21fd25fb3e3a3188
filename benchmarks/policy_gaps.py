"""Gaps of the §8 policies and the rolling horizon to the certified optimum.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/policy_gaps.py
         [--seeds 20] [--horizon 4] [--default-horizons 12] [--skip-default] [--out-dir DIR]

Part 1: seeded small instances generate(slots=12, services=5, gpus=G, stations=1, seed=s) for
s = 0..N−1 (--seeds N is a count, not a list of seed ids as in the other scripts) and G in
--gpus (default 4 and 8); per instance and method the relative gap (cost - optimum)/optimum, where
the optimum is milp's cost certified by its bound (gap ≤ 1e-6). Part 2: the paper's default
station 0 (generate(stations=1, seed=0) is station 0 of generate(seed=0)): the full solve by
`lagrange` (gap 1e-4, one thread), then rolling with each horizon in --default-horizons, each
forecast and each tail, timed in the same run: gap to the optimum and time ratio to the full solve.
Writes benchmarks/results/policy_gaps.csv (part 1; one row per instance and method: gpus, seed,
method, cost, optimum, bound, seconds, gap, load1) and benchmarks/results/rolling_default.csv
(part 2; one row per rolling variant: horizon, forecast, tail, full_cost, full_bound,
full_termination, full_seconds, rolling_cost, rolling_seconds, windows_not_optimal,
gap_to_optimum, over_bound, time_ratio, load1, as `default_station` says), each atomically when its
part ends; --out-dir puts both in another folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
from common import (
    Parser,
    check_out_dir,
    check_station,
    distinct,
    entry,
    positive_int,
    time_limit,
    write_csv,
)

from optcache.scenario import generate
from optcache.solvers import registry

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = {  # label: (method, options)
    "laot": ("laot", {}), "fifo": ("fifo", {}), "lru": ("lru", {}), "lfu": ("lfu", {}),
    "static": ("static", {}),
    "rolling-oracle": ("rolling", {"forecast": "oracle"}),
    "rolling-mean": ("rolling", {"forecast": "mean"}),
    "rolling-oracle-tail": ("rolling", {"forecast": "oracle", "tail": "relaxed"}),
    "rolling-mean-tail": ("rolling", {"forecast": "mean", "tail": "relaxed"}),
}


def small_gaps(seeds: int, horizon: int, gpus: int) -> pd.DataFrame:
    rows = []
    for seed in range(seeds):
        inst = generate(slots=12, services=5, gpus=gpus, stations=1, seed=seed)
        opt = registry.run("milp", inst, threads=1)
        if opt.termination != "optimal":
            raise RuntimeError(f"seed {seed}: milp did not prove optimality ({opt.termination})")
        rows.append((seed, "milp", opt.cost, opt.cost, opt.bound, opt.seconds))
        for label, (method, opts) in METHODS.items():
            if method == "rolling":
                opts = {**opts, "horizon": horizon}
            res = registry.run(method, inst, **opts)
            assert res.status == "ok", (seed, label, res.status)
            rows.append((seed, label, res.cost, opt.cost, opt.bound, res.seconds))
    df = pd.DataFrame(rows, columns=["seed", "method", "cost", "optimum", "bound", "seconds"])
    df["gap"] = (df["cost"] - df["optimum"]) / df["optimum"]
    df.insert(0, "gpus", gpus)
    df["load1"] = os.getloadavg()[0]
    return df


def default_station(horizons: list[int], time_limit: float) -> pd.DataFrame:
    """Columns: horizon, forecast, tail; full_* (lagrange: cost, bound, termination, seconds);
    rolling_cost, rolling_seconds, windows_not_optimal; gap_to_optimum = (rolling − full cost) /
    full cost (to the optimum only if full_termination is optimal: a warning says when not); over_bound = (rolling − full bound) / full bound (certified: the most it can be
    above the optimum); time_ratio = rolling / full seconds; load1."""
    registry.run("lagrange", generate(slots=3, services=2, stations=1))  # numba caches load untimed
    registry.run("laot", generate(slots=3, services=2, stations=1))
    inst = generate(stations=1, seed=0)
    full = registry.run("lagrange", inst, time_limit=time_limit, gap=1e-4)
    print(f"full solve (lagrange): {full.termination}, cost {full.cost:.7f}, bound {full.bound:.7f}, "
          f"{full.seconds:.1f} s", flush=True)
    if full.termination != "optimal":
        print(f"warning: the full solve stopped at its {time_limit:g}-s limit, not at the optimum: "
              "gap_to_optimum is to its incumbent (over_bound is the certified one)", file=sys.stderr)
    rows = []
    for horizon in horizons:
        for forecast in ("oracle", "mean"):
            for tail in ("none", "relaxed"):
                roll = registry.run("rolling", inst, horizon=horizon, forecast=forecast, tail=tail)
                win = roll.extras["windows"]
                rows.append({
                    "horizon": horizon, "forecast": forecast, "tail": tail,
                    "full_cost": full.cost, "full_bound": full.bound,
                    "full_termination": full.termination, "full_seconds": full.seconds,
                    "rolling_cost": roll.cost, "rolling_seconds": roll.seconds,
                    "windows_not_optimal": int((win["termination"] != "optimal").sum()),
                    "gap_to_optimum": (roll.cost - full.cost) / full.cost,
                    "over_bound": (roll.cost - full.bound) / full.bound,
                    "time_ratio": roll.seconds / full.seconds, "load1": os.getloadavg()[0]})
                print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=positive_int, default=20, metavar="N",
                    help="number of seeds N of part 1: seeds 0..N-1 (a count, not a list of seed ids; default: 20)")
    ap.add_argument("--horizon", type=positive_int, default=4,
                    help="rolling horizon on the small instances (default: 4)")
    ap.add_argument("--gpus", type=positive_int, nargs="+", default=[4, 8],
                    help="GPUs per station on the small instances (4: 320 GB, 8: 640 GB; default: 4 8)")
    ap.add_argument("--default-horizons", type=positive_int, nargs="+", default=[12],
                    help="rolling horizons of part 2, on the paper's default station (default: 12)")
    ap.add_argument("--time-limit", type=time_limit, default=300.0,
                    help="seconds for part 2's full lagrange solve (default: 300)")
    ap.add_argument("--skip-small", action="store_true", help="skip part 1 (small instances against milp)")
    ap.add_argument("--skip-default", action="store_true", help="skip part 2 (rolling on the default station)")
    ap.add_argument("--out-dir", type=Path, default=RESULTS,
                    help="folder of policy_gaps.csv and rolling_default.csv (default: benchmarks/results)")
    args = ap.parse_args()
    if args.skip_small and args.skip_default:
        ap.fail("--skip-default", "with --skip-small there is nothing to run")
    gpus = distinct(args.gpus)
    for g in gpus:
        check_station(ap, "--gpus", str(g), slots=12, services=5, gpus=g)
    names = ([] if args.skip_small else ["policy_gaps.csv"]) + ([] if args.skip_default else ["rolling_default.csv"])
    check_out_dir(ap, "--out-dir", args.out_dir, names)
    pd.set_option("display.width", 160)

    if not args.skip_small:
        df = pd.concat([small_gaps(args.seeds, args.horizon, g) for g in gpus], ignore_index=True)
        write_csv(args.out_dir / "policy_gaps.csv", df)
        summary = (df[df["method"] != "milp"].groupby(["gpus", "method"], sort=False)["gap"]
                   .agg(mean_gap="mean", worst_gap="max", instances="count").reset_index())
        print(summary.to_string(index=False, float_format=lambda v: f"{100 * v:.2f}%"))
        print(f"wrote {args.out_dir / 'policy_gaps.csv'}")
    if not args.skip_default:
        d = default_station(distinct(args.default_horizons), args.time_limit)
        write_csv(args.out_dir / "rolling_default.csv", d)
        print(f"wrote {args.out_dir / 'rolling_default.csv'}")


if __name__ == "__main__":
    entry(main)
