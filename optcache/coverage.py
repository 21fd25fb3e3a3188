"""LEO coverage time from standard geometry (docs/formulation.md §12; the paper's printed eq. (1) is garbled).

A ground point sees the satellite while the central angle between them is below λ_max, the angle
at which the satellite sits at the minimum elevation ε_min. An overhead pass sweeps 2·λ_max of
the orbit at orbital speed; Earth's rotation (~0.5 km/s at the equator, under 7 % of v) is ignored.
"""

from __future__ import annotations

import math
import numbers

from optcache.errors import InvalidInput, finite

EARTH_RADIUS_M = 6371e3  # mean Earth radius E
EARTH_MU = 3.986004418e14  # standard gravitational parameter GM of the Earth (m^3/s^2)
ALTITUDE_M = 550e3  # default LEO altitude l (Starlink-like shell)
MIN_ELEVATION_DEG = 10.0  # default minimum elevation ε_min
MAX_LENGTH_M = 1e9
"""Largest altitude or Earth radius taken (the market's cap on altitude_m): beyond it the period
and the coverage time overflow to inf."""


def _real(v: object, name: str) -> float:
    """`v` as a float if it is a real number (not a bool, a string or None), else InvalidInput."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise InvalidInput(name, f"expected a number, got {type(v).__name__}")
    try:
        return float(v)
    except OverflowError:  # an int beyond a float
        raise InvalidInput(name, f"must be finite, got an integer of {len(str(v))} digits") from None


def _check_altitude(altitude_m: float, earth_radius_m: float = EARTH_RADIUS_M) -> None:
    """Both lengths must be positive and finite (the geometry divides by E + l), at most MAX_LENGTH_M."""
    for name, v in (("altitude_m", altitude_m), ("earth_radius_m", earth_radius_m)):
        v = _real(v, name)
        if not finite(v) or not 0 < v <= MAX_LENGTH_M:
            raise InvalidInput(name, f"must be in (0, {MAX_LENGTH_M:g}] m, got {v}")


def _check(altitude_m: float, min_elevation_deg: float,
           earth_radius_m: float = EARTH_RADIUS_M) -> None:
    """Elevation in [0, 90) degrees: at 90 degrees the visible cap shrinks to a point."""
    _check_altitude(altitude_m, earth_radius_m)
    min_elevation_deg = _real(min_elevation_deg, "min_elevation_deg")
    if not finite(min_elevation_deg) or not 0 <= min_elevation_deg < 90:
        raise InvalidInput("min_elevation_deg", f"must be in [0, 90) degrees, got {min_elevation_deg}")


def central_angle_max(altitude_m: float = ALTITUDE_M, min_elevation_deg: float = MIN_ELEVATION_DEG,
                      earth_radius_m: float = EARTH_RADIUS_M) -> float:
    """λ_max = arccos(E cos ε / (E + l)) − ε, in radians: the half-width of the visibility cap.

    ε = min_elevation_deg is given in degrees (like every elevation in this project).
    """
    _check(altitude_m, min_elevation_deg, earth_radius_m)
    eps = math.radians(min_elevation_deg)
    # at 0 when rounding makes it negative (an altitude of nanometres above a tiny elevation)
    return max(math.acos(earth_radius_m * math.cos(eps) / (earth_radius_m + altitude_m)) - eps, 0.0)


def orbital_speed(altitude_m: float = ALTITUDE_M, earth_radius_m: float = EARTH_RADIUS_M) -> float:
    """Circular orbital speed v = sqrt(μ / (E + l)) in m/s (Kepler, circular orbit)."""
    _check_altitude(altitude_m, earth_radius_m)
    return math.sqrt(EARTH_MU / (earth_radius_m + altitude_m))


def orbital_period(altitude_m: float = ALTITUDE_M, earth_radius_m: float = EARTH_RADIUS_M) -> float:
    """Period of a circular orbit, 2π(E + l)/v, in seconds (how often passes can recur)."""
    v = orbital_speed(altitude_m, earth_radius_m)  # checks the arguments before they are used
    return 2 * math.pi * (earth_radius_m + altitude_m) / v


def coverage_time(altitude_m: float = ALTITUDE_M, min_elevation_deg: float = MIN_ELEVATION_DEG,
                  earth_radius_m: float = EARTH_RADIUS_M) -> float:
    """T_0 = 2 λ_max (E + l) / v: the longest (overhead) pass, in seconds.

    Ground-track arc over orbital speed; Earth's rotation is ignored (see the module docstring).
    """
    lam = central_angle_max(altitude_m, min_elevation_deg, earth_radius_m)
    return 2 * lam * (earth_radius_m + altitude_m) / orbital_speed(altitude_m, earth_radius_m)


def slots_in_coverage(coverage_s: float, slot_seconds: float) -> int:
    """Whole slots that fit in a coverage window (30b): the satellite may win only in these."""
    coverage_s, slot_seconds = _real(coverage_s, "coverage_s"), _real(slot_seconds, "slot_seconds")
    if not finite(coverage_s) or coverage_s < 0:
        raise InvalidInput("coverage_s", f"must be >= 0, got {coverage_s}")
    if not finite(slot_seconds) or slot_seconds <= 0:
        raise InvalidInput("slot_seconds", f"must be > 0, got {slot_seconds}")
    n = coverage_s / slot_seconds
    if not finite(n):
        raise InvalidInput("slot_seconds", f"{slot_seconds} s is too short for a {coverage_s} s window "
                           "(the slot count overflows)")
    return int(math.floor(n + 1e-9))
