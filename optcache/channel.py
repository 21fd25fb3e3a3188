"""Uplink channel (eq. (2)) with fading, and the access cost d_i / E[r] it implies.

Ground links: log-distance path loss with Rayleigh fading. Satellite link: free-space loss with
shadowed-Rician fading (Abdi et al., 2003). Every draw takes an explicit numpy Generator.
"""

from __future__ import annotations

import numpy as np

SPEED_OF_LIGHT = 299_792_458.0  # m/s
NOISE_DBM_PER_HZ = -174.0  # thermal noise density at 290 K
CARRIER_HZ = 2e9  # carrier frequency of the uplink (S band)
CELL_RADIUS_M = 500.0  # users uniform in an annulus [MIN_DISTANCE_M, CELL_RADIUS_M] around the station
MIN_DISTANCE_M = 20.0  # closest user to the station
REF_DISTANCE_M = 1.0  # reference distance d0 of the log-distance model (free space up to d0)
PATH_LOSS_EXPONENT = 3.0  # urban macro-cell exponent beyond d0
SAT_ANTENNA_GAIN_DB = 30.0  # combined user/satellite antenna gain on the satellite link
SR_B, SR_M, SR_OMEGA = 0.126, 10.1, 0.835  # average shadowing (Abdi et al. 2003): b, m, Ω
MC_SAMPLES = 2000  # Monte Carlo fading samples per user


def _positive(name: str, v) -> None:
    if np.any(~np.isfinite(np.asarray(v, float))) or np.any(np.asarray(v, float) <= 0):
        raise ValueError(f"{name} must be > 0, got {v}")


def noise_power(bandwidth_hz: float, density_dbm_per_hz: float = NOISE_DBM_PER_HZ) -> float:
    """AWGN power σ² = N0 · B in watts."""
    _positive("bandwidth_hz", bandwidth_hz)
    return 10 ** ((density_dbm_per_hz - 30) / 10) * bandwidth_hz


def uplink_rate(bandwidth_hz, tx_power_w, gain, interference_w, noise_w):
    """Eq. (2): r = B log2(1 + p g / (I + σ²)) in bit/s, vectorised."""
    _positive("bandwidth_hz", bandwidth_hz)
    if np.any(np.asarray(tx_power_w) < 0):
        raise ValueError(f"tx_power_w must be >= 0, got {tx_power_w}")
    if np.any(np.asarray(interference_w) < 0) or np.any(np.asarray(noise_w) <= 0):
        raise ValueError("interference_w must be >= 0 and noise_w > 0")
    sinr = np.asarray(tx_power_w) * np.asarray(gain) / (np.asarray(interference_w) + np.asarray(noise_w))
    return np.asarray(bandwidth_hz) * np.log2(1.0 + sinr)


def rayleigh_power(rng: np.random.Generator, size, mean: float = 1.0) -> np.ndarray:
    """Power gain |h|² of Rayleigh fading: exponential with the given mean."""
    return rng.exponential(mean, size)


def shadowed_rician_power(rng: np.random.Generator, size, b: float = SR_B, m: float = SR_M,
                          omega: float = SR_OMEGA) -> np.ndarray:
    """|h|² with h = Z e^{jφ} + scatter: Z Nakagami-m of mean power Ω, scatter CN(0, 2b)."""
    _positive("b", b)
    _positive("m", m)
    _positive("omega", omega)
    los = np.sqrt(rng.gamma(m, omega / m, size)) * np.exp(1j * rng.uniform(0, 2 * np.pi, size))
    scatter = np.sqrt(b) * (rng.standard_normal(size) + 1j * rng.standard_normal(size))
    return np.abs(los + scatter) ** 2


def shadowed_rician_mean_power(b: float = SR_B, m: float = SR_M, omega: float = SR_OMEGA) -> float:
    """E|h|² = 2b + Ω (the LOS and scattered powers add; m shapes the spread, not the mean)."""
    return 2 * b + omega


def path_loss_gain(distance_m, link: str = "ground", carrier_hz: float = CARRIER_HZ):
    """Large-scale power gain: free space to d0 then exponent n (ground), or free space (satellite)."""
    _positive("distance_m", distance_m)
    d = np.asarray(distance_m, float)
    lam = SPEED_OF_LIGHT / carrier_hz
    if link == "satellite":
        return (lam / (4 * np.pi * d)) ** 2 * 10 ** (SAT_ANTENNA_GAIN_DB / 10)
    if link != "ground":
        raise ValueError(f"link must be 'ground' or 'satellite', got {link!r}")
    g0 = (lam / (4 * np.pi * REF_DISTANCE_M)) ** 2
    return g0 * (REF_DISTANCE_M / np.maximum(d, REF_DISTANCE_M)) ** PATH_LOSS_EXPONENT


def expected_uplink_rates(rng: np.random.Generator, n_users: int, *, bandwidth_hz: float = 20e6,
                          tx_power_w: float = 0.2, link: str = "ground", distances_m=None,
                          samples: int = MC_SAMPLES) -> np.ndarray:
    """E[r_u] per user by seeded Monte Carlo of eq. (2).

    All users of a cell share the band (a fully loaded uplink): user u's interference is the sum of
    the other users' received powers in the same fading draw.
    """
    if int(n_users) < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if distances_m is None:
        if link == "satellite":
            from optcache.coverage import ALTITUDE_M

            distances_m = np.full(n_users, ALTITUDE_M)
        else:  # uniform over the annulus area
            u = rng.uniform(MIN_DISTANCE_M**2, CELL_RADIUS_M**2, n_users)
            distances_m = np.sqrt(u)
    g = path_loss_gain(distances_m, link)
    fade = (shadowed_rician_power(rng, (samples, n_users)) if link == "satellite"
            else rayleigh_power(rng, (samples, n_users)))
    rx = tx_power_w * g * fade
    interference = rx.sum(axis=1, keepdims=True) - rx
    rates = uplink_rate(bandwidth_hz, tx_power_w, g * fade, interference, noise_power(bandwidth_hz))
    return rates.mean(axis=0)


def access_cost(input_mb, expected_rates_bps) -> np.ndarray:
    """l_{n,i} = d_i / E_u[r_{u,n}]: seconds to upload one input at the cell's mean expected rate."""
    rates = np.asarray(expected_rates_bps, float)
    _positive("expected_rates_bps", rates)
    d = np.asarray(input_mb, float)
    if np.any(d < 0):
        raise ValueError(f"input_mb must be >= 0, got {input_mb}")
    return d * 8e6 / rates.mean()
