"""Problem (29) for one station and one slot (docs/formulation.md §7): maximise Σ_p κ_t given the state.

Subject to memory (3), compute budget (5), edge only if cached (4), context window (28c) and the
dynamics (18)–(19) from the state left by slot t−1. A small penalty on loads breaks the ties between
loading an unrequested pair (κ = 0) and not loading it, so no switching is paid for nothing.
"""

from __future__ import annotations

import pyomo.environ as pyo

from optcache.dynamics import State
from optcache.evaluator import capacity_rows
from optcache.instance import StationData, check_index, require_station_data

LOAD_TIE_BREAK = 1e-6
"""Weight of each new load in (29)'s objective, relative to one token of κ: a pure tie-breaker."""


def build_problem29(data: StationData, t: int, state: State) -> pyo.ConcreteModel:
    """Problem (29) at slot t (0-based) from `state`; variables a[p], x[p], y[p], kappa[p]."""
    require_station_data(data)
    t = check_index(t, data.T, "t", "slot")
    state = State.check(state, data.P, "state")
    R, k, w, dl = data.R[t], data.k, data.w, data.delta
    m = pyo.ConcreteModel(name="problem29")
    m.P = pyo.RangeSet(0, data.P - 1)
    m.a = pyo.Var(m.P, domain=pyo.Binary)
    m.x = pyo.Var(m.P, domain=pyo.NonNegativeIntegers, bounds=lambda m, p: (0, int(R[p])))
    m.y = pyo.Var(m.P, domain=pyo.Binary)
    m.kappa = pyo.Var(m.P, bounds=lambda m, p: (0, w[p]))
    # (29b) and (29c) as shares of their capacities (FLOP counts ~1e14 spoil the scaling): a pair
    # that alone exceeds one is never loaded, or never serves, and stays out of its row
    mem, bud, mem_rhs, bud_rhs, fits, serves = capacity_rows(data)
    for p in range(data.P):
        if not fits[p]:
            m.a[p].fix(0)
        if not serves[p]:
            m.x[p].fix(0)
    m.memory_29b = pyo.Constraint(rule=lambda m: sum(mem[p] * m.a[p] for p in m.P if fits[p]) <= mem_rhs
                                  if fits.any() else pyo.Constraint.Skip)
    m.compute_budget_29c = pyo.Constraint(rule=lambda m: sum(bud[p] * m.x[p] for p in m.P if serves[p]) <= bud_rhs
                                          if serves.any() else pyo.Constraint.Skip)
    m.edge_only_if_cached_4 = pyo.Constraint(m.P, rule=lambda m, p: m.x[p] <= int(R[p]) * m.a[p])
    # (28c) with (18): a cached pair's context K_{t-1} + k x stays within w (K resets when a = 0)
    m.context_window_28c = pyo.Constraint(
        m.P, rule=lambda m, p: float(state.K[p]) * m.a[p] + k[p] * m.x[p] <= w[p])
    m.aot_19_decay = pyo.Constraint(
        m.P, rule=lambda m, p: m.kappa[p] <= float(state.kappa[p]) + k[p] * m.x[p] - dl[p] * m.y[p])
    m.aot_19_floor = pyo.Constraint(m.P, rule=lambda m, p: m.kappa[p] <= w[p] * m.y[p])
    m.aot_19_cached = pyo.Constraint(m.P, rule=lambda m, p: m.y[p] <= m.a[p])
    new = [p for p in range(data.P) if state.cached[p] < 0.5]
    m.objective_29a = pyo.Objective(
        expr=sum(m.kappa[p] for p in m.P) - LOAD_TIE_BREAK * sum(m.a[p] for p in new),
        sense=pyo.maximize)
    return m
