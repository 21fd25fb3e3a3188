"""Option cuts of the slot polytope (solvers/lagrange/slots.py, docs/formulation.md §6.1): the
exact oracle against enumeration, cuts valid at every point, option prices in the pair DPs against
brute force, Lagrangian bounds below brute-force optima, and what they add to the root bound."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import optcache.solvers.lagrange.search as search_mod
from optcache.evaluator import evaluate_station
from optcache.scenario import generate
from optcache.solvers.lagrange import (
    OptionSeparator,
    PairBounds,
    PairGraph,
    TargetSeparator,
    option_max,
)
from optcache.solvers.lagrange.graph import option_index
from optcache.solvers.lagrange.master import Cut
from optcache.solvers.lagrange.search import ROOT_TOL, Search
from tests.bruteforce import brute_force, random_tiny


def points(s, fl, xcap, G, E):
    """Every point of the option polytope: per pair −1 (off) or a count j ≤ xcap, within (3), (5)."""
    out = []
    for ch in itertools.product(*[range(-1, int(c) + 1) for c in xcap]):
        ch = np.array(ch)
        on = ch >= 0
        if s[on].sum() <= G and (fl * np.maximum(ch, 0)).sum() <= E:
            out.append(ch)
    return out


def value(W, ch):
    return float(sum(W[p, j] for p, j in enumerate(ch) if j >= 0))


def random_polytope(rng, P=None, top=3):
    P = int(rng.integers(1, 6)) if P is None else P
    s, fl = rng.choice([0.0, 130.0, 350.0], P), rng.choice([0.0, 1.0, 2.5], P) * rng.uniform(0.5, 1.5, P)
    xcap = rng.integers(0, top + 1, P)
    G = float(rng.choice([rng.uniform(0, 1000), np.inf]))
    E = float(rng.choice([rng.uniform(0, 8), np.inf]))
    return s, fl, xcap, G, E


def test_option_oracle_matches_enumeration():
    """option_max is the exact maximum of Σ_p W[p, j_p] over the slot's points (off = 0)."""
    rng = np.random.default_rng(41)
    for _ in range(400):
        s, fl, xcap, G, E = random_polytope(rng)
        W = rng.normal(0, 1, (len(s), int(xcap.max()) + 2))  # a column past every xcap: ignored
        v, ch = option_max(W, s, fl, xcap, G, E)
        pts = points(s, fl, xcap, G, E)
        best = max(value(W, c) for c in pts)
        assert v == pytest.approx(best, abs=1e-9)
        assert any(np.array_equal(ch, c) for c in pts)  # a point of the polytope ...
        assert value(W, ch) == pytest.approx(v, abs=1e-9)  # ... attaining the maximum


def test_option_cuts_are_valid_and_cut_off_the_point():
    """A cut holds at every point and is violated by the weights it separates; weights that are a
    mix of points get none."""
    rng = np.random.default_rng(42)
    found = 0
    for _ in range(80):
        P = int(rng.integers(2, 5))  # tight rows, as in test_lagrange's target-cut test
        s, fl, xcap = rng.choice([130.0, 350.0], P), rng.uniform(1, 3, P), rng.integers(0, 4, P)
        G, E = float(rng.uniform(200, 900)), float(rng.uniform(1, 6))
        sep = OptionSeparator(s, fl, xcap, G, E)
        pts = points(s, fl, xcap, G, E)
        # each pair's own distribution over its options, drawn independently: often no joint mix
        W = np.zeros((len(s), sep.J + 1))
        for p in range(len(s)):
            if sep.D and any(c[0] == p for c in sep.coords):
                js = [j for q, j in sep.coords if q == p]
                w = rng.dirichlet(np.ones(len(js) + 1))
                W[p, js] = w[1:]
        cut = sep.cut(W)
        if cut is not None:
            table, gamma, _ = cut
            found += 1
            assert max(value(table, c) for c in pts) <= gamma + 1e-9
            assert float((table * W).sum()) > gamma
        lam = rng.dirichlet(np.ones(len(pts)))
        mixed = np.zeros((P, sep.J + 1))
        for w, ch in zip(lam, pts, strict=True):
            for p, j in enumerate(ch):
                if j >= 0:
                    mixed[p, j] += w
        assert sep.cut(mixed) is None
    assert found >= 20


def test_the_mix_the_mean_cuts_cannot_see():
    """Budget 10, one FLOP a request: pair 0 serves 0 or 10 (½ each), pair 1 serves 5. The means
    (5, 5) are a point of the slot polytope, so no cut of (ā, x̄) exists; no joint slot gives these
    options either (10 + 5 > 10), and an option cut separates them."""
    s, fl, xcap, G, E = np.zeros(2), np.ones(2), np.array([10, 5]), np.inf, 10.0
    assert TargetSeparator(s, fl, xcap, G, E).cut(np.ones(2), np.array([5.0, 5.0])) is None
    sep = OptionSeparator(s, fl, xcap, G, E)
    W = np.zeros((2, sep.J + 1))
    W[0, 0] = W[0, 10] = 0.5
    W[1, 5] = 1.0
    table, gamma, viol = sep.cut(W)
    assert float((table * W).sum()) > gamma and viol > 0
    assert max(value(table, c) for c in points(s, fl, xcap, G, E)) <= gamma + 1e-9


@pytest.mark.parametrize("seed", range(15))
def test_pair_dp_with_option_prices_matches_brute_force(seed):
    """solve and through with option prices po[t, x] on cached slots: the minimum over every
    schedule of cost + Σ px·x + pa·a + Σ_{t cached} po[t, x[t]]."""
    rng = np.random.default_rng(9100 + seed)
    d = random_tiny(rng).station_data(0).pairs([0])
    T = d.T
    g = PairGraph.build(d, 0)
    px, pa = rng.uniform(-0.05, 0.1, T), rng.uniform(0, 0.1, T)
    po = rng.uniform(-0.1, 0.1, (T, g.x_max + 1))
    v, a, x = g.solve(px, pa, None, po)
    best = np.inf
    table = np.full((T, g.x_max + 2), np.inf)
    opts = [(0, 0)] + [(1, j) for j in range(int(d.R.max()) + 1)]
    for sched in itertools.product(opts, repeat=T):
        A = np.array([[c[0]] for c in sched], float)
        X = np.array([[c[1]] for c in sched], float)
        ev = evaluate_station(d, A, X)
        if ev.violations:
            continue
        val = ev.cost * T + px @ X[:, 0] + pa @ A[:, 0] + sum(po[t, int(X[t, 0])] for t in range(T) if A[t, 0])
        best = min(best, val)
        for t in range(T):
            col = int(X[t, 0]) if A[t, 0] else g.x_max + 1
            table[t, col] = min(table[t, col], val)
    assert v == pytest.approx(best, rel=1e-9, abs=1e-12)
    _, probe = g.through(px, pa, PairBounds.free(T), po)
    fin = np.isfinite(table)
    assert np.array_equal(np.isfinite(probe), fin)
    assert probe[fin] == pytest.approx(table[fin], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_lagrangian_with_option_cuts_is_a_bound(seed):
    """With option cuts in the master (separated at random weights), any multipliers u ≥ 0 give a
    Lagrangian below the brute-force optimum, and the columns' own costs stay net of the prices."""
    rng = np.random.default_rng(1000 + seed)  # the family of test_exactness
    d = random_tiny(rng).station_data(0)
    opt, _, _ = brute_force(d)
    search = Search(d, None, np.inf, 1e-9)
    dec, master = search.dec, search.master
    added = 0
    for t in range(d.T):
        sep = OptionSeparator(d.s, d.flops_per_request, dec.xcap[t], dec.G_cap, dec.E_cap)
        if not sep.D:
            continue
        for _ in range(3):
            W = np.zeros((d.P, sep.J + 1))
            for p, j in sep.coords:
                W[p, j] = rng.uniform(0, 1)
            W /= np.maximum(W.sum(axis=1, keepdims=True), 1.0)
            c = sep.cut(W)
            if c is not None:
                master.add_cut(Cut.option(t, c[0], c[1]))
                added += 1
    for _ in range(4):
        u = rng.uniform(0, 0.05, master.n_rows)
        L, sols = search.lagrangian(u)
        assert L <= opt * (1 + 1e-9) + 1e-12
        own = dec.pair_costs(np.stack([s.a for s in sols], 1), np.stack([s.x for s in sols], 1))
        assert [s.cost for s in sols] == pytest.approx(list(own), rel=1e-9, abs=1e-12)
    s = search_mod.Search(d, None, np.inf, 1e-9)
    s.run()
    assert s.best_cost == pytest.approx(opt, rel=1e-6, abs=1e-12)
    if seed == 0:
        assert added  # the test exercises the option rows at least once


@pytest.mark.parametrize("seed", range(10))
def test_prices_are_the_rows_coefficients(seed):
    """For any u ≥ 0, what `Master.prices` charges a schedule (a on memory and cut rows, x on
    budget and cut rows, the option prices where it is cached) is u times its column's entries in
    the master's rows: the DPs price exactly the LP's rows, with option cuts of several widths and
    linear cuts of several slots stacked."""
    rng = np.random.default_rng(2000 + seed)
    d = random_tiny(rng).station_data(0)
    search = Search(d, None, np.inf, 1e-9)
    dec, master = search.dec, search.master
    for t in range(d.T):
        master.add_cut(Cut.single(t, rng.normal(size=d.P), rng.normal(size=d.P), 1.0))
        sep = OptionSeparator(d.s, d.flops_per_request, dec.xcap[t], dec.G_cap, dec.E_cap)
        if sep.D:
            master.add_cut(Cut.option(t, rng.normal(size=(d.P, sep.J + 1)), 1.0))
    assert master.option_cuts or seed in (0, 3, 9)  # the seeds whose instances have no option rows
    for _ in range(5):
        u = rng.uniform(0, 1, master.n_rows) * (rng.uniform(size=master.n_rows) < 0.7)
        cut = master.n_rows - min(3, len(master.cuts))
        short = master.prices(u[:cut])  # a u from before the last cuts: 0 on them
        u[cut:] = 0.0
        for got, want in zip(short, master.prices(u), strict=True):
            assert (got is None and want is None) or np.array_equal(got, want)
        PA, PX, PO = master.prices(u)
        for p in range(d.P):
            a = (rng.uniform(size=d.T) < 0.6).astype(float)
            hi = np.minimum(dec.xcap[:, p], dec.graphs[p].x_max)  # what the pair's schedules can serve
            x = np.where(a > 0, rng.integers(0, hi + 1), 0).astype(float)
            idx, val = master._entries(p, a, x)
            rows = idx >= d.P  # not the pair's convexity row
            charged = PA[:, p] @ a + PX[:, p] @ x
            if PO is not None:
                j = option_index(a, x, PO.shape[2])
                charged += float(PO[j >= 0, p, j[j >= 0]].sum())
            assert charged == pytest.approx(float(u[idx[rows] - d.P] @ val[rows]), rel=1e-12, abs=1e-12)


def root_bound(d, options: bool, monkeypatch) -> Search:
    monkeypatch.setattr(search_mod, "OPTION_CUTS", options)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    cg = s.colgen(free, np.zeros(s.master.n_rows), ROOT_TOL, separate=True)
    return cg.L, s


def test_option_cuts_raise_the_root_bound(monkeypatch):
    """generate(stations=1, seed=102, slots=20): optimum 0.215055 (certified, benchmarks/RESULTS.md);
    the converged root with the (ā, x̄) cuts alone stops 0.56 % below it, the option cuts close
    more than a third of that and stay below the optimum."""
    d = generate(stations=1, seed=102, slots=20).station_data(0)
    plain, _ = root_bound(d, False, monkeypatch)
    with_options, s = root_bound(d, True, monkeypatch)
    assert 0.2138 < plain < 0.2139
    assert s.stats.option_cuts > 0
    assert with_options - plain > (0.215055 - plain) / 3
    assert with_options <= 0.2150551


def test_option_cuts_are_separated_before_the_root_converges(monkeypatch):
    """Option cuts are separated once column generation is within OPTION_SEPARATION_TOL (not only
    at ROOT_TOL), and the root still ends converged: its last separation, at ROOT_TOL, finds
    nothing, and its bound is that of separating at ROOT_TOL only to 1e-6, below the certified
    optimum 0.215055 of generate(stations=1, seed=102, slots=20) (benchmarks/RESULTS.md)."""
    d = generate(stations=1, seed=102, slots=20).station_data(0)
    bounds = {}
    for tol in (0.0, search_mod.OPTION_SEPARATION_TOL):
        monkeypatch.setattr(search_mod, "OPTION_SEPARATION_TOL", tol)
        s = Search(d, None, np.inf, 1e-4, quiet=True)
        best, calls = [-np.inf], []  # best L so far; (LP's relative gap, cuts found) per option round
        lagrangian, separate = s.lagrangian, s.separate

        def tracked(u, b=None, lagrangian=lagrangian, best=best):
            out = lagrangian(u, b)
            best[0] = max(best[0], out[0])
            return out

        def spy(lp, options=False, separate=separate, best=best, calls=calls):
            found = separate(lp, options)
            if options:
                calls.append(((lp.value - best[0]) / lp.value, found))
            return found

        s.lagrangian, s.separate = tracked, spy
        cg = s.colgen([PairBounds.free(d.T) for _ in range(d.P)], np.zeros(s.master.n_rows), ROOT_TOL,
                      separate=True)
        assert cg.converged
        assert calls and calls[-1][1] == 0 and calls[-1][0] <= ROOT_TOL  # the last found nothing
        assert s.stats.option_cuts > 0
        early = [g for g, _ in calls if g > ROOT_TOL]
        assert bool(early) == (tol > 0)  # with the default, option rounds before full convergence
        assert all(g <= max(tol, ROOT_TOL) for g, _ in calls)
        bounds[tol] = cg.L
    plain, sooner = bounds.values()
    assert sooner == pytest.approx(plain, rel=1e-6)
    assert max(plain, sooner) <= 0.2150551


def test_windows_separate_no_option_cuts(monkeypatch):
    """Fix-and-optimise's and rolling's windows (also rolling without a tail, whose windows have no
    terminal value) leave the option cuts out: on short time-boxed windows they cost more than they
    add (rolling, H = 12, no tail, seed 0: 22.4 s with them, 10.5 s without). The whole-horizon
    search of the same station does separate them."""
    from optcache.solvers.lagrange import lagrange_station
    from optcache.solvers.rolling import rolling_station

    made = []
    real = search_mod.OptionSeparator
    monkeypatch.setattr(search_mod, "OptionSeparator", lambda *a: made.append(1) or real(*a))
    d = generate(stations=1, seed=102, slots=20).station_data(0)
    rolling_station(d, 6, "oracle", tail="none")
    rolling_station(d, 6, "oracle", tail="relaxed")
    assert made == []
    lagrange_station(d, option_cuts=False)
    assert made == []
    r = lagrange_station(d)
    assert made and r.history[0]["option_cuts"] > 0
