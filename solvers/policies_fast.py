"""The §8 replacement policies compiled with numba, over a batch of stations at once.

Same arithmetic, in the same order, as the reference `policies.replace_station`, so the two give
identical schedules (tests/test_policies_fast.py); this one runs ~100× faster. The kernel keeps its
own copy of (18)-(19) (`dynamics.aged_kappa`), held equal to the reference by those tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from optcache.dynamics import State
from optcache.instance import (
    Instance,
    StationData,
    check_index,
    require_instance,
    require_station_data,
)
from optcache.solvers.policies import MEMORY_SLACK, POLICIES, check_policy

POLICY_CODE = {name: i for i, name in enumerate(POLICIES)}
"""laot 0, fifo 1, lru 2, lfu 3: the compiled kernel takes the policy as an integer."""


@njit(cache=True)
def _memory(cached, s, skip_admitted, admitted):
    used = 0.0
    for q in range(cached.shape[0]):
        if cached[q] and (not skip_admitted or admitted[q]):
            used += s[q]
    return used


@njit(cache=True)
def _station(policy, R, s, k, w, delta, fpr, G, E, a_out, x_out, t0, cached0, K0, kappa0, K_out,
             kappa_out):
    """One station from slot t0 in state (cached0, K0, kappa0): R (T, P); writes a_out (int8),
    x_out (int64) and the state after each slot, K_out and kappa_out (float), all (T, P), from row
    t0 on. The bookkeeping of fifo, lru and lfu starts empty: only laot's key (κ) is in a state."""
    T, P = R.shape
    cached = cached0.copy()
    was = np.zeros(P, np.bool_)
    unloaded = np.zeros(P, np.bool_)
    admitted = np.zeros(P, np.bool_)
    K = K0.copy()
    kappa = kappa0.copy()
    loaded_at = np.zeros(P)
    last_request = np.zeros(P)
    total = np.zeros(P)
    key = np.zeros(P)
    order = np.empty(P, np.int64)
    cap = G * (1.0 + MEMORY_SLACK)
    budget = E * (1.0 + 1e-12)
    for t in range(t0, T):
        # 1. refresh
        for p in range(P):
            was[p] = cached[p]
            admitted[p] = False
            unloaded[p] = cached[p] and R[t, p] > 0 and K[p] + k[p] * R[t, p] > w[p]
            if unloaded[p]:
                cached[p] = False
        # request order: decreasing R, ties by index (insertion sort, stable)
        n = 0
        for p in range(P):
            if R[t, p] > 0:
                j = n
                while j > 0 and R[t, order[j - 1]] < R[t, p]:
                    order[j] = order[j - 1]
                    j -= 1
                order[j] = p
                n += 1
        for p in range(P):
            if policy == 0:
                key[p] = kappa[p]
            elif policy == 1:
                key[p] = loaded_at[p]
            elif policy == 2:
                key[p] = last_request[p]
            else:
                key[p] = total[p]
        # 2. admit
        for i in range(n):
            p = order[i]
            if cached[p]:
                admitted[p] = True
                continue
            if unloaded[p]:
                continue
            if _memory(cached, s, False, admitted) + s[p] > cap:
                if _memory(cached, s, True, admitted) + s[p] > cap:
                    continue
                # evict candidates (cached, not admitted) smallest key first, ties by index
                while _memory(cached, s, False, admitted) + s[p] > cap:
                    v = -1
                    for q in range(P):
                        if cached[q] and not admitted[q] and (v < 0 or key[q] < key[v]):
                            v = q
                    cached[v] = False
                    unloaded[v] = True
            cached[p] = True
            admitted[p] = True
        # 3. serve all-or-nothing, same order
        used = 0.0
        for p in range(P):
            x_out[t, p] = 0
            a_out[t, p] = 1 if cached[p] else 0
        for i in range(n):
            p = order[i]
            if not cached[p]:
                continue
            need = fpr[p] * R[t, p]
            if used + need <= budget and K[p] + k[p] * R[t, p] <= w[p]:
                x_out[t, p] = R[t, p]
                used += need
        # 4. update (§4) and bookkeeping
        for p in range(P):
            ap = 1.0 if cached[p] else 0.0
            add = k[p] * x_out[t, p]
            K[p] = ap * (K[p] + add)
            kappa[p] = ap * max(kappa[p] + add - delta[p], 0.0)
            if cached[p] and not was[p]:
                loaded_at[p] = t + 1
            if R[t, p] > 0:
                last_request[p] = t + 1
            total[p] += R[t, p]
            K_out[t, p] = K[p]
            kappa_out[t, p] = kappa[p]


@njit(cache=True)
def replace_batch(policy, R, s, k, w, delta, fpr, G, E):
    """Stations b = 0..B-1: R (B, T, P) int64; s, k, w, delta, fpr (B, P); G, E (B,).

    Returns a (B, T, P) int8 and x (B, T, P) int64.
    """
    B, T, P = R.shape
    a = np.zeros((B, T, P), np.int8)
    x = np.zeros((B, T, P), np.int64)
    none, zero, K, kappa = np.zeros(P, np.bool_), np.zeros(P), np.empty((T, P)), np.empty((T, P))
    for b in range(B):
        _station(policy, R[b], s[b], k[b], w[b], delta[b], fpr[b], G[b], E[b], a[b], x[b], 0, none,
                 zero, zero, K, kappa)
    return a, x


def stack(stations: list[StationData]) -> tuple:
    """The batch arguments of `replace_batch` for stations sharing T and P."""
    f = np.ascontiguousarray
    return (f(np.stack([d.R for d in stations]).astype(np.int64)),
            *(f(np.stack([getattr(d, name) for d in stations]), dtype=float)
              for name in ("s", "k", "w", "delta")),
            f(np.stack([d.flops_per_request for d in stations]), dtype=float),
            np.array([d.G for d in stations], float), np.array([d.E for d in stations], float))


def replace_stations(stations: list[StationData], policy: str) -> tuple[np.ndarray, np.ndarray]:
    """Run one policy on many stations of equal shape; a (B, T, P) int8, x (B, T, P) int64."""
    check_policy(policy)
    return replace_batch(POLICY_CODE[policy], *stack(stations))


def replace_instance(inst: Instance, policy: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per station of `inst`, the policy's (a, x) as float arrays (T, P)."""
    require_instance(inst)
    a, x = replace_stations([inst.station_data(n) for n in range(inst.n_stations)], policy)
    return [(a[n].astype(float), x[n].astype(float)) for n in range(inst.n_stations)]


def laot_from(data: StationData, st: State, t0: int) -> tuple[np.ndarray, np.ndarray, State]:
    """Least-AoT from state `st` at slot `t0` to the end, compiled: the same decisions as
    `policies.laot_slot` slot by slot (tests/test_policies_fast.py). Float a and x of shape
    (T - t0, P) and the states before those slots (a State of (T - t0, P) arrays): the time-limit
    fallback of `rolling` and `slot` (docs/formulation.md §7, §10), which slot by slot in Python
    took seconds on large instances."""
    require_station_data(data)
    st = State.check(st, data.P, "st")
    return _laot_from(data, st, check_index(t0, data.T, "t0", "slot"))


def _laot_from(data: StationData, st: State, t0: int) -> tuple[np.ndarray, np.ndarray, State]:
    """`laot_from` on arguments the caller has checked (rolling's windows, every slot)."""
    T, P = data.R.shape
    a = np.zeros((T, P), np.int8)
    x = np.zeros((T, P), np.int64)
    K = np.zeros((T, P))
    kappa = np.zeros((T, P))
    f = np.ascontiguousarray
    _station(POLICY_CODE["laot"], f(data.R, dtype=np.int64), f(data.s, dtype=float),
             f(data.k, dtype=float), f(data.w, dtype=float), f(data.delta, dtype=float),
             f(data.flops_per_request, dtype=float), float(data.G), float(data.E), a, x, int(t0),
             f(st.cached > 0.5), f(st.K, dtype=float), f(st.kappa, dtype=float), K, kappa)
    before = State(np.vstack([st.cached, a[t0:T - 1]]).astype(float), np.vstack([st.K, K[t0:T - 1]]),
                   np.vstack([st.kappa, kappa[t0:T - 1]]))
    return a[t0:].astype(float), x[t0:].astype(float), before


_loaded = False


def load_laot_from() -> None:
    """Load `laot_from`'s compiled kernel in this process (~0.5 s the first time, numba's start-up):
    `rolling` and `slot` call it before their first solve, so that a time limit also covers it
    instead of the fallback paying it after the deadline."""
    global _loaded
    if not _loaded:
        from optcache.scenario import generate

        d = generate(slots=2, services=2, gpus=2, stations=1, users=5, seed=0).station_data(0)
        laot_from(d, State.cold(d.P), 0)
        _loaded = True
