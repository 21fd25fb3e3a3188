"""Channel model: closed forms, Monte Carlo means, monotonicity and seeding."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optcache import channel as ch


def test_rate_formula_by_hand():
    # B log2(1 + p g / (I + σ²)) = 20e6 · log2(1 + 0.2 · 1e-9 / (1e-10 + 1e-10)) = 20e6 · log2(2)
    assert ch.uplink_rate(20e6, 0.2, 1e-9, 1e-10, 1e-10) == pytest.approx(20e6)


def test_noise_power():
    # −174 dBm/Hz + 10 log10(20e6) = −100.99 dBm = 7.96e-14 W
    assert ch.noise_power(20e6) == pytest.approx(10 ** (-17.4) * 20e6 / 1000, rel=1e-12)


def test_shadowed_rician_mean_power_closed_form_and_monte_carlo():
    assert ch.shadowed_rician_mean_power(0.126, 10.1, 0.835) == pytest.approx(2 * 0.126 + 0.835)
    n = 400_000
    x = ch.shadowed_rician_power(np.random.default_rng(1), n)
    se = x.std() / math.sqrt(n)
    assert abs(x.mean() - 1.087) < 5 * se


def test_rayleigh_mean():
    n = 400_000
    x = ch.rayleigh_power(np.random.default_rng(2), n, mean=2.5)
    assert abs(x.mean() - 2.5) < 5 * 2.5 / math.sqrt(n)


@given(st.floats(1e6, 1e8), st.floats(1e-12, 1e-6), st.floats(0, 1e-9), st.floats(1.01, 10))
def test_rate_monotone(b, g, i, f):
    noise = 1e-13
    assert ch.uplink_rate(b, 0.2, g, i * f + 1e-15, noise) < ch.uplink_rate(b, 0.2, g, i, noise)
    assert ch.uplink_rate(b * f, 0.2, g, i, noise) > ch.uplink_rate(b, 0.2, g, i, noise)


def test_seeding():
    r1 = ch.expected_uplink_rates(np.random.default_rng(5), 6)
    r2 = ch.expected_uplink_rates(np.random.default_rng(5), 6)
    r3 = ch.expected_uplink_rates(np.random.default_rng(6), 6)
    assert np.array_equal(r1, r2) and not np.array_equal(r1, r3)


def test_interference_lowers_rates():
    d = np.full(4, 200.0)
    alone = ch.expected_uplink_rates(np.random.default_rng(0), 1, distances_m=d[:1])
    shared = ch.expected_uplink_rates(np.random.default_rng(0), 4, distances_m=d)
    assert shared.max() < alone[0]


def test_access_cost_by_hand():
    # 150 MB = 1.2e9 bit over a mean rate of 12e6 bit/s = 100 s
    assert ch.access_cost([150.0, 75.0], [10e6, 14e6]) == pytest.approx([100.0, 50.0])


@pytest.mark.parametrize("call,name", [
    (lambda: ch.uplink_rate(-1, 0.2, 1, 0, 1), "bandwidth_hz"),
    (lambda: ch.uplink_rate(1, -0.2, 1, 0, 1), "tx_power_w"),
    (lambda: ch.access_cost([1.0], [0.0]), "expected_rates_bps"),
    (lambda: ch.path_loss_gain(-5.0), "distance_m"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_generator_channel_access_cost_is_per_service_and_positive():
    import optcache

    inst = optcache.generate(slots=3, stations=2, access="channel", seed=3)
    a = np.array([s.access_cost for s in inst.stations])
    assert a.shape == (2, 10) and (a > 0).all()
    # same station: cost proportional to the input size d_i (one mean rate per station)
    d = np.array([s.input_mb for s in inst.services])
    assert np.allclose(a[0] / d, a[0, 0] / d[0])
