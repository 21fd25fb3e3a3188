"""Compile the numba kernels once and leave them in numba's on-disk cache (`cache=True`).

A fresh install has no compiled kernels: the first `laot`, `fifo`, `lru`, `lfu`, `rolling` or
`lagrange` call of every later process would then compile for seconds. `make setup` runs
`optcache warmup`, which calls each kernel on a tiny generated instance (the dtypes of real ones),
so that a user's first call loads them from the cache instead of compiling them.
"""

from __future__ import annotations

import time


def warmup() -> dict[str, float]:
    """Run every numba-compiled path once on a tiny instance; seconds taken by each."""
    from optcache.scenario import generate
    from optcache.solvers import registry
    from optcache.solvers.lagrange import lagrange_station
    from optcache.solvers.policies_fast import load_laot_from

    inst = generate(slots=6, services=3, gpus=2, stations=2, users=20, seed=0)
    seconds: dict[str, float] = {}
    for method in ("laot", "fifo", "lru", "lfu"):
        t0 = time.perf_counter()
        registry.run(method, inst)
        seconds[method] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lagrange_station(inst.station_data(0), time_limit=60)
    # a station whose root separates both kinds of slot cut (the tiny one above separates none):
    # their oracles and the pair DPs priced per option compile here, not in a user's first call
    lagrange_station(generate(slots=8, stations=1, seed=0).station_data(0), time_limit=60)
    seconds["lagrange"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    registry.run("rolling", inst, horizon=2, tail="relaxed", time_limit=60)
    seconds["rolling"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_laot_from()
    seconds["laot_from"] = time.perf_counter() - t0
    return seconds


_warmed: set[str] = set()


def warm(method: str) -> None:
    """Load a built-in method's modules and compiled kernels in this process, once, by a run on a
    tiny instance: a study's `seconds` then time the method on its cell, not the process's first
    load (measured first/second call: laot 0.55/0.0003 s with numba's cache, lagrange 1.05/0.009 s,
    milp 0.55/0.04 s for Pyomo and HiGHS). A method registered by the user is left alone."""
    from optcache.solvers import registry

    if method in _warmed or not registry.is_builtin(method):
        return
    from optcache.scenario import generate

    _warmed.add(method)
    inst = generate(slots=3, services=2, gpus=2, stations=1, users=10, seed=0)
    registry.run(method, inst, **({"horizon": 2} if method == "rolling" else {}))
