"""The §8 replacement policies traced by hand (docs/formulation.md §8).

Every expected a and x below is derived step by step in the comments from §8, never copied from
the code. Each trace runs through the readable reference (`replace_station`) and through the
registered methods (the compiled version), which must both give it.
"""

from __future__ import annotations

import numpy as np
import pytest

from optcache.errors import InvalidInput
from optcache.evaluator import evaluate
from optcache.instance import Instance, Model, Pair, Service, Station
from optcache.schedule import Schedule
from optcache.solvers import registry
from optcache.solvers.policies import POLICIES, replace_station

PAPER_POLICIES = ("laot", "fifo", "lru", "lfu")
"""The four orders the victim fixtures below were worked out for; a policy added as
docs/howto/add-policy.md shows joins `POLICIES` (and the skeleton's tests), not these."""


def make_instance(R, *, mem, k, w=1000, e=1.0, delta=1.0, G=4.0, E=1e9) -> Instance:
    """One station; pair p = (service p, its own model) with memory mem[p], thought length k[p]."""
    R = np.asarray(R, dtype=np.int64)
    T, P = R.shape
    w = [w] * P if np.isscalar(w) else w
    models = tuple(Model(f"m{p}", float(mem[p]), e, int(w[p])) for p in range(P))
    services = tuple(Service(f"s{p}", 1.0, int(k[p])) for p in range(P))
    pairs = tuple(Pair(p, p, 0.5, 0.5, delta, 1.0) for p in range(P))
    station = Station("n0", G, E, 1.0, 1.0, (0.0,) * P, R)
    return Instance(T, 0.1, 1.0, models, services, pairs, (station,))


def run_both(inst: Instance, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """The reference's (a, x), after checking that the registered (compiled) method agrees."""
    a, x = replace_station(inst.station_data(0), policy)
    res = registry.run(policy, inst)
    assert res.status == "ok" and res.termination == "heuristic" and res.bound is None
    np.testing.assert_array_equal(res.schedule.stations[0].cached, a)
    np.testing.assert_array_equal(res.schedule.stations[0].edge_requests, x)
    return a, x


# ------------------------------------------------------------------ four policies, four victims
# Pairs p0..p5; p0..p4 take 1 GB each, p5 takes 2 GB; G = 4 GB. Thought lengths k = 10 tokens,
# except p3 with k = 1. Δ = 1 token/slot for every pair, windows of 1000 tokens (never full), the
# compute budget never binds, so every admitted pair serves all its requests.
#
#            p0 p1 p2 p3 p4 p5
VICTIM_R = [[1, 0, 0, 0, 0, 0],   # slot 1
            [0, 5, 0, 0, 0, 0],   # slot 2
            [0, 0, 1, 0, 0, 0],   # slot 3
            [1, 0, 0, 3, 0, 0],   # slot 4
            [0, 0, 0, 0, 2, 0],   # slot 5
            [0, 0, 0, 0, 1, 2]]   # slot 6
VICTIM_MEM = [1, 1, 1, 1, 1, 2]
VICTIM_K = [10, 10, 10, 1, 10, 10]
# Slots 1-4 are the same for every policy (memory never exceeds 4 GB, nothing is evicted):
#   slot 1: p0 loaded (0+1 ≤ 4), serves 1: K0 = 10, κ0 = max(0 + 10 - 1, 0) = 9.
#   slot 2: p1 loaded (1+1 ≤ 4), serves 5: K1 = 50, κ1 = 49; p0 unrequested stays, κ0 = 8.
#   slot 3: p2 loaded (3 GB), serves 1: κ2 = 9; κ0 = 7, κ1 = 48.
#   slot 4: order p3 (R=3), p0 (R=1). No refresh (K0 + 10 = 20 ≤ 1000). p3 loaded (3+1 = 4 ≤ 4),
#           p0 cached stays; both serve: κ3 = 1·3 - 1 = 2, κ0 = 7 + 10 - 1 = 16; κ1 = 47, κ2 = 8.
# Keys at the start of slot 5 (cached p0..p3):
#   laot  κ:            p0 16, p1 47, p2 8, p3 2   -> smallest p3
#   fifo  loaded in:    p0 1,  p1 2,  p2 3, p3 4   -> smallest p0
#   lru   last request: p0 4,  p1 2,  p2 3, p3 4   -> smallest p1
#   lfu   requests:     p0 2,  p1 5,  p2 1, p3 3   -> smallest p2
# Slot 5: p4 (R=2) does not fit (4+1 > 4); the candidates are p0..p3 (none admitted), evicting all
#   would make room, so one victim is evicted, smallest key first, and p4 is loaded and serves 2.
#   Afterwards every cached pair decays by 1: κ p0 15, p1 46, p2 7, p3 1 (if kept), κ4 = 20-1 = 19;
#   p4 loaded in slot 5, last requested in 5, 2 requests.
# Slot 6: order p5 (R=2), p4 (R=1). p5 needs 2 GB with 4 in use: the candidates are all four cached
#   pairs, p4 included (requested, but not yet admitted when p5 is handled); evicting all makes room,
#   so two victims go (4 - 2 + 2 ≤ 4), then p5 is loaded and serves 2. p4 then stays and serves 1,
#   unless it was a victim: a pair unloaded in this slot is not loaded again in it.
#   laot (cached p0 15, p1 46, p2 7, p4 19):  evict p2, p0;     keep p1, p4; p4 serves 1.
#   fifo (cached p1 2, p2 3, p3 4, p4 5):      evict p1, p2;     keep p3, p4; p4 serves 1.
#   lru  (cached p0 4, p2 3, p3 4, p4 5):      evict p2, then p0 (tie with p3 at 4, lower index);
#                                              keep p3, p4; p4 serves 1.
#   lfu  (cached p0 2, p1 5, p3 3, p4 2):      evict p0 (tie with p4 at 2, lower index), then p4;
#                                              keep p1, p3; p4 is not reloaded and serves 0.
COMMON_A = [[1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 0, 0]]
COMMON_X = [[1, 0, 0, 0, 0, 0],
            [0, 5, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [1, 0, 0, 3, 0, 0]]
VICTIM_EXPECTED = {  # policy: (a in slots 5, 6), (x in slots 5, 6)
    "laot": ([[1, 1, 1, 0, 1, 0], [0, 1, 0, 0, 1, 1]], [[0, 0, 0, 0, 2, 0], [0, 0, 0, 0, 1, 2]]),
    "fifo": ([[0, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1]], [[0, 0, 0, 0, 2, 0], [0, 0, 0, 0, 1, 2]]),
    "lru":  ([[1, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1]], [[0, 0, 0, 0, 2, 0], [0, 0, 0, 0, 1, 2]]),
    "lfu":  ([[1, 1, 0, 1, 1, 0], [0, 1, 0, 1, 0, 1]], [[0, 0, 0, 0, 2, 0], [0, 0, 0, 0, 0, 2]]),
}


def test_the_paper_policies_come_first_in_their_codes():
    assert POLICIES[:4] == PAPER_POLICIES  # the compiled kernel's codes 0..3


@pytest.mark.parametrize("policy", PAPER_POLICIES)
def test_four_policies_evict_four_different_victims(policy):
    inst = make_instance(VICTIM_R, mem=VICTIM_MEM, k=VICTIM_K)
    a, x = run_both(inst, policy)
    exp_a, exp_x = VICTIM_EXPECTED[policy]
    np.testing.assert_array_equal(a, np.array(COMMON_A + exp_a))
    np.testing.assert_array_equal(x, np.array(COMMON_X + exp_x))


def test_victims_differ_between_policies():
    """The trace really separates the four orders: the policies' own slot-5 caches all differ."""
    inst = make_instance(VICTIM_R, mem=VICTIM_MEM, k=VICTIM_K)
    slot5 = {p: tuple(run_both(inst, p)[0][len(COMMON_A)]) for p in PAPER_POLICIES}
    assert len(set(slot5.values())) == 4
    assert slot5 == {p: tuple(VICTIM_EXPECTED[p][0][0]) for p in PAPER_POLICIES}


def test_victim_trace_cost_by_hand():
    # laot's switching: loads in slots 1, 2, 3, 4, 5 (p0, p1, p2, p3, p4) and 6 (p5): 6 · λ = 0.6
    # over T = 6 slots -> 0.1. Access costs are 0 and d/r^C = 1, l_0 = 1: every request not served
    # at the edge costs 2 (backhaul 1 + cloud 1); laot serves all 16 requests, so those terms are 0.
    inst = make_instance(VICTIM_R, mem=VICTIM_MEM, k=VICTIM_K)
    a, x = replace_station(inst.station_data(0), "laot")
    ev = evaluate(inst, Schedule.from_arrays([(a, x)]))
    assert ev.feasible
    assert ev.terms["switching"] == pytest.approx(0.6 / 6)
    assert ev.terms["cloud"] == 0 and ev.terms["transmission"] == 0
    # lfu leaves p4's one request of slot 6 to the cloud: (1 + 1)/6
    a, x = replace_station(inst.station_data(0), "lfu")
    ev = evaluate(inst, Schedule.from_arrays([(a, x)]))
    assert ev.terms["cloud"] + ev.terms["transmission"] == pytest.approx(2 / 6)


# ------------------------------------------------------------------ refresh (step 1)
# One pair, k = 10, window w = 25.
#   slot 1: R = 2: loaded, serves 2, K = 20.
#   slot 2: R = 1: K + 10·1 = 30 > 25: refreshed (unloaded, a = 0) and not loaded again: x = 0.
#   slot 3: R = 1: K = 0 after the unload; loaded again, serves 1, K = 10.
#   slot 4: R = 3: 10 + 30 = 40 > 25: refreshed again.
#   slot 5: R = 3: loaded with K = 0; step 3 needs K + 30 ≤ 25, false: it stays cached, x = 0.
@pytest.mark.parametrize("policy", POLICIES)
def test_refresh_unloads_a_full_context(policy):
    inst = make_instance([[2], [1], [1], [3], [3]], mem=[1], k=[10], w=[25])
    a, x = run_both(inst, policy)
    np.testing.assert_array_equal(a[:, 0], [1, 0, 1, 0, 1])
    np.testing.assert_array_equal(x[:, 0], [2, 0, 1, 0, 0])


# ------------------------------------------------------------------ evict nothing unless it is enough
# G = 4; p0, p1 take 1 GB, p2 takes 4 GB.
#   slot 1: p0 (R=2), p1 (R=1) loaded, 2 GB in use.
#   slot 2: order p0 (R=9), p2 (R=5). p0 stays (admitted). p2 needs 4 GB: the only candidate is p1
#           (p0 is admitted); without p1, 1 + 4 = 5 > 4, so nothing is evicted, p2 is not loaded,
#           and unrequested p1 keeps its place.
#   slot 3: p2 (R=5) alone: candidates p0, p1; evicting both leaves 0 + 4 ≤ 4: both go (laot order
#           is irrelevant, both are needed), p2 loaded.
@pytest.mark.parametrize("policy", POLICIES)
def test_no_eviction_unless_all_candidates_make_room(policy):
    inst = make_instance([[2, 1, 0], [9, 0, 5], [0, 0, 5]], mem=[1, 1, 4], k=[10, 10, 10])
    a, x = run_both(inst, policy)
    np.testing.assert_array_equal(a, [[1, 1, 0], [1, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(x, [[2, 1, 0], [9, 0, 0], [0, 0, 5]])


# ------------------------------------------------------------------ serve all-or-nothing (step 3)
# e = 1 FLOP/token, k = 10: 10 FLOP per request; E = 50 FLOP per slot; memory is ample.
#   order p0 (R=4), p1 (R=2), p2 (R=1): p0 uses 40; p1 would need 20 (60 > 50): x = 0, still cached;
#   p2 needs 10 (40 + 10 = 50 ≤ 50): serves.
@pytest.mark.parametrize("policy", POLICIES)
def test_serve_is_all_or_nothing_in_request_order(policy):
    inst = make_instance([[4, 2, 1]], mem=[1, 1, 1], k=[10, 10, 10], E=50.0)
    a, x = run_both(inst, policy)
    np.testing.assert_array_equal(a, [[1, 1, 1]])
    np.testing.assert_array_equal(x, [[4, 0, 1]])


# ------------------------------------------------------------------ ties in the request order
# Two uncached pairs with equal R compete for the one free GB: the lower index goes first.
#   slot 1: order p0, p1 (both R = 3, tie by index): p0 loaded (1 ≤ 1); p1 does not fit and the only
#           cached pair, p0, is admitted: nothing to evict, p1 stays out.
@pytest.mark.parametrize("policy", POLICIES)
def test_request_order_ties_by_index(policy):
    inst = make_instance([[3, 3]], mem=[1, 1], k=[10, 10], G=1.0)
    a, x = run_both(inst, policy)
    np.testing.assert_array_equal(a, [[1, 0]])
    np.testing.assert_array_equal(x, [[3, 0]])


def test_unknown_policy_is_invalid_input():
    inst = make_instance([[1]], mem=[1], k=[1])
    with pytest.raises(InvalidInput) as e:
        replace_station(inst.station_data(0), "no-such-policy")  # not "mru": the how-to adds it
    assert e.value.field == "policy"


def test_policies_registered_without_options():
    for name in POLICIES:
        spec = registry.get(name)
        assert spec.options == () and not spec.exact
    with pytest.raises(InvalidInput):
        registry.run("laot", make_instance([[1]], mem=[1], k=[1]), horizon=3)
