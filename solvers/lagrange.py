"""Problem (28) by Lagrangian decomposition over pairs: exact per-pair DPs, a certified bound.

The only constraints that couple the pairs of a station are memory (3) and the compute budget (5),
one row each per slot. Everything else (switching, context (18) and window (28c), AoT (19), the
exact, non-linearised accuracy cost (24), cloud cost) belongs to one pair.

* `PairGraph`: every state a pair can reach, (slot, cached?, K, κ), with equal (K, κ) merged to
  1e-9, as a layered DAG; a schedule of the pair is a path. The graph does not depend on prices, so
  it is built once; `PairGraph.solve` is a shortest path over it (numba), exact for any per-slot
  prices on x and a and any per-slot bounds on x and a (the bounds serve repair and branching).
* `Decomposition.lagrangian`: the budget (5) by variable splitting — in each slot where it can
  bind, a copy y of x meets it as an integer knapsack (`knapsack`, exact) and ν[t][p] (any sign)
  prices x = y — and memory (3) by a price π_t ≥ 0 on the row:
  L(ν, π) = Σ_p DP_p(ν, π)/T + Σ_t min_y (−ν_t·y) − Σ_t π_t, in the evaluator's units (slot
  average). Any ν, π ≥ 0 give a lower bound on (28); the split bound is at least the plain
  L(μ, π) with μ_t ≥ 0 on the budget rows, because the knapsacks keep the budget's integrality.
* `lagrange_station`: maximises L by Dantzig–Wolfe column generation (`Master`: the LP over pair
  schedules and knapsack solutions is the cutting-plane model of L; its duals, smoothed towards
  the best point so far, are the next multipliers); finds primals (restricted-master MIP over the
  generated schedules, pair-by-pair re-optimisation and two-pair swaps within the capacity the
  others leave, the master's support when it is integral); then branch and price on x[t][p] in the
  coupled slots, best first with plunging, the branching link chosen by the children's Lagrangian
  at the node's multipliers, and values of x[t][p] whose Lagrangian with x[t][p] fixed reaches the
  incumbent cut off (Lagrangian probing, at the root and at each node). Every primal is scored by
  the evaluator. The bound is the least Lagrangian over the open leaves, the pruned leaves and the
  values cut by probing: a valid lower bound whatever the multipliers, never a solver's claim.

A terminal value per pair (`terminal=`: a cost on the state a pair ends in, as the rolling
horizon's relaxed tail uses it) is a cost on each final node of the pair's graph and a term in every
schedule's objective; being separable by pair it leaves every bound above valid.

Only slots where a coupling row can bind (Σ_p R·e·k > E, Σ_p s > G) are relaxed: elsewhere the
row is implied by the per-pair limits x ≤ R and a ≤ 1, which the DPs keep.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass

import numpy as np
from numba import njit
from optcache.solvers.exact import GAP_FLOOR, StationSolve, solve_by_station
from optcache.solvers.highs import _highspy
from optcache.solvers.registry import register

from optcache.dynamics import State, final_state
from optcache.evaluator import TOL, evaluate_station
from optcache.instance import Instance, StationData
from optcache.results import MethodResult

DEFAULT_GAP = 1e-4
"""Relative gap at which `lagrange_station` stops."""

NODE_TOL = 1e-6
"""Relative tolerance of column generation below the root."""

ROOT_TOL = 1e-7
"""Relative tolerance of column generation at the root (master LP value against the best L)."""

ROOT_SHARE = 0.5
"""Under a time limit, the root's column generation stops at this share of it."""

ROOT_IP_SECONDS, ROOT_IP_SHARE = 2.0, 0.1
"""The restricted-master MIP after the root runs at most this long, and this share of a limit."""

PLUNGE_DEPTH = 30
"""After a node from the queue, follow its better child this many levels (depth first)."""

HEURISTIC_EVERY = 20
"""Run the primal heuristics at every this many branch-and-price nodes."""

FREE = 1 << 30
"""An upper bound on x that does not bind (branching bounds start free)."""

KEY_DIGITS = 9
"""(K, κ) of two states are merged when they agree to 1e-9 tokens (float noise of k·n − Δ·age)."""


# ------------------------------------------------------------------------------ one pair's DAG
@dataclass
class PairGraph:
    """The reachable states of pair p after each slot and the (a, x) arcs between them.

    Node 0 is the start state (`state0`). Arcs are sorted by slot; arc i leads from a node of slot
    t−1 (or the start) to a node of slot t, serving x requests at the edge, with `cached` = a[t]
    and `base` its cost in the evaluator's slot-sum units (before the 1/T average) *net* of the
    all-cloud cost: λ·load + x·(comp − offload) + x·acc_coef/(κ' + κ_0). The all-cloud cost of
    the pair, Σ_t R·(access + offload), is `const`.
    """

    p: int
    T: int
    src: np.ndarray
    dst: np.ndarray
    x: np.ndarray
    slot: np.ndarray
    cached: np.ndarray
    base: np.ndarray
    n_nodes: int
    final: np.ndarray  # nodes of the last slot
    node_kappa: np.ndarray
    const: float
    flops: float  # e·k of one request (budget use)
    mem: float  # s (memory use when cached)
    node_K: np.ndarray  # context K of each node (0 for 'off' nodes)
    node_slot: np.ndarray  # the slot after which each node is reached (−1: the start)
    node_cached: np.ndarray  # whether the pair is cached in each node
    final_cost: np.ndarray  # a cost added at each node of `final` (a terminal value; default 0)

    @classmethod
    def build(cls, d: StationData, p: int, st: State | None = None) -> PairGraph:
        st = st or State.cold(d.P)
        T = d.T
        R = d.R[:, p].astype(np.int64)
        k, w, dl = float(d.k[p]), float(d.w[p]), float(d.delta[p])
        c, k0 = float(d.acc_coef[p]), float(d.kappa0)
        gain = float(d.comp_unit[p] - d.offload_unit[p])
        flops = float(d.flops_per_request[p])
        wmax = w * (1 + TOL) + TOL  # the evaluator's tolerance on (28c)
        can_cache = d.s[p] <= d.G + TOL * max(1.0, d.G)  # memory (3) with the pair alone
        xcap = R.copy()
        if flops > 0:  # the budget (5) with the pair alone
            xcap = np.minimum(xcap, int(np.floor((d.E + TOL * max(1.0, d.E)) / flops)))
        cached0 = bool(st.cached[p] > 0.5)
        # nodes of the current layer: ids, K, κ; the 'off' node of a layer is kept separately
        if cached0:
            ids, K, kap = np.array([0]), np.array([float(st.K[p])]), np.array([float(st.kappa[p])])
            off = -1
        else:
            ids, K, kap = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
            off = 0
        n_nodes = 1
        S, D, X, SL, C, B = [], [], [], [], [], []
        kap_nodes = [float(st.kappa[p]) if cached0 else 0.0]
        K_nodes = [float(st.K[p]) if cached0 else 0.0]
        slot_nodes, cached_nodes = [-1], [cached0]
        for t in range(T):
            n_before = len(S)
            # candidate arcs: (src, K', κ', x, cost); unload arcs go to the new 'off' node
            new_off = n_nodes
            n_nodes += 1
            kap_nodes.append(0.0)
            K_nodes.append(0.0)
            slot_nodes.append(t)
            cached_nodes.append(False)
            srcs_off = list(ids) + ([off] if off >= 0 else [])
            S.append(np.asarray(srcs_off, np.int64))
            D.append(np.full(len(srcs_off), new_off, np.int64))
            X.append(np.zeros(len(srcs_off), np.int64))
            C.append(np.zeros(len(srcs_off), bool))
            B.append(np.zeros(len(srcs_off)))
            if can_cache:
                cs, cK, ck, cx, cb = [], [], [], [], []
                for xx in range(int(xcap[t]) + 1):
                    if len(ids):
                        cs.append(ids)
                        cK.append(K + k * xx)
                        ck.append(np.maximum(kap + k * xx - dl, 0.0))
                        cx.append(np.full(len(ids), xx))
                        cb.append(np.zeros(len(ids)))
                    if off >= 0:  # load in this slot (from an empty context)
                        cs.append(np.array([off]))
                        cK.append(np.array([k * xx]))
                        ck.append(np.array([max(k * xx - dl, 0.0)]))
                        cx.append(np.array([xx]))
                        cb.append(np.array([d.lam]))
                cs, cK, ck = np.concatenate(cs), np.concatenate(cK), np.concatenate(ck)
                cx, cb = np.concatenate(cx), np.concatenate(cb)
                ok = cK <= wmax
                cs, cK, ck, cx, cb = cs[ok], cK[ok], ck[ok], cx[ok], cb[ok]
                if len(cs):
                    keys = np.stack([np.round(cK, KEY_DIGITS), np.round(ck, KEY_DIGITS)])
                    uniq, first, inv = np.unique(keys, axis=1, return_index=True, return_inverse=True)
                    inv = inv.ravel()
                    nid = n_nodes + np.arange(uniq.shape[1])
                    n_nodes += uniq.shape[1]
                    nK, nk = cK[first], ck[first]  # representatives: κ' of the node
                    kap_nodes.extend(nk.tolist())
                    K_nodes.extend(nK.tolist())
                    slot_nodes.extend([t] * len(nK))
                    cached_nodes.extend([True] * len(nK))
                    dst = nid[inv]
                    cost = cb + cx * (gain + c / (nk[inv] + k0))
                    S.append(cs)
                    D.append(dst)
                    X.append(cx)
                    C.append(np.ones(len(cs), bool))
                    B.append(cost)
                    ids, K, kap = nid, nK, nk
                else:
                    ids, K, kap = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
            else:
                ids, K, kap = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
            SL.append(np.full(sum(len(s) for s in S[n_before:]), t, np.int64))
            off = new_off
        final = np.concatenate([ids, [off]]).astype(np.int64)
        const = float((R * (d.access[p] + d.offload_unit[p])).sum())
        return cls(p, T, np.concatenate(S), np.concatenate(D), np.concatenate(X), np.concatenate(SL),
                   np.concatenate(C), np.concatenate(B), n_nodes, final, np.asarray(kap_nodes), const,
                   flops, float(d.s[p]), np.asarray(K_nodes), np.asarray(slot_nodes, np.int64),
                   np.asarray(cached_nodes, bool), np.zeros(len(final)))

    @property
    def n_arcs(self) -> int:
        return len(self.src)

    def solve(self, price_x: np.ndarray, price_a: np.ndarray, xlo: np.ndarray | None = None,
              xhi: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
        """min over the pair's schedules of base cost + Σ_t price_x[t]·x[t] + price_a[t]·a[t].

        Optional per-slot bounds xlo ≤ x[t] ≤ xhi, which also bound a: xhi = −1 forbids caching in
        slot t, xlo ≥ 1 forces it and xlo = −1 forces caching with any x. Returns (value incl. `const`, a, x) in slot-sum units; value = inf if no path.
        """
        T = self.T
        lo = np.zeros(T, np.int64) if xlo is None else np.asarray(xlo, np.int64)
        hi = np.full(T, FREE, np.int64) if xhi is None else np.asarray(xhi, np.int64)
        val, a, x = _dp(self.src, self.dst, self.x, self.slot, self.cached, self.base, self.n_nodes,
                        self.final, self.final_cost, np.asarray(price_x, float),
                        np.asarray(price_a, float), lo, hi, T)
        return val + self.const, a, x

    def cost_to_go(self) -> np.ndarray:
        """Each node's least cost (slot-sum units, net of the all-cloud cost, `final_cost`
        included) from it to the end of the horizon, with no prices: a backward pass."""
        return _backward(self.src, self.dst, self.base, self.n_nodes, self.final, self.final_cost)


@njit(cache=True)
def _backward(src, dst, base, n_nodes, final, fcost):
    # arcs are sorted by slot: in reverse order every arc's head is final before its tail is
    val = np.full(n_nodes, np.inf)
    for j in range(len(final)):
        val[final[j]] = fcost[j]
    for i in range(len(src) - 1, -1, -1):
        v = base[i] + val[dst[i]]
        if v < val[src[i]]:
            val[src[i]] = v
    return val


@njit(cache=True)
def _dp(src, dst, xs, slot, cached, base, n_nodes, final, fcost, px, pa, lo, hi, T):
    val = np.full(n_nodes, np.inf)
    pred = np.full(n_nodes, -1, np.int64)
    val[0] = 0.0
    for i in range(len(src)):
        v0 = val[src[i]]
        if v0 == np.inf:
            continue
        t = slot[i]
        xx = xs[i]
        if cached[i]:
            if xx < lo[t] or xx > hi[t] or hi[t] < 0:
                continue
            v = v0 + base[i] + px[t] * xx + pa[t]
        else:
            if lo[t] != 0:
                continue
            v = v0 + base[i]
        if v < val[dst[i]]:
            val[dst[i]] = v
            pred[dst[i]] = i
    best, node = np.inf, -1
    for jj in range(len(final)):
        j = final[jj]
        if val[j] + fcost[jj] < best:
            best, node = val[j] + fcost[jj], j
    a = np.zeros(T)
    x = np.zeros(T)
    while node > 0:
        i = pred[node]
        if i < 0:
            break
        a[slot[i]] = 1.0 if cached[i] else 0.0
        x[slot[i]] = xs[i]
        node = src[i]
    return best, a, x


# ------------------------------------------------------------------------------ the station
def coupled_slots(d: StationData) -> tuple[np.ndarray, np.ndarray]:
    """Slots where the budget (5) and where memory (3) can bind at all (else the row is implied)."""
    R = d.R.astype(float)
    budget = np.nonzero(R @ d.flops_per_request > d.E + TOL * max(1.0, d.E))[0]
    mem = np.nonzero(np.full(d.T, d.s.sum() > d.G + TOL * max(1.0, d.G)))[0]
    return budget, mem


def knapsack(values: np.ndarray, weights: np.ndarray, lo: np.ndarray, hi: np.ndarray,
             cap: float) -> tuple[float, np.ndarray]:
    """max Σ v·y s.t. Σ w·y ≤ cap, lo ≤ y ≤ hi integer (w ≥ 0), by depth-first branch and bound
    (numba); exact. Returns (−inf, lo) when even y = lo does not fit."""
    lo = np.maximum(np.asarray(lo, np.int64), 0)
    hi = np.asarray(hi, np.int64)
    values = np.asarray(values, float)
    weights = np.asarray(weights, float)
    W = float(weights @ lo)
    if W > cap:
        return -np.inf, lo
    best, y = _knap(values, weights, lo, np.maximum(hi, lo), cap - W)
    return float(values @ lo + best), y


@njit(cache=True)
def _knap(v, w, lo, hi, cap):
    # items worth taking: v > 0; zero-weight ones are taken in full, the rest searched in order
    # of value per weight with the fractional (Dantzig) bound
    n = len(v)
    y = lo.copy()
    base = 0.0
    idx = []
    for i in range(n):
        if v[i] > 0 and hi[i] > lo[i]:
            if w[i] <= 0:
                y[i] = hi[i]
                base += v[i] * (hi[i] - lo[i])
            else:
                idx.append(i)
    m = len(idx)
    if m == 0:
        return base, y
    items = np.array(idx)
    dens = np.array([v[i] / w[i] for i in idx])
    items = items[np.argsort(-dens)]
    iv = v[items]
    iw = w[items]
    ic = hi[items] - lo[items]
    cur = np.zeros(m, np.int64)
    best_c = np.zeros(m, np.int64)
    best = 0.0
    # iterative DFS: at depth k try counts from the largest down
    cnt = np.full(m + 1, -1, np.int64)
    capk = np.zeros(m + 1)
    valk = np.zeros(m + 1)
    k = 0
    capk[0] = cap
    valk[0] = 0.0
    cnt[0] = min(ic[0], int(np.floor(cap / iw[0] + 1e-12))) + 1
    while k >= 0:
        cnt[k] -= 1
        if cnt[k] < 0:
            k -= 1
            continue
        c = cnt[k]
        rem = capk[k] - c * iw[k]
        if rem < 0:
            continue
        val = valk[k] + c * iv[k]
        cur[k] = c
        if val > best:
            best = val
            best_c[:] = 0
            best_c[:k + 1] = cur[:k + 1]
        if k + 1 < m:
            # fractional bound of the rest
            ub = val
            r = rem
            for j in range(k + 1, m):
                take = min(float(ic[j]), r / iw[j])
                ub += take * iv[j]
                r -= take * iw[j]
                if r <= 0:
                    break
            if ub <= best + 1e-15 * max(1.0, abs(best)):
                continue
            k += 1
            capk[k] = rem
            valk[k] = val
            cnt[k] = min(ic[k], int(np.floor(rem / iw[k] + 1e-12))) + 1
    for j in range(m):
        y[items[j]] += best_c[j]
    return base + best, y


class Decomposition:
    """The pair graphs of one station and the Lagrangian over its coupled rows.

    Budget (5), by variable splitting: in every slot t where it can bind, a copy y[t][p] of x[t][p]
    must satisfy the budget as an integer knapsack, and ν[t][p] (free sign) prices x = y. Memory (3)
    is relaxed with π_t ≥ 0 on the row scaled to a right-hand side of 1. In the evaluator's units
    (slot average):  L(ν, π) = Σ_p DP_p(ν, π)/T + Σ_t min_{y ∈ knapsack_t} (−ν_t·y) − Σ_t π_t,
    a lower bound on (28) for any ν and π ≥ 0. `y` below is the vector (ν over the links, π).
    """

    def __init__(self, d: StationData, st: State | None = None, terminal=None):
        self.d = d
        self.st = st or State.cold(d.P)
        self.graphs = [PairGraph.build(d, p, self.st) for p in range(d.P)]
        self.terminal = terminal
        if terminal is not None:
            for p, g in enumerate(self.graphs):
                f = g.final
                g.final_cost = np.asarray(terminal(p, g.node_cached[f], g.node_K[f], g.node_kappa[f]), float)
        self.B, self.M = coupled_slots(d)
        fl = d.flops_per_request
        self.cap = d.E + TOL * max(1.0, d.E)
        xcap = d.R.astype(np.int64).copy()
        for p in range(d.P):
            if fl[p] > 0:
                xcap[:, p] = np.minimum(xcap[:, p], int(np.floor(self.cap / fl[p])))
        self.xcap = xcap
        self.links = [(int(t), p) for t in self.B for p in range(d.P) if xcap[t, p] > 0]
        self.link_of = {tp: i for i, tp in enumerate(self.links)}
        self.pair_links = [np.array([i for i, (t, q) in enumerate(self.links) if q == p], np.int64)
                           for p in range(d.P)]
        self.pair_link_slots = [np.array([self.links[i][0] for i in self.pair_links[p]], np.int64)
                                for p in range(d.P)]
        self.slot_links = [np.array([self.link_of[(int(t), p)] for p in range(d.P) if (int(t), p) in self.link_of],
                                    np.int64) for t in self.B]
        self.slot_pairs = [np.array([p for p in range(d.P) if (int(t), p) in self.link_of], np.int64)
                           for t in self.B]
        self.nL, self.nB, self.nM = len(self.links), len(self.B), len(self.M)
        self.evals = 0

    @property
    def dim(self) -> int:
        return self.nL + self.nM

    def tail(self, A: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Each pair's terminal value (slot average) at the state (A, X) ends in; 0 without one."""
        if self.terminal is None:
            return np.zeros(self.d.P)
        end = final_state(A, X, self.d.k, self.d.delta, self.st)
        return np.array([float(self.terminal(p, end.cached[[p]] > 0.5, end.K[[p]], end.kappa[[p]])[0])
                         for p in range(self.d.P)]) / self.d.T

    def pair_costs(self, A: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Each pair's share of the objective: its evaluator cost plus its terminal value."""
        return pair_costs(self.d, A, X, self.st) + self.tail(A, X)

    def objective(self, A: np.ndarray, X: np.ndarray):
        """(objective, violations): the evaluator's cost of (A, X) plus the terminal values."""
        ev = evaluate_station(self.d, A, X, self.st)
        return ev.cost + float(self.tail(A, X).sum()), ev.violations

    def prices(self, p: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-slot prices on x and a of pair p (slot-sum units) for multipliers y = (ν, π)."""
        d, T = self.d, self.d.T
        px, pa = np.zeros(T), np.zeros(T)
        px[self.pair_link_slots[p]] = T * y[self.pair_links[p]]
        if self.nM:
            pa[self.M] = T * y[self.nL:] * d.s[p] / (d.G if d.G > 0 else 1.0)
        return px, pa

    def knap(self, b: int, y: np.ndarray, bounds=None) -> tuple[float, np.ndarray]:
        """Slot B[b]'s knapsack: max ν·y over the budget; returns (max, y over slot_pairs)."""
        t, ps = int(self.B[b]), self.slot_pairs[b]
        v = y[self.slot_links[b]]
        lo = np.zeros(len(ps), np.int64)
        hi = self.xcap[t, ps].astype(np.int64)
        if bounds is not None:
            for j, p in enumerate(ps):
                blo, bhi = bounds[p]
                lo[j] = max(int(blo[t]), 0)
                hi[j] = min(hi[j], max(int(bhi[t]), 0))
        if np.any(lo > hi):
            return -np.inf, lo
        return knapsack(v, self.d.flops_per_request[ps], lo, hi, self.cap)

    def lagrangian(self, y: np.ndarray, bounds=None):
        """L(y), the pair schedules [(a, x, own cost)] and the knapsack solutions attaining it."""
        T = self.d.T
        total = -float(np.sum(y[self.nL:]))
        sols, knaps = [], []
        for p, g in enumerate(self.graphs):
            px, pa = self.prices(p, y)
            lo, hi = (None, None) if bounds is None else bounds[p]
            v, a, x = g.solve(px, pa, lo, hi)
            if not np.isfinite(v):
                return np.inf, [], []
            total += v / T
            sols.append((a, x, v / T - (px @ x + pa @ a) / T))
        for b in range(self.nB):
            v, yy = self.knap(b, y, bounds)
            if not np.isfinite(v):
                return np.inf, [], []
            total -= v
            knaps.append(yy)
        self.evals += 1
        return total, sols, knaps


# ------------------------------------------------------------------------------ DW master
SLACK_FACTOR = 1e3
"""A unit of slack on a coupled row of the master LP costs this many times (all-cloud cost + λ·P):
more than any schedule can gain from it. Slack keeps the LP feasible under branching bounds; it
only guides the prices and never enters a bound."""


def _quiet_highs():
    hs = _highspy()
    from pyomo.common.tee import capture_output

    with capture_output(capture_fd=True):
        h = hs.Highs()
        h.setOptionValue("output_flag", False)
    for k, v in {"threads": 1, "random_seed": 0, "primal_feasibility_tolerance": 1e-9,
                 "dual_feasibility_tolerance": 1e-9}.items():
        h.setOptionValue(k, v)
    return hs, h


class Master:
    """The Dantzig–Wolfe master LP: pair schedules and slot knapsack solutions, one convexity row
    each, link rows Σ λ x[t][p] − Σ η y[t][p] = 0, memory rows Σ λ s a/G ≤ 1. Its LP value is the
    cutting-plane model of max L; its duals are the next multipliers."""

    def __init__(self, dec: Decomposition):
        self.hs, self.h = _quiet_highs()
        self.dec = dec
        h, inf = self.h, self.hs.kHighsInf
        d = dec.d
        slack = SLACK_FACTOR * (sum(g.const for g in dec.graphs) / d.T + d.lam * d.P + 1e-6)
        P, nB, nL, nM = dec.d.P, dec.nB, dec.nL, dec.nM
        self.r_link, self.r_mem = P + nB, P + nB + nL
        e = (0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        h.addRows(P + nB, np.ones(P + nB), np.ones(P + nB), *e)
        h.addRows(nL, np.zeros(nL), np.zeros(nL), *e)
        h.addRows(nM, np.full(nM, -inf), np.ones(nM), *e)
        for r in range(nL):  # slacks: keep the LP feasible under branching
            h.addCol(slack, 0.0, inf, 1, np.array([self.r_link + r], np.int32), np.array([1.0]))
            h.addCol(slack, 0.0, inf, 1, np.array([self.r_link + r], np.int32), np.array([-1.0]))
        for r in range(nM):
            h.addCol(slack, 0.0, inf, 1, np.array([self.r_mem + r], np.int32), np.array([-1.0]))
        self.n_slack = 2 * nL + nM
        self.cols: list[tuple] = []  # ('p', p, a, x, cost) or ('k', b, y)
        self.seen: set = set()
        # the same columns as arrays (for the bound checks): x, a, pair (−1: knapsack), slot
        # index b of a knapsack column (−1: pair) and its y over all pairs
        self._X = np.zeros((64, d.T))
        self._A = np.zeros((64, d.T))
        self._P = np.full(64, -1, np.int64)
        self._KB = np.full(64, -1, np.int64)
        self._Y = np.zeros((64, d.P), np.int64)
        self.b_of = {int(t): b for b, t in enumerate(dec.B)}

    def _push(self, p: int, a, x, b: int, y) -> None:
        n = len(self.cols)
        if n >= len(self._P):
            grow = len(self._P)
            self._X = np.vstack([self._X, np.zeros((grow, self._X.shape[1]))])
            self._A = np.vstack([self._A, np.zeros((grow, self._A.shape[1]))])
            self._P = np.concatenate([self._P, np.full(grow, -1, np.int64)])
            self._KB = np.concatenate([self._KB, np.full(grow, -1, np.int64)])
            self._Y = np.vstack([self._Y, np.zeros((grow, self._Y.shape[1]), np.int64)])
        if p >= 0:
            self._X[n], self._A[n], self._P[n] = x, a, p
        else:
            self._KB[n] = b
            self._Y[n, self.dec.slot_pairs[b]] = y

    def add(self, p: int, a: np.ndarray, x: np.ndarray, cost: float) -> bool:
        key = ("p", p, a.tobytes(), x.tobytes())
        if key in self.seen:
            return False
        self.seen.add(key)
        dec = self.dec
        li = dec.pair_links[p]
        xv = x[dec.pair_link_slots[p]]
        nz = xv != 0
        idx = [p] + list(self.r_link + li[nz])
        val = [1.0] + list(xv[nz])
        if dec.nM:
            mv = a[dec.M] * dec.d.s[p] / (dec.d.G if dec.d.G > 0 else 1.0)
            nzm = np.nonzero(mv)[0]
            idx += list(self.r_mem + nzm)
            val += list(mv[nzm])
        self.h.addCol(float(cost), 0.0, self.hs.kHighsInf, len(idx), np.asarray(idx, np.int32),
                      np.asarray(val, float))
        self._push(p, a, x, -1, None)
        self.cols.append(("p", p, a, x, float(cost)))
        return True

    def add_knap(self, b: int, y: np.ndarray) -> bool:
        key = ("k", b, y.tobytes())
        if key in self.seen:
            return False
        self.seen.add(key)
        dec = self.dec
        nz = y != 0
        idx = [dec.d.P + b] + list(self.r_link + dec.slot_links[b][nz])
        val = [1.0] + list(-y[nz].astype(float))
        self.h.addCol(0.0, 0.0, self.hs.kHighsInf, len(idx), np.asarray(idx, np.int32),
                      np.asarray(val, float))
        self._push(-1, None, None, b, y)
        self.cols.append(("k", b, y))
        return True

    def add_all(self, sols, knaps) -> int:
        n = sum(self.add(p, a, x, own) for p, (a, x, own) in enumerate(sols))
        return n + sum(self.add_knap(b, y) for b, y in enumerate(knaps))

    def compatible(self, bounds) -> np.ndarray:
        """Which columns keep the branching bounds (all without bounds)."""
        n = len(self.cols)
        ok = np.ones(n, bool)
        if bounds is None:
            return ok
        X, A, Pc, KB, Y = self._X[:n], self._A[:n], self._P[:n], self._KB[:n], self._Y[:n]
        for p, (lo, hi) in enumerate(bounds):
            ts = np.nonzero((lo != 0) | (hi < FREE))[0]
            if not len(ts):
                continue
            rows = np.nonzero(Pc == p)[0]
            x, a = X[rows][:, ts], A[rows][:, ts] > 0.5
            lt, ht = lo[ts], hi[ts]
            bad = np.where(a, (x < lt) | (x > ht) | (ht < 0), lt != 0).any(axis=1)
            ok[rows[bad]] = False
            for t in ts:
                b = self.b_of.get(int(t))
                if b is None:
                    continue
                krows = np.nonzero(KB == b)[0]
                y = Y[krows, p]
                bad = (y < max(lo[t], 0)) | (y > max(hi[t], 0))
                ok[krows[bad]] = False
        return ok

    def restrict(self, bounds) -> None:
        """Columns that break a branching bound get upper bound 0."""
        n = len(self.cols)
        if n:
            ub = np.where(self.compatible(bounds), self.hs.kHighsInf, 0.0)
            idx = np.arange(self.n_slack, self.n_slack + n, dtype=np.int32)
            self.h.changeColsBounds(n, idx, np.zeros(n), ub)

    def solve_lp(self) -> tuple[float, np.ndarray, np.ndarray]:
        """(LP value, multipliers y = (ν, π ≥ 0), column values)."""
        h = self.h
        h.run()
        sol = h.getSolution()
        rd = np.asarray(sol.row_dual, float)
        dec = self.dec
        nu = -rd[self.r_link:self.r_link + dec.nL]
        pi = np.maximum(-rd[self.r_mem:self.r_mem + dec.nM], 0.0)
        lam = np.asarray(sol.col_value[self.n_slack:], float)
        return float(h.getInfo().objective_function_value), np.concatenate([nu, pi]), lam

    def xbar(self, lam: np.ndarray) -> np.ndarray:
        """The master's x̄[t][p] = Σ λ x over pair columns (T, P)."""
        d = self.dec.d
        X = np.zeros((d.T, d.P))
        for j, col in enumerate(self.cols[:len(lam)]):
            if col[0] == "p" and lam[j] > 1e-12:
                X[:, col[1]] += lam[j] * col[3]
        return X

    def support_schedule(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each pair's cheapest schedule among the master's columns with λ > 0."""
        d = self.dec.d
        A, X = np.zeros((d.T, d.P)), np.zeros((d.T, d.P))
        best = np.full(d.P, np.inf)
        for j, col in enumerate(self.cols[:len(lam)]):
            if col[0] == "p" and lam[j] > 1e-9 and col[4] < best[col[1]]:
                best[col[1]] = col[4]
                A[:, col[1]], X[:, col[1]] = col[2], col[3]
        return A, X

    def solve_ip(self, time_limit: float, bounds=None) -> tuple[np.ndarray, np.ndarray] | None:
        """The pair columns as a MIP (binary λ, the budget and memory rows themselves): the best
        feasible mix of the schedules generated so far."""
        hs, h = _quiet_highs()
        dec, d = self.dec, self.dec.d
        ok = self.compatible(bounds)
        cols = [(j, c) for j, c in enumerate(self.cols) if c[0] == "p" and ok[j]]
        if not cols:
            return None
        P, nB, nM = d.P, dec.nB, dec.nM
        e = (0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        h.addRows(P, np.ones(P), np.ones(P), *e)
        h.addRows(nB, np.full(nB, -hs.kHighsInf), np.full(nB, self.dec.cap / d.E if d.E > 0 else 1.0), *e)
        h.addRows(nM, np.full(nM, -hs.kHighsInf), np.full(nM, 1.0), *e)
        fl = d.flops_per_request / (d.E if d.E > 0 else 1.0)
        for _, (_, p, a, x, cost) in cols:
            idx, val = [p], [1.0]
            ub = x[dec.B] * fl[p]
            for b in np.nonzero(ub)[0]:
                idx.append(P + b)
                val.append(ub[b])
            if nM:
                mv = a[dec.M] * d.s[p] / (d.G if d.G > 0 else 1.0)
                for r in np.nonzero(mv)[0]:
                    idx.append(P + nB + r)
                    val.append(mv[r])
            h.addCol(cost, 0.0, 1.0, len(idx), np.asarray(idx, np.int32), np.asarray(val, float))
        n = len(cols)
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.array([hs.HighsVarType.kInteger] * n))
        h.setOptionValue("time_limit", max(float(time_limit), 0.01))
        h.setOptionValue("mip_rel_gap", 1e-6)
        h.setOptionValue("mip_feasibility_tolerance", 1e-9)
        h.run()
        if h.getInfo().primal_solution_status != 2:
            return None
        lam = np.asarray(h.getSolution().col_value, float)
        A, X = np.zeros((d.T, d.P)), np.zeros((d.T, d.P))
        for k in np.nonzero(lam > 0.5)[0]:
            _, p, a, x, _ = cols[k][1]
            A[:, p], X[:, p] = a, x
        return A, X


# ------------------------------------------------------------------------------ primal side
def pair_costs(d: StationData, A: np.ndarray, X: np.ndarray, st: State | None = None) -> np.ndarray:
    """Each pair's share of L_n for the schedule (A, X): the evaluator's five terms, per pair."""
    from optcache.dynamics import trajectory

    st = st or State.cold(d.P)
    _, kap = trajectory(A, X, d.k, d.delta, st)
    prev = np.vstack([st.cached[None, :], A[:-1]])
    R = d.R.astype(float)
    per = (d.lam * np.maximum(A - prev, 0.0) + R * d.access + (R - X) * (d.d / d.rC + d.l0)
           + X * d.comp_unit + X * d.acc_coef / (kap + d.kappa0))
    return per.sum(axis=0) / d.T


def _residual_caps(dec: Decomposition, A: np.ndarray, X: np.ndarray, p: int, bounds=None):
    """Per-slot bounds on pair p's x so that (3) and (5) hold with the other pairs as they are."""
    d = dec.d
    fl = d.flops_per_request
    other_fl = X @ fl - X[:, p] * fl[p]
    res = d.E + TOL * max(1.0, d.E) - other_fl
    hi = np.full(d.T, FREE, np.int64)
    if fl[p] > 0:
        hi = np.floor(np.maximum(res, 0.0) / fl[p]).astype(np.int64)
    hi[res < -1e-300] = -1 if fl[p] > 0 else hi[res < -1e-300]
    other_m = A @ d.s - A[:, p] * d.s[p]
    hi[other_m + d.s[p] > d.G + TOL * max(1.0, d.G)] = -1
    lo = np.zeros(d.T, np.int64)
    if bounds is not None:
        blo, bhi = bounds[p]
        lo = np.asarray(blo, np.int64).copy()
        hi = np.minimum(hi, bhi)
    return lo, hi


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
            lo, hi = _residual_caps(dec, A, X, p, bounds)
            v, a, x = g.solve(zero, zero, lo, hi)
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
                lo, hi = _residual_caps(dec, A2, X2, r)
                v, a, x = dec.graphs[r].solve(zero, zero, lo, hi)
                A2[:, r], X2[:, r] = a, x
                new += v / T
            if new < cost[p] + cost[q] - 1e-12 * max(1.0, abs(cost[p] + cost[q])):
                A, X = local_search(dec, A2, X2)
                cost = dec.pair_costs(A, X)
                improved = True
                break
    return A, X


def sequential(dec: Decomposition, y: np.ndarray, order, bounds=None):
    """Pairs one after another, each by its DP at prices y within what the earlier ones left."""
    d = dec.d
    A, X = np.zeros((d.T, d.P)), np.zeros((d.T, d.P))
    for p in order:
        lo, hi = _residual_caps(dec, A, X, p, bounds)
        px, pa = dec.prices(p, y)
        v, a, x = dec.graphs[p].solve(px, pa, lo, hi)
        if not np.isfinite(v):
            return None
        A[:, p], X[:, p] = a, x
    return A, X


# ------------------------------------------------------------------------------ the method
def _empty(lo: np.ndarray, hi: np.ndarray) -> bool:
    """True when (xlo, xhi) admits no (a, x) in some slot (hi = −1 with lo = 0 is 'not cached')."""
    return bool(np.any(((lo > hi) & ~((lo == 0) & (hi == -1))) | ((lo == -1) & (hi == -1))))


def _meet(b, f):
    """The intersection of two (xlo, xhi) bounds (xlo = −1, forced caching, survives a 0)."""
    lo = np.where((b[0] == -1) & (f[0] <= 0), -1, np.maximum(b[0], f[0]))
    lo = np.where((f[0] == -1) & (b[0] <= 0), -1, lo)
    return lo, np.minimum(b[1], f[1])


@dataclass
class _Node:
    bound: float
    bounds: list | None  # per pair (xlo, xhi)
    y: np.ndarray
    depth: int = 0
    order: int = 0

    def __lt__(self, other):
        return (self.bound, self.order) < (other.bound, other.order)


class _Search:
    """Column generation at the root, primal heuristics, then best-first branch and price."""

    def __init__(self, d: StationData, st: State | None, deadline: float, gap: float, terminal=None):
        self.d, self.deadline, self.gap = d, deadline, gap
        self.dec = Decomposition(d, st, terminal)
        self.master = Master(self.dec)
        self.best_cost = np.inf
        self.best = None
        self.t0 = time.perf_counter()
        zero = np.zeros((d.T, d.P))
        self.offer(zero, zero)  # all-cloud: always feasible
        for p in range(d.P):
            g = self.dec.graphs[p]  # the all-cloud column ends 'off' (the last final node)
            self.master.add(p, np.zeros(d.T), np.zeros(d.T), float((g.const + g.final_cost[-1]) / d.T))
        for b in range(self.dec.nB):
            self.master.add_knap(b, np.zeros(len(self.dec.slot_pairs[b]), np.int64))
        self.nodes = 0

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def offer(self, A, X) -> bool:
        cost, violations = self.dec.objective(A, X)
        if not violations and cost < self.best_cost - 1e-15:
            self.best_cost, self.best = cost, (A.copy(), X.copy())
            return True
        return False

    def prune_level(self) -> float:
        """A node whose bound reaches this cannot improve the incumbent by more than the gap."""
        return self.best_cost - max(self.gap, GAP_FLOOR) * max(abs(self.best_cost), 1e-10)

    def colgen(self, bounds, y0: np.ndarray, tol: float = 1e-9, max_iter: int = 1000,
               until: float | None = None):
        """Maximise L over the multipliers at a node (Wentges-smoothed column generation).

        Returns (best L, its y, master LP value, λ, pair solutions at the best y). L = inf: the
        node's bounds admit no schedule."""
        dec, master = self.dec, self.master
        Lc, sols, knaps = dec.lagrangian(y0, bounds)
        if not sols:
            return np.inf, y0, np.inf, None, []
        master.add_all(sols, knaps)
        yc, sols_c = y0, sols
        if dec.dim == 0:
            return Lc, yc, Lc, None, sols
        master.restrict(bounds)
        alpha, V, lam = 0.5, np.inf, None
        for _ in range(max_iter):
            if self.left() <= 0 or (until is not None and time.perf_counter() > until):
                break
            V, ym, lam = master.solve_lp()
            if V - Lc <= tol * max(abs(V), 1e-10) or Lc >= self.prune_level():
                break
            ys = alpha * yc + (1 - alpha) * ym
            L, sols, knaps = dec.lagrangian(ys, bounds)
            if not sols:  # cannot happen at a node whose y0 worked: the bounds do not change
                return np.inf, ys, V, lam, []
            new = master.add_all(sols, knaps)
            if L > Lc:
                Lc, yc, sols_c = L, ys, sols
            alpha = 0.5 if new else 0.0  # mispricing: a pure Kelley step next
        return Lc, yc, V, lam, sols_c

    def heuristics(self, y: np.ndarray, sols, bounds=None, ip_time: float = 2.0, swaps: float = 0.0) -> None:
        d = self.d
        cands = []
        if sols:
            cands.append((np.stack([s[0] for s in sols], axis=1), np.stack([s[1] for s in sols], axis=1)))
        fl = d.flops_per_request
        for order in (range(d.P), np.argsort(-fl), np.argsort(fl)):
            s = sequential(self.dec, y, list(order), bounds)
            if s is not None:
                cands.append(s)
        if self.dec.dim and ip_time > 0 and self.left() > 0:
            s = self.master.solve_ip(min(ip_time, max(self.left(), 0.01)), bounds)
            if s is not None:
                cands.append(s)
        for A, X in cands:
            if evaluate_station(d, A, X, self.dec.st).violations:
                continue
            self.offer(*local_search(self.dec, A, X))
        if swaps and self.best is not None:
            self.offer(*pair_swaps(self.dec, *self.best, deadline=time.perf_counter() + min(swaps, max(self.left(), 0))))

    def candidates(self, lam: np.ndarray):
        """Links (score, t, p, values) where the master mixes schedules of p that disagree on
        x[t][p] in a coupled slot; the score is the fractionality of x̄ (most fractional first)."""
        dec, master = self.dec, self.master
        out = []
        xb = master.xbar(lam)
        for p in range(dec.d.P):
            ts = dec.pair_link_slots[p]
            if not len(ts):
                continue
            used = [c for j, c in enumerate(master.cols[:len(lam)]) if c[0] == "p" and c[1] == p and lam[j] > 1e-9]
            if len(used) < 2:
                continue
            xs = np.stack([c[3][ts] for c in used])
            spread = xs.max(axis=0) - xs.min(axis=0)
            for i in np.nonzero(spread > 0.5)[0]:
                f = xb[ts[i], p] - np.floor(xb[ts[i], p] + 1e-9)
                sc = min(f, 1 - f) if f > 1e-6 else 1e-3 * spread[i]
                out.append((sc, int(ts[i]), p, sorted(set(xs[:, i].astype(int).tolist())), xb[ts[i], p]))
        out.sort(key=lambda c: -c[0])
        return out

    def value_bounds(self, y, L, dp, kmax, bounds, t: int, p: int):
        """For each value v of x[t][p] in its domain: (Lagrangian with x[t][p] = v at y, the pair's
        DP part, the knapsack part); L, dp, kmax are L(y) and its terms under `bounds`."""
        dec, T = self.dec, self.d.T
        b = self.master.b_of[t]
        lo, hi = bounds[p]
        px, pa = dec.prices(p, y)
        res = {}
        for v in range(max(int(lo[t]), 0), min(int(hi[t]), int(dec.xcap[t, p])) + 1):
            blo, bhi = lo.copy(), hi.copy()
            blo[t] = v if v > 0 else blo[t]
            bhi[t] = v
            dv, _, _ = dec.graphs[p].solve(px, pa, blo, bhi)
            kb = [(l2, h2) if q != p else (blo, bhi) for q, (l2, h2) in enumerate(bounds)]
            kv = -dec.knap(b, y, kb)[0]
            res[v] = (L + (dv / T - dp[p]) + (kv - kmax[b]), dv / T - dp[p], kv - kmax[b])
        return res

    def terms(self, y, bounds):
        """L(y) under bounds, each pair's DP value and each knapsack's term (−max)."""
        dec, T = self.dec, self.d.T
        L, sols, _ = dec.lagrangian(y, bounds)
        if not sols:
            return np.inf, [], []
        dp = []
        for p, (a, x, own) in enumerate(sols):
            px, pa = dec.prices(p, y)
            dp.append(own + (px @ x + pa @ a) / T)
        kmax = [-dec.knap(b, y, bounds)[0] for b in range(dec.nB)]
        return L, dp, kmax

    def branch_on(self, lam: np.ndarray, node=None, n_strong: int = 8):
        """('x', t, p, v): split x[t][p] ≤ v | x[t][p] ≥ v + 1, chosen among the most fractional
        links by the children's Lagrangian at the node's multipliers (cheap strong branching).
        Values whose Lagrangian reaches the prune level are cut from the node's bounds first
        (returned as the least such Lagrangian). ('a', t, p, 0) splits a[t][p] (memory)."""
        dec, master = self.dec, self.master
        if lam is None:
            return None, np.inf
        cands = self.candidates(lam)
        cut = np.inf
        if cands and node is not None and n_strong > 0:
            L, dp, kmax = self.terms(node.y, node.bounds)
            level = self.prune_level()
            best, best_sc = None, -np.inf
            for _, t, p, _vals, _xb in cands[:n_strong]:
                vb = self.value_bounds(node.y, L, dp, kmax, node.bounds, t, p)
                keep = [v for v in sorted(vb) if vb[v][0] < level]
                for v in vb:
                    if vb[v][0] >= level:
                        cut = min(cut, vb[v][0])
                lo, hi = node.bounds[p]
                if not keep:
                    lo[t], hi[t] = 1, 0  # nothing here can improve the incumbent
                    return None, cut
                if keep[0] > 0:
                    lo[t] = max(lo[t], keep[0])
                hi[t] = min(hi[t], keep[-1])
                for v in range(keep[0], keep[-1]):
                    down = [u for u in keep if u <= v]
                    up = [u for u in keep if u > v]
                    ld = L + min(vb[u][1] for u in down) + min(vb[u][2] for u in down)
                    lu = L + min(vb[u][1] for u in up) + min(vb[u][2] for u in up)
                    sc = min(ld, lu) + 1e-3 * max(ld, lu)
                    if sc > best_sc:
                        best, best_sc = ("x", t, p, v), sc
            if best is not None:
                return best, cut
        if cands:
            _, t, p, vals, xb = cands[0]
            lo, hi = node.bounds[p] if node is not None else (None, None)
            v = int(np.floor(xb + 1e-9)) if xb - np.floor(xb + 1e-9) > 1e-6 else vals[0]
            if lo is not None:
                v = min(max(v, max(int(lo[t]), 0)), int(hi[t]) - 1)
            return ("x", t, p, v), cut
        if dec.nM:
            for p in range(dec.d.P):
                used = [c for j, c in enumerate(master.cols[:len(lam)]) if c[0] == "p" and c[1] == p and lam[j] > 1e-9]
                if len(used) > 1:
                    A = np.stack([c[2][dec.M] for c in used])
                    dis = np.nonzero(A.max(axis=0) != A.min(axis=0))[0]
                    if len(dis):
                        return ("a", int(dec.M[dis[0]]), p, 0), cut
        return None, cut

    def probe(self, y: np.ndarray, L: float, bounds):
        """Lagrangian probing at multipliers y: a value v of x[t][p] in a coupled slot whose
        Lagrangian with x[t][p] = v reaches the prune level cannot improve the incumbent; the
        values left at either end are cut off. Returns the tightened bounds and the least
        Lagrangian of the values cut (which the final bound must cover)."""
        dec = self.dec
        level = self.prune_level()
        out = [(lo.copy(), hi.copy()) for lo, hi in bounds]
        L, dp, kmax = self.terms(y, out)
        cut = np.inf
        if not np.isfinite(L):
            return out, cut
        for b, t in enumerate(dec.B):
            for p in dec.slot_pairs[b]:
                vb = self.value_bounds(y, L, dp, kmax, out, int(t), int(p))
                keep = [v for v in sorted(vb) if vb[v][0] < level]
                cut = min([cut] + [vb[v][0] for v in vb if vb[v][0] >= level])
                lo, hi = out[p]
                if not keep:
                    lo[t], hi[t] = 1, 0  # empty: no improving schedule at all
                    continue
                if keep[0] > 0:
                    lo[t] = max(lo[t], keep[0])
                hi[t] = min(hi[t], keep[-1])
        return out, cut

    def run(self, warm=None, root_only: bool = False) -> float:
        """The whole search; returns the certified bound."""
        d = self.d
        if warm is not None:
            self.offer(*warm)
        y0 = np.zeros(self.dec.dim)
        total = self.deadline - self.t0
        until = None if not np.isfinite(total) else self.t0 + ROOT_SHARE * total
        L, y, V, lam, sols = self.colgen(None, y0, tol=ROOT_TOL, until=until)
        self.root = {"bound": L, "master": V, "evals": self.dec.evals, "seconds": time.perf_counter() - self.t0}
        ip = ROOT_IP_SECONDS if not np.isfinite(total) else min(ROOT_IP_SECONDS, ROOT_IP_SHARE * total)
        self.heuristics(y, sols, ip_time=ip, swaps=ip)
        self.root["primal"] = self.best_cost
        bound = min(L, self.best_cost)
        if root_only or self.best_cost - bound <= max(self.gap, GAP_FLOOR) * max(abs(self.best_cost), 1e-10):
            return bound
        free = [(np.zeros(d.T, np.int64), np.full(d.T, FREE, np.int64)) for _ in range(d.P)]
        root_y, probed_at = y, self.best_cost
        fixed, pruned = self.probe(root_y, L, free)
        heap = [_Node(L, fixed, y, 0, 0)]
        lams = {0: lam}
        counter = itertools.count(1)
        unsure: list[float] = []  # nodes dropped with an unconverged bound
        # pruned: the least bound of a pruned node or probed-out value (the certificate covers them)
        plunge = None  # a child explored right after its parent (depth first), for incumbents
        while (heap or plunge is not None) and self.left() > 0:
            if plunge is not None:
                node, plunge = plunge, None
            else:
                if self.best_cost < probed_at and self.left() > 0:
                    # a better incumbent: probe again at the root multipliers, tighten every node
                    probed_at = self.best_cost
                    fixed, pr = self.probe(root_y, L, fixed)
                    pruned = min(pruned, pr)
                    for n in heap:
                        n.bounds = [_meet(b, f) for b, f in zip(n.bounds, fixed, strict=True)]
                node = heapq.heappop(heap)
                node.depth = 0
                if any(_empty(lo, hi) for lo, hi in node.bounds):
                    continue  # emptied by probing: its values are in `pruned`
            if node.bound >= self.prune_level():
                pruned = min(pruned, node.bound)
                continue
            lam = lams.pop(node.order, None)
            br, cut = self.branch_on(lam, node)
            pruned = min(pruned, cut)
            if br is None and any(_empty(lo, hi) for lo, hi in node.bounds):
                continue  # probing emptied the node: its values are in `pruned`
            if br is None:
                # the master's columns agree on every coupled x and a: the cheapest column of
                # each pair in its support is a feasible schedule costing at most the LP value
                if lam is not None:
                    self.offer(*self.master.support_schedule(lam))
                if node.bound < self.prune_level():
                    unsure.append(node.bound)
                continue
            kind, t, p, v = br
            children = []
            for side in (0, 1):
                bs = [(lo.copy(), hi.copy()) for lo, hi in node.bounds]
                lo, hi = bs[p]
                if kind == "x" and side == 0:
                    hi[t] = min(hi[t], v)
                elif kind == "x":
                    lo[t] = max(lo[t], v + 1)
                elif side == 0:
                    hi[t] = -1
                elif lo[t] == 0:
                    lo[t] = -1
                Lk, yk, Vk, lamk, solsk = self.colgen(bs, node.y, tol=NODE_TOL)
                self.nodes += 1
                if not np.isfinite(Lk):
                    continue
                Lk = max(Lk, node.bound)  # a child's optimum is at least its parent's bound
                if self.nodes % HEURISTIC_EVERY == 0:
                    self.heuristics(yk, solsk, bs, ip_time=0.5 if self.nodes % (5 * HEURISTIC_EVERY) == 0 else 0.0)
                if Lk < self.prune_level():
                    k = next(counter)
                    lams[k] = lamk
                    children.append(_Node(Lk, bs, yk, node.depth + 1, k))
                else:
                    pruned = min(pruned, Lk)
                if self.left() <= 0 and side == 0:
                    heapq.heappush(heap, node)  # its other child is unexplored: keep its bound
                    break
            children.sort()
            if children and node.depth < PLUNGE_DEPTH and self.left() > 0:
                plunge = children.pop(0)
            for c in children:
                heapq.heappush(heap, c)
        if plunge is not None:
            heapq.heappush(heap, plunge)
        return float(min([n.bound for n in heap] + unsure + [pruned, self.best_cost]))


def lagrange_station(data: StationData, state0: State | None = None, *, time_limit: float | None = None,
                     gap: float = DEFAULT_GAP, warm_start: tuple[np.ndarray, np.ndarray] | None = None,
                     root_only: bool = False, terminal=None) -> StationSolve:
    """Problem (28) on one station by Lagrangian decomposition and branch and price.

    The bound is a value of the Lagrangian (the least over the open and pruned leaves of the
    branching tree), valid whatever the multipliers; the cost is the evaluator's, of the best
    feasible schedule found. `termination` is 'optimal' when they meet within `gap`.
    `terminal(p, cached, K, kappa) -> values` (slot-sum units, vectorised over states) adds a
    value of each pair's final state to the objective (rolling horizon's tail); being separable
    by pair it keeps every bound valid, and cost and bound then include it.
    """
    t0 = time.perf_counter()
    deadline = t0 + (np.inf if time_limit is None else float(time_limit))
    s = _Search(data, state0, deadline, gap, terminal)
    build = time.perf_counter() - t0
    if warm_start is not None:
        wa, wx = (np.asarray(v, float) for v in warm_start)
        if not evaluate_station(data, wa, wx, s.dec.st).violations:
            s.offer(*local_search(s.dec, wa, wx))
    bound = s.run(root_only=root_only)
    A, X = s.best
    cost = s.best_cost
    bound = float(min(bound, cost))
    ok = cost - bound <= max(gap, GAP_FLOOR) * max(abs(cost), 1e-10)
    hs = _highspy()
    version = f"{hs.HIGHS_VERSION_MAJOR}.{hs.HIGHS_VERSION_MINOR}.{hs.HIGHS_VERSION_PATCH}" \
        if hasattr(hs, "HIGHS_VERSION_MAJOR") else ""
    history = [dict(s.root, nodes=s.nodes, evaluations=s.dec.evals, columns=len(s.master.cols))]
    return StationSolve(A, X, float(cost), bound, "optimal" if ok else "time_limit",
                        time.perf_counter() - t0, build, s.nodes, s.dec.evals, version, history)


@register("lagrange", exact=True, options=("time_limit", "gap"))
def lagrange(inst: Instance, time_limit: float | None = None, gap: float = DEFAULT_GAP) -> MethodResult:
    """Problem (28) by Lagrangian decomposition over pairs (exact DPs) and branch and price; certified bound."""
    return solve_by_station(inst, "lagrange", lambda d, **kw: lagrange_station(d, gap=gap, **kw), time_limit)
