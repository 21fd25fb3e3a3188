"""Least-AoT and the FIFO/LRU/LFU baselines (docs/formulation.md §8): one skeleton, four eviction orders.

`replace_station` is the readable reference, a plain loop over §8; the registered methods run the
compiled batch version in `policies_fast`, which the tests hold equal to this one.
"""

from __future__ import annotations

import time

import numpy as np

from optcache.dynamics import State, step
from optcache.errors import InvalidInput
from optcache.instance import Instance, StationData, check_index, require_station_data
from optcache.results import MethodResult
from optcache.schedule import Schedule
from optcache.solvers.registry import register
from optcache.solvers.serve import request_order, serve_slot

POLICIES = ("laot", "fifo", "lru", "lfu")
"""Eviction orders of §8, smallest key first: κ after t-1, slot last loaded, last slot with
requests (never: 0), total requests over 1..t-1."""

MEMORY_SLACK = 1e-12
"""A pair fits if the memory in use stays within G·(1 + MEMORY_SLACK), as the budget in `serve`."""


def memory_used(mask: np.ndarray, s: np.ndarray) -> float:
    """Σ s over the pairs in `mask`, summed in pair order (the compiled version sums the same way)."""
    used = 0.0
    for q in range(mask.shape[0]):
        if mask[q]:
            used += s[q]
    return used


def eviction_key(policy: str, kappa: np.ndarray, loaded_at: np.ndarray, last_request: np.ndarray,
                 total_requests: np.ndarray) -> np.ndarray:
    """The §8 key of every pair at the start of a slot; victims go smallest first."""
    return {"laot": kappa, "fifo": loaded_at, "lru": last_request, "lfu": total_requests}[policy]


def check_policy(policy: str) -> None:
    """InvalidInput unless `policy` is one of `POLICIES`."""
    if policy not in POLICIES:
        raise InvalidInput("policy", f"unknown replacement policy {policy!r}; choose from {', '.join(POLICIES)}")


def replace_station(data: StationData, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """Run one replacement policy over a station's T slots from a cold start; a and x, float (T, P)."""
    check_policy(policy)
    require_station_data(data)
    T, P = data.R.shape
    st = State.cold(P)
    loaded_at = np.zeros(P)  # fifo: slot (1-based) in which the pair was last loaded
    last_request = np.zeros(P)  # lru: last slot with requests, 0 if none yet
    total_requests = np.zeros(P)  # lfu: requests over the slots so far, cached or not
    a = np.zeros((T, P))
    x = np.zeros((T, P))
    for t in range(T):
        R = data.R[t]
        key = eviction_key(policy, st.kappa, loaded_at, last_request, total_requests)
        a[t], x[t] = policy_slot(data, st, t, key)
        # 4. update K, κ (§4) and the policies' bookkeeping
        loaded_at[(a[t] > 0.5) & (st.cached < 0.5)] = t + 1
        st = step(st, a[t], x[t], data.k, data.delta)
        last_request[R > 0] = t + 1
        total_requests += R
    return a, x


def policy_slot(data: StationData, st: State, t: int, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3 of docs/formulation.md §8 at slot `t` from state `st`, victims by `key` (smallest
    first, ties by pair index): the one slot of every replacement policy; a and x, float (P,)."""
    P = data.P
    R = data.R[t]
    cached = st.cached > 0.5
    cap = data.G * (1.0 + MEMORY_SLACK)
    # 1. refresh: a requested cached pair whose context would overflow is unloaded
    unloaded = cached & (R > 0) & (st.K + data.k * R > data.w)
    cached &= ~unloaded
    # 2. admit, by decreasing R (ties by index); victims among cached pairs not yet admitted
    order = request_order(R)
    victims_order = np.lexsort((np.arange(P), key))
    admitted = np.zeros(P, bool)
    for p in order:
        if cached[p]:
            admitted[p] = True  # a cached pair stays
            continue
        if unloaded[p]:
            continue  # unloaded in this slot: not loaded again before t+1
        if memory_used(cached, data.s) + data.s[p] > cap:
            candidates = cached & ~admitted
            if memory_used(cached & ~candidates, data.s) + data.s[p] > cap:
                continue  # even evicting every candidate would not make room: evict nothing
            for v in victims_order:
                if memory_used(cached, data.s) + data.s[p] <= cap:
                    break
                if candidates[v]:
                    cached[v] = False
                    unloaded[v] = True
        cached[p] = True
        admitted[p] = True
    # 3. serve all-or-nothing, in the same order
    x = serve_slot(order, cached, R, st.K, data.k, data.w, data.flops_per_request, data.E)
    return cached.astype(float), x


def laot_slot(data: StationData, st: State, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-AoT's decision for slot `t` from any feasible state (its eviction key, κ, is part of
    the state): what `slot` and `rolling` do in the slots left when their time limit is used up."""
    require_station_data(data)
    st = State.check(st, data.P, "st")
    return policy_slot(data, st, check_index(t, data.T, "t", "slot"), st.kappa)


def _run(inst: Instance, policy: str) -> MethodResult:
    from optcache.solvers.policies_fast import replace_instance

    t0 = time.perf_counter()
    sched = Schedule.from_arrays(replace_instance(inst, policy))
    return MethodResult.from_schedule(inst, policy, sched, time.perf_counter() - t0)


@register("laot")
def laot(inst: Instance) -> MethodResult:
    """Least age of thought (Algorithm 1): evict the cached pair with the smallest AoT first."""
    return _run(inst, "laot")


@register("fifo")
def fifo(inst: Instance) -> MethodResult:
    """First in, first out: evict the pair loaded longest ago first."""
    return _run(inst, "fifo")


@register("lru")
def lru(inst: Instance) -> MethodResult:
    """Least recently used: evict the pair whose last requests are oldest first."""
    return _run(inst, "lru")


@register("lfu")
def lfu(inst: Instance) -> MethodResult:
    """Least frequently used: evict the pair with the fewest requests so far first."""
    return _run(inst, "lfu")
