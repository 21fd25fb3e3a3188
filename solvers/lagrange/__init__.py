"""Problem (28) by Lagrangian decomposition over pairs and branch, price and cut (`lagrange`).

One module per concept:

* `graph`: one pair's schedules as a DAG of its states, shortest paths and probes over it;
* `slots`: the slot polytope (memory (3) and budget (5) in one slot), its exact oracle and cuts;
* `decomposition`: the Lagrangian L(u) of the coupling rows, evaluated by the pair DPs;
* `master`: the restricted master LP over pair schedules, whose duals are the multipliers;
* `primal`: feasible schedules from pair DPs within residual capacity;
* `branching`: branching decisions, their pseudo-costs and the children they make;
* `search`: column generation, probing, the tree and the bound it certifies.

docs/formulation.md §6.1 ("Lagrangian decomposition and branch, price and cut") states the method and why its bound is valid.
"""

from __future__ import annotations

import time

import numpy as np

from optcache.dynamics import State
from optcache.errors import InvalidInput
from optcache.evaluator import evaluate_station
from optcache.instance import Instance, StationData
from optcache.results import MethodResult
from optcache.solvers.exact import (
    StationSolve,
    check_station_call,
    first_incumbent,
    incumbent_only,
    solve_by_station,
)
from optcache.solvers.highs import highs_version
from optcache.solvers.lagrange.decomposition import Decomposition, coupled_slots
from optcache.solvers.lagrange.graph import PairBounds, PairGraph
from optcache.solvers.lagrange.primal import local_search
from optcache.solvers.lagrange.search import GAP_FLOOR, Search
from optcache.solvers.lagrange.slots import OptionSeparator, TargetSeparator, option_max, slot_max
from optcache.solvers.registry import register

__all__ = ["DEFAULT_GAP", "Decomposition", "OptionSeparator", "PairBounds", "PairGraph",
           "TargetSeparator", "coupled_slots", "lagrange", "lagrange_station", "option_max", "slot_max"]

DEFAULT_GAP = 1e-4
"""Relative gap at which `lagrange_station` stops."""


def lagrange_station(data: StationData, state0: State | None = None, *, time_limit: float | None = None,
                     gap: float = DEFAULT_GAP, warm_start: tuple[np.ndarray, np.ndarray] | None = None,
                     terminal=None, polytopes: dict | None = None, option_cuts: bool = True) -> StationSolve:
    """Problem (28) on one station by Lagrangian decomposition and branch, price and cut.

    The bound is the least Lagrangian over the open and discarded parts of the search, valid
    whatever the multipliers; the cost is the evaluator's, of the best feasible schedule found.
    `termination` is 'optimal' when they meet within `gap`. The time limit covers everything,
    the pair graphs' construction included (out of time before they are built: the warm start,
    or all-cloud, the cheaper, and `exact.trivial_bound`). `terminal(p, cached, K, kappa) -> values`
    (slot-sum units, vectorised over states) adds a value of each pair's final state to the
    objective (the rolling horizon's tail); being separable by pair it keeps every bound valid,
    and cost and bound then include it. `polytopes` (a dict the caller keeps, e.g. `rolling` for
    the windows of one station) shares the slot polytopes' cut separators between calls: a
    separator depends only on its polytope's data, so its points are found once (rolling on the
    default station: 17.2 s → 9.8 s, the same schedule). `option_cuts=False` leaves out the slots'
    option cuts (docs/formulation.md §6.1), as the rolling horizon's windows do.
    """
    t0 = time.perf_counter()
    state0, time_limit, gap, warm_start = check_station_call(data, state0, time_limit, gap, warm_start)
    if terminal is not None and not callable(terminal):
        raise InvalidInput("terminal", f"expected a callable terminal(p, cached, K, kappa), got "
                           f"{type(terminal).__name__}")
    if polytopes is not None and not isinstance(polytopes, dict):
        raise InvalidInput("polytopes", f"expected a dict (or None), got {type(polytopes).__name__}")
    deadline = t0 + (np.inf if time_limit is None else time_limit)
    warm = _feasible(data, state0, warm_start)
    if time.perf_counter() >= deadline:  # no time to build anything (many stations, a short limit)
        return _unbuilt(data, state0, warm, t0)
    try:
        s = Search(data, state0, deadline, gap, terminal, polytopes=polytopes, option_cuts=bool(option_cuts))
    except TimeoutError:  # the limit came while the pair graphs were built (never with a terminal)
        return _unbuilt(data, state0, warm, t0)
    build = time.perf_counter() - t0
    if warm is not None:
        s.offer(*local_search(s.dec, *warm[:2]))
    bound = s.run()
    A, X = s.best
    cost = s.best_cost
    bound = float(min(bound, cost))
    ok = cost - bound <= max(gap, GAP_FLOOR) * max(abs(cost), 1e-10)
    st = s.stats
    history = [{"root_bound": st.root_bound, "root_seconds": st.root_seconds,
                "root_pause_seconds": st.root_pause_seconds, "root_primal": st.root_primal,
                "nodes": st.nodes, "evaluations": st.evaluations, "columns": s.master.n, "cuts": st.cuts,
                "option_cuts": st.option_cuts, "eliminated_arcs": st.eliminated_arcs, "fixed_values": st.fixed_values,
                "lns_windows": st.lns_windows, "lns_improvements": st.lns_improvements,
                "dives": st.dives, "dive_cost": st.dive_cost,
                "lp_solves": s.master.lp_solves, "lp_seconds": s.master.lp_seconds,
                "lagrangian_seconds": st.lagrangian_seconds, "heuristic_seconds": st.heuristic_seconds,
                "lns_seconds": st.lns_seconds, "tree_seconds": st.tree_seconds,
                "tree_lp_solves": st.tree_lp_solves, "pruned_children": st.pruned_children,
                "pruned_child_lp_solves": st.pruned_child_lp_solves, "strong_branchings": st.strong_branchings,
                "strong_lp_solves": st.strong_lp_solves, "strong_seconds": st.strong_seconds,
                "progress": st.progress}]
    return StationSolve(A, X, float(cost), bound, "optimal" if ok else "time_limit",
                        time.perf_counter() - t0, build, st.nodes, st.evaluations, highs_version(), history)


def _feasible(data: StationData, state0: State | None, warm_start):
    """(a, x, evaluation) of the warm start, float, if the evaluator accepts it from `state0`,
    else None."""
    if warm_start is None:
        return None
    wa, wx = (np.asarray(v, float) for v in warm_start)
    ev = evaluate_station(data, wa, wx, state0)
    return None if ev.violations else (wa, wx, ev)


def _unbuilt(data: StationData, state0: State, warm, t0: float) -> StationSolve:
    """Out of time before the search could start: the cheaper of the feasible warm start and
    all-cloud (as `milp`, `exact.first_incumbent`), with the bound valid before any solve
    (`exact.trivial_bound`)."""
    A, X, cost, _ = first_incumbent(data, state0, *((warm[:2], warm[2]) if warm else ()))
    return incumbent_only(data, A, X, cost, t0, build_seconds=time.perf_counter() - t0)


@register("lagrange", exact=True, options=("time_limit", "gap"))
def lagrange(inst: Instance, time_limit: float | None = None, gap: float = DEFAULT_GAP) -> MethodResult:
    """Problem (28) by Lagrangian decomposition over pairs (exact DPs) and branch, price and cut; certified bound."""
    return solve_by_station(inst, "lagrange", lambda d, **kw: lagrange_station(d, gap=gap, **kw), time_limit)
