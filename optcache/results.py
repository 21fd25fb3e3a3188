"""One result record for every method, exact or heuristic (after Pyomo's Results, linopy's SolverReport)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optcache.evaluator import Evaluation, evaluate
from optcache.instance import Instance
from optcache.schedule import Schedule

STATUSES = ("ok", "warning", "error")
"""`ok`: a feasible schedule (proven optimal or not, see `termination`); `warning`: a schedule that
the evaluator finds infeasible; `error`: no schedule."""

TERMINATIONS = ("optimal", "time_limit", "heuristic", "infeasible", "error")
"""`optimal`: gap <= the requested gap, certified by the bound; `time_limit`: the incumbent at the
time limit (ok, not proven optimal); `heuristic`: a method without a bound."""


def relative_gap(cost: float | None, bound: float | None) -> float | None:
    """(cost - bound) / max(|cost|, 1e-10), the MIP convention; None without a bound."""
    if cost is None or bound is None or not np.isfinite(bound):
        return None
    return max(cost - bound, 0.0) / max(abs(cost), 1e-10)


@dataclass
class MethodResult:
    """What every method returns: status, termination, evaluator cost, bound, gap, time, solver."""

    method: str
    status: str
    termination: str
    cost: float | None
    bound: float | None
    seconds: float
    schedule: Schedule | None = field(default=None, repr=False)
    evaluation: Evaluation | None = field(default=None, repr=False)
    nodes: int | None = None
    solver: str | None = None
    solver_version: str | None = None
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def gap(self) -> float | None:
        return relative_gap(self.cost, self.bound)

    @classmethod
    def from_schedule(cls, inst: Instance, method: str, schedule: Schedule, seconds: float, *,
                      termination: str = "heuristic", bound: float | None = None,
                      **kw: Any) -> MethodResult:
        """Score a method's schedule with the evaluator and wrap it in a record."""
        ev = evaluate(inst, schedule)
        status = "ok" if ev.feasible else "warning"
        return cls(method, status, termination, ev.cost, bound, seconds, schedule, ev, **kw)

    @classmethod
    def failed(cls, method: str, message: str, seconds: float, **kw: Any) -> MethodResult:
        """No schedule: status and termination 'error', `message` (one line) says why."""
        line = " ".join(str(message).split())[:300]
        return cls(method, "error", "error", None, None, seconds, extras={"message": line}, **kw)

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
        """The JSON object `optcache solve` prints (FORMULATION §14): the result, its `details`,
        and its provenance (schema, versions, solver, the instance's generator `seed` if known)."""
        from optcache.provenance import SOLVE_SCHEMA, SOLVER_PACKAGES, provenance

        return {
            "format": SOLVE_SCHEMA,
            "method": self.method,
            "status": self.status,
            "termination": self.termination,
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
        row = {"method": self.method, "status": self.status, "termination": self.termination,
               "cost": self.cost, "bound": self.bound, "gap": self.gap, "seconds": self.seconds,
               "nodes": self.nodes, "solver": self.solver, "solver_version": self.solver_version,
               "message": self.message}
        if self.evaluation is not None:
            row.update(self.evaluation.terms)
        return row
