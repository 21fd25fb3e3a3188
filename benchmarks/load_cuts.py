"""Load-cover cuts: what the hull of joint cache trajectories adds to `lagrange`'s converged root.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/load_cuts.py [--cases ...] [--hull] [--mip SECONDS]

A measurement, not a method (benchmarks/RESULTS.md, "Fiftieth round"). The forty-ninth round
(`load_hull.py`) found the converged root's point outside the hull of joint cache trajectories
(memory (3) and the loads); this asks how much bound that hull is worth. The root's relaxation
(pair schedules, memory (3), the budget (5), the root's target and option cuts) is written as one
LP over the pair graphs' arcs (`ArcLP`: a path of a pair's graph is one of its schedules, so the
LP's value is the root's bound), in which a[t][p] and the loads u[t][p] = a[t](1 − a[t−1]) are
sums of arc flows. Then, in rounds until nothing is violated, load-cover cuts

    u_p(t) + a_p(t−1) + Σ_{q ∈ C∖p} (a_q(t) − u_q(t)) ≤ |C| − 1

for any memory cover C ∋ p (the sizes of C together exceed the memory the evaluator accepts;
valid for every schedule: if p comes back in slot t, not all of C∖p stay; else the left side is
at most Σ_{q∈C} a_q(t−1)), the most violated per (t, p) (`separate_covers`); with --hull also
the whole two-slot joint hull's cut of every window outside it (`load_hull.hull_cut`, the
membership LP's dual); and the package's own target and option cuts at the new point
(`slots.TargetSeparator`, `OptionSeparator`). With --mip SECONDS, afterwards HiGHS's MIP on the
same arcs (integral flows, the root's cuts, one thread) for that long, and its dual bound. The
optimum is `lagrange_station`'s (gap 1e-4, no limit).

Writes benchmarks/results/load_cuts.csv (or --out), one row per round: instance, round (0: the arc
LP with the root's cuts), kind (root, cuts, mip), load_cuts, hull_cuts and slot_cuts (added before
the round's LP), bound (the LP's value; for mip HiGHS's dual bound), incumbent (mip only: HiGHS's
best schedule's cost, else empty), optimum (its cost), closed (share of the root bound's distance
to the optimum closed by the bound), outside (slot 0 and the two-slot windows outside the joint
hull at the round's point; empty for mip), lp_seconds. Rows are rewritten atomically to
OUT.partial.csv after every station, which replaces OUT at the end.
"""

from __future__ import annotations

import time
from pathlib import Path

import highspy
import numpy as np
from common import Parser, case_options, check_outputs, entry, run_cases, time_limit
from load_hull import hull_cut, set_bits, set_sizes

from optcache.dynamics import State
from optcache.evaluator import accepted
from optcache.scenario import generate
from optcache.solvers.lagrange import PairBounds, lagrange_station
from optcache.solvers.lagrange.graph import station_graphs
from optcache.solvers.lagrange.master import Cut
from optcache.solvers.lagrange.search import ROOT_TOL, Search

OUT = Path(__file__).resolve().parent / "results" / "load_cuts.csv"
CASES = {"seed=101,users=15,slots=30": dict(seed=101, users=15, slots=30), "seed=102,slots=40": dict(seed=102, slots=40),
         "seed=104,gpus=16,slots=45": dict(seed=104, gpus=16, slots=45)}
MAX_PAIRS = 20
"""Covers are found by enumerating the sets of pairs: up to 2**MAX_PAIRS of them."""


def separate_covers(A: np.ndarray, U: np.ndarray, sizes: np.ndarray, cap: float, tol: float = 1e-5
                    ) -> list[tuple[int, int, np.ndarray, float]]:
    """The most violated load-cover cut of every (t ≥ 1, p) at shares A (loaded) and U (loaded
    anew), T × P: (t, p, the pairs of C∖p, violation) where the violation exceeds `tol`. For fixed
    (t, p) the violation is u_p(t) + a_p(t−1) − Σ_{q∈S} (1 − a_q(t) + u_q(t)), least over the sets
    S ∌ p whose size with p's exceeds `cap`."""
    T, P = A.shape
    if P > MAX_PAIRS:
        raise ValueError(f"separate_covers enumerates sets of pairs: at most {MAX_PAIRS} pairs, got {P}")
    bits, size = set_bits(P), set_sizes(sizes)
    out = []
    for t in range(1, T):
        gone = bits @ (1.0 - A[t] + U[t])  # per set S: Σ_{q∈S} (1 − stays_q)
        for p in range(P):
            ok = ~bits[:, p] & (size + sizes[p] > cap)
            if not ok.any():
                continue
            m = int(np.argmin(np.where(ok, gone, np.inf)))
            v = U[t, p] + A[t - 1, p] - gone[m]
            if v > tol:
                out.append((t, p, np.nonzero(bits[m])[0], float(v)))
    return out


class ArcLP:
    """The root's relaxation as one HiGHS LP over every pair graph's arcs (flows from each graph's
    start to its last slot), memory (3) and budget (5) rows in every slot, and rows for cuts."""

    def __init__(self, d, cuts: list[Cut]):
        self.d = d
        graphs = station_graphs(d, State.cold(d.P))
        self.T, self.P = d.T, d.P
        n = np.array([g.n_arcs for g in graphs])
        first_node = np.concatenate([[0], np.cumsum([g.n_nodes for g in graphs])])
        self.pair = np.repeat(np.arange(d.P), n)
        cat = lambda name: np.concatenate([getattr(g, name) for g in graphs])  # noqa: E731
        self.slot, self.cached, self.x = cat("slot"), cat("cached"), cat("x").astype(float)
        self.load = self.cached & ~np.concatenate([g.node_cached[g.src] for g in graphs])
        src = np.concatenate([g.src + first_node[p] for p, g in enumerate(graphs)])
        dst = np.concatenate([g.dst + first_node[p] for p, g in enumerate(graphs)])
        self.const = sum(g.const for g in graphs) / d.T
        N, rows = len(src), int(first_node[-1])
        lo, hi = np.zeros(rows), np.zeros(rows)
        for p, g in enumerate(graphs):  # one unit leaves each start and ends at any last-slot node
            lo[first_node[p]] = hi[first_node[p]] = -1.0
            lo[g.final + first_node[p]], hi[g.final + first_node[p]] = -highspy.kHighsInf, highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = N, rows
        lp.col_cost_ = cat("base") / d.T
        lp.col_lower_, lp.col_upper_ = np.zeros(N), np.full(N, highspy.kHighsInf)
        lp.row_lower_, lp.row_upper_ = lo, hi
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = (2 * np.arange(N + 1)).astype(np.int32)
        lp.a_matrix_.index_ = np.stack([src, dst], 1).ravel().astype(np.int32)
        lp.a_matrix_.value_ = np.tile([-1.0, 1.0], N)
        self.h = h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.passModel(lp)
        self.order = np.lexsort((self.pair, self.slot))  # arcs by slot, then pair
        self.at = np.searchsorted(self.slot[self.order], np.arange(d.T + 1))
        G, E = accepted(d.G), accepted(d.E)
        for t in range(d.T):
            i = self.arcs(t)
            self.add_row(i, d.s[self.pair[i]] / G, 1.0)
            self.add_row(i, self.x[i] * d.flops_per_request[self.pair[i]] / E, 1.0)
        for c in cuts:
            self.add_cut(c)

    def arcs(self, t: int, p=None, load: bool | None = None) -> np.ndarray:
        """The cached arcs of slot t (of pair p, or of every pair), the loads only (True) or the
        stays only (False)."""
        i = self.order[self.at[t]:self.at[t + 1]]
        keep = self.cached[i] if p is None else self.cached[i] & (self.pair[i] == p)
        if load is not None:
            keep &= self.load[i] == load
        return i[keep]

    def add_row(self, idx: np.ndarray, val: np.ndarray, rhs: float) -> None:
        """Σ val·flow[idx] ≤ rhs (repeated indices summed, zeros left out)."""
        u, inv = np.unique(idx, return_inverse=True)
        v = np.bincount(inv, np.asarray(val, float), len(u))
        nz = v != 0
        if self.h.addRow(-highspy.kHighsInf, rhs, int(nz.sum()), u[nz].astype(np.int32), v[nz]) \
                == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS refused a row")

    def add_cut(self, c: Cut) -> None:
        """A cut of the package's master (target or option) as a row over the arcs."""
        if c.options is not None:
            i = self.arcs(int(c.slots[0]))
            W = c.options.shape[1]
            self.add_row(i, c.options[self.pair[i], np.minimum(self.x[i], W - 1).astype(np.int64)], c.gamma)
            return
        parts = [(self.arcs(int(t)), k) for k, t in enumerate(c.slots)]
        idx = np.concatenate([i for i, _ in parts])
        val = np.concatenate([c.alpha[k, self.pair[i]] + c.beta[k, self.pair[i]] * self.x[i] for i, k in parts])
        self.add_row(idx, val, c.gamma)

    def add_cover(self, t: int, p: int, Q: np.ndarray) -> None:
        """u_p(t) + a_p(t−1) + Σ_{q∈Q} (a_q(t) − u_q(t)) ≤ |Q| (Q = C∖p)."""
        idx = [self.arcs(t, p, load=True), self.arcs(t - 1, p)] + [self.arcs(t, q, load=False) for q in Q]
        idx = np.concatenate(idx)
        self.add_row(idx, np.ones(len(idx)), float(len(Q)))

    def add_hull(self, first: int, pa: np.ndarray, pu: np.ndarray, pi0: float) -> None:
        """Σ_k Σ_p pa[k, p]·a_p(first + k) + pu[k, p]·u_p(first + k) ≤ pi0 (`load_hull.hull_cut`)."""
        idx, val = [], []
        for k in range(len(pa)):
            for p in range(self.P):
                i, j = self.arcs(first + k, p), self.arcs(first + k, p, load=True)
                idx += [i, j]
                val += [np.full(len(i), pa[k, p]), np.full(len(j), pu[k, p])]
        self.add_row(np.concatenate(idx), np.concatenate(val), pi0)

    def solve(self) -> tuple[float, np.ndarray, float]:
        """(value with the all-cloud constant, flows, seconds)."""
        t0 = time.perf_counter()
        self.h.run()
        status = self.h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"arc LP ended {self.h.modelStatusToString(status)}")
        f = np.asarray(self.h.getSolution().col_value)
        return self.h.getInfo().objective_function_value + self.const, f, time.perf_counter() - t0

    def shares(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ā, x̄, ū) of flows f, T × P."""
        T, P = self.T, self.P
        on = self.cached
        A = np.zeros((T, P))
        X, U = A.copy(), A.copy()
        np.add.at(A, (self.slot[on], self.pair[on]), f[on])
        np.add.at(X, (self.slot[on], self.pair[on]), f[on] * self.x[on])
        np.add.at(U, (self.slot[self.load], self.pair[self.load]), f[self.load])
        return A, X, U

    def mip(self, seconds: float) -> tuple[float, float]:
        """(dual bound, incumbent cost or inf) of HiGHS's MIP on the same rows for `seconds`."""
        N = len(self.slot)
        self.h.changeColsIntegrality(N, np.arange(N, dtype=np.int32), np.full(N, highspy.HighsVarType.kInteger))
        self.h.setOptionValue("time_limit", float(seconds))
        self.h.setOptionValue("mip_rel_gap", 1e-4)
        self.h.run()
        info = self.h.getInfo()
        inc = info.objective_function_value + self.const if info.primal_solution_status == 2 else np.inf
        return info.mip_dual_bound + self.const, inc


def slot_cuts(s: Search, A: np.ndarray, X: np.ndarray, W) -> list[Cut]:
    """The package's target cuts at (A, X), or if none its option cuts at the option shares W(t, J)."""
    return [c for _, c in s.target_cuts(A, X) or s.option_cuts_at(W)]


def window_cuts(A: np.ndarray, U: np.ndarray, sizes: np.ndarray, cap: float) -> list[tuple]:
    """`hull_cut` of slot 0 alone and of every two-slot window (t−1, t) of (A, U) outside the
    joint hull (loads of slot t − 1 free): (first slot, πA, πU, π0)."""
    out = []
    for first, last, loads_from in [(0, 0, 0)] + [(t - 1, t, 1) for t in range(1, len(A))]:
        c = hull_cut(A[first:last + 1], U[first:last + 1], sizes, cap, loads_from)
        if c is not None and c[0] > 1e-6:
            out.append((first, c[1], c[2], c[3]))
    return out


def run(name: str, knobs: dict, mip: float, hull: bool) -> list[dict]:
    d = generate(stations=1, **knobs).station_data(0)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    root = s.colgen([PairBounds.free(d.T) for _ in range(d.P)], np.zeros(s.master.n_rows), ROOT_TOL, separate=True)
    cap = accepted(d.G)
    lp = ArcLP(d, s.master.cuts)

    def options(f):
        def W(t, J):
            i = lp.arcs(t)
            w = np.zeros((d.P, J + 1))
            np.add.at(w, (lp.pair[i], np.minimum(lp.x[i], J).astype(np.int64)), f[i])
            return w
        return W

    rows, added = [], (0, 0, 0)
    while True:
        v, f, sec = lp.solve()
        A, X, U = lp.shares(f)
        windows = window_cuts(A, U, d.s, cap)
        rows.append(dict(instance=name, round=len(rows), kind="root" if not rows else "cuts", load_cuts=added[0],
                         hull_cuts=added[1], slot_cuts=added[2], bound=v, incumbent=np.nan, outside=len(windows),
                         lp_seconds=sec))
        print(f"{name}: round {rows[-1]['round']} bound {v:.6f} (root {root.L:.6f}), {added} load, hull and slot "
              f"cuts, {len(windows)} windows outside, LP {sec:.1f} s", flush=True)
        covers = separate_covers(A, U, d.s, cap)
        for t, p, Q, _ in covers:
            lp.add_cover(t, p, Q)
        windows = windows if hull else []
        for c in windows:
            lp.add_hull(*c)
        found = slot_cuts(s, A, X, options(f))
        for c in found:
            lp.add_cut(c)
        added = (len(covers), len(windows), len(found))
        if not any(added):
            break
    if mip > 0:
        mlp = ArcLP(d, s.master.cuts)
        t0 = time.perf_counter()
        bound, inc = mlp.mip(mip)
        rows.append(dict(instance=name, round=len(rows), kind="mip", load_cuts=0, hull_cuts=0, slot_cuts=0,
                         bound=bound, incumbent=inc, outside=np.nan, lp_seconds=time.perf_counter() - t0))
        print(f"{name}: HiGHS MIP on the arcs, {mip:.0f} s: bound {bound:.6f}, incumbent {inc:.6f}", flush=True)
    opt = lagrange_station(d, gap=1e-4).cost
    for r in rows:
        r.update(optimum=opt, closed=(r["bound"] - rows[0]["bound"]) / (opt - rows[0]["bound"]))
    print(f"{name}: optimum {opt:.6f}; the cuts closed {rows[-1 - (mip > 0)]['closed']:.1%} of the root's distance",
          flush=True)
    return rows


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    case_options(ap, CASES, OUT)
    ap.add_argument("--mip", type=time_limit, default=None, help="also HiGHS's MIP on the arcs for this long (s)")
    ap.add_argument("--hull", action="store_true", help="also cuts of the whole two-slot joint hull")
    args = ap.parse_args()
    check_outputs(ap, "--out", args.out)
    run_cases(args.out, args.cases, lambda name: run(name, CASES[name], args.mip or 0.0, args.hull))


if __name__ == "__main__":
    entry(main)
