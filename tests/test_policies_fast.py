"""The compiled policies (policies_fast) give exactly the reference's schedules (policies)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optcache.dynamics import State, step
from optcache.instance import StationData
from optcache.scenario import generate
from optcache.solvers.policies import POLICIES, laot_slot, replace_station
from optcache.solvers.policies_fast import laot_from, replace_instance, replace_stations


@st.composite
def stations(draw, T=None, P=None):
    """Small stations with many ties: small integer memory, requests, thought lengths and keys."""
    T = T or draw(st.integers(1, 8))
    P = P or draw(st.integers(1, 6))
    ints = lambda lo, hi, n: np.array(draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)))  # noqa: E731
    R = ints(0, 4, T * P).reshape(T, P).astype(np.int64)
    k = ints(0, 12, P).astype(float)
    e = ints(0, 3, P).astype(float)
    return StationData(
        T=T, P=P, lam=0.1, kappa0=1.0, s=ints(1, 3, P).astype(float), e=e,
        w=ints(1, 60, P).astype(float), k=k, d=np.ones(P),
        delta=np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 7.0]), min_size=P, max_size=P))),
        alpha=np.full(P, 0.5), beta=np.full(P, 0.5), l0=np.ones(P), access=np.zeros(P),
        G=float(draw(st.integers(0, 8))), E=float(draw(st.integers(0, 200))), f=1.0, rC=1.0, R=R)


def assert_same(data: StationData, policy: str, a_fast: np.ndarray, x_fast: np.ndarray) -> None:
    a, x = replace_station(data, policy)
    np.testing.assert_array_equal(a, a_fast)
    np.testing.assert_array_equal(x, x_fast)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=stations(), policy=st.sampled_from(POLICIES))
def test_fast_equals_reference_on_random_stations(data, policy):
    a, x = replace_stations([data], policy)
    assert a.dtype == np.int8 and x.dtype == np.int64
    assert_same(data, policy, a[0], x[0])


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(2, 5).flatmap(lambda B: st.lists(stations(T=5, P=4), min_size=B, max_size=B)),
       policy=st.sampled_from(POLICIES))
def test_batch_is_station_by_station(batch, policy):
    a, x = replace_stations(batch, policy)
    for b, data in enumerate(batch):
        assert_same(data, policy, a[b], x[b])


@pytest.mark.parametrize("seed", range(6))
def test_fast_equals_reference_on_paper_scenarios(seed):
    # tight memory (gpus 4, 8) and busy stations make evictions, refreshes and budget cuts frequent
    inst = generate(seed=seed, slots=40, gpus=(4, 8, 24)[seed % 3], users=(10, 40)[seed % 2],
                    stations=2)
    for policy in POLICIES:
        fast = replace_instance(inst, policy)
        for n in range(inst.n_stations):
            assert_same(inst.station_data(n), policy, *fast[n])


def test_the_four_orders_actually_differ_on_paper_scenarios():
    # guards against a kernel that ignores its policy argument
    inst = generate(seed=1, slots=60, gpus=8, stations=1)
    paper = ("laot", "fifo", "lru", "lfu")  # a policy added by docs/howto/add-policy.md may tie one
    schedules = {p: replace_instance(inst, p)[0][0].tobytes() for p in paper}
    assert len(set(schedules.values())) == 4


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=stations(), cut=st.integers(0, 8), other=st.sampled_from(POLICIES))
def test_laot_from_a_state_is_laot_slot_by_slot(data, cut, other):
    # the time-limit fallback of rolling and slot: least-AoT from whatever state the solves reached
    # (here: another policy's first `cut` slots, so the cache, K and κ are not least-AoT's own)
    t0 = min(cut, data.T - 1)
    a_o, x_o = replace_station(data, other)
    st0 = State.cold(data.P)
    for t in range(t0):
        st0 = step(st0, a_o[t], x_o[t], data.k, data.delta)
    a, x, before = laot_from(data, st0, t0)
    assert a.shape == x.shape == before.K.shape == before.kappa.shape == before.cached.shape \
        == (data.T - t0, data.P)
    s = st0
    for i, t in enumerate(range(t0, data.T)):
        np.testing.assert_array_equal(before.cached[i], s.cached)
        np.testing.assert_allclose(before.K[i], s.K, rtol=1e-12, atol=0)
        np.testing.assert_allclose(before.kappa[i], s.kappa, rtol=1e-12, atol=1e-12)
        a_t, x_t = laot_slot(data, s, t)
        np.testing.assert_array_equal(a[i], a_t)
        np.testing.assert_array_equal(x[i], x_t)
        s = step(s, a_t, x_t, data.k, data.delta)
