"""Primal heuristics: feasible schedules from pair DPs within the capacity the other pairs leave.

Every schedule here is feasible by construction and is scored by the evaluator before it becomes
an incumbent (`search.Search.offer`).
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from optcache.dynamics import State, trajectory
from optcache.evaluator import TOL, pair_costs
from optcache.instance import StationData
from optcache.solvers.lagrange.decomposition import Decomposition
from optcache.solvers.lagrange.graph import PairBounds, served_within


def residual_bounds(dec: Decomposition, A: np.ndarray, X: np.ndarray, p: int,
                    bounds: PairBounds | None = None) -> PairBounds:
    """Bounds on pair p so that memory (3) and the budget (5) hold with the other pairs as they are."""
    d = dec.d
    fl = d.flops_per_request
    b = PairBounds.free(d.T) if bounds is None else bounds.copy()
    other_fl = X @ fl - X[:, p] * fl[p]
    left = dec.E_cap - other_fl
    b.x_hi = served_within(left, fl[p], b.x_hi)
    other_mem = A @ d.s - A[:, p] * d.s[p]
    b.a_hi = np.where(other_mem + d.s[p] > dec.G_cap, 0, b.a_hi)
    return b


def local_search(dec: Decomposition, A: np.ndarray, X: np.ndarray, bounds=None, sweeps: int = 20):
    """Re-optimise one pair at a time (its exact DP, true cost) within the residual budget and
    memory left by the others. A feasible schedule stays feasible and never gets worse."""
    T = dec.d.T
    A, X = A.copy(), X.copy()
    cost = dec.pair_costs(A, X)
    zero = np.zeros(T)
    for _ in range(sweeps):
        improved = False
        for p, g in enumerate(dec.graphs):
            b = residual_bounds(dec, A, X, p, None if bounds is None else bounds[p])
            v, a, x = g.solve(zero, zero, b)
            if np.isfinite(v) and v / T < cost[p] - 1e-12 * max(1.0, abs(cost[p])):
                A[:, p], X[:, p], cost[p] = a, x, v / T
                improved = True
        if not improved:
            break
    return A, X


def pair_swaps(dec: Decomposition, A: np.ndarray, X: np.ndarray, deadline: float = np.inf):
    """2-opt on pairs: take two pairs out, put them back one after the other (each by its exact
    DP within what is left), both orders; keep the first improvement, then polish by
    `local_search`. Moves capacity (memory, budget) between pairs, which one-pair moves cannot."""
    d, T = dec.d, dec.d.T
    A, X = A.copy(), X.copy()
    cost = dec.pair_costs(A, X)
    zero = np.zeros(T)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for p, q in itertools.permutations(range(d.P), 2):
            if time.perf_counter() >= deadline:
                break
            A2, X2 = A.copy(), X.copy()
            A2[:, [p, q]] = 0.0
            X2[:, [p, q]] = 0.0
            new = 0.0
            for r in (p, q):
                v, a, x = dec.graphs[r].solve(zero, zero, residual_bounds(dec, A2, X2, r))
                A2[:, r], X2[:, r] = a, x
                new += v / T
            if new < cost[p] + cost[q] - 1e-12 * max(1.0, abs(cost[p] + cost[q])):
                A, X = local_search(dec, A2, X2)
                cost = dec.pair_costs(A, X)
                improved = True
                break
    return A, X


def sequential(dec: Decomposition, PA: np.ndarray, PX: np.ndarray, order, bounds=None, PO=None):
    """Pairs one after another, each by its DP at prices (PA, PX, and option prices PO) within
    what the earlier ones left; None if a pair finds no schedule (its bounds and the residual
    capacity conflict)."""
    d = dec.d
    T = d.T
    A, X = np.zeros((T, d.P)), np.zeros((T, d.P))
    for p in order:
        b = residual_bounds(dec, A, X, p, None if bounds is None else bounds[p])
        v, a, x = dec.graphs[p].solve(T * PX[:, p], T * PA[:, p], b, None if PO is None else T * PO[:, p])
        if not np.isfinite(v):
            return None
        A[:, p], X[:, p] = a, x
    return A, X


def future_cost(d: StationData, A: np.ndarray, X: np.ndarray, t1: int, p: int, terminal=None):
    """A window's terminal value for pair p when the rest of the plan (A, X) after slot t1−1 is
    kept: f(cached, K, κ) = the slot-sum cost of p's slots t1..T−1 of the plan from each end
    state (the evaluator's formulas, `pair_costs`), plus `terminal` at the state it ends in, inf
    where its context would overflow (28c). Memory and budget after the window do not depend on
    the end state."""
    fut = d.window(t1, d.T)
    a, x = A[t1:, p], X[t1:, p]
    memo: dict[tuple, np.ndarray] = {}  # one state at a time (the search's `tail`) recurs often

    def f(cached, K, kappa):
        n = len(np.atleast_1d(K))
        if fut.T == 0:
            return np.zeros(n)
        key = None
        if n == 1:
            key = (bool(np.ravel(cached)[0]), float(np.ravel(K)[0]), float(np.ravel(kappa)[0]))
            if key in memo:
                return memo[key].copy()
        rep = fut.pairs(np.full(n, p))
        st = State(np.asarray(cached, float).reshape(n), np.asarray(K, float).reshape(n),
                   np.asarray(kappa, float).reshape(n))
        Ar, Xr = np.repeat(a[:, None], n, axis=1), np.repeat(x[:, None], n, axis=1)
        cost = pair_costs(rep, Ar, Xr, st) * fut.T
        Kt, kt = trajectory(Ar, Xr, rep.k, rep.delta, st)
        ok = ~(Kt > rep.w * (1 + TOL) + TOL).any(axis=0)
        cost[~ok] = np.inf
        if terminal is not None and ok.any():  # an overflowed end state is no state of the tail
            cost[ok] += np.asarray(terminal(p, Ar[-1, ok] > 0.5, Kt[-1, ok], kt[-1, ok]), float)
        if key is not None:
            memo[key] = cost.copy()
        return cost

    return f
