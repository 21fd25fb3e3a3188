"""Any MILP solver Pyomo can drive, chosen by name, for the readable Pyomo model of problem (28).

`milp` solves the network form of (28) with highspy directly (solver name `highs`, the default
and fastest path). Every other name goes through Pyomo: first `pyomo.contrib.solver`'s factory
(`pyomo:highs`, `gurobi_direct`, `gurobi_persistent`, `scip_direct`, ...), then the classic
`pyomo.environ.SolverFactory` (`cbc`, `glpk`, `scip`, `gurobi`, `cplex`, `xpress`,
`appsi_highs`, ...). The time limit, gap and threads are passed under each solver's own option
names where they are known (`LEGACY_OPTION_NAMES`); `options` go to the solver unchanged.
The solver's log goes to this module's logger at DEBUG (`optcache -v`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import pyomo.environ as pyo

from optcache.errors import InfeasibleModel, InvalidInput, SolverFailed, SolverUnavailable
from optcache.solvers import forked
from optcache.solvers.highs import (
    HIGHS_OPTIONS,
    SolveInfo,
    contrib_info,
    fork_safe,
    use_threads,
)

log = logging.getLogger(__name__)

DIRECT = "highs"
"""The solver name that means highspy on the network form (`solvers.highs.MatrixSolver`)."""

PREFIX = "pyomo:"
"""`pyomo:NAME` forces Pyomo's interface NAME (`pyomo:highs` is Pyomo's own HiGHS interface)."""

LEGACY_OPTION_NAMES: dict[str, tuple[str | None, str | None, str | None]] = {
    "cbc": ("seconds", "ratioGap", "threads"),
    "glpk": ("tmlim", "mipgap", None),
    "scip": ("limits/time", "limits/gap", None),
    "gurobi": ("TimeLimit", "MIPGap", "Threads"),
    "gurobi_direct": ("TimeLimit", "MIPGap", "Threads"),
    "cplex": ("timelimit", "mip_tolerances_mipgap", "threads"),
    "cplex_direct": ("timelimit", "mip_tolerances_mipgap", "threads"),
    "xpress": ("maxtime", "miprelstop", "threads"),
    "xpress_direct": ("maxtime", "miprelstop", "threads"),
    "mosek": ("dparam.optimizer_max_time", "dparam.mio_tol_rel_gap", "iparam.num_threads"),
}
"""(time limit in seconds, relative gap, threads) option names of classic Pyomo solvers. For a
solver not listed, optcache's time limit and gap cannot be passed: give them in `options`."""

DEFAULT_OPTIONS = {"highs": HIGHS_OPTIONS, "appsi_highs": HIGHS_OPTIONS}
"""Options given to a solver before the user's, by Pyomo name."""

APPSI_PREFIX = "appsi_"
"""Pyomo's APPSI solvers take the time limit as `timelimit` and are otherwise classic."""


def pyomo_name(name: str) -> str:
    """The name to look up in Pyomo's factories (`pyomo:highs` -> `highs`)."""
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


@dataclass
class PyomoMIP:
    """One solver reached through Pyomo: `solve(model, ...)` returns a `SolveInfo`."""

    name: str
    """The name the user gave (reported as the result's solver)."""
    opt: object
    contrib: bool
    """True for pyomo.contrib.solver's interface, False for the classic SolverFactory."""
    options: dict

    @property
    def version(self) -> str:
        try:
            v = self.opt.version()
        except Exception:  # some plugins raise when the executable cannot report it
            return ""
        return ".".join(str(x) for x in v) if isinstance(v, tuple) else str(v or "")

    def solve(self, model: pyo.ConcreteModel, *, time_limit: float | None, gap: float,
              threads: int) -> SolveInfo:
        """Solve `model`, its incumbent (if any) loaded into it.

        With a time limit and one thread the solve runs in a forked child killed at the limit
        (the solver's own limit is `forked.own_limit` of it): neither an interface's translation of
        the model nor HiGHS's root cut separation counts against a solver's own limit. A killed
        solve is 'time_limit' with no incumbent and no bound (docs/formulation.md §14)."""
        t0 = time.perf_counter()
        use_threads(threads)
        if fork_safe(threads, time_limit):
            inner = forked.own_limit(time_limit)
            got = forked.call(lambda send: self._values(model, inner, gap, threads), t0 + time_limit,
                              what=self.name)
            if got is None:
                log.info("%s passed the time limit (%.1f s); stopped at %.1f s", self.name,
                         time_limit, time.perf_counter() - t0)
                info = SolveInfo("time_limit", None, None, 0.0, None, self.version)
            else:
                info, values = got
                if values is not None:
                    for v, val in zip(model.component_data_objects(pyo.Var), values, strict=True):
                        v.set_value(val, skip_validation=True)
        else:
            info = self._run(model, time_limit, gap, threads)
        info.seconds = time.perf_counter() - t0
        return info

    def _run(self, model, time_limit, gap, threads) -> SolveInfo:
        debug = log.isEnabledFor(logging.DEBUG)
        return (self._contrib if self.contrib else self._legacy)(model, time_limit, gap, threads, debug)

    def _values(self, model, time_limit, gap, threads) -> tuple[SolveInfo, list | None]:
        """A forked child's solve: its SolveInfo and every variable's value (None: no incumbent)."""
        info = self._run(model, time_limit, gap, threads)
        if info.objective is None:
            return info, None
        return info, [v.value for v in model.component_data_objects(pyo.Var)]

    def _contrib(self, model, time_limit, gap, threads, debug) -> SolveInfo:
        import io

        # these interfaces capture the process's stdout and stderr while they solve: their log is
        # collected and logged afterwards (logging during the capture would feed it back in)
        buf = io.StringIO()
        res = self.opt.solve(model, time_limit=time_limit, rel_gap=gap, threads=threads,
                             tee=[buf] if debug else False,
                             load_solutions=False, raise_exception_on_nonoptimal_result=False,
                             solver_options=dict(self.options))
        for line in buf.getvalue().splitlines():
            if line.strip():
                log.debug("%s: %s", self.name, line.rstrip())
        return contrib_info(res, self.name, 0.0, self.version)

    def _legacy(self, model, time_limit, gap, threads, debug) -> SolveInfo:
        from contextlib import nullcontext, redirect_stdout

        from pyomo.common.log import LogStream
        from pyomo.opt import TerminationCondition as TC

        base = pyomo_name(self.name)
        opts: dict = {}
        kw: dict = {}
        names = LEGACY_OPTION_NAMES.get(base)
        if base.startswith(APPSI_PREFIX):
            if time_limit is not None:
                kw["timelimit"] = time_limit
            names = (None, "mip_rel_gap", "threads") if base == "appsi_highs" else (None, None, None)
        if names is None:
            names = (None, None, None)
            if time_limit is not None:
                log.warning("%s: optcache does not know its time-limit option; give it in "
                            "solver_options (the solve may run past the limit)", self.name)
        for key, value in zip(names, (time_limit, gap, threads), strict=True):
            if key is not None and value is not None:
                opts[key] = value
        opts.update(self.options)  # the user's options win
        # a classic solver's tee writes to sys.stdout: send it to the log (stdout stays the
        # result's); APPSI interfaces log to their own loggers instead (pyomo.contrib.appsi.*)
        tee = debug and not base.startswith(APPSI_PREFIX)
        with redirect_stdout(LogStream(logging.DEBUG, log)) if tee else nullcontext():
            res = self.opt.solve(model, tee=tee, load_solutions=False, options=opts, **kw)
        tc = res.solver.termination_condition
        if tc in (TC.infeasible, TC.infeasibleOrUnbounded, TC.invalidProblem):
            raise InfeasibleModel(f"{self.name}: problem (28) is infeasible ({tc})")
        has_sol = len(getattr(res, "solution", [])) > 0
        if has_sol:
            model.solutions.load_from(res)
        if tc in (TC.optimal, TC.globallyOptimal, TC.locallyOptimal):
            term = "optimal"
        elif tc in (TC.maxTimeLimit, TC.maxIterations, TC.maxEvaluations, TC.userInterrupt,
                    TC.intermediateNonInteger):
            term = "time_limit"
        else:
            raise SolverFailed(f"{self.name} stopped with {tc}")
        bound = _number(res.problem.lower_bound)
        objective = None
        if has_sol:
            objective = float(pyo.value(next(model.component_data_objects(pyo.Objective, active=True))))
        try:
            nodes = _number(res.solver.statistics.branch_and_bound.number_of_created_subproblems)
        except AttributeError:
            nodes = None
        return SolveInfo(term, objective, bound, 0.0, None if nodes is None else int(nodes), self.version)


def _number(v) -> float | None:
    """A finite float from a Pyomo results field, else None (they hold None, strings or ±inf)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def get_solver(name: str, options: dict | None = None) -> PyomoMIP:
    """The Pyomo solver called `name` (see the module docstring), checked to be available."""
    from pyomo.contrib.solver.common.factory import SolverFactory as ContribFactory

    base = pyomo_name(name)
    if base in ContribFactory._cls:
        opt = ContribFactory(base)
        contrib = True
        try:
            ok = bool(opt.available())
        except Exception as e:  # a licence check can raise
            raise SolverUnavailable(f"{name}: {e}") from None
    else:
        if base not in pyo.SolverFactory._cls:
            raise InvalidInput("solver", f"unknown solver {name!r}: neither {DIRECT!r} (highspy) nor "
                               "a name Pyomo's SolverFactory knows (e.g. pyomo:highs, appsi_highs, "
                               "cbc, glpk, scip, gurobi, cplex)")
        opt = pyo.SolverFactory(base)
        contrib = False
        try:
            ok = bool(opt.available(exception_flag=False))
        except Exception as e:
            raise SolverUnavailable(f"{name}: {e}") from None
    if not ok:
        raise SolverUnavailable(f"{name} is not installed or not licensed on this machine "
                                "(Pyomo cannot run it); the default solver 'highs' needs only highspy")
    return PyomoMIP(name, opt, contrib, {**DEFAULT_OPTIONS.get(base, {}), **(options or {})})
