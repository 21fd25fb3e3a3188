"""Run any registered method on an instance and keep what it did, slot by slot.

Solvers are imported inside `simulate`, so importing optcache stays free of pyomo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from optcache.evaluator import PER_SLOT_COLUMNS
from optcache.instance import Instance
from optcache.results import MethodResult
from optcache.schedule import Schedule

SIMULATION_COLUMNS = ("method", *PER_SLOT_COLUMNS)
"""Columns of `Simulation.per_slot`: method, station, slot (1-based), the five §5 terms and their
total, per station and slot, before the 1/T average of (27)."""


@dataclass
class Simulation:
    """A method's run: its record, schedule, per-station per-slot cost terms and wall time."""

    result: MethodResult
    """The method's record (status, cost, bound, ...)."""
    schedule: Schedule | None
    """Its schedule, None if it failed."""
    per_slot: pd.DataFrame = field(repr=False)
    """Cost terms per station and slot, the evaluator's tidy table."""
    seconds: float
    """Wall time of the run, s."""

    @property
    def cost(self) -> float | None:
        """The evaluator's cost (27), cost units; None if the method failed."""
        return self.result.cost


def simulate(inst: Instance, method: str, **options) -> Simulation:
    """Run `method` through the registry; every schedule is scored by the evaluator."""
    from optcache.solvers import registry

    t0 = time.perf_counter()
    res = registry.run(method, inst, **options)
    seconds = time.perf_counter() - t0
    if res.evaluation is None:  # no schedule (status error): an empty table with the columns
        per_slot = pd.DataFrame({c: pd.Series(dtype=float) for c in SIMULATION_COLUMNS})
        per_slot["method"] = per_slot["method"].astype(object)
    else:
        per_slot = res.evaluation.per_slot.copy()
        per_slot.insert(0, "method", method)
    return Simulation(res, res.schedule, per_slot[list(SIMULATION_COLUMNS)], seconds)
