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

import logging
import time

import numpy as np
from numba import njit

from optcache.solvers.highs import quiet_highs
from optcache.solvers.lagrange.boxlp import BoxLP

log = logging.getLogger(__name__)

ALPHA_BOX = 1e3
"""Bound on each cut coefficient in the separation LP (keeps it bounded before it has points)."""

DENSE_DIMS = 64
"""Separation LPs with at most this many coordinates are solved by `boxlp.BoxLP`, larger ones by
HiGHS (a dense pivot costs D³; the slot polytope has 2P coordinates, an option polytope hundreds)."""

MAX_ORACLE_CALLS = 500
"""Oracle calls per separation before giving up on a slot (never reached in practice)."""


@njit(cache=True)
def _memory_bound(order, first, s, value, mem):
    """Memory relaxed to a fractional knapsack: the pairs order[first:] (by value per GB, best
    first), each at `value`, within `mem` GB. An upper bound of the rest of a slot's branch and
    bound in `slot_max` and `option_max`."""
    ub = 0.0
    r = mem
    for k in range(first, len(order)):
        q = order[k]
        if s[q] <= r:
            ub += value[q]
            r -= s[q]
        else:
            ub += value[q] * r / s[q]
            break
    return ub


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
    # the budget's fractional knapsack of the pairs below a node: their best 'on' values plus
    # ν_p per FLOP in one order (value per FLOP, best first), skipping the pairs above the node
    pos = np.empty(P, np.int64)
    for i in range(m):
        pos[order[i]] = i
    ratios = np.empty(m)
    for i in range(m):
        q = order[i]
        ratios[i] = -1.0 if nu[q] <= 0 else (1e300 if fl[q] <= 0 else nu[q] / fl[q])
    border = order[np.argsort(-ratios)]
    mu_below = np.zeros(m + 1)  # Σ max(μ, 0) over order[i:]
    for i in range(m - 1, -1, -1):
        mu_below[i] = mu_below[i + 1] + max(mu[order[i]], 0.0)
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
        ub1 = _memory_bound(order, i + 1, s, vbest, mem)  # budget ignored
        ub2 = mu_below[i + 1]  # budget relaxed to a fractional knapsack (memory ignored)
        rb = bud
        for jj in range(m):
            q = border[jj]
            if pos[q] <= i:
                continue
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


class _TargetLP:
    """The separation LP of target cuts, shared by both separators: max α·(q̄ − q0) s.t.
    α·(q − q0) ≤ 1 over the points found so far, |α| ≤ ALPHA_BOX. Its columns are the coordinates
    `dims` (α is 0 elsewhere): up to DENSE_DIMS of them a `boxlp.BoxLP`, else (or if its pivots
    fail) a persistent HiGHS LP. `separate` asks the separator's exact oracle for the point that
    each α's constraint misses, until α is valid on every point or q̄ is inside their hull."""

    def __init__(self, q0: np.ndarray, points, dims: np.ndarray):
        self.q0, self.dims = np.asarray(q0, float), np.asarray(dims, np.int64)
        D = len(self.dims)
        self.dense = BoxLP(D, ALPHA_BOX) if 0 < D <= DENSE_DIMS else None
        self.h = None
        if self.dense is None:
            self._highs(np.zeros((0, D)))
        for q in points:
            self.add(q)

    def _highs(self, rows: np.ndarray) -> None:
        """Switch to a HiGHS LP holding `rows`."""
        D = len(self.dims)
        self.dense = None
        self.hs, self.h = quiet_highs()
        if D:
            self.h.addCols(D, np.zeros(D), np.full(D, -ALPHA_BOX), np.full(D, ALPHA_BOX), 0,
                           np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        for r in rows:
            self._highs_row(r)

    def _highs_row(self, r: np.ndarray) -> None:
        nz = np.nonzero(r)[0]
        self.h.addRow(-self.hs.kHighsInf, 1.0, len(nz), nz.astype(np.int32), r[nz])

    def add(self, q: np.ndarray) -> None:
        r = (q - self.q0)[self.dims]
        if self.dense is not None:
            self.dense.add(r)
        else:
            self._highs_row(r)

    def _solve(self, c: np.ndarray, left: float):
        """(α over `dims`, c·α) at the LP's optimum, or None (HiGHS out of `left` seconds)."""
        if self.dense is not None:
            got = self.dense.solve(c)
            if got is not None:
                return got
            log.debug("dense separation LP failed; switching this polytope to HiGHS")
            self._highs(self.dense.R[:self.dense.m])
        D, h = len(self.dims), self.h
        h.changeColsCost(D, np.arange(D, dtype=np.int32), -c)
        h.setOptionValue("time_limit", float(min(left, 1e30)))
        h.run()
        if h.getModelStatus() != self.hs.HighsModelStatus.kOptimal:
            return None
        return np.asarray(h.getSolution().col_value, float), -h.getInfo().objective_function_value

    def separate(self, qb: np.ndarray, oracle, tol: float, deadline: float):
        """(α, γ, violation/‖α‖₁) of a cut α·q ≤ γ that qb violates, or None (also when `deadline`, a
        `time.perf_counter()` value, passes: each LP gets the time left). `oracle(α)` returns
        (max α·q over the polytope's points, a maximiser); γ is that exact maximum."""
        if len(self.dims) == 0:
            return None
        c = (qb - self.q0)[self.dims]
        for _ in range(MAX_ORACLE_CALLS):
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            got = self._solve(c, left)
            if got is None:
                return None
            alpha, obj = got
            if obj <= 1 + tol:
                return None  # q̄ is (up to tol) inside the hull of the points: no cut
            coef = np.zeros(len(self.q0))
            coef[self.dims] = alpha
            val, q = oracle(coef)
            if val - coef @ self.q0 <= 1 + 1e-9:  # α is valid on every point: a cut
                gamma = float(val)
                viol = float(coef @ qb) - gamma
                if viol <= tol * max(1.0, abs(gamma)):
                    return None
                return coef, gamma, viol / (np.abs(coef).sum() + 1e-12)
            self.add(q)
        return None


class TargetSeparator:
    """Target cuts for one slot's polytope: max α·(q̄ − q0) s.t. α·(q − q0) ≤ 1 over its points q,
    with q0 an interior point (the mean of 0 and the single-pair points). The points are found by
    `slot_max` as they are needed and kept for later calls (`_TargetLP`, one per polytope). A
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
        dims = [i for i in range(2 * P) if can[i % P] and (i < P or self.xcap[i - P] > 0)]
        self.lp = _TargetLP(np.mean(pts, axis=0), pts, np.array(dims, np.int64))

    def _oracle(self, coef: np.ndarray):
        """`slot_max` for α = coef over (a, x): (its maximum, the maximiser)."""
        P = self.P
        val, z, y = slot_max(coef[:P].copy(), coef[P:].copy(), self.s, self.fl, self.xcap, self.G, self.E)
        return val, np.concatenate([z, y])

    def cut(self, a_bar: np.ndarray, x_bar: np.ndarray, tol: float = 1e-6, deadline: float = np.inf):
        """A cut (α over a, β over x, γ, violation/‖(α, β)‖₁) that (a_bar, x_bar) violates, or None
        (also when `deadline`, a `time.perf_counter()` value, passes: each LP gets the time left)."""
        found = self.lp.separate(np.concatenate([a_bar, x_bar]), self._oracle, tol, deadline)
        if found is None:
            return None
        coef, gamma, viol = found
        return coef[:self.P].copy(), coef[self.P:].copy(), gamma, viol


# ---------------------------------------------------------------------- the slot's option polytope
# The cuts above see the master's means (ā[t], x̄[t]), which cannot tell a pair whose columns serve
# 0 and 10 requests with weights ½ each from one that serves 5 in both. In the option space, one
# coordinate o[p][j] per pair and count (the master's weight on p's columns that are cached and
# serve j in slot t; 'off' is the rest), a feasible slot is a point with at most one 1 per pair
# within (3) and (5), and the master's point must lie in their convex hull: a stronger condition
# (with a budget of 10, pair 1 at 0 or 10 and pair 2 at 5 have x̄ summing to 10 but no joint slot).
# docs/formulation.md §6.1 ("Option cuts").

MAX_OPTION_DIMS = 1000
"""Option coordinates (Σ_p of the counts a pair can serve, + 1) above which a slot gets no option
cuts: the separation LP grows with them, and the pair graphs price each count anyway."""


@njit(cache=True)
def option_max(W, s, fl, xcap, G, E):
    """max Σ_p W[p, j_p] over the slot's points, a pair either off (value 0) or cached serving
    j_p ≤ xcap[p]; returns (value, choice) with choice[p] = j_p or −1 for off.

    Depth-first branch and bound over the pairs, each trying its counts best value first, then
    off; the bound of the rest is the smaller of memory's fractional knapsack (each pair at its
    best value) and the budget's multiple-choice LP (each pair's counts on their concave envelope
    of value against FLOP)."""
    P = W.shape[0]
    choice = np.full(P, -1, np.int64)
    J = W.shape[1]
    vb = np.zeros(P)
    nopt = np.zeros(P, np.int64)
    optj = np.zeros((P, J), np.int64)
    for p in range(P):
        if s[p] > G:
            continue
        cnt = 0
        for j in range(min(xcap[p], J - 1) + 1):
            if W[p, j] > 0 and fl[p] * j <= E:
                optj[p, cnt] = j
                cnt += 1
        if cnt == 0:
            continue
        vals = np.empty(cnt)
        for c in range(cnt):
            vals[c] = W[p, optj[p, c]]
        srt = np.argsort(-vals)
        tmp = optj[p, :cnt].copy()
        for c in range(cnt):
            optj[p, c] = tmp[srt[c]]
        nopt[p] = cnt
        vb[p] = vals[srt[0]]
    m = 0
    cand = np.empty(P, np.int64)
    for p in range(P):
        if nopt[p] > 0:
            cand[m] = p
            m += 1
    if m == 0:
        return 0.0, choice
    cand = cand[:m]
    dens = np.empty(m)
    for i in range(m):
        p = cand[i]
        dens[i] = vb[p] / s[p] if s[p] > 0 else 1e300
    order = cand[np.argsort(-dens)]
    pos = np.full(P, -1, np.int64)
    for i in range(m):
        pos[order[i]] = i
    # each pair's upper concave envelope of (FLOP, value) from (0, max(W[p,0], 0)), as segments;
    # all segments sorted by slope (the budget LP's greedy order)
    start = np.zeros(P)
    seg_p = np.empty(m * J, np.int64)
    seg_w = np.empty(m * J)
    seg_v = np.empty(m * J)
    ns = 0
    for i in range(m):
        p = order[i]
        v0 = 0.0
        for c in range(nopt[p]):
            if optj[p, c] == 0:
                v0 = W[p, 0]
        start[p] = v0
        if fl[p] <= 0:
            start[p] = vb[p]
            continue
        cw, cv = 0.0, v0
        while True:
            best_slope, bj = 0.0, -1
            for c in range(nopt[p]):
                j = optj[p, c]
                w = fl[p] * j
                if w <= cw:
                    continue
                sl = (W[p, j] - cv) / (w - cw)
                if sl > best_slope or (sl == best_slope and bj >= 0 and w > fl[p] * bj):
                    best_slope, bj = sl, j
            if bj < 0:
                break
            seg_p[ns] = p
            seg_w[ns] = fl[p] * bj - cw
            seg_v[ns] = W[p, bj] - cv
            ns += 1
            cw, cv = fl[p] * bj, W[p, bj]
    slopes = np.empty(ns)
    for k in range(ns):
        slopes[k] = seg_v[k] / seg_w[k]
    sorder = np.argsort(-slopes)
    best = 0.0
    bch = np.full(m, -1, np.int64)
    cch = np.full(m, -1, np.int64)
    opt = np.full(m + 1, -1, np.int64)
    memk = np.zeros(m + 1)
    budk = np.zeros(m + 1)
    valk = np.zeros(m + 1)
    memk[0] = G
    budk[0] = E
    i = 0
    while i >= 0:
        p = order[i]
        opt[i] += 1
        o = opt[i]
        if o > nopt[p]:  # options: counts best value first, then off
            i -= 1
            continue
        if o == nopt[p]:
            jj, zz = -1, 0
        else:
            jj, zz = optj[p, o], 1
        mem = memk[i] - zz * s[p]
        bud = budk[i] - (fl[p] * jj if zz else 0.0)
        if mem < 0 or bud < 0:
            continue
        val = valk[i] + (W[p, jj] if zz else 0.0)
        cch[i] = jj
        if val > best:
            best = val
            for k in range(m):
                bch[k] = cch[k] if k <= i else -1
        if i + 1 >= m:
            continue
        ub1 = _memory_bound(order, i + 1, s, vb, mem)  # budget ignored
        ub2 = 0.0  # budget: the multiple-choice LP of the rest
        for k in range(i + 1, m):
            ub2 += start[order[k]]
        rb = bud
        for k in range(ns):
            sg = sorder[k]
            if pos[seg_p[sg]] <= i:
                continue
            if seg_w[sg] <= rb:
                ub2 += seg_v[sg]
                rb -= seg_w[sg]
            else:
                ub2 += seg_v[sg] * rb / seg_w[sg]
                break
        if val + min(ub1, ub2) <= best + 1e-12 * max(1.0, abs(best)):
            continue
        i += 1
        opt[i] = -1
        memk[i] = mem
        budk[i] = bud
        valk[i] = val
    for k in range(m):
        choice[order[k]] = bch[k]
    return best, choice


class OptionSeparator:
    """Target cuts of one slot's option polytope (the comment above): the same LP as
    `TargetSeparator` over the coordinates o[p][j] (pairs that fit in memory, counts within the
    budget), with `option_max` as the oracle and q0 the mean of 'all off' and the single-pair
    points. A cut is a (P, J + 1) table α[p][j] (the coefficient of 'p cached serving j'; 'off' has
    0) and γ with Σ_p α[p][j_p] ≤ γ at every point; γ is the oracle's exact maximum."""

    def __init__(self, s: np.ndarray, fl: np.ndarray, xcap: np.ndarray, G: float, E: float):
        self.s, self.fl = np.asarray(s, float), np.asarray(fl, float)
        self.xcap, self.G, self.E = np.asarray(xcap, np.int64), float(G), float(E)
        P = len(self.s)
        self.P = P
        top = np.zeros(P, np.int64) - 1  # each pair's largest count alone (−1: never cached)
        for p in range(P):
            if self.s[p] <= self.G:
                j = int(self.xcap[p])
                while j > 0 and self.fl[p] * j > self.E:
                    j -= 1
                top[p] = j
        self.J = int(max(top.max(initial=-1), 0))
        self.coords = [(p, j) for p in range(P) for j in range(top[p] + 1)]
        self.index = {c: i for i, c in enumerate(self.coords)}
        D = len(self.coords)
        self.D = D if D <= MAX_OPTION_DIMS else 0
        if not self.D:
            return
        pts = [np.zeros(D)]
        for i in range(D):
            q = np.zeros(D)
            q[i] = 1.0
            pts.append(q)
        self.lp = _TargetLP(np.mean(pts, axis=0), pts, np.arange(D))

    def point(self, weights: np.ndarray) -> np.ndarray:
        """The coordinates of (P, J + 1) weights w[p][j] (the master's weight on 'p serves j')."""
        return np.array([weights[p, j] for p, j in self.coords])

    def _table(self, alpha: np.ndarray) -> np.ndarray:
        """α over the coordinates as the (P, J + 1) table α[p][j] ('off' and counts outside: 0)."""
        table = np.zeros((self.P, self.J + 1))
        for i, (p, j) in enumerate(self.coords):
            table[p, j] = alpha[i]
        return table

    def _oracle(self, alpha: np.ndarray):
        """`option_max` for α: (its maximum, the maximiser's coordinates)."""
        val, choice = option_max(self._table(alpha), self.s, self.fl, self.xcap, self.G, self.E)
        q = np.zeros(self.D)
        for p in range(self.P):
            if choice[p] >= 0:
                q[self.index[(p, int(choice[p]))]] = 1.0
        return val, q

    def cut(self, weights: np.ndarray, tol: float = 1e-6, deadline: float = np.inf):
        """A cut (table α of shape (P, J + 1), γ, violation/‖α‖₁) that the master's option weights
        (P, J + 1) violate, or None (also when `deadline`, a `time.perf_counter()` value, passes)."""
        if self.D == 0:  # too many coordinates: no LP was built
            return None
        found = self.lp.separate(self.point(weights), self._oracle, tol, deadline)
        if found is None:
            return None
        alpha, gamma, viol = found
        return self._table(alpha), gamma, viol
