"""Uplink channel (eq. (2)) with fading, and the access cost d_i / E[r] it implies.

Ground links: log-distance path loss with Rayleigh fading. Satellite link: free-space loss with
shadowed-Rician fading (Abdi et al., 2003). Every draw takes an explicit numpy Generator, so a
seed fixes every number; nothing here touches numpy's global random state.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from optcache.coverage import ALTITUDE_M  # satellite altitude l = 550 km, one source
from optcache.errors import InvalidInput, finite

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

_LINKS = ("ground", "satellite")


def _show(a: np.ndarray, bad: np.ndarray) -> str:
    """The first offending value (and where, for an array): a message stays one short line."""
    if a.ndim == 0:
        return f"{a.item()!r}"
    at = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{a[at].item()!r} at {list(at)} (shape {a.shape})"


def _as_float(name: str, v) -> np.ndarray:
    """Reject non-numbers and NaN/inf early: they would silently poison every rate downstream."""
    if isinstance(v, (str, bytes)) or v is None:
        raise InvalidInput(name, f"expected numbers, got {type(v).__name__}")
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidInput(name, f"expected numbers: {e}"[:160]) from None
    bad = ~np.isfinite(a)
    if bad.any():
        raise InvalidInput(name, f"must be finite, got {_show(a, bad)}")
    return a


def _finite(name: str, a: np.ndarray, why: str) -> np.ndarray:
    """A result that must be finite (inputs in range can still overflow together)."""
    bad = ~np.isfinite(a)
    if np.any(bad):
        raise InvalidInput(name, f"{why} overflows ({_show(np.asarray(a), np.asarray(bad))})")
    return a


MAX_DRAWS = 10**8
"""Most fading draws one call makes (0.8-1.6 GB of float or complex arrays, several at once): a
larger request is InvalidInput naming it, not numpy's MemoryError. The generator's largest,
1000 users × 2000 samples, is 2e6."""


def _size(size) -> tuple[int, ...]:
    """A draw's shape: an integer or a sequence of non-negative integers, at most MAX_DRAWS in all."""
    dims = (size,) if isinstance(size, numbers.Integral) else size
    try:
        ok = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in dims)
    except TypeError:
        ok = False
    if not ok:
        raise InvalidInput("size", f"must be a shape of non-negative integers, got {size!r}"[:120])
    dims = tuple(int(v) for v in dims)
    if math.prod(dims) > MAX_DRAWS:
        raise InvalidInput("size", f"{math.prod(dims):.3g} draws exceed optcache.channel.MAX_DRAWS = "
                           f"{MAX_DRAWS:.0e}")
    return dims


def check_rng(rng) -> None:
    """Every draw goes through an explicit numpy Generator (same seed, same numbers)."""
    if not isinstance(rng, np.random.Generator):
        raise InvalidInput("rng", f"expected a numpy Generator (np.random.default_rng(seed)), got "
                           f"{type(rng).__name__}")


def _positive(name: str, v) -> np.ndarray:
    """A strictly positive quantity (bandwidth, distance, a divisor), as a float array."""
    a = _as_float(name, v)
    if np.any(a <= 0):
        raise InvalidInput(name, f"must be > 0, got {_show(a, a <= 0)}")
    return a


def _nonnegative(name: str, v) -> np.ndarray:
    """A quantity that may be zero (power, gain, interference), as a float array."""
    a = _as_float(name, v)
    if np.any(a < 0):
        raise InvalidInput(name, f"must be >= 0, got {_show(a, a < 0)}")
    return a


def _check_link(link: str) -> None:
    if link not in _LINKS:
        raise InvalidInput("link", f"must be 'ground' or 'satellite', got {link!r}")


def noise_power(bandwidth_hz, density_dbm_per_hz: float = NOISE_DBM_PER_HZ):
    """AWGN power σ² = N0 · B in watts: the σ² of eq. (2) for a given band."""
    b = _positive("bandwidth_hz", bandwidth_hz)
    density = float(_as_float("density_dbm_per_hz", density_dbm_per_hz))
    with np.errstate(over="ignore"):
        return _finite("density_dbm_per_hz", np.power(10.0, (density - 30) / 10) * b, "N0 · B")


def uplink_rate(bandwidth_hz, tx_power_w, gain, interference_w, noise_w):
    """Eq. (2): r = B log2(1 + p g / (I + σ²)) in bit/s; broadcasts over numpy arrays."""
    b = _positive("bandwidth_hz", bandwidth_hz)
    p = _nonnegative("tx_power_w", tx_power_w)
    g = _nonnegative("gain", gain)
    i = _nonnegative("interference_w", interference_w)
    n = _positive("noise_w", noise_w)
    with np.errstate(over="ignore"):  # log1p: exact where the SNR is tiny (B ~ 1e30 Hz)
        return _finite("tx_power_w", b * np.log1p(p * g / (i + n)) / np.log(2.0), "B log2(1 + p g / (I + σ²))")


def rayleigh_power(rng: np.random.Generator, size, mean: float = 1.0) -> np.ndarray:
    """Power gain |h|² of Rayleigh fading (ground links): exponential with the given mean."""
    check_rng(rng)
    _positive("mean", mean)
    return rng.exponential(mean, _size(size))


def shadowed_rician_power(rng: np.random.Generator, size, b: float = SR_B, m: float = SR_M,
                          omega: float = SR_OMEGA) -> np.ndarray:
    """|h|² of the land-mobile satellite channel (Abdi et al. 2003).

    h = Z e^{jφ} + S: LOS amplitude Z Nakagami-m with E[Z²] = Ω, φ uniform, and scatter S complex
    Gaussian with power 2b (b per real dimension), so E|h|² = 2b + Ω.
    """
    check_rng(rng)
    _positive("b", b)
    _positive("m", m)
    _positive("omega", omega)
    size = _size(size)
    los = np.sqrt(rng.gamma(m, omega / m, size)) * np.exp(1j * rng.uniform(0, 2 * np.pi, size))
    scatter = np.sqrt(b) * (rng.standard_normal(size) + 1j * rng.standard_normal(size))
    with np.errstate(over="ignore"):
        return _finite("b", np.abs(los + scatter) ** 2, "|h|²")


def shadowed_rician_mean_power(b: float = SR_B, m: float = SR_M, omega: float = SR_OMEGA) -> float:
    """E|h|² = 2b + Ω (the LOS and scattered powers add; m shapes the spread, not the mean)."""
    _positive("b", b)
    _positive("m", m)
    _positive("omega", omega)
    return 2 * b + omega


def path_loss_gain(distance_m, link: str = "ground", carrier_hz: float = CARRIER_HZ, *,
                   exponent: float = PATH_LOSS_EXPONENT,
                   ref_distance_m: float = REF_DISTANCE_M):
    """Large-scale power gain (≤ 1) of a link of the given length; within λ/4π of the antenna,
    where the far-field formulas exceed 1, it is 1.

    ground: log-distance, g = (λ / 4π d0)² · (d0 / max(d, d0))^exponent (free space up to d0);
    satellite: free space, g = (λ / 4π d)² · G_ant with G_ant = SAT_ANTENNA_GAIN_DB; λ = c / f.
    """
    d = _positive("distance_m", distance_m)
    f = float(_positive("carrier_hz", carrier_hz))
    _check_link(link)
    lam = SPEED_OF_LIGHT / f
    if link == "satellite":
        with np.errstate(over="ignore"):  # d → 0: inf, then 1
            return np.minimum((lam / (4 * np.pi * d)) ** 2 * 10 ** (SAT_ANTENNA_GAIN_DB / 10), 1.0)
    n = float(_positive("exponent", exponent))
    d0 = float(_positive("ref_distance_m", ref_distance_m))
    g0 = (lam / (4 * np.pi * d0)) ** 2
    return np.minimum(g0 * (d0 / np.maximum(d, d0)) ** n, 1.0)


def _default_distances(rng: np.random.Generator, n_users: int, link: str) -> np.ndarray:
    """Satellite: every user at the altitude (overhead). Ground: uniform by area in the annulus."""
    if link == "satellite":
        return np.full(n_users, ALTITUDE_M)
    return np.sqrt(rng.uniform(MIN_DISTANCE_M**2, CELL_RADIUS_M**2, n_users))


def expected_uplink_rates(rng: np.random.Generator, n_users: int, *, bandwidth_hz: float = 20e6,
                          tx_power_w: float = 0.2, noise_w: float | None = None,
                          link: str = "ground", distances_m=None,
                          samples: int = MC_SAMPLES,
                          path_loss_exponent: float = PATH_LOSS_EXPONENT) -> np.ndarray:
    """E[r_u] per user (bit/s) by seeded Monte Carlo of eq. (2); same Generator state, same rates.

    Assumption (fully loaded uplink): all users of a cell transmit at once on the same band, so
    user u's interference is the sum of the other users' received powers in the same fading draw.
    noise_w defaults to σ² = N0 · B (NOISE_DBM_PER_HZ). Ground draws Rayleigh, satellite shadowed-Rician.
    path_loss_exponent is the ground links' exponent of `path_loss_gain` (unused by the satellite).
    """
    check_rng(rng)
    for name, v in (("n_users", n_users), ("samples", samples)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not finite(v) or v != int(v) or v < 1:
            raise InvalidInput(name, f"must be an integer >= 1, got {v!r}"[:120])
    n_users, samples = int(n_users), int(samples)
    if n_users * samples > MAX_DRAWS:
        raise InvalidInput("n_users", f"{n_users} users × {samples} samples exceed "
                           f"optcache.channel.MAX_DRAWS = {MAX_DRAWS:.0e} fading draws")
    _positive("bandwidth_hz", bandwidth_hz)
    p = float(_nonnegative("tx_power_w", tx_power_w))
    _check_link(link)
    noise = noise_power(bandwidth_hz) if noise_w is None else float(_positive("noise_w", noise_w))
    if distances_m is None:
        distances_m = _default_distances(rng, n_users, link)
    d = _positive("distances_m", distances_m)
    if d.shape != (n_users,):
        raise InvalidInput("distances_m", f"must have shape ({n_users},), got {d.shape}")
    _positive("path_loss_exponent", path_loss_exponent)  # named as the caller spells it
    g = path_loss_gain(d, link, exponent=path_loss_exponent)
    fade = (shadowed_rician_power(rng, (samples, n_users)) if link == "satellite"
            else rayleigh_power(rng, (samples, n_users)))
    rx = p * g * fade
    interference = np.maximum(rx.sum(axis=1, keepdims=True) - rx, 0.0)  # clip float round-off
    rates = uplink_rate(bandwidth_hz, p, g * fade, interference, noise)
    return rates.mean(axis=0)


def access_cost(input_mb, expected_rates_bps) -> np.ndarray:
    """l_{n,i} = d_i / E_u[r_{u,n}], in seconds per request: time to upload one input of d_i MB
    (8e6 bit per MB) at the cell's mean expected rate; one value per service."""
    rates = _positive("expected_rates_bps", expected_rates_bps)
    d = _nonnegative("input_mb", input_mb)
    if rates.size == 0:
        raise InvalidInput("expected_rates_bps", "needs at least one user's rate")
    with np.errstate(over="ignore"):
        return _finite("expected_rates_bps", d * 8e6 / rates.mean(), "d · 8e6 / mean rate")
