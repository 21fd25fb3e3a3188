"""How long `lagrange`'s tree takes to prove a known optimum, no heuristic driven by the clock in its way.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/tree_proof.py [--cases ...] \
         [--chain 2] [--strong 1 8] [--time-limit 600] [--solve-limit 1200] [--optima DIR] [--out F.csv]

A measurement of the search's branching (benchmarks/RESULTS.md, "Fifty-fourth round", "Fifty-fifth
round" and "Fifty-seventh round"), the harness to compare branching rules on. Each case station is
solved with its certified optimal schedule as the incumbent from the start and fix-and-optimise off
(`search.LNS_SHARE = 0`, `fixopt.LNS_WIDE_GAP = inf`): the root, then the tree, which only has to
prove the optimum. No heuristic driven by the clock changes the search's path, so a run makes the
same nodes each time and its seconds measure the proof alone. Each pair of values of --chain and
--strong is one run (`branching.CHAIN`: how many pairs a branching on a[t][p] splits on, 1 is
a = 0 | 1; `search.STRONG_CANDIDATES`: how many candidates strong branching scores by their
children's master LPs, 1 is pseudo-costs alone).

The optimum of a case is read from --optima (default benchmarks/results/optima), CASE.json with the
schedule's `a` and `x` (T × P lists) and its `cost`. One not there is found first, by
`lagrange_station(d, time_limit=--solve-limit, gap=1e-4)` from least-AoT, and written there only
if that run certifies it (a case that is not certified is an error naming --solve-limit). A stored
schedule must be feasible and cost what the evaluator says (1e-9 relative), or the run stops with
an error naming --optima before solving anything.

Writes --out (default benchmarks/results/tree_proof.csv), one row per case, chain and strong:
instance, chain, strong, termination, cost, bound, gap, nodes, seconds, root_seconds (the root's
column generation), tree_seconds (the branching after it), strong_seconds (of it, strong
branching's), load1 (the one-minute load average at the end). Rows are
rewritten atomically to OUT.partial.csv after every case, which replaces OUT at the end.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
from common import (
    Parser,
    case_options,
    check_outputs,
    entry,
    partial_path,
    positive_int,
    run_cases,
    time_limit,
)

from optcache.errors import InvalidInput
from optcache.evaluator import evaluate_station
from optcache.instance import StationData, check_writable, make_folder, write_atomic
from optcache.scenario import generate
from optcache.solvers.lagrange import fixopt, lagrange_station, search
from optcache.solvers.policies import replace_station

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "tree_proof.csv"
OPTIMA = RESULTS / "optima"
STATIONS = ("seed=102,slots=40", "seed=103,services=8", "seed=103,gpus=8", "seed=103,gpus=16",
            "seed=102,slots=60", "seed=101,slots=80", "seed=103,services=12", "seed=103,slots=80",
            "seed=102,slots=80", "seed=103,slots=100", "seed=102,slots=20", "seed=101,users=15,slots=30",
            "seed=104,gpus=16,slots=45")
CASES = {name: {k: int(v) for k, v in (kv.split("=") for kv in name.split(","))} for name in STATIONS}
"""The eight stations of the fifty-fourth round's measurement, two of the grid's misses whose tree
runs (`slots=80`/102, `slots=100`/103), a small one (`slots=20`/102, certified after branching), and
two shorter versions of the misses whose trees are too slow at 100 slots (sixtieth round): a
`users=15` station on 30 slots and the forty-seventh round's test bed (`gpus=16` on 45 slots)."""


def station(name: str) -> StationData:
    return generate(stations=1, **CASES[name]).station_data(0)


def read_optimum(name: str, d: StationData, folder: Path) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The stored optimum of case `name` (None if there is none); ValueError if it is malformed,
    infeasible or not costed as the evaluator costs it."""
    path = folder / f"{name}.json"
    if not path.exists():
        return None
    try:
        z = json.loads(path.read_text())
        a, x, cost = np.asarray(z["a"], float), np.asarray(z["x"], float), float(z["cost"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not an optimum file ({type(e).__name__}: {e})") from None
    if a.shape != (d.T, d.P) or x.shape != (d.T, d.P):
        raise ValueError(f"{path}: a and x must be {d.T} × {d.P}, got {a.shape} and {x.shape}")
    ev = evaluate_station(d, a, x)
    if ev.violations:
        raise ValueError(f"{path}: the schedule breaks {ev.violations[0]['constraint']}")
    if not abs(ev.cost - cost) <= 1e-9 * abs(ev.cost):
        raise ValueError(f"{path}: cost {cost!r} is not the evaluator's {ev.cost!r}")
    return a, x, cost


def find_optimum(name: str, d: StationData, folder: Path, limit: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Certify the case's optimum (`lagrange`, gap 1e-4, least-AoT first) and store it."""
    r = lagrange_station(d, time_limit=limit, gap=1e-4, warm_start=replace_station(d, "laot"))
    if r.termination != "optimal":
        raise RuntimeError(f"{name} not certified within --solve-limit {limit:g} s (gap {r.gap:.3%})")
    write_atomic(folder / f"{name}.json", json.dumps({"instance": name, "cost": r.cost, "bound": r.bound,
                                                      "a": r.a.astype(int).tolist(), "x": r.x.astype(int).tolist()}))
    return r.a, r.x, r.cost


def prove(d: StationData, opt: tuple[np.ndarray, np.ndarray], chain: int, limit: float,
          strong: int = search.STRONG_CANDIDATES):
    """The search with `opt` as its incumbent, fix-and-optimise off, `branching.CHAIN = chain` and
    `search.STRONG_CANDIDATES = strong`."""
    saved = search.LNS_SHARE, fixopt.LNS_WIDE_GAP, search.CHAIN, search.STRONG_CANDIDATES
    search.LNS_SHARE, fixopt.LNS_WIDE_GAP, search.CHAIN, search.STRONG_CANDIDATES = 0.0, math.inf, chain, strong
    try:
        return lagrange_station(d, time_limit=limit, gap=1e-4, warm_start=opt)
    finally:
        search.LNS_SHARE, fixopt.LNS_WIDE_GAP, search.CHAIN, search.STRONG_CANDIDATES = saved


def run(name: str, chains: list[int], strongs: list[int], limit: float, solve_limit: float,
        folder: Path) -> list[dict]:
    d = station(name)
    a, x, _ = read_optimum(name, d, folder) or find_optimum(name, d, folder, solve_limit)
    rows = []
    for chain, strong in itertools.product(chains, strongs):
        r = prove(d, (a, x), chain, limit, strong)
        h = r.history[0] if r.history else {}
        rows.append({"instance": name, "chain": chain, "strong": strong, "termination": r.termination,
                     "cost": r.cost, "bound": r.bound, "gap": r.gap, "nodes": r.nodes, "seconds": r.seconds,
                     "root_seconds": h.get("root_seconds"), "tree_seconds": h.get("tree_seconds"),
                     "strong_seconds": h.get("strong_seconds"), "load1": os.getloadavg()[0]})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    case_options(ap, CASES, OUT)
    ap.add_argument("--chain", type=positive_int, nargs="+", default=[2], metavar="K",
                    help="values of branching.CHAIN, one run each (default: 2)")
    ap.add_argument("--strong", type=positive_int, nargs="+", default=[1, 8], metavar="K",
                    help="values of search.STRONG_CANDIDATES, one run each with each chain (default: 1 8)")
    ap.add_argument("--time-limit", type=time_limit, default=600.0,
                    help="seconds for each proof, pair graphs included (default: 600)")
    ap.add_argument("--solve-limit", type=time_limit, default=1200.0,
                    help="seconds to certify a case whose optimum is not stored yet (default: 1200)")
    ap.add_argument("--optima", type=Path, default=OPTIMA,
                    help="folder of the optima, CASE.json (default: benchmarks/results/optima)")
    args = ap.parse_args()
    check_outputs(ap, "--out", args.out)
    if args.optima.exists() and not args.optima.is_dir():
        ap.fail("--optima", f"{args.optima}: not a directory")
    try:
        missing = [name for name in args.cases if read_optimum(name, station(name), args.optima) is None]
        if missing:  # to be certified and stored there
            check_writable(args.optima / f"{missing[0]}.json")
            make_folder(args.optima, "--optima")
    except InvalidInput as e:  # the folder cannot be written
        ap.fail("--optima", e.message)
    except ValueError as e:  # a stored optimum that is not one
        ap.fail("--optima", str(e))
    try:
        run_cases(args.out, args.cases,
                  lambda name: run(name, args.chain, args.strong, args.time_limit, args.solve_limit, args.optima))
    except RuntimeError as e:  # a case not certified within --solve-limit: the rows done are kept
        ap.fail("--solve-limit", f"{e}; the rows done so far are in {partial_path(args.out)}")


if __name__ == "__main__":
    entry(main)
