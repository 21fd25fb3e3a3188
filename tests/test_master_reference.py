"""The master's columns as differences from a reference schedule per pair (`master.REFERENCE`):
HiGHS holds a row operation of the master as written, so its matrix, right-hand sides and LP
value must be exactly those of the written master transformed, and searches still certify brute
force optima."""

from __future__ import annotations

import numpy as np
import pytest

from optcache.scenario import generate
from optcache.solvers.highs import quiet_highs
from optcache.solvers.lagrange import master as master_module
from optcache.solvers.lagrange.graph import PairBounds
from optcache.solvers.lagrange.search import Search
from tests.bruteforce import searched_tiny


def _matrix(h) -> np.ndarray:
    """HiGHS's constraint matrix, dense (rows × columns)."""
    lp = h.getLp()
    a = lp.a_matrix_
    start, index, value = (np.asarray(v) for v in (a.start_, a.index_, a.value_))
    out = np.zeros((h.getNumRow(), h.getNumCol()))
    for j in range(h.getNumCol()):
        out[index[start[j]:start[j + 1]], j] = value[start[j]:start[j + 1]]
    return out


def _written_value(m) -> float:
    """The LP value of the master as written (every coupling and cut row, each column its own
    entries and cost), solved from scratch."""
    hs, h = quiet_highs()
    P, R = m.dec.d.P, m.n_rows
    inf = hs.kHighsInf
    h.addRows(P, np.ones(P), np.ones(P), 0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    h.addRows(R, np.full(R, -inf), m.rhs, 0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    for p in range(P):
        h.addCol(m.slack_cost, 0.0, inf, 1, np.array([p], np.int32), np.ones(1))
    for i in range(R):
        h.addCol(m.slack_cost, 0.0, inf, 1, np.array([P + i], np.int32), -np.ones(1))
    for j in range(m.n):
        idx, val = m._logical_entries(int(m.pair[j]), m.A[j], m.X[j])
        h.addCol(float(m.cost[j]), 0.0, float(m._ub[j]), len(idx), idx, val)
    h.run()
    return h.getInfo().objective_function_value


@pytest.fixture
def rooted(monkeypatch):
    """A memory- and budget-bound 12-slot station's root with both kinds of cuts, the references
    checked at every solve."""
    monkeypatch.setattr(master_module, "REBASE_EVERY", 1)
    d = generate(slots=12, services=6, gpus=4, stations=1, seed=3).station_data(0)
    s = Search(d, None, np.inf, 1e-6)
    free = [PairBounds.free(d.T) for _ in range(d.P)]
    cg = s.colgen(free, np.zeros(s.master.n_rows), 1e-9, separate=True)
    assert cg.converged and s.master.cuts and s.dec.coupled
    return s, cg


def test_highs_holds_the_written_master_less_each_pairs_reference(rooted):
    s, _ = rooted
    m = s.master
    assert m.rebases > 0 and np.abs(m.R).sum() > 0  # the references moved from the empty schedule
    H = _matrix(m.h)
    P, live = m.dec.d.P, np.nonzero(m.hrow >= 0)[0]
    lp = m.h.getLp()
    cost = np.asarray(lp.col_cost_)
    for j in range(m.n):
        p = int(m.pair[j])
        col = H[:, m.hcol[j]]
        assert col[:P] == pytest.approx(np.eye(P)[p], abs=0)  # the convexity row as written
        assert col[m.hrow[live]] == pytest.approx(m._dense(p, m.A[j], m.X[j])[live] - m.R[p, live], abs=1e-12)
        assert cost[m.hcol[j]] == pytest.approx(m.cost[j] - m.ref_cost[p], abs=1e-12)
    for p in range(P):  # the artificial 'schedule' uses no capacity: its entries are −R
        assert H[m.hrow[live], m.art[p]] == pytest.approx(-m.R[p, live], abs=1e-12)
        assert cost[m.art[p]] == pytest.approx(m.slack_cost - m.ref_cost[p], rel=1e-12)
    upper = np.asarray(lp.row_upper_)[m.hrow[live]]
    assert upper == pytest.approx(m.rhs[live] - m.R[:, live].sum(axis=0), abs=1e-12)


def test_the_lp_value_is_the_written_masters_and_a_rebase_keeps_the_basis(rooted):
    s, _ = rooted
    m = s.master
    lp = m.solve()
    assert lp.value == pytest.approx(_written_value(m), rel=1e-9)
    # make the lightest used column of every pair its reference: same LP, same basis
    for p in range(m.dec.d.P):
        cols = np.nonzero((m.pair[:m.n] == p) & (lp.lam > 1e-9))[0]
        m.rebase(p, int(cols[np.argmin(lp.lam[cols])]))
    again = m._solve()  # (`solve` may rebase after it, which resets HiGHS's info)
    assert m.h.getInfo().simplex_iteration_count == 0
    assert again.value == pytest.approx(lp.value, rel=1e-9)
    assert again.lam == pytest.approx(lp.lam, abs=1e-9)
    assert again.value == pytest.approx(_written_value(m), rel=1e-9)


@pytest.mark.parametrize("every", [1, 10 ** 9])
def test_searches_with_references_certify_brute_force_optima(monkeypatch, every):
    """References changed at every solve, or never (the master as written): the same optima."""
    monkeypatch.setattr(master_module, "REBASE_EVERY", every)
    checked = 0
    for search, bound, opt in searched_tiny(range(2000, 2010)):
        assert bound <= opt * (1 + 1e-9) + 1e-12
        assert search.best_cost == pytest.approx(opt, rel=1e-6, abs=1e-12)
        checked += 1
    assert checked >= 3
