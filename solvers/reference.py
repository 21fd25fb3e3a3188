"""Reference schedules: everything to the cloud, and a static cache loaded once."""

from __future__ import annotations

import logging
import time

import numpy as np

from optcache.dynamics import State, step
from optcache.instance import Instance, StationData, require_station_data
from optcache.logs import Progress
from optcache.results import MethodResult
from optcache.schedule import Schedule
from optcache.solvers.registry import register
from optcache.solvers.serve import request_order, serve_slot

log = logging.getLogger(__name__)


@register("all-cloud")
def all_cloud(inst: Instance) -> MethodResult:
    """Nothing cached, every request sent to the cloud: the satellite-free, edge-free reference."""
    t0 = time.perf_counter()
    sched = Schedule.all_cloud(inst)
    return MethodResult.from_schedule(inst, "all-cloud", sched, time.perf_counter() - t0)


def static_set(data: StationData) -> np.ndarray:
    """The memory-feasible set of pairs with most requests: greedy by total requests, ties by index
    (over the slots of `data.R`, which may be a block of them: docs/howto/add-policy.md)."""
    total = data.R.sum(axis=0)
    chosen = np.zeros(data.P, bool)
    used = 0.0
    for p in np.lexsort((np.arange(data.P), -total)):
        if total[p] > 0 and used + data.s[p] <= data.G:
            chosen[p] = True
            used += data.s[p]
    return chosen


def static_station(data: StationData) -> tuple[np.ndarray, np.ndarray]:
    """Load `static_set` in slot 1 and keep it; serve all-or-nothing as in docs/formulation.md §8 step 3."""
    require_station_data(data)
    chosen = static_set(data)
    a = np.tile(chosen.astype(float), (data.T, 1))
    x = np.zeros((data.T, data.P))
    st = State.cold(data.P)
    for t in range(data.T):
        x[t] = serve_slot(request_order(data.R[t]), chosen, data.R[t], st.K, data.k, data.w,
                          data.flops_per_request, data.E)
        st = step(st, a[t], x[t], data.k, data.delta)
    return a, x


@register("static")
def static(inst: Instance) -> MethodResult:
    """The memory-feasible set of pairs with most requests, loaded once and never refreshed."""
    t0 = time.perf_counter()
    progress, per = Progress(log), []
    for n in range(inst.n_stations):
        per.append(static_station(inst.station_data(n)))
        progress("static: %d of %d stations, %.0f s", n + 1, inst.n_stations, time.perf_counter() - t0)
    sched = Schedule.from_arrays(per)
    return MethodResult.from_schedule(inst, "static", sched, time.perf_counter() - t0)
