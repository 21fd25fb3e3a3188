"""Channel model: closed forms, Monte Carlo means, monotonicity and seeding."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optcache import channel as ch
from optcache.errors import InvalidInput


def test_rate_formula_by_hand():
    # B log2(1 + p g / (I + σ²)) = 20e6 · log2(1 + 0.2 · 1e-9 / (1e-10 + 1e-10)) = 20e6 · log2(2)
    assert ch.uplink_rate(20e6, 0.2, 1e-9, 1e-10, 1e-10) == pytest.approx(20e6)
    # 10e6 · log2(1 + 0.1 · 3e-10 / (2e-12 + 1e-12)) = 10e6 · log2(11) = 34.594e6 bit/s
    assert ch.uplink_rate(10e6, 0.1, 3e-10, 2e-12, 1e-12) == pytest.approx(34.5943162e6, rel=1e-8)


def test_rate_is_vectorised():
    g = np.array([1e-9, 3e-9, 7e-9])
    r = ch.uplink_rate(20e6, 0.2, g, 1e-10, 1e-10)  # SINR 1, 3, 7 -> log2 = 1, 2, 3
    assert r.shape == (3,)
    assert np.allclose(r, [20e6, 40e6, 60e6], rtol=1e-12)


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
    assert abs(x.mean() - 2.5) < 5 * 2.5 / math.sqrt(n)  # exponential: std = mean


@pytest.mark.parametrize("b,m,omega", [(0.126, 10.1, 0.835),  # average shadowing
                                       (0.063, 0.739, 8.97e-4),  # heavy shadowing
                                       (0.158, 19.4, 1.29)])  # light shadowing (Abdi et al. 2003)
def test_shadowed_rician_second_moment(b, m, omega):
    # Given Z, |Z + S|² with S ~ CN(0, σ² = 2b) has E = Z² + σ², Var = σ⁴ + 2Z²σ², so
    # E|h|⁴ = 2σ⁴ + 4σ²E[Z²] + E[Z⁴], with Z² ~ Gamma(m, Ω/m): E[Z⁴] = Ω²(1 + 1/m).
    # Unlike the mean, this moment depends on the Nakagami m, so it checks the LOS sampler too.
    s2 = 2 * b
    expected = 2 * s2**2 + 4 * s2 * omega + omega**2 * (1 + 1 / m)
    n = 400_000
    x = ch.shadowed_rician_power(np.random.default_rng(11), n, b=b, m=m, omega=omega)
    assert abs(x.mean() - (2 * b + omega)) < 5 * x.std() / math.sqrt(n)
    assert abs((x**2).mean() - expected) < 5 * (x**2).std() / math.sqrt(n)


def test_samplers_follow_the_generator():
    for draw in (ch.rayleigh_power, ch.shadowed_rician_power):
        a = draw(np.random.default_rng(9), 50)
        b = draw(np.random.default_rng(9), 50)
        c = draw(np.random.default_rng(10), 50)
        assert np.array_equal(a, b) and not np.array_equal(a, c)
    state = np.random.get_state()[1].copy()
    ch.expected_uplink_rates(np.random.default_rng(0), 3, samples=10)
    assert np.array_equal(np.random.get_state()[1], state)  # global state untouched


def test_single_user_rate_matches_the_rayleigh_integral():
    # One user, no interference: E[r] = B ∫ log2(1 + s x) e^{-x} dx, with s the mean SNR.
    d = 300.0
    g = (ch.SPEED_OF_LIGHT / ch.CARRIER_HZ / (4 * math.pi)) ** 2 * d ** -3.0
    assert ch.path_loss_gain(d) == pytest.approx(g, rel=1e-12)
    sigma2 = 10 ** (-17.4) * 20e6 / 1000
    snr = 0.2 * g / sigma2
    x = np.linspace(0.0, 60.0, 600_001)
    f = np.log2(1 + snr * x) * np.exp(-x)
    exact = 20e6 * float(np.sum((f[1:] + f[:-1]) / 2) * (x[1] - x[0]))
    samples = 200_000
    mc = ch.expected_uplink_rates(np.random.default_rng(4), 1, distances_m=[d], samples=samples)
    fade = ch.rayleigh_power(np.random.default_rng(4), (samples, 1))  # the same draws
    se = float(ch.uplink_rate(20e6, 0.2, g * fade, 0.0, sigma2).std()) / math.sqrt(samples)
    assert abs(mc[0] - exact) < 5 * se


def test_path_loss_by_hand():
    # λ = c / 2 GHz = 0.149896 m; free space at d0 = 1 m: (λ/4π)² = 0.0119284² = 1.42286e-4 (−38.5 dB)
    g0 = (299_792_458.0 / 2e9 / (4 * math.pi)) ** 2
    assert g0 == pytest.approx(1.42286e-4, rel=1e-5)
    assert ch.path_loss_gain(1.0) == pytest.approx(g0)
    assert ch.path_loss_gain(0.5) == pytest.approx(g0)  # free space is capped at d0
    assert ch.path_loss_gain(100.0) == pytest.approx(g0 * 1e-6)  # exponent 3
    assert ch.path_loss_gain(100.0, exponent=2.0) == pytest.approx(g0 * 1e-4)
    assert ch.path_loss_gain(100.0, ref_distance_m=10.0, exponent=4.0) == pytest.approx(
        g0 / 100 * 1e-4)
    # satellite: free space at 550 km plus 30 dB antenna gain, frequency as a parameter
    lam = 299_792_458.0 / 2e9
    assert ch.path_loss_gain(550e3, "satellite") == pytest.approx((lam / (4 * math.pi * 550e3)) ** 2 * 1e3)
    assert ch.path_loss_gain(550e3, "satellite", 4e9) == pytest.approx(
        ch.path_loss_gain(550e3, "satellite") / 4)
    assert np.all(np.diff(ch.path_loss_gain(np.array([10.0, 50.0, 200.0, 500.0]))) < 0)


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


def test_satellite_defaults_to_the_altitude_and_noise_to_n0b():
    from optcache import coverage

    assert ch.ALTITUDE_M == coverage.ALTITUDE_M == 550e3
    a = ch.expected_uplink_rates(np.random.default_rng(3), 4, link="satellite", samples=200)
    b = ch.expected_uplink_rates(np.random.default_rng(3), 4, link="satellite", samples=200,
                                 distances_m=np.full(4, 550e3), noise_w=ch.noise_power(20e6))
    assert np.array_equal(a, b) and (a > 0).all()
    louder = ch.expected_uplink_rates(np.random.default_rng(3), 4, link="satellite", samples=200,
                                      noise_w=100 * ch.noise_power(20e6))
    assert (louder < a).all()


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
    (lambda: ch.uplink_rate(1, 0.2, -1, 0, 1), "gain"),
    (lambda: ch.uplink_rate(1, 0.2, 1, -1e-9, 1), "interference_w"),
    (lambda: ch.uplink_rate(1, 0.2, 1, 0, 0), "noise_w"),
    (lambda: ch.uplink_rate(float("nan"), 0.2, 1, 0, 1), "bandwidth_hz"),
    (lambda: ch.noise_power(-20e6), "bandwidth_hz"),
    (lambda: ch.access_cost([1.0], [0.0]), "expected_rates_bps"),
    (lambda: ch.access_cost([-1.0], [1e6]), "input_mb"),
    (lambda: ch.path_loss_gain(-5.0), "distance_m"),
    (lambda: ch.path_loss_gain(5.0, carrier_hz=0.0), "carrier_hz"),
    (lambda: ch.path_loss_gain(5.0, exponent=-1.0), "exponent"),
    (lambda: ch.path_loss_gain(5.0, link="air"), "link"),
    (lambda: ch.rayleigh_power(np.random.default_rng(0), 3, mean=-1.0), "mean"),
    (lambda: ch.shadowed_rician_power(np.random.default_rng(0), 3, m=0.0), "m"),
    (lambda: ch.shadowed_rician_mean_power(b=-0.1), "b"),
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 3, bandwidth_hz=-1.0), "bandwidth_hz"),
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 3, tx_power_w=-1.0), "tx_power_w"),
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 0), "n_users"),
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 2, samples=0), "samples"),
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 2, distances_m=[1.0]), "distances_m"),
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 2, link="air"), "link"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == name  # the field itself: "m" or "b" would match most messages


def test_generator_channel_access_cost_is_per_service_and_positive():
    import optcache

    inst = optcache.generate(slots=3, stations=2, access="channel", seed=3)
    a = np.array([s.access_cost for s in inst.stations])
    assert a.shape == (2, 10) and (a > 0).all()
    # same station: cost proportional to the input size d_i (one mean rate per station)
    d = np.array([s.input_mb for s in inst.services])
    assert np.allclose(a[0] / d, a[0, 0] / d[0])


def test_rate_at_a_huge_bandwidth_is_its_wideband_limit():
    """B log2(1 + S/(N0 B)) → S/(N0 ln 2) as B grows; log2(1 + x) lost x below 1e-16 and gave 0."""
    s = 0.2 * 1e-10
    for b in (1e20, 1e30, 1e100):
        r = float(ch.uplink_rate(b, 0.2, 1e-10, 0.0, ch.noise_power(b)))
        assert r == pytest.approx(s / (ch.noise_power(1.0) * math.log(2)), rel=1e-6)


def test_gain_never_exceeds_one():
    """Within λ/4π of the antenna the far-field formulas exceed 1 (142285 at 1 mm, inf at 1e-300 m)."""
    assert float(ch.path_loss_gain(1e-3, "satellite")) == 1.0
    assert float(ch.path_loss_gain(1e-300, "satellite")) == 1.0
    assert float(ch.path_loss_gain(100.0, "ground", carrier_hz=1.0)) == 1.0
    assert 0 < float(ch.path_loss_gain(550e3, "satellite")) < 1


@pytest.mark.parametrize("call,name", [
    (lambda: ch.uplink_rate(20e6, 1e200, 1e200, 0, 1), "tx_power_w"),  # inf before
    (lambda: ch.noise_power(20e6, float("nan")), "density_dbm_per_hz"),  # NaN before
    (lambda: ch.noise_power(20e6, 1e6), "density_dbm_per_hz"),  # OverflowError before
    (lambda: ch.access_cost([1.0], []), "expected_rates_bps"),  # NaN before
    (lambda: ch.access_cost([1e305], [1e-300]), "expected_rates_bps"),  # inf before
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), "abc"), "n_users"),
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 2, samples=float("nan")), "samples"),
    (lambda: ch.expected_uplink_rates(None, 2), "rng"),
    (lambda: ch.uplink_rate("a", 1, 1, 0, 1), "bandwidth_hz"),
    # named as the caller spells it (was "exponent", path_loss_gain's name for it)
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 2, path_loss_exponent=0), "path_loss_exponent"),
    (lambda: ch.rayleigh_power(np.random.default_rng(0), -1), "size"),  # numpy's ValueError before
    (lambda: ch.shadowed_rician_power(np.random.default_rng(0), (2, -1)), "size"),
    (lambda: ch.rayleigh_power(np.random.default_rng(0), 2.5), "size"),
    # AttributeError / MemoryError before (twelfth round's API audit)
    (lambda: ch.rayleigh_power(None, 3), "rng"),
    (lambda: ch.shadowed_rician_power(np.random.RandomState(0), 3), "rng"),
    (lambda: ch.rayleigh_power(np.random.default_rng(0), 10**13), "size"),
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 10**7), "n_users"),
    (lambda: ch.expected_uplink_rates(np.random.default_rng(0), 10**400), "n_users"),  # OverflowError
])
def test_overflow_and_bad_types_name_the_argument(call, name):
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == name and len(str(e.value)) < 200


def test_scenario_channel_knobs_that_make_the_uplink_useless_are_named():
    """Each knob in its range, together an access cost of 1.9e16 s: the error named
    stations[0].access_cost[0], a field the user never set."""
    from optcache.scenario import generate

    with pytest.raises(InvalidInput, match="path_loss_exponent=6") as e:
        generate(slots=2, services=2, stations=1, access="channel", users=1, noise_dbm_per_hz=-100,
                 path_loss_exponent=6)
    assert e.value.field == "noise_dbm_per_hz"


def test_satellite_route_is_judged_by_the_satellite_link_only():
    """With route='satellite' the ground draw (made so that the requests stay those of 'ground')
    is discarded; its cost of 1e12+ s under path-loss exponent 6 refused seeds 0 and 2, whose
    satellite uplink alone gives ~7e4-9e4 s per request (in range)."""
    from optcache.scenario import generate

    kw = dict(slots=1, stations=1, services=1, users=2, access="channel", noise_dbm_per_hz=-140.0,
              path_loss_exponent=6.0)
    with pytest.raises(InvalidInput, match="ground uplink"):
        generate(seed=0, **kw)
    for seed in (0, 2):
        sat = generate(seed=seed, route="satellite", **kw)
        # the satellite's own stream: the same cost whatever the (unused) ground exponent
        same = generate(seed=seed, route="satellite", **{**kw, "path_loss_exponent": 2.0})
        assert sat.stations[0].access_cost == same.stations[0].access_cost
        assert 1e3 < sat.stations[0].access_cost[0] < 1e12
        assert np.array_equal(sat.stations[0].requests, generate(seed=seed, **{**kw, "path_loss_exponent": 2.0})
                              .stations[0].requests)
