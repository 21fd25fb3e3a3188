"""Branch, price and cut for problem (28) on one station (docs/formulation.md §6).

At the root, column generation over pair schedules (`master.Master`, multipliers smoothed towards
the best Lagrangian point, Wentges 1997) alternates with target cuts of the slot polytope
(`slots.TargetSeparator`) until neither improves the Lagrangian bound. Primal schedules come from
pair DPs within residual capacity, the restricted-master MIP, pair swaps and fix-and-optimise
over windows of the incumbent, started again from a dive in the master LP when its windows find
nothing while the gap is wide (both in `fixopt`, which runs searches of its own); under a limit
of 120 s or more a root still converging at 30 s pauses once for them (EARLY_PRIMAL_SECONDS; without a
limit, after EARLY_PRIMAL_ITERATIONS master LPs). One forward
and one backward pass over each pair graph give the Lagrangian of every restriction "a[t][p] = v"
or "x[t][p] = j" at once (`PairGraph.through`): values whose Lagrangian reaches the incumbent are fixed out, and at the root
such arcs are removed from the graphs for good. Then branch and price on the master's edge
service and cache decisions, chosen by pseudo-costs; nodes best first, with plunging. The reported
bound is the least Lagrangian over the open nodes and everything discarded; each is a Lagrangian at
some u ≥ 0, valid whatever u is.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from optcache.dynamics import State
from optcache.evaluator import evaluate_station
from optcache.instance import StationData
from optcache.logs import PROGRESS_SECONDS
from optcache.solvers import forked
from optcache.solvers.lagrange.branching import (
    CHAIN,
    FRACTIONAL,
    Decision,
    PseudoCosts,
    children,
    rise_of,
)
from optcache.solvers.lagrange.decomposition import Decomposition, PairSolution
from optcache.solvers.lagrange.fixopt import LNS_SECONDS, LNS_SHARE, FixAndOptimise
from optcache.solvers.lagrange.graph import PairBounds, option_index
from optcache.solvers.lagrange.master import Columns, Cut, LPSolution, Master
from optcache.solvers.lagrange.primal import local_search, pair_swaps, sequential
from optcache.solvers.lagrange.slots import OptionSeparator, TargetSeparator

log = logging.getLogger(__name__)

GAP_FLOOR = 1e-9
"""Relative gap treated as zero: floating-point noise between a bound and the evaluator."""

ROOT_TOL = 1e-7
"""Relative tolerance of column generation at the root (master LP value against the best L); the
node tolerance where that is finer (a gap below 1e-6 requested): a root is a leaf when its
master agrees on every coupled decision, and closes at its L."""

NODE_TOL = 1e-6
"""Relative tolerance of column generation below the root; a tenth of the requested gap where
that is finer (gap = 0: a tenth of GAP_FLOOR), so that a leaf can close to the gap asked for."""

SEPARATION_TOL = 3e-3
"""At the root, cuts are first separated once column generation is within this relative gap;
when that finds none, column generation goes on to OPTION_SEPARATION_TOL, then to ROOT_TOL,
separating again at each."""

OPTION_SEPARATION_TOL = 1e-4
"""At the root, once the (ā, x̄) cuts find none at SEPARATION_TOL, both kinds of cuts are separated
whenever column generation is within this relative gap, not only at ROOT_TOL: each round of option
cuts waits for a coarse convergence, and only the last, which finds none, converges to ROOT_TOL.
The same roots converged to the same bounds with 40–60 % fewer Lagrangians (`services=12`/103:
1,709 → 664; `slots=80`/102: 2,027 → 893; benchmarks/RESULTS.md, "Twenty-sixth round"). 0 restores
separating them at ROOT_TOL only."""

MAX_CUTS_PER_ROUND = 200
"""Most violated cuts added per separation round."""

OPTION_CUTS = True
"""Separate the slots' option cuts (`slots.OptionSeparator`) at the root once the (ā, x̄) cuts find
none and column generation is within OPTION_SEPARATION_TOL; never in the windows of
fix-and-optimise and of the rolling horizon (`Search(option_cuts=False)`), which are short and
time-boxed, and which they slowed."""

NODE_ROUNDING = True
"""After each node's column generation in the station's own tree (not in the windows of
fix-and-optimise or rolling), offer each pair's heaviest column in the master LP when together they
are feasible (`Search.offer_rounding`). The schedules' columns enter the master and lead the tree
to better leaves: `users=5`/301 ends the minute at 0.10–0.22 % instead of 0.71 % (benchmarks/
RESULTS.md, "Thirty-seventh round")."""

LAZY_ROOT = True
"""At the root, after each round of cuts, rows whose multiplier is 0 leave the master's HiGHS model
(`master.LAZY_ROWS`; they come back when broken), as they do after the root and between nodes. The
30-s roots of `users=20`/101 and `users=15`/102 made 9 % and 3 % more Lagrangians (benchmarks/
RESULTS.md, "Thirty-ninth round")."""

ROOT_SHARE = 0.5
"""Under a time limit, the root's column generation stops at this share of it."""

EARLY_PRIMAL_SECONDS: float | None = 30.0
"""Under a time limit whose root share is at least twice this (limits of 120 s and more), a root
whose column generation has not converged by this mark pauses once for the primal heuristics that
follow a 60-s run's root (`Search.primal`, fix-and-optimise included), for at most this long again,
then goes on to its share. Without the pause a 600-s run at 20 users kept least-AoT's schedule, at a
gap of 22–26 %, for the root's 300 s (benchmarks/RESULTS.md, "Sixty-second round").
None: no pause. Without a time limit the mark is EARLY_PRIMAL_ITERATIONS instead."""

EARLY_PRIMAL_ITERATIONS: int | None = 2000
"""Without a time limit, a root whose column generation has not converged after this many
iterations (master LPs) pauses once for the same heuristics, with their work budgets (below): a mark
of work, not of time, so the search stays deterministic. Converged roots took 84 (`users=5`/101),
400–809 (`slots=60`/102, `gpus=8`/101, `gpus=16`/119, `services=12`/109, `slots=80`/102) and 1,653
(`slots=100`/109, 39 s); `users=15`/113 made 3,212 in two minutes, and `users=20`/102 reached 2,000
after about 340 s of a root that needs some twenty minutes, with least-AoT's schedule as the only one
until the pause (benchmarks/RESULTS.md, "Sixty-third round"). None: no pause."""

ROOT_IP_SECONDS, ROOT_IP_SHARE = 2.0, 0.1
"""The restricted-master MIP after the root runs at most this long, and this share of a limit."""

IP_NODES_PER_SECOND = 500
"""Without a time limit the search is deterministic (same data, same numbers on any machine): its
heuristics' time budgets become work budgets. A restricted-master MIP of `s` seconds becomes one
of `s` × this many branch-and-bound nodes (HiGHS's mip_max_nodes, single-threaded)."""

PLUNGE_DEPTH = 30
"""After a node from the queue, follow its better child this many levels (depth first)."""

PLUNGE_BOUND_DIST: float | None = 0.25
"""Plunge into the better child only while its bound lies within this share of the way from the
best open bound to the pruning level (SCIP's `maxbounddist` for best-first plunging); otherwise
the best queued node is next. None plunges to PLUNGE_DEPTH whatever the bounds. At 21 s a node
(`gpus=16`/102) a plunge to that depth kept the bound still from 168 s to 600 s; bounded, the
600-s bounds of `gpus=8`/101 and `gpus=16`/102 rose 0.05 % and 0.04 % more, and the stations that
branch and certify within 60 s still did (benchmarks/RESULTS.md, "Thirty-fifth round")."""

NODE_COLUMNS = True
"""A node queued for later keeps copies of the columns its last master LP used, and puts them back
into the master when it is solved: purges between nodes remove them, and without them the node's
column generation starts over (a median of 90 master LPs at `gpus=8`/101, as many as a new child;
benchmarks/RESULTS.md, "Thirty-sixth round"). So does a plunged child whose sibling purged. A copy
holds only the LP's support: 5–50 KB a node at 40–100 slots and 10 pairs."""

STRONG_CANDIDATES = 8
"""Strong branching on the LP (the first phase of Pecin et al. 2017's strong branching): in the
station's own tree, the candidates with the best pseudo-cost scores, this many, are scored again by
their children's master LPs over the columns at hand, and the best product of the two sides'
gains is branched on; the children then get column generation as before. 0 or 1: pseudo-costs
alone. With the optimum as incumbent (`benchmarks/tree_proof.py`), eight stations' trees took 240 s
instead of 327 s, with 729 nodes instead of 1,602 (benchmarks/RESULTS.md, "Fifty-seventh round")."""

STRONG_ITERATIONS = 300
"""Dual simplex iterations per child in strong branching (`Master.value_under`): 40 left the
scores too rough (`services=12`/103's proof 310 nodes against 94 without a limit)."""

HEURISTIC_EVERY = 20
"""Run the primal heuristics at every this many branch-and-price nodes."""

PURGE_AT, KEEP_PER_PAIR = 60, 40
"""When the master holds more than PURGE_AT columns per pair, keep the KEEP_PER_PAIR best priced
per pair (and every column in use). Between nodes, always; in column generation, before an LP and
with the previous one, which `Master.purge` accepts only while it still prices every column: after
a step that added none (a separation round, mostly), so a root's master grows past the threshold
(`users=20`/101: 1,716 columns at 90 s). Purging after every LP with the LP just solved was
measured on the Fig. 3 grid and not kept: 32 stations met issue 10's bar against 34
(benchmarks/RESULTS.md, "Thirty-second round")."""


@dataclass
class Node:
    """An open subproblem: its bound, the branching bounds of every pair, warm-start multipliers."""

    bound: float
    bounds: list[PairBounds]
    u: np.ndarray
    depth: int = 0
    order: int = 0
    columns: Columns | None = None
    """The columns of its last master LP (`NODE_COLUMNS`), restored when it is solved again."""

    def __lt__(self, other: Node) -> bool:
        return (self.bound, self.order) < (other.bound, other.order)

    def emptied(self) -> bool:
        """No schedule keeps its bounds (the root's fixings, met after it was queued, left none)."""
        return any(b.empty() for b in self.bounds)


@dataclass
class ColGen:
    """What column generation at a node found: the best Lagrangian L and its multipliers, the last
    master LP, and the pair solutions at the best multipliers."""

    L: float
    u: np.ndarray
    lp: LPSolution | None
    sols: list[PairSolution] | None
    converged: bool = False
    rise: list[np.ndarray] | None = None
    """Set by `Search.probe`: per pair, the rise of L at u when x[t][p] = j (column j) or
    a[t][p] = 0 (last column) is imposed, shape (T, x_max + 2); inf where impossible."""


@dataclass
class SearchStats:
    """Counters reported in `StationSolve.history`."""

    nodes: int = 0
    evaluations: int = 0
    cuts: int = 0
    option_cuts: int = 0
    """Of `cuts`, those of the slots' option polytopes (`slots.OptionSeparator`)."""
    root_bound: float = np.nan
    root_seconds: float = np.nan
    """Seconds from the search's start (the pair graphs) to the end of the root's column generation,
    less its pause (`root_pause_seconds`)."""
    root_pause_seconds: float = 0.0
    """Seconds of the root's pause for primal heuristics (EARLY_PRIMAL_SECONDS, or
    EARLY_PRIMAL_ITERATIONS without a limit), which are also in
    `heuristic_seconds` and `lns_seconds`."""
    root_primal: float = np.nan
    eliminated_arcs: int = 0
    fixed_values: int = 0
    lns_windows: int = 0
    lns_improvements: int = 0
    dives: int = 0
    """Dives run because fix-and-optimise was stuck with the gap wide (`fixopt.dive`)."""
    dive_cost: float = np.nan
    """The objective of the last dive's schedule (nan without a dive)."""
    lagrangian_seconds: float = 0.0
    """Seconds in the pair DPs of the Lagrangian evaluations (`evaluations` of them)."""
    heuristic_seconds: float = 0.0
    """Seconds of the root's primal heuristics (`Search.heuristics`, the restricted-master MIP
    included), not fix-and-optimise; the root's pause included."""
    lns_seconds: float = 0.0
    """Seconds of fix-and-optimise and its dive after the root (their windows' searches included);
    the root's pause included."""
    tree_seconds: float = 0.0
    """Seconds of branch and price after the root."""
    tree_lp_solves: int = 0
    """Master LP solves during branch and price (the station's own master; `Master.lp_solves`)."""
    pruned_children: int = 0
    """Children pruned by their own bound right after column generation made it."""
    pruned_child_lp_solves: int = 0
    """The master LP solves those children's column generation took."""
    strong_branchings: int = 0
    """Branchings decided by the children's master LPs (`Search.strong`)."""
    strong_lp_solves: int = 0
    """Their children's master LPs (`Master.value_under`; in `Master.lp_solves` too)."""
    strong_seconds: float = 0.0
    """Their seconds (in `tree_seconds`)."""
    progress: list = field(default_factory=list)


def _pad(u: np.ndarray, n: int) -> np.ndarray:
    return u if len(u) >= n else np.concatenate([u, np.zeros(n - len(u))])


class Search:
    """Column generation at the root, primal heuristics, then best-first branch and price."""

    def __init__(self, d: StationData, st: State | None, deadline: float, gap: float, terminal=None,
                 quiet: bool = False, max_nodes: int | None = None, polytopes: dict | None = None,
                 option_cuts: bool = True, root_ip: bool = True, strong: bool = True):
        self.d, self.deadline, self.gap, self.quiet = d, deadline, gap, quiet
        self.strong_branching = strong
        """Strong branching (`STRONG_CANDIDATES`): in a station's own tree, not in its windows'."""
        self.max_nodes = max_nodes
        """Stop branching after this many nodes (fix-and-optimise's windows without a time limit)."""
        self.deterministic = not np.isfinite(deadline)
        """No time limit: work budgets instead of the heuristics' seconds (IP_NODES_PER_SECOND)."""
        self.node_tol = min(NODE_TOL, 0.1 * max(gap, GAP_FLOOR))
        self.t0 = time.perf_counter()
        # past the deadline the graphs' construction raises TimeoutError, but not with a terminal
        # value: a window's bound needs its graphs (and a window's are quick to build)
        self.dec = Decomposition(d, st, terminal, deadline if terminal is None else None)
        self.master = Master(self.dec)
        self.stats = SearchStats()
        self.best_cost, self.best = np.inf, None
        self.pruned = np.inf
        """The least Lagrangian of anything discarded: pruned nodes, fixed values, removed arcs."""
        self.separators: dict[tuple[str, int], TargetSeparator | OptionSeparator] = {}
        """This search's separator of each (kind, slot), from `polytopes`."""
        self.option_cuts = option_cuts and OPTION_CUTS
        """Separate option cuts at the root (off in windows: fix-and-optimise, rolling)."""
        self.root_ip = root_ip
        """Run the restricted-master MIP and the pair swaps after the root (off in fix-and-optimise's
        windows: `fixopt.LNS_WINDOW_IP`)."""
        self.top = polytopes is None
        """The station's own search: no caller shares its polytopes (fix-and-optimise's and
        rolling's windows do), so NODE_ROUNDING applies."""
        self.polytopes = {} if polytopes is None else polytopes
        """Separators by slot polytope (its data as bytes), shared with the searches of windows of
        the same station (fix-and-optimise, rolling): a polytope's points are found once."""
        self.root_L = -np.inf
        """The root's bound, once column generation there has stopped."""
        self.pseudo = PseudoCosts()
        self.last_log = 0.0
        self.last_lp: LPSolution | None = None
        zero = np.zeros((d.T, d.P))
        self.offer(zero, zero)  # all-cloud: always feasible
        for p in range(d.P):
            self.master.add(p, np.zeros(d.T), np.zeros(d.T), self.dec.all_cloud_cost(p))

    # ------------------------------------------------------------------ bookkeeping
    def left(self) -> float:
        """Seconds left (inf without a limit); 0 once `max_nodes` nodes are done."""
        if self.max_nodes is not None and self.stats.nodes >= self.max_nodes:
            return 0.0
        return self.deadline - time.perf_counter()

    def offer(self, A: np.ndarray, X: np.ndarray, cost: float | None = None) -> bool:
        """Score (A, X) with the evaluator; keep it if feasible and better. Its pair schedules go
        into the master so that the LP knows them. `cost`: its objective when the caller has just
        scored it feasible (a `fixopt.Plan`'s), not scored again."""
        if cost is None:
            cost, violations = self.dec.objective(A, X)
            if violations:
                return False
        if hasattr(self, "master"):
            own = self.dec.pair_costs(A, X)
            for p in range(self.d.P):
                self.master.add(p, A[:, p].copy(), X[:, p].copy(), float(own[p]))
        if cost < self.best_cost - 1e-15:
            self.best_cost, self.best = cost, (A.copy(), X.copy())
            return True
        return False

    def level(self) -> float:
        """A node whose bound reaches this cannot improve the incumbent by more than the gap."""
        return self.best_cost - max(self.gap, GAP_FLOOR) * max(abs(self.best_cost), 1e-10)

    def progress(self, bound: float, n_open: int = 0, force: bool = False) -> None:
        """Record (seconds, nodes, open nodes, bound, incumbent, gap) in `stats.progress` when
        bound or incumbent moved (incumbent and gap inf before a schedule is found), and log it at
        INFO at most every PROGRESS_SECONDS."""
        now = time.perf_counter()
        found = np.isfinite(self.best_cost)
        gap = self.gap_to(bound)
        row = {"seconds": now - self.t0, "nodes": self.stats.nodes, "open": n_open,
               "bound": float(bound), "incumbent": float(self.best_cost), "gap": gap}
        last = self.stats.progress[-1] if self.stats.progress else None
        if last is None or force or last["bound"] != row["bound"] or last["incumbent"] != row["incumbent"]:
            self.stats.progress.append(row)
        if self.quiet or (not force and now - self.last_log < PROGRESS_SECONDS):
            return
        self.last_log = now
        if not found:
            log.info("lagrange: %6.1f s  nodes %5d  open %4d  bound %.6f  no schedule yet",
                     row["seconds"], row["nodes"], n_open, bound)
            return
        log.info("lagrange: %6.1f s  nodes %5d  open %4d  bound %.6f  incumbent %.6f  gap %.3f %%",
                 row["seconds"], row["nodes"], n_open, bound, self.best_cost, 100 * gap)

    # ------------------------------------------------------------------ the Lagrangian
    def lagrangian(self, u: np.ndarray, bounds=None):
        PA, PX, PO = self.master.prices(u)
        self.stats.evaluations += 1
        start = time.perf_counter()
        out = self.dec.lagrangian(PA, PX, float(u @ self.master.rhs), bounds, PO)
        self.stats.lagrangian_seconds += time.perf_counter() - start
        return out

    def separator(self, kind: str, t: int, xcap: np.ndarray, G: float, E: float):
        """Slot t's separator of `kind` ('target': `TargetSeparator`, 'options': `OptionSeparator`),
        built once per polytope and shared through `polytopes`."""
        if (kind, t) not in self.separators:
            args = (np.asarray(self.d.s, float), np.asarray(self.d.flops_per_request, float),
                    np.asarray(xcap, np.int64), float(G), float(E))
            key = (kind, args[0].tobytes(), args[1].tobytes(), args[2].tobytes(), args[3], args[4])
            if key not in self.polytopes:
                cls = TargetSeparator if kind == "target" else OptionSeparator
                self.polytopes[key] = cls(*args)
            self.separators[kind, t] = self.polytopes[key]
        return self.separators[kind, t]

    def separate(self, lp: LPSolution, options: bool = False) -> int:
        """Add the most violated target cuts at the master's (ā, x̄), and with `options` the
        option cuts when those find none; returns how many."""
        found = self.target_cuts(*self.master.xbar(lp.lam))
        if not found and options and self.option_cuts:
            found = self.separate_options(lp)
        found.sort(key=lambda f: -f[0])
        for _, cut in found[:MAX_CUTS_PER_ROUND]:
            self.master.add_cut(cut)
        self.stats.cuts += min(len(found), MAX_CUTS_PER_ROUND)
        return min(len(found), MAX_CUTS_PER_ROUND)

    def target_cuts(self, Ab: np.ndarray, Xb: np.ndarray) -> list[tuple[float, Cut]]:
        """The most violated target cut of each coupled slot at (ā, x̄) (T × P), as (violation, cut)."""
        dec = self.dec
        mem, bud = set(dec.memory_slots.tolist()), set(dec.budget_slots.tolist())
        found = []
        for t in sorted(mem | bud):
            if self.left() <= 0:
                break
            sep = self.separator("target", t, dec.xcap[t] if t in bud else np.zeros(self.d.P, np.int64),
                                 dec.G_cap if t in mem else np.inf, dec.E_cap if t in bud else np.inf)
            c = sep.cut(Ab[t], Xb[t] if t in bud else np.zeros(self.d.P), deadline=self.deadline)
            if c is not None:
                found.append((c[3], Cut.single(t, c[0], c[1], c[2])))
        return found

    def separate_options(self, lp: LPSolution) -> list[tuple[float, Cut]]:
        """Option cuts (`slots.OptionSeparator`) that the master's columns violate in the budget
        slots, as (violation, cut): asked for once the cuts of (ā, x̄) find nothing."""
        d, m = self.d, self.master
        used = np.nonzero(lp.lam > 1e-12)[0]

        def shares(t: int, J: int) -> np.ndarray:
            j = option_index(m.A[used, t], m.X[used, t], J + 1)
            on = j >= 0
            W = np.zeros((d.P, J + 1))
            np.add.at(W, (m.pair[used][on], j[on]), lp.lam[used][on])
            return W

        found = self.option_cuts_at(shares)
        self.stats.option_cuts += min(len(found), MAX_CUTS_PER_ROUND)
        return found

    def option_cuts_at(self, shares) -> list[tuple[float, Cut]]:
        """The most violated option cut of each budget slot, as (violation, cut), at the option
        shares `shares(t, J)` ((P, J + 1): pair p cached serving j in slot t)."""
        dec = self.dec
        mem = set(dec.memory_slots.tolist())
        found = []
        for t in dec.budget_slots.tolist():
            if self.left() <= 0:
                break
            sep = self.separator("options", t, dec.xcap[t], dec.G_cap if t in mem else np.inf, dec.E_cap)
            if not sep.D:
                continue
            c = sep.cut(shares(t, sep.J), deadline=self.deadline)
            if c is not None:
                found.append((c[2], Cut.option(t, c[0], c[1])))
        return found

    def colgen(self, bounds, u0: np.ndarray, tol: float, separate: bool = False,
               until: float | None = None, max_iter: int = 100000) -> ColGen:
        """Maximise L over u ≥ 0 at a node. L = inf: the node's bounds admit no schedule."""
        master = self.master
        master.restrict(bounds)
        center = _pad(u0, master.n_rows)
        Lc, sols = self.lagrangian(center, bounds)
        if sols is None:
            return ColGen(np.inf, center, None, None, True)
        for p, s in enumerate(sols):
            master.add(p, s.a, s.x, s.cost)
        if separate:
            self.progress(Lc, 1)
        if not self.dec.coupled:
            return ColGen(Lc, center, None, sols, True)
        sols_c, alpha, lp = sols, 0.5, None
        sep_tol = SEPARATION_TOL if separate and self.stats.nodes == 0 else tol
        option_tol = max(tol, OPTION_SEPARATION_TOL)
        for _ in range(max_iter):
            if self.left() <= 0 or (until is not None and time.perf_counter() > until):
                return ColGen(Lc, center, lp, sols_c)
            if lp is not None and master.n > PURGE_AT * self.d.P:
                master.purge(lp, KEEP_PER_PAIR)
            new_lp = master.solve(self.left())
            if new_lp is None:  # out of time inside the LP
                return ColGen(Lc, center, lp, sols_c)
            lp = self.last_lp = new_lp
            center = _pad(center, master.n_rows)
            if not lp.slack_used and lp.value - Lc <= max(tol, sep_tol) * max(abs(lp.value), 1e-10):
                # option cuts last: once the (ā, x̄) cuts leave nothing at SEPARATION_TOL (they make
                # the master larger and its re-solves slower); then both kinds at option_tol, and
                # at tol a last time
                if separate and self.separate(lp, options=sep_tol <= option_tol):
                    if LAZY_ROOT:
                        master.sparsify(lp.u)
                    continue
                if sep_tol > tol:
                    sep_tol = option_tol if sep_tol > option_tol else tol
                    continue
                return ColGen(Lc, center, lp, sols_c, True)
            if Lc >= self.level():
                return ColGen(Lc, center, lp, sols_c)
            us = alpha * center + (1 - alpha) * lp.u
            L, sols = self.lagrangian(us, bounds)
            if sols is None:  # cannot happen: the bounds are those of the start point
                return ColGen(np.inf, us, lp, None, True)
            new = sum(master.add(p, s.a, s.x, s.cost) for p, s in enumerate(sols))
            if L > Lc:
                Lc, center, sols_c = L, us, sols
                if separate:  # the root: each L is a bound of the whole problem
                    self.progress(Lc, 1)
            if not new and alpha == 0.0 and not separate:
                # a Kelley step at the LP's duals priced nothing new: L is the LP value up to the
                # LP's own tolerances, which a tolerance finer than them would wait for forever
                return ColGen(Lc, center, lp, sols_c, True)
            alpha = 0.5 if new else 0.0  # mispricing: a pure Kelley step next
        return ColGen(Lc, center, lp, sols_c)

    def purge(self, cg: ColGen | None = None) -> None:
        """Shrink the master to the columns that matter (LP solves get slow with thousands of
        dense columns); `cg`'s LP solution is refreshed since the purge renumbers columns."""
        lp = cg.lp if cg is not None and cg.lp is not None else self.last_lp
        if lp is None or self.master.n <= PURGE_AT * self.d.P:
            return
        self.master.purge(lp, KEEP_PER_PAIR)
        if cg is not None and cg.lp is not None:
            cg.lp = self.last_lp = self.master.solve(self.left())  # None: out of time

    # ------------------------------------------------------------------ probing and fixing
    def probe(self, cg: ColGen, bounds: list[PairBounds], eliminate: bool = False):
        """Lagrangian probing at cg.u: fix out every value of a[t][p] and x[t][p] whose Lagrangian
        reaches the incumbent level; with `eliminate`, also remove such arcs from the graphs (valid
        for the whole tree: use at the root only). Returns the tightened bounds."""
        dec, T = self.dec, self.d.T
        PA, PX, PO = self.master.prices(cg.u)
        level = self.level()
        base = cg.L
        out, rises = [], []
        for p, g in enumerate(dec.graphs):
            b = bounds[p].copy()
            arc, table = g.through(T * PX[:, p], T * PA[:, p], b, None if PO is None else T * PO[:, p])
            own = float(np.min(table[0])) if T else 0.0  # DP_p: every schedule passes slot 0
            delta = (table - own) / T  # each restriction's rise of L
            rises.append(delta)
            vals = base + delta
            if eliminate:
                dead = np.isfinite(arc) & (base + (arc - own) / T >= level)
                if dead.any():
                    self.pruned = min(self.pruned, float(np.min(base + (arc[dead] - own) / T)))
                    self.stats.eliminated_arcs += g.remove(dead)
            cut_vals = vals[np.isfinite(vals) & (vals >= level)]
            if len(cut_vals):
                self.pruned = min(self.pruned, float(cut_vals.min()))
            ok = np.isfinite(vals) & (vals < level)
            off_ok = ok[:, -1]
            on_ok = ok[:, :-1]
            any_on = on_ok.any(axis=1)
            n_fixed = int((~off_ok & (b.a_lo == 0)).sum() + (~any_on & (b.a_hi == 1)).sum())
            b.a_lo = np.where(~off_ok, 1, b.a_lo)
            b.a_hi = np.where(~any_on, 0, b.a_hi)
            lo = np.where(any_on, np.argmax(on_ok, axis=1), 0)
            hi = np.where(any_on, on_ok.shape[1] - 1 - np.argmax(on_ok[:, ::-1], axis=1), 0)
            lo = np.where(off_ok, 0, lo)  # x = 0 stays possible through 'off'
            b.x_lo = np.maximum(b.x_lo, lo)
            b.x_hi = np.minimum(b.x_hi, np.where(any_on, hi, 0))
            self.stats.fixed_values += n_fixed
            out.append(b)
        cg.rise = rises
        return out

    # ------------------------------------------------------------------ primal side
    def heuristics(self, cg: ColGen, bounds=None, ip_time: float = 0.0, swaps: float = 0.0) -> None:
        d = self.d
        cands = []
        if cg.sols is not None:
            cands.append((np.stack([s.a for s in cg.sols], axis=1), np.stack([s.x for s in cg.sols], axis=1)))
        PA, PX, PO = self.master.prices(cg.u)
        fl = d.flops_per_request
        orders = [range(d.P), np.argsort(-fl), np.argsort(fl), np.argsort(-d.s)]
        if cg.lp is not None:  # pairs whose master plan is most settled first
            Ab, _ = self.master.xbar(cg.lp.lam)
            frac = np.minimum(Ab, 1 - Ab).sum(axis=0)
            orders.append(np.argsort(frac))
        for order in orders:
            s = sequential(self.dec, PA, PX, list(order), bounds, PO)
            if s is not None:
                cands.append(s)
        # a MIP under a limit is killed KILL_GRACE after it: both within the search's deadline
        limit = None if self.deterministic else min(ip_time, self.left() - forked.KILL_GRACE)
        if self.dec.coupled and ip_time > 0 and (limit is None or limit >= 0.01):
            nodes = max(int(ip_time * IP_NODES_PER_SECOND), 1) if self.deterministic else None
            s = self.master.solve_ip(limit, bounds, max_nodes=nodes)
            if s is not None:
                cands.append(s)
        for A, X in cands:
            if evaluate_station(d, A, X, self.dec.st).violations:
                continue
            self.offer(*local_search(self.dec, A, X))
        if swaps and self.best is not None:
            self.offer(*pair_swaps(self.dec, *self.best, deadline=np.inf if self.deterministic else
                                   time.perf_counter() + min(swaps, max(self.left(), 0))))

    # ------------------------------------------------------------------ branching
    def branch(self, cg: ColGen, bounds: list[PairBounds] | None = None) -> Decision | None:
        """The coupled decision whose two sides are expected to gain most (product rule).

        Candidates: x[t][p] in a budget slot where the pair's columns in use disagree (split at
        ⌊x̄⌋) and a[t][p] in a memory slot with a fractional ā. A side's expected gain is its
        pseudo-cost estimate (`PseudoCosts`), and at least its Lagrangian rise at the node's
        multipliers (`ColGen.rise`, which bounds the child from below). Before anything is learnt
        this is the most fractional candidate. A disagreement with an integral x̄ comes last.
        An 'a' decision's up side is split on the slot's pair most out next (`CHAIN`). Given the
        node's `bounds`, the best `STRONG_CANDIDATES` by that score are ranked again by their
        children's master LPs (`strong`). None when the support agrees everywhere (a leaf)."""
        dec, master = self.dec, self.master
        lam = cg.lp.lam
        Ab, Xb = master.xbar(lam)
        sup = master.support(lam)
        cands, settled = [], None
        for p in range(self.d.P):
            if len(sup[p]) < 2:
                continue
            bud = dec.budget_slots
            if len(bud):
                xs = master.X[sup[p]][:, bud]
                spread = xs.max(axis=0) - xs.min(axis=0)
                for i in np.nonzero(spread > 0.5)[0]:
                    t = int(bud[i])
                    xb = Xb[t, p]
                    f = xb - np.floor(xb + 1e-9)
                    if f > FRACTIONAL:
                        cands.append(Decision("x", t, p, int(np.floor(xb + 1e-9)), float(f)))
                    elif settled is None:
                        settled = Decision("x", t, p, int(xs[:, i].min()), 0.0)
            for t in dec.memory_slots:
                f = Ab[t, p]
                if FRACTIONAL < f < 1 - FRACTIONAL:
                    cands.append(Decision("a", int(t), p, 0, float(f)))
        if not cands:
            return settled
        eps = 1e-9 * max(abs(cg.L), 1e-10)
        floor = None
        if cg.rise is not None:
            cap = max(self.level() - cg.L, eps)  # more cannot matter: that side is pruned

            def floor(c: Decision, side: int) -> float:
                return min(rise_of(cg.rise[c.pair][c.slot], c, side), cap)
        def chained(c: Decision) -> Decision:  # then the slot's other pairs most out (`CHAIN`)
            if c.kind != "a" or CHAIN < 2:
                return c
            f = Ab[c.slot]
            out = [int(q) for q in np.argsort(f, kind="stable")
                   if q != c.pair and FRACTIONAL < f[q] < 1 - FRACTIONAL]
            return replace(c, then=tuple(out[:CHAIN - 1]))

        if bounds is None or len(cands) < 2 or not self.strong_branching or STRONG_CANDIDATES < 2:
            return chained(max(cands, key=lambda c: self.pseudo.score(c, eps, floor)))
        ranked = sorted(cands, key=lambda c: self.pseudo.score(c, eps, floor), reverse=True)
        return self.strong([chained(c) for c in ranked[:STRONG_CANDIDATES]], bounds, cg, eps, floor)

    def strong(self, top: list[Decision], bounds: list[PairBounds], cg: ColGen, eps: float,
               floor) -> Decision:
        """The decision of `top` whose children's master LPs over the columns at hand rise most
        above the node's (product rule; a side's gain is its children's least, capped at the
        pruning level, and at least its Lagrangian rise `floor`). An empty child gains the cap."""
        master, st = self.master, self.stats
        start = time.perf_counter()
        master.restrict(bounds)
        lp = master.solve(self.left())  # the node's LP again: siblings may have added columns
        if lp is None or lp.slack_used:
            return top[0]
        basis, base = master.basis(), lp.value
        cap = max(self.level() - base, eps)
        best, best_score = top[0], -np.inf
        for c in top:
            if self.left() <= 0:  # out of time: the best scored so far
                break
            gain = [np.inf, np.inf]
            for side, bs in children(bounds, c):
                v = master.value_under(bs, basis, STRONG_ITERATIONS, self.left())
                g = cap if v is None else min(max(v - base, 0.0), cap)
                if floor is not None:
                    g = max(g, floor(c, side))
                gain[side] = min(gain[side], g)
                st.strong_lp_solves += 1
            score = max(min(gain[0], cap), eps) * max(min(gain[1], cap), eps)
            if score > best_score:
                best, best_score = c, score
        master.restrict(bounds, basis)
        st.strong_branchings += 1
        st.strong_seconds += time.perf_counter() - start
        return best

    # ------------------------------------------------------------------ the search
    def window_search(self, d: StationData, st: State, deadline: float, gap: float, terminal,
                      max_nodes: int | None, root_ip: bool) -> Search:
        """A quiet search of a window of this station (fix-and-optimise's), sharing this search's
        slot-polytope separators, without option cuts (`OPTION_CUTS`) or strong branching."""
        return Search(d, st, deadline, gap, terminal, quiet=True, max_nodes=max_nodes,
                      polytopes=self.polytopes, option_cuts=False, root_ip=root_ip, strong=False)

    def plunge(self, bound: float, heap: list[Node]) -> bool:
        """Whether to go on with a child of this `bound` rather than the best queued node: while it
        lies within PLUNGE_BOUND_DIST of the way from the best open bound to the pruning level."""
        if PLUNGE_BOUND_DIST is None or not heap:
            return True
        best = min(bound, heap[0].bound)
        return bound <= best + PLUNGE_BOUND_DIST * (self.level() - best)

    def gap_to(self, bound: float) -> float:
        """The incumbent's relative distance above `bound` (inf before a schedule, or while the
        bound is -inf)."""
        if not np.isfinite(self.best_cost):
            return np.inf
        return max(self.best_cost - bound, 0.0) / max(abs(self.best_cost), 1e-10)

    def root(self, warm=None) -> ColGen:
        """Column generation and cut separation at the root, then every primal heuristic."""
        d, st = self.d, self.stats
        if warm is not None:
            self.offer(*warm)
        free = [PairBounds.free(d.T) for _ in range(d.P)]
        total = self.deadline - self.t0
        until = None if not np.isfinite(total) else self.t0 + ROOT_SHARE * total
        # the pause's mark: a time under a limit (none for a 60-s run), iterations without one
        pause = None if EARLY_PRIMAL_SECONDS is None or until is None or not self.dec.coupled \
            or ROOT_SHARE * total < 2 * EARLY_PRIMAL_SECONDS else self.t0 + EARLY_PRIMAL_SECONDS
        iterations = EARLY_PRIMAL_ITERATIONS if until is None and self.dec.coupled and self.top else None
        # finer where the requested gap is (as at the nodes): a root whose master agrees on every
        # coupled decision is closed as a leaf at this L
        tol = min(ROOT_TOL, self.node_tol)
        root = self.colgen(free, np.zeros(self.master.n_rows), tol, separate=True,
                           until=until if pause is None else pause, max_iter=iterations or 100000)
        if (pause is not None or iterations is not None) and not root.converged and root.lp is not None \
                and not self.closed(root.L) and self.left() > 0:
            start = time.perf_counter()
            self.root_L = root.L
            self.primal(root, until=None if pause is None else start + EARLY_PRIMAL_SECONDS)
            st.root_pause_seconds = time.perf_counter() - start
            if not self.quiet:
                log.info("lagrange: root paused at %.6f for %.1f s of heuristics, incumbent %.6f", root.L,
                         st.root_pause_seconds, self.best_cost)
            root = self.colgen(free, root.u, tol, separate=True, until=until)
        st.root_bound, st.root_seconds = root.L, time.perf_counter() - self.t0 - st.root_pause_seconds
        self.root_L = root.L
        self.progress(root.L, 1)
        self.primal(root)
        st.root_primal = self.best_cost
        self.progress(root.L, 1)
        if not self.quiet:
            log.info("lagrange: root bound %.6f (%.1f s, %d cuts), incumbent %.6f", root.L,
                     st.root_seconds, st.cuts, self.best_cost)
        return root

    def primal(self, cg: ColGen, until: float | None = None) -> None:
        """The root's primal heuristics at `cg`'s multipliers, then fix-and-optimise from them, all
        by `until` (the deadline when None)."""
        st = self.stats
        total = self.deadline - self.t0
        ip = 0.0 if not self.root_ip else ROOT_IP_SECONDS if not np.isfinite(total) \
            else min(ROOT_IP_SECONDS, ROOT_IP_SHARE * total)
        start = time.perf_counter()
        if until is not None:  # the MIP and the swaps take at most half of what is left to `until` each
            ip = min(ip, max(until - start, 0.0) / 2)
        self.heuristics(cg, ip_time=ip, swaps=ip)
        st.heuristic_seconds += time.perf_counter() - start
        if self.dec.coupled and cg.lp is not None and not self.closed(cg.L):
            self.purge(cg)
            if not self.closed(cg.L):
                left = self.left() if until is None else min(self.left(), until - time.perf_counter())
                start = time.perf_counter()
                FixAndOptimise(self).run(LNS_SHARE * (left if np.isfinite(left) else LNS_SECONDS), cg.u, until=until)
                st.lns_seconds += time.perf_counter() - start
            self.offer(*local_search(self.dec, *self.best))

    def closed(self, bound: float) -> bool:
        """The incumbent is within the gap of `bound`."""
        return self.best_cost - bound <= max(self.gap, GAP_FLOOR) * max(abs(self.best_cost), 1e-10)

    def run(self, warm=None) -> float:
        """The whole search; returns the certified bound: the least bound over the open nodes,
        the leaves closed by an integral master and everything discarded (`pruned`)."""
        d, st = self.d, self.stats
        root = self.root(warm)
        if not self.dec.coupled or self.closed(root.L):
            return float(min(root.L, self.best_cost))
        tree_start, lp_start = time.perf_counter(), self.master.lp_solves
        free = [PairBounds.free(d.T) for _ in range(d.P)]
        if root.lp is not None:
            self.master.sparsify(root.lp.u)
        fixed = self.probe(root, free, eliminate=True)
        probed_at = self.best_cost
        heap: list[Node] = []  # open nodes, best bound first
        stack = [(Node(root.L, fixed, root.u), root)]  # processed, to be branched next (plunging)
        counter = itertools.count(1)
        leaves: list[float] = []
        while (stack or heap) and self.left() > 0:
            opened = [n for n, _ in stack] + heap
            self.progress(self.certified_bound(opened, leaves), len(opened))
            if stack:
                node, cg = stack.pop()
                cg = self.current(node, cg)
                if not np.isfinite(cg.L):
                    continue
                node.bound = max(cg.L, node.bound)
            else:
                if self.best_cost < probed_at:  # a better incumbent: fix more at the root
                    probed_at = self.best_cost
                    fixed = self.probe(root, fixed, eliminate=True)
                    heap = self.refix(heap, fixed)
                    if not heap:  # the fixings emptied every queued node: the tree has run out
                        continue
                self.purge()
                if self.last_lp is not None:
                    self.master.sparsify(self.last_lp.u)
                node = heapq.heappop(heap)
                if self.discard(node):
                    continue
                self.master.restore(node.columns)
                cg = self.colgen(node.bounds, node.u, self.node_tol)
                st.nodes += 1
                if not np.isfinite(cg.L):
                    continue
                node.bound = max(cg.L, node.bound)  # cg.L itself stays the Lagrangian at cg.u
                if cg.lp is not None:
                    self.offer_rounding(cg.lp)
                if st.nodes % HEURISTIC_EVERY == 0:
                    self.heuristics(cg, node.bounds, ip_time=0.5 if st.nodes % (5 * HEURISTIC_EVERY) == 0 else 0.0)
                node.bounds = self.probe(cg, node.bounds)
            if node.bound >= self.level():
                self.pruned = min(self.pruned, node.bound)
                continue
            if self.left() <= 0:
                heapq.heappush(heap, node)
                break
            decision = None if cg.lp is None or cg.lp.slack_used else self.branch(cg, node.bounds)
            if decision is None:  # the master agrees on every coupled decision: a leaf
                if cg.lp is not None and not cg.lp.slack_used:
                    self.offer_support(cg.lp)
                if node.bound < self.level():
                    leaves.append(node.bound)
                continue
            kids = []
            for side, bs in children(node.bounds, decision):
                if self.left() <= 0:
                    heapq.heappush(heap, Node(node.bound, bs, cg.u, node.depth + 1, next(counter)))
                    continue
                lps = self.master.lp_solves
                kcg = self.colgen(bs, cg.u, self.node_tol)
                st.nodes += 1
                if not np.isfinite(kcg.L):
                    continue
                kb = max(kcg.L, node.bound)  # a child's optimum is at least its parent's bound
                self.pseudo.record(decision, side, kb - node.bound)
                if kb >= self.level():
                    self.pruned = min(self.pruned, kb)
                    st.pruned_children += 1
                    st.pruned_child_lp_solves += self.master.lp_solves - lps
                    continue
                if kcg.lp is not None:
                    self.offer_rounding(kcg.lp)
                cols = self.master.snapshot(kcg.lp) if NODE_COLUMNS and kcg.lp is not None else None
                kids.append((Node(kb, bs, kcg.u, node.depth + 1, next(counter), cols), kcg))
                if st.nodes % HEURISTIC_EVERY == 0:
                    self.heuristics(kcg, bs, ip_time=0.5 if st.nodes % (5 * HEURISTIC_EVERY) == 0 else 0.0)
            kids.sort(key=lambda k: k[0].bound)
            if kids and node.depth < PLUNGE_DEPTH and self.left() > 0 and self.plunge(kids[0][0].bound, heap):
                child, kcg = kids.pop(0)
                child.bounds = self.probe(kcg, child.bounds)
                stack.append((child, kcg))
            for child, _ in kids:
                heapq.heappush(heap, child)
        open_nodes = [n for n, _ in stack] + heap
        bound = self.certified_bound(open_nodes, leaves)
        self.progress(bound, len(open_nodes), force=True)
        st.tree_seconds = time.perf_counter() - tree_start
        st.tree_lp_solves = self.master.lp_solves - lp_start
        return bound

    def discard(self, node: Node) -> bool:
        """Whether an open node is done without solving it: its bound reaches the level (it
        joins `pruned`), or the root's fixings have emptied its bounds. The latter's bound is not
        kept: every schedule it held uses a value the root's probing fixed out, whose Lagrangian
        is in `pruned` already, and its own bound (from before the better incumbent that emptied
        it) can be far below the level, where it would hold the search's bound under the gap
        with no node left to raise it (benchmarks/RESULTS.md, "Twenty-third round")."""
        if node.bound >= self.level():
            self.pruned = min(self.pruned, node.bound)
            return True
        return node.emptied()

    def current(self, node: Node, cg: ColGen) -> ColGen:
        """`cg`, or the node's column generation again (warm from its multipliers) when the master
        was purged since its LP (a plunged child's sibling's column generation may purge): that
        LP's λ then names other columns, and a leaf read from them would close a node nobody
        explored."""
        if cg.lp is None or cg.lp.generation == self.master.generation:
            return cg
        self.master.restore(node.columns)
        return self.colgen(node.bounds, cg.u, self.node_tol)

    def refix(self, heap: list[Node], fixed: list[PairBounds]) -> list[Node]:
        """The queued nodes met with the root's latest fixings, as a heap, less those left with
        no schedule: as `discard` says, their bounds are not the search's."""
        for n in heap:
            n.bounds = [b.meet(f) for b, f in zip(n.bounds, fixed, strict=True)]
        kept = [n for n in heap if not n.emptied()]
        heapq.heapify(kept)
        return kept

    def certified_bound(self, open_nodes: list[Node], leaves: list[float]) -> float:
        """The least bound over the open nodes, the leaves closed below the level, everything
        discarded and the incumbent: the search's bound at any moment."""
        return float(min([n.bound for n in open_nodes] + leaves + [self.pruned, self.best_cost]))

    def support_plan(self, lp: LPSolution, pick) -> tuple[np.ndarray, np.ndarray] | None:
        """One column per pair from the support of `lp` (λ > FRACTIONAL), `pick(cols)` choosing
        among a pair's; None if a pair has no column there."""
        d, master = self.d, self.master
        A, X = np.zeros((d.T, d.P)), np.zeros((d.T, d.P))
        for p, cols in enumerate(master.support(lp.lam, FRACTIONAL)):
            if not len(cols):
                return None
            j = pick(cols)
            A[:, p], X[:, p] = master.A[j], master.X[j]
        return A, X

    def offer_rounding(self, lp: LPSolution) -> None:
        """Each pair's heaviest column (largest λ) in a node's LP: if together feasible, improved
        by one-pair re-optimisation and offered. Unlike `offer_support`, for any node, not only
        leaves, and the heaviest rather than the cheapest: at a fractional node the cheapest
        columns of the support are the likeliest to break memory (3) together. Only with
        NODE_ROUNDING, in the station's own search (`top`)."""
        if not (NODE_ROUNDING and self.top):
            return
        plan = self.support_plan(lp, lambda cols: cols[int(np.argmax(lp.lam[cols]))])
        if plan is None or self.dec.objective(*plan)[1]:
            return
        self.offer(*local_search(self.dec, *plan))

    def offer_support(self, lp: LPSolution) -> None:
        """Each pair's cheapest column with λ > FRACTIONAL: at a leaf these agree on every coupled
        decision, so together they are feasible. (Columns of smaller λ may disagree in a memory
        slot without making ā fractional: taking the cheapest of all left leaves open.)"""
        plan = self.support_plan(lp, lambda cols: cols[int(np.argmin(self.master.cost[cols]))])
        if plan is not None:
            self.offer(*plan)
