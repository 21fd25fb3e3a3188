"""The slot polytope: what memory (3) and the budget (5) allow in one slot, and cuts from it.

In slot t the cache and edge service (z, y) = (a[t], x[t]) of all pairs must satisfy
Σ s_p z_p ≤ G, Σ e_p k_p y_p ≤ E, 0 ≤ y_p ≤ xcap_p z_p, z binary, y integer (docs/formulation.md
§6). `slot_max` maximises any linear function over these points exactly (a small branch and bound),
and `TargetSeparator` turns that oracle into valid inequalities for their convex hull (target cuts,
Buchheim, Liers and Oswald 2008): the master LP over pair schedules then sees the slot's integrality,
which pricing memory and the budget by one multiplier each throws away. Every cut's right-hand side
is the oracle's exact maximum, so a cut never removes a schedule the evaluator accepts.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from optcache.solvers.highs import quiet_highs

ALPHA_BOX = 1e3
"""Bound on each cut coefficient in the separation LP (keeps it bounded before it has points)."""

MAX_ORACLE_CALLS = 500
"""Oracle calls per separation before giving up on a slot (never reached in practice)."""


@njit(cache=True)
def slot_max(mu, nu, s, fl, xcap, G, E):
    """max Σ μ_p z_p + ν_p y_p over the slot's points; returns (value, z, y).

    Depth-first branch and bound over the pairs, each taking 'off' or 'on serving j'; the bound of
    the rest is the smaller of its fractional-memory and fractional-budget relaxations."""
    P = len(mu)
    z = np.zeros(P)
    y = np.zeros(P)
    vbest = np.empty(P)
    for p in range(P):
        vbest[p] = mu[p] + max(nu[p], 0.0) * xcap[p]
    m = 0
    cand = np.empty(P, np.int64)
    for p in range(P):
        if vbest[p] > 0 and s[p] <= G:
            cand[m] = p
            m += 1
    if m == 0:
        return 0.0, z, y
    cand = cand[:m]
    dens = np.empty(m)
    for i in range(m):
        p = cand[i]
        dens[i] = vbest[p] / s[p] if s[p] > 0 else 1e300
    order = cand[np.argsort(-dens)]
    best = 0.0
    bz = np.zeros(m, np.int64)
    by = np.zeros(m, np.int64)
    cz = np.zeros(m, np.int64)
    cy = np.zeros(m, np.int64)
    opt = np.full(m + 1, -1, np.int64)
    memk = np.zeros(m + 1)
    budk = np.zeros(m + 1)
    valk = np.zeros(m + 1)
    memk[0] = G
    budk[0] = E
    ratios = np.empty(m)
    idx = np.empty(m, np.int64)
    i = 0
    while i >= 0:
        p = order[i]
        opt[i] += 1
        o = opt[i]
        n_on = xcap[p] + 1 if nu[p] > 0 else 1
        if o > n_on:  # options: on serving xcap..0 (or just 0), then off
            i -= 1
            continue
        if o == n_on:
            zz, yy = 0, 0
        else:
            zz = 1
            yy = xcap[p] - o if nu[p] > 0 else 0
        mem = memk[i] - zz * s[p]
        bud = budk[i] - yy * fl[p]
        if mem < 0 or bud < 0:
            continue
        val = valk[i] + zz * mu[p] + yy * nu[p]
        cz[i] = zz
        cy[i] = yy
        if val > best:
            best = val
            for j in range(m):
                bz[j] = cz[j] if j <= i else 0
                by[j] = cy[j] if j <= i else 0
        if i + 1 >= m:
            continue
        ub1 = 0.0  # memory relaxed to a fractional knapsack (budget ignored)
        r = mem
        for j in range(i + 1, m):
            q = order[j]
            if s[q] <= r:
                ub1 += vbest[q]
                r -= s[q]
            else:
                ub1 += vbest[q] * r / s[q]
                break
        ub2 = 0.0  # budget relaxed to a fractional knapsack (memory ignored)
        k = m - i - 1
        for j in range(k):
            q = order[i + 1 + j]
            idx[j] = q
            ub2 += max(mu[q], 0.0)
            if nu[q] <= 0:
                ratios[j] = -1.0
            elif fl[q] <= 0:
                ratios[j] = 1e300
            else:
                ratios[j] = nu[q] / fl[q]
        srt = np.argsort(-ratios[:k])
        rb = bud
        for jj in range(k):
            q = idx[srt[jj]]
            if nu[q] <= 0:
                break
            if fl[q] <= 0:
                ub2 += nu[q] * xcap[q]
                continue
            take = min(float(xcap[q]), rb / fl[q])
            ub2 += take * nu[q]
            rb -= take * fl[q]
            if rb <= 0:
                break
        if val + min(ub1, ub2) <= best + 1e-12 * max(1.0, abs(best)):
            continue
        i += 1
        opt[i] = -1
        memk[i] = mem
        budk[i] = bud
        valk[i] = val
    for j in range(m):
        z[order[j]] = bz[j]
        y[order[j]] = by[j]
    return best, z, y


INITIAL_COUNTS = 64
"""Request counts per pair in a separator's first inner description: every count up to this
many, else this many spread geometrically from 1 to the most the budget allows (with 10⁵
requests a slot, all counts made an LP of 10⁵ rows per pair that ran past any time limit)."""


def _first_counts(xcap: int, fl: float, E: float) -> list[int]:
    """Counts j ≥ 1 of one pair's requests for the initial points: j·fl ≤ E, j ≤ xcap."""
    top = xcap if fl <= 0 else min(xcap, int(E // fl) if np.isfinite(E) else xcap)
    while top > 0 and fl * top > E:  # E // fl rounds; the test below is the one that counts
        top -= 1
    if top <= INITIAL_COUNTS:
        return list(range(1, top + 1))
    return sorted({int(round(v)) for v in np.geomspace(1, top, INITIAL_COUNTS)})


class TargetSeparator:
    """Target cuts for one slot's polytope: max α·(q̄ − q0) s.t. α·(q − q0) ≤ 1 over its points q,
    with q0 an interior point (the mean of 0 and the single-pair points). The points are found by
    `slot_max` as they are needed and kept for later calls (a persistent HiGHS LP per slot). A
    value above 1 gives the cut α·q ≤ max_q α·q, which q̄ violates; its right-hand side is the
    oracle's exact maximum."""

    def __init__(self, s: np.ndarray, fl: np.ndarray, xcap: np.ndarray, G: float, E: float):
        self.s, self.fl = np.asarray(s, float), np.asarray(fl, float)
        self.xcap, self.G, self.E = np.asarray(xcap, np.int64), float(G), float(E)
        P = len(s)
        self.P = P
        can = self.s <= self.G
        pts = [np.zeros(2 * P)]
        for p in np.nonzero(can)[0]:
            q = np.zeros(2 * P)
            q[p] = 1.0
            pts.append(q)
            for j in _first_counts(int(self.xcap[p]), self.fl[p], self.E):
                q = q.copy()
                q[P + p] = j
                pts.append(q)
        self.q0 = np.mean(pts, axis=0)
        self.dims = np.array([i for i in range(2 * P)
                              if can[i % P] and (i < P or self.xcap[i - P] > 0)], np.int64)
        self.hs, self.h = quiet_highs()
        D = len(self.dims)
        if D:
            self.h.addCols(D, np.zeros(D), np.full(D, -ALPHA_BOX), np.full(D, ALPHA_BOX), 0,
                           np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        for q in pts:
            self._add_point(q)

    def _add_point(self, q: np.ndarray) -> None:
        r = (q - self.q0)[self.dims]
        nz = np.nonzero(r)[0]
        self.h.addRow(-self.hs.kHighsInf, 1.0, len(nz), nz.astype(np.int32), r[nz])

    def cut(self, a_bar: np.ndarray, x_bar: np.ndarray, tol: float = 1e-6, deadline: float = np.inf):
        """A cut (α over a, β over x, γ, violation/‖(α, β)‖₁) that (a_bar, x_bar) violates, or None
        (also when `deadline`, a `time.perf_counter()` value, passes: each LP gets the time left)."""
        D = len(self.dims)
        if D == 0:
            return None
        P, h = self.P, self.h
        qb = np.concatenate([a_bar, x_bar])
        h.changeColsCost(D, np.arange(D, dtype=np.int32), -(qb - self.q0)[self.dims])
        for _ in range(MAX_ORACLE_CALLS):
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            h.setOptionValue("time_limit", float(min(left, 1e30)))
            h.run()
            if h.getModelStatus() != self.hs.HighsModelStatus.kOptimal:
                return None
            if -h.getInfo().objective_function_value <= 1 + tol:
                return None  # q̄ is (up to tol) inside the hull of the points: no cut
            coef = np.zeros(2 * P)
            coef[self.dims] = np.asarray(h.getSolution().col_value, float)
            val, z, y = slot_max(coef[:P].copy(), coef[P:].copy(), self.s, self.fl, self.xcap,
                                 self.G, self.E)
            if val - coef @ self.q0 <= 1 + 1e-9:  # α is valid on every point: a cut
                gamma = float(val)
                viol = float(coef @ qb) - gamma
                if viol <= tol * max(1.0, abs(gamma)):
                    return None
                return coef[:P].copy(), coef[P:].copy(), gamma, viol / (np.abs(coef).sum() + 1e-12)
            self._add_point(np.concatenate([z, y]))
        return None
