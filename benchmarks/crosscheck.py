"""Fresh-seed cross-check of the exact method `lagrange` against independent references.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/crosscheck.py \
         [--tiny 2000] [--small 200] [--medium 40] [--seed-base 980000] [--out F.csv]

Three families of one-station instances, each drawn from its own seed (`np.random.default_rng`):

- tiny: `tests/bruteforce.random_tiny` (2–4 slots, 1–3 pairs; memory, the budget and the window
  can bind), against the exhaustive optimum of `tests/bruteforce.brute_force`; `lagrange` at gap
  0 and 1e-4, no time limit; seeds SEED_BASE + 1 ...
- small: `generate(stations=1, seed=s, slots=3–8, services=2–10, gpus=2–24, users=2–20)`, the
  knobs drawn from the seed, against `milp` at gap 1e-6 (--small-limit, 60 s); `lagrange` at gap
  1e-6 and 1e-4 with the same limit; seeds SEED_BASE + 10,001 ...
- medium: the same with 6–30 slots and --medium-limit (120 s); seeds SEED_BASE + 15,001 ...

Each `lagrange` result is checked: its cost, bound and seconds finite; its schedule without
violations and its cost the evaluator's (1e-9 relative); its bound not above the reference's cost
and its cost not below the reference's bound (1e-7 relative; brute force's bound is its
optimum); a certified result within the gap asked. A result that fails any check is a
row whose `problems` says which, and the script then exits with status 1 after writing the table.

Writes --out (default benchmarks/results/crosscheck.csv), one row per (family, seed, gap):
family, seed, slots, services, gpus, users (the generated knobs; empty for tiny), pairs, gap,
reference ('brute_force' or 'milp'), termination, cost, bound, seconds (of `lagrange`),
ref_cost, ref_bound, ref_termination, ref_seconds, problems (empty when every check holds).
The rows done so far are rewritten atomically to OUT.partial.csv after every instance, which
replaces OUT at the end.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import Parser, check_outputs, entry, finish, integer, seed_id, time_limit, write_partial

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the brute force lives with the tests (tests/bruteforce.py)

import optcache  # noqa: E402
from optcache.evaluator import evaluate_station  # noqa: E402
from optcache.scenario import KNOB_RANGES  # noqa: E402
from optcache.solvers.exact import solve_station  # noqa: E402
from optcache.solvers.lagrange import lagrange_station  # noqa: E402
from tests.bruteforce import brute_force, random_tiny  # noqa: E402

FAMILIES = {"tiny": 1, "small": 10_001, "medium": 15_001}
"""Each family's first seed, as an offset from --seed-base."""

SLOTS = {"small": (3, 8), "medium": (6, 30)}
"""The slot range of each generated family (inclusive)."""

REL = 1e-7
"""Relative slack of the comparisons with the reference's cost and bound."""


def draw(family: str, seed: int):
    """The family's station of `seed`: (StationData, knobs dict)."""
    rng = np.random.default_rng(seed)
    if family == "tiny":
        return random_tiny(rng).station_data(0), {}
    lo, hi = SLOTS[family]
    knobs = dict(slots=int(rng.integers(lo, hi + 1)), services=int(rng.integers(2, 11)),
                 gpus=int(rng.integers(2, 25)), users=int(rng.integers(2, 21)))
    return optcache.generate(stations=1, seed=seed, **knobs).station_data(0), knobs


def problems(d, res, gap: float, ref_cost: float, ref_bound: float) -> list[str]:
    """What is wrong with `lagrange`'s result `res` on station `d` (empty: nothing)."""
    out = [f"{name} not finite" for name in ("cost", "bound", "seconds") if not math.isfinite(getattr(res, name))]
    ev = evaluate_station(d, res.a, res.x)
    if ev.violations:
        out.append(f"{len(ev.violations)} violations ({ev.violations[0]['constraint']})")
    if abs(ev.cost - res.cost) > 1e-9 * max(1.0, abs(res.cost)):
        out.append(f"cost {res.cost!r} is not the evaluator's {ev.cost!r}")
    if res.bound > ref_cost + REL * abs(ref_cost):
        out.append(f"bound {res.bound!r} above the reference's cost {ref_cost!r}")
    if res.cost < ref_bound - REL * abs(ref_bound):
        out.append(f"cost {res.cost!r} below the reference's bound {ref_bound!r}")
    if res.termination == "optimal" and res.cost - res.bound > gap * max(abs(res.cost), 1e-12) + 1e-12:
        out.append(f"certified at a gap {(res.cost - res.bound) / res.cost!r} over {gap}")
    return out


def run_one(family: str, seed: int, limits: dict) -> list[dict]:
    """The rows of one instance: a reference, then `lagrange` at each gap checked against it."""
    d, knobs = draw(family, seed)
    t = time.perf_counter()
    if family == "tiny":
        opt, _, _ = brute_force(d)
        ref = dict(reference="brute_force", ref_cost=opt, ref_bound=opt, ref_termination="optimal")
        gaps, limit = (0.0, 1e-4), None
    else:
        limit = limits[family]
        m = solve_station(d, time_limit=limit, gap=1e-6)
        ref = dict(reference="milp", ref_cost=m.cost, ref_bound=m.bound, ref_termination=m.termination)
        gaps = (1e-6, 1e-4)
    ref["ref_seconds"] = time.perf_counter() - t
    rows = []
    for gap in gaps:
        res = lagrange_station(d, time_limit=limit, gap=gap)
        rows.append({"family": family, "seed": seed, **{k: knobs.get(k) for k in ("slots", "services", "gpus", "users")},
                     "pairs": d.P, "gap": gap, "reference": ref["reference"], "termination": str(res.termination),
                     "cost": res.cost, "bound": res.bound, "seconds": res.seconds, "ref_cost": ref["ref_cost"],
                     "ref_bound": ref["ref_bound"], "ref_termination": str(ref["ref_termination"]),
                     "ref_seconds": ref["ref_seconds"],
                     "problems": "; ".join(problems(d, res, gap, ref["ref_cost"], ref["ref_bound"]))})
    return rows


def table(rows: list[dict]) -> pd.DataFrame:
    """The rows as the table written, the knobs as integers (empty for tiny)."""
    df = pd.DataFrame(rows)
    return df.astype({k: "Int64" for k in ("slots", "services", "gpus", "users")})


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    for family, default in (("tiny", 2000), ("small", 200), ("medium", 40)):
        ap.add_argument(f"--{family}", type=integer, default=default, metavar="N",
                        help=f"{family} instances to check (default {default}; 0: none)")
    ap.add_argument("--seed-base", type=seed_id, default=980_000,
                    help="seeds are counted from here, per family (default 980000: seeds no test or other benchmark uses)")
    ap.add_argument("--small-limit", type=time_limit, default=60.0, help="seconds per solve, small family (default 60)")
    ap.add_argument("--medium-limit", type=time_limit, default=120.0, help="seconds per solve, medium family (default 120)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "crosscheck.csv",
                    help="output CSV (default: benchmarks/results/crosscheck.csv)")
    args = ap.parse_args()
    counts = {f: getattr(args, f) for f in FAMILIES}
    for family, n in counts.items():
        if n < 0:
            ap.fail(f"--{family}", f"must be an integer >= 0, got {n}")
    if not any(counts.values()):
        ap.fail("--tiny", "every family is 0: nothing to check")
    last = args.seed_base + max(FAMILIES[f] + n - 1 for f, n in counts.items() if n)
    if last > KNOB_RANGES["seed"][1]:
        ap.fail("--seed-base", f"the last seed {last} is past 2^63 - 1")
    check_outputs(ap, "--out", args.out)
    limits = {"small": args.small_limit, "medium": args.medium_limit}
    rows: list[dict] = []
    for family, n in counts.items():
        for seed in range(args.seed_base + FAMILIES[family], args.seed_base + FAMILIES[family] + n):
            rows += run_one(family, seed, limits)
            write_partial(args.out, table(rows))
    finish(args.out)
    df = table(rows)
    bad = df[df.problems != ""]
    print(f"wrote {args.out}: {len(df)} checks, {len(bad)} failed")
    for r in bad.itertuples(index=False):
        print(f"{r.family} seed {r.seed} gap {r.gap}: {r.problems}")
    if len(bad):
        sys.exit(1)


if __name__ == "__main__":
    entry(main)
