"""Branching in `lagrange`'s search (docs/formulation.md §6.1, "Branching"): the decisions, their
pseudo-costs and the children they make."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optcache.solvers.lagrange.graph import PairBounds

FRACTIONAL = 1e-6
"""A master value ā within this of 0 or 1 counts as integral when branching; at a leaf, the
columns whose λ exceeds it are the ones that agree on every coupled decision."""

CHAIN = 2
"""Pairs a branching on a[t][p] splits on: p, then (on p's up side) the other pair of the slot
most out in the master (the smallest fractional ā), so that its children are p out | p in and q out |
both in. In a slot where memory keeps some pair out, p in alone often moves the weight to another
pair at little cost; naming who is out instead took the tree's time with the optimum as incumbent
from 752 s to 320 s over eight stations (three times less on two 80-slot ones), and three or four
pairs did worse than two (benchmarks/RESULTS.md, "Fifty-fourth round"). 1: plain a = 0 | 1."""


@dataclass(frozen=True)
class Decision:
    """A branching decision: split a[slot][pair] = 0 | 1 (kind 'a'), or
    x[slot][pair] ≤ value | ≥ value + 1 (kind 'x'). `down` is the master value's distance from
    the down side (ā, or x̄ − value); the up side is 1 − down away."""

    kind: str
    slot: int
    pair: int
    value: int
    down: float
    then: tuple[int, ...] = field(default=())
    """Kind 'a': pairs split on next within the up side, in order (`CHAIN`): the up side becomes
    one child per pair (the ones before it in, it out) and one with all of them in."""

    def distance(self, side: int) -> float:
        """How far the master's value is from side 0 (down) or 1 (up)."""
        return self.down if side == 0 else 1.0 - self.down


class PseudoCosts:
    """Bound gained per unit of distance by each side of each branching decision, averaged over
    the children evaluated so far (pseudo-cost branching, Bénichou et al. 1971): a decision not
    yet branched on is estimated by the average of its kind."""

    def __init__(self):
        self.sum: dict[tuple, float] = {}
        self.n: dict[tuple, int] = {}

    def record(self, d: Decision, side: int, gain: float) -> None:
        """Learn from one child: its bound rose by `gain` over its parent's (none if infeasible)."""
        dist = d.distance(side)
        if dist <= FRACTIONAL or not np.isfinite(gain):
            return
        for key in ((d.kind, d.slot, d.pair, side), (d.kind, side)):
            self.sum[key] = self.sum.get(key, 0.0) + max(gain, 0.0) / dist
            self.n[key] = self.n.get(key, 0) + 1

    def estimate(self, d: Decision, side: int) -> float:
        """The gain expected of one side: per-unit gain (the decision's, else its kind's, else 1)
        times the side's distance."""
        key = (d.kind, d.slot, d.pair, side)
        if key not in self.n:
            key = (d.kind, side)
        per = self.sum[key] / self.n[key] if key in self.n else 1.0
        return per * d.distance(side)

    def score(self, d: Decision, eps: float, floor=None) -> float:
        """The product rule: both children should gain. `floor(d, side)`, if given, is a gain
        the side is known to reach at least."""
        down, up = self.estimate(d, 0), self.estimate(d, 1)
        if floor is not None:
            down, up = max(down, floor(d, 0)), max(up, floor(d, 1))
        return max(down, eps) * max(up, eps)


def rise_of(rise: np.ndarray, d: Decision, side: int) -> float:
    """The rise of L at the node's multipliers when the decision's side is imposed on its pair,
    from one slot's row of `ColGen.rise` (x = 0..x_max, then a = 0)."""
    on, off = rise[:-1], rise[-1]
    if d.kind == "a":
        return float(off if side == 0 else on.min())
    if side == 0:
        return float(min(on[:d.value + 1].min(), off))
    return float(on[d.value + 1:].min()) if d.value + 1 < len(on) else np.inf


def children(bounds: list[PairBounds], decision: Decision) -> list[tuple[int, list[PairBounds]]]:
    """The children's (side, bounds) of a node with `bounds`, those not empty: x ≤ v | x ≥ v + 1, or
    for a[t][p] one child per pair of (p, *then) out, the ones before it in, and one with all of
    them in (a = 0 | 1 when `then` is empty): they partition the node's schedules by the first of
    those pairs out; the first is side 0, the others side 1."""
    t = decision.slot
    if decision.kind == "a":
        chain, out = (decision.pair, *decision.then), []
        for i in range(len(chain) + 1):
            bs = [b.copy() for b in bounds]
            for q in chain[:i]:
                bs[q].a_lo[t] = 1
            if i < len(chain):
                bs[chain[i]].a_hi[t] = 0
            if not any(bs[q].empty() for q in chain):
                out.append((min(i, 1), bs))
        return out
    out = []
    for side in (0, 1):
        bs = [b.copy() for b in bounds]
        b = bs[decision.pair]
        if side == 0:
            b.x_hi[t] = min(b.x_hi[t], decision.value)
        else:
            b.x_lo[t] = max(b.x_lo[t], decision.value + 1)
            b.a_lo[t] = 1
        if not b.empty():
            out.append((side, bs))
    return out
