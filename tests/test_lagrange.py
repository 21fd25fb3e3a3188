"""Lagrangian decomposition (solvers/lagrange.py): exact pair DPs, valid bounds, certified optima."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from optcache.solvers import registry
from optcache.solvers.exact import solve_station
from optcache.solvers.lagrange import (
    Decomposition,
    PairGraph,
    knapsack,
    lagrange_station,
    pair_costs,
)

from optcache.dynamics import State
from optcache.evaluator import evaluate_station
from optcache.scenario import generate
from tests.bruteforce import brute_force, random_tiny


def one_pair(d, p):
    """Station data restricted to pair p (memory and budget stay: a lone pair still meets them)."""
    sl = [p]
    return replace(d, P=1, s=d.s[sl], e=d.e[sl], w=d.w[sl], k=d.k[sl], d=d.d[sl], delta=d.delta[sl],
                   alpha=d.alpha[sl], beta=d.beta[sl], l0=d.l0[sl], access=d.access[sl], R=d.R[:, sl])


def random_state(rng, d):
    """A carried-in state as rolling horizon produces it (as in test_exactness)."""
    cached = (rng.random(d.P) < 0.7).astype(float)
    if cached @ d.s > d.G:
        cached[:] = 0.0
    K = cached * np.floor(rng.uniform(0, 1, d.P) * d.w / np.maximum(d.k, 1)) * d.k
    kappa = cached * np.maximum(K - rng.uniform(0, 3 * d.delta + 1), 0.0)
    return State(cached, K, kappa)


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
def test_priced_dp_matches_enumeration(seed):
    """With prices on x and a, the DP is the minimum of cost + prices over every schedule."""
    rng = np.random.default_rng(8000 + seed)
    d = one_pair(random_tiny(rng).station_data(0), 0)
    T = d.T
    px, pa = rng.uniform(-0.05, 0.1, T), rng.uniform(0, 0.1, T)
    g = PairGraph.build(d, 0)
    v, a, x = g.solve(px, pa)
    best = np.inf
    opts = [(0, 0)] + [(1, j) for j in range(int(d.R.max()) + 1)]
    for sched in itertools.product(opts, repeat=T):
        A = np.array([[s[0]] for s in sched], float)
        X = np.array([[s[1]] for s in sched], float)
        ev = evaluate_station(d, A, X)
        if not ev.violations:
            best = min(best, ev.cost * T + px @ X[:, 0] + pa @ A[:, 0])
    assert v == pytest.approx(best, rel=1e-9, abs=1e-12)
    ev = evaluate_station(d, a[:, None], x[:, None])
    assert v == pytest.approx(ev.cost * T + px @ x + pa @ a, rel=1e-9, abs=1e-12)


def test_knapsack_matches_enumeration():
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(1, 5))
        v, w = rng.normal(size=n), rng.uniform(0.5, 3, n)
        lo = rng.integers(0, 2, n)
        hi = lo + rng.integers(0, 3, n)
        cap = float(rng.uniform(0, 8))
        best, by = knapsack(v, w, lo, hi, cap)
        brute = -np.inf
        for y in itertools.product(*[range(lo[i], hi[i] + 1) for i in range(n)]):
            if np.dot(w, y) <= cap:
                brute = max(brute, float(np.dot(v, y)))
        assert best == pytest.approx(brute, abs=1e-12) if np.isfinite(brute) else best == -np.inf
        if np.isfinite(best):
            assert np.dot(w, by) <= cap and np.all((by >= lo) & (by <= hi))


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
    dec = Decomposition(d)
    for _ in range(3):  # any multipliers give a lower bound
        y = np.concatenate([rng.normal(0, 0.05, dec.nL), rng.uniform(0, 0.05, dec.nM)])
        L, _, _ = dec.lagrangian(y)
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


def test_no_coupling_no_gap():
    """With the budget and memory never binding, the pair DPs alone are the optimum."""
    inst = generate(slots=30, services=6, gpus=200, stations=1, seed=4)
    d = inst.station_data(0)
    dec = Decomposition(d)
    assert dec.dim == 0
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
