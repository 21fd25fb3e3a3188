"""The dense separation LP (solvers/lagrange/boxlp.py): hand-solved optima, HiGHS's optimum on
random LPs solved warm row by row and objective by objective, and the separators' fallback to
HiGHS when its pivots fail."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optcache.solvers.lagrange.boxlp as boxlp
import optcache.solvers.lagrange.slots as slots
from optcache.solvers.highs import quiet_highs
from optcache.solvers.lagrange import TargetSeparator, slot_max
from optcache.solvers.lagrange.boxlp import BoxLP


def highs_opt(rows, c, B):
    """max c·α s.t. rows α ≤ 1, |α| ≤ B by HiGHS: the reference."""
    hs, h = quiet_highs()
    D = len(c)
    h.addCols(D, -np.asarray(c, float), np.full(D, -B), np.full(D, B), 0,
              np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    for r in rows:
        h.addRow(-hs.kHighsInf, 1.0, D, np.arange(D, dtype=np.int32), np.asarray(r, float))
    h.run()
    assert h.getModelStatus() == hs.HighsModelStatus.kOptimal
    return -h.getInfo().objective_function_value


def test_one_factorisation_solves_both_systems():
    """`_lu`'s factors give x with A·x = b and y with Aᵀ·y = c (the vertex and the duals of a
    pivot), checked by their residuals on random bases, and a singular basis is reported."""
    rng = np.random.default_rng(7)
    for D in (1, 2, 5, 20, 40):
        for _ in range(5):
            A = rng.normal(size=(D, D)) * (rng.random((D, D)) < 0.6) + np.eye(D) * 1e-3
            b, c = rng.normal(size=D), rng.normal(size=D)
            F, perm, ok = boxlp._lu(A)
            assert ok
            x, y = boxlp._lu_solve(F, perm, b), boxlp._lu_solve_t(F, perm, c)
            assert np.abs(A @ x - b).max() <= 1e-8 * max(1.0, np.abs(x).max())
            assert np.abs(A.T @ y - c).max() <= 1e-8 * max(1.0, np.abs(y).max())
    hand = np.array([[0.0, 2.0], [4.0, 1.0]])  # needs a row swap: x = (1, 2), y = (0.5, 0.25)
    F, perm, ok = boxlp._lu(hand)
    assert ok and boxlp._lu_solve(F, perm, np.array([4.0, 6.0])) == pytest.approx([1.0, 2.0])
    assert boxlp._lu_solve_t(F, perm, np.array([1.0, 1.25])) == pytest.approx([0.5, 0.25])
    assert not boxlp._lu(np.array([[1.0, 2.0], [2.0, 4.0]]))[2]


def test_hand_solved_optima():
    """The box's corner, a row that cuts it, and a vertex where two rows meet."""
    lp = BoxLP(2, 10.0)
    alpha, obj = lp.solve(np.array([1.0, -2.0]))
    assert obj == pytest.approx(30.0) and alpha == pytest.approx([10.0, -10.0])
    lp.add(np.array([1.0, 0.0]))  # α1 ≤ 1
    alpha, obj = lp.solve(np.array([1.0, -2.0]))
    assert obj == pytest.approx(21.0) and alpha == pytest.approx([1.0, -10.0])
    lp.add(np.array([0.0, -0.5]))  # α2 ≥ −2
    lp.add(np.array([1.0, 1.0]))  # α1 + α2 ≤ 1
    alpha, obj = lp.solve(np.array([1.0, 1.0]))  # the edge α1 + α2 = 1: any point of it
    assert obj == pytest.approx(1.0) and alpha.sum() == pytest.approx(1.0)
    alpha, obj = lp.solve(np.array([2.0, 1.0]))  # vertex α1 = 1, α2 = 0
    assert obj == pytest.approx(2.0) and alpha == pytest.approx([1.0, 0.0])
    alpha, obj = lp.solve(np.array([1.0, -1.0]))  # vertex α1 = 1, α2 = −2
    assert obj == pytest.approx(3.0) and alpha == pytest.approx([1.0, -2.0])


def test_degenerate_vertex_is_the_unperturbed_optimum():
    """All 20 rows with three coordinates at 1 meet at α = (⅓, …, ⅓), the optimum of max Σα: the
    perturbed pivots end there and the vertex returned is the LP's own to round-off (a vertex of the
    perturbed right-hand sides would be off by up to PERTURB), within every row."""
    from itertools import combinations
    lp = BoxLP(6, 1e3)
    rows = []
    for idx in combinations(range(6), 3):
        r = np.zeros(6)
        r[list(idx)] = 1.0
        rows.append(r)
        lp.add(r)
    alpha, obj = lp.solve(np.ones(6))
    assert obj == pytest.approx(2.0, abs=1e-13)
    assert np.abs(alpha - 1 / 3).max() <= 1e-13
    assert (np.array(rows) @ alpha).max() <= 1 + 1e-13
    lp.add(np.array([1.0, 0, 0, 0, 0, 0]) * 4)  # α1 ≤ ¼ moves it: a dual pivot from there
    alpha, obj = lp.solve(np.ones(6))
    assert obj == pytest.approx(highs_opt(rows + [np.array([4.0, 0, 0, 0, 0, 0])], np.ones(6), 1e3), abs=1e-12)
    assert alpha[0] <= 0.25 + 1e-13


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(0, 40), st.integers(0, 2**32 - 1), st.booleans())
def test_warm_solves_match_highs(D, n_rows, seed, integral):
    """Rows added one at a time and the objective changed every few rows, solved warm: the
    optimum HiGHS finds on the same LP, at a point within the rows and the box (integer data
    gives the degenerate vertices of the slot polytopes' points)."""
    rng = np.random.default_rng(seed)
    B = 1e3
    lp = BoxLP(D, B)
    rows = []
    c = rng.normal(size=D)
    for k in range(n_rows + 1):
        if k % 5 == 0:
            c = rng.integers(-2, 3, D).astype(float) if integral else rng.normal(size=D)
        if k:
            r = rng.integers(-3, 4, D) * (rng.random(D) < 0.6) if integral else rng.normal(size=D)
            rows.append(np.asarray(r, float))
            lp.add(rows[-1])
        got = lp.solve(c)
        assert got is not None
        alpha, obj = got
        assert obj == pytest.approx(highs_opt(rows, c, B), rel=1e-9, abs=1e-7)
        assert obj == pytest.approx(float(c @ alpha), rel=1e-12, abs=1e-9)
        assert np.abs(alpha).max() <= B * (1 + 1e-12)
        if rows:
            assert (np.array(rows) @ alpha).max() <= 1 + 1e-8


def test_failed_pivots_fall_back_to_highs(monkeypatch):
    """When the dense LP fails, the separator carries on with HiGHS on the same rows: the same cut
    as the dense LP gives, valid at every point of the slot (checked by its exact oracle)."""
    s, fl = np.array([130.0, 350.0, 130.0]), np.array([1.0, 2.5, 1.5])
    xcap, G, E = np.array([3, 2, 4]), 400.0, 6.0
    a_bar, x_bar = np.array([1.0, 0.6, 1.0]), np.array([3.0, 1.2, 2.0])
    dense = TargetSeparator(s, fl, xcap, G, E).cut(a_bar, x_bar)
    assert dense is not None
    monkeypatch.setattr(boxlp, "box_lp", lambda *a: (boxlp.FAILED, np.zeros(0), 0.0))
    sep = TargetSeparator(s, fl, xcap, G, E)
    got = sep.cut(a_bar, x_bar)
    assert sep.lp.dense is None and sep.lp.h is not None
    assert got is not None
    al, be, gamma, viol = got
    assert slot_max(al, be, s, fl, xcap, G, E)[0] == pytest.approx(gamma)  # valid: γ is the max
    assert al @ a_bar + be @ x_bar > gamma + 1e-6  # and cuts the point off
    assert viol == pytest.approx(dense[3], rel=1e-6)


def test_wide_separation_lps_stay_with_highs(monkeypatch):
    """Above DENSE_DIMS coordinates a separator's LP is HiGHS's from the start."""
    monkeypatch.setattr(slots, "DENSE_DIMS", 2)
    sep = TargetSeparator(np.array([130.0, 350.0]), np.array([1.0, 2.5]), np.array([3, 2]), 400.0, 6.0)
    assert sep.lp.dense is None and sep.lp.h is not None
