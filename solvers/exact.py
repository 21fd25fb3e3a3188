"""Exact methods: problem (28) by MILP with outer approximation (`milp`), and (29) per slot (`slot`).

`milp` solves the network form of (28) with highspy directly (`solver="highs"`, the default), or
the readable Pyomo model with any MILP solver Pyomo can drive (`solver="cbc"`, `"pyomo:highs"`,
...; `solvers/pyomo_mip.py`): the same outer-approximation loop and certificate either way.
Each round is logged at INFO (bound, evaluated cost, gap, nodes), each station's outcome too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyomo.environ as pyo

from optcache.dynamics import State, step
from optcache.errors import InvalidInput, SolverFailed
from optcache.evaluator import evaluate_station, serve_unit_cost
from optcache.instance import Instance, StationData, require_station_data
from optcache.logs import Progress
from optcache.models.matrix28 import add_tangents, build_matrix28, estimate_columns
from optcache.models.problem28 import add_tangents as add_tangents_pyomo
from optcache.models.problem28 import build_problem28, schedule_from
from optcache.models.problem29 import build_problem29
from optcache.results import MethodResult, relative_gap
from optcache.schedule import Schedule
from optcache.solvers.highs import MatrixSolver, highs_solver, highs_version, solve_model
from optcache.solvers.highs import check_options as check_highs_options
from optcache.solvers.policies_fast import laot_from, load_laot_from
from optcache.solvers.pyomo_mip import DIRECT, get_solver
from optcache.solvers.registry import option_check, register

log = logging.getLogger(__name__)

DEFAULT_GAP = 1e-6
"""Relative gap at which `solve_station` stops: the contract's 1e-6 certificate (docs/formulation.md §6)."""

GAP_FLOOR = 1e-9
"""Relative gap treated as zero: floating-point noise between HiGHS's bound and the evaluator."""

FIRST_ROUND_GAP = 1e-2
"""MILP gap of the first outer-approximation round: its schedule only seeds tangents, and the
tangent error at the initial grid (~0.5 %) exceeds any tighter certificate anyway."""

MAX_ROUNDS = 50
"""Outer-approximation rounds before giving up on closing the gap (then 'time_limit')."""

HANDOVER_RATIO = 0.5
"""Passing a built model to HiGHS takes about this fraction of its build time (measured 0.45 at
420k and 685k columns): with less time left than that, the model is not handed over."""

MAX_COLUMNS = 1_000_000
"""Largest model `solve_station` builds, by `estimate_columns` (about 1 GB between the Python
builder and HiGHS); a larger station is a `SolverFailed` naming its size, not a MemoryError."""


@dataclass
class StationSolve:
    """Outcome of problem (28) on one station: schedule, evaluated cost, certified bound."""

    a: np.ndarray
    """a[t][p] of the best schedule found, (T, P)."""
    x: np.ndarray
    """x[t][p] of the best schedule found, (T, P)."""
    cost: float
    """The evaluator's cost of that schedule (27), cost units."""
    bound: float
    """Certified lower bound on the station's optimum of (28), cost units."""
    termination: str
    """`optimal`, `time_limit` or `error` (see `optcache.results.Termination`)."""
    seconds: float
    """Wall time of the whole solve, s, model building included."""
    build_seconds: float
    """Part of `seconds` spent building models, s."""
    nodes: int | None
    """Branch-and-bound nodes, if the solver reports them."""
    iterations: int
    """milp: outer-approximation rounds (MILPs solved); lagrange: evaluations of L(u) (pricing rounds)."""
    solver_version: str = ""
    """The MILP or LP solver and its version."""
    history: list = field(default_factory=list)
    """milp: one dict per outer-approximation round: MILP objective and bound, the evaluated cost
    of its schedule, seconds, nodes and tangents added. lagrange: one dict, the search's counters
    (`lagrange.search.SearchStats`: the root, where the time went, the tree) and its progress."""

    @property
    def gap(self) -> float:
        """(cost − bound) / |cost|: `results.relative_gap`."""
        return relative_gap(self.cost, self.bound)


class StationSolver(Protocol):
    """What every exact method of (28) on one station provides, so that the registry's `milp` and
    `lagrange` and the rolling horizon's windows call them alike: a start state (cold by
    default), a time limit covering everything, a gap, an optional feasible warm start, and an
    optional terminal value of each pair's final state (`terminal(p, cached, K, kappa)`, slot-sum
    units; a method that cannot take one refuses it)."""

    def __call__(self, data: StationData, state0: State | None = None, *, time_limit: float | None = None,
                 gap: float = ..., warm_start: tuple[np.ndarray, np.ndarray] | None = None,
                 terminal=None) -> StationSolve: ...


def check_station_call(data: StationData, state0: State | None, time_limit: float | None,
                       gap: float, warm_start=None) -> tuple[State, float | None, float, tuple | None]:
    """A `StationSolver`'s arguments checked at its edge like the registry's options (a NaN
    limit would never be reached, a NaN gap never met): the start state (cold for None), the
    limit and the gap as plain floats, the warm start as two float (T, P) arrays; InvalidInput
    naming the argument otherwise."""
    from optcache.solvers.registry import check_option

    require_station_data(data)
    st = State.check(state0, data.P)
    if time_limit is not None:
        time_limit = float(check_option("time_limit", time_limit))
    if gap is None:
        raise InvalidInput("gap", "must be a number in [0, 1), got None")
    if warm_start is not None:
        try:
            ws = Schedule.from_arrays([warm_start]).stations[0]
        except InvalidInput as e:
            raise InvalidInput("warm_start", f"{e.field.removeprefix('stations[0].')}: {e.message}") from None
        if ws.cached.shape != (data.T, data.P):
            raise InvalidInput("warm_start", f"expected ({data.T}, {data.P}) arrays (slots, pairs), "
                               f"got {ws.cached.shape}")
        warm_start = (ws.cached, ws.edge_requests)
    return st, time_limit, float(check_option("gap", gap)), warm_start


def _checked_highs_call(threads: object, solver_options: object) -> tuple[int, dict | None]:
    """`threads` and `solver_options` checked as the registry checks `milp`'s (before any build),
    else InvalidInput naming the argument."""
    from optcache.solvers.registry import check_option

    if threads is None:
        raise InvalidInput("threads", "must be an integer in [1, 1024], got None")
    solver_options = check_option("solver_options", solver_options)
    check_highs_options(solver_options)
    return int(check_option("threads", threads)), solver_options


def _log_round(method: str, rounds: int, info, evaluated: float | None, best: float, bound: float,
               tangents: int) -> None:
    """One INFO line per outer-approximation round: what the MILP gave and what it certifies."""
    if log.isEnabledFor(logging.INFO):
        gap = relative_gap(best, bound)
        log.info("%s round %d: MILP %s in %.1f s (%s nodes), bound %.6g, evaluated cost %s, "
                 "best %.6g, gap %s, %d new tangents", method, rounds, info.termination, info.seconds,
                 "?" if info.nodes is None else info.nodes, bound,
                 "none" if evaluated is None else f"{evaluated:.6g}", best,
                 "-" if gap is None else f"{100 * gap:.3g} %", tangents)


def solve_station(data: StationData, state0: State | None = None, *, time_limit: float | None = None,
                  gap: float = DEFAULT_GAP, threads: int = 1,
                  warm_start: tuple[np.ndarray, np.ndarray] | None = None, terminal=None,
                  solver_options: dict | None = None) -> StationSolve:
    """Solve (28) on one station by outer approximation until evaluated cost and bound meet.

    Each round solves the MILP (a relaxation: tangents under-estimate the convex accuracy term, so
    its dual bound is valid), re-scores its schedule with the evaluator, and adds tangents at the
    schedule's true κ. The best evaluated schedule is kept; `warm_start` seeds it (and its κ seeds
    tangents). The MILP is `models.matrix28` handed to HiGHS directly. No MIP start is passed:
    HiGHS 1.16 with presolve returns wrong optima after `setSolution` on some of these models.
    A terminal value is not supported (the MILP has no final-state variables): `terminal` must be None.
    `solver_options` are HiGHS options, set after optcache's own.
    """
    if terminal is not None:
        raise InvalidInput("terminal", "the MILP takes no terminal value; use lagrange_station")
    t0 = time.perf_counter()
    st, time_limit, gap, warm_start = check_station_call(data, state0, time_limit, gap, warm_start)
    threads, solver_options = _checked_highs_call(threads, solver_options)
    check_size(data, st)  # before the deadline's check: too large is an error at every limit
    deadline = None if time_limit is None else t0 + time_limit
    best_a, best_x, best, best_ev = first_incumbent(data, st, warm_start)
    if deadline is not None and time.perf_counter() >= deadline:  # no time to build anything
        return incumbent_only(data, best_a, best_x, best, t0)
    extra = {(int(t), int(p)): [float(best_ev.kappa[t, p])] for t, p in zip(*np.nonzero(best_x), strict=False)}
    tb = time.perf_counter()
    bound = trivial_bound(data)
    try:
        mm = build_matrix28(data, st, tangents=extra, deadline=deadline)
        if deadline is not None and \
                time.perf_counter() + HANDOVER_RATIO * (time.perf_counter() - tb) > deadline:
            raise TimeoutError("no time left to pass the model to HiGHS")
        solver = MatrixSolver(mm, threads=threads, options=solver_options)
    except TimeoutError:  # the time limit covers the build: the incumbent and the trivial bound
        return incumbent_only(data, best_a, best_x, best, t0, time.perf_counter() - tb)
    build_seconds = time.perf_counter() - tb
    nodes, rounds, termination, version = 0, 0, "time_limit", highs_version()
    history: list[dict] = []
    while rounds < MAX_ROUNDS:
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0:
            break
        # the first round only needs a schedule to put tangents at: a loose gap makes it cheap
        round_gap = max(gap * 0.5, FIRST_ROUND_GAP) if rounds == 0 else gap * 0.5
        try:
            info, vals = solver.solve(time_limit=left, gap=round_gap)
        except SolverFailed as e:
            raise SolverFailed(f"{e} (problem (28), outer-approximation round {rounds + 1})") from None
        rounds += 1
        version = info.solver_version
        nodes += info.nodes or 0
        if info.bound is not None and np.isfinite(info.bound):
            bound = max(bound, info.bound)
        new = []
        if vals is not None:
            a = np.round(vals[mm.a_col])
            x = np.round(vals[mm.x_col])
            ev = evaluate_station(data, a, x, st)
            if not ev.violations and ev.cost < best:
                best_a, best_x, best = a, x, ev.cost
            for t, p in zip(*np.nonzero(x), strict=False):
                new += add_tangents(mm, int(t), int(p), [ev.kappa[t, p]])
            solver.add_rows(new)
        history.append({"objective": info.objective, "bound": info.bound, "seconds": info.seconds,
                        "nodes": info.nodes, "evaluated": None if vals is None else ev.cost,
                        "tangents": len(new)})
        _log_round("milp", rounds, info, None if vals is None else ev.cost, best, bound, len(new))
        if best - bound <= max(gap, GAP_FLOOR) * max(abs(best), 1e-10):
            termination = "optimal"  # the evaluated cost meets a valid bound: certified
            break
        if info.termination == "time_limit" or (not new and round_gap <= gap * 0.5):
            break  # out of time, or no new cut can tighten the relaxation further
    return StationSolve(best_a, best_x, best, float(min(bound, best)), termination,
                        time.perf_counter() - t0, build_seconds, nodes, rounds, version, history)


def check_size(data: StationData, state0: State | None = None) -> None:
    """Refuse (SolverFailed) a station whose model (28) would exceed MAX_COLUMNS columns."""
    cols = estimate_columns(data, state0)
    if cols > MAX_COLUMNS:
        raise SolverFailed(f"problem (28) is too large for an exact solve: about {cols:.3g} columns "
                           f"(limit {MAX_COLUMNS}, optcache.solvers.exact.MAX_COLUMNS; the model grows "
                           "with the requests per slot); use laot or rolling")


def solve_station_pyomo(data: StationData, state0: State | None = None, *, solver: str = "pyomo:highs",
                        solver_options: dict | None = None, time_limit: float | None = None,
                        gap: float = DEFAULT_GAP, threads: int = 1,
                        warm_start: tuple[np.ndarray, np.ndarray] | None = None,
                        terminal=None) -> StationSolve:
    """The outer approximation of `solve_station` on the readable Pyomo model `build_problem28`,
    solved by any MILP solver Pyomo can drive (`solvers.pyomo_mip.get_solver(solver)`).

    Same certificate: each round's MILP is a relaxation (tangents under-estimate the accuracy
    term), so the solver's dual bound is valid; its schedule is re-scored by the evaluator and
    tangents are added at its true κ. It shares no model code with `solve_station`, so agreeing
    optima check the matrix builder. The time limit covers the build, which is checked once it
    is done (the Pyomo build cannot be interrupted). No terminal value (`terminal` must be None).
    """
    if terminal is not None:
        raise InvalidInput("terminal", "the MILP takes no terminal value; use lagrange_station")
    t0 = time.perf_counter()
    st, time_limit, gap, warm_start = check_station_call(data, state0, time_limit, gap, warm_start)
    check_size(data, st)  # before the deadline's check: too large is an error at every limit
    deadline = None if time_limit is None else t0 + time_limit
    opt = get_solver(solver, solver_options)
    best_a, best_x, best, best_ev = first_incumbent(data, st, warm_start)
    if deadline is not None and time.perf_counter() >= deadline:  # no time to build anything
        return incumbent_only(data, best_a, best_x, best, t0)
    extra = {(int(t), int(p)): [float(best_ev.kappa[t, p])] for t, p in zip(*np.nonzero(best_x), strict=False)}
    tb = time.perf_counter()
    model = build_problem28(data, st, tangents=extra)
    build_seconds = time.perf_counter() - tb
    bound = trivial_bound(data)
    nodes, rounds, termination = 0, 0, "time_limit"
    history: list[dict] = []
    while rounds < MAX_ROUNDS:
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0:
            break
        round_gap = max(gap * 0.5, FIRST_ROUND_GAP) if rounds == 0 else gap * 0.5
        try:
            info = opt.solve(model, time_limit=left, gap=round_gap, threads=threads)
        except SolverFailed as e:
            raise SolverFailed(f"{e} (problem (28), outer-approximation round {rounds + 1})") from None
        rounds += 1
        nodes += info.nodes or 0
        if info.bound is not None and np.isfinite(info.bound):
            bound = max(bound, info.bound)
        new, evaluated = 0, None
        if info.objective is not None:
            a, x = schedule_from(model, data)
            ev = evaluate_station(data, a, x, st)
            evaluated = ev.cost
            if not ev.violations and ev.cost < best:
                best_a, best_x, best = a, x, ev.cost
            for t, p in zip(*np.nonzero(x), strict=False):
                new += add_tangents_pyomo(model, data, int(t), int(p), [ev.kappa[t, p]])
        history.append({"objective": info.objective, "bound": info.bound, "seconds": info.seconds,
                        "nodes": info.nodes, "evaluated": evaluated, "tangents": new})
        _log_round(f"milp ({solver})", rounds, info, evaluated, best, bound, new)
        if best - bound <= max(gap, GAP_FLOOR) * max(abs(best), 1e-10):
            termination = "optimal"
            break
        if info.termination == "time_limit" or (new == 0 and round_gap <= gap * 0.5):
            break
    return StationSolve(best_a, best_x, best, float(min(bound, best)), termination,
                        time.perf_counter() - t0, build_seconds, nodes, rounds, opt.version, history)


def solve_station_reference(data: StationData, state0: State | None = None, *, gap: float = DEFAULT_GAP,
                            time_limit: float | None = None, threads: int = 1) -> StationSolve:
    """`solve_station_pyomo` with Pyomo's own HiGHS interface (slow; the tests' reference)."""
    return solve_station_pyomo(data, state0, solver="pyomo:highs", gap=gap, time_limit=time_limit,
                               threads=threads)


def first_incumbent(data: StationData, st: State, warm_start=None, warm_evaluation=None):
    """(a, x, cost, evaluation) of the better of all-cloud (always feasible: the fallback) and a
    feasible `warm_start`, scored by the evaluator (`warm_evaluation`: the warm start's, if the
    caller has it already)."""
    best_a, best_x = np.zeros((data.T, data.P)), np.zeros((data.T, data.P))
    best_ev = evaluate_station(data, best_a, best_x, st)
    if warm_start is not None:
        ev = warm_evaluation if warm_evaluation is not None else evaluate_station(data, *warm_start, st)
        if not ev.violations and ev.cost < best_ev.cost:
            best_a, best_x = np.asarray(warm_start[0], float), np.asarray(warm_start[1], float)
            best_ev = ev
    return best_a, best_x, best_ev.cost, best_ev


def incumbent_only(data: StationData, a: np.ndarray, x: np.ndarray, cost: float, t0: float,
                   build_seconds: float = 0.0) -> StationSolve:
    """Out of time before any solve: the incumbent, with the bound valid before any solve
    (`trivial_bound`), 'time_limit'."""
    return StationSolve(a, x, float(cost), float(min(trivial_bound(data), cost)), "time_limit",
                        time.perf_counter() - t0, build_seconds, 0, 0, highs_version())


def trivial_bound(data: StationData) -> float:
    """A bound valid before any solve: switching and accuracy ≥ 0, each request at its cheaper end."""
    R = data.R.astype(float)
    per_request = np.minimum(data.offload_unit, data.comp_unit)
    return float(((R * data.access).sum() + (R * per_request).sum()) / data.T)


def solve_by_station(inst: Instance, method: str, solve_one: StationSolver,
                     time_limit: float | None, solver: str = "highs",
                     started: float | None = None) -> MethodResult:
    """Run `solve_one` (a `StationSolver`) on each station and sum.

    The time left since `started` (a `time.perf_counter()` time, by default now) is shared evenly
    by the stations still to solve; least-AoT warm-starts each, and a station reached after the
    time limit keeps it, with `trivial_bound`. `solver` names the solver in the result."""
    from optcache.solvers.policies_fast import replace_instance

    t0 = time.perf_counter() if started is None else started
    per, bound, nodes, term, version, optimal = [], 0.0, 0, "optimal", highs_version(), 0
    warm = replace_instance(inst, "laot")  # every station at once, compiled (~7 ms a station in Python)
    for n in range(inst.n_stations):
        if time_limit is not None and time.perf_counter() - t0 >= time_limit:
            # out of time: the rest keep their warm start (least-AoT) and the trivial bound, with no
            # per-station checks and scoring (1.5 ms a station: 1.7 s past a 0.05-s limit on 1,000)
            data = inst.station_data(n)
            per.append(warm[n])
            bound += trivial_bound(data)
            term = "time_limit"
            continue
        left = None if time_limit is None else \
            max(time_limit - (time.perf_counter() - t0), 1e-3) / (inst.n_stations - n)
        data = inst.station_data(n)
        log.info("%s: station %d (%d of %d)%s", method, n, n + 1, inst.n_stations,
                 "" if left is None else f", {left:.1f} s for it")
        s = solve_one(data, time_limit=left, warm_start=warm[n])
        log.info("%s: station %d %s, cost %.6g, bound %.6g, gap %.3g %%, %.1f s", method, n,
                 s.termination, s.cost, s.bound, 100 * (s.gap or 0.0), s.seconds)
        per.append((s.a, s.x))
        bound += s.bound
        nodes += s.nodes or 0
        version = s.solver_version
        if s.termination != "optimal":
            term = "time_limit"
        else:
            optimal += 1
    return MethodResult.from_schedule(inst, method, Schedule.from_arrays(per), time.perf_counter() - t0,
                                      termination=term, bound=bound, nodes=nodes, solver=solver,
                                      solver_version=version,
                                      extras={"time_limit": time_limit, "stations_optimal": optimal})


@option_check("milp")
def check_milp_options(solver: str, solver_options: dict | None, **_: object) -> None:
    """milp's solver is one this machine knows and runs, and it takes `solver_options`: checked
    before any build, and by the registry for the CLI and study grids (refused at load)."""
    if solver == DIRECT:
        check_highs_options(solver_options)
    else:
        get_solver(solver, solver_options)


@register("milp", exact=True, options=("time_limit", "gap", "threads", "solver", "solver_options"))
def milp(inst: Instance, time_limit: float | None = None, gap: float = DEFAULT_GAP,
         threads: int = 1, solver: str = DIRECT, solver_options: dict | None = None) -> MethodResult:
    """Problem (28) solved exactly by MILP (HiGHS, or any solver Pyomo drives) with outer approximation; certified bound."""
    started = time.perf_counter()  # the checks below count against the time limit
    for n in range(inst.n_stations):  # a station too large is refused before any is solved
        check_size(inst.station_data(n))
    check_milp_options(solver, solver_options)  # unknown or missing: refused before any build
    if solver == DIRECT:
        def one(d, **kw):
            return solve_station(d, gap=gap, threads=threads, solver_options=solver_options, **kw)
    else:
        def one(d, **kw):
            return solve_station_pyomo(d, solver=solver, solver_options=solver_options, gap=gap,
                                       threads=threads, **kw)
    return solve_by_station(inst, "milp", one, time_limit, solver=solver, started=started)


def _cheapest_ties(m: pyo.ConcreteModel, data: StationData, deadline: float | None, threads: int,
                   solver) -> None:
    """Among (29)'s optima, the offloading of least slot cost (docs/formulation.md §7): with a
    and every κ_p held, x may still vary where serving leaves κ unchanged (κ + k x ≤ Δ); the
    paper takes offloading from (28a), so x minimises the slot's cost. Loads `m` with that x
    (or leaves (29)'s own if the time is up or the re-solve fails)."""
    kappa = np.maximum(np.array([pyo.value(m.kappa[p]) for p in m.P]), 0.0)
    saved = {p: pyo.value(m.x[p]) for p in m.P}
    for p in m.P:  # κ_p at least (29)'s, up to the solver's tolerance (fixed exactly, a κ a hair
        m.a[p].fix(round(pyo.value(m.a[p])))  # above what x can give made the re-solve infeasible)
        m.kappa[p].setlb(max(float(kappa[p]) - 1e-6 * max(1.0, float(kappa[p])), 0.0))
    u = serve_unit_cost(data, kappa)
    scale = max(float(np.abs(u).max()), 1e-300)
    m.objective_29a.deactivate()
    m.slot_cost_28a = pyo.Objective(expr=sum(float(u[p] / scale) * m.x[p] for p in m.P))
    left = None if deadline is None else deadline - time.perf_counter()
    info = None
    if left is None or left > 0:
        try:
            info = solve_model(m, time_limit=left, gap=0.0, threads=threads, solver=solver)
        except SolverFailed as e:  # InfeasibleModel included: (29)'s own x stays
            log.debug("slot: the tie-break re-solve failed (%s); (29)'s x is kept", e)
    if info is None or info.objective is None:
        for p in m.P:
            m.x[p].set_value(saved[p])


@register("slot", options=("time_limit", "threads"))
def slot(inst: Instance, time_limit: float | None = None, threads: int = 1) -> MethodResult:
    """Problem (29) solved exactly each slot (max Σκ) and applied: the per-slot optimum of Algorithm 1."""
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    load_laot_from()  # the fallback's kernel, loaded inside the limit
    solver = highs_solver()
    per, version, fallback = [], highs_version(), 0
    progress = Progress(log)
    for n in range(inst.n_stations):
        data = inst.station_data(n)
        st = State.cold(data.P)
        a = np.zeros((data.T, data.P))
        x = np.zeros((data.T, data.P))
        for t in range(data.T):
            left = None if deadline is None else deadline - time.perf_counter()
            info = None
            if left is None or left > 0:
                m = build_problem29(data, t, st)
                info = solve_model(m, time_limit=left, gap=0.0, threads=threads, solver=solver)
                version = info.solver_version
            if info is None or info.objective is None:
                # the time limit is used up: least-AoT from this state on (docs/formulation.md §7),
                # compiled for the whole rest of the station
                a[t:], x[t:], _ = laot_from(data, st, t)
                fallback += data.T - t
                break
            _cheapest_ties(m, data, deadline, threads, solver)
            for p in range(data.P):
                a[t, p] = round(pyo.value(m.a[p]))
                x[t, p] = round(pyo.value(m.x[p]))
            st = step(st, a[t], x[t], data.k, data.delta)
            progress("slot: station %d of %d, slot %d of %d, %.0f s", n + 1, inst.n_stations, t + 1,
                     data.T, time.perf_counter() - t0)
        per.append((a, x))
    if fallback:
        log.warning("slot: time limit reached; %d of %d slots fell back to least-AoT",
                    fallback, inst.slots * inst.n_stations)
    return MethodResult.from_schedule(inst, "slot", Schedule.from_arrays(per), time.perf_counter() - t0,
                                      termination="time_limit" if fallback else "heuristic",
                                      solver="highs", solver_version=version,
                                      extras={"fallback_slots": fallback})
