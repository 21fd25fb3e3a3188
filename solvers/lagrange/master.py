"""The restricted master LP over pair schedules (Dantzig–Wolfe), with the slot polytope's cuts.

Columns are pair schedules; rows are one convexity row per pair, memory (3) and budget (5) in the
coupled slots (scaled to a right-hand side near 1), and target cuts of the slot polytope. Its LP
value is the cutting-plane model of max L(u); its row duals are the next multipliers u ≥ 0. Slack
columns of very high cost keep the LP feasible under any branching bounds: they steer the prices and
never enter a bound (bounds are Lagrangian values, `decomposition.py`). Rows whose multiplier is 0
are left out of HiGHS until the master's solution breaks them (`LAZY_ROWS`): u keeps every row,
with 0 for those left out.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from optcache.errors import SolverFailed
from optcache.evaluator import capacity_rhs, capacity_shares
from optcache.solvers import forked
from optcache.solvers.highs import fork_safe, quiet_highs, use_threads
from optcache.solvers.lagrange.decomposition import Decomposition
from optcache.solvers.lagrange.graph import PairBounds, option_index

log = logging.getLogger(__name__)

SLACK_FACTOR = 1e3
"""A unit of slack costs this many times (all-cloud cost + λ·P): more than any schedule gains."""

STALL_ITERATIONS = (1000, 10)
"""A warm primal re-solve of the master stops after a + b × rows simplex iterations and goes on
by the dual simplex from where it stopped, itself stopped as soon and restarted from the same basis
with HiGHS's internal state cleared: HiGHS 1.16's simplex can cycle on this degenerate LP. On
`gpus=16`/101's root one primal re-solve (421 rows, 583 columns) ran 111 s, 962,599 iterations, at
the optimal value, and the dual simplex from its basis ends in 343; later one dual re-solve ran
40 s in place where the same basis, read into a fresh HiGHS, solves in 0.14 s."""

FRESH_RESTARTS = 3
"""Restarts of the dual simplex from the same basis with HiGHS's state cleared, each stopped as the
first dual run and under another random seed (HiGHS's advice for its anti-cycling failures), before
the last one, which runs to the end: one such unbounded restart ran 82,000–550,000 iterations
(25–143 s) at a node of `gpus=16`/101."""

COLD_AFTER_UNKNOWN = True
"""A solve that HiGHS ends without an answer (status Unknown, time left) runs again from scratch
by the dual simplex: on `slots=80`/101 one such warm solve at node 159 left that node without an LP,
and the search closed it at its Lagrangian as if it were a leaf; the tree ran out at 124 s, 0.062 %
from the optimum (benchmarks/RESULTS.md, "Thirty-fourth round")."""

LAZY_ROWS = True
"""Rows of (3), (5) and cuts whose multiplier is 0 leave the HiGHS model (`Master.sparsify`) and
come back when the master's solution breaks them (`Master.solve`), so the LP value is that of the
master with every row. At the converged root of `gpus=8`/101 such rows hold 65 % of the nonzeros,
and without them a cold solve takes 74 ms instead of 134; its 300-s tree solved 135 nodes instead
of 87 (benchmarks/RESULTS.md, "Thirty-ninth round")."""

IP_WATCHDOG_SECONDS = 600.0
"""A restricted-master MIP under a node budget alone (the deterministic search) is killed after
this long: its node budget does not bound HiGHS's presolve (`Master.solve_ip`). Ten times the
longest such MIP measured (1,000 nodes after a 30-s root: 4.4–56.7 s on eight 100-slot stations,
the longest `users=25`/104's, 1,521 columns; benchmarks/RESULTS.md, "Forty-seventh round"), so
it changes no run's numbers unless HiGHS hangs."""

DUAL_AFTER_BOUNDS = True
"""The first re-solve after `restrict` excluded a column (another node of the tree) starts with
the dual simplex: a basis stays dual feasible when bounds tighten, not primal feasible, and the
primal simplex spent 3× the iterations there (benchmarks/RESULTS.md, "Twenty-ninth round")."""


REFERENCE = True
"""Each pair's columns enter HiGHS as differences from a reference schedule of that pair (its
heaviest column, `Master.rebase`): a row operation with the pair's convexity equality, so the LP,
its primal solutions, the coupling and cut rows' duals and every reduced cost are those of the
master as written, and its columns carry only the slots where they differ from the reference. On
`users=20`/101's root that is a fifth of the nonzeros, and a cold solve of its master takes a third
of the time (benchmarks/RESULTS.md, "Forty-first round")."""

REBASE_EVERY = 10
"""Solves between two checks of whether another reference would make a pair's columns sparser."""

REBASE_GAIN = 0.8
"""A pair's reference changes when another of its columns in use leaves at most this share of
its nonzeros."""

ZERO_ENTRY = 1e-12
"""An entry in HiGHS (a column's or a row's, less the references) within this of 0 is left out:
where a column and its reference agree, the difference may be rounding, not 0."""


def _entries_from(A: np.ndarray, X: np.ndarray, a: np.ndarray, x: np.ndarray, w: np.ndarray) -> float:
    """Entries of columns (A, X rows) as differences from reference (a, x), counted by slot: w[t]
    rows in slot t wherever a column's (a[t], x[t]) differs from the reference's."""
    return float((((A != a) | (X != x)) @ w).sum())


@dataclass
class Cut:
    """Σ_i α[i]·a[slots[i]] + β[i]·x[slots[i]] ≤ γ over the pairs (α, β of shape (len(slots), P)),
    valid for every feasible schedule: a cut of one slot's polytope, or of a window's. An option
    cut (`options`, one slot) instead has coefficient options[p, j] where pair p is cached and
    serves j in that slot, and 0 where it is off (`slots.OptionSeparator`)."""

    slots: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    gamma: float
    options: np.ndarray | None = None
    """(P, J + 1) coefficients of 'cached serving j' in slots[0]; None for a linear cut."""

    @classmethod
    def single(cls, t: int, alpha: np.ndarray, beta: np.ndarray, gamma: float) -> Cut:
        """A cut of slot t alone."""
        return cls(np.array([t]), np.asarray(alpha, float)[None], np.asarray(beta, float)[None], float(gamma))

    @classmethod
    def option(cls, t: int, table: np.ndarray, gamma: float) -> Cut:
        """An option cut of slot t (table: (P, J + 1))."""
        z = np.zeros((1, table.shape[0]))
        return cls(np.array([t]), z, z.copy(), float(gamma), np.asarray(table, float))

    def coef(self, pair: np.ndarray, A: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The cut's coefficient of each column (pair index, a and x rows over all slots)."""
        if self.options is not None:
            t = int(self.slots[0])
            j = option_index(A[:, t], X[:, t], self.options.shape[1])
            return np.where(j >= 0, self.options[pair, j], 0.0)
        return (self.alpha[:, pair].T * A[:, self.slots]).sum(axis=1) + \
            (self.beta[:, pair].T * X[:, self.slots]).sum(axis=1)


@dataclass
class LPSolution:
    """The master LP's value, its multipliers u ≥ 0 (memory, budget, cut rows, in that order),
    the value λ of each pair column, and whether any slack is in use."""

    value: float
    u: np.ndarray
    lam: np.ndarray
    slack_used: bool
    reduced: np.ndarray
    """Reduced cost of each pair column (slot-average units)."""
    generation: int = 0
    """`Master.generation` when solved: column indices are valid while it is unchanged."""


class Columns(NamedTuple):
    """Pair columns kept outside the master (`Master.snapshot`): pair, a and x (rows), own cost."""

    pair: np.ndarray
    A: np.ndarray
    X: np.ndarray
    cost: np.ndarray


class Master:
    """The restricted master LP (HiGHS, kept between solves so that every solve is warm)."""

    def __init__(self, dec: Decomposition):
        self.dec = dec
        d = dec.d
        self.hs, self.h = quiet_highs()
        self.h.setOptionValue("presolve", "off")  # warm re-solves after adding columns
        self.h.setOptionValue("simplex_strategy", 4)  # primal simplex: added columns keep the basis
        h, inf = self.h, self.hs.kHighsInf
        P, M, B = d.P, dec.memory_slots, dec.budget_slots
        self.slack_cost = SLACK_FACTOR * (sum(dec.all_cloud_cost(p) for p in range(P)) + d.lam * P + 1e-6)
        # (3) and (5) scaled as every solver model writes them (evaluator.capacity_scale); a pair
        # that alone exceeds one never uses it (its graph says so)
        self.mem_coef = capacity_shares(d.s, d.G)
        self.bud_coef = capacity_shares(d.flops_per_request, d.E)
        self.r_mem, self.r_bud, self.r_cut = P, P + len(M), P + len(M) + len(B)
        e = (0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        h.addRows(P, np.ones(P), np.ones(P), *e)
        self.rhs = np.concatenate([np.full(len(M), capacity_rhs(d.G)), np.full(len(B), capacity_rhs(d.E))])
        h.addRows(len(M) + len(B), np.full(len(M) + len(B), -inf), self.rhs.copy(), *e)
        self.hrow = P + np.arange(len(M) + len(B), dtype=np.int64)
        """HiGHS's row of each coupling or cut row (in u's order); −1 while left out (LAZY_ROWS)."""
        self.reactivated = 0
        """Rows put back into HiGHS because a solution broke them (`activate`)."""
        self.n_hcols = 0
        self.ref_a, self.ref_x, self.ref_cost = np.zeros((P, d.T)), np.zeros((P, d.T)), np.zeros(P)
        """Each pair's reference schedule and its cost (`REFERENCE`; at first the empty schedule,
        whose entries are all 0: the master as written)."""
        self.R = np.zeros((P, len(M) + len(B)))
        """The references' entries in every coupling and cut row (u's order); a pair's columns
        are in HiGHS less its row, and row i's right-hand side less the column sum."""
        self.art = np.arange(P, dtype=np.int64)
        """HiGHS's column of each pair's artificial 'schedule' (using no capacity)."""
        self.rebases = 0
        """References changed (`rebase`)."""
        self._checks = 0
        for p in range(P):  # an artificial 'schedule' per pair using no capacity
            self._slack_col(p, 1.0)
        self.shcol = np.zeros(len(M) + len(B), np.int64)
        """HiGHS's slack column of each coupling or cut row (−1 while the row is left out)."""
        for r in range(len(M) + len(B)):
            self.shcol[r] = self.n_hcols
            self._slack_col(P + r, -1.0)
        self.cuts: list[Cut] = []
        self._cut_entries = (np.zeros(0, np.int64), np.zeros((0, P)), np.zeros((0, P)), np.zeros(0, np.int64))
        """The cuts' rows stacked (slot, α, β, cut index), one per slot of each cut."""
        self.option_cuts: list[int] = []
        """Indices (in `cuts`) of the option cuts."""
        self._options = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, P, 1)))
        """The option cuts stacked (slot, width, tables padded to the widest): a column's
        coefficients in all of them at once, as `Cut.coef` reads them one by one."""
        self.n = 0
        self.hcol = np.zeros(64, np.int64)
        self.A = np.zeros((64, d.T))
        self.X = np.zeros((64, d.T))
        self.pair = np.zeros(64, np.int64)
        self.cost = np.zeros(64)
        self._seen: set = set()
        self.generation = 0
        """Bumped by `purge`, which renumbers the columns."""
        self.stalls = 0
        """Simplex runs stopped by `STALL_ITERATIONS` (each solve then goes on another way)."""
        self.bounds_changed = False
        """`restrict` excluded a column since the last solve (DUAL_AFTER_BOUNDS)."""
        self.cold_solves = 0
        """Solves that HiGHS ended without an answer and that were run again from scratch."""
        self.lp_solves, self.lp_seconds = 0, 0.0
        """HiGHS solves of this master LP (re-solves after rows came back included) and their
        seconds, everything `solve` does: where a search's time goes (`SearchStats`)."""
        self._ub = np.zeros(64)
        """Each column's upper bound in HiGHS (inf, or 0 when `restrict` excludes it)."""
        self.primal_stalled = False
        """A primal re-solve of this master has stalled: later re-solves start with the dual simplex
        (such a master keeps cycling: on `gpus=16`/101, past its root's first minute, nearly every
        re-solve ran its a + b × rows primal iterations, about 1 s, before the dual simplex finished
        it in 300–700; benchmarks/RESULTS.md, "Twenty-second round")."""

    def _slack_col(self, row: int, coef: float) -> None:
        self.h.addCol(self.slack_cost, 0.0, self.hs.kHighsInf, 1, np.array([row], np.int32),
                      np.array([coef]))
        self.n_hcols += 1

    @property
    def n_rows(self) -> int:
        return len(self.rhs)

    def compatible(self, bounds: list[PairBounds] | None) -> np.ndarray:
        """Which columns keep the branching bounds (all without bounds)."""
        n = self.n
        ok = np.ones(n, bool)
        if bounds is not None:
            for p, b in enumerate(bounds):
                if b.is_free():
                    continue
                rows = np.nonzero(self.pair[:n] == p)[0]
                ok[rows] = b.allows(self.A[rows], self.X[rows])
        return ok

    def _entries(self, p: int, a: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A column's entries in HiGHS's rows (rows left out dropped), less its pair's reference."""
        return self._hentries(p, self._dense(p, a, x))

    def _dense(self, p: int, a: np.ndarray, x: np.ndarray) -> np.ndarray:
        """A column's entries in every coupling and cut row (u's order), dense."""
        idx, val = self._logical_entries(p, a, x)
        v = np.zeros(self.n_rows)
        P = self.dec.d.P
        v[idx[1:] - P] = val[1:]  # idx[0] is the pair's convexity row
        return v

    def _hentries(self, p: int, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """HiGHS entries of a pair-p column with dense entries v: its convexity row, then the rows
        in HiGHS where it differs from the reference (by more than `ZERO_ENTRY`)."""
        v = v - self.R[p]
        nz = np.nonzero((np.abs(v) > ZERO_ENTRY) & (self.hrow >= 0))[0]
        return (np.concatenate([[p], self.hrow[nz]]).astype(np.int32), np.concatenate([[1.0], v[nz]]))

    def _hrhs(self, i) -> np.ndarray:
        """Right-hand side in HiGHS of coupling or cut row(s) i: less the references' entries."""
        return self.rhs[i] - self.R[:, i].sum(axis=0)

    def _logical_entries(self, p: int, a: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dec = self.dec
        M, B = dec.memory_slots, dec.budget_slots
        idx = [np.array([p]), self.r_mem + np.nonzero(a[M])[0], self.r_bud + np.nonzero(x[B])[0]]
        val = [np.ones(1), a[M][a[M] != 0] * self.mem_coef[p], x[B][x[B] != 0] * self.bud_coef[p]]
        if self.cuts:
            slots, alpha, beta, owner = self._cut_entries
            cv = np.bincount(owner, alpha[:, p] * a[slots] + beta[:, p] * x[slots], len(self.cuts))
            if self.option_cuts:
                t, width, table = self._options
                j = option_index(a[t], x[t], width)  # each cut's count (−1: off)
                cv[self.option_cuts] = np.where(j >= 0, table[np.arange(len(t)), p, j], 0.0)
            nz = np.nonzero(cv)[0]
            idx.append(self.r_cut + nz)
            val.append(cv[nz])
        return np.concatenate(idx).astype(np.int32), np.concatenate(val)

    def add(self, p: int, a: np.ndarray, x: np.ndarray, cost: float) -> bool:
        """Add pair p's schedule (a, x) of own cost `cost` (slot average); False if present."""
        key = (p, a.tobytes(), x.tobytes())
        if key in self._seen:
            return False
        self._seen.add(key)
        idx, val = self._entries(p, a, x)
        self.h.addCol(float(cost - self.ref_cost[p]), 0.0, self.hs.kHighsInf, len(idx), idx, val)
        if self.n == len(self.pair):
            self.hcol = np.concatenate([self.hcol, np.zeros(self.n, np.int64)])
            self.A = np.vstack([self.A, np.zeros_like(self.A)])
            self.X = np.vstack([self.X, np.zeros_like(self.X)])
            self.pair = np.concatenate([self.pair, np.zeros(self.n, np.int64)])
            self.cost = np.concatenate([self.cost, np.zeros(self.n)])
            self._ub = np.concatenate([self._ub, np.zeros(self.n)])
        n = self.n
        self._ub[n] = self.hs.kHighsInf
        self.hcol[n], self.A[n], self.X[n], self.pair[n], self.cost[n] = self.n_hcols, a, x, p, cost
        self.n += 1
        self.n_hcols += 1
        return True

    def add_cut(self, cut: Cut) -> None:
        """Append a cut row over every column so far, with its own slack."""
        n = self.n
        coef = cut.coef(self.pair[:n], self.A[:n], self.X[:n])
        self.cuts.append(cut)
        if cut.options is not None:
            self.option_cuts.append(len(self.cuts) - 1)
            t, width, table = self._options
            w = max(table.shape[2], cut.options.shape[1])
            grown = np.zeros((len(t) + 1, table.shape[1], w))
            grown[:len(t), :, :table.shape[2]] = table
            grown[len(t), :, :cut.options.shape[1]] = cut.options
            self._options = (np.append(t, int(cut.slots[0])), np.append(width, cut.options.shape[1]), grown)
        slots, alpha, beta, owner = self._cut_entries
        self._cut_entries = (np.concatenate([slots, cut.slots]), np.vstack([alpha, cut.alpha]),
                             np.vstack([beta, cut.beta]),
                             np.concatenate([owner, np.full(len(cut.slots), len(self.cuts) - 1)]))
        self.rhs = np.concatenate([self.rhs, [cut.gamma]])
        P = self.dec.d.P
        self.R = np.hstack([self.R, cut.coef(np.arange(P), self.ref_a, self.ref_x)[:, None]])
        self.hrow = np.append(self.hrow, -1)
        self.shcol = np.append(self.shcol, -1)
        self._put_row(len(self.rhs) - 1, coef)

    def prices(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Prices (slot average units) on a and x of every (slot, pair) for multipliers u, and
        the option cuts' prices PO[t, p, j] of 'p cached serving j in t' (None without any)."""
        dec, d = self.dec, self.dec.d
        M, B = dec.memory_slots, dec.budget_slots
        nM, nB = len(M), len(B)
        PA, PX = np.zeros((d.T, d.P)), np.zeros((d.T, d.P))
        PA[M] += np.outer(u[:nM], self.mem_coef)
        PX[B] += np.outer(u[nM:nM + nB], self.bud_coef)
        uc = np.zeros(len(self.cuts))  # a u from before the last cuts leaves them at 0
        uc[:len(u) - nM - nB] = u[nM + nB:]
        # every cut in one pass per kind, each (slot, pair) summed in the order of the cuts
        slots, alpha, beta, owner = self._cut_entries
        on = uc[owner] > 0  # an option cut's rows here are zeros
        np.add.at(PA, slots[on], uc[owner[on], None] * alpha[on])
        np.add.at(PX, slots[on], uc[owner[on], None] * beta[on])
        PO = None
        k = np.nonzero(uc[self.option_cuts] > 0)[0] if self.option_cuts else []
        if len(k):
            t, _, table = self._options
            PO = np.zeros((d.T, d.P, max(g.x_max for g in dec.graphs) + 1))
            w = min(table.shape[2], PO.shape[2])
            np.add.at(PO[:, :, :w], t[k], uc[np.asarray(self.option_cuts)[k], None, None] * table[k, :, :w])
        return PA, PX, PO

    def restrict(self, bounds: list[PairBounds] | None, basis=None) -> None:
        """Columns that break a branching bound get upper bound 0; the others are restored. With a
        `basis` (`Master.basis`, of the same columns), the next solve starts from it."""
        n = self.n
        if n:
            ub = np.where(self.compatible(bounds), self.hs.kHighsInf, 0.0)
            self.bounds_changed |= bool(((ub == 0) & (self._ub[:n] > 0)).any())
            self._ub[:n] = ub
            self.h.changeColsBounds(n, self.hcol[:n].astype(np.int32), np.zeros(n), ub)
        if basis is not None:
            self.h.setBasis(basis)

    def solve(self, time_limit: float | None = None) -> LPSolution | None:
        """Solve the master LP within `time_limit` seconds; None if it stops without an optimum
        (out of time): its duals are only multipliers, so a caller just stops pricing. Rows left
        out that the solution breaks come back, and the LP is solved again."""
        start = time.perf_counter()
        end = None if time_limit is None else start + float(time_limit)
        try:
            while True:
                self.lp_solves += 1
                lp = self._solve(None if end is None else end - time.perf_counter())
                if lp is not None and (self.hrow < 0).any():
                    broken = self.broken(lp.lam)
                    if len(broken):
                        self.activate(broken)
                        continue
                if lp is not None:
                    self._rebase_some(lp)
                return lp
        finally:
            self.lp_seconds += time.perf_counter() - start

    def basis(self):
        """HiGHS's current basis, to start several solves from the same point (`value_under`)."""
        return self.h.getBasis()

    def value_under(self, bounds: list[PairBounds] | None, basis, iterations: int,
                    time_limit: float | None) -> float | None:
        """The LP's value with `bounds` imposed on its current columns (`restrict`), by the dual
        simplex from `basis` (an optimal one of looser bounds, so still dual feasible) stopped after
        `iterations`: at most the restricted LP's value, never a bound of the node, a branching
        candidate's score (`search.STRONG_CANDIDATES`). None when HiGHS gives no value. Rows left
        out stay out; the caller restricts the master again before its next solve."""
        h = self.h
        self.restrict(bounds, basis)
        limit = np.inf if time_limit is None else h.getRunTime() + max(float(time_limit), 1e-3)
        h.setOptionValue("time_limit", float(limit))
        h.setOptionValue("simplex_strategy", 1)
        h.setOptionValue("simplex_iteration_limit", int(iterations))
        start = time.perf_counter()
        h.run()
        self.lp_solves += 1
        self.lp_seconds += time.perf_counter() - start
        status = h.getModelStatus()
        h.setOptionValue("simplex_strategy", 4)
        if status not in (self.hs.HighsModelStatus.kOptimal, self.hs.HighsModelStatus.kIterationLimit):
            return None
        return float(h.getInfo().objective_function_value + self.ref_cost.sum())

    def _rebase_some(self, lp: LPSolution) -> None:
        """Every `REBASE_EVERY` solves, give a new reference to each pair for which one of its
        three heaviest columns in `lp` would leave at most `REBASE_GAIN` of its entries. The
        entries are counted by slot: a column differs from the reference only in the rows of the
        slots where their (a, x) differ (a row of several slots counts in each)."""
        self._checks += 1
        if not REFERENCE or self._checks % REBASE_EVERY or lp.generation != self.generation:
            return
        dec, n = self.dec, self.n
        nM, nB = len(dec.memory_slots), len(dec.budget_slots)
        w = np.zeros(dec.d.T)  # rows in HiGHS per slot
        np.add.at(w, dec.memory_slots, self.hrow[:nM] >= 0)
        np.add.at(w, dec.budget_slots, self.hrow[nM:nM + nB] >= 0)
        slots, _, _, owner = self._cut_entries
        np.add.at(w, slots, self.hrow[nM + nB + owner] >= 0)
        for p in range(dec.d.P):
            cols = np.nonzero(self.pair[:n] == p)[0]
            use = cols[lp.lam[cols] > 1e-9]
            if not len(use):
                continue
            A, X = self.A[cols], self.X[cols]
            now = _entries_from(A, X, self.ref_a[p], self.ref_x[p], w)
            cand = use[np.argsort(-lp.lam[use], kind="stable")[:3]]
            sizes = [_entries_from(A, X, self.A[j], self.X[j], w) for j in cand]
            k = int(np.argmin(sizes))
            if sizes[k] <= REBASE_GAIN * now:
                self.rebase(p, int(cand[k]))

    def rebase(self, p: int, j: int) -> None:
        """Make column j pair p's reference (`REFERENCE`): the pair's columns and artificial are
        put into HiGHS again as differences from it, the rows' right-hand sides move with it, and
        the basis is kept (the same variables, the rows changed by a row operation)."""
        h, inf = self.h, self.hs.kHighsInf
        basis = h.getBasis()
        cols = np.nonzero(self.pair[:self.n] == p)[0]
        old = np.concatenate([[self.art[p]], self.hcol[cols]]).astype(np.int64)
        gone = np.sort(old)
        if basis.valid:
            status = list(basis.col_status)
            keep = np.ones(len(status), bool)
            keep[gone] = False
            order = [status[k] for k in np.nonzero(keep)[0]] + [status[k] for k in old]
        h.deleteCols(len(gone), gone.astype(np.int32))
        self._shift_cols(gone)
        prev = self.R[p].copy()
        self.ref_a[p], self.ref_x[p], self.ref_cost[p] = self.A[j], self.X[j], self.cost[j]
        self.R[p] = self._dense(p, self.A[j], self.X[j])
        rows = np.nonzero((self.R[p] != prev) & (self.hrow >= 0))[0]
        if len(rows):
            h.changeRowsBounds(len(rows), self.hrow[rows].astype(np.int32), np.full(len(rows), -inf),
                               self._hrhs(rows))
        idx, val = self._hentries(p, np.zeros(self.n_rows))
        h.addCol(float(self.slack_cost - self.ref_cost[p]), 0.0, inf, len(idx), idx, val)
        self.art[p] = self.n_hcols
        self.n_hcols += 1
        for k in cols:
            idx, val = self._entries(p, self.A[k], self.X[k])
            h.addCol(float(self.cost[k] - self.ref_cost[p]), 0.0, float(self._ub[k]), len(idx), idx, val)
            self.hcol[k] = self.n_hcols
            self.n_hcols += 1
        if basis.valid:
            basis.col_status = order
            h.setBasis(basis)
        self.rebases += 1

    def row_coef(self, i: int) -> np.ndarray:
        """Coupling or cut row i's coefficient of every column."""
        dec, n = self.dec, self.n
        nM, nB = len(dec.memory_slots), len(dec.budget_slots)
        if i < nM:
            return self.mem_coef[self.pair[:n]] * self.A[:n, dec.memory_slots[i]]
        if i < nM + nB:
            return self.bud_coef[self.pair[:n]] * self.X[:n, dec.budget_slots[i - nM]]
        return self.cuts[i - nM - nB].coef(self.pair[:n], self.A[:n], self.X[:n])

    def activity(self, lam: np.ndarray) -> np.ndarray:
        """Each coupling and cut row's left-hand side at the columns' weights `lam`."""
        dec = self.dec
        Ab, Xb = self.xbar(lam, tol=0.0)
        out = [Ab[dec.memory_slots] @ self.mem_coef, Xb[dec.budget_slots] @ self.bud_coef]
        if self.cuts:
            slots, alpha, beta, owner = self._cut_entries
            v = np.bincount(owner, (alpha * Ab[slots]).sum(axis=1) + (beta * Xb[slots]).sum(axis=1), len(self.cuts))
            if self.option_cuts:  # by column: an option cut's coefficient is not linear in (a, x)
                used = np.nonzero(lam > 0)[0]
                w, pr = lam[used], self.pair[used]
                t, width, table = self._options
                j = option_index(self.A[used][:, t], self.X[used][:, t], width[None, :])
                k = np.broadcast_to(np.arange(len(t)), j.shape)
                coef = np.where(j >= 0, table[k, pr[:, None], np.maximum(j, 0)], 0.0)
                v[self.option_cuts] = w @ coef
            out.append(v)
        return np.concatenate(out)

    def broken(self, lam: np.ndarray, tol: float = 1e-7) -> np.ndarray:
        """Rows left out that the columns' weights `lam` break by more than `tol` (relative, as
        HiGHS's own primal feasibility tolerance lets the rows it holds be broken)."""
        act = self.activity(lam)
        return np.nonzero((self.hrow < 0) & (act > self.rhs + tol * np.maximum(1.0, np.abs(self.rhs))))[0]

    def activate(self, rows) -> None:
        """Put rows left out back into HiGHS, each with a new slack column."""
        for i in rows:
            self._put_row(int(i), self.row_coef(int(i)))
            self.reactivated += 1

    def _put_row(self, i: int, coef: np.ndarray) -> None:
        """Add coupling or cut row i to HiGHS with coefficients `coef` over every column, and its
        slack column."""
        n = self.n
        ref = self.R[:, i]
        v = np.concatenate([coef - ref[self.pair[:n]], -ref])  # the pairs' columns, the artificials
        cols = np.concatenate([self.hcol[:n], self.art])
        nz = np.nonzero(np.abs(v) > ZERO_ENTRY)[0]
        self.hrow[i] = self.h.getNumRow()
        self.h.addRow(-self.hs.kHighsInf, float(self._hrhs(i)), len(nz), cols[nz].astype(np.int32), v[nz])
        self.shcol[i] = self.n_hcols
        self._slack_col(int(self.hrow[i]), -1.0)

    def sparsify(self, u: np.ndarray) -> int:
        """Leave out of HiGHS every row whose multiplier in `u` (an LP's) is 0; returns how many."""
        if not LAZY_ROWS:
            return 0
        k = min(len(u), len(self.hrow))
        drop = np.nonzero((self.hrow[:k] >= 0) & (u[:k] <= 0.0))[0]
        if not len(drop):
            return 0
        gone = np.sort(self.hrow[drop])
        self.h.deleteRows(len(gone), gone.astype(np.int32))
        self.hrow[drop] = -1
        live = self.hrow >= 0
        self.hrow[live] -= np.searchsorted(gone, self.hrow[live])
        cols = np.sort(self.shcol[drop])
        self.h.deleteCols(len(cols), cols.astype(np.int32))
        self.shcol[drop] = -1
        self._shift_cols(cols)
        self.bounds_changed = True  # the basis lost rows: start dual
        return len(drop)

    def _shift_cols(self, gone: np.ndarray) -> None:
        """Renumber the pair and slack columns after HiGHS deleted the columns `gone` (sorted)."""
        n = self.n
        self.hcol[:n] -= np.searchsorted(gone, self.hcol[:n])
        live = self.shcol >= 0
        self.shcol[live] -= np.searchsorted(gone, self.shcol[live])
        self.art -= np.searchsorted(gone, self.art)
        self.n_hcols -= len(gone)

    def _solve(self, time_limit: float | None = None) -> LPSolution | None:
        h = self.h
        # HiGHS's time limit counts its run time since the instance was made: add what it used
        limit = np.inf if time_limit is None else h.getRunTime() + max(float(time_limit), 1e-3)
        h.setOptionValue("time_limit", float(limit))
        a, b = STALL_ITERATIONS
        stall = int(a + b * h.getNumRow())
        # primal (dual first once this master's primal has cycled, or after `restrict` excluded a
        # column: DUAL_AFTER_BOUNDS); if it cycles, the other from
        # there; if that cycles too, dual from the same basis with HiGHS's internal state
        # (perturbations, edge weights) cleared, under other seeds
        plan = [(4, stall, False, 0), (1, stall, False, 0)]
        if self.primal_stalled or (self.bounds_changed and DUAL_AFTER_BOUNDS):
            plan.reverse()
        self.bounds_changed = False
        plan += [(1, stall, True, k + 1) for k in range(FRESH_RESTARTS)]
        plan += [(1, self.hs.kHighsIInf, True, FRESH_RESTARTS + 1)]
        for strategy, iterations, fresh, seed in plan:
            if fresh:
                basis = h.getBasis()
                h.clearSolver()
                h.setBasis(basis)
            h.setOptionValue("random_seed", seed)
            h.setOptionValue("simplex_strategy", strategy)
            h.setOptionValue("simplex_iteration_limit", iterations)
            h.run()
            if h.getModelStatus() != self.hs.HighsModelStatus.kIterationLimit:
                break
            self.stalls += 1
            self.primal_stalled |= strategy == 4
            log.debug("lagrange: master LP stalled after %d iterations (simplex strategy %d)",
                      h.getInfo().simplex_iteration_count, strategy)
        status = h.getModelStatus()
        if COLD_AFTER_UNKNOWN and status not in (self.hs.HighsModelStatus.kOptimal, self.hs.HighsModelStatus.kTimeLimit):
            self.cold_solves += 1
            log.debug("lagrange: master LP ended with %s; solved again from scratch", h.modelStatusToString(status))
            h.clearSolver()
            h.setOptionValue("simplex_strategy", 1)
            h.setOptionValue("simplex_iteration_limit", self.hs.kHighsIInf)
            h.run()
        h.setOptionValue("simplex_strategy", 4)
        h.setOptionValue("random_seed", 0)
        if h.getModelStatus() != self.hs.HighsModelStatus.kOptimal:
            log.debug("lagrange: master LP stopped with %s", h.modelStatusToString(h.getModelStatus()))
            return None
        sol = h.getSolution()
        rd = np.asarray(sol.row_dual, float)
        cv = np.asarray(sol.col_value, float)
        u = np.zeros(len(self.hrow))
        live = self.hrow >= 0
        u[live] = np.maximum(-rd[self.hrow[live]], 0.0)
        lam = cv[self.hcol[:self.n]]
        slack = float(cv.sum() - lam.sum()) > 1e-9
        rc = np.asarray(sol.col_dual, float)[self.hcol[:self.n]]
        value = float(h.getInfo().objective_function_value + self.ref_cost.sum())
        return LPSolution(value, u, lam, slack, rc, self.generation)

    def purge(self, lp: LPSolution, keep_per_pair: int, protect=()) -> int:
        """Delete pair columns the LP does not use and that price worst (largest reduced cost),
        keeping `keep_per_pair` per pair and every column in `protect` (indices). Renumbers the
        columns (bumps `generation`); returns how many were deleted."""
        n = self.n
        if lp.generation != self.generation or len(lp.lam) != n:
            return 0
        keep = lp.lam > 1e-12
        keep[list(protect)] = True
        for p in range(self.dec.d.P):
            cols = np.nonzero(self.pair[:n] == p)[0]
            order = cols[np.argsort(lp.reduced[cols], kind="stable")]
            keep[order[:keep_per_pair]] = True
        drop = np.nonzero(~keep)[0]
        if not len(drop):
            return 0
        gone = np.sort(self.hcol[drop])
        self.h.deleteCols(len(gone), gone.astype(np.int32))
        self._shift_cols(gone)
        for j in drop:
            self._seen.discard((int(self.pair[j]), self.A[j].tobytes(), self.X[j].tobytes()))
        kept = np.nonzero(keep)[0]
        m = len(kept)
        self.hcol[:m] = self.hcol[kept]
        self.A[:m], self.X[:m] = self.A[kept], self.X[kept]
        self.pair[:m], self.cost[:m] = self.pair[kept], self.cost[kept]
        self._ub[:m] = self._ub[kept]
        self.n = m
        self.generation += 1
        return len(drop)

    def snapshot(self, lp: LPSolution) -> Columns | None:
        """Copies of the columns `lp` uses (λ > 1e-12), to be restored when its node is solved
        again after purges have removed them; None when the master was purged since `lp`.
        Columns added since (`add` appends) leave its indices valid."""
        if lp.generation != self.generation:
            return None
        j = np.nonzero(lp.lam > 1e-12)[0]
        return Columns(self.pair[j].copy(), self.A[j].copy(), self.X[j].copy(), self.cost[j].copy())

    def restore(self, cols: Columns | None) -> int:
        """Add back the columns of a `snapshot` that are not in the master; returns how many."""
        if cols is None:
            return 0
        return sum(self.add(int(p), a, x, float(c)) for p, a, x, c in zip(*cols, strict=True))

    def xbar(self, lam: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
        """The master's ā[t][p], x̄[t][p]: Σ λ over each pair's columns with λ > tol (T × P)."""
        d = self.dec.d
        used = np.nonzero(lam > tol)[0]
        w, pr = lam[used, None], self.pair[used]
        A, X = np.zeros((d.P, d.T)), np.zeros((d.P, d.T))
        np.add.at(A, pr, w * self.A[used])  # column by column, in order, as a loop over them adds
        np.add.at(X, pr, w * self.X[used])
        return A.T.copy(), X.T.copy()

    def support(self, lam: np.ndarray, tol: float = 1e-9) -> list[np.ndarray]:
        """For each pair, the indices of its columns with λ > tol."""
        used = lam > tol
        return [np.nonzero(used & (self.pair[:len(lam)] == p))[0] for p in range(self.dec.d.P)]

    def solve_ip(self, time_limit: float | None, bounds: list[PairBounds] | None = None,
                 max_nodes: int | None = None):
        """The best mix of the generated schedules: one column per pair (binary), memory and
        budget as rows (the restricted master MIP), within `time_limit` seconds or `max_nodes`
        nodes (deterministic: no clock). Returns (A, X) or None.

        HiGHS runs in a forked child, killed `forked.KILL_GRACE` s after the limit (the caller keeps
        both within its own deadline) or, under a node limit alone, after `IP_WATCHDOG_SECONDS`:
        with a 2-s limit, HiGHS 1.16 once spent over 15 minutes in the presolve of a restart of this
        MIP (`users=15`/103, benchmarks/RESULTS.md, "Forty-sixth round"), which no node limit
        bounds. A killed MIP has found nothing."""
        hs, h = quiet_highs()
        dec, d = self.dec, self.dec.d
        cols = np.nonzero(self.compatible(bounds))[0]
        if not len(cols):
            return None
        P, M, B = d.P, dec.memory_slots, dec.budget_slots
        e = (0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        h.addRows(P, np.ones(P), np.ones(P), *e)
        h.addRows(len(M) + len(B), np.full(len(M) + len(B), -hs.kHighsInf), self.rhs[:len(M) + len(B)], *e)
        for j in cols:
            p = int(self.pair[j])
            idx, val = self._logical_entries(p, self.A[j], self.X[j])
            keep = idx < self.r_cut
            h.addCol(float(self.cost[j]), 0.0, 1.0, int(keep.sum()), idx[keep], val[keep])
        m = len(cols)
        h.changeColsIntegrality(m, np.arange(m, dtype=np.int32), np.array([hs.HighsVarType.kInteger] * m))
        if time_limit is not None:
            h.setOptionValue("time_limit", max(float(time_limit), 0.01))
        if max_nodes is not None:
            h.setOptionValue("mip_max_nodes", int(max_nodes))
        h.setOptionValue("mip_rel_gap", 1e-6)
        h.setOptionValue("mip_feasibility_tolerance", 1e-9)
        kill = (float(time_limit) + forked.KILL_GRACE if time_limit is not None
                else IP_WATCHDOG_SECONDS if max_nodes is not None else None)
        use_threads(1)  # HiGHS's pool reset, as before every solve: no worker threads for a fork to lose
        if fork_safe(1, kill):  # a finite limit and os.fork (docs/formulation.md §14)
            t0 = time.perf_counter()
            try:
                lam = forked.call(lambda send: _ip_values(h), t0 + kill, what="the restricted-master MIP")
            except SolverFailed as e:  # a heuristic: the search goes on without its schedule
                log.warning("restricted-master MIP: %s", e)
                lam = None
            if lam is None and time.perf_counter() - t0 >= kill:
                if time_limit is not None:
                    log.info("restricted-master MIP: HiGHS passed its %.2f-s limit; killed", time_limit)
                else:
                    log.warning("restricted-master MIP: HiGHS ran %.0f s on a %d-node budget; killed "
                                "(this run's numbers may differ from another's)", kill, max_nodes)
        else:
            lam = _ip_values(h)
        if lam is None:
            return None
        A, X = np.zeros((d.T, d.P)), np.zeros((d.T, d.P))
        for k in np.nonzero(lam > 0.5)[0]:
            j = cols[k]
            A[:, self.pair[j]], X[:, self.pair[j]] = self.A[j], self.X[j]
        return A, X


def _ip_values(h) -> np.ndarray | None:
    """Run a restricted-master MIP; its columns' values, or None without a feasible solution."""
    h.run()
    if h.getInfo().primal_solution_status != 2:
        return None
    return np.asarray(h.getSolution().col_value, float)
