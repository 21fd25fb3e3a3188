"""The Lagrangian of problem (28) over its coupling rows, evaluated by the pair DPs.

Only memory (3) and the budget (5) couple a station's pairs, one row each per slot, and only in
slots where they can bind at all (Σ_p s_p > G; Σ_p R·e·k > E); elsewhere each row is implied by the
pairs' own limits, which the DPs keep. The master LP relaxes these rows, and valid inequalities of
the slot polytope (`slots.TargetSeparator`), with multipliers u ≥ 0. For any u ≥ 0

    L(u) = Σ_p DP_p(u) / T − Σ_r u_r · rhs_r

is a lower bound on (28) (weak duality): DP_p(u) is pair p's least cost with the rows' prices on
its a[t] and x[t], in slot-sum units. docs/formulation.md §6 ("Lagrangian decomposition").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optcache.dynamics import State, final_state
from optcache.evaluator import accepted, evaluate_station, pair_costs
from optcache.instance import StationData
from optcache.solvers.lagrange.graph import PairBounds, option_index, served_within, station_graphs


def coupled_slots(d: StationData) -> tuple[np.ndarray, np.ndarray]:
    """Slots where memory (3) and where the budget (5) can bind at all (else the row is implied)."""
    R = d.R.astype(float)
    memory = np.nonzero(np.full(d.T, d.s.sum() > accepted(d.G)))[0]
    budget = np.nonzero(R @ d.flops_per_request > accepted(d.E))[0]
    return memory, budget


@dataclass
class PairSolution:
    """One pair's schedule from its DP: a and x over the slots, its own cost (slot average, terminal
    value included, no prices) and its priced DP value (slot-sum units)."""

    a: np.ndarray
    x: np.ndarray
    cost: float
    priced: float


class Decomposition:
    """The pair graphs of one station and what the Lagrangian needs about its coupled slots."""

    def __init__(self, d: StationData, st: State | None = None, terminal=None,
                 deadline: float | None = None):
        """Builds every pair's graph; past `deadline` (a `time.perf_counter()` value) TimeoutError."""
        self.d = d
        self.st = st or State.cold(d.P)
        self.graphs = station_graphs(d, self.st, deadline)
        self.terminal = terminal
        if terminal is not None:
            for p, g in enumerate(self.graphs):
                f = g.final
                g.final_cost = np.asarray(terminal(p, g.node_cached[f], g.node_K[f], g.node_kappa[f]), float)
        self.memory_slots, self.budget_slots = coupled_slots(d)
        self.G_cap, self.E_cap = accepted(d.G), accepted(d.E)  # the evaluator's tolerance on (3), (5)
        fl = d.flops_per_request
        xcap = d.R.astype(np.int64).copy()
        for p in range(d.P):
            xcap[:, p] = served_within(self.E_cap, fl[p], xcap[:, p])
        self.xcap = xcap
        """Requests each pair can serve alone in each slot (its requests and the budget)."""

    @property
    def coupled(self) -> bool:
        return bool(len(self.memory_slots) or len(self.budget_slots))

    def all_cloud_cost(self, p: int) -> float:
        """Pair p's own cost (slot average) when never cached: the last final node is 'off'."""
        g = self.graphs[p]
        return float((g.const + g.final_cost[-1]) / self.d.T)

    def tail(self, A: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Each pair's terminal value (slot average) at the state (A, X) ends in; 0 without one."""
        if self.terminal is None:
            return np.zeros(self.d.P)
        end = final_state(A, X, self.d.k, self.d.delta, self.st)
        return np.array([float(self.terminal(p, end.cached[[p]] > 0.5, end.K[[p]], end.kappa[[p]])[0])
                         for p in range(self.d.P)]) / self.d.T

    def pair_costs(self, A: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Each pair's share of the objective: its evaluator cost plus its terminal value."""
        return pair_costs(self.d, A, X, self.st) + self.tail(A, X)

    def objective(self, A: np.ndarray, X: np.ndarray) -> tuple[float, list]:
        """(objective, violations): the evaluator's cost of (A, X) plus the terminal values."""
        ev = evaluate_station(self.d, A, X, self.st)
        return ev.cost + float(self.tail(A, X).sum()), ev.violations

    def solve_pairs(self, PA: np.ndarray, PX: np.ndarray, bounds: list[PairBounds] | None = None,
                    PO: np.ndarray | None = None) -> list[PairSolution] | None:
        """Every pair's DP at prices PA, PX (T × P, slot-average units) and option prices PO
        (T × P × counts, or None); None if some pair has no schedule within its bounds. A
        solution's `cost` is net of every price."""
        T = self.d.T
        out = []
        for p, g in enumerate(self.graphs):
            pa, px = T * PA[:, p], T * PX[:, p]
            po = None if PO is None else T * PO[:, p]
            v, a, x = g.solve(px, pa, None if bounds is None else bounds[p], po)
            if not np.isfinite(v):
                return None
            own = v - px @ x - pa @ a
            if po is not None:
                j = option_index(a, x, po.shape[1])
                own -= float(po[j >= 0, j[j >= 0]].sum())
            out.append(PairSolution(a, x, own / T, v))
        return out

    def lagrangian(self, PA, PX, offset: float, bounds=None, PO=None
                   ) -> tuple[float, list[PairSolution] | None]:
        """L = Σ_p DP_p / T − offset (offset = u·rhs), and the pair solutions attaining it."""
        sols = self.solve_pairs(PA, PX, bounds, PO)
        if sols is None:
            return np.inf, None
        return float(sum(s.priced for s in sols) / self.d.T - offset), sols
