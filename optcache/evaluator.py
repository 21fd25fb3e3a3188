"""The evaluator: feasibility and cost of a schedule (docs/formulation.md §5–§6). The single source of truth.

Every method's schedule is scored here; solver objectives are checked against it. Violations are
reported, never raised; only a schedule whose shape does not fit its instance is an error.
Costs are finite and non-negative or absent: a pair whose decisions leave their domain
(`0 ≤ a ≤ 1`, `0 ≤ x ≤ R`) is reported and not scored, and its station's cost is NaN (None in
`Evaluation`), never a number the formulas were not written for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from optcache.dynamics import State, trajectory
from optcache.errors import InvalidInput
from optcache.instance import Instance, StationData, require_instance, require_station_data
from optcache.schedule import Schedule

TERMS = ("switching", "transmission", "computing", "accuracy", "cloud")
"""Cost terms of docs/formulation.md §5, in the order of the paper's equations (21)–(24), (26)."""

TOL = 1e-9
"""Relative and absolute tolerance of every feasibility check."""


@dataclass
class StationEvaluation:
    """Per-slot terms (T, 5), violations, and the K/κ trajectories of one station."""

    terms: np.ndarray
    """Per-slot cost terms, shape (T, 5) in `TERMS` order, before the 1/T average (cost units)."""
    violations: list[dict]
    """Violation records `{constraint, station, slot, pair, value, limit}` (§3), slots 1-based."""
    K: np.ndarray
    """Context fill K (18) per slot and pair, tokens, shape (T, P)."""
    kappa: np.ndarray
    """K and κ per slot and pair; NaN for a pair whose `a` leaves [0, 1] (no dynamics then)."""

    @property
    def scored(self) -> bool:
        """Every pair's decisions are in their domain, so the terms (and the cost) are numbers."""
        return not np.isnan(self.terms).any()

    @property
    def cost(self) -> float:
        """L_n of (27): the slot average of all five terms (NaN if not `scored`)."""
        return float(self.terms.sum() / self.terms.shape[0])


def accepted(limit: float) -> float:
    """The largest left-hand side the checks accept for a row with this right-hand side (TOL
    relative to the limit, absolute below 1): solvers use it as the capacity of (3) and (5)."""
    return limit + TOL * max(1.0, abs(limit))


def capacity_scale(limit: float) -> float:
    """What rows (3) and (5) are divided by in every solver model (FLOP counts ~1e14 would spoil
    the scaling): the limit itself, so that a pair filling it has share exactly 1 (HiGHS 1.16
    called a station infeasible whose shares were 1 − 1e-9 against a right-hand side of 1), and
    `accepted(limit)` for a limit below the tolerance (0, 1e-300), which would give huge shares."""
    return limit if limit >= TOL * max(1.0, abs(limit)) else accepted(limit)


def capacity_shares(use: np.ndarray, limit: float) -> np.ndarray:
    """Each pair's use of row (3) or (5) divided by `capacity_scale(limit)`, 0 for a pair whose
    use alone exceeds `accepted(limit)` (solvers never load it, or never let it serve)."""
    use = np.asarray(use, float)
    return np.divide(use, capacity_scale(limit), out=np.zeros(len(use)), where=use <= accepted(limit))


def capacity_rhs(limit: float) -> float:
    """The right-hand side of a row written with `capacity_shares`: the accepted capacity."""
    return accepted(limit) / capacity_scale(limit)


class CapacityRows(NamedTuple):
    """Rows (3) and (5) as every solver model writes them (`capacity_shares`, `capacity_rhs`)."""

    mem: np.ndarray
    """Each pair's memory as a share of the capacity (0 where it does not fit alone)."""
    bud: np.ndarray
    """Each pair's FLOP per request as a share of the budget (0 where one request does not fit)."""
    mem_rhs: float
    """Right-hand side of the memory row."""
    bud_rhs: float
    """Right-hand side of the budget row."""
    fits: np.ndarray
    """Pairs that fit the memory alone: the others are never loaded."""
    serves: np.ndarray
    """Pairs that fit and can serve one request within the budget: the others never serve."""


def capacity_rows(data: StationData) -> CapacityRows:
    """The station's rows (3) and (5) scaled for a solver, and which pairs can take part in them."""
    fits = data.s <= accepted(data.G)
    return CapacityRows(capacity_shares(data.s, data.G), capacity_shares(data.flops_per_request, data.E),
                        capacity_rhs(data.G), capacity_rhs(data.E),
                        fits, fits & (data.flops_per_request <= accepted(data.E)))


def _exceeds(lhs: np.ndarray, rhs: float) -> np.ndarray:
    """lhs > rhs beyond the tolerance, elementwise."""
    return lhs > accepted(rhs)


def evaluate_station(data: StationData, a: np.ndarray, x: np.ndarray, state0: State | None = None,
                     station: int = 0, slot0: int = 0) -> StationEvaluation:
    """Score one station's (a, x), shape (T, P), from state0 (cold by default).

    Slots in violations are 1-based as in the paper; `slot0` offsets them (rolling-horizon windows).
    `data` is checked first (`require_station_data`: one changed by hand with a NaN capacity would
    otherwise compare as never exceeded).
    """
    require_station_data(data)
    for name, v in (("station", station), ("slot0", slot0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise InvalidInput(name, f"must be a non-negative integer, got {v!r}")
    return _evaluate_station(data, a, x, state0, station, slot0)


def _evaluate_station(data: StationData, a: np.ndarray, x: np.ndarray, state0: State | None,
                      station: int, slot0: int) -> StationEvaluation:
    """`evaluate_station` on data known to be valid (`evaluate`'s, from a checked instance)."""
    a = np.asarray(a, float)
    x = np.asarray(x, float)
    R = data.R.astype(float)
    T, P = R.shape
    if a.shape != (T, P) or x.shape != (T, P):
        raise InvalidInput("schedule", f"shape {a.shape}/{x.shape} does not fit the station's {(T, P)}")
    st0 = State.check(state0, P)
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
    # context window (28c) through the dynamics (18), for pairs whose a has a meaning
    K, kappa, per, scored = _scored_terms(data, a, x, st0)
    for t, p in np.argwhere(K > data.w * (1 + TOL) + TOL):
        add("context_window_28c", t, p, K[t, p], data.w[p])
    terms = _checked(np.stack([per[k].sum(axis=1) for k in TERMS], axis=1), station)
    if not scored.all():  # no total for the station rather than a partial one
        terms[:] = np.nan
    return StationEvaluation(terms, viol, K, kappa)


def _scored_terms(data: StationData, a: np.ndarray, x: np.ndarray, st0: State
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """K, κ, `_pair_terms` and which pairs are scored: those within 0 ≤ a ≤ 1 and 0 ≤ x ≤ R.

    x within TOL of its box is scored clipped to it (the checks accept it); an unscored pair's
    terms are 0 here (callers mark them NaN), and the dynamics of a pair whose a leaves [0, 1]
    (they multiply by a each slot and can overflow) are NaN, not computed."""
    R = data.R.astype(float)
    a_ok = ((a >= 0) & (a <= 1)).all(axis=0)
    scored = a_ok & ((x >= -TOL) & (x <= R + TOL)).all(axis=0)
    xs = np.clip(x, 0.0, R)
    if a_ok.all():
        K, kappa = trajectory(a, x, data.k, data.delta, st0)
    else:
        K, kappa = trajectory(np.where(a_ok, a, 0.0), np.where(a_ok, x, 0.0), data.k, data.delta, st0)
        K[:, ~a_ok] = np.nan
        kappa[:, ~a_ok] = np.nan
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # `_checked` refuses them
        if scored.all():
            per = _pair_terms(data, a, xs, kappa, st0)
        else:
            per = _pair_terms(data, np.where(scored, a, 0.0), np.where(scored, xs, 0.0),
                              np.where(scored, kappa, 0.0), st0)
    return K, kappa, per, scored


def _checked(values: np.ndarray, station: int) -> np.ndarray:
    """`values` (costs) if all finite and ≥ 0; else the data is outside RANGES: InvalidInput."""
    if not (np.isfinite(values).all() and (values.size == 0 or values.min() >= 0)):
        raise InvalidInput(f"stations[{station}]", "cost terms are not finite and non-negative: the "
                           "station's data is outside the ranges of docs/formulation.md §14")
    return values


def _pair_terms(data: StationData, a: np.ndarray, x: np.ndarray, kappa: np.ndarray,
                st0: State) -> dict[str, np.ndarray]:
    """The five cost terms of docs/formulation.md §5 for every slot and pair, shape (T, P) each,
    before the 1/T average of (27): the one place their formulas are written."""
    R = data.R.astype(float)
    prev = np.vstack([np.asarray(st0.cached, float)[None, :], a[:-1]])
    off = R - x
    return {
        "switching": data.lam * np.maximum(a - prev, 0.0),                      # (21)
        "transmission": R * data.access + off * (data.d / data.rC),             # (22)
        "computing": x * data.comp_unit,                                        # (23)
        "accuracy": x * data.acc_coef / (kappa + data.kappa0),                  # (24)
        "cloud": off * data.l0,                                                 # (26)
    }


def serve_unit_cost(data: StationData, kappa: np.ndarray) -> np.ndarray:
    """What one request served at the edge instead of the cloud adds to a slot's cost, per pair,
    with the AoT held at `kappa`: computing (23) and accuracy (24) less backhaul (22) and cloud
    (26); the x-slope of `_pair_terms` (tests/test_evaluator.py checks the two agree)."""
    return data.comp_unit + data.acc_coef / (np.asarray(kappa, float) + data.kappa0) - data.d / data.rC - data.l0


def pair_costs(data: StationData, a: np.ndarray, x: np.ndarray, state0: State | None = None) -> np.ndarray:
    """Each pair's share of L_n (27) for the schedule (a, x): its five terms, slot-averaged.

    Feasibility is not checked (see `evaluate_station`); the shares sum to the station's cost.
    A pair outside its domain (0 ≤ a ≤ 1, 0 ≤ x ≤ R) has a NaN share."""
    a = np.asarray(a, float)
    x = np.asarray(x, float)
    st0 = state0 or State.cold(a.shape[1])
    _, _, per, scored = _scored_terms(data, a, x, st0)
    shares = _checked(sum(per[k] for k in TERMS).sum(axis=0) / data.T, 0)
    shares[~scored] = np.nan
    return shares


@dataclass
class Evaluation:
    """Feasibility and cost of a whole schedule; `per_slot` is the tidy table behind the totals."""

    feasible: bool
    """True when there is no violation of (3), (4), (5), (28c) or integrality."""
    violations: list[dict]
    """Every violation record `{constraint, station, slot, pair, value, limit}`, slots 1-based (§3)."""
    cost: float | None
    """Σ_n L_n, finite and ≥ 0; None when a decision leaves its domain (0 ≤ a ≤ 1, 0 ≤ x ≤ R)."""
    terms: dict[str, float | None]
    """The five slot-averaged terms (27), summed over stations, in cost units: switching, transmission, computing, accuracy, cloud; they add up to `cost`."""
    per_slot: pd.DataFrame = field(repr=False)
    """Tidy table, one row per station and slot (1-based): the five terms and `total` before the 1/T average (§5)."""

    @property
    def station_costs(self) -> np.ndarray:
        """L_n for every station: slot averages of the per-slot totals (NaN where not scored)."""
        g = self.per_slot.groupby("station")["total"]
        return g.agg(lambda v: v.sum(skipna=False) / len(v)).to_numpy()

    def to_contract(self) -> dict:
        """The JSON object `optcache evaluate` prints (docs/formulation.md §14)."""
        return {"feasible": self.feasible, "violations": self.violations, "cost": self.cost,
                "terms": dict(self.terms)}


PER_SLOT_COLUMNS = ("station", "slot", *TERMS, "total")
"""Columns of `Evaluation.per_slot`: one row per station and slot (1-based slot), terms as in
docs/formulation.md §5 before the 1/T average of (27)."""


def evaluate(inst: Instance, schedule: Schedule) -> Evaluation:
    """Score a schedule on an instance: every station by `evaluate_station`, summed over stations."""
    require_instance(inst)
    if not isinstance(schedule, Schedule):
        raise InvalidInput("schedule", f"expected an optcache Schedule (load_schedule, parse_schedule or "
                           f"Schedule.from_arrays make one), got {type(schedule).__name__}")
    schedule = schedule.checked()  # values in range, as a file's (a Schedule built directly)
    if len(schedule.stations) != inst.n_stations:
        raise InvalidInput("stations", f"schedule has {len(schedule.stations)} stations, the instance {inst.n_stations}")
    blocks, violations = [], []
    for n, ss in enumerate(schedule.stations):
        shape = (inst.slots, inst.n_pairs)
        for key, arr in (("cached", ss.cached), ("edge_requests", ss.edge_requests)):
            if arr.shape != shape:
                raise InvalidInput(f"stations[{n}].{key}", f"expected shape {shape} (slots, pairs), got {arr.shape}")
        ev = _evaluate_station(inst.station_data(n), ss.cached, ss.edge_requests, None, n, 0)
        violations += ev.violations
        blocks.append(ev.terms)
    T, N = inst.slots, len(blocks)
    allterms = np.vstack(blocks) if blocks else np.zeros((0, len(TERMS)))
    per_slot = pd.DataFrame({"station": np.repeat(np.arange(N), T), "slot": np.tile(np.arange(1, T + 1), N),
                             **{k: allterms[:, j] for j, k in enumerate(TERMS)},
                             "total": allterms.sum(axis=1)})
    if np.isnan(allterms).any():  # a station not scored: no total, rather than a partial one
        return Evaluation(False, violations, None, dict.fromkeys(TERMS), per_slot)
    terms = {k: float(per_slot[k].sum() / T) for k in TERMS}
    cost = float(per_slot["total"].sum() / T)
    return Evaluation(not violations, violations, cost, terms, per_slot)
