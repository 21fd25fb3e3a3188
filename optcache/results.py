"""One result record for every method, exact or heuristic (after Pyomo's Results, linopy's SolverReport)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from optcache.errors import InvalidInput, finite
from optcache.evaluator import Evaluation, evaluate
from optcache.instance import Instance
from optcache.schedule import Schedule

ROUNDING = 1e-12
"""A bound above the evaluator's cost by at most this (relative) is rounding and reported as the
cost; further above, it stays visible (it would be a wrong bound)."""


class Status(StrEnum):
    """Whether a method produced a usable schedule (JSON and tables hold the value strings)."""

    OK = "ok"
    """A feasible schedule, proven optimal or not (see `Termination`)."""
    WARNING = "warning"
    """A schedule that the evaluator finds infeasible."""
    ERROR = "error"
    """No schedule; `MethodResult.message` says why."""


class Termination(StrEnum):
    """Why a method stopped (after Pyomo's TerminationCondition, linopy's TerminationCondition)."""

    OPTIMAL = "optimal"
    """Gap <= max(the requested gap, 1e-9), certified by the bound: the exact methods treat a
    relative gap of 1e-9 as zero (`GAP_FLOOR`, floating-point noise between a bound and the
    evaluator), so gap = 0 may end optimal with a gap of 1e-10."""
    TIME_LIMIT = "time_limit"
    """Stopped before proving the requested gap: the incumbent at the time limit, or, for a gap
    below what the bound resolves numerically (gap = 0 on costs dominated by large fixed
    terms), with nothing left to try. ok, not proven within that gap; `gap` says how close."""
    HEURISTIC = "heuristic"
    """A method without a bound."""
    INFEASIBLE = "infeasible"
    """The problem has no feasible schedule."""
    ERROR = "error"
    """The method failed (a solver status such as Unknown, a model too large)."""




def relative_gap(cost: float | None, bound: float | None) -> float | None:
    """(cost - bound) / max(|cost|, 1e-10), the MIP convention; None without a bound (or cost)."""
    if cost is None or bound is None:
        return None
    for name, v in (("cost", cost), ("bound", bound)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or np.isnan(v):
            raise InvalidInput(name, f"must be a number, got {v!r}"[:120])
    if not np.isfinite(bound) or not np.isfinite(cost):
        return None
    return max(cost - bound, 0.0) / max(abs(cost), 1e-10)


@dataclass
class MethodResult:
    """What every method returns: status, termination, evaluator cost, bound, gap, time, solver."""

    method: str
    """The registry name of the method."""
    status: Status
    """`ok`, `warning` (infeasible schedule) or `error` (no schedule)."""
    termination: Termination
    """Why the method stopped: `optimal`, `time_limit`, `heuristic`, `infeasible` or `error`."""
    cost: float | None
    """The evaluator's cost (27) of the schedule, cost units; None without a schedule."""
    bound: float | None
    """A certified lower bound on the optimum of (28), cost units; None for heuristics."""
    seconds: float
    """Wall time of the method, s, model building included."""
    schedule: Schedule | None = field(default=None, repr=False)
    """The decisions a and x of every station, None on error."""
    evaluation: Evaluation | None = field(default=None, repr=False)
    """The evaluator's verdict on `schedule`: feasibility, terms, per-slot table."""
    nodes: int | None = None
    """Branch-and-bound nodes of the method's solves, summed over stations (exact methods) and
    windows (`rolling`); None for the policies, the references and `slot`, which report none."""
    solver: str | None = None
    """The solver the method ran, e.g. `highs` (for an exact method, the one behind the bound;
    `slot` and `rolling` run one but have no bound); None if it ran none."""
    solver_version: str | None = None
    """That solver's version."""
    extras: dict[str, Any] = field(default_factory=dict, repr=False)
    """Method-specific values (options used, windows, rounds); the scalars appear in `details`."""

    def __post_init__(self) -> None:
        # a plain string is accepted and typed; an unknown one, or a number that is not finite
        # (a method of the user's returning NaN), is InvalidInput naming the field
        for name, kind in (("status", Status), ("termination", Termination)):
            try:
                setattr(self, name, kind(getattr(self, name)))
            except ValueError:
                raise InvalidInput(name, f"must be one of {', '.join(k.value for k in kind)}, got "
                                   f"{getattr(self, name)!r}"[:160]) from None
        for name in ("cost", "bound", "seconds"):
            v = getattr(self, name)
            if v is None and name != "seconds":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not finite(v) or (name == "seconds" and v < 0):
                raise InvalidInput(name, f"must be a finite number{' >= 0' if name == 'seconds' else ''}"
                                   f"{'' if name == 'seconds' else ' or None'}, got {v!r}"[:160])

    @property
    def gap(self) -> float | None:
        """(cost − bound) / |cost| (`relative_gap`), a fraction; None without a bound."""
        return relative_gap(self.cost, self.bound)

    @classmethod
    def from_schedule(cls, inst: Instance, method: str, schedule: Schedule, seconds: float, *,
                      termination: Termination | str = Termination.HEURISTIC, bound: float | None = None,
                      **kw: Any) -> MethodResult:
        """Score a method's schedule with the evaluator and wrap it in a record."""
        ev = evaluate(inst, schedule)
        status = Status.OK if ev.feasible else Status.WARNING
        if bound is not None and ev.feasible and ev.cost < bound <= ev.cost + ROUNDING * max(1.0, abs(ev.cost)):
            bound = ev.cost  # per-station bounds summed apart from the evaluator's cost: rounding only
        return cls(method, status, termination, ev.cost, bound, seconds, schedule, ev, **kw)

    @classmethod
    def failed(cls, method: str, message: str, seconds: float, **kw: Any) -> MethodResult:
        """No schedule: status and termination 'error', `message` (one line) says why."""
        line = " ".join(str(message).split())[:300]
        return cls(method, Status.ERROR, Termination.ERROR, None, None, seconds, extras={"message": line}, **kw)

    @property
    def message(self) -> str | None:
        """Why a method failed (status 'error'), else None."""
        msg = self.extras.get("message") if isinstance(self.extras, dict) else None
        return msg if isinstance(msg, str) else None

    @property
    def details(self) -> dict:
        """The method's scalar extras (options it ran with, windows solved, fallbacks, rounds), JSON-safe."""
        out = {}
        for k, v in (self.extras or {}).items():
            if k == "message" or not (v is None or isinstance(v, (str, bool, int, float, np.integer, np.floating))):
                continue
            if isinstance(v, (float, np.floating)) and not np.isfinite(v):
                continue
            out[k] = v.item() if hasattr(v, "item") else v
        return out

    def to_contract(self, *, seed: int | None = None) -> dict:
        """The JSON object `optcache solve` prints (docs/formulation.md §14): the result, its `details`,
        and its provenance (schema, versions, solver, the instance's generator `seed` if known)."""
        from optcache.provenance import SOLVE_SCHEMA, SOLVER_PACKAGES, provenance

        return {
            "format": SOLVE_SCHEMA,
            "method": self.method,
            "status": Status(self.status).value,
            "termination": Termination(self.termination).value,
            "cost": self.cost,
            "bound": self.bound,
            "gap": self.gap,
            "seconds": self.seconds,
            "nodes": self.nodes,
            "solver": self.solver,
            "solver_version": self.solver_version,
            "terms": None if self.evaluation is None else self.evaluation.terms,
            "message": self.message,
            "details": self.details,
            "provenance": provenance(SOLVE_SCHEMA, packages=SOLVER_PACKAGES, seed=seed,
                                     solver=self.solver, solver_version=self.solver_version),
            "schedule": None if self.schedule is None else self.schedule.to_dict(),
        }

    def summary(self) -> dict:
        """A flat row for tables (no schedule, details or provenance)."""
        row = {"method": self.method, "status": Status(self.status).value, "termination": Termination(self.termination).value,
               "cost": self.cost, "bound": self.bound, "gap": self.gap, "seconds": self.seconds,
               "nodes": self.nodes, "solver": self.solver, "solver_version": self.solver_version,
               "message": self.message}
        if self.evaluation is not None:
            row.update(self.evaluation.terms)
        return row
