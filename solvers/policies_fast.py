"""The §8 replacement policies compiled with numba, over a batch of stations at once.

Same arithmetic, in the same order, as the reference `policies.replace_station`, so the two give
identical schedules (tests/test_policies_fast.py); this one runs ~100× faster. The kernel keeps its
own copy of (18)-(19) (`dynamics.aged_kappa`), held equal to the reference by those tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from optcache.instance import Instance, StationData
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
def _station(policy, R, s, k, w, delta, fpr, G, E, a_out, x_out):
    """One station: R (T, P); writes a_out (int8) and x_out (int64), both (T, P)."""
    T, P = R.shape
    cached = np.zeros(P, np.bool_)
    was = np.zeros(P, np.bool_)
    unloaded = np.zeros(P, np.bool_)
    admitted = np.zeros(P, np.bool_)
    K = np.zeros(P)
    kappa = np.zeros(P)
    loaded_at = np.zeros(P)
    last_request = np.zeros(P)
    total = np.zeros(P)
    key = np.zeros(P)
    order = np.empty(P, np.int64)
    cap = G * (1.0 + MEMORY_SLACK)
    budget = E * (1.0 + 1e-12)
    for t in range(T):
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


@njit(cache=True)
def replace_batch(policy, R, s, k, w, delta, fpr, G, E):
    """Stations b = 0..B-1: R (B, T, P) int64; s, k, w, delta, fpr (B, P); G, E (B,).

    Returns a (B, T, P) int8 and x (B, T, P) int64.
    """
    B, T, P = R.shape
    a = np.zeros((B, T, P), np.int8)
    x = np.zeros((B, T, P), np.int64)
    for b in range(B):
        _station(policy, R[b], s[b], k[b], w[b], delta[b], fpr[b], G[b], E[b], a[b], x[b])
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
    a, x = replace_stations([inst.station_data(n) for n in range(inst.n_stations)], policy)
    return [(a[n].astype(float), x[n].astype(float)) for n in range(inst.n_stations)]
