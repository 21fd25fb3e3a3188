"""Fix-and-optimise and the dive: the primal heuristics that run searches of their own
(docs/formulation.md §6.1, "Primal side").

Fix-and-optimise re-solves windows of the incumbent exactly, each by a `Search` of the window
(`Search.window_search`: from the incumbent's state at the window's start, the rest of each pair's
plan as its terminal value). When its windows find nothing while the gap to the root bound is
wide, one dive in the master LP gives it a new start. Both only offer schedules to the search;
neither bounds anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from optcache.dynamics import final_state
from optcache.solvers.lagrange.branching import FRACTIONAL
from optcache.solvers.lagrange.graph import PairBounds
from optcache.solvers.lagrange.primal import future_cost, local_search, sequential

if TYPE_CHECKING:
    from optcache.solvers.lagrange.search import Search

LNS_WINDOW_IP = False
"""Fix-and-optimise's windows skip the restricted-master MIP and the pair swaps after their root
(the pair DPs and one-pair re-optimisation still run): without a time limit, fix-and-optimise then
ends within 0.01 % of the same cost on four stations of five and 0.2 % lower on the fifth, in 19 %
less time over the five (benchmarks/RESULTS.md, "Sixteenth round")."""

LNS_NODES_PER_SECOND = 20
"""Without a time limit (as `search.IP_NODES_PER_SECOND` does for the restricted-master MIP), a
fix-and-optimise window of `s` seconds becomes a search of at most `s` × this many nodes (every
window of every stage is then solved: the stages' total is not cut by time)."""


class LnsStage(NamedTuple):
    """One fix-and-optimise sweep over the horizon."""

    width: int
    """Slots per window."""
    step: int
    """Slide between windows (later passes shift the windows by half of it)."""
    seconds: float
    """Seconds per window at most."""
    passes: int
    """Sweeps of this width."""


class Window(NamedTuple):
    """One window of a sweep: slots `start`..`end`-1, solved in at most `seconds`."""

    start: int
    end: int
    seconds: float


LNS_STAGES = (LnsStage(12, 8, 3.0, 1), LnsStage(24, 12, 10.0, 4))
"""Fix-and-optimise sweeps over the horizon. Short windows first (a fast descent from the first
incumbent), then windows twice as long, which move memory between pairs over longer stretches: on
the 100-slot memory-bound station of benchmarks/RESULTS.md ("Exact method at the paper's scale") 12-slot
windows alone stop 1.3 % above what 12 then 24 reach in the same time. A stage whose windows
would cover the whole horizon is skipped (the search itself does that)."""

LNS_SHARE, LNS_SECONDS = 0.5, 30.0
"""Fix-and-optimise after the root gets this share of the time left (LNS_SECONDS without a limit)."""

LNS_WIDE_GAP = 5e-3
"""Under a time limit, fix-and-optimise goes on past its share, sweep after sweep, while the gap to
the root bound is wider than this and a sweep still improves the incumbent: branching does not close
a gap this wide at the paper's scale, and there the incumbent is most of it (on the 100-slot
station of seed 102, fix-and-optimise took the root's first schedule from 4.5 % above the root bound
to 0.9 % in 75 s of a 300-s run). Once the gap is this narrow, or a sweep finds nothing, branching
gets the rest. docs/formulation.md §6.1, "Primal side"."""

LNS_GAP_SHARE = 1.0
"""A window is solved to this share of the search's gap. A window's objective includes the rest of
the plan (its terminal value), so this is a share of the whole schedule's cost; closing the last
tenth of it (0.1, before) is the slow end of the window's tree, and the next window makes better
use of that time: from the same first schedule, 30 s of fix-and-optimise on six stations of 80–100
slots, two runs each, ended 1.58 % above the root bound on average against 1.79 % with 0.1
(benchmarks/RESULTS.md, "Fifteenth round")."""

DIVE = True
"""Dive once when fix-and-optimise finds nothing while the gap is wider than LNS_WIDE_GAP, and
sweep again from the dive's schedule (`FixAndOptimise.run`); False leaves the dive out. At 60 s it
took `generate(stations=1, seed=101, slots=80)` from 0.81 % to its optimum in every run, and
`slots=100`/101 from 1.73 % to 1.13–1.52 % in most (benchmarks/RESULTS.md, "Twenty-eighth round")."""

LNS_PERSIST_SECONDS = 60.0
"""Under a time limit, a fix-and-optimise whose share is at least this long persists: it sweeps
again while a sweep improves and, once one finds nothing, dives once, however narrow the gap,
all within its share. Only a run with minutes left after its root has such a share (a 60-s run
never does): there an incumbent nearer the optimum lets branching prune, and the tree's own
heuristics find it late (`gpus=8`/101 for 1,200 s: one sweep left the incumbent 0.19 % above the
optimum, which the tree found at 587 s and certified at 605 s). benchmarks/RESULTS.md,
"Forty-fourth round"."""

DIVE_TOL = 1e-4
"""Relative tolerance of column generation at each step of the dive (`dive`): its steps only
rank columns, they bound nothing."""

DIVE_INTEGRAL = 0.999
"""In a dive step, every free pair whose heaviest column has at least this weight is fixed to it
at once (the master already agrees on it); otherwise only the heaviest such pair is."""

DIVE_SHARE = 0.5
"""Under a time limit the dive stops at this share of the time left (its schedule so far is then
completed by the pair DPs); fix-and-optimise from its schedule gets the rest."""


@dataclass
class Plan:
    """The schedule fix-and-optimise improves, with its objective: the incumbent, or a dive's
    schedule, which may cost more than the incumbent (`FixAndOptimise.run`)."""

    A: np.ndarray
    X: np.ndarray
    cost: float


class FixAndOptimise:
    """Fix-and-optimise over a search's incumbent (the search keeps the incumbent and the clock)."""

    def __init__(self, search: Search):
        self.s = search
        self.persist = False
        """Sweep while improving and dive at any gap, within the share (LNS_PERSIST_SECONDS)."""

    def run(self, seconds: float, u: np.ndarray | None = None, until: float | None = None) -> None:
        """Re-solve windows of the incumbent exactly (a search of their own, from the incumbent's
        state at the window's start, with the rest of the plan kept as each pair's terminal
        value), sliding along the horizon stage by stage (LNS_STAGES), within `seconds`.
        A window already solved since the plan last changed is skipped. Under a time limit,
        sweeps repeat past `seconds` while the gap stays wider than LNS_WIDE_GAP and the last sweep
        improved the plan. With the root's multipliers `u`, a gap still wider than LNS_WIDE_GAP
        when a sweep finds nothing gets one dive (`dive`), and the sweeps start again from its
        schedule: a new start that changes every pair over the whole horizon, which no window
        does. A share of LNS_PERSIST_SECONDS or more persists: its sweeps repeat while they
        improve and its dive comes at any gap, all within the share. Nothing runs past `until`
        (the search's deadline when None)."""
        s = self.s
        if s.best is None:
            return
        windows = self.windows()
        if not windows:
            return
        cap = s.deadline if until is None else min(s.deadline, until)
        share = np.inf if s.deterministic else min(cap, time.perf_counter() + seconds)
        self.persist = not s.deterministic and share - time.perf_counter() >= LNS_PERSIST_SECONDS

        def stop() -> float:
            """When the current window must end: the share, or the deadline while the gap is wide."""
            if s.deterministic or self.narrow():
                return share
            return cap
        if not self.sweeps(Plan(*s.best, s.best_cost), windows, stop):
            return
        if u is None or not DIVE or s.left() <= 0 or (self.narrow() and not self.persist):
            return
        end = np.inf if s.deterministic else min(stop(), time.perf_counter() + DIVE_SHARE * (cap - time.perf_counter()))
        start = dive(s, u, end)
        if start is None:
            return
        s.stats.dive_cost = start.cost
        if s.offer(start.A, start.X, start.cost):
            s.progress(s.root_L, 1)
        self.sweeps(start, windows, stop)

    def narrow(self) -> bool:
        """The incumbent is within LNS_WIDE_GAP of the root bound."""
        return self.s.gap_to(self.s.root_L) <= LNS_WIDE_GAP

    def windows(self) -> list[Window]:
        """The windows in sweep order; none when every stage's windows would cover the horizon (a
        window's own search)."""
        T = self.s.d.T
        windows = []
        for stage in LNS_STAGES:
            if T <= stage.width:
                continue
            for k in range(stage.passes):  # later passes shift the windows by half a slide
                first = (k % 2) * (stage.step // 2)
                windows += [Window(t0, min(t0 + stage.width, T), stage.seconds)
                            for t0 in range(first, T - stage.step, stage.step)]
        return windows

    def sweeps(self, plan: Plan, windows: list[Window], stop) -> bool:
        """Sweep the windows over `plan` until a sweep finds nothing (one sweep without a time
        limit) or the gap is narrow; False when `stop()` came first."""
        s = self.s
        seen: dict[Window, float] = {}  # window → the plan's cost when it was solved
        while True:
            at_start = plan.cost
            for w in windows:
                if time.perf_counter() >= stop():
                    return False
                if seen.get(w) == plan.cost:
                    continue  # the same window of the same plan: nothing new to find
                seen[w] = plan.cost
                if not self.window(plan, w, stop()):
                    return False
            if s.deterministic or plan.cost >= at_start or (self.narrow() and not self.persist):
                return True

    def window(self, plan: Plan, w: Window, stop: float) -> bool:
        """Re-solve window `w` of `plan` (ending by `stop`), keep what is better in it and offer it
        as an incumbent; False when the window ran out of time building (the last window)."""
        s = self.s
        t0, t1, per = w
        d, dec = s.d, s.dec
        A, X = plan.A, plan.X
        start = final_state(A[:t0], X[:t0], d.k, d.delta, dec.st)
        if t1 < d.T:
            fut = [future_cost(d, A, X, t1, p, dec.terminal) for p in range(d.P)]
            terminal = lambda p, c, K, k, fut=fut: fut[p](c, K, k)  # noqa: E731
        else:
            terminal = dec.terminal
        try:
            until, nodes = (np.inf, max(int(per * LNS_NODES_PER_SECOND), 1)) if s.deterministic \
                else (min(stop, time.perf_counter() + per), None)
            sub = s.window_search(d.window(t0, t1), start, until, s.gap * LNS_GAP_SHARE, terminal,
                                  max_nodes=nodes, root_ip=LNS_WINDOW_IP)
        except TimeoutError:  # the last window (no terminal value) ran out of time building
            return False
        sub.offer(A[t0:t1], X[t0:t1])
        before = sub.best_cost
        sub.run()
        s.stats.lns_windows += 1
        if sub.best_cost < before - 1e-12 * max(1.0, abs(before)):
            A2, X2 = A.copy(), X.copy()
            A2[t0:t1], X2[t0:t1] = sub.best
            cost, violations = dec.objective(A2, X2)
            if not violations and cost < plan.cost:
                plan.A, plan.X, plan.cost = A2, X2, cost
                if s.offer(A2, X2, cost):
                    s.stats.lns_improvements += 1
                    s.progress(s.root_L, 1)
        return True


def dive(s: Search, u: np.ndarray, until: float = np.inf) -> Plan | None:
    """Price and dive (Sadykov, Vanderbeck, Pessoa, Tahiri and Uchoa, *INFORMS J. Computing*
    31(2), 2019): from multipliers `u`, fix free pairs to their heaviest column in `s`'s master
    LP (all those of weight ≥ DIVE_INTEGRAL at once, else the heaviest one), re-run column
    generation for the others (DIVE_TOL), and repeat until every pair is fixed. After each step
    the free pairs' DPs in sequence, then one-pair re-optimisation, complete the fixed ones;
    returns the cheapest such schedule with its objective (None if none is feasible). It bounds
    nothing: fixing a pair is no branch. By `until` it stops and returns what it has."""
    d, m = s.d, s.master
    bounds = [PairBounds.free(d.T) for _ in range(d.P)]
    fixed = np.zeros(d.P, bool)
    best = None
    s.stats.dives += 1
    cg = s.colgen(bounds, u, DIVE_TOL, until=until)
    while cg.lp is not None and not cg.lp.slack_used and np.isfinite(cg.L):
        lam = cg.lp.lam
        heaviest = []
        for p in np.nonzero(~fixed)[0]:
            cols = np.nonzero((m.pair[:len(lam)] == p) & (lam > FRACTIONAL))[0]
            if len(cols):
                j = int(cols[np.argmax(lam[cols])])
                heaviest.append((float(lam[j]), int(p), j))
        if not heaviest:
            break
        heaviest.sort(reverse=True)
        for _, p, j in [h for h in heaviest if h[0] >= DIVE_INTEGRAL] or heaviest[:1]:
            bounds[p] = PairBounds.fixed(m.A[j], m.X[j])
            fixed[p] = True
        PA, PX, PO = m.prices(cg.u)
        order = list(np.nonzero(fixed)[0]) + list(np.nonzero(~fixed)[0])
        sched = sequential(s.dec, PA, PX, order, bounds, PO)
        if sched is not None:
            A, X = local_search(s.dec, *sched)
            cost, violations = s.dec.objective(A, X)
            if not violations and (best is None or cost < best.cost):
                best = Plan(A, X, cost)
        if fixed.all() or s.left() <= 0 or time.perf_counter() >= until:
            break
        cg = s.colgen(bounds, cg.u, DIVE_TOL, until=until)
    return best
