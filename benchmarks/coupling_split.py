"""Which constraint makes a station hard: `lagrange` with memory (3), the budget (5) or the window (28c) relaxed.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/coupling_split.py [--cases ...] \
         [--ways none memory budget] [--time-limit 120] [--out benchmarks/results/coupling_split.csv]

A measurement, not a method (benchmarks/RESULTS.md, "Fifty-first round" and "Sixty-eighth round").
Each case station (a name below, or any grid station as `seed=S,KNOB=V`) is solved as exact_grid.py
solves a grid station (`exact_grid.solve`: `lagrange_station`, gap 1e-4, one thread, least-AoT as
the first incumbent, --time-limit seconds) in each of --ways: as it is ('none'); with memory
relaxed ('memory': G raised to the pairs' total size, so that (3) never binds); with the budget
relaxed ('budget': E raised to the largest total demand of a slot, Σ_p R[t][p]·e_p·k_p, so that (5)
never binds); with every context window widened ('window2', 'window4': w_m doubled or quadrupled)
or raised until it never binds ('window': each pair's w at least k_p times its requests over the
horizon). A relaxed station's optimum is at most the station's, so its bound is below every cost of
the 'none' row.

Writes benchmarks/results/coupling_split.csv (or --out), one row per case and way: instance,
relaxed (the way), coupled_memory and coupled_budget (slots where (3) and (5) can
bind), termination, cost, bound, gap, seconds, root_bound, root_seconds (the root's column
generation, cut at half the limit), root_under ((cost − root_bound)/cost, the root's distance to
the run's schedule; to the optimum where the run is certified), nodes. Rows are rewritten
atomically to OUT.partial.csv after every case, which replaces OUT at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from common import (
    POINT_KNOBS,
    Parser,
    case_options,
    check_outputs,
    check_station,
    entry,
    run_cases,
    time_limit,
)
from exact_grid import solve

from optcache.instance import StationData
from optcache.scenario import generate
from optcache.solvers.lagrange import coupled_slots

OUT = Path(__file__).resolve().parent / "results" / "coupling_split.csv"
CASES = {"seed=101,users=15,slots=30": dict(seed=101, users=15, slots=30), "seed=101,users=15": dict(seed=101, users=15),
         "seed=104,gpus=16,slots=45": dict(seed=104, gpus=16, slots=45)}
WIDEN = {"window2": 2, "window4": 4}
"""The ways that multiply every context window w_m, and by how much."""
WAYS = ("none", "memory", "budget", *WIDEN, "window")
DEFAULT_WAYS = WAYS[:3]


def relax(d: StationData, way: str) -> StationData:
    """The station with memory (3), the budget (5) or the window (28c) raised until it never binds,
    or the window doubled or quadrupled ('none': as is)."""
    if way == "memory":
        return dataclasses.replace(d, G=float(d.s.sum()))
    if way == "budget":
        return dataclasses.replace(d, E=float((d.R @ d.flops_per_request).max()))
    if way in WIDEN:
        return dataclasses.replace(d, w=d.w * WIDEN[way])
    if way == "window":  # K never exceeds k_p times the pair's requests over the horizon
        return dataclasses.replace(d, w=np.maximum(d.w, d.k * d.R.sum(axis=0)))
    return d


def case(name: str) -> dict:
    """A --cases entry's scenario knobs: a name of CASES, or `seed=S,KNOB=V[,KNOB=V]` with knobs a
    grid point may move (`common.POINT_KNOBS`)."""
    if name in CASES:
        return CASES[name]
    try:
        knobs = {k: int(v) for k, v in (part.split("=") for part in name.split(","))}
    except ValueError:
        knobs = {}
    if "seed" not in knobs or not set(knobs) <= {"seed", *POINT_KNOBS}:
        raise argparse.ArgumentTypeError(f"{name!r} is neither a case ({', '.join(CASES)}) nor "
                                         f"'seed=S,KNOB=V' with KNOB one of {', '.join(POINT_KNOBS)}")
    return knobs


def run(name: str, knobs: dict, limit: float, ways=DEFAULT_WAYS) -> list[dict]:
    base = generate(stations=1, **knobs).station_data(0)
    rows = []
    for way in ways:
        d = relax(base, way)
        r = solve(d, limit)  # the grid's run: lagrange, gap 1e-4, least-AoT first
        mem, bud = coupled_slots(d)
        root = r["root_bound"]
        rows.append({"instance": name, "relaxed": way, "coupled_memory": len(mem), "coupled_budget": len(bud),
                     **{k: r[k] for k in ("termination", "cost", "bound", "gap", "seconds", "root_bound", "root_seconds")},
                     "root_under": None if root is None else (r["cost"] - root) / r["cost"], "nodes": r["nodes"]})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    case_options(ap, CASES, OUT, other=_case_name, other_help="seed=S,KNOB=V")
    ap.add_argument("--ways", nargs="+", choices=WAYS, default=list(DEFAULT_WAYS), metavar="WAY",
                    help="what to relax, of: " + ", ".join(WAYS) + " (default: " + " ".join(DEFAULT_WAYS) + ")")
    ap.add_argument("--time-limit", type=time_limit, default=120.0,
                    help="seconds for each run of a station, pair graphs included (default: 120)")
    args = ap.parse_args()
    check_outputs(ap, "--out", args.out)
    for name in args.cases:  # a value out of its range: one line naming --cases, before any run
        check_station(ap, "--cases", name, **case(name))
    run_cases(args.out, args.cases, lambda name: run(name, case(name), args.time_limit, args.ways))


def _case_name(name: str) -> str:
    case(name)  # refused here, by argparse, naming --cases
    return name


if __name__ == "__main__":
    entry(main)
