"""The evaluator: feasibility and cost of a schedule (FORMULATION §4–§5). The single source of truth.

Every method's schedule is scored here; solver objectives are checked against it. Violations are
reported, never raised; only a schedule whose shape does not fit its instance is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optcache.dynamics import State, trajectory
from optcache.instance import Instance, StationData
from optcache.schedule import Schedule

TERMS = ("switching", "transmission", "computing", "accuracy", "cloud")
"""Cost terms of FORMULATION §4, in the order of the paper's equations (21)–(24), (26)."""

TOL = 1e-9
"""Relative and absolute tolerance of every feasibility check."""


@dataclass
class StationEvaluation:
    """Per-slot terms (T, 5), violations, and the K/κ trajectories of one station."""

    terms: np.ndarray
    violations: list[dict]
    K: np.ndarray
    kappa: np.ndarray

    @property
    def cost(self) -> float:
        """L_n of (27): the slot average of all five terms."""
        return float(self.terms.sum() / self.terms.shape[0])


def _exceeds(lhs: np.ndarray, rhs: float) -> np.ndarray:
    """lhs > rhs beyond the tolerance, elementwise."""
    return lhs > rhs + TOL * max(1.0, abs(rhs))


def evaluate_station(data: StationData, a: np.ndarray, x: np.ndarray, state0: State | None = None,
                     station: int = 0, slot0: int = 0) -> StationEvaluation:
    """Score one station's (a, x), shape (T, P), from state0 (cold by default).

    Slots in violations are 1-based as in the paper; `slot0` offsets them (rolling-horizon windows).
    """
    a = np.asarray(a, float)
    x = np.asarray(x, float)
    R = data.R.astype(float)
    T, P = R.shape
    if a.shape != (T, P) or x.shape != (T, P):
        raise ValueError(f"schedule shape {a.shape}/{x.shape} does not fit the station's {(T, P)}")
    st0 = state0 or State.cold(P)
    viol: list[dict] = []

    def add(constraint: str, t: int, p: int | None, value: float, limit: float) -> None:
        # plain ints, so the CLI's JSON prints "slot": 1, not 1.0 (argwhere yields numpy ints)
        viol.append({"constraint": constraint, "station": int(station), "slot": int(slot0 + t + 1),
                     "pair": None if p is None else int(p), "value": float(value),
                     "limit": float(limit)})

    # integrality (28d) and the range of x
    for t, p in np.argwhere((a != 0) & (a != 1)):
        add("integrality_28d", t, p, a[t, p], 1)
    for t, p in np.argwhere(np.abs(x - np.round(x)) > TOL):
        add("integrality_x", t, p, x[t, p], np.round(x[t, p]))
    for t, p in np.argwhere(x < -TOL):
        add("edge_requests_nonnegative", t, p, x[t, p], 0)
    # edge only if cached (4): x <= R a; this also enforces x <= R
    for t, p in np.argwhere(x > R * a + TOL):
        add("edge_only_if_cached_4", t, p, x[t, p], R[t, p] * a[t, p])
    # memory (3)
    mem = a @ data.s
    for t in np.nonzero(_exceeds(mem, data.G))[0]:
        add("memory_3", t, None, mem[t], data.G)
    # compute budget (5), in FLOP per slot
    flops = x @ data.flops_per_request
    for t in np.nonzero(_exceeds(flops, data.E))[0]:
        add("compute_budget_5", t, None, flops[t], data.E)
    # context window (28c) through the dynamics (18)
    K, kappa = trajectory(a, x, data.k, data.delta, st0)
    for t, p in np.argwhere(K > data.w * (1 + TOL) + TOL):
        add("context_window_28c", t, p, K[t, p], data.w[p])

    prev = np.vstack([st0.cached[None, :], a[:-1]])
    terms = np.zeros((T, len(TERMS)))
    terms[:, 0] = data.lam * np.maximum(a - prev, 0.0).sum(axis=1)
    off = R - x
    terms[:, 1] = R @ data.access + off @ (data.d / data.rC)
    terms[:, 2] = x @ data.comp_unit
    terms[:, 3] = (x * data.acc_coef / (kappa + data.kappa0)).sum(axis=1)
    terms[:, 4] = off @ data.l0
    return StationEvaluation(terms, viol, K, kappa)


@dataclass
class Evaluation:
    """Feasibility and cost of a whole schedule; `per_slot` is the tidy table behind the totals."""

    feasible: bool
    violations: list[dict]
    cost: float
    terms: dict[str, float]
    per_slot: pd.DataFrame = field(repr=False)

    @property
    def station_costs(self) -> np.ndarray:
        """L_n for every station: slot averages of the per-slot totals."""
        g = self.per_slot.groupby("station")["total"]
        return (g.sum() / g.count()).to_numpy()

    def to_contract(self) -> dict:
        """The JSON object `optcache evaluate` prints (FORMULATION §10)."""
        return {"feasible": self.feasible, "violations": self.violations, "cost": self.cost,
                "terms": dict(self.terms)}


PER_SLOT_COLUMNS = ("station", "slot", *TERMS, "total")
"""Columns of `Evaluation.per_slot`: one row per station and slot (1-based slot), terms as in
FORMULATION §4 before the 1/T average of (27)."""


def evaluate(inst: Instance, schedule: Schedule) -> Evaluation:
    """Score a schedule on an instance: every station by `evaluate_station`, summed over stations."""
    from optcache.errors import InvalidInput

    if len(schedule.stations) != inst.n_stations:
        raise InvalidInput("stations", f"schedule has {len(schedule.stations)} stations, the instance {inst.n_stations}")
    blocks, violations = [], []
    for n, ss in enumerate(schedule.stations):
        shape = (inst.slots, inst.n_pairs)
        for key, arr in (("cached", ss.cached), ("edge_requests", ss.edge_requests)):
            if arr.shape != shape:
                raise InvalidInput(f"stations[{n}].{key}", f"expected shape {shape} (slots, pairs), got {arr.shape}")
        ev = evaluate_station(inst.station_data(n), ss.cached, ss.edge_requests, station=n)
        violations += ev.violations
        blocks.append(ev.terms)
    T, N = inst.slots, len(blocks)
    allterms = np.vstack(blocks) if blocks else np.zeros((0, len(TERMS)))
    per_slot = pd.DataFrame({"station": np.repeat(np.arange(N), T), "slot": np.tile(np.arange(1, T + 1), N),
                             **{k: allterms[:, j] for j, k in enumerate(TERMS)},
                             "total": allterms.sum(axis=1)})
    terms = {k: float(per_slot[k].sum() / T) for k in TERMS}
    cost = float(per_slot["total"].sum() / T)
    return Evaluation(not violations, violations, cost, terms, per_slot)
