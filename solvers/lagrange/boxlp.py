"""The target-cut separation LP, max c·α s.t. R α ≤ 1, |α_j| ≤ B, solved in place by a dense
active-set simplex (docs/formulation.md §6.1, "The slot polytope").

The separation LP has few columns (two per pair: a slot's cache and serve coordinates, ≤ 2P) and
gains one row per oracle call, re-solved after each. HiGHS spends about a millisecond per re-solve
on set-up for the one or two pivots such a re-solve needs; here a pivot is one dense D × D
factorisation, three solves with it and a scan of the rows. A vertex is D active constraints (rows
or bounds); a new row moves it by dual simplex pivots, a new objective by primal ones (both with
Bland's rule after a run of degenerate pivots, and few of those: the rows' right-hand sides are
perturbed while pivoting, `PERTURB`). The LP only chooses which cut to ask the oracle
for: a cut's right-hand side is the oracle's exact maximum, so a vertex that is off by round-off
still gives a valid cut.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PRIMAL_TOL = 1e-10
"""Violation of a row (right-hand side about 1, `PERTURB`) or bound treated as none."""

DEGENERATE_RUN = 50
"""Degenerate pivots in a row after which pivots follow Bland's rule (no cycling)."""

PERTURB = 1e-9
"""While pivoting, row i's right-hand side is 1 + PERTURB·frac((i + 1)·φ), distinct amounts below
PERTURB: the oracle's points are lattice points, many of them on a vertex's rows, and with equal
right-hand sides nearly every primal pivot was degenerate (`slots=30, users=25`/101's root: 35
primal pivots per solve, 97 % of them degenerate; 2.8 with the perturbation, the root 78 → 19 s).
The optimal basis's vertex is then computed at right-hand sides 1, an optimum of the LP itself, so
that a cut's normal is a facet's: the perturbed vertex's normal is tilted, and with it a root that
closes without branching needed 120 nodes (benchmarks/RESULTS.md, "Thirty-fourth round")."""

OK, FAILED = 0, 1


@njit(cache=True)
def _rhs(i):
    """Row i's right-hand side (PERTURB)."""
    return 1.0 + PERTURB * (((i + 1) * 0.6180339887498949) % 1.0)


@njit(cache=True)
def _normal(i, R, D, out):
    """Constraint i's normal into `out`; returns a row's right-hand side (`_rhs`, positive) and −1.0
    for a bound (whose right-hand side is B). i ≥ 0: row i of R; i = −1−j: α_j ≤ B; i = −1−D−j: −α_j ≤ B."""
    out[:] = 0.0
    if i >= 0:
        out[:] = R[i]
        return _rhs(i)
    j = -1 - i
    if j < D:
        out[j] = 1.0
    else:
        out[j - D] = -1.0
    return -1.0  # marks a bound: the caller uses B


@njit(cache=True)
def _lu(A):
    """P·A = L·U by Gaussian elimination with partial pivoting, L (unit diagonal, below) and U in
    one matrix; (factors, perm, ok), with (P·b)[i] = b[perm[i]]."""
    n = A.shape[0]
    M = A.copy()
    perm = np.arange(n)
    scale = 0.0
    for i in range(n):
        for j in range(n):
            scale = max(scale, abs(M[i, j]))
    for k in range(n):
        p = k
        for i in range(k + 1, n):
            if abs(M[i, k]) > abs(M[p, k]):
                p = i
        if abs(M[p, k]) <= 1e-13 * max(scale, 1.0):
            return M, perm, False
        if p != k:
            for j in range(n):
                M[k, j], M[p, j] = M[p, j], M[k, j]
            perm[k], perm[p] = perm[p], perm[k]
        for i in range(k + 1, n):
            f = M[i, k] / M[k, k]
            M[i, k] = f
            if f != 0.0:
                for j in range(k + 1, n):
                    M[i, j] -= f * M[k, j]
    return M, perm, True


@njit(cache=True)
def _lu_solve(M, perm, b):
    """x with A·x = b from `_lu`'s factors: L·U·x = P·b."""
    n = len(b)
    x = np.empty(n)
    for i in range(n):
        s = b[perm[i]]
        for j in range(i):
            s -= M[i, j] * x[j]
        x[i] = s
    for i in range(n - 1, -1, -1):
        s = x[i]
        for j in range(i + 1, n):
            s -= M[i, j] * x[j]
        x[i] = s / M[i, i]
    return x


@njit(cache=True)
def _lu_solve_t(M, perm, c):
    """y with Aᵀ·y = c from `_lu`'s factors: Uᵀ·Lᵀ·(P·y) = c."""
    n = len(c)
    z = np.empty(n)
    for i in range(n):
        s = c[i]
        for j in range(i):
            s -= M[j, i] * z[j]
        z[i] = s / M[i, i]
    for i in range(n - 1, -1, -1):
        s = z[i]
        for j in range(i + 1, n):
            s -= M[j, i] * z[j]
        z[i] = s
    y = np.empty(n)
    for i in range(n):
        y[perm[i]] = z[i]
    return y


@njit(cache=True)
def _basis(active, R, D, B):
    """The active constraints' normals as rows of a D × D matrix, and their right-hand sides."""
    N = np.zeros((D, D))
    rhs = np.empty(D)
    a = np.empty(D)
    for k in range(D):
        r = _normal(active[k], R, D, a)
        N[k] = a
        rhs[k] = r if r > 0 else B
    return N, rhs


@njit(cache=True)
def _most_violated(alpha, R, m, D, B, active):
    """The constraint α violates most (its id, the violation), or (0, 0.0) when none does."""
    best, worst = 0, PRIMAL_TOL
    for i in range(m):
        v = 0.0
        for j in range(D):
            v += R[i, j] * alpha[j]
        v -= _rhs(i)
        if v > worst:
            best, worst = i, v
    for j in range(D):
        if alpha[j] - B > worst:
            best, worst = -1 - j, alpha[j] - B
        if -alpha[j] - B > worst:
            best, worst = -1 - D - j, -alpha[j] - B
    if worst <= PRIMAL_TOL:
        return 0, 0.0
    for k in range(D):  # an active constraint is never the one to enter (round-off)
        if active[k] == best:
            return 0, 0.0
    return best, worst


@njit(cache=True)
def _corner(c, active):
    """The box's corner that c points to (a dual-feasible vertex) into `active`."""
    D = len(c)
    for j in range(D):
        active[j] = -1 - j if c[j] >= 0 else -1 - D - j


@njit(cache=True)
def box_lp(R, m, c, B, active, max_iter):
    """max c·α s.t. R[:m] α ≤ 1, −B ≤ α ≤ B from the vertex of `active` (D constraint ids, updated
    in place; all bounds when it holds −D−1, which marks 'no vertex yet'); (status, α, c·α)."""
    D = len(c)
    cmax = 0.0
    for j in range(D):
        cmax = max(cmax, abs(c[j]))
    eps_d = 1e-12 * max(cmax, 1.0)
    if active[0] == -D - 1:  # no vertex yet
        _corner(c, active)
    a = np.empty(D)
    degenerate = 0
    for _ in range(max_iter):
        N, rhs = _basis(active, R, D, B)
        F, perm, ok = _lu(N)
        if not ok:
            return FAILED, np.zeros(D), 0.0
        alpha = _lu_solve(F, perm, rhs)
        y = _lu_solve_t(F, perm, c)
        bland = degenerate >= DEGENERATE_RUN
        r, viol = _most_violated(alpha, R, m, D, B, active)
        dual_ok = True
        for k in range(D):
            if y[k] < -eps_d:
                dual_ok = False
        if viol > 0.0 and dual_ok:
            # dual simplex: r enters; the active constraint with the least y_k / w_k leaves
            _normal(r, R, D, a)
            w = _lu_solve_t(F, perm, a)
            wmax = 0.0
            for k in range(D):
                wmax = max(wmax, abs(w[k]))
            leave, ratio = -1, np.inf
            for k in range(D):
                if w[k] > 1e-11 * max(wmax, 1.0):
                    t = max(y[k], 0.0) / w[k]
                    if t < ratio - 1e-15 or (bland and t <= ratio + 1e-15 and leave >= 0
                                             and active[k] < active[leave]):
                        leave, ratio = k, t
            if leave < 0:
                return FAILED, alpha, 0.0  # primal infeasible: cannot happen (α = 0 is feasible)
            degenerate = degenerate + 1 if ratio <= 1e-15 else 0
            active[leave] = r
            continue
        if viol > 0.0:  # neither primal nor dual feasible: restart from the box's corner
            _corner(c, active)
            degenerate = 0
            continue
        if dual_ok:
            # the optimal basis's vertex with the rows' right-hand sides at 1: the unperturbed
            # LP's optimum (a target cut's normal, as without PERTURB)
            for k in range(D):
                if active[k] >= 0:
                    rhs[k] = 1.0
            alpha = _lu_solve(F, perm, rhs)
            obj = 0.0
            for j in range(D):
                obj += c[j] * alpha[j]
            return OK, alpha, obj
        # primal simplex: the active constraint with y_k < 0 leaves, moving along N d = −e_k
        leave, most = -1, -eps_d
        for k in range(D):
            if bland:
                if y[k] < -eps_d and (leave < 0 or active[k] < active[leave]):
                    leave = k
            elif y[k] < most:
                leave, most = k, y[k]
        e = np.zeros(D)
        e[leave] = -1.0
        d = _lu_solve(F, perm, e)
        dmax = 0.0
        for j in range(D):
            dmax = max(dmax, abs(d[j]))
        enter, step = 0, np.inf
        found = False
        for i in range(m):
            ad, aa = 0.0, 0.0
            for j in range(D):
                ad += R[i, j] * d[j]
                aa += R[i, j] * alpha[j]
            if ad > 1e-11 * max(dmax, 1.0):
                t = max(_rhs(i) - aa, 0.0) / ad
                if t < step - 1e-15 or (bland and t <= step + 1e-15 and i < enter):
                    enter, step, found = i, t, True
        for j in range(D):
            for sgn in (1.0, -1.0):
                ad = sgn * d[j]
                if ad > 1e-11 * max(dmax, 1.0):
                    t = max(B - sgn * alpha[j], 0.0) / ad
                    cid = -1 - j if sgn > 0 else -1 - D - j
                    if t < step - 1e-15 or (bland and t <= step + 1e-15 and cid < enter):
                        enter, step, found = cid, t, True
        if not found:
            return FAILED, alpha, 0.0  # unbounded: cannot happen within the box
        for k in range(D):
            if active[k] == enter:
                return FAILED, alpha, 0.0  # round-off: the leaving direction re-enters
        degenerate = degenerate + 1 if step <= 1e-15 else 0
        active[leave] = enter
    return FAILED, np.zeros(D), 0.0


class BoxLP:
    """max c·α s.t. α·r ≤ 1 for every row r added, |α_j| ≤ `bound`, re-solved warm (`box_lp`)."""

    def __init__(self, D: int, bound: float):
        self.D, self.B = D, float(bound)
        self.R = np.zeros((max(64, 2 * D), D))
        self.m = 0
        self.active = np.full(D, -D - 1, np.int64)

    def add(self, r: np.ndarray) -> None:
        if self.m == len(self.R):
            self.R = np.concatenate([self.R, np.zeros_like(self.R)])
        self.R[self.m] = r
        self.m += 1

    def solve(self, c: np.ndarray):
        """(α, c·α) at an optimum, or None when the pivots failed (the vertex is then reset)."""
        status, alpha, obj = box_lp(self.R, self.m, np.asarray(c, float), self.B, self.active,
                                    50 * (self.m + 2 * self.D) + 100)
        if status != OK:
            self.active[:] = -self.D - 1
            return None
        return alpha, obj
