"""Least-AoT and the rolling horizon against the certified bounds of exact_grid.py, Fig. 3 grid.

Run (after exact_grid.py has written benchmarks/results/exact_grid_SEED.csv for every seed):
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/rolling_grid.py \
        [--seeds 101 102 103] [--time-limit 60] [--horizon 12] [--points slots=20 ...]

For every station of those files (station 0 of `generate(stations=1, seed=seed, knob=value)`):
least-AoT, and `rolling` (H = --horizon, oracle forecast, relaxed tail, lagrange windows) with a
time limit covering the whole method, each scored by the evaluator. With L the best `lagrange`
bound and U the cheapest schedule known (lagrange's incumbent or a schedule found here), a method
of cost c is between (c − U)/U and (c − L)/L above the optimum (`optcache.demo.optimum_bracket`).
The numba kernels are compiled or loaded from numba's cache before the first timed run
(`optcache.warmup`), so neither `seconds` nor rolling's own time limit pays for them.

Reads DIR/exact_grid_SEED.csv for every seed (DIR: --exact-dir, default benchmarks/results; note
that exact_grid.py's own default --out is exact_grid.csv, so give it
`--out benchmarks/results/exact_grid_SEED.csv` as benchmarks/RESULTS.md does). A missing file, or
a --points point with no row in some seed's file, is refused before any work.

Writes benchmarks/results/rolling_grid.csv (or --out), one row per (knob, value, seed, method),
columns: knob, value, seed, method ('laot' or 'rolling'), cost, seconds, lagrange_cost, bound,
best (= U), above_opt_min = (cost − best)/best, above_opt_max = (cost − bound)/bound, load1. It is
written as OUT.partial.csv after every station and renamed to OUT at the end (a stopped run
leaves OUT as it was; nothing resumes from the partial file). The table does not say
whether rolling ran out of its time limit (the remaining slots then follow the last window's
plan, then least-AoT): rolling reports that on stderr.

With --rebracket no method runs: the existing OUT keeps its costs and seconds, and its columns
lagrange_cost, bound, best, above_opt_min and above_opt_max are recomputed from the exact_grid
tables as they are now (after a new exact_grid.py run), and OUT is rewritten atomically. Every
station of OUT needs a row in those tables.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from common import (
    Parser,
    check_outputs,
    distinct,
    entry,
    finish,
    parse_points,
    positive_int,
    read_table,
    seed_id,
    show,
    time_limit,
    write_csv,
    write_partial,
)

from optcache.demo import optimum_bracket
from optcache.errors import InvalidInput
from optcache.scenario import generate
from optcache.solvers import registry
from optcache.warmup import warmup

RESULTS = Path(__file__).resolve().parent / "results"
EXACT_COLUMNS = ("knob", "value", "seed", "cost", "bound")
ROLLING_COLUMNS = ("knob", "value", "seed", "method", "cost", "seconds", "lagrange_cost", "bound", "best",
                   "above_opt_min", "above_opt_max", "load1")
STATION = ["knob", "value", "seed"]
BRACKET_COLUMNS = ("lagrange_cost", "bound", "best", "above_opt_min", "above_opt_max")


def read_exact(ap: Parser, folder: Path, seeds: list[int]) -> pd.DataFrame:
    """exact_grid.py's tables for `seeds`, or a one-line error naming the file that is missing
    or not such a table."""
    tables = []
    for s in seeds:
        path = folder / f"exact_grid_{s}.csv"
        if not path.is_file():
            ap.fail("--seeds", f"{s}: {path} not found (run exact_grid.py --seeds {s} --out {path} "
                    "first, or see --exact-dir)")
        tables.append(read_table(ap, "--exact-dir", path, EXACT_COLUMNS, "an exact_grid.py table"))
    return pd.concat(tables)


def bracket_rows(e: pd.Series, found: dict[str, float]) -> list[dict]:
    """The bracket columns of each method in `found` (method -> cost) on one station, with the
    exact runs' cheapest cost and best bound `e` (lagrange_cost, bound) as the `lagrange` row."""
    table = pd.DataFrame({"status": "ok", "cost": [e["lagrange_cost"], *found.values()],
                          "bound": [e["bound"]] + [float("nan")] * len(found)},
                         index=["lagrange", *found])
    bracket = optimum_bracket(table)
    return [{"lagrange_cost": e["lagrange_cost"], "bound": e["bound"], "best": table["cost"].min(),
             **bracket.loc[method].to_dict()} for method in found]


def rebracket(ap: Parser, out: Path, exact: pd.DataFrame) -> None:
    """--rebracket: OUT's bracket columns recomputed from `exact` (one row per station), OUT
    rewritten atomically; its other columns are kept as they are."""
    table = read_table(ap, "--out", out, ROLLING_COLUMNS, "a rolling_grid.py table")
    if not pd.api.types.is_numeric_dtype(table["cost"]):
        ap.fail("--out", f"{out}: column cost is not numeric")
    keyed = exact.set_index(STATION)
    parts = []
    for key, group in table.groupby(STATION, sort=False):
        station = f"station {key[0]}={key[1]}, seed {key[2]}"
        if key not in keyed.index:
            ap.fail("--seeds", f"{out}: {station} has no row in the exact_grid tables of --exact-dir for --seeds")
        found = dict(zip(group["method"], group["cost"], strict=True))
        if len(found) != len(group):
            ap.fail("--out", f"{out}: {station} has a method twice")
        try:
            brackets = bracket_rows(keyed.loc[key], found)
        except InvalidInput as e:
            ap.fail("--out", f"{out}: {station}: {e.field}: {e.message}")
        parts.append(pd.DataFrame(brackets, index=group.index))
    table[list(BRACKET_COLUMNS)] = pd.concat(parts)[list(BRACKET_COLUMNS)]
    write_csv(out, table[list(ROLLING_COLUMNS)])
    print(f"rebracketed {out}")


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seed_id, nargs="+", metavar="SEED", default=[101, 102, 103],
                    help="scenario seeds, a list of seed ids; each needs DIR/exact_grid_SEED.csv "
                         "(default: 101 102 103)")
    ap.add_argument("--time-limit", type=time_limit, default=60.0,
                    help="seconds for each station's whole rolling run (default: 60)")
    ap.add_argument("--horizon", type=positive_int, default=12, help="rolling horizon H in slots (default: 12)")
    ap.add_argument("--points", nargs="+", default=None, metavar="KNOB=VALUE",
                    help="only these points of the exact_grid tables, e.g. slots=20 (default: all their rows)")
    ap.add_argument("--exact-dir", type=Path, default=RESULTS,
                    help="folder of exact_grid.py's exact_grid_SEED.csv tables (default: benchmarks/results)")
    ap.add_argument("--out", type=Path, default=RESULTS / "rolling_grid.csv",
                    help="output CSV (default: benchmarks/results/rolling_grid.csv)")
    ap.add_argument("--rebracket", action="store_true",
                    help="run no method: recompute the bracket columns of the existing --out table from "
                         "the exact_grid tables as they are now, and rewrite it")
    args = ap.parse_args()
    seeds = distinct(args.seeds)
    points = parse_points(ap, args.points) if args.points is not None else None
    exact = read_exact(ap, args.exact_dir, seeds)
    exact = exact.groupby(["knob", "value", "seed"], sort=False).agg(
        lagrange_cost=("cost", "min"), bound=("bound", "max")).reset_index()
    if points is not None:
        keep = exact["knob"] + "=" + exact["value"].astype(str)
        for knob, value in points:
            for s in seeds:
                if not ((keep == f"{knob}={value}") & (exact["seed"] == s)).any():
                    ap.fail("--points", f"{knob}={value}: no row for seed {s} in "
                            f"{args.exact_dir / f'exact_grid_{s}.csv'}")
        exact = exact[keep.isin([f"{k}={v}" for k, v in points])]
    if exact.empty:
        ap.fail("--seeds", f"no rows in the exact_grid tables of {args.exact_dir}")
    check_outputs(ap, "--out", args.out)
    if args.rebracket:
        rebracket(ap, args.out, exact)
        return
    warmup()  # numba kernels compiled or loaded before the first timed run
    rows = []
    for _, e in exact.iterrows():
        inst = generate(stations=1, seed=int(e["seed"]), **{e["knob"]: int(e["value"])})
        found = {}
        for method, opts in (("laot", {}), ("rolling", {"horizon": args.horizon, "forecast": "oracle",
                                                        "tail": "relaxed", "time_limit": args.time_limit})):
            t0 = time.perf_counter()
            res = registry.run(method, inst, **opts)
            found[method] = (res.cost, time.perf_counter() - t0)
        brackets = bracket_rows(e, {m: c for m, (c, _) in found.items()})
        for (method, (cost, seconds)), b in zip(found.items(), brackets, strict=True):
            rows.append({"knob": e["knob"], "value": int(e["value"]), "seed": int(e["seed"]),
                         "method": method, "cost": cost, "seconds": seconds, **b,
                         "load1": os.getloadavg()[0]})
            print(show(rows[-1], 5), flush=True)
        write_partial(args.out, pd.DataFrame(rows))
    finish(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    entry(main)
