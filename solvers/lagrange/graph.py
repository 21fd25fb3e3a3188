"""One pair's schedules as a layered DAG of its reachable states, and shortest paths over it.

A pair's own problem (switching (21), context (18) and window (28c), AoT (19), the exact accuracy
cost (24), transmission (22) and cloud (26)) involves no other pair: docs/formulation.md §6.
Its states after each slot are (cached?, K, κ); equal (K, κ) are merged to 1e-9 tokens. A schedule
of the pair is a path from the start node to a node of the last slot, and its cost is the sum of
its arcs' costs: a shortest path is the pair's exact optimum for any per-slot prices on a and x.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from optcache.dynamics import State, aged_kappa
from optcache.errors import SolverFailed
from optcache.evaluator import TOL, accepted
from optcache.instance import StationData

KEY_DIGITS = 9
"""(K, κ) of two states are merged when they agree to 1e-9 tokens (float noise of k·n − Δ·age)."""

MAX_ARCS = 20_000_000
"""Most arcs one station's pair graphs may hold together (1-2.5 GB near the limit, measured); the
paper's busiest stations need about 5 million. A larger station is a `SolverFailed` naming its
size, not a MemoryError."""

X_FREE = 1 << 30
"""An upper bound on x that never binds."""


@dataclass
class PairBounds:
    """Per-slot bounds on one pair's decisions: a_lo ≤ a[t] ≤ a_hi, x_lo ≤ x[t] ≤ x_hi.

    Branching and fixing act through these. An uncached slot (a = 0) has x = 0, so it needs
    a_lo = 0 and x_lo = 0; a cached slot with x = j needs a_hi = 1 and x_lo ≤ j ≤ x_hi."""

    a_lo: np.ndarray
    a_hi: np.ndarray
    x_lo: np.ndarray
    x_hi: np.ndarray

    @classmethod
    def free(cls, T: int) -> PairBounds:
        return cls(np.zeros(T, np.int64), np.ones(T, np.int64), np.zeros(T, np.int64),
                   np.full(T, X_FREE, np.int64))

    @classmethod
    def fixed(cls, a: np.ndarray, x: np.ndarray) -> PairBounds:
        """Bounds that admit exactly the schedule (a, x)."""
        a, x = np.asarray(a, np.int64), np.asarray(x, np.int64)
        return cls(a.copy(), a.copy(), x.copy(), x.copy())

    def copy(self) -> PairBounds:
        return PairBounds(self.a_lo.copy(), self.a_hi.copy(), self.x_lo.copy(), self.x_hi.copy())

    def meet(self, other: PairBounds) -> PairBounds:
        """The intersection of two sets of bounds."""
        return PairBounds(np.maximum(self.a_lo, other.a_lo), np.minimum(self.a_hi, other.a_hi),
                          np.maximum(self.x_lo, other.x_lo), np.minimum(self.x_hi, other.x_hi))

    def allows(self, a: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Which schedules (rows of a and x, shape (n, T)) keep every bound."""
        return np.all((a >= self.a_lo) & (a <= self.a_hi) & (x >= self.x_lo) & (x <= self.x_hi), axis=-1)

    def empty(self) -> bool:
        """True when some slot admits neither an uncached nor a cached decision."""
        off_ok = (self.a_lo == 0) & (self.x_lo <= 0)
        on_ok = (self.a_hi == 1) & (self.x_lo <= self.x_hi)
        return bool(np.any(~off_ok & ~on_ok))

    def is_free(self) -> bool:
        return bool(np.all(self.a_lo == 0) and np.all(self.a_hi == 1) and np.all(self.x_lo == 0)
                    and np.all(self.x_hi >= X_FREE))


@dataclass
class PairGraph:
    """The reachable states of pair p after each slot and the (a, x) arcs between them.

    Node 0 is the start state. Arcs are sorted by slot; arc i leads from a node of slot t−1 (or
    the start) to a node of slot t, serving `x[i]` requests at the edge with a[t] = `cached[i]`;
    `base[i]` is its cost in slot-sum units (before the 1/T average of (27)) *net* of the
    all-cloud cost: λ·load + x·(comp − offload) + x·c_p/(κ' + κ_0). The pair's all-cloud cost
    Σ_t R·(access + offload) is `const`; `final_cost` is a cost on each node of the last slot
    (a terminal value, 0 by default). `key[i]` is the arc's entry in `price_table`. Arcs removed by
    reduced-cost fixing (`remove`) are gone from the arrays: the passes never see them.
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
    final: np.ndarray
    const: float
    flops: float
    mem: float
    node_K: np.ndarray
    node_kappa: np.ndarray
    node_slot: np.ndarray
    node_cached: np.ndarray
    final_cost: np.ndarray
    x_max: int
    key: np.ndarray = field(init=False)

    def __post_init__(self):
        # int32 indices: the passes read fewer bytes per arc (2.3 against 3.0 ns an arc measured;
        # MAX_ARCS keeps every index far below 2**31)
        self.src, self.dst = self.src.astype(np.int32), self.dst.astype(np.int32)
        wide = self.T * (self.x_max + 2) >= 2**31  # a price table too long for int32 keys
        key = self.slot * (self.x_max + 2) + np.where(self.cached, self.x, self.x_max + 1)
        self.key = key.astype(np.int64 if wide else np.int32)

    @classmethod
    def build(cls, d: StationData, p: int, st: State | None = None, deadline: float | None = None,
              max_arcs: int = MAX_ARCS) -> PairGraph:
        """Every state pair p can reach from `st` (cold by default) under its own limits.

        Past `deadline` (a `time.perf_counter()` value) it raises TimeoutError: a time limit
        covers building the graphs too (docs/formulation.md §6.1). Over `max_arcs` arcs it raises
        SolverFailed before allocating them."""
        st = st or State.cold(d.P)
        T = d.T
        R = d.R[:, p].astype(np.int64)
        k, w, dl = float(d.k[p]), float(d.w[p]), float(d.delta[p])
        c, k0 = float(d.acc_coef[p]), float(d.kappa0)
        gain = float(d.comp_unit[p] - d.offload_unit[p])
        flops = float(d.flops_per_request[p])
        wmax = w * (1 + TOL) + TOL  # the evaluator's tolerance on (28c)
        can_cache = d.s[p] <= accepted(d.G)  # memory (3) with the pair alone
        xcap = served_within(accepted(d.E), flops, R)  # the budget (5) with the pair alone
        cached0 = bool(st.cached[p] > 0.5)
        if cached0:
            ids, K, kap = np.array([0]), np.array([float(st.K[p])]), np.array([float(st.kappa[p])])
            off = -1
        else:
            ids, K, kap = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
            off = 0
        n_nodes = 1
        S, D, X, C, B, SL = [], [], [], [], [], []
        kap_nodes = [float(st.kappa[p]) if cached0 else 0.0]
        K_nodes = [float(st.K[p]) if cached0 else 0.0]
        slot_nodes, cached_nodes = [-1], [cached0]
        n_arcs = 0
        for t in range(T):
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeoutError(f"building pair {p}'s state graph reached the time limit")
            n_before = len(S)
            new_off = n_nodes  # unload arcs (and staying unloaded) lead to the slot's 'off' node
            n_nodes += 1
            kap_nodes.append(0.0)
            K_nodes.append(0.0)
            slot_nodes.append(t)
            cached_nodes.append(False)
            srcs_off = np.asarray(list(ids) + ([off] if off >= 0 else []), np.int64)
            S.append(srcs_off)
            D.append(np.full(len(srcs_off), new_off, np.int64))
            X.append(np.zeros(len(srcs_off), np.int64))
            C.append(np.zeros(len(srcs_off), bool))
            B.append(np.zeros(len(srcs_off)))
            nxt = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
            if can_cache:
                cs, cK, ck, cx, cb = [], [], [], [], []
                x_hi = int(xcap[t])
                if k > 0:  # no arc serves past the window (28c), even from the emptiest context
                    k_min = min(float(K.min(initial=np.inf)), 0.0 if off >= 0 else np.inf)
                    x_hi = min(x_hi, max(int(np.floor((wmax - k_min) / k)), 0))
                n_arcs += (len(ids) + (off >= 0)) * (x_hi + 1)
                if n_arcs > max_arcs:
                    raise SolverFailed(
                        f"problem (28) is too large for lagrange: the station's pair graphs would exceed "
                        f"{MAX_ARCS:.3g} arcs together at pair {p} (optcache.solvers.lagrange.graph.MAX_ARCS; "
                        "they grow with the requests a slot's budget lets a pair serve, in every rolling "
                        "window too); use laot")
                for xx in range(x_hi + 1):
                    if len(ids):  # stay cached and serve xx
                        cs.append(ids)
                        cK.append(K + k * xx)
                        ck.append(aged_kappa(kap, k * xx, dl))
                        cx.append(np.full(len(ids), xx))
                        cb.append(np.zeros(len(ids)))
                    if off >= 0:  # load in this slot (empty context) and serve xx
                        cs.append(np.array([off]))
                        cK.append(np.array([k * xx]))
                        ck.append(np.array([aged_kappa(0.0, k * xx, dl)]))
                        cx.append(np.array([xx]))
                        cb.append(np.array([d.lam]))
                cs, cK, ck = np.concatenate(cs), np.concatenate(cK), np.concatenate(ck)
                cx, cb = np.concatenate(cx), np.concatenate(cb)
                ok = cK <= wmax
                cs, cK, ck, cx, cb = cs[ok], cK[ok], ck[ok], cx[ok], cb[ok]
                if len(cs):
                    first, inv = _merge(np.round(cK, KEY_DIGITS), np.round(ck, KEY_DIGITS))
                    nid = n_nodes + np.arange(len(first))
                    n_nodes += len(first)
                    nK, nk = cK[first], ck[first]
                    kap_nodes.extend(nk.tolist())
                    K_nodes.extend(nK.tolist())
                    slot_nodes.extend([t] * len(nK))
                    cached_nodes.extend([True] * len(nK))
                    S.append(cs)
                    D.append(nid[inv])
                    X.append(cx)
                    C.append(np.ones(len(cs), bool))
                    B.append(cb + cx * (gain + c / (nk[inv] + k0)))
                    nxt = (nid, nK, nk)
            ids, K, kap = nxt
            SL.append(np.full(sum(len(s) for s in S[n_before:]), t, np.int64))
            off = new_off
        final = np.concatenate([ids, [off]]).astype(np.int64)
        const = float((R * (d.access[p] + d.offload_unit[p])).sum())
        xs = np.concatenate(X)
        return cls(p, T, np.concatenate(S), np.concatenate(D), xs, np.concatenate(SL),
                   np.concatenate(C), np.concatenate(B), n_nodes, final, const, flops,
                   float(d.s[p]), np.asarray(K_nodes), np.asarray(kap_nodes),
                   np.asarray(slot_nodes, np.int64), np.asarray(cached_nodes, bool),
                   np.zeros(len(final)), int(xs.max(initial=0)))

    @property
    def n_arcs(self) -> int:
        return len(self.src)

    def remove(self, dead: np.ndarray) -> int:
        """Take the arcs where `dead` is True out of the graph for good (reduced-cost fixing),
        keeping the others' order (by slot); returns how many went. Nodes stay (one no arc reaches
        keeps the value inf). Arc indices change: `through`'s arc values are for the graph before."""
        keep = ~np.asarray(dead, bool)
        gone = len(keep) - int(keep.sum())
        if gone:
            for name in ("src", "dst", "x", "slot", "cached", "base", "key"):
                setattr(self, name, getattr(self, name)[keep])
        return gone

    def price_table(self, price_x, price_a, bounds: PairBounds | None = None, price_o=None) -> np.ndarray:
        """What the passes add to an arc's `base`, flat and indexed by `key`: row t holds
        price_x[t]·j + price_a[t] + price_o[t, j] for a cached arc serving j (j = 0..x_max; option
        prices wider than that are cut, narrower padded with zeros) and 0 for an uncached arc (the
        last column); inf where slot t's bounds exclude that decision."""
        b = bounds or PairBounds.free(self.T)
        J = self.x_max + 1
        j = np.arange(J)
        on = np.asarray(price_x, float)[:, None] * j + np.asarray(price_a, float)[:, None]
        if price_o is not None:
            w = min(price_o.shape[1], J)
            on[:, :w] += price_o[:, :w]
        tab = np.empty((self.T, J + 1))
        tab[:, :J] = np.where((b.a_hi[:, None] == 1) & (j >= b.x_lo[:, None]) & (j <= b.x_hi[:, None]), on, np.inf)
        tab[:, J] = np.where((b.a_lo == 0) & (b.x_lo <= 0), 0.0, np.inf)
        return tab.ravel()

    def _args(self, price_x, price_a, bounds: PairBounds | None, price_o=None):
        return self.src, self.dst, self.key, self.base, self.price_table(price_x, price_a, bounds, price_o)

    def solve(self, price_x: np.ndarray, price_a: np.ndarray, bounds: PairBounds | None = None,
              price_o: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
        """min over the pair's schedules within `bounds` of cost + Σ_t price_x[t]·x[t] + price_a[t]·a[t]
        (+ price_o[t, x[t]] in slots where the pair is cached: the option cuts' prices).

        Returns (value including `const`, a, x) in slot-sum units; value = inf if no schedule
        keeps the bounds."""
        val, pred = _forward(*self._args(price_x, price_a, bounds, price_o), self.n_nodes)
        best, node = np.inf, -1
        fv = val[self.final] + self.final_cost
        if len(fv):
            j = int(np.argmin(fv))
            best, node = float(fv[j]), int(self.final[j])
        a, x = _trace(pred, node, self.src, self.slot, self.cached, self.x, self.T)
        return best + self.const, a, x

    def through(self, price_x: np.ndarray, price_a: np.ndarray, bounds: PairBounds | None = None,
                price_o: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """For each arc, the least priced cost (with `const`) of a schedule that uses it (inf if
        none), and the per-slot minima `on[t, j]` over cached arcs serving j and `off[t]` over
        uncached ones (columns: j = 0..x_max, then one for 'off'). One forward and one backward
        pass: the values every probe and reduced-cost fixing read."""
        args = self._args(price_x, price_a, bounds, price_o)
        fwd, _ = _forward(*args, self.n_nodes)
        bwd = _backward(*args, self.n_nodes, self.final, self.final_cost)
        arc, table = _through(*args, fwd, bwd)
        return arc + self.const, table.reshape(self.T, self.x_max + 2) + self.const

    def cost_to_go(self) -> np.ndarray:
        """Each node's least cost (slot-sum units, net of the all-cloud cost, `final_cost`
        included) from it to the end of the horizon, with no prices: a backward pass."""
        z = np.zeros(self.T)
        return _backward(*self._args(z, z, None), self.n_nodes, self.final, self.final_cost)


def station_graphs(d: StationData, st: State, deadline: float | None = None) -> list[PairGraph]:
    """Every pair's graph from state `st`, together within MAX_ARCS arcs (SolverFailed beyond);
    past `deadline` TimeoutError: what the decomposition and the rolling horizon's tail build."""
    graphs, left = [], MAX_ARCS
    for p in range(d.P):
        graphs.append(PairGraph.build(d, p, st, deadline, max_arcs=left))
        left -= len(graphs[-1].x)
    return graphs


def option_index(a: np.ndarray, x: np.ndarray, width: int) -> np.ndarray:
    """The option schedules take in a slot (their `a` and `x` there): the count served where cached
    (at most width − 1), −1 where off. How option cuts and their prices index counts."""
    j = np.minimum(np.round(np.asarray(x, float)).astype(np.int64), width - 1)
    return np.where(np.asarray(a, float) > 0.5, j, -1)


def served_within(left, flops: float, most) -> np.ndarray:
    """How many requests of `flops` FLOP each fit in `left` FLOP, at most `most` (elementwise,
    int64; no overflow however small `flops` is)."""
    most = np.asarray(most, np.int64)
    if flops <= 0:
        return most.copy()
    with np.errstate(over="ignore"):
        fit = np.maximum(np.asarray(left, float), 0.0) / flops
    return np.floor(np.minimum(fit, most)).astype(np.int64)


def _merge(K: np.ndarray, kappa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equal (K, κ) states as one node: (index of each node's first state, node of each state),
    nodes ordered by K, then κ (what `np.unique(axis=1)` returns, several times faster)."""
    order = np.lexsort((kappa, K))  # stable: the first state of each run is its first occurrence
    Ks, ks = K[order], kappa[order]
    new = np.ones(len(order), bool)
    new[1:] = (Ks[1:] != Ks[:-1]) | (ks[1:] != ks[:-1])
    inv = np.empty(len(order), np.int64)
    inv[order] = np.cumsum(new) - 1
    return order[new], inv


# The three passes below price arc i as base[i] + tab[key[i]]: `PairGraph.price_table` puts each
# slot's prices (and inf where the slot's bounds exclude the decision) in one flat table, so the
# passes carry no branches but the minimum (removed arcs have left the arrays: `PairGraph.remove`).
@njit(cache=True)
def _forward(src, dst, key, base, tab, n_nodes):
    val = np.full(n_nodes, np.inf)
    pred = np.full(n_nodes, -1, np.int64)
    val[0] = 0.0
    for i in range(len(src)):  # arcs are sorted by slot: every tail is final before its arcs
        v = val[src[i]] + base[i] + tab[key[i]]
        j = dst[i]
        if v < val[j]:
            val[j] = v
            pred[j] = i
    return val, pred


@njit(cache=True)
def _backward(src, dst, key, base, tab, n_nodes, final, fcost):
    val = np.full(n_nodes, np.inf)
    for j in range(len(final)):
        val[final[j]] = fcost[j]
    for i in range(len(src) - 1, -1, -1):
        v = val[dst[i]] + base[i] + tab[key[i]]
        j = src[i]
        if v < val[j]:
            val[j] = v
    return val


@njit(cache=True)
def _through(src, dst, key, base, tab, fwd, bwd):
    arc = np.empty(len(src))
    table = np.full(len(tab), np.inf)
    for i in range(len(src)):
        k = key[i]
        v = fwd[src[i]] + bwd[dst[i]] + base[i] + tab[k]
        arc[i] = v
        if v < table[k]:
            table[k] = v
    return arc, table


@njit(cache=True)
def _trace(pred, node, src, slot, cached, xs, T):
    a = np.zeros(T)
    x = np.zeros(T)
    while node > 0:
        i = pred[node]
        if i < 0:
            break
        a[slot[i]] = 1.0 if cached[i] else 0.0
        x[slot[i]] = xs[i]
        node = src[i]
    return a, x
