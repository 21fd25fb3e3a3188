"""Problem (28) for one station as a sparse matrix, for handing to HiGHS directly (no Pyomo build).

The same problem as `problem28.build_problem28`, with the context dynamics (18) and window (28c) of
every pair whose window can bind written as a *segment network*: nodes are (slot, requests served
since the pair was loaded), arcs are (unload | stay and serve x | load and serve x). A path is one
pair's schedule, so the network is exact with binary arcs and, as an LP, the convex hull of one
pair's feasible (a, x, loads): refreshes are priced whole, not a fraction of λ as with big-Ms.
Each arc also knows an upper bound κ̄ on the AoT it can reach, which bounds the accuracy term (24)
from below. Pairs whose window cannot bind keep the compact big-M-free rows of `problem28`.
κ is held in units of the pair's thought length k (κ' = κ/k; k = 0 uses tokens) for numerics. No pyomo, no highspy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from optcache.dynamics import State, aged_kappa
from optcache.errors import InvalidInput
from optcache.evaluator import capacity_rows
from optcache.instance import StationData, require_station_data

INF = float("inf")


def check_inputs(data: StationData, state0: State | None, tangents: dict | None) -> State:
    """The builders' arguments, checked once at the edge (InvalidInput naming the argument); the
    start state, cold for None. Tangent points are finite κ̂ at a (slot, pair) of the station."""
    require_station_data(data)
    st = State.check(state0, data.P)
    if tangents is None:
        return st
    if not isinstance(tangents, dict):
        raise InvalidInput("tangents", f"expected a dict (slot, pair) -> points, got {type(tangents).__name__}")
    for key, pts in tangents.items():
        if (not isinstance(key, tuple) or len(key) != 2
                or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in key)
                or not (0 <= key[0] < data.T and 0 <= key[1] < data.P)):
            raise InvalidInput("tangents", f"a key must be a (slot, pair) index pair within ({data.T}, "
                               f"{data.P}), got {key!r}"[:160])
        try:
            v = np.asarray(list(pts), dtype=float)
        except (TypeError, ValueError):
            raise InvalidInput(f"tangents[{key}]", "expected a list of numbers") from None
        if not np.isfinite(v).all():
            raise InvalidInput(f"tangents[{key}]", "tangent points must be finite")
    return st


def check_deadline_arg(deadline: float | None) -> None:
    """A deadline is None or a finite `time.perf_counter()` value (NaN would never be reached)."""
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float))
                                 or not np.isfinite(deadline)):
        raise InvalidInput("deadline", f"expected a finite time.perf_counter() value, got {deadline!r}"[:160])


def new_tangent_points(have: list, points, w: float) -> list[float]:
    """The κ̂ in `points`, clipped to [0, w], that are not (to 1e-9) in `have`; appends them to it.

    Shared by both (28) builders so that a tangent is never added twice at the same point."""
    fresh = []
    for kh in points:
        kh = float(min(max(kh, 0.0), w))
        if any(abs(kh - q) <= 1e-9 * max(1.0, q) for q in have):
            continue
        have.append(kh)
        fresh.append(kh)
    return fresh


@dataclass
class MatrixModel:
    """min c·v + c0 s.t. row_lo ≤ A v ≤ row_hi, lb ≤ v ≤ ub, v[j] integer where integer[j]."""

    c: list = field(default_factory=list)
    lb: list = field(default_factory=list)
    ub: list = field(default_factory=list)
    integer: list = field(default_factory=list)
    row_lo: list = field(default_factory=list)
    row_hi: list = field(default_factory=list)
    rows: list = field(default_factory=list)  # COO row indices
    cols: list = field(default_factory=list)
    vals: list = field(default_factory=list)
    c0: float = 0.0
    # where to read the schedule and where the accuracy cuts go
    a_col: np.ndarray | None = None  # (T, P) column of a[t][p]
    x_col: np.ndarray | None = None  # (T, P) column of x[t][p]
    acc: dict = field(default_factory=dict)  # (t, p, j) -> (z col, κ'_j col, θ_j col), θ_j in accuracy_unit
    knone: dict = field(default_factory=dict)  # (t, p) -> κ'_none col (κ' when x = 0)
    kap_col: np.ndarray | None = None  # (T, P) κ' = κ/k
    y_col: np.ndarray | None = None  # (T, P) branch of (19)
    u_col: dict = field(default_factory=dict)  # (t, p) -> switching column (pairs without network)
    net: dict = field(default_factory=dict)  # p -> (first arc column, arcs)
    y_by_arcs: set = field(default_factory=set)  # pairs whose y is an arc sum (no clamp possible)
    state0: State | None = None
    tangent_points: dict = field(default_factory=dict)  # (t, p, j) -> list of κ̂ already cut
    data: StationData | None = None
    scale: float = 1.0  # objective multiplier (1/T)

    @property
    def n_cols(self) -> int:
        return len(self.c)

    @property
    def n_rows(self) -> int:
        return len(self.row_lo)

    def var(self, n: int = 1, lb: float = 0.0, ub: float = INF, cost: float = 0.0,
            integer: bool = False) -> int:
        """Add n columns with the same bounds and cost; return the first index."""
        first = len(self.c)
        self.c.extend([cost] * n)
        self.lb.extend([lb] * n)
        self.ub.extend([ub] * n)
        self.integer.extend([integer] * n)
        return first

    def row(self, cols, vals, lo: float = -INF, hi: float = INF) -> int:
        """Add one row lo ≤ Σ vals·cols ≤ hi; return its index."""
        r = len(self.row_lo)
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        self.rows.extend([r] * len(cols))
        self.cols.extend(cols)
        self.vals.extend(vals)
        return r

    def csr(self):
        """(start, index, value) of A in compressed row form."""
        r = np.asarray(self.rows, dtype=np.int64)
        order = np.argsort(r, kind="stable")
        start = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.add.at(start, r + 1, 1)
        return (np.cumsum(start).astype(np.int32), np.asarray(self.cols, dtype=np.int32)[order],
                np.asarray(self.vals, dtype=float)[order])


def accuracy_unit(data: StationData, p: int, j: int) -> float:
    """Unit of θ_j, the accuracy cost of serving j requests: its largest value j c g(κ_lo), at the
    least AoT serving j can leave, κ_lo = max(k j − Δ, 0). A tangent's slope j c g(κ̂)² is then at
    most g(κ_lo) per token in θ_j's row: with κ_lo = 0, a tiny κ_0 and β near 1, c/κ_0² ≈ 1e17
    would otherwise be in the matrix, beyond HiGHS's range. A larger unit than the cost's own
    scale would magnify the solver's feasibility tolerance in the objective."""
    lo = max(float(data.k[p]) * j - float(data.delta[p]), 0.0)
    u = j * float(data.acc_coef[p]) / (lo + data.kappa0)
    return u if u > 0 else 1.0


def accuracy_scale(data: StationData, p: int, j: int) -> float:
    """j c / `accuracy_unit`: θ_j ≥ j c g(κ) reads θ_j ≥ accuracy_scale · g(κ) in that unit."""
    return j * float(data.acc_coef[p]) / accuracy_unit(data, p, j)


def kappa_unit(data: StationData, p: int) -> float:
    """Tokens per unit of κ' (the thought length k, or 1 for a service with k = 0)."""
    return float(data.k[p]) if data.k[p] > 0 else 1.0


def window_can_bind(data: StationData, p: int, st: State) -> bool:
    """True when serving every request of p could overflow its context window (28c)."""
    k, w = float(data.k[p]), float(data.w[p])
    base = float(st.K[p]) if st.cached[p] > 0.5 else 0.0
    return k * float(data.R[:, p].sum()) + base > w * (1 + 1e-12)


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.perf_counter() > deadline:
        raise TimeoutError("building problem (28) reached the time limit")


def estimate_columns(data: StationData, state0: State | None = None, network: bool = True) -> int:
    """An upper bound on `build_matrix28`'s columns, in O(T·P): refuse a model before building it."""
    st = state0 or State.cold(data.P)
    R = np.minimum(data.R.astype(float), 1e18)
    total = 4.0 * data.T * data.P + (3.0 * R + (R > 0)).sum()
    for p in range(data.P):
        if not (network and window_can_bind(data, p, st)):
            total += data.T
            continue
        cap = float(np.floor(data.w[p] / kappa_unit(data, p) + 1e-9))
        reach = np.minimum(np.concatenate([[0.0], np.cumsum(R[:-1, p])]), cap)
        chains = 2.0 if st.cached[p] > 0.5 else 1.0
        total += float((chains * (reach + 1) + 1) @ (np.minimum(R[:, p], cap) + 2))
    return int(min(total, 1e18))


def pair_arcs(data: StationData, p: int, st: State, deadline: float | None = None) -> list[tuple]:
    """Arcs (t, src, dst, x, load, κ̄) of pair p's segment network, reachable ones only.

    Nodes are 'off' or (chain, n): chain 'i' is the segment carried over from `st`, 'r' a segment
    loaded at or after slot 1; n counts requests served in the segment, so K = K0 + k·n.
    κ̄ = max(κ_start + k·n − Δ, 0) bounds κ after the slot (κ_start = κ of `st` or 0).
    Past `deadline` (a `time.perf_counter()` value) it raises TimeoutError.
    """
    R = data.R[:, p].astype(np.int64)
    k, w, dl = float(data.k[p]), float(data.w[p]), float(data.delta[p])
    cached0 = st.cached[p] > 0.5
    K0, kap0 = (float(st.K[p]), float(st.kappa[p])) if cached0 else (0.0, 0.0)
    ku = k if k > 0 else 1.0  # k = 0: the context never grows (no network is built then)
    caps = {"i": int(np.floor((w - K0) / ku + 1e-9)), "r": int(np.floor(w / ku + 1e-9))}
    nodes = {("i", 0) if cached0 else "off"}
    arcs = []
    for t in range(data.T):
        _check_deadline(deadline)
        new = set()
        for nd in sorted(nodes, key=str):
            arcs.append((t, nd, "off", 0, 0, 0.0))
            new.add("off")
            chain, n, load = ("r", 0, 1) if nd == "off" else (nd[0], nd[1], 0)
            kst = kap0 if chain == "i" else 0.0
            for xx in range(0, min(int(R[t]), caps[chain] - n) + 1):
                nn = n + xx
                kbar = float(aged_kappa(kst, k * nn, dl)) if (chain == "i" or nn > 0) else 0.0
                arcs.append((t, nd, (chain, nn), xx, load, kbar))
                new.add((chain, nn))
        nodes = new
    return arcs


def tangent_grid(data: StationData, p: int, j: int, n: int) -> np.ndarray:
    """Initial tangent points for pair p serving j requests: geometric over [max(k j − Δ, 0), w]."""
    lo = max(data.k[p] * j - data.delta[p], 0.0)
    hi = max(float(data.w[p]), lo)
    return np.unique(np.geomspace(lo + data.kappa0, hi + data.kappa0, n) - data.kappa0)


def build_matrix28(data: StationData, state0: State | None = None, *, tangents: dict | None = None,
                   initial_tangents: int = 4, deadline: float | None = None) -> MatrixModel:
    """Problem (28) over data.T slots from `state0` as a MatrixModel (objective = L_n, slot average).

    Past `deadline` (a `time.perf_counter()` value) it raises TimeoutError: the time limit of a
    solve covers building its model."""
    st = check_inputs(data, state0, tangents)
    check_deadline_arg(deadline)
    if isinstance(initial_tangents, bool) or not isinstance(initial_tangents, (int, np.integer)) \
            or initial_tangents < 1:
        raise InvalidInput("initial_tangents", f"must be a positive integer, got {initial_tangents!r}"[:160])
    T, P = data.T, data.P
    R = data.R.astype(np.int64)
    mm = MatrixModel(data=data, scale=1.0 / T, state0=st)
    mm.kap_col = np.zeros((T, P), dtype=np.int64)
    mm.y_col = np.zeros((T, P), dtype=np.int64)
    sc = 1.0 / T
    mm.c0 = sc * float((R * data.access).sum() + (R * data.offload_unit).sum())
    a_col = np.zeros((T, P), dtype=np.int64)
    x_col = np.zeros((T, P), dtype=np.int64)
    gain = data.comp_unit - data.offload_unit  # cost of serving one request at the edge, net
    # (3) and (5) as shares of their capacities; a pair that alone exceeds one is never loaded (or
    # never serves) and stays out of its row
    mem, bud, mem_rhs, bud_rhs, fits, serves = capacity_rows(data)
    k0 = data.kappa0
    for p in range(P):
        k, w, dl = float(data.k[p]), float(data.w[p]), float(data.delta[p])
        ku = kappa_unit(data, p)
        cap = w / ku
        cached0 = st.cached[p] > 0.5
        kap_prev0 = float(st.kappa[p]) / ku if cached0 else 0.0
        use_net = window_can_bind(data, p, st)
        for t in range(T):
            a_col[t, p] = mm.var(1, 0, float(fits[p]), 0.0, integer=not use_net)
            x_col[t, p] = mm.var(1, 0, float(R[t, p]) * serves[p], sc * gain[p], integer=not use_net)
        # y = 1: κ took the positive branch of (19). In the network, when even one request keeps κ
        # positive for T slots (k ≥ Δ·T, and the carried κ ≥ Δ·T), y is the arcs into nodes with
        # n ≥ 1 (or the carried segment): no binary needed
        y_by_arcs = use_net and k >= dl * T and (not cached0 or float(st.kappa[p]) >= dl * T)
        y0 = mm.var(T, 0, 1, 0.0, integer=not y_by_arcs)
        if y_by_arcs:
            mm.y_by_arcs.add(p)
        kap0 = mm.var(T, 0, cap)  # κ' = κ / k
        mm.kap_col[:, p] = kap0 + np.arange(T)
        mm.y_col[:, p] = y0 + np.arange(T)
        if use_net:
            arcs = pair_arcs(data, p, st, deadline)
            f0 = mm.var(len(arcs), 0, 1, 0.0, integer=True)
            mm.net[p] = (f0, arcs)
            out: dict = {}
            inn: dict = {}
            by_t: list[list[int]] = [[] for _ in range(T)]
            for i, (t, s, d_, _x, load, _kb) in enumerate(arcs):
                out.setdefault((t, s), []).append(i)
                inn.setdefault((t, d_), []).append(i)
                by_t[t].append(i)
                if load:
                    mm.c[f0 + i] += sc * data.lam
            for (t, s), lst in out.items():
                if t == 0:
                    mm.row([f0 + i for i in lst], [1.0] * len(lst), 1.0, 1.0)
                else:
                    src = inn.get((t - 1, s), [])
                    mm.row([f0 + i for i in lst] + [f0 + i for i in src],
                           [1.0] * len(lst) + [-1.0] * len(src), 0.0, 0.0)
            for t in range(T):
                at = by_t[t]
                cached = [i for i in at if arcs[i][2] != "off"]
                mm.row([a_col[t, p]] + [f0 + i for i in cached], [1.0] + [-1.0] * len(cached), 0.0, 0.0)
                served = [i for i in at if arcs[i][3] > 0]
                mm.row([x_col[t, p]] + [f0 + i for i in served],
                       [1.0] + [-float(arcs[i][3]) for i in served], 0.0, 0.0)
                mm.row([kap0 + t] + [f0 + i for i in at], [1.0] + [-arcs[i][5] / ku for i in at], hi=0.0)
                if y_by_arcs:
                    pos = [i for i in at if arcs[i][2] != "off" and (arcs[i][2][0] == "i" or arcs[i][2][1] > 0)]
                    mm.row([y0 + t] + [f0 + i for i in pos], [1.0] + [-1.0] * len(pos), 0.0, 0.0)
        else:
            for t in range(T):
                # (4) edge only if cached; (21) switching u ≥ a_t − a_{t−1}
                mm.row([x_col[t, p], a_col[t, p]], [1.0, -float(R[t, p])], hi=0.0)
                u = mm.var(1, 0, 1, sc * data.lam)
                mm.u_col[(t, p)] = u
                if t == 0:
                    mm.row([u, a_col[t, p]], [1.0, -1.0], lo=-float(st.cached[p] > 0.5))
                else:
                    mm.row([u, a_col[t, p], a_col[t - 1, p]], [1.0, -1.0, 1.0], lo=0.0)
        for t in range(T):
            _check_deadline(deadline)
            # (19): κ'_t ≤ κ'_{t−1} + x_t − (Δ/k) y_t,  κ'_t ≤ cap·y_t,  y_t ≤ a_t
            if t == 0:
                mm.row([kap0, x_col[0, p], y0], [1.0, -k / ku, dl / ku], hi=kap_prev0)
            else:
                mm.row([kap0 + t, kap0 + t - 1, x_col[t, p], y0 + t], [1.0, -1.0, -k / ku, dl / ku], hi=0.0)
            if not y_by_arcs:
                mm.row([kap0 + t, y0 + t], [1.0, -cap], hi=0.0)
                mm.row([y0 + t, a_col[t, p]], [1.0, -1.0], hi=0.0)
            Rt = int(R[t, p])
            if Rt == 0:
                continue
            # (24) accuracy: z_j = [x = j], κ' split by j (perspective), θ_j its accuracy cost
            z = mm.var(Rt, 0, 1, 0.0, integer=not use_net)
            kj = mm.var(Rt, 0, cap)
            th = mm.var(Rt, 0, INF, 0.0)
            knone = mm.var(1, 0, cap)
            js = list(range(1, Rt + 1))
            if use_net:
                for j in js:
                    aj = [i for i in by_t[t] if arcs[i][3] == j]
                    f = accuracy_scale(data, p, j)
                    mm.row([z + j - 1] + [f0 + i for i in aj], [1.0] + [-1.0] * len(aj), 0.0, 0.0)
                    mm.row([kj + j - 1] + [f0 + i for i in aj], [1.0] + [-arcs[i][5] / ku for i in aj], hi=0.0)
                    mm.row([th + j - 1] + [f0 + i for i in aj],  # θ_j ≥ j c g(κ̄), in accuracy_unit
                           [1.0] + [-f / (arcs[i][5] + k0) for i in aj], lo=0.0)
            else:
                mm.row([x_col[t, p]] + [z + j - 1 for j in js], [1.0] + [-float(j) for j in js], 0.0, 0.0)
                mm.row([z + j - 1 for j in js] + [a_col[t, p]], [1.0] * Rt + [-1.0], hi=0.0)
                for j in js:
                    mm.row([kj + j - 1, z + j - 1], [1.0, -cap], hi=0.0)
            mm.row([kap0 + t, knone] + [kj + j - 1 for j in js], [1.0, -1.0] + [-1.0] * Rt, 0.0, 0.0)
            if use_net:  # κ when x = 0: within the bound of the x = 0 arc taken
                a0 = [i for i in by_t[t] if arcs[i][3] == 0]
                mm.row([knone] + [f0 + i for i in a0], [1.0] + [-arcs[i][5] / ku for i in a0], hi=0.0)
            else:
                mm.row([knone] + [z + j - 1 for j in js], [1.0] + [cap] * Rt, hi=cap)
            mm.knone[(t, p)] = knone
            for j in js:
                mm.acc[(t, p, j)] = (z + j - 1, kj + j - 1, th + j - 1)
                mm.c[th + j - 1] = sc * accuracy_unit(data, p, j)
                add_tangents(mm, t, p, tangent_grid(data, p, j, initial_tangents), j=j)
    _check_deadline(deadline)
    for t in range(T):
        if fits.any():
            mm.row([int(a_col[t, p]) for p in np.nonzero(fits)[0]], list(mem[fits]), hi=mem_rhs)  # (3)
        if (R[t] * serves).any():
            mm.row([int(x_col[t, p]) for p in np.nonzero(serves)[0]], list(bud[serves]), hi=bud_rhs)  # (5)
    mm.a_col, mm.x_col = a_col, x_col
    for (t, p), pts in (tangents or {}).items():
        if R[t, p] > 0:
            add_tangents(mm, t, p, pts)
    return mm


def tangent_row(mm: MatrixModel, t: int, p: int, j: int, kh: float):
    """Cut θ_j ≥ j c (g(κ̂) z_j + g'(κ̂)(κ_j − κ̂ z_j)) as (cols, vals, lo), κ_j in units of k and θ_j
    in `accuracy_unit` (so the row is divided by it)."""
    d = mm.data
    k0, k = d.kappa0, kappa_unit(d, p)
    g, dg = 1.0 / (kh + k0), -1.0 / (kh + k0) ** 2
    z, kj, th = mm.acc[(t, p, j)]
    f = accuracy_scale(d, p, j)
    return [th, z, kj], [1.0, -f * (g - dg * kh), -f * dg * k], 0.0


def add_tangents(mm: MatrixModel, t: int, p: int, points, j: int | None = None) -> list[tuple]:
    """Append new tangent cuts at κ̂ in `points` (all j if j is None); return the rows added."""
    d = mm.data
    js = range(1, int(d.R[t, p]) + 1) if j is None else [j]
    added = []
    for jj in js:
        for kh in new_tangent_points(mm.tangent_points.setdefault((t, p, jj), []), points, d.w[p]):
            cols, vals, lo = tangent_row(mm, t, p, jj, kh)
            mm.row(cols, vals, lo=lo)
            added.append((cols, vals, lo))
    return added


def start_vector(mm: MatrixModel, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Every column's value for the schedule (a, x) from mm.state0: a MIP start for HiGHS.

    θ_j takes the true accuracy cost, above all its cuts (tangents of a convex g, κ ≤ κ̄).
    """
    from optcache.dynamics import trajectory

    d, st = mm.data, mm.state0
    a = np.round(np.asarray(a, float))
    x = np.round(np.asarray(x, float))
    T, P = a.shape
    v = np.zeros(mm.n_cols)
    K, kap = trajectory(a, x, d.k, d.delta, st)
    prev_a = np.vstack([st.cached[None, :], a[:-1]])
    prev_k = np.vstack([st.kappa[None, :], kap[:-1]])
    for p in range(P):
        k, ku = float(d.k[p]), kappa_unit(d, p)
        v[mm.a_col[:, p]] = a[:, p]
        v[mm.x_col[:, p]] = x[:, p]
        v[mm.kap_col[:, p]] = kap[:, p] / ku
        pos = (a[:, p] > 0.5) & (prev_k[:, p] + k * x[:, p] - d.delta[p] >= 0)
        v[mm.y_col[:, p]] = pos
        if p in mm.net:
            f0, arcs = mm.net[p]
            index = {(t, s, d_, xx): i for i, (t, s, d_, xx, _, _) in enumerate(arcs)}
            node = ("i", 0) if st.cached[p] > 0.5 else "off"
            for t in range(T):
                if a[t, p] < 0.5:
                    nxt = "off"
                elif node == "off":
                    nxt = ("r", int(x[t, p]))
                else:
                    nxt = (node[0], node[1] + int(x[t, p]))
                v[f0 + index[(t, node, nxt, int(x[t, p]) if nxt != "off" else 0)]] = 1.0
                node = nxt
                if p in mm.y_by_arcs:
                    v[mm.y_col[t, p]] = float(node != "off" and (node[0] == "i" or node[1] > 0))
        else:
            for t in range(T):
                v[mm.u_col[(t, p)]] = max(a[t, p] - prev_a[t, p], 0.0)
        for t in range(T):
            if (t, p) not in mm.knone:
                continue
            xx = int(x[t, p])
            if xx == 0:
                v[mm.knone[(t, p)]] = kap[t, p] / ku
            for j in range(1, int(d.R[t, p]) + 1):
                z, kj, th = mm.acc[(t, p, j)]
                if j == xx:  # θ_j at the true cost: above every tangent and the arc bound
                    v[z], v[kj] = 1.0, kap[t, p] / ku
                    v[th] = accuracy_scale(d, p, j) / (kap[t, p] + d.kappa0) * (1 + 1e-12)
    return v
