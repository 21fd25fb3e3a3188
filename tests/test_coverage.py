"""LEO geometry against hand arithmetic and the known 550 km / 10° numbers."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optcache import coverage as cov
from optcache.errors import InvalidInput


def test_known_numbers_at_550km_10deg():
    # by hand: cos 10° = 0.984808; 6371 · 0.984808 / 6921 = 0.906541; arccos = 24.9676°; − 10°
    lam = math.degrees(cov.central_angle_max(550e3, 10.0))
    assert lam == pytest.approx(14.97, abs=0.01)
    assert math.degrees(math.acos(6371 * math.cos(math.radians(10)) / 6921)) - 10 == pytest.approx(lam, abs=1e-9)
    # v = sqrt(3.986004418e14 / 6.921e6) = 7589 m/s; T0 = 2 · 0.26123 · 6.921e6 / 7589
    v = math.sqrt(3.986004418e14 / 6.921e6)
    assert cov.orbital_speed(550e3) == pytest.approx(v)
    assert cov.coverage_time(550e3, 10.0) == pytest.approx(476, abs=1)
    assert cov.orbital_period(550e3) == pytest.approx(2 * math.pi * 6.921e6 / v)


def test_coverage_time_by_hand():
    # λ_max = 14.9676° = 0.261233 rad; arc 2 λ (E + l) = 2 · 0.261233 · 6.921e6 = 3.61599e6 m
    # v = 7589.0 m/s; T0 = 3.61599e6 / 7589.0 = 476.5 s
    lam = math.acos(6371e3 * math.cos(math.radians(10)) / 6921e3) - math.radians(10)
    assert math.degrees(lam) == pytest.approx(14.9676, abs=1e-4)
    v = math.sqrt(3.986004418e14 / 6921e3)
    assert v == pytest.approx(7589.0, abs=0.5)
    t0 = 2 * lam * 6921e3 / v
    assert t0 == pytest.approx(476.5, abs=0.1)
    assert cov.coverage_time(550e3, 10.0) == pytest.approx(t0, rel=1e-12)
    assert cov.coverage_time() == cov.coverage_time(cov.ALTITUDE_M, cov.MIN_ELEVATION_DEG)


def test_zero_elevation_is_the_horizon_angle():
    assert cov.central_angle_max(550e3, 0.0) == pytest.approx(math.acos(6371 / 6921))


@given(st.floats(300e3, 2000e3), st.floats(0, 60), st.floats(0.5, 20))
def test_monotone_in_elevation_and_altitude(h, eps, d):
    assert cov.central_angle_max(h, eps + d) < cov.central_angle_max(h, eps)
    assert cov.central_angle_max(h + 50e3, eps) > cov.central_angle_max(h, eps)


@given(st.floats(300e3, 2000e3), st.floats(0, 60), st.floats(0.5, 20))
def test_coverage_time_shrinks_with_elevation(h, eps, d):
    assert cov.coverage_time(h, eps + d) < cov.coverage_time(h, eps)


def test_slots_in_coverage():
    assert cov.slots_in_coverage(476.5, 60) == 7
    assert cov.slots_in_coverage(120, 60) == 2
    assert cov.slots_in_coverage(0, 60) == 0
    assert cov.slots_in_coverage(cov.coverage_time(), 10) == 47


@pytest.mark.parametrize("call,name", [
    (lambda: cov.orbital_speed(-550e3), "altitude_m"),
    (lambda: cov.orbital_speed(550e3, earth_radius_m=0.0), "earth_radius_m"),
    (lambda: cov.coverage_time(0.0, 10.0), "altitude_m"),
    (lambda: cov.coverage_time(550e3, 95.0), "min_elevation_deg"),
    (lambda: cov.coverage_time(550e3, float("nan")), "min_elevation_deg"),
    (lambda: cov.orbital_period(float("inf")), "altitude_m"),
    (lambda: cov.slots_in_coverage(-1.0, 60), "coverage_s"),
    (lambda: cov.slots_in_coverage(476.5, 0), "slot_seconds"),
    (lambda: cov.coverage_time("550000"), "altitude_m"),
    (lambda: cov.coverage_time(None), "altitude_m"),
    (lambda: cov.coverage_time(True), "altitude_m"),
    (lambda: cov.coverage_time(10**400), "altitude_m"),  # beyond a float: OverflowError before
    (lambda: cov.coverage_time(1e300), "altitude_m"),  # inf before
    (lambda: cov.orbital_period(1e300), "altitude_m"),
    (lambda: cov.coverage_time(550e3, "10"), "min_elevation_deg"),
    (lambda: cov.slots_in_coverage(1e308, 1e-308), "slot_seconds"),  # OverflowError before
    (lambda: cov.orbital_period("550e3"), "altitude_m"),  # TypeError before (used before checked)
    (lambda: cov.orbital_period(10**400), "altitude_m"),  # OverflowError before
])
def test_other_bad_input_names_the_argument(call, name):
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == name


@pytest.mark.parametrize("args,name", [((-1, 10), "altitude_m"), ((550e3, 90), "min_elevation_deg"),
                                       ((550e3, -1), "min_elevation_deg")])
def test_bad_input_names_the_argument(args, name):
    with pytest.raises(InvalidInput) as e:
        cov.central_angle_max(*args)
    assert e.value.field == name


def test_coverage_time_is_never_negative():
    """At nanometre altitudes and tiny elevations rounding made λ_max − ε negative (−2.8e-11 s)."""
    for h in (1e-300, 1e-12, 4e-10, 1e-6):
        for eps in (0.0, 1e-12, 1e-6):
            assert cov.coverage_time(h, eps) >= 0.0
    assert cov.coverage_time(1e-300, 1e-12) == 0.0
    assert cov.coverage_time(cov.MAX_LENGTH_M, 10.0) > cov.coverage_time(550e3, 10.0)
