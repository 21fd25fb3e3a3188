"""Exhaustive search over every schedule of a tiny station: the independent check of the MILP.

Each (t, p) has the options (a, x) ∈ {(0, 0), (1, 0), …, (1, R)}; all combinations are enumerated
in numpy, their dynamics (18)–(19), constraints and costs computed here from the formulas of
docs/formulation.md §4–§6 (not by the code under test), and the feasible minimum returned.
"""

from __future__ import annotations

import numpy as np

from optcache.instance import Instance, Model, Pair, Service, Station, StationData


def n_schedules(R: np.ndarray) -> int:
    return int(np.prod(R.astype(np.int64) + 2))


def brute_force(d: StationData, cached0=None, K0=None, kappa0=None,
                couple_until: int | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Minimum slot-average cost over all feasible schedules, and one schedule attaining it.

    The start is cold unless (cached0, K0, kappa0) give the cache, context and AoT carried in.
    With `couple_until` = h, memory (3) and the budget (5) hold only in slots 1..h (each pair
    alone must still meet them later): the problem a rolling window with a relaxed tail solves.
    """
    T, P = d.R.shape
    base = (d.R + 2).ravel()
    N = int(np.prod(base))
    idx = np.arange(N)
    A = np.zeros((N, T * P))
    X = np.zeros((N, T * P))
    stride = 1
    for c in range(T * P):
        digit = (idx // stride) % base[c]
        stride *= int(base[c])
        A[:, c] = digit > 0
        X[:, c] = np.maximum(digit - 1, 0)
    A = A.reshape(N, T, P)
    X = X.reshape(N, T, P)
    R = d.R.astype(float)
    ok = np.ones(N, bool)
    K = np.zeros((N, P)) + (0.0 if K0 is None else np.asarray(K0, float))
    kap = np.zeros((N, P)) + (0.0 if kappa0 is None else np.asarray(kappa0, float))
    prev = np.zeros((N, P)) + (0.0 if cached0 is None else np.asarray(cached0, float))
    cost = np.zeros(N)
    for t in range(T):
        a, x = A[:, t], X[:, t]
        K = a * (K + d.k * x)
        kap = a * np.maximum(kap + d.k * x - d.delta, 0.0)
        if couple_until is None or t < couple_until:
            ok &= (a @ d.s <= d.G + 1e-9) & (x @ (d.e * d.k) <= d.E * (1 + 1e-12) + 1e-9)
        else:
            ok &= ((a * d.s <= d.G + 1e-9) & (x * d.e * d.k <= d.E * (1 + 1e-12) + 1e-9)).all(axis=1)
        ok &= (K <= d.w + 1e-9).all(axis=1)
        cost += d.lam * np.maximum(a - prev, 0).sum(axis=1)
        cost += (R[t] * d.access).sum() + ((R[t] - x) * (d.d / d.rC + d.l0)).sum(axis=1)
        cost += (x * d.k * d.e / d.f).sum(axis=1)
        cost += (x * (1 - d.alpha) / np.log(1 / d.beta) / (kap + d.kappa0)).sum(axis=1)
        prev = a
    cost = np.where(ok, cost / T, np.inf)
    i = int(np.argmin(cost))
    return float(cost[i]), A[i], X[i]


def random_tiny(rng: np.random.Generator, max_schedules: int = 150_000) -> Instance:
    """A tiny one-station instance where memory, compute budget and context window can bind."""
    while True:
        T = int(rng.integers(2, 5))
        P = int(rng.integers(1, 4))
        R = rng.integers(0, 3, size=(T, P))
        if n_schedules(R) <= max_schedules:
            break
    models = tuple(Model(f"m{j}", float(rng.integers(1, 4)), float(rng.uniform(0.5, 2.0)),
                         int(rng.integers(20, 120))) for j in range(P))
    services = tuple(Service(f"s{i}", float(rng.uniform(0.5, 2.0)), int(rng.integers(5, 40)))
                     for i in range(P))
    pairs = tuple(Pair(i, i, float(rng.uniform(0.2, 0.9)), float(rng.uniform(0.3, 0.95)),
                       float(np.round(rng.uniform(0, 12), 3)), float(rng.uniform(0.05, 0.6)))
                  for i in range(P))
    mem = sum(m.memory_gb for m in models)
    flops = sum(p_m.flops_per_token * s.thought_tokens for p_m, s in zip(models, services, strict=False))
    st = Station("n0", float(rng.uniform(0.3, 1.1) * mem), float(rng.uniform(0.5, 3.0) * flops),
                 float(rng.uniform(200, 2000)), float(rng.uniform(5, 50)),
                 tuple(float(rng.uniform(0, 0.01)) for _ in range(P)), R)
    return Instance(T, float(rng.uniform(0.0, 0.4)), float(rng.choice([0.5, 1.0, 2.0])), models,
                    services, pairs, (st,))


def searched_tiny(seeds):
    """For each rng seed in `seeds` whose tiny station (`random_tiny`) couples its pairs (memory
    or the budget can bind), the `lagrange` search run to gap 1e-9, its certified bound and the
    brute-force optimum: (search, bound, optimum)."""
    from optcache.solvers.lagrange.search import Search

    for seed in seeds:
        d = random_tiny(np.random.default_rng(seed)).station_data(0)
        search = Search(d, None, np.inf, 1e-9)
        if search.dec.coupled:
            opt, _, _ = brute_force(d)
            yield search, search.run(), opt
