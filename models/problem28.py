"""Problem (28) for one station over a horizon, as an exact MILP (docs/formulation.md §6): the readable reference.

`solvers.exact.solve_station` solves the same problem from `models.matrix28` (a tighter segment
network for the context window, handed to HiGHS without Pyomo); tests hold the two to one optimum.

Names follow the paper: `memory_3`, `edge_only_if_cached_4`, `compute_budget_5`, `context_18_*`,
`aot_19_*`, `switching_21`, `context_window_28c`, and `accuracy_24_tangent` (the outer
approximation of x·(1-α)/(ln(1/β)(κ+κ_0)), a list to which `add_tangents` appends cuts).

Linearisation, all exact given integer x:
- K_t = a_t (K_{t-1} + k x_t):  K_t ≤ w a_t,  K_t ≤ K_{t-1} + k x_t,  K_t ≥ K_{t-1} + k x_t − w(1 − a_t).
- κ_t = a_t max(κ_{t-1} + k x_t − Δ, 0): only upper bounds are needed (a larger κ only lowers
  cost); y_t ∈ {0,1} picks the branch: κ_t ≤ κ_{t-1} + k x_t − Δ y_t, κ_t ≤ w y_t, y_t ≤ a_t.
- x_t = Σ_j j z_{t,j} with z_{t,j} = [x_t = j]; κ_t is split into κ_{t,j} ≤ w z_{t,j} (its value when
  x_t = j) and the accuracy cost into θ_{t,j} ≥ j c (g(κ̂) z_{t,j} + g'(κ̂)(κ_{t,j} − κ̂ z_{t,j})) for
  tangent points κ̂ of the convex, decreasing g(κ) = 1/(κ + κ_0): the perspective (convex-hull)
  form of the disjunction over j, tighter than big-M tangents and free of big-Ms.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyomo.environ as pyo

from optcache.dynamics import State
from optcache.evaluator import capacity_rows
from optcache.instance import StationData
from optcache.models.matrix28 import (
    accuracy_scale,
    accuracy_unit,
    check_inputs,
    new_tangent_points,
    tangent_grid,
)

INITIAL_TANGENTS = 6
"""Tangent points per (t, p) before the first solve: geometric between the smallest κ a served
request can reach and the context window."""


def build_problem28(data: StationData, state0: State | None = None, *,
                    tangents: dict | None = None) -> pyo.ConcreteModel:
    """Problem (28) for one station over data.T slots, starting from `state0` (cold by default).

    `tangents` maps (t, p) to extra tangent points κ̂ (rolling horizon and OA rounds reuse them).
    The objective is the slot average (27) of all five terms, constants included, so it compares
    directly with the evaluator's cost.
    """
    st = check_inputs(data, state0, tangents)
    T, P = data.T, data.P
    R = data.R
    m = pyo.ConcreteModel(name="problem28")
    m.T = pyo.RangeSet(0, T - 1)
    m.P = pyo.RangeSet(0, P - 1)
    served = [(t, p) for t in range(T) for p in range(P) if R[t, p] > 0]
    m.TP_req = pyo.Set(initialize=served, dimen=2, ordered=True)
    m.TPJ = pyo.Set(initialize=[(t, p, j) for t, p in served for j in range(1, int(R[t, p]) + 1)],
                    dimen=3, ordered=True)

    w = data.w
    m.a = pyo.Var(m.T, m.P, domain=pyo.Binary)
    m.x = pyo.Var(m.T, m.P, domain=pyo.NonNegativeIntegers, bounds=lambda m, t, p: (0, int(R[t, p])))
    m.z = pyo.Var(m.TPJ, domain=pyo.Binary)
    m.u = pyo.Var(m.T, m.P, bounds=(0, 1))
    m.K = pyo.Var(m.T, m.P, bounds=lambda m, t, p: (0, w[p]))
    m.kappa = pyo.Var(m.T, m.P, bounds=lambda m, t, p: (0, w[p]))
    m.y = pyo.Var(m.T, m.P, domain=pyo.Binary)
    m.theta = pyo.Var(m.TPJ, bounds=(0, None))  # accuracy cost of (t, p) when x = j, in accuracy_unit
    m.kappa_j = pyo.Var(m.TPJ, bounds=(0, None))  # κ_t disaggregated: its value when x = j, else 0
    m.kappa_none = pyo.Var(m.TP_req, bounds=(0, None))  # κ_t when x = 0
    for t in range(T):
        for p in range(P):
            if R[t, p] == 0:
                m.x[t, p].fix(0)

    def prev(var, t, p, init):
        return var[t - 1, p] if t > 0 else float(init[p])

    # (3) memory, (4) edge only if cached, (5) compute budget in FLOP per slot; (3) and (5) as
    # shares of their capacities (E ~ 3e14 FLOP would otherwise wreck the LP's scaling): a pair that
    # alone exceeds one is never loaded, or never serves, and stays out of its row
    mem, bud, mem_rhs, bud_rhs, fits, serves = capacity_rows(data)
    for t in range(T):
        for p in range(P):
            if not fits[p]:
                m.a[t, p].fix(0)
            if not serves[p]:
                m.x[t, p].fix(0)
    m.memory_3 = pyo.Constraint(m.T, rule=lambda m, t: sum(mem[p] * m.a[t, p] for p in m.P if fits[p]) <= mem_rhs
                                if fits.any() else pyo.Constraint.Skip)
    m.edge_only_if_cached_4 = pyo.Constraint(m.TP_req, rule=lambda m, t, p: m.x[t, p] <= int(R[t, p]) * m.a[t, p])
    m.compute_budget_5 = pyo.Constraint(
        m.T, rule=lambda m, t: sum(bud[p] * m.x[t, p] for p in m.P if R[t, p] > 0 and serves[p]) <= bud_rhs
        if any(R[t, p] > 0 and serves[p] for p in range(P)) else pyo.Constraint.Skip)
    # x = Σ j z_j, Σ z_j ≤ a
    m.edge_count = pyo.Constraint(m.TP_req, rule=lambda m, t, p: m.x[t, p] == sum(
        j * m.z[t, p, j] for j in range(1, int(R[t, p]) + 1)))
    m.edge_count_one = pyo.Constraint(m.TP_req, rule=lambda m, t, p: sum(
        m.z[t, p, j] for j in range(1, int(R[t, p]) + 1)) <= m.a[t, p])
    # (21) switching: u ≥ a_t − a_{t−1}
    m.switching_21 = pyo.Constraint(m.T, m.P, rule=lambda m, t, p: m.u[t, p] >= m.a[t, p] - prev(m.a, t, p, st.cached))
    # (18) context and (28c) window
    k = data.k
    m.context_18_reset = pyo.Constraint(m.T, m.P, rule=lambda m, t, p: m.K[t, p] <= w[p] * m.a[t, p])
    m.context_18_upper = pyo.Constraint(m.T, m.P, rule=lambda m, t, p: m.K[t, p] <= prev(m.K, t, p, st.K) + k[p] * m.x[t, p])
    m.context_18_lower = pyo.Constraint(m.T, m.P, rule=lambda m, t, p: m.K[t, p] >= prev(m.K, t, p, st.K) + k[p] * m.x[t, p] - w[p] * (1 - m.a[t, p]))
    m.context_window_28c = pyo.Constraint(m.T, m.P, rule=lambda m, t, p: m.K[t, p] <= w[p])
    # (19) age of thought (upper bounds only), κ ≤ K is valid and tightens the relaxation
    dl = data.delta
    m.aot_19_decay = pyo.Constraint(m.T, m.P, rule=lambda m, t, p: m.kappa[t, p] <= prev(m.kappa, t, p, st.kappa) + k[p] * m.x[t, p] - dl[p] * m.y[t, p])
    m.aot_19_floor = pyo.Constraint(m.T, m.P, rule=lambda m, t, p: m.kappa[t, p] <= w[p] * m.y[t, p])
    m.aot_19_cached = pyo.Constraint(m.T, m.P, rule=lambda m, t, p: m.y[t, p] <= m.a[t, p])
    m.aot_le_context = pyo.Constraint(m.T, m.P, rule=lambda m, t, p: m.kappa[t, p] <= m.K[t, p])
    # (24) accuracy, perspective form: κ_t = κ_none + Σ_j κ_j with κ_j ≤ w z_j (the convex hull of
    # the disjunction over x = j), and cuts on θ_j that are tangents of the perspective of g
    m.aot_split = pyo.Constraint(m.TP_req, rule=lambda m, t, p: m.kappa[t, p] == m.kappa_none[t, p] + sum(
        m.kappa_j[t, p, j] for j in range(1, int(R[t, p]) + 1)))
    m.aot_split_j = pyo.Constraint(m.TPJ, rule=lambda m, t, p, j: m.kappa_j[t, p, j] <= w[p] * m.z[t, p, j])
    m.aot_split_none = pyo.Constraint(m.TP_req, rule=lambda m, t, p: m.kappa_none[t, p] <= w[p] * (1 - sum(
        m.z[t, p, j] for j in range(1, int(R[t, p]) + 1))))
    m.accuracy_24_tangent = pyo.ConstraintList()
    m._tangent_points = {}
    for t, p in served:
        for j in range(1, int(R[t, p]) + 1):
            add_tangents(m, data, t, p, tangent_grid(data, p, j, INITIAL_TANGENTS), j=j)
    for (t, p), pts in (tangents or {}).items():
        if R[t, p] > 0:
            add_tangents(m, data, t, p, pts)

    # (27) objective: slot average of switching, transmission, computing, accuracy, cloud
    const = float((R * data.access).sum() + (R * data.offload_unit).sum())
    m.objective_27 = pyo.Objective(expr=(1.0 / T) * (
        const
        + sum(data.lam * m.u[t, p] for t in m.T for p in m.P)
        + sum((data.comp_unit[p] - data.offload_unit[p]) * m.x[t, p] for t, p in served)
        + sum(accuracy_unit(data, p, j) * m.theta[t, p, j] for t, p, j in m.TPJ)), sense=pyo.minimize)
    return m


def add_tangents(m: pyo.ConcreteModel, data: StationData, t: int, p: int, points: Iterable[float],
                 j: int | None = None) -> int:
    """Add perspective cuts θ_j ≥ j c (g(κ̂) z_j + g'(κ̂)(κ_j − κ̂ z_j)) at new points; return how many.

    With z_j = 1 this is the tangent of j c g at κ̂ (below the convex g); with z_j = 0 it reads
    θ_j ≥ 0 since κ_j = 0. No big-M is needed. With j None, cuts go to every j = 1..R[t, p]. θ_j is
    in `matrix28.accuracy_unit` (j c g(κ_lo)), so the row is divided by it: c/κ_0² would leave
    HiGHS's range for a tiny κ_0 and β near 1.
    """
    k0 = data.kappa0
    js = range(1, int(data.R[t, p]) + 1) if j is None else [j]
    added = 0
    for jj in js:
        for kh in new_tangent_points(m._tangent_points.setdefault((t, p, jj), []), points, data.w[p]):
            g, dg = 1.0 / (kh + k0), -1.0 / (kh + k0) ** 2
            f = accuracy_scale(data, p, jj)
            m.accuracy_24_tangent.add(m.theta[t, p, jj] >= f * (
                (g - dg * kh) * m.z[t, p, jj] + dg * m.kappa_j[t, p, jj]))
            added += 1
    return added


def schedule_from(m: pyo.ConcreteModel, data: StationData) -> tuple[np.ndarray, np.ndarray]:
    """Read (a, x) back from a solved model, rounded to integers."""
    a = np.zeros((data.T, data.P))
    x = np.zeros((data.T, data.P))
    for t in range(data.T):
        for p in range(data.P):
            a[t, p] = round(pyo.value(m.a[t, p]) or 0.0)
            x[t, p] = round(pyo.value(m.x[t, p]) or 0.0)
    return a, x
