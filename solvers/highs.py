"""HiGHS through pyomo.contrib.solver: time limit, relative gap, threads, and what it reports."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyomo.environ as pyo

from optcache.errors import InfeasibleModel, SolverUnavailable


@dataclass
class SolveInfo:
    """One HiGHS solve: termination ('optimal'|'time_limit'), objective, dual bound, time, nodes."""

    termination: str
    objective: float | None
    bound: float | None
    seconds: float
    nodes: int | None
    solver_version: str


def highs_solver():
    """A persistent HiGHS interface (cuts added later are passed on incrementally)."""
    try:
        from pyomo.contrib.solver.solvers.highs import Highs
    except ImportError as e:  # pragma: no cover - pyomo without the contrib solver
        raise SolverUnavailable(f"pyomo.contrib.solver's highs is not importable: {e}") from None
    opt = Highs()
    if not opt.available():
        raise SolverUnavailable("HiGHS (highspy) is not installed; pip install highspy")
    return opt


def solve_model(model: pyo.ConcreteModel, *, time_limit: float | None = None, gap: float | None = None,
                threads: int = 1, solver=None) -> SolveInfo:
    """Solve a MILP; a time limit with an incumbent is 'time_limit', not an error."""
    from pyomo.contrib.solver.common.results import TerminationCondition as TC

    opt = solver or highs_solver()
    t0 = time.perf_counter()
    opts = {"mip_rel_gap": 0.0 if gap is None else gap, "mip_abs_gap": 1e-12, "random_seed": 0,
            # tight integrality: x = 0.999999 would put the model's κ off the evaluator's by ~1e-6
            "mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9}
    res = opt.solve(model, time_limit=time_limit, threads=threads, load_solutions=False,
                    raise_exception_on_nonoptimal_result=False, solver_options=opts)
    seconds = time.perf_counter() - t0
    tc = res.termination_condition
    if tc in (TC.provenInfeasible, TC.infeasibleOrUnbounded, TC.locallyInfeasible):
        raise InfeasibleModel(f"model {model.name!r} is infeasible ({tc.name})")
    has_sol = res.incumbent_objective is not None
    if has_sol:
        res.solution_loader.load_vars()
    if tc == TC.convergenceCriteriaSatisfied:
        term = "optimal"
    elif tc in (TC.maxTimeLimit, TC.iterationLimit, TC.interrupted):
        term = "time_limit"
    else:
        raise InfeasibleModel(f"HiGHS stopped with {tc.name} on {model.name!r}")
    nodes = getattr(res.extra_info, "mip_node_count", None)
    version = ".".join(str(v) for v in opt.version())
    return SolveInfo(term, res.incumbent_objective if has_sol else None, res.objective_bound,
                     seconds, None if nodes is None or nodes < 0 else int(nodes), version)
