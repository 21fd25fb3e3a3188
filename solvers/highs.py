"""HiGHS, through highspy directly (`MatrixSolver`, the network form of (28)) or through
pyomo.contrib.solver (`solve_model`): time limit, relative gap, threads, and what it reports.

Progress goes to this module's logger: at INFO one line every `PROGRESS_SECONDS` of a MIP solve
(nodes, incumbent, bound, gap), at DEBUG HiGHS's own log, line by line. Nothing is printed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from optcache.errors import InfeasibleModel, InvalidInput, SolverFailed, SolverUnavailable
from optcache.logs import PROGRESS_SECONDS
from optcache.solvers import forked

log = logging.getLogger(__name__)

BOUND_EVERY = 0.5
"""A forked HiGHS sends its dual bound to the parent at most this often, s."""


@dataclass
class SolveInfo:
    """One HiGHS solve: termination ('optimal'|'time_limit'), objective, dual bound, time, nodes."""

    termination: str
    objective: float | None
    bound: float | None
    seconds: float
    nodes: int | None
    solver_version: str


_last_threads: int | None = None


def use_threads(threads: int) -> None:
    """HiGHS keeps one global thread pool, and a solve asking another thread count than the pool's
    stops at once with 'Not Set'. The pool is reset before every solve: not only optcache's own
    earlier solves start it, a user's own highspy solve in the same process does too (with HiGHS's
    default count), which broke every later `milp` call. The reset also leaves no worker threads
    behind for a fork (`fork_safe`); it costs microseconds against a MIP."""
    global _last_threads
    try:
        import highspy

        highspy.Highs.resetGlobalScheduler(True)
    except (ImportError, AttributeError):  # pragma: no cover - older highspy
        pass
    _last_threads = int(threads)


def fork_safe(threads: int, time_limit: float | None) -> bool:
    """A solve runs in a forked child killed at its limit: it has a finite limit, one thread, and
    HiGHS's global thread pool (which does not survive a fork) never started with more."""
    return time_limit is not None and bool(np.isfinite(time_limit)) and threads == 1 \
        and forked.usable() and _last_threads in (None, 1)


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


HIGHS_OPTIONS = {"mip_abs_gap": 1e-12, "random_seed": 0,
                 # tight integrality: x = 0.999999 would put the model's κ off the evaluator's by ~1e-6
                 "mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9}
"""HiGHS options of every Pyomo-driven solve (HiGHS's default absolute gap, 1e-6, would stop far
above a small relative gap on costs near 0.1)."""


def contrib_info(res, name: str, seconds: float, version: str) -> SolveInfo:
    """A `pyomo.contrib.solver` result as a SolveInfo, its incumbent loaded into the model.

    Infeasible is `InfeasibleModel`; a stop without an answer (a status such as Unknown) is
    `SolverFailed`; a time limit with or without an incumbent is 'time_limit', not an error."""
    from pyomo.contrib.solver.common.results import TerminationCondition as TC

    tc = res.termination_condition
    if tc in (TC.provenInfeasible, TC.infeasibleOrUnbounded, TC.locallyInfeasible):
        raise InfeasibleModel(f"{name}: the model is infeasible ({tc.name})")
    has_sol = res.incumbent_objective is not None
    if has_sol:
        res.solution_loader.load_vars()
    if tc == TC.convergenceCriteriaSatisfied:
        term = "optimal"
    elif tc in (TC.maxTimeLimit, TC.iterationLimit, TC.interrupted):
        term = "time_limit"
    else:
        raise SolverFailed(f"{name} stopped with {tc.name}")
    nodes = getattr(res.extra_info, "mip_node_count", None)
    bound = res.objective_bound
    return SolveInfo(term, res.incumbent_objective if has_sol else None,
                     None if bound is None else float(bound), seconds,
                     None if nodes is None or nodes < 0 else int(nodes), version)


def solve_model(model: pyo.ConcreteModel, *, time_limit: float | None = None, gap: float | None = None,
                threads: int = 1, solver=None) -> SolveInfo:
    """Solve a MILP; a time limit with an incumbent is 'time_limit', not an error."""
    opt = solver or highs_solver()
    use_threads(threads)
    t0 = time.perf_counter()
    opts = {"mip_rel_gap": 0.0 if gap is None else gap, **HIGHS_OPTIONS}
    res = opt.solve(model, time_limit=time_limit, threads=threads, load_solutions=False,
                    raise_exception_on_nonoptimal_result=False, solver_options=opts)
    version = ".".join(str(v) for v in opt.version())
    return contrib_info(res, f"HiGHS on {model.name!r}", time.perf_counter() - t0, version)


# ------------------------------------------------------------------ the matrix handed to highspy
def _highspy():
    try:
        import highspy
    except ImportError:
        raise SolverUnavailable("HiGHS (highspy) is not installed; pip install highspy") from None
    return highspy


def highs_version() -> str:
    """The version of the installed highspy, 'major.minor.patch'."""
    hs = _highspy()
    if hasattr(hs, "HIGHS_VERSION_MAJOR"):
        return f"{hs.HIGHS_VERSION_MAJOR}.{hs.HIGHS_VERSION_MINOR}.{hs.HIGHS_VERSION_PATCH}"
    return str(hs.Highs().version())


def quiet_highs():
    """(highspy, a silent single-threaded Highs) with tight tolerances: the LPs of the
    decomposition methods, which certify bounds from their duals."""
    from pyomo.common.tee import capture_output

    hs = _highspy()
    with capture_output(capture_fd=True):  # the banner goes to fd 1 before any option is set
        h = hs.Highs()
        h.setOptionValue("output_flag", False)
    for k, v in {"threads": 1, "random_seed": 0, "primal_feasibility_tolerance": 1e-9,
                 "dual_feasibility_tolerance": 1e-9}.items():
        h.setOptionValue(k, v)
    return hs, h


class _Progress:
    """HiGHS callbacks that log: a throttled INFO line from the MIP interrupt callback (the only
    one HiGHS fires with its output off), and at DEBUG its log lines, to this module's logger (in a
    forked solve the parent re-logs them)."""

    def __init__(self, h, label: str):
        self.h, self.label, self.last, self.buf = h, label, time.monotonic(), ""
        self.info = log.isEnabledFor(logging.INFO)
        self.debug = log.isEnabledFor(logging.DEBUG)

    def __enter__(self) -> _Progress:
        if self.debug:
            self.h.setOptionValue("output_flag", True)
            self.h.setOptionValue("log_to_console", False)
            self.h.cbLogging += self.on_log
        if self.info:
            self.h.cbMipInterrupt += self.on_mip
        return self

    def __exit__(self, *exc) -> None:
        if self.info:
            self.h.cbMipInterrupt -= self.on_mip
        if self.debug:
            self.h.cbLogging -= self.on_log
            self.h.setOptionValue("output_flag", False)
            if self.buf.strip():
                log.debug("%s", self.buf.rstrip())
            self.buf = ""

    def on_log(self, e) -> None:
        self.buf += e.message
        *lines, self.buf = self.buf.split("\n")
        for line in lines:
            if line.strip():
                log.debug("%s", line.rstrip())

    def on_mip(self, e) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        d = e.data_out
        primal, dual = d.mip_primal_bound, d.mip_dual_bound
        inc = f"{primal:.6g}" if np.isfinite(primal) else "none"
        gap = f"{100 * d.mip_gap:.3g} %" if np.isfinite(d.mip_gap) else "-"
        log.info("%s: %d nodes, incumbent %s, bound %.6g, gap %s, %.0f s", self.label,
                 int(d.mip_node_count), inc, dual, gap, d.running_time)


def set_options(h, hs, options: dict | None) -> None:
    """Set HiGHS options on `h`; one HiGHS refuses (unknown, wrong type or range) is InvalidInput."""
    for k, v in (options or {}).items():
        if h.setOptionValue(str(k), v) == hs.HighsStatus.kError:
            raise InvalidInput(f"solver_options.{k}", f"HiGHS refuses {v!r} (an unknown option "
                               "or a value of the wrong type or range; see HiGHS's option list)")


def check_options(options: dict | None) -> None:
    """Refuse (InvalidInput) HiGHS options before any model is built."""
    if options:
        hs, h = quiet_highs()
        set_options(h, hs, options)


class MatrixSolver:
    """A HiGHS object holding a `models.matrix28.MatrixModel`; rows can be appended between solves.

    `options` are HiGHS options (name → value) set after optcache's own, so they override them;
    the time limit and the gap are set by each `solve`. An option HiGHS refuses is InvalidInput."""

    def __init__(self, mm, *, threads: int = 1, lp_solver: str = "ipm", options: dict | None = None,
                 label: str = "milp"):
        from pyomo.common.tee import capture_output

        hs = _highspy()
        self.hs, self.mm = hs, mm
        with capture_output(capture_fd=True):  # the banner goes to fd 1 before any option is set
            h = hs.Highs()
            h.setOptionValue("output_flag", False)
        lp = hs.HighsLp()
        lp.num_col_, lp.num_row_ = mm.n_cols, mm.n_rows
        lp.col_cost_ = np.asarray(mm.c, float)
        lp.col_lower_ = np.asarray(mm.lb, float)
        lp.col_upper_ = np.asarray(mm.ub, float)
        lp.row_lower_ = np.asarray(mm.row_lo, float)
        lp.row_upper_ = np.asarray(mm.row_hi, float)
        lp.offset_ = float(mm.c0)
        start, index, value = mm.csr()
        A = lp.a_matrix_
        A.format_ = hs.MatrixFormat.kRowwise
        A.start_, A.index_, A.value_ = start, index, value
        A.num_col_, A.num_row_ = mm.n_cols, mm.n_rows
        lp.integrality_ = [hs.HighsVarType.kInteger if i else hs.HighsVarType.kContinuous
                           for i in mm.integer]
        if h.passModel(lp) == hs.HighsStatus.kError:
            raise SolverFailed("HiGHS refused problem (28) (coefficients beyond its ranges?)")
        self.threads = int(threads)
        for k, v in {"threads": int(threads), "random_seed": 0, "mip_abs_gap": 1e-12,
                     "mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9,
                     "mip_lp_solver": lp_solver}.items():
            h.setOptionValue(k, v)
        set_options(h, hs, options)
        self.h = h
        self.label = label

    def add_rows(self, rows: list[tuple]) -> None:
        """Append rows (cols, vals, lo) with no upper bound (the tangent cuts)."""
        if not rows:
            return
        lo = np.array([r[2] for r in rows], float)
        hi = np.full(len(rows), np.inf)
        starts = np.cumsum([0] + [len(r[0]) for r in rows[:-1]]).astype(np.int32)
        idx = np.concatenate([np.asarray(r[0], np.int32) for r in rows])
        val = np.concatenate([np.asarray(r[1], float) for r in rows])
        self.h.addRows(len(rows), lo, hi, len(idx), starts, idx, val)

    def solve(self, *, time_limit: float | None = None,
              gap: float | None = None) -> tuple[SolveInfo, np.ndarray | None]:
        """Run the MIP; return what happened and the incumbent's column values (None if none).

        With a time limit and one thread the MIP runs in a forked child that is killed at the
        limit (HiGHS's own limit is `forked.own_limit` of it): HiGHS 1.16 checks neither its time
        limit nor its callbacks during the root's cut separation, which overran 60-s limits by up
        to 14 s (benchmarks/RESULTS.md, "Peer solvers"). The child passes each improving solution
        and the dual bound back, so a killed solve still returns its incumbent and bound
        ('time_limit'). Without `os.fork`, without a limit or with several threads (HiGHS's
        thread pool does not survive a fork) it runs in this process (docs/formulation.md §14)."""
        h = self.h
        h.setOptionValue("mip_rel_gap", 0.0 if gap is None else float(gap))
        use_threads(self.threads)
        if fork_safe(self.threads, time_limit):
            h.setOptionValue("time_limit", forked.own_limit(float(time_limit)))
            return self._solve_forked(float(time_limit))
        h.setOptionValue("time_limit", float(time_limit) if time_limit is not None else np.inf)
        t0 = time.perf_counter()
        with _Progress(h, self.label):
            _run(h)
        return self._report(time.perf_counter() - t0)

    def _report(self, seconds: float) -> tuple[SolveInfo, np.ndarray | None]:
        """The finished run's SolveInfo and incumbent (InfeasibleModel, SolverFailed as they are)."""
        hs, h = self.hs, self.h
        ms = h.getModelStatus()
        info = h.getInfo()
        MS = hs.HighsModelStatus
        if ms in (MS.kInfeasible, MS.kUnboundedOrInfeasible):
            raise InfeasibleModel(f"problem (28) is infeasible ({h.modelStatusToString(ms)})")
        has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if ms == MS.kOptimal:
            term = "optimal"
        elif ms in (MS.kTimeLimit, MS.kIterationLimit, MS.kInterrupt, MS.kSolutionLimit):
            term = "time_limit"
        else:
            raise SolverFailed(f"HiGHS stopped with {h.modelStatusToString(ms)}")
        values = np.asarray(h.getSolution().col_value, float) if has_sol else None
        nodes = int(info.mip_node_count) if info.mip_node_count >= 0 else None
        return SolveInfo(term, info.objective_function_value if has_sol else None,
                         float(info.mip_dual_bound), seconds, nodes, highs_version()), values

    def _solve_forked(self, time_limit: float) -> tuple[SolveInfo, np.ndarray | None]:
        """`solve` in a forked child, killed at the time limit (see `solve`)."""
        t0 = time.perf_counter()
        seen = {"incumbent": None, "values": None, "bound": -np.inf, "nodes": None}

        def on_message(kind: str, msg: tuple) -> None:
            if kind == "incumbent":
                seen["incumbent"], seen["values"] = msg[0], msg[1]
            seen["bound"], seen["nodes"] = max(seen["bound"], msg[-2]), msg[-1]

        final = forked.call(lambda send: self._child(send, t0), t0 + time_limit, on_message, "HiGHS")
        seconds = time.perf_counter() - t0
        if final is None:
            log.info("%s: HiGHS passed the time limit (%.1f s); stopped at %.1f s", self.label,
                     time_limit, seconds)
            bound = seen["bound"]
            return SolveInfo("time_limit", seen["incumbent"], bound if np.isfinite(bound) else None,
                             seconds, seen["nodes"], highs_version()), seen["values"]
        info, vals = final
        return SolveInfo(info.termination, info.objective, info.bound, seconds, info.nodes,
                         info.solver_version), vals

    def _child(self, send, t0: float) -> tuple[SolveInfo, np.ndarray | None]:
        """The forked child's run: improving solutions and bounds are sent as they come
        ('incumbent', objective, values, bound, nodes), ('bound', bound, nodes)."""
        h = self.h

        def improving(e):
            d = e.data_out
            send("incumbent", float(d.objective_function_value), np.array(d.mip_solution, float),
                 float(d.mip_dual_bound), int(d.mip_node_count))

        last = [0.0]

        def interrupt(e):
            now = time.monotonic()
            if now - last[0] >= BOUND_EVERY:
                last[0] = now
                send("bound", float(e.data_out.mip_dual_bound), int(e.data_out.mip_node_count))

        h.cbMipImprovingSolution += improving
        h.cbMipInterrupt += interrupt
        with _Progress(h, self.label):
            _run(h)
        return self._report(time.perf_counter() - t0)


def _run(h) -> None:
    """Run HiGHS on `h` (a seam for tests that simulate a solver ignoring its time limit)."""
    h.run()
