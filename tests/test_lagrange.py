"""Lagrangian decomposition and branch, price and cut (solvers/lagrange/): exact pair DPs, exact
slot oracle, valid cuts and bounds, certified optima against brute force and the MILP."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from optcache.dynamics import State, final_state
from optcache.errors import InvalidInput
from optcache.evaluator import evaluate_station, pair_costs
from optcache.scenario import generate
from optcache.solvers import registry
from optcache.solvers.exact import solve_station
from optcache.solvers.lagrange import (
    Decomposition,
    PairBounds,
    PairGraph,
    TargetSeparator,
    fixopt,
    lagrange_station,
    slot_max,
)
from optcache.solvers.lagrange.fixopt import FixAndOptimise, Plan
from optcache.solvers.lagrange.master import Master
from optcache.solvers.lagrange.primal import future_cost
from optcache.solvers.lagrange.search import Search
from tests.bruteforce import brute_force, random_tiny, searched_tiny


def one_pair(d, p):
    """Station data restricted to pair p (memory and budget stay: a lone pair still meets them)."""
    return d.pairs([p])


def random_state(rng, d):
    """A carried-in state as rolling horizon produces it (as in test_exactness)."""
    cached = (rng.random(d.P) < 0.7).astype(float)
    if cached @ d.s > d.G:
        cached[:] = 0.0
    K = cached * np.floor(rng.uniform(0, 1, d.P) * d.w / np.maximum(d.k, 1)) * d.k
    kappa = cached * np.maximum(K - rng.uniform(0, 3 * d.delta + 1), 0.0)
    return State(cached, K, kappa)


def schedules(d1, T):
    """Every (a, x) schedule of a one-pair station, as (A, X) columns."""
    opts = [(0, 0)] + [(1, j) for j in range(int(d1.R.max()) + 1)]
    for sched in itertools.product(opts, repeat=T):
        yield (np.array([[s[0]] for s in sched], float), np.array([[s[1]] for s in sched], float))


@pytest.mark.parametrize("seed", range(40))
def test_pair_dp_matches_brute_force_and_evaluator(seed):
    rng = np.random.default_rng(7000 + seed)
    d = random_tiny(rng).station_data(0)
    warm = seed % 2 == 1  # every other instance starts from a carried-in state
    st = random_state(rng, d) if warm else State.cold(d.P)
    for p in range(d.P):
        d1 = one_pair(d, p)
        st1 = State(st.cached[[p]], st.K[[p]], st.kappa[[p]])
        opt, _, _ = brute_force(d1, st1.cached, st1.K, st1.kappa)
        g = PairGraph.build(d1, 0, st1)
        v, a, x = g.solve(np.zeros(d1.T), np.zeros(d1.T))
        assert v / d1.T == pytest.approx(opt, rel=1e-9, abs=1e-12)
        ev = evaluate_station(d1, a[:, None], x[:, None], st1)
        assert not ev.violations
        assert ev.cost == pytest.approx(v / d1.T, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_priced_dp_and_probes_match_enumeration(seed):
    """With prices on x and a and random bounds on a and x, the DP is the minimum of cost +
    prices over every schedule keeping the bounds, and `through` is that minimum restricted to
    each slot's decision (a = 0, or a = 1 serving j)."""
    rng = np.random.default_rng(8000 + seed)
    d = one_pair(random_tiny(rng).station_data(0), 0)
    T = d.T
    px, pa = rng.uniform(-0.05, 0.1, T), rng.uniform(0, 0.1, T)
    g = PairGraph.build(d, 0)
    b = PairBounds.free(T)
    t = int(rng.integers(T))
    kind = seed % 3
    if kind == 0:
        b.x_hi[t] = int(rng.integers(0, 2))
    elif kind == 1:
        b.a_lo[t] = 1
    else:
        b.x_lo[t] = 1
    v, a, x = g.solve(px, pa, b)
    best = np.inf
    table = np.full((T, g.x_max + 2), np.inf)
    for A, X in schedules(d, T):
        ev = evaluate_station(d, A, X)
        if ev.violations or not b.allows(A[:, 0][None], X[:, 0][None])[0]:
            continue
        val = ev.cost * T + px @ X[:, 0] + pa @ A[:, 0]
        best = min(best, val)
        for s in range(T):
            col = int(X[s, 0]) if A[s, 0] else g.x_max + 1
            table[s, col] = min(table[s, col], val)
    assert v == pytest.approx(best, rel=1e-9, abs=1e-12)
    if np.isfinite(v):
        ev = evaluate_station(d, a[:, None], x[:, None])
        assert v == pytest.approx(ev.cost * T + px @ x + pa @ a, rel=1e-9, abs=1e-12)
    _, probe = g.through(px, pa, b)
    fin = np.isfinite(table)
    assert np.array_equal(np.isfinite(probe), fin)
    assert probe[fin] == pytest.approx(table[fin], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_removed_arcs_leave_the_others_values_unchanged(seed):
    """Reduced-cost fixing removes the arcs whose `through` value exceeds a level. Every schedule
    of value ≤ level uses only kept arcs, so the kept arcs' values, the DP's optimum and the
    per-slot minima at or below the level are exactly those of the whole graph; a decision whose
    arcs all went costs more than the level."""
    rng = np.random.default_rng(8100 + seed)
    full = random_tiny(rng).station_data(0)
    for p in range(full.P):
        d = one_pair(full, p)
        g = PairGraph.build(d, 0)
        T = d.T
        px, pa = rng.uniform(-0.05, 0.1, T), rng.uniform(0, 0.1, T)
        po = rng.uniform(-0.02, 0.05, (T, g.x_max + 1))
        b = PairBounds.free(T)
        b.x_hi[int(rng.integers(T))] = int(rng.integers(0, 3))
        arc, table = g.through(px, pa, b, po)
        v, _, _ = g.solve(px, pa, b, po)
        fin = np.isfinite(arc)
        level = float(np.quantile(arc[fin], 0.4))
        dead = fin & (arc > level)
        n = g.n_arcs
        assert g.remove(dead) == int(dead.sum())
        assert g.n_arcs == n - int(dead.sum())
        arc2, table2 = g.through(px, pa, b, po)
        np.testing.assert_allclose(arc2, arc[~dead], rtol=1e-12, atol=1e-12)
        low = table <= level
        np.testing.assert_allclose(table2[low], table[low], rtol=1e-12, atol=1e-12)
        assert np.all(table2[~low] > level)
        v2, a, x = g.solve(px, pa, b, po)
        assert v2 == pytest.approx(v, rel=1e-12, abs=1e-12)
        ev = evaluate_station(d, a[:, None], x[:, None])  # the traced schedule costs v2
        on = a > 0.5
        priced = ev.cost * T + px @ x + pa @ a + po[np.nonzero(on)[0], x[on].astype(int)].sum()
        assert not ev.violations and v2 == pytest.approx(priced, rel=1e-9, abs=1e-12)


def test_price_table_keys_do_not_wrap_around():
    """An arc's key indexes a price table of T × (x_max + 2) entries: int32 while that fits, int64
    beyond (here one arc in the last of 2**20 slots, serving x_max = 2**11: key ≈ 2.15e9)."""
    def one_arc(T, x, cached, x_max):
        """A graph of one arc, node 0 → node 1, in the last slot."""
        one = lambda v, dt=np.int64: np.array([v], dt)  # noqa: E731
        return PairGraph(0, T, one(0), one(1), one(x), one(T - 1), one(cached, bool), one(0.0, float), 2,
                         one(1), 0.0, 1.0, 1.0, np.zeros(2), np.zeros(2), np.array([-1, T - 1]),
                         np.array([False, cached]), np.zeros(1), x_max)

    T, x_max = 2**20, 2**11
    g = one_arc(T, x_max, True, x_max)
    assert g.key.dtype == np.int64 and int(g.key[0]) == (T - 1) * (x_max + 2) + x_max
    small = one_arc(4, 2, False, 2)
    assert small.key.dtype == np.int32 and int(small.key[0]) == 3 * 4 + 3  # 'off': the last column


def test_slot_oracle_matches_enumeration():
    """slot_max is the exact maximum over the slot's points (memory, budget, y ≤ xcap·z)."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        P = int(rng.integers(1, 6))
        mu, nu = rng.normal(0, 1, P), rng.normal(0, 1, P)
        s, fl = rng.choice([130.0, 350.0], P), rng.uniform(1, 3, P)
        xcap = rng.integers(0, 4, P)
        G, E = float(rng.uniform(0, 1000)), float(rng.uniform(0, 8))
        v, z, y = slot_max(mu, nu, s, fl, xcap, G, E)
        best = 0.0
        for zz in itertools.product([0, 1], repeat=P):
            for yy in itertools.product(*[range(c + 1) for c in xcap]):
                zz_, yy_ = np.array(zz), np.array(yy)
                if np.all(yy_ <= xcap * zz_) and zz_ @ s <= G and yy_ @ fl <= E:
                    best = max(best, float(mu @ zz_ + nu @ yy_))
        assert v == pytest.approx(best, abs=1e-9)
        assert mu @ z + nu @ y == pytest.approx(v, abs=1e-9)
        assert z @ s <= G and y @ fl <= E + 1e-12 and np.all(y <= xcap * z)


def test_target_cuts_are_valid_and_cut_off_the_point():
    """A target cut holds at every point of the slot polytope and is violated by the point it
    separates; a point inside the hull gets no cut."""
    rng = np.random.default_rng(6)
    found = 0
    for _ in range(60):
        P = int(rng.integers(2, 5))
        s, fl = rng.choice([130.0, 350.0], P), rng.uniform(1, 3, P)
        xcap = rng.integers(0, 3, P)
        G, E = float(rng.uniform(200, 900)), float(rng.uniform(1, 6))
        pts = [(np.array(zz), np.array(yy)) for zz in itertools.product([0, 1], repeat=P)
               for yy in itertools.product(*[range(c + 1) for c in xcap])
               if np.all(np.array(yy) <= xcap * np.array(zz)) and np.array(zz) @ s <= G
               and np.array(yy) @ fl <= E]
        sep = TargetSeparator(s, fl, xcap, G, E)
        a_bar, x_bar = rng.uniform(0, 1, P), rng.uniform(0, 1, P) * xcap
        cut = sep.cut(a_bar, x_bar)
        if cut is not None:
            alpha, beta, gamma, _ = cut
            found += 1
            assert max(alpha @ z + beta @ y for z, y in pts) <= gamma + 1e-9
            assert alpha @ a_bar + beta @ x_bar > gamma
        lam = rng.dirichlet(np.ones(len(pts)))  # a point of the hull: never cut
        inside = sep.cut(sum(w * z for w, (z, _) in zip(lam, pts, strict=True)),
                         sum(w * y for w, (_, y) in zip(lam, pts, strict=True)))
        assert inside is None
    assert found >= 10


@pytest.mark.parametrize("seed", range(20))
def test_cost_to_go_matches_forward_dp_and_brute_force(seed):
    # the backward pass from the start node is the forward shortest path; from a node of slot t
    # it is brute force over the remaining slots from that node's state
    rng = np.random.default_rng(7300 + seed)
    d = random_tiny(rng).station_data(0)
    for p in range(d.P):
        d1 = one_pair(d, p)
        g = PairGraph.build(d1, 0)
        V = g.cost_to_go()
        v, _, _ = g.solve(np.zeros(d1.T), np.zeros(d1.T))
        assert V[0] + g.const == pytest.approx(v, rel=1e-12, abs=1e-12)
        node = int(rng.integers(1, g.n_nodes))
        t = int(g.node_slot[node])
        if t == d1.T - 1:
            assert V[node] == 0.0
            continue
        rest = d1.window(t + 1, d1.T)
        opt, _, _ = brute_force(rest, [float(g.node_cached[node])], [g.node_K[node]], [g.node_kappa[node]])
        cloud = float((rest.R[:, 0] * (rest.access[0] + rest.offload_unit[0])).sum())
        assert V[node] + cloud == pytest.approx(opt * rest.T, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(30))
def test_bound_and_optimum_on_tiny_instances(seed):
    rng = np.random.default_rng(1000 + seed)  # the family of test_exactness
    d = random_tiny(rng).station_data(0)
    opt, _, _ = brute_force(d)
    search = Search(d, None, np.inf, 1e-9)
    master = search.master
    for t in range(d.T):  # cuts of every slot, so that their multipliers are tested too
        for _ in range(2):
            sep = TargetSeparator(d.s, d.flops_per_request, search.dec.xcap[t], search.dec.G_cap,
                                  search.dec.E_cap)
            c = sep.cut(rng.uniform(0, 1, d.P), rng.uniform(0, 2, d.P))
            if c is not None:
                from optcache.solvers.lagrange.master import Cut
                master.add_cut(Cut.single(t, c[0], c[1], c[2]))
    for _ in range(3):  # any multipliers u ≥ 0 give a lower bound
        u = rng.uniform(0, 0.05, master.n_rows)
        L, _ = search.lagrangian(u)
        assert L <= opt * (1 + 1e-9) + 1e-12
    s = lagrange_station(d, gap=1e-9)
    assert s.bound <= opt * (1 + 1e-9) + 1e-12
    ev = evaluate_station(d, s.a, s.x)
    assert not ev.violations and ev.cost == pytest.approx(s.cost, rel=1e-12)
    assert pair_costs(d, s.a, s.x).sum() == pytest.approx(s.cost, rel=1e-12)
    assert s.termination == "optimal"
    assert s.cost == pytest.approx(opt, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_against_milp_on_small_instances(seed):
    inst = generate(slots=10, services=5, gpus=3, stations=1, seed=seed)
    d = inst.station_data(0)
    m = solve_station(d, gap=1e-6, time_limit=60)
    s = lagrange_station(d, gap=1e-6, time_limit=60)
    assert s.bound <= m.cost * (1 + 1e-9)
    assert s.cost >= m.bound * (1 - 1e-9)
    if m.termination == "optimal" and s.termination == "optimal":
        assert s.cost == pytest.approx(m.cost, rel=2e-6)


@pytest.mark.slow
def test_no_coupling_no_gap():
    """With the budget and memory never binding, the pair DPs alone are the optimum."""
    inst = generate(slots=30, services=6, gpus=200, stations=1, seed=4)
    d = inst.station_data(0)
    assert not Decomposition(d).coupled
    s = lagrange_station(d)
    assert s.termination == "optimal" and s.gap <= 1e-6
    m = solve_station(d, gap=1e-6, time_limit=60)
    assert s.cost <= m.cost * (1 + 1e-6) and s.bound >= m.bound * (1 - 1e-6)


def test_registered_method_contract():
    inst = generate(slots=8, services=4, gpus=3, stations=2, seed=11)
    res = registry.run("lagrange", inst, gap=1e-6)
    assert res.status == "ok" and res.evaluation.feasible
    assert res.bound is not None and res.bound <= res.cost * (1 + 1e-12)
    exact = registry.run("milp", inst, gap=0.0)
    assert res.bound <= exact.cost * (1 + 1e-9) and res.cost >= exact.bound * (1 - 1e-9)
    if res.termination == "optimal":
        assert res.gap <= 1e-6


@pytest.mark.parametrize("seed", range(10))
def test_warm_state_optimum(seed):
    """From a carried-in state (rolling horizon), the certified optimum is brute force's."""
    rng = np.random.default_rng(9000 + seed)
    d = random_tiny(rng).station_data(0)
    st = random_state(rng, d)
    opt, _, _ = brute_force(d, st.cached, st.K, st.kappa)
    s = lagrange_station(d, st, gap=1e-9)
    assert s.bound <= opt * (1 + 1e-9) + 1e-12
    ev = evaluate_station(d, s.a, s.x, st)
    assert not ev.violations and ev.cost == pytest.approx(s.cost, rel=1e-12)
    assert s.termination == "optimal" and s.cost == pytest.approx(opt, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_future_cost_is_the_evaluators_cost_of_the_kept_plan(seed):
    """The fix-and-optimise terminal value of a pair is the evaluator's cost of its kept plan after
    the window, from any end state (inf where its context would overflow)."""
    rng = np.random.default_rng(9100 + seed)
    d = generate(slots=8, services=3, gpus=2, stations=1, seed=seed).station_data(0)
    from optcache.solvers.policies import replace_station

    A, X = replace_station(d, "laot")
    t1 = int(rng.integers(1, d.T))
    for p in range(d.P):
        f = future_cost(d, A, X, t1, p)
        states = [final_state(A[:t1], X[:t1], d.k, d.delta)]
        states.append(State(np.ones(d.P), rng.uniform(0, 1, d.P) * d.w, rng.uniform(0, 50, d.P)))
        for st in states:
            got = f(st.cached[[p]] > 0.5, st.K[[p]], st.kappa[[p]])[0]
            rest = d.window(t1, d.T).pairs([p])
            one = State(st.cached[[p]], st.K[[p]], st.kappa[[p]])
            ev = evaluate_station(rest, A[t1:, [p]], X[t1:, [p]], one)
            window = [v for v in ev.violations if v["constraint"] == "context_window_28c"]
            if window:
                assert got == np.inf
            else:
                assert got == pytest.approx(ev.cost * rest.T, rel=1e-12, abs=1e-15)
            # a state seen before (memoised) and the same state among others agree with it
            again = f(st.cached[[p]] > 0.5, st.K[[p]], st.kappa[[p]])
            again[0] = -1.0  # the caller's copy: the memo must not change
            many = f(np.array([True, st.cached[p] > 0.5]), np.array([0.0, st.K[p]]),
                     np.array([0.0, st.kappa[p]]))
            assert f(st.cached[[p]] > 0.5, st.K[[p]], st.kappa[[p]])[0] == got == many[1]


@pytest.mark.parametrize("seed", range(6))
def test_future_cost_asks_the_terminal_value_only_of_end_states_that_exist(seed):
    """A kept plan that overflows the context from some end states costs inf there, and the
    terminal value (the rolling horizon's tail, which knows only reachable states and raises on
    others) is asked only about the states that stay within the window (28c). Regression:
    `rolling(horizon=24, tail="relaxed")` on `generate(stations=1, seed=101, users=15)` raised
    "state of pair 2 after slot 36 is not in the forecast's state graph" from a window's lns."""
    rng = np.random.default_rng(9200 + seed)
    d = generate(slots=8, services=3, gpus=2, stations=1, seed=seed).station_data(0)
    T, P = d.T, d.P
    A, X = np.ones((T, P)), np.zeros((T, P))
    X[:] = d.R  # serve everything while kept loaded: from a nearly full context it overflows
    t1 = int(rng.integers(1, T - 1))
    asked = []

    def terminal(p, cached, K, kappa):
        K = np.asarray(K, float)
        if (K > d.w[p] * (1 + 1e-9)).any():
            raise RuntimeError("not a state of the tail")
        asked.append(len(K))
        return 2.0 * K + 3.0 * np.asarray(kappa, float)

    for p in range(P):
        if d.R[t1:, p].sum() == 0:
            continue
        served = float(d.k[p] * d.R[t1:, p].sum())
        K0 = np.array([0.0, max(d.w[p] - served, 0.0), d.w[p]])  # fits, fits exactly, overflows
        cached = np.ones(3, bool)
        kappa0 = np.minimum(K0, 5.0)
        got = future_cost(d, A, X, t1, p, terminal)(cached, K0, kappa0)
        for j in range(3):
            rest = d.window(t1, T).pairs([p])
            one = State(np.ones(1), K0[[j]], kappa0[[j]])
            ev = evaluate_station(rest, A[t1:, [p]], X[t1:, [p]], one)
            if any(v["constraint"] == "context_window_28c" for v in ev.violations):
                assert got[j] == np.inf
            else:
                want = ev.cost * rest.T + 2.0 * ev.K[-1][0] + 3.0 * ev.kappa[-1][0]
                assert got[j] == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert np.isinf(got[2])  # a full context and at least one more request
    assert asked


@pytest.mark.parametrize("seed", range(8))
def test_pair_graph_merges_equal_states_as_unique_does(seed):
    """`graph._merge` (a stable lexsort) gives the nodes `np.unique(axis=1)` gives: first
    occurrences in (K, κ) order and each state's node, also with many ties."""
    from optcache.solvers.lagrange.graph import _merge

    rng = np.random.default_rng(9400 + seed)
    n = int(rng.integers(1, 300))
    K = np.round(rng.integers(0, 6, n) * 1.7, 9)
    kappa = np.round(rng.integers(0, 4, n) * 0.3, 9)
    _, first, inv = np.unique(np.stack([K, kappa]), axis=1, return_index=True, return_inverse=True)
    got_first, got_inv = _merge(K, kappa)
    np.testing.assert_array_equal(got_first, first)
    np.testing.assert_array_equal(got_inv, inv.ravel())


def test_building_a_pair_graph_stops_at_its_deadline():
    """Past the deadline the construction raises TimeoutError; before it, the graph is the same."""
    import time

    d = generate(slots=40, stations=1, seed=2).station_data(0)
    with pytest.raises(TimeoutError, match="pair 3's state graph"):
        PairGraph.build(d, 3, deadline=time.perf_counter() - 1.0)
    with pytest.raises(TimeoutError):
        Decomposition(d, None, None, deadline=time.perf_counter() - 1.0)
    g, ref = PairGraph.build(d, 3, deadline=time.perf_counter() + 60), PairGraph.build(d, 3)
    for f in ("src", "dst", "x", "base", "node_K", "node_kappa"):
        np.testing.assert_array_equal(getattr(g, f), getattr(ref, f))
    # a search with a terminal value (a window) always builds: its bound needs the graphs
    s = Search(d, None, time.perf_counter() - 1.0, 1e-4, lambda p, c, K, k: np.zeros(len(K)), quiet=True)
    assert len(s.dec.graphs) == d.P


def test_master_purge_keeps_the_lp_and_renumbers():
    """Purging unused columns keeps the LP optimum and the columns' data in step with HiGHS."""
    d = generate(slots=12, services=6, gpus=4, stations=1, seed=3).station_data(0)
    search = Search(d, None, np.inf, 1e-6)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    cg = search.colgen(free, np.zeros(search.master.n_rows), 1e-9)
    master: Master = search.master
    before = master.solve()
    n = master.n
    dropped = master.purge(before, keep_per_pair=1)
    assert dropped > 0 and master.n == n - dropped
    after = master.solve()
    assert after.value == pytest.approx(before.value, rel=1e-9)
    # every kept column still has its own cost in HiGHS (less its pair's reference's)
    lp = master.h.getLp()
    costs = np.asarray(lp.col_cost_)[master.hcol[:master.n]]
    assert costs == pytest.approx(master.cost[:master.n] - master.ref_cost[master.pair[:master.n]], abs=1e-12)
    assert np.isfinite(cg.L)


def test_a_master_re_solve_that_stalls_is_finished_by_the_dual_simplex(monkeypatch):
    """HiGHS 1.16's simplex can cycle on the degenerate master (`STALL_ITERATIONS`). Forced here
    at every solve (no iteration allowed to the primal nor to the first dual run): the dual simplex
    restarted from the basis finishes each, the root reaches the same LP optimum, and the search
    still certifies brute-force optima."""
    from optcache.solvers.lagrange import master as master_module

    d = generate(slots=12, services=6, gpus=4, stations=1, seed=3).station_data(0)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    plain = Search(d, None, np.inf, 1e-6)
    ref = plain.colgen(free, np.zeros(plain.master.n_rows), 1e-9)
    assert plain.master.stalls == 0
    monkeypatch.setattr(master_module, "STALL_ITERATIONS", (0, 0))
    forced = Search(d, None, np.inf, 1e-6)
    cg = forced.colgen(free, np.zeros(forced.master.n_rows), 1e-9)
    assert cg.converged and ref.converged and forced.master.stalls > 10
    assert cg.lp.value == pytest.approx(ref.lp.value, rel=1e-7)
    assert cg.L == pytest.approx(ref.L, rel=1e-7)
    checked = 0
    for search, bound, opt in searched_tiny(range(1000, 1012)):
        assert bound <= opt * (1 + 1e-9) + 1e-12 and search.master.stalls > 0
        assert search.best_cost == pytest.approx(opt, rel=1e-6, abs=1e-12)
        assert search.best_cost - bound <= 1e-9 * abs(search.best_cost) + 1e-12
        checked += 1
    assert checked >= 3


class _RunLog:
    """A Highs stand-in that forwards every call and records, per `run`, the simplex strategy,
    random seed and iteration limit it ran with."""

    def __init__(self, h):
        self._h, self.runs, self._opts = h, [], {}

    def setOptionValue(self, name, value):
        self._opts[name] = value
        return self._h.setOptionValue(name, value)

    def run(self):
        self.runs.append((self._opts.get("simplex_strategy"), self._opts.get("random_seed"),
                          self._opts.get("simplex_iteration_limit")))
        return self._h.run()

    def __getattr__(self, name):
        return getattr(self._h, name)


def test_a_master_whose_primal_cycled_starts_dual_and_restarts_under_other_seeds(monkeypatch):
    """Once a primal re-solve has stalled, the master starts every later re-solve with the dual
    simplex; when both stall, it restarts from the basis FRESH_RESTARTS times, each bounded and
    under seeds 1, 2, ..., before one unbounded run; the seed is 0 again afterwards, and the LP
    optimum is the one of a master that never stalled. (Stalls forced: no iteration allowed.)"""
    from optcache.solvers.lagrange import master as master_module

    d = generate(slots=12, services=6, gpus=4, stations=1, seed=3).station_data(0)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    plain = Search(d, None, np.inf, 1e-6)
    ref = plain.colgen(free, np.zeros(plain.master.n_rows), 1e-9)
    assert plain.master.stalls == 0 and not plain.master.primal_stalled
    monkeypatch.setattr(master_module, "STALL_ITERATIONS", (0, 0))
    forced = Search(d, None, np.inf, 1e-6)
    spy = forced.master.h = _RunLog(forced.master.h)
    solve = forced.master.solve

    def marked(*args, **kwargs):
        spy.runs.append("solve")
        return solve(*args, **kwargs)
    forced.master.solve = marked
    cg = forced.colgen(free, np.zeros(forced.master.n_rows), 1e-9)
    assert cg.converged and cg.lp.value == pytest.approx(ref.lp.value, rel=1e-7)
    k = master_module.FRESH_RESTARTS
    unbounded = forced.master.hs.kHighsIInf
    restarts = [(1, j, 0) for j in range(1, k + 1)] + [(1, k + 1, unbounded)]
    solves = []
    for r in spy.runs:
        if r == "solve":
            solves.append([])
        else:
            solves[-1].append(r)
    # a run stops a solve when it ends within its limit (a bounded run with nothing to do does)
    assert len(solves) > 3 and sum(len(s) == k + 3 for s in solves) > 3
    assert solves[0] == ([(4, 0, 0), (1, 0, 0)] + restarts)[:len(solves[0])]
    for later in solves[1:]:
        assert later == ([(1, 0, 0), (4, 0, 0)] + restarts)[:len(later)]
    assert forced.master.primal_stalled and forced.master.stalls == sum(len(s) - 1 for s in solves)
    assert forced.master.h.getOptionValue("random_seed")[1] == 0


class _UnknownAt:
    """A Highs stand-in that forwards every call, except that after its `at`-th `run` it reports
    status Unknown until `clearSolver` (HiGHS ending a warm solve without an answer)."""

    def __init__(self, h, at):
        self._h, self._at, self.runs, self.unknown = h, at, 0, False

    def run(self):
        self.runs += 1
        self.unknown = self.runs == self._at
        return self._h.run()

    def getModelStatus(self):
        return self._h.getModelStatus() if not self.unknown else type(self._h.getModelStatus()).kUnknown

    def clearSolver(self):
        self.unknown = False
        return self._h.clearSolver()

    def __getattr__(self, name):
        return getattr(self._h, name)


def test_a_master_solve_that_ends_unknown_is_solved_again_from_scratch(monkeypatch):
    """A warm solve that HiGHS ends with status Unknown while time is left is run again from
    scratch (`COLD_AFTER_UNKNOWN`): column generation then converges to the LP optimum of a master
    that never failed. Without it the solve gives no LP and column generation stops unconverged
    (the search then closed such a node at its Lagrangian, as a leaf)."""
    from optcache.solvers.lagrange import master as master_module

    d = generate(slots=12, services=6, gpus=4, stations=1, seed=3).station_data(0)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    plain = Search(d, None, np.inf, 1e-6)
    ref = plain.colgen(free, np.zeros(plain.master.n_rows), 1e-9)
    assert ref.converged and plain.master.cold_solves == 0
    forced = Search(d, None, np.inf, 1e-6)
    forced.master.h = _UnknownAt(forced.master.h, at=3)
    cg = forced.colgen(free, np.zeros(forced.master.n_rows), 1e-9)
    assert forced.master.cold_solves == 1 and forced.master.h.runs > 5
    assert cg.converged and cg.lp.value == pytest.approx(ref.lp.value, rel=1e-7)
    assert cg.L == pytest.approx(ref.L, rel=1e-7)
    monkeypatch.setattr(master_module, "COLD_AFTER_UNKNOWN", False)
    off = Search(d, None, np.inf, 1e-6)
    off.master.h = _UnknownAt(off.master.h, at=3)
    cg = off.colgen(free, np.zeros(off.master.n_rows), 1e-9)
    assert not cg.converged and off.master.h.runs == 3 and off.master.cold_solves == 0


def test_a_master_starts_dual_after_a_bound_excludes_a_column():
    """After `restrict` excludes a column (a node's branching bound), the next re-solve starts with
    the dual simplex and the one after with the primal; a restrict that excludes nothing new, or
    only re-admits columns, keeps the primal first. Every LP optimum is that of a master built
    with the same bounds from scratch."""
    from optcache.solvers.lagrange.branching import children

    d = generate(slots=12, services=6, gpus=4, stations=1, seed=3).station_data(0)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    s = Search(d, None, np.inf, 1e-6)
    cg = s.colgen(free, np.zeros(s.master.n_rows), 1e-9)
    m = s.master
    decision = s.branch(cg)
    assert decision is not None
    (_, down), (_, up) = children(free, decision)
    spy = m.h = _RunLog(m.h)

    def first_strategy(bounds):
        spy.runs.clear()
        m.restrict(bounds)
        lp = m.solve()
        ref = Master(s.dec)
        for j in range(m.n):  # the same columns, the same bounds, solved cold
            ref.add(int(m.pair[j]), m.A[j], m.X[j], float(m.cost[j]))
        ref.restrict(bounds)
        assert lp.value == pytest.approx(ref.solve().value, rel=1e-9, abs=1e-12)
        return spy.runs[0][0]

    assert not m.compatible(down).all()
    assert first_strategy(down) == 1  # columns on the up side are gone: dual first
    assert first_strategy(down) == 4  # the same node again: nothing new excluded
    assert first_strategy(free) == 4  # only re-admitted
    assert first_strategy(up) == 1
    spy.runs.clear()
    m.solve()
    assert spy.runs[0][0] == 4 and not m.primal_stalled


@pytest.mark.parametrize("seed", range(3))
def test_fix_and_optimise_keeps_feasibility_and_never_worsens(seed):
    """Windows re-solved from the incumbent's state with the rest of the plan as terminal value
    give feasible schedules whose objective (evaluator + terminal values) only goes down, also
    when the search itself carries a terminal value (the rolling horizon's tail)."""
    from optcache.solvers.policies import replace_station

    d = generate(slots=20, services=5, gpus=3, stations=1, seed=seed).station_data(0)
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0, 0.01, d.P)
    terminal = (lambda p, cached, K, kappa: weights[p] * np.asarray(K, float)) if seed % 2 else None
    s = Search(d, None, np.inf, 1e-6, terminal, quiet=True)
    A, X = replace_station(d, "laot")
    s.offer(A, X)
    before = s.best_cost
    FixAndOptimise(s).run(seconds=30.0)
    assert s.best_cost <= before + 1e-15
    A2, X2 = s.best
    ev = evaluate_station(d, A2, X2)
    assert not ev.violations
    tail = 0.0
    if terminal is not None:
        end = final_state(A2, X2, d.k, d.delta)
        tail = float(sum(terminal(p, end.cached[[p]], end.K[[p]], end.kappa[[p]])[0] for p in range(d.P))) / d.T
    assert s.best_cost == pytest.approx(ev.cost + tail, rel=1e-12)
    assert s.stats.lns_windows > 0


def test_fix_and_optimise_goes_on_while_the_gap_is_wide(monkeypatch):
    """Under a time limit, sweeps of windows go on past fix-and-optimise's share while the gap to
    the root bound is wider than LNS_WIDE_GAP and the last sweep improved; they stop at a sweep
    that finds nothing, and as soon as the gap is narrow (branching gets the rest)."""
    from optcache.solvers.policies import replace_station

    d = generate(slots=40, services=5, gpus=3, stations=1, seed=0).station_data(0)

    def count(root_gap: float, improving: int, narrow_at: int | None = None, seconds: float = 0.0) -> int:
        s = Search(d, None, time.perf_counter() + 600, 1e-4, quiet=True)
        s.offer(*replace_station(d, "laot"))
        s.root_L = s.best_cost * (1 - root_gap)
        calls = []

        def window(plan, w, stop):
            calls.append((w.start, w.end))
            if len(calls) == narrow_at:
                s.best_cost = s.root_L * (1 + fixopt.LNS_WIDE_GAP / 2)
            elif len(calls) <= improving:
                plan.cost *= 1 - 1e-4  # as an improving window would
                s.best_cost = plan.cost
            return True

        fo = FixAndOptimise(s)
        monkeypatch.setattr(fo, "window", window)
        fo.run(seconds=seconds)  # 0: the share is over before the first window
        return len(calls)

    # T = 40: 12-slot windows at 0, 8, 16, 24, then 24-slot windows at 0, 12, 24 | 6, 18 | 0, 12,
    # 24 | 6, 18 (LNS_STAGES): 14 in a sweep, 9 distinct
    assert count(0.1, 0) == 9  # wide: one sweep past the share (each window once), which finds nothing
    assert count(fixopt.LNS_WIDE_GAP / 2, 0) == 0  # narrow: the share is all it gets
    # the first 11 calls improve: the first sweep calls all 14 windows (each improvement makes the
    # incumbent new to every window), the second the 6 last solved before the 11th call's
    # improvement (the four short ones, 24 slots at 0 and at 12), which find nothing: a third
    # sweep would repeat nothing
    assert count(0.1, 11) == 20
    assert count(0.1, 100, narrow_at=3) == 3  # the gap closes to below LNS_WIDE_GAP: stop


def test_a_long_share_persists_at_a_narrow_gap(monkeypatch):
    """A share of LNS_PERSIST_SECONDS or more persists: at a gap narrower than LNS_WIDE_GAP its
    sweeps repeat while they improve, as at a wide gap; a shorter share stops after one sweep.
    Either way nothing runs past the share."""
    from optcache.solvers.policies import replace_station

    d = generate(slots=40, services=5, gpus=3, stations=1, seed=0).station_data(0)
    narrow = fixopt.LNS_WIDE_GAP / 2

    def count(improving: int, seconds: float, share_ends: int | None = None) -> int:
        s = Search(d, None, time.perf_counter() + 600, 1e-4, quiet=True)
        s.offer(*replace_station(d, "laot"))
        s.root_L = s.best_cost * (1 - narrow)
        calls = []
        fo = FixAndOptimise(s)

        def window(plan, w, stop):
            calls.append((w.start, w.end))
            if len(calls) <= improving:
                plan.cost *= 1 - 1e-9  # improves, and the gap stays narrow
                s.best_cost = plan.cost
            if len(calls) == share_ends:
                monkeypatch.setattr(time, "perf_counter", lambda: stop + 1.0)
            return True

        monkeypatch.setattr(fo, "window", window)
        fo.run(seconds=seconds)
        assert fo.persist == (seconds >= fixopt.LNS_PERSIST_SECONDS)
        return len(calls)

    long = fixopt.LNS_PERSIST_SECONDS + 1
    # 14 windows a sweep, 9 distinct (test above); 11 improving calls: a second sweep of the 6
    # solved before the last improvement, then nothing new
    assert count(11, long) == 20
    assert count(11, fixopt.LNS_PERSIST_SECONDS - 1) == 14  # one sweep: the gap is narrow
    assert count(0, long) == 9  # a sweep that finds nothing ends it (no multipliers: no dive)
    assert count(100, long, share_ends=16) == 16  # the share is over: stop


def test_a_stuck_wide_gap_gets_one_dive_and_new_sweeps_from_its_schedule(monkeypatch):
    """With the root's multipliers, fix-and-optimise that finds nothing while the gap is wider than
    LNS_WIDE_GAP dives once and sweeps again from the dive's schedule, even when it costs more
    than the incumbent; its schedule is offered. No dive without the multipliers, nor once the
    gap is narrow."""
    from optcache.solvers.policies import replace_station

    d = generate(slots=40, services=5, gpus=8, stations=1, seed=0).station_data(0)
    laot = replace_station(d, "laot")
    cloud = (np.zeros((d.T, d.P)), np.zeros((d.T, d.P)))  # all-cloud: feasible, and dearer here

    def run(root_gap: float, with_u: bool, seconds: float = 0.0):
        s = Search(d, None, time.perf_counter() + 600, 1e-4, quiet=True)
        s.offer(*laot)
        laot_cost = s.best_cost
        s.root_L = s.best_cost * (1 - root_gap)
        plans, dives = [], []
        dived = Plan(*cloud, s.dec.objective(*cloud)[0])
        fo = FixAndOptimise(s)
        monkeypatch.setattr(fo, "window", lambda plan, *a: plans.append(plan.cost) or True)
        monkeypatch.setattr(fixopt, "dive", lambda search, u, until: dives.append(until) or dived)
        fo.run(seconds=seconds, u=np.zeros(s.master.n_rows) if with_u else None)
        return laot_cost, s, plans, dives

    laot_cost, s, plans, dives = run(0.1, True)
    cloud_cost, _ = s.dec.objective(*cloud)
    assert cloud_cost > laot_cost
    # 9 distinct windows (test above) over the incumbent find nothing, then 9 over the dive's plan
    assert len(dives) == 1 and plans == [laot_cost] * 9 + [cloud_cost] * 9
    assert s.stats.dive_cost == cloud_cost and s.best_cost == laot_cost  # offered, not better
    assert len(run(0.1, False)[3]) == 0 and len(run(fixopt.LNS_WIDE_GAP / 2, True)[3]) == 0
    # a share of LNS_PERSIST_SECONDS or more dives at a narrow gap too, and by the share's end
    t = time.perf_counter()
    _, s, plans, dives = run(fixopt.LNS_WIDE_GAP / 2, True, seconds=fixopt.LNS_PERSIST_SECONDS + 1)
    assert len(dives) == 1 and plans == [laot_cost] * 9 + [cloud_cost] * 9
    assert dives[0] <= time.perf_counter() + fixopt.LNS_PERSIST_SECONDS + 1 and dives[0] < t + 600 / 2


@pytest.mark.parametrize("seed", range(6))
def test_a_dive_gives_a_feasible_schedule_and_leaves_the_bound_alone(seed):
    """The dive's schedule meets every constraint, costs what the evaluator says and no less
    than the brute-force optimum; on a memory-bound 30-slot station it is no dearer than the
    root's heuristics' incumbent plus 10 %. Fixing pairs is no branch: nothing is pruned."""
    if seed < 4:
        d = random_tiny(np.random.default_rng(2000 + seed)).station_data(0)
        opt = brute_force(d)[0]
    else:
        d = generate(stations=1, seed=seed, slots=30).station_data(0)
        opt = 0.0
    s = Search(d, None, np.inf, 1e-9, quiet=True)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    root = s.colgen(free, np.zeros(s.master.n_rows), 1e-7, separate=True)
    s.heuristics(root)
    dive = fixopt.dive(s, root.u)
    if not s.dec.coupled:  # no master LP to dive in
        assert dive is None
        return
    assert dive is not None
    ev = evaluate_station(d, dive.A, dive.X)
    assert not ev.violations
    cost, _ = s.dec.objective(dive.A, dive.X)
    assert cost == pytest.approx(ev.cost, rel=1e-12) and cost >= opt * (1 - 1e-9) - 1e-12
    assert s.stats.dives == 1 and s.pruned == np.inf
    if seed >= 4:
        assert cost <= 1.1 * s.best_cost


@pytest.mark.parametrize("seed", range(4))
def test_progress_trace_bounds_the_optimum_from_the_first_row(seed):
    """The trace records the root's Lagrangian as it rises (a peer comparison at 10 s reads it):
    every recorded bound is below the brute-force optimum, every incumbent above it, and the
    bounds recorded during the root never fall."""
    rng = np.random.default_rng(1000 + seed)
    d = random_tiny(rng).station_data(0)
    opt, _, _ = brute_force(d)
    s = lagrange_station(d, gap=1e-9)
    rows = s.history[0]["progress"]
    assert rows and rows[0]["seconds"] <= s.history[0]["root_seconds"] + 1e-9
    for r in rows:
        assert r["bound"] <= opt * (1 + 1e-9) + 1e-12
        assert r["incumbent"] >= opt * (1 - 1e-9) - 1e-12 or r["incumbent"] == np.inf
    root = [r["bound"] for r in rows if r["seconds"] <= s.history[0]["root_seconds"]]
    assert all(b >= a - 1e-12 for a, b in zip(root, root[1:], strict=False))


def test_a_leaf_offers_the_columns_the_master_uses_not_a_cheaper_one_of_negligible_weight():
    """At a leaf every column with λ > FRACTIONAL agrees on the coupled decisions; a column of
    λ = 1e-8 may not (ā stays integral to 1e-6). Offering each pair's cheapest column of the
    whole support then breaks memory (3) and the leaf stays open; its heaviest are feasible.
    (Found on `generate(stations=1, seed=102, users=5)`: a 0.05 % gap left when the tree ran out.)"""
    from optcache.solvers.lagrange.master import LPSolution

    d = generate(stations=1, seed=8, slots=4, services=2, gpus=2, users=40).station_data(0)
    assert d.s[0] <= d.G and d.s[1] <= d.G < d.s[0] + d.s[1]  # one pair at a time
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    cols, own = {}, {}
    for p in range(d.P):  # each pair's best schedule alone (its DP without prices)
        zero = np.zeros(d.T)
        v, a, x = s.dec.graphs[p].solve(zero, zero)
        own[p] = a
        assert s.master.add(p, a, x, v / d.T)
        cols[p] = s.master.n - 1
    # both are cheaper than all-cloud (columns 0 and 1) and cannot be loaded together: the trap
    assert s.master.cost[cols[0]] < s.master.cost[0] and s.master.cost[cols[1]] < s.master.cost[1]
    assert (own[0] * own[1]).any()
    lam = np.zeros(s.master.n)
    lam[cols[0]], lam[0] = 1 - 1e-8, 1e-8  # pair 0: cached, all-cloud at negligible weight
    lam[1], lam[cols[1]] = 1 - 1e-8, 1e-8  # pair 1: all-cloud, cached at negligible weight
    s.best_cost, s.best = np.inf, None
    s.offer_support(LPSolution(0.0, np.zeros(s.master.n_rows), lam, False, np.zeros(s.master.n)))
    assert s.best is not None
    A, X = s.best
    assert np.array_equal(A[:, 0], own[0]) and not A[:, 1].any()
    assert not evaluate_station(d, A, X).violations


def test_a_node_rounds_each_pairs_heaviest_column_and_offers_it_only_when_feasible():
    """`Search.offer_rounding` takes each pair's column of largest λ (not its cheapest), drops the
    combination when the evaluator finds it infeasible, and otherwise offers it after one-pair
    re-optimisation, never dearer than the combination itself."""
    from optcache.solvers.lagrange.master import LPSolution

    d = generate(stations=1, seed=8, slots=4, services=2, gpus=2, users=40).station_data(0)
    assert d.s[0] <= d.G and d.s[1] <= d.G < d.s[0] + d.s[1]  # one pair at a time
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    cols, own = {}, {}
    for p in range(d.P):  # each pair's best schedule alone; columns 0 and 1 are all-cloud
        zero = np.zeros(d.T)
        v, a, x = s.dec.graphs[p].solve(zero, zero)
        own[p] = (a, x)
        assert s.master.add(p, a, x, v / d.T)
        cols[p] = s.master.n - 1
    assert (own[0][0] * own[1][0]).any()  # cached together in some slot: memory (3) breaks
    assert s.master.cost[cols[1]] < s.master.cost[1]  # pair 1's cached column is the cheaper

    def lp(lam):
        return LPSolution(0.0, np.zeros(s.master.n_rows), lam, False, np.zeros(s.master.n))

    lam = np.zeros(s.master.n)
    lam[cols[0]], lam[0] = 0.6, 0.4
    lam[cols[1]], lam[1] = 0.6, 0.4  # both cached: infeasible, nothing offered
    s.best_cost, s.best = np.inf, None
    s.offer_rounding(lp(lam))
    assert s.best is None
    lam[cols[1]], lam[1] = 0.4, 0.6  # pair 1's heaviest is all-cloud, though the cached is cheaper
    s.offer_rounding(lp(lam))
    assert s.best is not None
    A, X = s.best
    assert not evaluate_station(d, A, X).violations
    A0, X0 = np.zeros((d.T, d.P)), np.zeros((d.T, d.P))
    A0[:, 0], X0[:, 0] = own[0]
    rounded = evaluate_station(d, A0, X0)
    assert not rounded.violations
    assert s.best_cost <= rounded.cost + 1e-12
    assert np.array_equal(A[:, 0], own[0][0])


def test_a_node_emptied_by_the_roots_fixings_leaves_its_bound_to_the_values_fixed_out():
    """A heap node whose bounds the root's later probing empties holds only schedules that use a
    value fixed out at a Lagrangian already in `pruned`; its own bound, from before the better
    incumbent, may be far below the level and must not become the search's bound (a bound valid
    but needlessly low: with no node left to raise it, the search would end under the gap)."""
    from optcache.solvers.lagrange.search import Node

    d = generate(stations=1, seed=8, slots=4, services=2, gpus=2, users=40).station_data(0)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    level = s.level()  # the all-cloud incumbent less the gap
    assert np.isfinite(level) and s.pruned == np.inf
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    emptied = [b.copy() for b in free]
    emptied[1].a_lo[2], emptied[1].a_hi[2] = 1, 0  # neither off nor cached in slot 2
    assert emptied[1].empty() and not any(b.empty() for b in free)
    u = np.zeros(s.master.n_rows)
    s.pruned = level + 0.25  # as if probing had fixed values out at this Lagrangian
    assert s.discard(Node(level - 1.0, emptied, u))
    assert s.pruned == level + 0.25  # not the emptied node's bound
    assert not s.discard(Node(level - 1.0, free, u))  # open and below the level: solve it
    assert s.pruned == level + 0.25
    assert s.discard(Node(level + 0.125, free, u))  # reaches the level: pruned at its bound
    assert s.pruned == level + 0.125
    # queued nodes met with fixings that empty one: it leaves the queue, and the search's bound
    cached = [b.copy() for b in free]
    cached[1].a_lo[2] = 1  # branched to 'cached' in slot 2: still holds schedules after the meet
    uncached = [b.copy() for b in free]
    uncached[1].a_hi[2] = 0  # branched to 'off' in slot 2: emptied by the meet
    fix_on = [PairBounds.free(d.T) for _ in range(d.P)]
    fix_on[1].a_lo[2] = 1  # the root fixed 'off' out in slot 2
    heap = s.refix([Node(level - 1.0, uncached, u, order=1), Node(level - 0.5, cached, u, order=2)], fix_on)
    assert [n.order for n in heap] == [2] and not heap[0].emptied()
    assert s.certified_bound(heap, []) == level - 0.5
    assert s.certified_bound(heap, [level - 0.75]) == level - 0.75  # a leaf closed below the level
    assert s.refix([Node(level - 1.0, uncached, u, order=3)], fix_on) == []  # a queue emptied outright


def test_a_plunged_node_whose_lp_was_purged_since_is_solved_again():
    """A plunged child's LP was solved before its sibling's column generation, which may purge the
    master and renumber its columns: its λ then names other columns (a "leaf" read from them would
    close a node nobody explored), so `Search.current` solves the node again; a current LP is
    used as it is."""
    from optcache.solvers.lagrange.search import Node

    d = generate(stations=1, seed=102, slots=12).station_data(0)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    cg = s.colgen(free, np.zeros(s.master.n_rows), 1e-6)
    node = Node(cg.L, free, cg.u)
    assert s.current(node, cg) is cg  # nothing purged since
    lp = s.master.solve()
    assert s.master.purge(lp, 1) > 0 and cg.lp.generation != s.master.generation
    again = s.current(node, cg)
    assert again is not cg and again.lp.generation == s.master.generation
    assert again.L == pytest.approx(cg.L, rel=1e-5)  # the same node's bound
    for p in range(d.P):  # its λ is a convex combination of the pair's columns as they are now
        cols = s.master.support(again.lp.lam)[p]
        assert abs(again.lp.lam[cols].sum() - 1) < 1e-6 and (s.master.pair[cols] == p).all()


def test_a_node_solved_again_gets_its_columns_back(monkeypatch):
    """`Master.snapshot` copies exactly the columns an LP uses; a purge after another node's LP
    drops some of them, and `Master.restore` puts them back, so the node's LP is the one it had
    (`NODE_COLUMNS`). Solved again from its multipliers, the node reaches the same bound in fewer
    master LPs than without its columns."""
    from optcache.solvers.lagrange.branching import children
    from optcache.solvers.lagrange.search import Node

    d = generate(stations=1, seed=0, slots=12, gpus=16).station_data(0)
    s = Search(d, None, np.inf, 1e-7, quiet=True)
    m = s.master
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    root = s.colgen(free, np.zeros(m.n_rows), 1e-7)
    snap = m.snapshot(root.lp)
    used = np.nonzero(root.lp.lam > 1e-12)[0]
    assert len(snap.pair) == len(used) and (snap.pair == m.pair[used]).all()
    np.testing.assert_array_equal(snap.A, m.A[used])
    np.testing.assert_array_equal(snap.X, m.X[used])
    decision = s.branch(root)
    assert decision is not None  # the root is fractional: this station branches
    (_, down), _ = children(free, decision)

    def purge_by_child():
        kid = s.colgen(down, root.u, 1e-7)
        m.purge(kid.lp, 1)  # the master's own keys of the columns it holds: `_seen`
        return sum((int(p), a.tobytes(), x.tobytes()) not in m._seen for p, a, x in zip(*snap[:3], strict=True))

    assert purge_by_child() > 0  # the child's purge dropped some of the root's columns
    assert m.restore(snap) > 0 and m.restore(snap) == 0  # put back once, then all present
    m.restrict(free)
    lp = m.solve()
    assert lp.value == pytest.approx(root.lp.value, rel=1e-9)  # the root's LP again
    assert m.snapshot(root.lp) is None  # the master was purged since that LP

    count = {"n": 0}
    solve = Master.solve

    def counted(self, *a, **kw):
        count["n"] += 1
        return solve(self, *a, **kw)

    monkeypatch.setattr(Master, "solve", counted)
    lps = {}
    for kept in (snap, None):
        assert purge_by_child() > 0
        count["n"] = 0
        again = s.current(Node(root.L, free, root.u, columns=kept), root)
        lps[kept is not None] = count["n"]
        assert again.L == pytest.approx(root.L, rel=1e-6)
    assert lps[True] < lps[False]


def test_a_snapshot_keeps_its_lps_columns_when_columns_were_added_since():
    """A node's rounding (`offer_rounding`) adds columns to the master between the node's LP and
    its `snapshot`; adding renumbers nothing, so the snapshot still holds exactly that LP's
    columns (it used to come back None, and the queued node lost them)."""
    d = generate(stations=1, seed=0, slots=12, gpus=16).station_data(0)
    s = Search(d, None, np.inf, 1e-7, quiet=True)
    m = s.master
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    root = s.colgen(free, np.zeros(m.n_rows), 1e-7)
    used = np.nonzero(root.lp.lam > 1e-12)[0]
    before = m.n
    rng = np.random.default_rng(0)
    for p, g in enumerate(s.dec.graphs):  # schedules at random prices: new columns
        v, a, x = g.solve(rng.normal(size=d.T), rng.normal(size=d.T))
        m.add(p, a, x, float(s.dec.pair_costs(*_one_pair(d, p, a, x))[p]))
    assert m.n > before
    snap = m.snapshot(root.lp)
    assert snap is not None and (snap.pair == m.pair[used]).all()
    np.testing.assert_array_equal(snap.A, m.A[used])
    np.testing.assert_array_equal(snap.X, m.X[used])


def _one_pair(d, p, a, x):
    """(A, X) with pair p's schedule and every other pair all-cloud."""
    A, X = np.zeros((d.T, d.P)), np.zeros((d.T, d.P))
    A[:, p], X[:, p] = a, x
    return A, X


def test_plunging_goes_on_only_while_the_child_is_near_the_best_open_bound(monkeypatch):
    """`Search.plunge`: with the best queued bound 1.0 and the pruning level 2.0 (incumbent 2.0,
    gap 0, less GAP_FLOOR's 2e-9), a child is followed up to 1.0 + 0.25 × (2.0 − 1.0) = 1.25, and
    always with an empty queue, with the rule off (None), or when the child itself is the best
    bound."""
    from optcache.solvers.lagrange import search as search_module
    from optcache.solvers.lagrange.search import Node

    d = generate(stations=1, seed=102, slots=4).station_data(0)
    s = Search(d, None, np.inf, 0.0, quiet=True)
    s.best_cost = 2.0
    heap = [Node(1.0, [], np.zeros(0))]
    monkeypatch.setattr(search_module, "PLUNGE_BOUND_DIST", 0.25)
    assert s.plunge(1.2, heap) and s.plunge(1.2499, heap)
    assert not s.plunge(1.2501, heap) and not s.plunge(1.9, heap)
    assert s.plunge(0.5, heap)  # better than anything queued
    assert s.plunge(1.9, [])
    monkeypatch.setattr(search_module, "PLUNGE_BOUND_DIST", None)
    assert s.plunge(1.9, heap)


# optima certified by `milp` (solve_station, gap 1e-7: bound and cost agree to 1e-11), stations
# whose `lagrange` search branches (20–120 nodes)
BRANCHING_OPTIMA = [({"slots": 12, "gpus": 16, "seed": 0}, 0.327542669394),
                    ({"slots": 12, "services": 12, "seed": 3}, 0.295227215173)]


def _certifies_branching_optimum(case: int) -> None:
    """`lagrange` branches on BRANCHING_OPTIMA[case] and certifies its stored optimum."""
    knobs, opt = BRANCHING_OPTIMA[case]
    d = generate(stations=1, **knobs).station_data(0)
    s = lagrange_station(d, gap=1e-7)
    assert s.termination == "optimal" and s.nodes > 0
    assert s.bound <= opt * (1 + 1e-9)
    assert s.cost == pytest.approx(opt, rel=1e-6)


@pytest.mark.parametrize(("dist", "keep"), [(0.0, True), (None, True), (0.25, False)])
@pytest.mark.parametrize("case", range(len(BRANCHING_OPTIMA)))
def test_any_plunging_rule_certifies_the_optimum(monkeypatch, dist, keep, case):
    """Best first (0) or plunging to the depth limit whatever the bounds (None), and queued nodes
    without their columns (`NODE_COLUMNS` off): the work changes, the certified optimum does not."""
    from optcache.solvers.lagrange import search as search_module

    monkeypatch.setattr(search_module, "PLUNGE_BOUND_DIST", dist)
    monkeypatch.setattr(search_module, "NODE_COLUMNS", keep)
    _certifies_branching_optimum(case)


@pytest.mark.parametrize("chain", [1, 2, 3])
@pytest.mark.parametrize("case", range(len(BRANCHING_OPTIMA)))
def test_chained_branching_certifies_the_optimum(monkeypatch, chain, case):
    """Plain a = 0 | 1 (1), or p's up side split on one or two more pairs of the slot (`CHAIN`):
    the tree changes, the certified optimum does not; with a chain some branching has three or
    more children."""
    from optcache.solvers.lagrange import search as search_module

    monkeypatch.setattr(search_module, "CHAIN", chain)
    widest = []
    split = search_module.children

    def spy(bounds, decision):
        kids = split(bounds, decision)
        widest.append(len(kids))
        return kids

    monkeypatch.setattr(search_module, "children", spy)
    _certifies_branching_optimum(case)
    assert max(widest) == 2 if chain == 1 else max(widest) >= 3


@pytest.mark.parametrize("k", [1, 4, 8])
@pytest.mark.parametrize("case", range(len(BRANCHING_OPTIMA)))
def test_strong_branching_certifies_the_optimum(monkeypatch, k, case):
    """Pseudo-costs alone (1) or the best 4 or 8 candidates scored by their children's master
    LPs (`STRONG_CANDIDATES`): the tree changes, the certified optimum does not; with k > 1 the
    station's own tree decides by strong branching and counts its LPs."""
    from optcache.solvers.lagrange import search as search_module

    monkeypatch.setattr(search_module, "STRONG_CANDIDATES", k)
    seen = []
    strong = Search.strong

    def spy(self, top, bounds, cg, eps, floor):
        seen.append((len(top), self.strong_branching))
        return strong(self, top, bounds, cg, eps, floor)

    monkeypatch.setattr(Search, "strong", spy)
    _certifies_branching_optimum(case)
    assert all(on for _, on in seen) and all(2 <= n <= k for n, _ in seen)
    assert (len(seen) > 0) == (k > 1)


def _strong_root(monkeypatch):
    """The root of a memory-bound 12-slot station (`BRANCHING_OPTIMA`'s second: 23 fractional ā)
    with every row in the master (no row left out, so that a restricted solve and
    `Master.value_under` see the same LP), and a pruning level 1 % above it."""
    from optcache.solvers.lagrange import master as master_module
    from optcache.solvers.lagrange.search import ROOT_TOL

    monkeypatch.setattr(master_module, "LAZY_ROWS", False)
    d = generate(stations=1, **BRANCHING_OPTIMA[1][0]).station_data(0)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    cg = s.colgen(free, np.zeros(s.master.n_rows), ROOT_TOL, separate=True)
    s.best_cost = cg.L * 1.01
    s.probe(cg, free)
    return s, free, cg


def test_value_under_is_the_restricted_lp_from_below(monkeypatch):
    """For children of the root: the node's LP value ≤ the dual simplex's value after 1 iteration
    ≤ after 20 ≤ without a limit = the restricted master LP solved as column generation solves it.
    The dual simplex's objective only rises from the node's optimal basis, and it stops at the
    child's optimum."""
    from optcache.solvers.lagrange.branching import Decision, children

    s, free, cg = _strong_root(monkeypatch)
    m = s.master
    m.restrict(free)
    base = m.solve().value
    basis = m.basis()
    Ab, Xb = m.xbar(cg.lp.lam)
    frac = [(t, p) for t in range(s.d.T) for p in range(s.d.P) if 1e-6 < Ab[t, p] < 1 - 1e-6]
    assert len(frac) >= 3
    checked = 0
    for t, p in frac[:6]:
        for _, bs in children(free, Decision("a", t, p, 0, float(Ab[t, p]))):
            v1, v20, vall = (m.value_under(bs, basis, it, None) for it in (1, 20, 10**9))
            assert base - 1e-9 <= v1 <= v20 + 1e-9 and v20 <= vall + 1e-9
            m.restrict(bs)
            lp = m.solve()
            assert vall == pytest.approx(lp.value, rel=1e-9, abs=1e-12)
            checked += vall > base + 1e-9
            m.h.setBasis(basis)
    assert checked >= 2  # some child's LP rises above its parent's


def test_strong_branching_takes_the_best_product_and_restores_the_node(monkeypatch):
    """`Search.strong` branches on the candidate whose two sides' gains (a side's least child LP
    rise, capped at the pruning level, at least its Lagrangian rise) have the largest product,
    recomputed here from each child's restricted LP; afterwards the master holds the node's
    bounds and basis (the node's LP value again at once)."""
    from optcache.solvers.lagrange import search as search_module
    from optcache.solvers.lagrange.branching import children, rise_of

    monkeypatch.setattr(search_module, "STRONG_CANDIDATES", 6)
    s, free, cg = _strong_root(monkeypatch)
    m = s.master
    tops = []
    strong = Search.strong

    def spy(self, top, bounds, cg_, eps, floor):
        tops.append(list(top))
        return strong(self, top, bounds, cg_, eps, floor)

    monkeypatch.setattr(Search, "strong", spy)
    ub = m._ub[:m.n].copy()
    chosen = s.branch(cg, free)
    top = tops[0]
    assert len(top) == 6 and chosen in top
    assert np.array_equal(m._ub[:m.n], ub)  # the node's bounds again
    m.restrict(free)
    base = m.solve().value
    assert m.h.getInfo().simplex_iteration_count == 0  # and its optimal basis
    basis = m.basis()
    cap = s.level() - base
    scores = []
    for c in top:
        gain = [np.inf, np.inf]
        for side, bs in children(free, c):
            g = min(max(m.value_under(bs, basis, search_module.STRONG_ITERATIONS, None) - base, 0.0), cap)
            g = max(g, min(rise_of(cg.rise[c.pair][c.slot], c, side), cap))
            gain[side] = min(gain[side], g)
        scores.append(min(gain[0], cap) * min(gain[1], cap))
    assert scores[top.index(chosen)] == pytest.approx(max(scores), rel=1e-9)
    assert len({round(v, 12) for v in scores}) > 1  # the LPs told the candidates apart


def test_strong_branching_past_the_deadline_takes_the_pseudo_cost_choice(monkeypatch):
    """Out of time, strong branching solves no child's LP and branches on the best pseudo-cost
    candidate: the time limit covers the branching too."""
    from optcache.solvers.lagrange import search as search_module

    s, free, cg = _strong_root(monkeypatch)
    monkeypatch.setattr(search_module, "STRONG_CANDIDATES", 1)
    plain = s.branch(cg, free)
    monkeypatch.setattr(search_module, "STRONG_CANDIDATES", 8)
    calls = []
    monkeypatch.setattr(Master, "value_under", lambda self, *a: calls.append(a))
    s.deadline = time.perf_counter() - 1.0
    assert s.branch(cg, free) == plain and calls == []


def test_windows_do_not_branch_strongly():
    """Fix-and-optimise's window searches keep pseudo-cost branching (`strong=False`)."""
    d = generate(stations=1, seed=101, slots=10).station_data(0)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    w = s.window_search(d.window(0, 4), State.cold(d.P), np.inf, 1e-4, None, None, False)
    assert s.strong_branching and not w.strong_branching


def test_chained_children_partition_the_nodes_schedules():
    """Children of a[1][0] split on pairs 2 then 3: 0 out | 0 in, 2 out | 0, 2 in, 3 out | all
    three in (sides 0, 1, 1, 1). Every choice of the four pairs' a[1] that the node allows is in
    exactly one child, and in none that the node does not; a pair the node already keeps in drops
    its 'out' child."""
    from optcache.solvers.lagrange.branching import Decision, children

    T, P = 3, 4
    decision = Decision("a", 1, 0, 0, 0.4, then=(2, 3))

    def within(bounds, a1):
        """Whether bounds allow a[1] = a1 (one value per pair)."""
        return all(b.a_lo[1] <= v <= b.a_hi[1] for b, v in zip(bounds, a1, strict=True))

    free = [PairBounds.free(T) for _ in range(P)]
    kids = children(free, decision)
    assert [side for side, _ in kids] == [0, 1, 1, 1]
    for a1 in itertools.product((0, 1), repeat=P):
        assert sum(within(bs, a1) for _, bs in kids) == 1, a1
    for _, bs in kids:  # only slot 1 of pairs 0, 2 and 3 is bounded
        assert all((b.a_lo[[0, 2]] == 0).all() and (b.a_hi[[0, 2]] == 1).all() for b in bs)
        assert (bs[1].a_lo == 0).all() and (bs[1].a_hi == 1).all()
    kept = [b.copy() for b in free]
    kept[2].a_lo[1] = 1  # the node already keeps pair 2 in
    kids = children(kept, decision)
    assert [side for side, _ in kids] == [0, 1, 1]
    for a1 in itertools.product((0, 1), repeat=P):
        assert sum(within(bs, a1) for _, bs in kids) == within(kept, a1), a1
    plain = children(free, Decision("a", 1, 0, 0, 0.4))  # no chain: a = 0 | 1
    assert [(s, b[0].a_hi[1], b[0].a_lo[1]) for s, b in plain] == [(0, 0, 0), (1, 1, 1)]


def test_branching_chains_the_slots_pair_most_out():
    """An 'a' decision picked at a node goes on to the fractional pair of its slot with the
    smallest ā (the most out in the master), and to none if no other pair there is fractional.
    Ranked most fractional 'a' first, down the last child (every pair of the chain in) of each
    node, on a station where memory binds (`BRANCHING_OPTIMA`'s first)."""
    from optcache.solvers.lagrange.branching import FRACTIONAL, children
    from optcache.solvers.lagrange.search import ROOT_TOL

    d = generate(stations=1, **BRANCHING_OPTIMA[0][0]).station_data(0)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    s.pseudo.score = lambda c, eps, floor=None: c.down * (1 - c.down) if c.kind == "a" else 0.0
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    cg = s.colgen(free, np.zeros(s.master.n_rows), ROOT_TOL, separate=True)
    chained = 0
    for _ in range(12):
        decision = s.branch(cg)
        assert decision is not None and decision.kind == "a"
        f, _ = s.master.xbar(cg.lp.lam)
        f = f[decision.slot]
        frac = [q for q in range(d.P) if q != decision.pair and FRACTIONAL < f[q] < 1 - FRACTIONAL]
        assert decision.then == ((min(frac, key=lambda q: (f[q], q)),) if frac else ())
        chained += bool(frac)
        free = children(free, decision)[-1][1]
        cg = s.colgen(free, cg.u, 1e-6)
        assert np.isfinite(cg.L) and cg.lp is not None and not cg.lp.slack_used
    assert chained >= 6


def test_pseudo_costs_estimate_per_unit_gains_and_fall_back_to_their_kind():
    """Hand-computed: a side's estimate is its average gain per unit of distance times the
    distance; a decision never branched on takes its kind's average; without any record the
    product rule ranks by f·(1 − f), the most fractional first."""
    from optcache.solvers.lagrange.branching import Decision, PseudoCosts

    pc = PseudoCosts()
    near, mid = Decision("x", 3, 1, 2, 0.1), Decision("x", 4, 0, 1, 0.5)
    assert pc.estimate(mid, 0) == 0.5 and pc.estimate(near, 1) == pytest.approx(0.9)
    assert pc.score(mid, 1e-9) > pc.score(near, 1e-9)  # 0.25 > 0.09
    pc.record(near, 0, 0.02)  # 0.02 over a distance of 0.1: 0.2 per unit
    pc.record(near, 0, 0.06)  # 0.6 per unit: average 0.4
    pc.record(near, 1, 0.09)  # 0.09 over 0.9: 0.1 per unit
    assert pc.estimate(near, 0) == pytest.approx(0.4 * 0.1)
    assert pc.estimate(near, 1) == pytest.approx(0.1 * 0.9)
    other = Decision("x", 7, 2, 0, 0.25)  # unseen: the kind's averages (0.4 down, 0.1 up)
    assert pc.estimate(other, 0) == pytest.approx(0.4 * 0.25)
    assert pc.estimate(other, 1) == pytest.approx(0.1 * 0.75)
    assert pc.estimate(Decision("a", 7, 2, 0, 0.25), 0) == 0.25  # another kind: no record yet
    assert pc.score(near, 1e-9) == pytest.approx(0.04 * 0.09)
    pc.record(Decision("x", 5, 0, 3, 0.0), 0, 1.0)  # no distance: nothing learnt
    pc.record(near, 1, np.inf)  # an infeasible child: nothing learnt
    pc.record(near, 1, -0.5)  # a child below its parent's bound gains nothing
    assert pc.estimate(near, 1) == pytest.approx((0.1 + 0.0) / 2 * 0.9)
    assert pc.estimate(other, 0) == pytest.approx(0.4 * 0.25)


@pytest.mark.parametrize("seed", [101, 102])
def test_branching_floor_is_each_childs_lagrangian_at_the_nodes_multipliers(seed):
    """The Lagrangian rise a branching side is credited with is exactly L(u) of the child (the
    side imposed on its pair) at the node's u, minus L(u): a bound the child starts from. Checked
    against the Lagrangian evaluated directly with the child's bounds, for every candidate."""
    from optcache.solvers.lagrange.branching import Decision, rise_of
    from optcache.solvers.lagrange.search import ROOT_TOL, _pad

    d = generate(stations=1, seed=seed, slots=10, users=15).station_data(0)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    assert s.dec.coupled
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    cg = s.colgen(free, np.zeros(s.master.n_rows), ROOT_TOL, separate=True)
    s.best_cost = np.inf  # probe without fixing anything: the rises of the free node
    s.probe(cg, free)
    checked = 0
    for p in range(d.P):
        for t in range(d.T):
            decisions = [Decision("a", t, p, 0, 0.5)] + [Decision("x", t, p, v, 0.5)
                                                         for v in range(int(s.dec.xcap[t, p]))]
            for dec in decisions:
                for side in (0, 1):
                    bs = [b.copy() for b in free]
                    b = bs[p]
                    if dec.kind == "a":
                        b.a_hi[t], b.a_lo[t] = (0, 0) if side == 0 else (1, 1)
                    elif side == 0:
                        b.x_hi[t] = dec.value
                    else:
                        b.x_lo[t], b.a_lo[t] = dec.value + 1, 1
                    L, _ = s.lagrangian(_pad(cg.u, s.master.n_rows), bs)
                    rise = rise_of(cg.rise[p][t], dec, side)
                    if not np.isfinite(L):
                        assert rise == np.inf
                        continue
                    assert L - cg.L == pytest.approx(rise, abs=1e-9), (p, t, dec, side)
                    checked += 1
    assert checked > 4 * d.P * d.T


def test_gap_zero_closes_leaves_on_a_cost_dominated_by_fixed_terms():
    """Channel access makes every schedule pay ~3484.7 of ~3484.9: column generation's node
    tolerance of 1e-6 relative to the whole cost (3.5e-3) was coarser than what caching can
    save (0.18), so with gap = 0 the search closed a leaf 7e-4 below its schedule's cost and
    stopped in 0.1 s of 10 with a worse schedule than milp's optimum (a sweep's stress draw 89).
    The node tolerance is now a tenth of the requested gap where that is finer."""
    inst = generate(slots=6, services=3, stations=1, users=16, seed=5248009004365126407, gpus=9, models=2,
                    vanishing=158.88824538508032, switching_cost=0.1, slot_seconds=0.05742378440057835,
                    beta_min=0.10826762909907764, beta_max=0.10909466934291505, access="channel",
                    noise_dbm_per_hz=-188.66158977583598, path_loss_exponent=2.4392102177406167,
                    route="ground")
    milp = registry.run("milp", inst, time_limit=60, gap=0.0)
    lag = registry.run("lagrange", inst, time_limit=60, gap=0.0)
    assert milp.termination == lag.termination == "optimal"
    assert lag.cost == pytest.approx(milp.cost, rel=1e-12) and lag.bound <= lag.cost
    # what the certificate is about: the part of the cost caching can change
    assert registry.run("all-cloud", inst).cost - lag.cost > 0.18


def test_without_a_time_limit_the_search_does_not_depend_on_the_clock(monkeypatch):
    # The heuristics ran on wall-clock budgets (2 s of root MIP and pair swaps, 3-10 s per
    # fix-and-optimise window) even without a limit, so a slower or busier machine returned other
    # bounds, node counts and even schedules (reproducibility audit: 24 slots, 10 services, 8 GPUs,
    # cost 0.4436156 alone and 0.4436117 sharing a core). Without a limit they are work budgets:
    # a clock running 1000 times fast (a machine 1000 times slower) changes nothing.
    import types

    import optcache.solvers.lagrange.primal as primal
    import optcache.solvers.lagrange.search as search

    d = generate(stations=1, seed=0, slots=16, services=6, gpus=8).station_data(0)

    def run():
        r = lagrange_station(d)
        return r.cost, r.bound, r.nodes, r.a.tobytes(), r.x.tobytes(), r.termination

    normal = run()
    real = time.perf_counter
    fast = types.SimpleNamespace(perf_counter=lambda: 1000.0 * real(), monotonic=time.monotonic)
    monkeypatch.setattr(search, "time", fast)
    monkeypatch.setattr(primal, "time", fast)
    assert run() == normal and normal[-1] == "optimal"


def test_windows_of_one_station_share_their_slot_separators(monkeypatch):
    # rolling's windows overlap in all but one slot, and a slot polytope's separator depends only
    # on its data: with a shared `polytopes` dict each is built once (rolling on the default
    # station 17.2 -> 9.8 s), and every window's answer is the one it gets alone
    import optcache.solvers.lagrange.search as search

    built = []
    real, real_options = search.TargetSeparator, search.OptionSeparator
    monkeypatch.setattr(search, "TargetSeparator", lambda *a: built.append(1) or real(*a))
    monkeypatch.setattr(search, "OptionSeparator", lambda *a: built.append(1) or real_options(*a))
    d = generate(stations=1, seed=1, slots=10, services=6, gpus=8).station_data(0)
    alone = [lagrange_station(d.window(t, t + 6)) for t in range(4)]
    n_alone = len(built)
    built.clear()
    shared: dict = {}
    together = [lagrange_station(d.window(t, t + 6), polytopes=shared) for t in range(4)]
    assert 0 < len(built) == len(shared) < n_alone
    for a, b in zip(alone, together, strict=True):
        assert b.cost == pytest.approx(a.cost, rel=1e-12) and b.termination == a.termination == "optimal"
        assert b.bound <= b.cost
    with pytest.raises(InvalidInput) as e:
        lagrange_station(d, polytopes=[1])
    assert e.value.field == "polytopes"


def _highs_entries_match(m: Master) -> bool:
    """Every pair column's entries in HiGHS are those `Master._entries` gives it now."""
    nr = m.h.getNumRow()
    for j in range(m.n):
        idx, val = m._entries(int(m.pair[j]), m.A[j], m.X[j])
        _, _, ix, vv = m.h.getColsEntries(1, np.array([m.hcol[j]], np.int32))
        mine, theirs = np.zeros(nr), np.zeros(nr)
        np.add.at(mine, idx, val)
        np.add.at(theirs, ix, vv)
        if not np.allclose(mine, theirs, rtol=1e-9, atol=1e-12):
            return False
    return m.n_hcols == m.h.getNumCol()


def test_rows_left_out_keep_the_lp_value_and_come_back_when_broken():
    """`Master.sparsify` takes the rows whose multiplier is 0 out of HiGHS, and `solve` puts back
    those its solution breaks: at the root and under both children of a branch, the LP value
    is that of a master with every row (the same columns and cuts, built from scratch). Taking
    every coupling and cut row out forces them back; the columns stay in step with HiGHS through
    purges, and the multipliers of rows left out are 0."""
    from optcache.solvers.lagrange.branching import children

    d = generate(slots=12, services=6, gpus=4, stations=1, seed=3).station_data(0)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    s = Search(d, None, np.inf, 1e-6)
    decision = s.branch(s.colgen(free, np.zeros(s.master.n_rows), 1e-9))  # before the cuts close it
    assert decision is not None
    s.colgen(free, np.zeros(s.master.n_rows), 1e-9, separate=True)
    m = s.master
    assert m.cuts, "the test needs cut rows"

    def full(bounds):
        ref = Master(s.dec)
        for cut in m.cuts:
            ref.add_cut(cut)
        for j in range(m.n):
            ref.add(int(m.pair[j]), m.A[j], m.X[j], float(m.cost[j]))
        ref.restrict(bounds)
        return ref.solve().value

    m.activate(np.nonzero(m.hrow < 0)[0])  # every row back (the root may have left some out)
    lp = m.solve()
    assert (m.hrow >= 0).all() and (lp.u == 0).any()
    assert m.sparsify(lp.u) > 0
    assert (m.hrow < 0).any() and _highs_entries_match(m)
    again = m.solve()
    assert again.value == pytest.approx(lp.value, rel=1e-9, abs=1e-12)
    assert np.all(again.u[m.hrow < 0] == 0)
    for _, bounds in children(free, decision):
        m.restrict(bounds)
        assert m.solve().value == pytest.approx(full(bounds), rel=1e-9, abs=1e-12)
    m.restrict(free)
    before = m.reactivated
    assert m.sparsify(np.zeros(m.n_rows)) > 0  # every row out: the broken ones must come back
    lp = m.solve()
    assert m.reactivated > before
    assert lp.value == pytest.approx(full(free), rel=1e-9, abs=1e-12)
    assert len(m.broken(lp.lam)) == 0
    m.purge(lp, keep_per_pair=1)
    assert _highs_entries_match(m)
    assert m.solve().value == pytest.approx(full(free), rel=1e-9, abs=1e-12)


def test_the_search_counts_where_its_work_went(monkeypatch):
    """The counters a solve reports (`SearchStats`, `Master.lp_solves`) count what they name: the
    station's own master LP solves, those after the root (the tree's), and the Lagrangians; the
    pruned children's LP solves are some of the tree's, and so are strong branching's.
    `slots=20`/102 needs a tree."""
    d = generate(stations=1, seed=102, slots=20).station_data(0)
    calls = {"lp": 0, "tree_lp": 0, "in_tree": False, "strong": 0}
    solve, value_under = Master._solve, Master.value_under

    def counted(self, time_limit=None):
        if self.dec.d.T == d.T and self.dec.terminal is None:  # the station's own master, not a window's
            calls["lp"] += 1
            calls["tree_lp"] += calls["in_tree"]
        return solve(self, time_limit)

    def counted_under(self, *args):
        assert self.dec.d.T == d.T and self.dec.terminal is None and calls["in_tree"]
        calls["lp"] += 1
        calls["tree_lp"] += 1
        calls["strong"] += 1
        return value_under(self, *args)

    root = Search.root

    def rooted(self, warm=None):
        out = root(self, warm)
        calls["in_tree"] |= self.d.T == d.T and self.dec.terminal is None  # the station's root ended
        return out

    monkeypatch.setattr(Master, "_solve", counted)
    monkeypatch.setattr(Master, "value_under", counted_under)
    monkeypatch.setattr(Search, "root", rooted)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    s.run()
    st, m = s.stats, s.master
    assert st.nodes > 0
    assert st.strong_lp_solves == calls["strong"] >= 2 * st.strong_branchings > 0
    assert 0 < st.strong_seconds < st.tree_seconds
    assert m.lp_solves == calls["lp"] > 0 and 0 < m.lp_seconds < time.perf_counter() - s.t0
    assert st.tree_lp_solves == calls["tree_lp"] > 0
    assert 0 <= st.pruned_child_lp_solves <= st.tree_lp_solves and st.pruned_children <= st.nodes
    assert st.tree_seconds > 0 and st.root_seconds + st.heuristic_seconds + st.lns_seconds + st.tree_seconds \
        <= time.perf_counter() - s.t0
    assert 0 < st.lagrangian_seconds < time.perf_counter() - s.t0


def _paused_root(monkeypatch, early: float, limit: float, iterations: int | None):
    """A users=20, 20-slot station under `limit` with EARLY_PRIMAL_SECONDS = `early`; the root's
    first column generation (the one that ends at the pause mark) is cut after `iterations`
    iterations when given, so that the pause does not depend on the machine's speed."""
    from optcache.solvers.lagrange import search as search_mod
    monkeypatch.setattr(search_mod, "EARLY_PRIMAL_SECONDS", early)
    from optcache.solvers.policies import replace_station
    d = generate(stations=1, seed=101, users=20, slots=20).station_data(0)
    calls = []
    colgen = Search.colgen

    def recorded(self, bounds, u0, tol, separate=False, until=None, max_iter=100000):
        root = separate and self.stats.nodes == 0 and self.dec.terminal is None and self.d.T == d.T
        if root:
            calls.append((until - self.t0 if until is not None else None, time.perf_counter() - self.t0))
            if len(calls) == 1 and iterations is not None:
                max_iter = iterations
        return colgen(self, bounds, u0, tol, separate=separate, until=until, max_iter=max_iter)

    monkeypatch.setattr(Search, "colgen", recorded)
    laot = replace_station(d, "laot")
    s = lagrange_station(d, time_limit=limit, gap=1e-4, warm_start=laot)
    return d, laot, s, calls


def test_a_long_root_pauses_once_for_the_primal_heuristics(monkeypatch):
    """Under a limit whose root share is at least 2 × EARLY_PRIMAL_SECONDS, a root whose column
    generation has not converged at the mark runs the primal heuristics (fix-and-optimise
    included) for at most EARLY_PRIMAL_SECONDS, then resumes from the multipliers it had: a
    schedule cheaper than least-AoT's is recorded before the root ends, the pause keeps to its
    time, and the bound stays a bound (below the evaluator's cost of the schedule returned)."""
    d, laot, s, calls = _paused_root(monkeypatch, early=1.0, limit=8.0, iterations=3)
    h = s.history[0]
    assert [c[0] for c in calls] == [pytest.approx(1.0), pytest.approx(0.5 * 8.0, rel=0.05)]
    assert 0 < h["root_pause_seconds"] <= 1.0 + 0.5
    assert h["heuristic_seconds"] + h["lns_seconds"] >= h["root_pause_seconds"] - 1e-6
    laot_cost = evaluate_station(d, *laot).cost
    resumed = calls[1][1]  # seconds from the search's start to the second root column generation
    early = [r for r in h["progress"] if r["seconds"] <= resumed]
    assert min(r["incumbent"] for r in early) < laot_cost * (1 - 1e-3)
    bounds = [r["bound"] for r in h["progress"] if r["seconds"] <= h["root_seconds"] + h["root_pause_seconds"]]
    assert all(b >= a - 1e-12 for a, b in zip(bounds, bounds[1:], strict=False))
    assert s.bound <= s.cost * (1 + 1e-9) and h["root_bound"] <= s.bound + 1e-12


def test_a_root_share_under_twice_the_mark_does_not_pause(monkeypatch):
    """A 60-s run's root share (30 s) is not twice EARLY_PRIMAL_SECONDS: its root runs to its share
    in one column generation, as before the pause existed (here scaled: mark 1 s, limit 3 s)."""
    _, _, s, calls = _paused_root(monkeypatch, early=1.0, limit=3.0, iterations=None)
    assert len(calls) == 1 and calls[0][0] == pytest.approx(1.5, rel=0.05)
    assert s.history[0]["root_pause_seconds"] == 0.0


def test_fix_and_optimise_keeps_to_until(monkeypatch):
    """`FixAndOptimise.run(seconds, u, until)` ends by `until` even with a longer share and the gap
    wide (when it would otherwise sweep on to the search's deadline)."""
    from optcache.solvers.policies import replace_station
    d = generate(stations=1, seed=101, users=20, slots=40).station_data(0)
    s = Search(d, None, time.perf_counter() + 120.0, 1e-4, quiet=True)
    s.offer(*replace_station(d, "laot"))
    cg = s.colgen([PairBounds.free(d.T) for _ in range(d.P)], np.zeros(s.master.n_rows), 1e-7,
                  separate=True, until=time.perf_counter() + 2.0)
    s.root_L = cg.L
    before = s.best_cost
    start = time.perf_counter()
    FixAndOptimise(s).run(60.0, cg.u, until=start + 1.0)
    assert time.perf_counter() - start <= 1.0 + 1.0  # one window's build may finish after the mark
    assert s.best_cost <= before


_COLGEN = Search.colgen


def _unlimited_root(monkeypatch, iterations: int | None):
    """The root of the users=20, 20-slot station's search without a time limit, with
    EARLY_PRIMAL_ITERATIONS = `iterations`; returns the search, its root and, for each root column
    generation of every search that ran (the station's own and its windows'), whether it was the
    station's own, its max_iter, its start in seconds from that search's start and the incumbent's
    cost then."""
    from optcache.solvers.lagrange import search as search_mod
    from optcache.solvers.policies import replace_station
    monkeypatch.setattr(search_mod, "EARLY_PRIMAL_ITERATIONS", iterations)
    d = generate(stations=1, seed=101, users=20, slots=20).station_data(0)
    calls = []
    colgen = _COLGEN  # not Search.colgen: an earlier call's wrapper would record into its list too

    def recorded(self, bounds, u0, tol, separate=False, until=None, max_iter=100000):
        if separate and self.stats.nodes == 0:
            calls.append((self.top, max_iter, time.perf_counter() - self.t0, self.best_cost))
        return colgen(self, bounds, u0, tol, separate=separate, until=until, max_iter=max_iter)

    monkeypatch.setattr(Search, "colgen", recorded)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    laot = replace_station(d, "laot")
    s.offer(*laot)
    return d, laot, s, s.root(), calls


def test_without_a_limit_a_long_root_pauses_after_its_iterations(monkeypatch):
    """Without a time limit the pause's mark is EARLY_PRIMAL_ITERATIONS master LPs, not a time: the
    station's root stops there, the heuristics run with their work budgets and find a schedule
    cheaper than least-AoT's before column generation resumes, and two runs give the same numbers
    (the search stays deterministic). Fix-and-optimise's windows never pause."""
    runs = [_unlimited_root(monkeypatch, 3) for _ in range(2)]
    d, laot, s, root, calls = runs[0]
    top = [c for c in calls if c[0]]
    assert [c[1] for c in top] == [3, 100000]
    assert all(c[1] == 100000 for c in calls if not c[0])  # windows: one column generation, no mark
    assert root.converged and s.stats.root_pause_seconds > 0
    assert top[1][3] < evaluate_station(d, *laot).cost * (1 - 1e-3)  # the pause's incumbent
    assert s.stats.root_bound == root.L <= s.best_cost * (1 + 1e-12)
    again = runs[1]
    assert (again[3].L, again[2].best_cost, again[2].stats.evaluations) == (root.L, s.best_cost, s.stats.evaluations)
    np.testing.assert_array_equal(again[2].best[0], s.best[0])
    np.testing.assert_array_equal(again[2].best[1], s.best[1])


def test_without_a_limit_a_root_within_its_iterations_does_not_pause(monkeypatch):
    """A root that converges within EARLY_PRIMAL_ITERATIONS runs in one column generation, and
    None turns the pause off: both give the root of a search without it (the same bound)."""
    _, _, s, root, calls = _unlimited_root(monkeypatch, 100000)
    _, _, s0, root0, calls0 = _unlimited_root(monkeypatch, None)
    assert len([c for c in calls if c[0]]) == 1 and len([c for c in calls0 if c[0]]) == 1
    assert s.stats.root_pause_seconds == 0.0 == s0.stats.root_pause_seconds
    assert root.L == root0.L and s.best_cost == s0.best_cost
