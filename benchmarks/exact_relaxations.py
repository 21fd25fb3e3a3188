"""What each part of the exact method's relaxation buys, against certified optima.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/exact_relaxations.py

For small memory-bound stations (`generate(stations=1, seed=s, slots=T)`, T = 20, 30, 40) and
variants of one of them that drop a coupling or the context window: the root bound of
`lagrange` with memory and the budget priced by one multiplier per row (no cuts), the root
bound with the slot polytope's target cuts (the combined decomposition), the optimum
(certified by `lagrange`, gap 1e-6, no time limit), and root gaps (optimum − bound)/optimum.
Writes benchmarks/results/exact_relaxations.csv (or --out) with columns: instance, variant, slots,
rows_bound, rows_seconds, cuts_bound, cuts_seconds, cuts, optimum, optimum_seconds, nodes,
rows_gap, cuts_gap. The rows done so far are rewritten atomically after every row (seven in all)
to OUT.partial.csv, which replaces OUT when the run ends: a stopped run leaves OUT as it was and
its rows in the partial file (nothing resumes from them). No option sets the instances or a
limit: the optima are solved without a time limit.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import Parser, check_outputs, entry, finish, write_partial

from optcache.scenario import generate
from optcache.solvers.lagrange import PairBounds, lagrange_station
from optcache.solvers.lagrange.search import ROOT_TOL, Search

OUT = Path(__file__).resolve().parent / "results" / "exact_relaxations.csv"


def root(d, cuts: bool) -> tuple[float, float, int]:
    """(root bound, seconds, cuts added) of column generation, with or without target cuts."""
    t0 = time.perf_counter()
    s = Search(d, None, np.inf, 1e-6, quiet=True)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    r = s.colgen(free, np.zeros(s.master.n_rows), ROOT_TOL, separate=cuts)
    return r.L, time.perf_counter() - t0, s.stats.cuts


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT,
                    help="output CSV (default: benchmarks/results/exact_relaxations.csv)")
    args = ap.parse_args()
    check_outputs(ap, "--out", args.out)
    lagrange_station(generate(slots=3, services=2, stations=1, seed=0).station_data(0))  # compile
    cases = [("seed=11,slots=20", dict(seed=11, slots=20)), ("seed=1,slots=20", dict(seed=1, slots=20)),
             ("seed=1,slots=30", dict(seed=1, slots=30)), ("seed=101,slots=40", dict(seed=101, slots=40))]
    rows = []
    for name, kw in cases:
        d0 = generate(stations=1, **kw).station_data(0)
        variants = {"as generated": d0}
        if name == "seed=1,slots=30":
            variants.update({"no context window (w = inf)": dataclasses.replace(d0, w=d0.w * 0 + 1e9),
                             "memory only (E = inf)": dataclasses.replace(d0, E=1e30),
                             "budget only (G = inf)": dataclasses.replace(d0, G=1e15)})  # the range's top: slack
        for variant, d in variants.items():
            rb, rs, _ = root(d, cuts=False)
            cb, cs, nc = root(d, cuts=True)
            t0 = time.perf_counter()
            opt = lagrange_station(d, gap=1e-6)
            assert opt.termination == "optimal", (name, variant)
            row = {"instance": name, "variant": variant, "slots": d.T, "rows_bound": rb, "rows_seconds": rs,
                   "cuts_bound": cb, "cuts_seconds": cs, "cuts": nc, "optimum": opt.cost,
                   "optimum_seconds": time.perf_counter() - t0, "nodes": opt.nodes,
                   "rows_gap": (opt.cost - rb) / opt.cost, "cuts_gap": (opt.cost - cb) / opt.cost}
            print({k: (round(v, 7) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
            rows.append(row)
            write_partial(args.out, pd.DataFrame(rows))
    finish(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    entry(main)
