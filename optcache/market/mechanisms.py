"""Sealed-bid mechanisms of docs/formulation.md §11 (spa, msb, myopic, optimal, dqmsb), vectorised over rounds.

Bids come as `x` (R, N) for the N ground bidders and `x0` (R,) for the satellite's contract price;
`eligible` (R,) says whether the satellite is in coverage (30b). Outcomes follow the paper's
indexing: column 0 is the satellite, columns 1..N the ground stations.

Conventions (all deterministic):
- *top* ground bidder: the highest bid, ties to the lowest index; `x_(2)` = the highest bid of the
  others (so a tie at the top makes `x_(2) = x_(1)`).
- MSB family (31)-(32): the top bidder wins iff `x_(1) > χ`, `χ = ρ·x_(2)`, and pays `χ`; otherwise
  the satellite wins and pays `x0`. Only the top bidder can win because `χ ≥ x_(2)`.
- The satellite out of coverage cannot win: every mechanism then runs a second-price auction among
  the ground bidders (the top bidder wins and pays `x_(2)`), i.e. `ρ = 1` with ties to the top.
- `spa` (in coverage): second price over all bids, ground bidders win ties against `x0`; the winner
  pays the highest other bid (the satellite pays `x_(1)`).
- `myopic` sets `ρ = max(1, x0/x_(2))`, so `χ = max(x_(2), x0)`: it allocates as `spa` and
  charges ground winners the same, except on ties (a tie at the top among stations, or
  `x_(1) = x0`, goes to the satellite); the satellite pays `x0` instead of `x_(1)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optcache.errors import InvalidInput


@dataclass(frozen=True)
class Outcome:
    """Allocation z (R, N+1) 0/1, payments p (R, N+1), and the ρ used per round (nan for spa)."""

    z: np.ndarray
    """Allocation, 0/1, shape (R, N+1): column 0 the satellite, n the ground station n."""
    p: np.ndarray
    """Payments, shape (R, N+1), in the bids' units (cost units × tokens)."""
    rho: np.ndarray
    """The factor ρ applied per round (nan for spa)."""

    @property
    def winner(self) -> np.ndarray:
        """Index of the winner per round: 0 = satellite, n = ground station n (1-based)."""
        return self.z.argmax(axis=1)


# --------------------------------------------------------------------------- helpers
def _as_real(a, field: str) -> np.ndarray:
    """`a` as a float array; strings, complex numbers, objects and ragged nests are one InvalidInput."""
    try:
        arr = np.asarray(a)
    except ValueError:  # ragged nested sequences
        raise InvalidInput(field, "expected a rectangular array of numbers") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InvalidInput(field, f"expected real numbers, got {arr.dtype} values")
    return arr.astype(float)


def _per_round(a, R: int, field: str) -> np.ndarray:
    """A scalar or an (R,) array as (R,); any other shape is one InvalidInput naming `field`."""
    if a.ndim == 0 or a.shape == (R,):
        return np.broadcast_to(a, (R,)).copy()
    raise InvalidInput(field, f"expected a scalar or one value per round ({R},), got shape {a.shape}")


def check_bids(x: np.ndarray, x0: np.ndarray | float, eligible: np.ndarray | bool | None = None,
               *, values: bool = False):
    """Validate types, shapes and signs; return x (R, N) float, x0 (R,), eligible (R,) bool.

    `eligible` must be bools or 0/1: anything else (strings, NaN, -1) would be truthy by accident.
    With `values`, x and x0 are values v, v0 and errors name them so."""
    fx, f0 = ("v", "v0") if values else ("bids", "x0")
    x = _as_real(x, fx)
    if x.ndim != 2 or x.shape[1] < 1:
        raise InvalidInput(fx, f"expected an array (rounds, ground bidders), got shape {x.shape}")
    R = x.shape[0]
    x0 = _per_round(_as_real(x0, f0), R, f0)
    if eligible is None:
        el = np.ones(R, bool)
    else:
        try:
            e = np.asarray(eligible)
        except ValueError:
            raise InvalidInput("eligible", "expected bools or 0/1, one per round") from None
        if e.dtype != bool:
            if not (np.issubdtype(e.dtype, np.integer) or np.issubdtype(e.dtype, np.floating)) \
                    or not np.all((e == 0) | (e == 1)):
                raise InvalidInput("eligible", "expected bools or 0/1, one per round")
        el = _per_round(e.astype(bool), R, "eligible")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise InvalidInput(fx, f"ground {'values' if values else 'bids'} must be finite and >= 0")
    if not np.all(np.isfinite(x0)) or np.any(x0 < 0):
        raise InvalidInput(f0, f"the satellite's {'value' if values else 'contract price'} must be finite and >= 0")
    return x, x0, el


def _check_rho(rho, R: int, *, infinite: bool) -> np.ndarray:
    """ρ per round (R,), every value ≥ 1 (+∞ only if `infinite`): ρ < 1, −∞ and NaN are refused."""
    rho = _per_round(_as_real(rho, "rho"), R, "rho")
    ok = (rho >= 1) & (np.isfinite(rho) | (infinite & (rho == np.inf)))
    if not np.all(ok):
        raise InvalidInput("rho", "the price-scaling factor must be " + ("a number >= 1 or +inf" if infinite
                                                                          else "finite and >= 1"))
    return rho


def top_two(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top bidder (0-based, ties to the lowest index), its bid x_(1), and the best other bid x_(2)."""
    R, N = x.shape
    top = np.argmax(x, axis=1)  # argmax returns the first maximum: ties to the lowest index
    x1 = x[np.arange(R), top]
    if N == 1:
        return top, x1, np.zeros(R)
    others = x.copy()
    others[np.arange(R), top] = -np.inf
    return top, x1, others.max(axis=1)


def _outcome(x: np.ndarray, ground_wins: np.ndarray, top: np.ndarray, ground_price: np.ndarray,
             sat_price: np.ndarray, rho: np.ndarray) -> Outcome:
    R, N = x.shape
    z = np.zeros((R, N + 1))
    p = np.zeros((R, N + 1))
    rows = np.arange(R)
    z[rows[ground_wins], top[ground_wins] + 1] = 1.0
    p[rows[ground_wins], top[ground_wins] + 1] = ground_price[ground_wins]
    sat = ~ground_wins
    z[sat, 0] = 1.0
    p[sat, 0] = sat_price[sat]
    return Outcome(z, p, rho)


def ground_wins(x1: np.ndarray, chi: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """The MSB family's allocation rule (31): the top ground bidder wins iff x_(1) > χ, and always
    when the satellite is out of coverage (broadcasts, e.g. over a grid of ρ)."""
    return np.where(eligible, x1 > chi, True)


# --------------------------------------------------------------------------- mechanisms
def threshold(x, x0, eligible, chi: np.ndarray, rho: np.ndarray | None = None) -> Outcome:
    """The MSB family given the top bidder's critical bid χ (R,): win iff x_(1) > χ, pay χ."""
    x, x0, el = check_bids(x, x0, eligible)
    top, x1, x2 = top_two(x)
    chi = np.broadcast_to(np.asarray(chi, float), x1.shape)
    wins = ground_wins(x1, chi, el)
    price = np.where(el, chi, x2)
    rho = np.full(x1.shape, np.nan) if rho is None else np.where(el, rho, 1.0)
    return _outcome(x, wins, top, price, x0, rho)


def msb(x, x0, eligible=None, rho: float | np.ndarray = 1.0) -> Outcome:
    """Modified second bid (31)-(32) with price-scaling factor ρ ≥ 1 (a scalar or one per round)."""
    x, x0, el = check_bids(x, x0, eligible)
    rho = _check_rho(rho, x.shape[0], infinite=False)
    _, _, x2 = top_two(x)
    return threshold(x, x0, el, rho * x2, rho)


def spa(x, x0, eligible=None) -> Outcome:
    """Second-price auction over all bids, the satellite's contract price included when in coverage."""
    x, x0, el = check_bids(x, x0, eligible)
    top, x1, x2 = top_two(x)
    wins = ~el | (x1 >= x0)
    ground_price = np.where(el, np.maximum(x2, x0), x2)
    return _outcome(x, wins, top, ground_price, x1, np.full(x1.shape, np.nan))


def myopic_rho(x2: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """ρ = max(1, x0/x_(2)) of the current round (infinite when x_(2) = 0 < x0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x2 > 0, np.maximum(1.0, x0 / np.where(x2 > 0, x2, 1.0)),
                        np.where(x0 > 0, np.inf, 1.0))


def myopic(x, x0, eligible=None) -> Outcome:
    """MSB with ρ = max(1, x0/x_(2)) from this round: the critical bid is max(x_(2), x0)."""
    x, x0, el = check_bids(x, x0, eligible)
    _, _, x2 = top_two(x)
    return threshold(x, x0, el, np.maximum(x2, x0), myopic_rho(x2, x0))


def optimal_rho(x0_mean: float, x2_mean: float) -> float:
    """The historical ρ = max(1, E[x0]/E[x_(2)]) of Arnosti, Beck and Milgrom."""
    if not (np.isfinite(x0_mean) and np.isfinite(x2_mean)) or x0_mean < 0 or x2_mean < 0:
        raise InvalidInput("history", "historical means of x0 and x_(2) must be finite and >= 0")
    if x2_mean == 0:
        return 1.0 if x0_mean == 0 else float("inf")
    return max(1.0, x0_mean / x2_mean)


def optimal(x, x0, eligible=None, *, rho: float | np.ndarray) -> Outcome:
    """MSB with the historical ρ (from `optimal_rho`, one per episode); ρ = +∞ (E[x_(2)] = 0 < x0)
    hands that round, and only that round, to the satellite when it is in coverage. ρ < 1 (−∞ too)
    is refused."""
    x, x0, el = check_bids(x, x0, eligible)
    rho = _check_rho(rho, x.shape[0], infinite=True)
    _, _, x2 = top_two(x)
    inf = np.isinf(rho)
    chi = np.where(inf, np.inf, np.where(inf, 1.0, rho) * x2)  # never ∞·0
    return threshold(x, x0, el, chi, rho)


# --------------------------------------------------------------------------- DQMSB
ActionPolicy = Callable[[np.ndarray], np.ndarray]
"""Maps a batch of states (R, d) to action indices (R,) in 0..|A|-1 (a trained Q-network's argmax)."""


def _check_n_actions(n_actions) -> int:
    if isinstance(n_actions, bool) or not isinstance(n_actions, (int, np.integer)) or n_actions < 1:
        raise InvalidInput("n_actions", f"must be an integer >= 1, got {n_actions!r}"[:120])
    return int(n_actions)


def rho_of_action(a: np.ndarray, n_actions: int) -> np.ndarray:
    """ρ = 10^{a/|A|} (paper, section V-B); actions must be integers in 0..|A|-1, so 1 ≤ ρ < 10
    (a negative action would let the winner pay below x_(2))."""
    n = _check_n_actions(n_actions)
    a = _as_real(a, "action")
    if not np.all(np.isfinite(a)) or np.any(a != np.round(a)) or np.any((a < 0) | (a > n - 1)):
        raise InvalidInput("action", f"actions must be integers in 0..{n - 1}")
    return 10.0 ** (a / n)


def _policy_rho(policy: ActionPolicy, state: np.ndarray, n_actions: int) -> np.ndarray:
    """ρ of the policy's actions on `state`, one action per round (else InvalidInput)."""
    a = _as_real(policy(state), "action")
    if a.shape != (state.shape[0],):
        raise InvalidInput("action", f"the policy must return one action per round ({state.shape[0]},), "
                           f"got shape {a.shape}")
    return rho_of_action(a, n_actions)


def critical_state(x: np.ndarray, public: np.ndarray | None = None) -> np.ndarray:
    """Scale-free state of the top bidder: the others' bids sorted, over their maximum, without it.

    For N ground bidders that is N-2 numbers in [0, 1]; `public` (R, k) features that no bid moves
    (e.g. the service's ln(1/β)) are appended. The top bidder's own bid never enters.
    """
    x = np.asarray(x, float)
    R, N = x.shape
    xs = -np.sort(-x, axis=1)  # descending; the others of the top bidder are xs[:, 1:]
    x2 = xs[:, 1] if N >= 2 else np.zeros(R)
    rest = xs[:, 2:] if N >= 2 else np.zeros((R, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        feats = np.where(x2[:, None] > 0, rest / np.where(x2 > 0, x2, 1.0)[:, None], 0.0)
    return _append(feats, public, R)


def literal_state(x: np.ndarray, x0: np.ndarray, scale: float, public: np.ndarray | None = None) -> np.ndarray:
    """The paper's state S_k = x^k: every bid (x0, x_1..x_N) by bidder, divided by a fixed scale."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not np.isfinite(scale) or scale <= 0:
        raise InvalidInput("scale", f"must be a finite number > 0, got {scale!r}"[:120])
    x = np.asarray(x, float)
    R = x.shape[0]
    feats = np.column_stack([np.broadcast_to(np.asarray(x0, float), (R,)), x]) / scale
    return _append(feats, public, R)


def _append(feats: np.ndarray, public: np.ndarray | None, R: int) -> np.ndarray:
    """`feats` with the public features (R,) or (R, k) appended; works for R = 0 rounds too."""
    if public is None:
        return feats
    public = _as_real(public, "public")
    if public.ndim == 1 and public.shape == (R,):
        public = public[:, None]
    if public.ndim != 2 or public.shape[0] != R:
        raise InvalidInput("public", f"expected ({R}, k) public features, got shape {public.shape}")
    return np.column_stack([feats, public])


def dqmsb_critical(x, x0, eligible, policy: ActionPolicy, n_actions: int,
                   public: np.ndarray | None = None) -> Outcome:
    """DQMSB in critical form: χ_n = ρ(x_{-n})·max(x_{-n}); strategy-proof, homogeneous of degree one."""
    x, x0, el = check_bids(x, x0, eligible)
    _, _, x2 = top_two(x)
    rho = _policy_rho(policy, critical_state(x, public), n_actions)
    return threshold(x, x0, el, rho * x2, rho)


def dqmsb_literal(x, x0, eligible, policy: ActionPolicy, n_actions: int, scale: float,
                  public: np.ndarray | None = None) -> Outcome:
    """DQMSB with the paper's state (all bids): one ρ per round that every bid, the winner's too, moves."""
    x, x0, el = check_bids(x, x0, eligible)
    _, _, x2 = top_two(x)
    rho = _policy_rho(policy, literal_state(x, x0, scale, public), n_actions)
    return threshold(x, x0, el, rho * x2, rho)


# --------------------------------------------------------------------------- accounting
def check_values(out: Outcome, v, v0, eligible=None):
    """Validate values against an outcome: v (R, N) and v0 (scalar or (R,)) finite and >= 0, the
    shapes the outcome's; returns v, v0 (R,), eligible (R,) bool (a mismatch is InvalidInput)."""
    R, N1 = out.z.shape
    v, v0, el = check_bids(v, v0, eligible, values=True)
    if v.shape != (R, N1 - 1):
        raise InvalidInput("v", f"expected values of shape {(R, N1 - 1)} (the outcome's rounds and "
                           f"ground bidders), got {v.shape}")
    return v, v0, el


def utilities(out: Outcome, v: np.ndarray, v0: np.ndarray) -> np.ndarray:
    """Each bidder's quasi-linear utility z·(v - p), (R, N+1) with the satellite in column 0."""
    v, v0, _ = check_values(out, v, v0)
    vals = np.column_stack([v0, v])
    return out.z * (vals - out.p)


def first_best(v: np.ndarray, v0: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Per round, the largest value among the bidders allowed to win (the satellite only in coverage)."""
    v = np.asarray(v, float)
    v0 = np.broadcast_to(np.asarray(v0, float), (v.shape[0],))
    return np.maximum(v.max(axis=1), np.where(np.asarray(eligible, bool), v0, -np.inf))


def surplus(out: Outcome, v: np.ndarray, v0: np.ndarray, eligible: np.ndarray) -> dict:
    """Totals over rounds: total, ground and satellite surplus Σ v z, revenue Σ p, efficiency vs first-best.

    No rounds is InvalidInput (efficiency would be 0/0); a first-best of 0 (every value 0) gives
    efficiency 1, since every allocation reaches it. An efficiency above 1 by at most
    `optcache.results.ROUNDING` (sums taken in another order) is reported as 1; further above, the
    outcome is InvalidInput (a round given twice, or to the satellite out of coverage)."""
    from optcache.results import ROUNDING

    v, v0, eligible = check_values(out, v, v0, eligible)
    if v.shape[0] == 0:
        raise InvalidInput("rounds", "no auction rounds to score (efficiency is undefined)")
    ground = float((out.z[:, 1:] * v).sum())
    sat = float((out.z[:, 0] * v0).sum())
    fb = float(first_best(v, v0, eligible).sum())
    total = ground + sat
    efficiency = total / fb if fb > 0 else 1.0
    if efficiency > 1 + ROUNDING:
        raise InvalidInput("out", f"total surplus {total:.6g} exceeds the first-best {fb:.6g}: the "
                           "allocation gives a round twice, or to the satellite out of coverage")
    return {"total_surplus": total, "ground_surplus": ground, "satellite_surplus": sat,
            "revenue": float(out.p.sum()), "satellite_share": float(out.z[:, 0].mean()),
            "efficiency": min(efficiency, 1.0)}
