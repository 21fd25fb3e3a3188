"""Pair-slot decisions per second of the §8 policies: readable reference vs compiled batch kernel.

Run: .venv/bin/python benchmarks/policy_throughput.py [--instances 200] [--reference-instances 4]
     [--repeats 5] [--out FILE]

`fast` times the batch kernel alone, `reference` the readable loop, `registered` the method as the
CLI runs it (one instance at a time, evaluator scoring included). The paper's default scenario
(generate(seed=s): 5 stations × 100 slots × 10 pairs) over many seeds; single thread
(NUMBA_NUM_THREADS=1, no parallel loop). `fast` runs the stations of --instances instances (seeds
0..N−1) as one batch, --repeats times, and keeps the best. `reference` runs the stations of the
first --reference-instances (R) of them once; `registered` runs 5·R instances (seeds 0..5R−1,
as many instances as the reference has stations), after one untimed warm-up call. The compile
time is measured apart, in fresh processes with an empty cache and then a warm one, and excluded
from the throughput. Writes benchmarks/results/policy_throughput.csv (or --out) with columns
impl, policy, instances, stations, decisions, seconds, decisions_per_s, load1 (1-minute load
average), compile_s_cold and compile_s_cached (seconds of the kernel's first call in a fresh
process with an empty numba cache, then with that cache: the same on every row).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import Parser, check_outputs, entry, positive_int, write_csv  # noqa: E402

from optcache.scenario import generate  # noqa: E402
from optcache.solvers import registry  # noqa: E402
from optcache.solvers.policies import POLICIES, replace_station  # noqa: E402
from optcache.solvers.policies_fast import POLICY_CODE, replace_batch, stack  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "policy_throughput.csv"

_FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
from optcache.solvers.policies_fast import replace_batch
from optcache.scenario import generate
from optcache.solvers.policies_fast import stack
args = stack([generate(seed=0).station_data(0)])
t1 = time.perf_counter()
replace_batch(0, *args)
print(time.perf_counter() - t1)
"""


def first_call_seconds(cache_dir: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=positive_int, default=200,
                    help="instances (seeds 0..N-1, 5 stations each) batched in the fast kernel (default: 200)")
    ap.add_argument("--reference-instances", type=positive_int, default=4,
                    help="R: the first R of those instances run by the reference loop; the registered "
                         "method runs 5·R instances (default: 4)")
    ap.add_argument("--repeats", type=positive_int, default=5,
                    help="fast runs per policy, the best is kept (default: 5)")
    ap.add_argument("--out", type=Path, default=OUT,
                    help="output CSV (default: benchmarks/results/policy_throughput.csv)")
    args = ap.parse_args()
    if args.reference_instances > args.instances:
        ap.fail("--reference-instances", f"must be <= --instances ({args.instances}): the reference "
                f"runs the first of those instances, got {args.reference_instances}")
    check_outputs(ap, "--out", args.out)

    with tempfile.TemporaryDirectory() as d:
        cold = first_call_seconds(d)
        warm = first_call_seconds(d)
    print(f"first call: {cold:.2f} s compiling (empty cache), {warm:.3f} s from the cache")

    stations = [inst.station_data(n) for s in range(args.instances)
                for inst in [generate(seed=s)] for n in range(inst.n_stations)]
    batch = stack(stations)
    T, P = stations[0].T, stations[0].P
    replace_batch(0, *stack(stations[:1]))  # compile or load outside the timing
    rows = []
    for policy in POLICIES:
        best = np.inf
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            replace_batch(POLICY_CODE[policy], *batch)
            best = min(best, time.perf_counter() - t0)
        rows.append(("fast", policy, args.instances, len(stations), len(stations) * T * P, best))
        ref = stations[: args.reference_instances * 5]
        t0 = time.perf_counter()
        for data in ref:
            replace_station(data, policy)
        rows.append(("reference", policy, args.reference_instances, len(ref), len(ref) * T * P,
                     time.perf_counter() - t0))
        # the registered method, one instance at a time: station views, stacking, kernel, and
        # the evaluator's scoring of the schedule
        insts = [generate(seed=s) for s in range(args.reference_instances * 5)]
        registry.run(policy, insts[0])  # warm-up: first-call costs (imports, dispatch) are not throughput
        t0 = time.perf_counter()
        for inst in insts:
            registry.run(policy, inst)
        rows.append(("registered", policy, len(insts), 5 * len(insts), 5 * len(insts) * T * P,
                     time.perf_counter() - t0))
    df = pd.DataFrame(rows, columns=["impl", "policy", "instances", "stations", "decisions", "seconds"])
    df["decisions_per_s"] = df["decisions"] / df["seconds"]
    df["load1"] = os.getloadavg()[0]
    df["compile_s_cold"] = cold
    df["compile_s_cached"] = warm
    write_csv(args.out, df)
    with pd.option_context("display.width", 160, "display.float_format", "{:,.4g}".format):
        print(df.to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    entry(main)
