"""The root point against the hull of joint cache trajectories: memory (3) and the loads.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/load_hull.py [--cases ...] [--whole]

A measurement, not a method (benchmarks/RESULTS.md, "Forty-ninth round"). Each pair's columns in
`lagrange`'s converged root master give its shares ā[t][p] (loaded) and ū[t][p] = Σ λ·a[t](1 − a[t−1])
(loaded anew, from a cold start). A *joint cache trajectory* is one set of loaded pairs per slot,
each within the memory the evaluator accepts. `hull_distance` finds the l1 distance of (ā, ū)
from the mixtures of such trajectories, exactly, by an LP over a decision diagram (per slot the
pairs are decided one at a time; a node is the set of pairs so far, a path is a joint trajectory,
an arc carries a[t][p] and, for 0 → 1, the load), solved by HiGHS. Distance 0: some mixture of
schedules has the root's loading and loads; above 0: a linear inequality in a and the loads, valid
for every schedule of the station, cuts the root point off. A window (slots t−1 and t, the loads
of slot t) asks the same locally and quickly. `hull_cut` turns the LP's dual into the violated
inequality, which `load_cuts.py` adds to the root's relaxation (RESULTS.md, "Fiftieth round").

For each station: the converged root (`Search.colgen`, both kinds of cuts, no limit), then each
two-slot window, and the whole horizon with --whole (slow beyond 20 slots: 668 s at 30 slots with
1,023 memory-feasible sets). Writes benchmarks/results/load_hull.csv (or --out), one row per
window: instance, root_bound, sets (memory-feasible sets of pairs), first_slot, last_slot (the
window; loads are counted from first_slot + 1, or from slot 0 when first_slot is 0 and the window
is the whole horizon or slot 0 alone), arcs (of the diagram), distance (l1), seconds (of the LP).
Rows are rewritten atomically to OUT.partial.csv after every station, which replaces OUT at the end.
"""

from __future__ import annotations

import time
from pathlib import Path

import highspy
import numpy as np
from common import Parser, case_options, check_outputs, entry, run_cases

from optcache.evaluator import accepted
from optcache.scenario import generate
from optcache.solvers.lagrange import PairBounds
from optcache.solvers.lagrange.search import ROOT_TOL, Search

OUT = Path(__file__).resolve().parent / "results" / "load_hull.csv"
CASES = {"seed=102,slots=20": dict(seed=102, slots=20), "seed=101,users=20,slots=30": dict(seed=101, users=20, slots=30),
         "seed=101,users=15,slots=30": dict(seed=101, users=15, slots=30),
         "seed=104,gpus=16,slots=45": dict(seed=104, gpus=16, slots=45), "seed=102,slots=40": dict(seed=102, slots=40),
         "seed=101,gpus=8": dict(seed=101, gpus=8), "seed=104,slots=80": dict(seed=104, slots=80)}


def set_bits(P: int) -> np.ndarray:
    """Every set of P pairs as a row of booleans, indexed by its bit mask (bit p: pair p)."""
    return ((np.arange(1 << P)[:, None] >> np.arange(P)) & 1).astype(bool)


def set_sizes(sizes: np.ndarray) -> np.ndarray:
    """The total size of every set of pairs, indexed by its bit mask (bit p: pair p)."""
    return set_bits(len(sizes)) @ np.asarray(sizes, float)


def hull_distance(A: np.ndarray, U: np.ndarray, sizes: np.ndarray, cap: float, loads_from: int = 0
                  ) -> tuple[float, int]:
    """(l1 distance, arcs): how far (A, U) (T × P shares loaded and loaded anew) is from every
    mixture of joint cache trajectories that start from the empty set before row 0 and hold sets
    of total size ≤ cap. Rows of U before `loads_from` are not constrained (a window's given slot)."""
    dist, m, _, _ = _membership(A, U, sizes, cap, loads_from)
    return dist, m


def hull_cut(A: np.ndarray, U: np.ndarray, sizes: np.ndarray, cap: float, loads_from: int = 0):
    """(violation, πA, πU, π0): Σ πA·a + Σ πU·u ≤ π0 holds for every joint cache trajectory of
    `hull_distance` (π0 is the best trajectory's value, a longest path in the diagram) and (A, U)
    breaks it by its l1 distance (π: the membership LP's duals on the a and u rows, |π| ≤ 1; for a
    minimum HiGHS's duals y make the distance Σ y·rhs); None when (A, U) is in the hull."""
    dist, _, h, (src, dst, ca, cu) = _membership(A, U, sizes, cap, loads_from)
    if dist <= 1e-9:
        return None
    T, P = A.shape
    y = np.asarray(h.getSolution().row_dual)[-2 * T * P:]
    pa, pu = y[:T * P].copy(), y[T * P:].copy()
    pu[:loads_from * P] = 0.0
    w = np.where(ca >= 0, pa[np.maximum(ca, 0)], 0.0) + np.where(cu >= 0, pu[np.maximum(cu, 0)], 0.0)
    val = np.full(int(max(src.max(), dst.max())) + 1, -np.inf)  # longest paths from the start
    val[0] = 0.0
    for i in np.argsort(src, kind="stable"):  # a node's id is below its successors'
        val[dst[i]] = max(val[dst[i]], val[src[i]] + w[i])
    pi0 = float(val[np.setdiff1d(dst, src)].max())  # over whole trajectories (the sinks)
    return float(pa @ np.ravel(A) + pu @ np.ravel(U)) - pi0, pa.reshape(T, P), pu.reshape(T, P), pi0


def _membership(A, U, sizes, cap, loads_from):
    """The l1 membership LP of `hull_distance`, solved: (distance, arcs, the Highs object, the
    diagram's arcs (src, dst, a entry, u entry; −1 for none))."""
    T, P = A.shape
    size = set_sizes(sizes)
    ids: dict = {}

    def node(key) -> int:
        return ids.setdefault(key, len(ids))

    src, dst, col_a, col_u = [], [], [], []
    layer, start = {0}, node((0, 0, 0))
    for t in range(T):
        for k in range(P):
            low, nxt = (1 << (k + 1)) - 1, set()
            for S in layer:
                i, old = node((t, k, S)), S >> k & 1
                for new in (0, 1):
                    S2 = (S & ~(1 << k)) | (new << k)
                    if size[S2 & low] > cap:  # pairs 0..k decided: their sizes alone exceed cap
                        continue
                    nxt.add(S2)
                    src.append(i)
                    dst.append(node((t, k + 1, S2) if k + 1 < P else (t + 1, 0, S2)))
                    col_a.append(t * P + k if new else -1)
                    col_u.append(t * P + k if new and not old else -1)
            layer = nxt
    n, m = len(ids), len(src)
    ends = [ids[(T, 0, S)] for S in layer]
    r_a, r_u, rows = n, n + T * P, n + 2 * T * P
    ca, cu = np.array(col_a), np.array(col_u)
    idx = np.stack([src, dst, np.where(ca >= 0, r_a + ca, -1), np.where(cu >= 0, r_u + cu, -1)], 1)
    val = np.stack([-np.ones(m), np.ones(m), np.ones(m), np.ones(m)], 1)
    keep = idx >= 0
    starts = np.concatenate([[0], np.cumsum(keep.sum(1))])
    ns = 4 * T * P  # a slack pair (+, −) on every a and u row
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m + ns, rows
    lp.col_cost_ = np.concatenate([np.zeros(m), np.ones(ns)])
    lp.col_lower_, lp.col_upper_ = np.zeros(m + ns), np.full(m + ns, highspy.kHighsInf)
    lo, hi = np.zeros(rows), np.zeros(rows)
    lo[start] = hi[start] = -1.0  # one unit leaves the start
    lo[ends], hi[ends] = -highspy.kHighsInf, highspy.kHighsInf  # and ends anywhere
    target = np.concatenate([np.asarray(A, float).ravel(), np.asarray(U, float).ravel()])
    lo[r_a:], hi[r_a:] = target, target
    lo[r_u:r_u + loads_from * P], hi[r_u:r_u + loads_from * P] = -highspy.kHighsInf, highspy.kHighsInf
    lp.row_lower_, lp.row_upper_ = lo, hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate([starts, starts[-1] + 1 + np.arange(ns)]).astype(np.int32)
    lp.a_matrix_.index_ = np.concatenate([idx[keep], np.repeat(np.arange(r_a, rows), 2)]).astype(np.int32)
    lp.a_matrix_.value_ = np.concatenate([val[keep], np.tile([1.0, -1.0], 2 * T * P)])
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"membership LP ended {h.modelStatusToString(h.getModelStatus())}")
    return max(0.0, h.getInfo().objective_function_value), m, h, (np.array(src), np.array(dst), ca, cu)


def root_shares(d) -> tuple[np.ndarray, np.ndarray, float]:
    """(ā, ū, bound) of the converged root of `lagrange` on station data `d` (no limit)."""
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    root = s.colgen([PairBounds.free(d.T) for _ in range(d.P)], np.zeros(s.master.n_rows), ROOT_TOL,
                    separate=True)
    A, _ = s.master.xbar(root.lp.lam)
    U = np.zeros((d.T, d.P))
    for j in np.nonzero(root.lp.lam > 1e-12)[0]:  # the columns xbar sums
        a = s.master.A[j]
        U[:, s.master.pair[j]] += root.lp.lam[j] * a * (1 - np.concatenate([[0.0], a[:-1]]))
    return A, U, float(root.L)


def run(name: str, knobs: dict, whole: bool) -> list[dict]:
    d = generate(stations=1, **knobs).station_data(0)
    A, U, bound = root_shares(d)
    cap = accepted(d.G)
    sets = int((set_sizes(d.s) <= cap).sum())
    windows = [(0, 0, 0)] + [(t - 1, t, 1) for t in range(1, d.T)] + ([(0, d.T - 1, 0)] if whole else [])
    rows = []
    for first, last, loads_from in windows:
        t0 = time.perf_counter()
        dist, arcs = hull_distance(A[first:last + 1], U[first:last + 1], d.s, cap, loads_from)
        rows.append(dict(instance=name, root_bound=bound, sets=sets, first_slot=first, last_slot=last,
                         arcs=arcs, distance=dist, seconds=time.perf_counter() - t0))
    return rows


def measured(name: str, whole: bool) -> list[dict]:
    """`run`, and one line on the station's two-slot windows."""
    rows = run(name, CASES[name], whole)
    two = [r for r in rows if r["last_slot"] - r["first_slot"] <= 1]
    print(f"{name}: root {rows[0]['root_bound']:.6f}, two-slot windows outside "
          f"{sum(r['distance'] > 1e-6 for r in two)} of {len(two)}, sum {sum(r['distance'] for r in two):.4f}",
          flush=True)
    return rows


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    case_options(ap, CASES, OUT)
    ap.add_argument("--whole", action="store_true", help="also the whole horizon (slow)")
    args = ap.parse_args()
    check_outputs(ap, "--out", args.out)
    run_cases(args.out, args.cases, lambda name: measured(name, args.whole))


if __name__ == "__main__":
    entry(main)
