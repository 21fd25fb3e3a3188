"""Block cuts: what cuts over a few consecutive slots add to `lagrange`'s converged root.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/block_cuts.py [--seconds S]

A measurement, not a method (benchmarks/RESULTS.md, "Nineteenth round"). For a block of B
consecutive coupled slots, a pair's *trajectory* is its option in each slot of the block (off, or
cached serving j: `graph.option_index`); a point of the block polytope gives every pair one
trajectory such that memory (3) and the budget (5) hold in each slot and no run of cached slots
serves more than the window (28c) allows from an empty context (so the polytope relaxes the pairs'
true trajectories and its cuts are valid). The master's columns give each pair a distribution over
trajectories; the per-slot cuts of docs/formulation.md §6.1 see only each slot's marginal. Here the
distance of the master's distributions from the block polytope is found by column generation on
an l1 membership LP (oracle: a HiGHS MIP over the block), its dual is the cut (each pair's
coefficients shifted by +1 so that trajectories never seen get 0; the right-hand side is the
oracle's exact maximum), and the pair DPs price the cuts exactly by carrying each path's options
through the block (`block_dp`, checked against forcing every trajectory in turn). Every bound is
a Lagrangian, as in the package.

For each station: the converged root (`Search.colgen`, both kinds of cuts, no limit), then rounds
of separation (blocks of 3 slots, else 4, else the package's own cuts) and column generation until
nothing is violated or --seconds have passed since the root, and the optimum (`lagrange_station`,
gap 1e-4, no limit). Writes benchmarks/results/block_cuts.csv (or --out), one row per round:
instance, round (0: the root), seconds (since the root began), kind (root, block3, block4,
slot), cuts (added in the round), bound, optimum_cost, optimum_bound, closed (share of the root's
distance to optimum_cost closed by the bound). Rows are rewritten atomically to OUT.partial.csv
after every station, which replaces OUT at the end.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import highspy
import numpy as np
from common import Parser, case_options, check_outputs, entry, run_cases, time_limit

from optcache.scenario import generate
from optcache.solvers.lagrange import PairBounds, lagrange_station
from optcache.solvers.lagrange.decomposition import PairSolution
from optcache.solvers.lagrange.graph import option_index
from optcache.solvers.lagrange.master import Cut, Master
from optcache.solvers.lagrange.search import ROOT_TOL, Search

OUT = Path(__file__).resolve().parent / "results" / "block_cuts.csv"
CASES = {"seed=102,slots=20": dict(seed=102, slots=20), "seed=101,slots=20,gpus=8": dict(seed=101, slots=20, gpus=8),
         "seed=101,slots=20,users=20": dict(seed=101, slots=20, users=20), "seed=102,slots=40": dict(seed=102, slots=40)}
CUTS_PER_ROUND = 5


def trajectories(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Options (0 off, j + 1 cached serving j) of schedules over a block: rows of (a, x)."""
    return option_index(a, x, 2**62) + 1


class BlockCut(Cut):
    """Σ_p table[p, τ_p] ≤ γ over each pair's trajectory τ_p in `slots` (0 where not listed)."""

    table: dict

    def coef(self, pair, A, X):
        J = trajectories(A[:, self.slots], X[:, self.slots])
        return np.array([self.table.get((int(p), tuple(map(int, row))), 0.0) for p, row in zip(pair, J, strict=True)])


class BlockMaster(Master):
    """The package's master with block cuts among its rows (their prices go to `block_dp`)."""

    def _logical_entries(self, p, a, x):
        # the rows' own entries (u's order); the package turns them into HiGHS's (references, rows
        # left out). Block cuts have α = β = 0, so the package's cut entries are 0 in their rows
        idx, val = super()._logical_entries(p, a, x)
        more = [(self.r_cut + k, float(c.coef(np.array([p]), a[None], x[None])[0]))
                for k, c in enumerate(self.cuts) if isinstance(c, BlockCut)]
        more = [m for m in more if m[1] != 0]
        if more:
            idx = np.concatenate([idx, np.array([m[0] for m in more], np.int32)])
            val = np.concatenate([val, [m[1] for m in more]])
        return idx.astype(np.int32), val

    def block_prices(self, u: np.ndarray) -> list[tuple[tuple[int, ...], dict]]:
        """(slots, {(p, τ): price}) of each block cut with a positive multiplier."""
        first = len(self.dec.memory_slots) + len(self.dec.budget_slots)
        return [(tuple(map(int, c.slots)), {key: u[first + k] * v for key, v in c.table.items()})
                for k, c in enumerate(self.cuts) if isinstance(c, BlockCut) and u[first + k] > 0]


def block_dp(g, px, pa, po, blocks, T):
    """Pair graph g's least priced schedule with trajectory prices `blocks` [(slots, {τ: price})]
    on top of the package's prices: labels (node, options since the earliest open block)."""
    keep = [None] * T  # after slot t, remember options from keep[t] on
    ends: dict[int, list] = {}
    for slots, tab in blocks:
        for t in range(slots[0], slots[-1]):
            keep[t] = slots[0] if keep[t] is None else min(keep[t], slots[0])
        ends.setdefault(slots[-1], []).append((slots[0], tab))
    price = g.price_table(px, pa, None, po).ravel()  # an arc's price is price[key], as in the package's passes
    by_src = [dict() for _ in range(T)]
    for i in range(len(g.src)):  # arcs removed by fixing have left the arrays
        by_src[int(g.slot[i])].setdefault(int(g.src[i]), []).append(int(i))
    layers = [{(0, ()): (0.0, None)}]
    for t in range(T):
        nxt: dict = {}
        for (node, hist), (v, _) in layers[-1].items():
            h0 = keep[t - 1] if hist else t
            for i in by_src[t].get(node, ()):
                x = int(g.x[i])
                o, c = (x + 1 if g.cached[i] else 0), v + g.base[i] + price[g.key[i]]
                full = hist + (o,)
                for b0, tab in ends.get(t, ()):
                    c += tab.get(full[b0 - h0:], 0.0)
                key = (int(g.dst[i]), full[keep[t] - h0:] if keep[t] is not None else ())
                if key not in nxt or c < nxt[key][0]:
                    nxt[key] = (c, ((node, hist), i))
        layers.append(nxt)
    final = dict(zip(g.final.tolist(), g.final_cost.tolist(), strict=True))
    best, key = np.inf, None
    for (node, hist), (v, _) in layers[-1].items():
        if node in final and v + final[node] < best:
            best, key = v + final[node], (node, hist)
    a, x = np.zeros(T), np.zeros(T)
    for t in range(T - 1, -1, -1):
        key, i = layers[t + 1][key][1]
        a[t], x[t] = g.cached[i], (g.x[i] if g.cached[i] else 0)
    return best + g.const, a, x


def lagrangian(s: Search, u: np.ndarray):
    """L(u) with the block cuts' prices in the pair DPs (exact), and the pair solutions."""
    m, T = s.master, s.d.T
    blocks = m.block_prices(u)
    PA, PX, PO = m.prices(u)  # block cuts have α = β = 0 there
    sols = []
    for p, g in enumerate(s.dec.graphs):
        pa, px = T * PA[:, p], T * PX[:, p]
        po = None if PO is None else T * PO[:, p]
        mine = [(sl, {tau: T * v for (q, tau), v in tab.items() if q == p}) for sl, tab in blocks]
        mine = [(sl, tab) for sl, tab in mine if tab]
        v, a, x = block_dp(g, px, pa, po, mine, T) if mine else g.solve(px, pa, None, po)
        own = v - px @ x - pa @ a
        if po is not None:
            j = option_index(a, x, po.shape[1])
            own -= float(po[j >= 0, j[j >= 0]].sum())
        for sl, tab in mine:
            own -= tab.get(tuple(map(int, trajectories(a[list(sl)], x[list(sl)]))), 0.0)
        sols.append(PairSolution(a, x, own / T, v))
    return float(sum(q.priced for q in sols) / T - u @ m.rhs), sols


def colgen(s: Search, u0: np.ndarray, L: float, tol: float = ROOT_TOL):
    """Column generation with Wentges smoothing (as `Search.colgen`) and exact block pricing."""
    m = s.master
    center, alpha = np.concatenate([u0, np.zeros(m.n_rows - len(u0))]), 0.5
    while True:
        lp = m.solve()
        center = np.concatenate([center, np.zeros(m.n_rows - len(center))])
        if lp.value - L <= tol * abs(lp.value):
            return L, center, lp
        us = alpha * center + (1 - alpha) * lp.u
        Lu, sols = lagrangian(s, us)
        new = sum(m.add(p, q.a, q.x, q.cost) for p, q in enumerate(sols))
        if Lu > L:
            L, center = Lu, us
        if not new and alpha == 0.0:
            return L, center, lp
        alpha = 0.5 if new else 0.0


def pair_trajectories(s: Search, p: int, slots: np.ndarray) -> list[tuple[int, ...]]:
    """Pair p's trajectories over `slots` that its requests, the budget alone and the window allow."""
    d = s.d
    out = []
    for tau in itertools.product(*[range(int(s.dec.xcap[t, p]) + 2) for t in slots]):
        run, ok = 0, True
        for o in tau:
            run = 0 if o == 0 else run + o - 1
            ok = ok and run * d.k[p] <= d.w[p] * (1 + 1e-9)
        if ok:
            out.append(tau)
    return out


def block_max(s: Search, slots, trajs, value) -> tuple[float, dict]:
    """max Σ_p value(p, τ_p) over the block polytope's points (a HiGHS MIP), and the point."""
    d, dec = s.d, s.dec
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_feasibility_tolerance", 1e-9)
    cols = [(p, tau) for p in range(d.P) for tau in trajs[p]]
    n = len(cols)
    h.addVars(n, np.zeros(n), np.ones(n))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), -np.array([value(p, tau) for p, tau in cols]))
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.array([highspy.HighsVarType.kInteger] * n))
    pair = np.array([p for p, _ in cols])
    for p in range(d.P):
        idx = np.nonzero(pair == p)[0].astype(np.int32)
        h.addRow(1.0, 1.0, len(idx), idx, np.ones(len(idx)))
    fl = d.flops_per_request
    for i in range(len(slots)):
        for coef in (np.array([d.s[p] * (tau[i] > 0) for p, tau in cols]) / dec.G_cap,
                     np.array([fl[p] * max(tau[i] - 1, 0) for p, tau in cols]) / dec.E_cap):
            nz = np.nonzero(coef)[0].astype(np.int32)
            if len(nz):
                h.addRow(-highspy.kHighsInf, 1.0, len(nz), nz, coef[nz])
    h.run()
    v = np.asarray(h.getSolution().col_value)
    return -h.getInfo().objective_function_value, {cols[i][0]: cols[i][1] for i in np.nonzero(v > 0.5)[0]}


def separate_block(s: Search, lp, slots: np.ndarray):
    """(violation, BlockCut) at the master's trajectory weights over `slots`, or None."""
    m, d = s.master, s.d
    used = np.nonzero(lp.lam > 1e-12)[0]
    W: dict = {}
    for c, tau in zip(used, trajectories(m.A[used][:, slots], m.X[used][:, slots]), strict=True):
        key = (int(m.pair[c]), tuple(map(int, tau)))
        W[key] = W.get(key, 0.0) + lp.lam[c]
    trajs = [pair_trajectories(s, p, slots) for p in range(d.P)]
    coords, points = sorted(W), []
    while True:  # min ||W − Σ μ q||_1, Σ μ = 1, by column generation
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        nc = len(coords)
        rhs = np.array([W.get(c, 0.0) for c in coords] + [1.0])
        h.addRows(nc + 1, rhs, rhs.copy(), 0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        for i in range(nc):
            for sign in (1.0, -1.0):
                h.addCol(1.0, 0.0, highspy.kHighsInf, 1, np.array([i], np.int32), np.array([sign]))
        index = {c: i for i, c in enumerate(coords)}
        for q in points:
            idx = np.array([index[c] for c in q.items()] + [nc], np.int32)
            h.addCol(0.0, 0.0, highspy.kHighsInf, len(idx), idx, np.ones(len(idx)))
        if not points:
            h.addCol(1e3, 0.0, highspy.kHighsInf, 1, np.array([nc], np.int32), np.array([1.0]))
        h.run()
        dual = np.asarray(h.getSolution().row_dual)
        y = {c: dual[i] for i, c in enumerate(coords)}
        best, q = block_max(s, slots, trajs, lambda p, tau, y=y: y.get((p, tau), -1.0))
        if best + dual[nc] <= 1e-9:
            break
        coords += [c for c in q.items() if c not in index]
        points.append(q)
    table = {c: v + 1.0 for c, v in y.items() if abs(v + 1.0) > 1e-12}  # unseen: −1 + 1 = 0
    gamma, _ = block_max(s, slots, trajs, lambda p, tau: table.get((p, tau), 0.0))
    violation = sum(w * table.get(c, 0.0) for c, w in W.items()) - gamma
    if violation <= 1e-6:
        return None
    z = np.zeros((len(slots), d.P))
    cut = BlockCut(np.asarray(slots), z, z.copy(), float(gamma) + 1e-9)
    cut.table = table
    return violation, cut


def run(name: str, kw: dict, seconds: float) -> list[dict]:
    d = generate(stations=1, **kw).station_data(0)
    t0 = time.perf_counter()
    s = Search(d, None, np.inf, 1e-6, quiet=True)
    s.master.__class__ = BlockMaster  # its rows so far are the package's
    r = s.colgen([PairBounds.free(d.T)] * d.P, np.zeros(s.master.n_rows), ROOT_TOL, separate=True)
    L, u, lp = r.L, r.u, r.lp
    rows = [dict(instance=name, round=0, seconds=time.perf_counter() - t0, kind="root", cuts=s.stats.cuts, bound=L)]
    print(rows[-1], flush=True)
    coupled = set(s.dec.budget_slots.tolist()) | set(s.dec.memory_slots.tolist())
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        kind, found = "slot", []
        for B in (3, 4):
            for t in range(d.T - B + 1):
                if all(t + i in coupled for i in range(B)):
                    c = separate_block(s, lp, np.arange(t, t + B))
                    if c is not None:
                        found.append(c)
            if found:
                kind = f"block{B}"
                break
        found.sort(key=lambda f: -f[0])
        for _, c in found[:CUTS_PER_ROUND]:
            s.master.add_cut(c)
        n = min(len(found), CUTS_PER_ROUND) or s.separate(lp, options=True)
        if not n:
            break
        L, u, lp = colgen(s, u, L)
        rows.append(dict(instance=name, round=len(rows), seconds=time.perf_counter() - t0, kind=kind, cuts=n, bound=L))
        print(rows[-1], flush=True)
    opt = lagrange_station(d, gap=1e-4)
    for row in rows:
        row.update(optimum_cost=opt.cost, optimum_bound=opt.bound,
                   closed=(row["bound"] - rows[0]["bound"]) / (opt.cost - rows[0]["bound"]))
    return rows


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=time_limit, default=300.0, help="rounds after the root (default 300)")
    case_options(ap, CASES, OUT)
    args = ap.parse_args()
    check_outputs(ap, "--out", args.out)
    run_cases(args.out, args.cases, lambda name: run(name, CASES[name], args.seconds))


if __name__ == "__main__":
    entry(main)
