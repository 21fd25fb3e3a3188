"""Auction rounds from caching runs (docs/formulation.md §11): common value, matches, coverage, contract price."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from optcache import coverage
from optcache.errors import InvalidInput
from optcache.instance import load_instance
from optcache.market.valuations import (
    MarketConfig,
    Rounds,
    contract_price,
    coverage_mask,
    episode_rounds,
    instance_rounds,
    with_history,
)

HAND = Path(__file__).resolve().parent / "data" / "hand_instance.json"


def test_rounds_of_the_hand_instance_under_static():
    """Hand instance, `static`: both pairs loaded in slot 1 and served (x = 3, 2); see tests/test_cli.py.

    κ after slot 1: pair 0: 3·7 - 5 = 16; pair 1: max(2·4 - 8, 0) = 0. ln(1/β) = 0.5 and 0.25.
    Bids use κ entering the slot: slot 1 m = (0 + 1)·ln(1/β); slot 2 m = (16 + 1)·0.5 = 8.5 and
    (0 + 1)·0.25 = 0.25. Cost of one request sent away d/r^C + l_0: pair 0: 10/10 + 1 = 2;
    pair 1: 20/10 + 2 = 4, so c = 3·2, 2·4 in slot 1 and 6·2, 2·4 in slot 2.
    """
    r = instance_rounds(load_instance(HAND), MarketConfig(policy="static", cloud_match=3.0))
    assert r.slot.tolist() == [0, 0, 1, 1] and r.service.tolist() == [0, 1, 0, 1]
    assert r.requests.tolist() == [3, 2, 6, 2]
    np.testing.assert_allclose(r.c, [6, 8, 12, 8], rtol=1e-12)
    np.testing.assert_allclose(r.m[:, 0], [0.5, 0.25, 8.5, 0.25], rtol=1e-12)
    np.testing.assert_allclose(r.v[:, 0], [3, 2, 102, 2], rtol=1e-12)
    np.testing.assert_allclose(r.v0, [18, 24, 36, 24], rtol=1e-12)
    np.testing.assert_allclose(r.log_inv_beta, [0.5, 0.25, 0.5, 0.25], rtol=1e-12)
    assert r.context_tokens.tolist() == [50, 8, 50, 8]


def test_generated_episode_invariants():
    cfg = MarketConfig(slots=30, services=6, stations=3)
    r = episode_rounds(cfg, seed=4)
    from optcache.scenario import generate

    inst = generate(slots=30, services=6, stations=3, seed=4)
    req = sum(st.requests for st in inst.stations)  # one pair per service in generated scenarios
    assert r.n == int((req > 0).sum())  # one round per (slot, service) with requests, none without
    assert np.array_equal(r.requests, req[r.slot, r.service])
    # c: the cost of sending every request of the round to the cloud, from the instance's fields
    unit = np.array([[inst.services[p.service].input_mb / st.backhaul_mb_per_s + p.cloud_cost
                      for p in inst.pairs] for st in inst.stations])  # (N, P)
    c = sum(st.requests[r.slot, r.service] * unit[n, r.service] for n, st in enumerate(inst.stations))
    np.testing.assert_allclose(r.c, c, rtol=1e-12)
    # matches: cold start in slot 1, and κ_0·ln(1/β) <= m <= (w + κ_0)·ln(1/β) throughout
    lib = r.log_inv_beta[:, None]
    np.testing.assert_allclose(r.m[r.slot == 0], np.broadcast_to(lib[r.slot == 0], r.m[r.slot == 0].shape))
    assert np.all(r.m >= lib * (1 - 1e-12)) and np.all(r.m <= (r.context_tokens[:, None] + 1) * lib)
    assert np.any(r.m > 2 * lib)  # some pair has built up age of thought
    assert r.m0 == cfg.cloud_match


def test_coverage_is_one_pass_of_whole_slots():
    # 550 km, ε_min = 10°: λ_max = arccos(6371·cos 10° / 6921) - 10° ≈ 0.2612 rad, v ≈ 7589 m/s,
    # T_0 = 2·0.2612·6921 km / 7.589 km/s ≈ 476.5 s: 47 whole 10-second slots
    cov = coverage.coverage_time(550e3, 10.0)
    assert cov == pytest.approx(476.5, abs=0.5)
    cfg = MarketConfig(slots=100)
    for seed in range(20):
        mask = coverage_mask(cfg, 100, np.random.default_rng(seed))
        on = np.flatnonzero(mask)
        assert on.size > 0 and np.all(np.diff(on) == 1)  # one contiguous pass (the period is 573 slots)
        assert on.size == min(47, 100 - on[0])


def test_contract_price_hand():
    # v0 - v1 = (2, 1, 0, -1) sorted by v1: the best prefix takes v1 = 1, 2 (profit 3); x0 between 2 and 3
    assert contract_price(np.array([4.0, 1.0, 3.0, 2.0]), np.array([3.0, 3.0, 3.0, 3.0])) == 2.5
    # never profitable: bid 0
    assert contract_price(np.array([5.0, 6.0]), np.array([1.0, 2.0])) == 0.0
    # equal v1 cannot be split: (1: +1), (1: -1) together give 0 < 0 + 4 with the last one; the
    # best prefix takes every round, so x0 is midway to 1 % above the top v1: (5 + 5·1.01)/2
    assert contract_price(np.array([1.0, 1.0, 5.0]), np.array([2.0, 0.0, 9.0])) == pytest.approx(5.025)
    assert contract_price(np.array([]), np.array([])) == 0.0


def _episode(e: int, v: list[list[float]], eligible: list[bool]) -> Rounds:
    """Rounds with c = 1, so v = m, and the satellite's value v0 = m0 = 3."""
    v = np.asarray(v, float)
    R = v.shape[0]
    nan = np.full(R, np.nan)
    return Rounds(episode=np.full(R, e), slot=np.arange(R), service=np.zeros(R, int), requests=np.ones(R, int),
                  c=np.ones(R), m=v, m0=3.0, eligible=np.asarray(eligible), log_inv_beta=np.ones(R),
                  context_tokens=np.ones(R), x0=nan, x2_mean=nan.copy(), scored=np.ones(R, bool), n_slots=R)


def test_history_uses_previous_episodes_in_coverage_only():
    e0 = _episode(0, [[1.0, 0.5], [9.0, 4.0], [2.0, 1.0]], [True, True, False])
    e1 = _episode(1, [[2.0, 1.5]], [True])
    e2 = _episode(2, [[5.0, 5.0]], [True])
    parts = [e0, e1, e2]
    d = with_history(parts, warmup=1)
    assert d.scored.tolist() == [False, False, False, True, True]
    assert np.isnan(d.x0[:3]).all()
    # episode 1: history = e0's rounds in coverage: v1 = (1, 9), v0 = 3: take v1 = 1 only -> x0 = (1 + 9)/2
    assert d.x0[3] == 5.0 and d.x2_mean[3] == pytest.approx((0.5 + 4.0) / 2)
    # episode 2: history adds e1 (v1 = 2): prefix (1, 2) gains 2 + 1 = 3 -> x0 = (2 + 9)/2
    assert d.x0[4] == 5.5 and d.x2_mean[4] == pytest.approx((0.5 + 4.0 + 1.5) / 3)
    with pytest.raises(InvalidInput, match="warmup"):
        with_history(parts, warmup=3)


def test_bad_market_config():
    with pytest.raises(InvalidInput, match="stations"):
        MarketConfig(stations=0)
    with pytest.raises(InvalidInput, match="cloud_match"):
        MarketConfig(cloud_match=-1.0)
    with pytest.raises(InvalidInput, match="policy"):
        episode_rounds(MarketConfig(slots=3, services=2, stations=2, policy="nope"), seed=0)
    assert math.isfinite(MarketConfig().cloud_match)


@pytest.mark.parametrize("s", [1e-16, 9.9e-7, 0.0])
def test_slot_seconds_has_a_lower_bound(s):
    """A slot of 1e-16 s made the orbital period in slots overflow (OverflowError in coverage_mask)."""
    with pytest.raises(InvalidInput, match=">= 1e-06") as e:
        MarketConfig(slot_seconds=s)
    assert e.value.field == "slot_seconds"


def test_shortest_slot_still_builds_a_mask():
    mask = coverage_mask(MarketConfig(slot_seconds=MarketConfig.MIN_SLOT_SECONDS), 5, np.random.default_rng(0))
    # the pass (minutes) outlasts 5 µs: every slot from its drawn start (uniform over the 5) is covered
    start = int(np.random.default_rng(0).integers(5))
    assert mask.tolist() == [t >= start for t in range(5)] and start == 4


@pytest.mark.parametrize("v1, v0", [([1.0, np.nan], [2.0, 3.0]), ([-1.0, 1.0], [2.0, 3.0]),
                                    ([1.0, 2.0], [2.0]), ([["a"]], [["b"]])])
def test_contract_price_refuses_bad_history(v1, v0):
    """A NaN in the history gave x0 = nan, a negative value a price from nonsense."""
    with pytest.raises(InvalidInput) as e:
        contract_price(v1, v0)
    assert e.value.field == "history"


@pytest.mark.parametrize("seed", ["a", 1.5, float("nan"), True])
def test_episode_seed_must_be_an_integer(seed):
    from optcache.market.valuations import market_dataset

    config = MarketConfig(slots=4, services=2, stations=2)
    for f in (lambda: episode_rounds(config, seed), lambda: market_dataset(config, [seed, 2])):
        with pytest.raises(InvalidInput, match="must be an integer") as e:
            f()
        assert e.value.field == "seed"


# --------------------------------------------------------------------------- arguments (sweep 9, item 17)
SMALL = MarketConfig(slots=10, services=2, stations=3, users=5, gpus=2)


@pytest.mark.parametrize("config, seeds, warmup, field, fragment", [
    (SMALL, None, 1, "seeds", "at least 2 integer seeds (history, then a scored episode), got NoneType"),
    (SMALL, 3, 1, "seeds", "got int"),
    (SMALL, [], 1, "seeds", "got 0"),
    (SMALL, [4], 1, "seeds", "got 1"),
    (SMALL.to_dict(), [0, 1], 1, "config", "expected a MarketConfig (MarketConfig.from_dict reads a table), got dict"),
    (None, [0, 1], 1, "config", "got NoneType"),
    (SMALL, [0, 1], "1", "warmup", "must be an integer in 1..1 (at least one scored episode), got '1'"),
    (SMALL, [0, 1, 2], 1.5, "warmup", "must be an integer in 1..2"),
    (SMALL, [0, 1, 2], True, "warmup", "got True"),
    (SMALL, [0, 1, 2], 3, "warmup", "got 3"),
])
def test_market_dataset_refuses_bad_arguments(config, seeds, warmup, field, fragment):
    """None or a count as seeds, a dict as config, a string warmup were raw errors; warmup=1.5
    silently acted as 2; no seeds blamed warmup."""
    from optcache.market.valuations import market_dataset

    with pytest.raises(InvalidInput) as e:
        market_dataset(config, seeds, warmup=warmup)
    assert e.value.field == field and fragment in e.value.message, str(e.value)


def test_market_dataset_takes_numpy_seeds_and_warmup():
    from optcache.market.valuations import market_dataset

    plain = market_dataset(SMALL, [0, 1, 2], warmup=2)
    d = market_dataset(SMALL, np.arange(3), warmup=np.int64(2))
    assert np.array_equal(d.scored, plain.scored) and np.array_equal(d.x0, plain.x0, equal_nan=True)
    assert d.scored.sum() == (d.episode == 2).sum() > 0  # only the third episode is scored


def test_with_history_refuses_too_few_episodes():
    with pytest.raises(InvalidInput, match="at least 2") as e:
        with_history([], warmup=1)
    assert e.value.field == "episodes"
    parts = [_episode(0, [[1.0, 0.5]], [True]), _episode(1, [[2.0, 1.5]], [True])]
    with pytest.raises(InvalidInput, match="got 1.0") as e:
        with_history(parts, warmup=1.0)
    assert e.value.field == "warmup"
