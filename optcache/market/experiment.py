"""Score every mechanism on a dataset's rounds: the `optcache market evaluate` contract and tidy rows.

References: the first-best (every round to its highest-value eligible bidder) and the best fixed ρ
in hindsight on the scored rounds themselves, over ρ ∈ [1, ∞] (`best_fixed_rho`, exact) and over
DQMSB's own levels ρ = 10^{a/|A|} (`best_fixed_action`; the paper's action set caps ρ below 10).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from optcache.errors import InvalidInput
from optcache.market import mechanisms as M
from optcache.market.valuations import Rounds, require_rounds

SURPLUS_KEYS = ("total_surplus", "ground_surplus", "satellite_surplus", "efficiency")
DEFAULT_ACTIONS = 10
"""|A| of the `best_fixed_action` reference when no policy is given (the DQN's default)."""


def optimal_rhos(rounds: Rounds) -> np.ndarray:
    """Per round, its episode's ρ = max(1, x0 / E[x_(2)]) from history (x0 is fixed per episode)."""
    x0, x2 = rounds.x0, rounds.x2_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x2 > 0, np.maximum(1.0, x0 / np.where(x2 > 0, x2, 1.0)), np.where(x0 > 0, np.inf, 1.0))


def best_fixed_rho(rounds: Rounds) -> tuple[float, float]:
    """The ρ ∈ [1, ∞] maximising MSB's total surplus on these rounds, and that surplus (exact).

    In coverage the top bidder wins iff x_(1)/x_(2) > ρ, so the surplus only changes at the ratios:
    the candidates are ρ = 1, every finite ratio (at ρ = ratio that round goes to the satellite)
    and ρ = ∞ (every round in coverage to the satellite; a round with x_(2) = 0 < x_(1) has an
    infinite ratio, e.g. always with one station). ρ = ∞ is returned as `math.inf`; run it with
    `mechanisms.optimal`, which accepts it. Ties go to the smallest ρ.
    """
    require_rounds(rounds)
    v, v0, el = rounds.v, rounds.v0, rounds.eligible
    _, x1, x2 = M.top_two(v)
    base = float(x1[~el].sum())
    x1, x2, v0 = x1[el], x2[el], v0[el]
    with np.errstate(divide="ignore"):
        ratio = np.where(x2 > 0, x1 / np.where(x2 > 0, x2, 1.0), np.where(x1 > 0, np.inf, 0.0))
    order = np.argsort(ratio, kind="stable")
    r, gain = ratio[order], (v0 - x1)[order]  # moving a round to the satellite adds v0 - x_(1)
    cands = np.concatenate([[1.0], r[(r >= 1) & np.isfinite(r)], [np.inf]])
    # surplus(ρ) = Σ x_(1) + Σ_{ratio ≤ ρ} (v0 - x_(1))
    cum = np.concatenate([[0.0], np.cumsum(gain)])
    k = np.searchsorted(r, cands, side="right")
    tot = base + float(x1.sum()) + cum[k]
    j = int(np.argmax(tot))
    rho = float(cands[j])
    if not np.isfinite(rho):
        return rho, float(tot[j])
    # MSB tests x_(1) > ρ·x_(2) in floating point, where (x1/x2)·x2 may round below x1: move ρ up
    # by ulps until every round meant for the satellite goes there, then score as MSB does
    meant = np.zeros(r.size, bool)
    meant[order[:k[j]]] = True
    for _ in range(8):
        if np.all(x1[meant] <= rho * x2[meant]):
            break
        rho = float(np.nextafter(rho, np.inf))
    to_sat = ~M.ground_wins(x1, rho * x2, np.ones(x1.shape, bool))
    return rho, base + float(x1.sum()) + float((v0 - x1)[to_sat].sum())


def best_fixed_action(rounds: Rounds, n_actions: int) -> tuple[float, float]:
    """The best fixed ρ among DQMSB's own levels 10^{a/|A|}, and its total surplus."""
    require_rounds(rounds)
    rhos = M.rho_of_action(np.arange(n_actions), n_actions)
    tot = [M.surplus(M.msb(rounds.v, rounds.x0, rounds.eligible, r), rounds.v, rounds.v0,
                     rounds.eligible)["total_surplus"] for r in rhos]
    j = int(np.argmax(tot))
    return float(rhos[j]), float(tot[j])


def outcomes(rounds: Rounds, policies: dict | None = None, rho: float | None = None,
             rho_action: float | None = None) -> dict[str, M.Outcome]:
    """Outcome of each mechanism on the rounds (truthful ground bids x = v, the episode's x0)."""
    x, x0, el = rounds.v, rounds.x0, rounds.eligible
    out = {"spa": M.spa(x, x0, el), "myopic": M.myopic(x, x0, el),
           "optimal": M.optimal(x, x0, el, rho=optimal_rhos(rounds))}
    if rho is not None:
        out["best_fixed_rho"] = M.optimal(x, x0, el, rho=rho)  # accepts ρ = ∞
    if rho_action is not None:
        out["best_fixed_action"] = M.msb(x, x0, el, rho_action)
    for name, pol in (policies or {}).items():
        out[name] = pol.outcome(rounds)
    return out


def evaluate(rounds: Rounds, policies: dict | None = None) -> dict:
    """The contract {"first_best", "mechanisms": {name: {total, ground, satellite surplus, efficiency}}}.

    `rounds` should be the scored rounds of a held-out dataset; `policies` maps names (e.g.
    "dqmsb") to trained `DQMSB` policies.
    """
    require_rounds(rounds)
    policies = _check_policies(policies)
    v, v0, el = rounds.v, rounds.v0, rounds.eligible
    M.check_bids(v, v0, el, values=True)  # before the first-best and best ρ are computed from them
    if rounds.n == 0:  # every efficiency would be 0/0
        raise InvalidInput("rounds", "the held-out episodes have no auction rounds (no requests); "
                           "use more or longer episodes")
    fb = M.first_best(v, v0, el)
    sat_first = el & (v0 > v.max(axis=1))
    first = {"total_surplus": float(fb.sum()), "ground_surplus": float(fb[~sat_first].sum()),
             "satellite_surplus": float(fb[sat_first].sum()), "efficiency": 1.0}
    rho, _ = best_fixed_rho(rounds)
    n_actions = next(iter(policies.values())).args.n_actions if policies else DEFAULT_ACTIONS
    rho_action, _ = best_fixed_action(rounds, n_actions)
    mech = {}
    for name, out in outcomes(rounds, policies, rho, rho_action).items():
        s = M.surplus(out, v, v0, el)
        entry = {k: s[k] for k in SURPLUS_KEYS}
        entry.update(revenue=s["revenue"], satellite_share=s["satellite_share"])
        if name != "spa":  # the second-price auction has no ρ (its column stays nan)
            entry.update(rho_summary(out.rho[el]))
        if name in (policies or {}):
            entry["state"] = policies[name].args.state
        mech[name] = entry
    return {"first_best": first, "mechanisms": mech, "rounds": int(rounds.n),
            "rounds_in_coverage": int(el.sum()), "satellite_first_best_share": float(sat_first[el].mean())
            if el.any() else 0.0}


REFERENCES = ("first_best", "spa", "myopic", "optimal", "best_fixed_rho", "best_fixed_action")
"""Names `evaluate` gives its own rows; a policy may not take one."""


def _check_policies(policies) -> dict:
    """`policies` as a dict of name → trained DQMSB ({} for None); anything else is InvalidInput."""
    if policies is None:
        return {}
    if not isinstance(policies, Mapping):
        raise InvalidInput("policies", f"expected a mapping of name → DQMSB policy, got {type(policies).__name__}")
    if policies:
        from optcache.market.dqn import DQMSB  # a policy exists: torch is loaded already

        for name, pol in policies.items():
            if not isinstance(name, str) or name in REFERENCES:
                raise InvalidInput("policies", f"a policy's name must be a string other than "
                                   f"{', '.join(REFERENCES)}, got {name!r}"[:160])
            if not isinstance(pol, DQMSB):
                raise InvalidInput(f"policies.{name}", f"expected a trained DQMSB policy, got {type(pol).__name__}")
    return dict(policies)


def rho_summary(rho: np.ndarray) -> dict:
    """{"rho": mean of the finite ρ (None if there is none), "rho_infinite": share of rounds with ρ = ∞}
    over the rounds in coverage: a mean with an ∞ in it would say nothing; both always finite."""
    inf = np.isinf(rho)
    return {"rho": float(rho[~inf].mean()) if (~inf).any() else None,
            "rho_infinite": float(inf.mean()) if rho.size else 0.0}


TIDY_COLUMNS = {
    "mechanism": "spa, myopic, optimal, best_fixed_rho, best_fixed_action, dqmsb (…) or first_best",
    "total_surplus": "Σ over scored rounds of v_n z_n, satellite included",
    "ground_surplus": "the ground stations' part",
    "satellite_surplus": "the satellite's part",
    "efficiency": "total surplus / first-best",
    "revenue": "Σ payments",
    "satellite_share": "fraction of rounds the satellite wins",
    "rho": "mean finite ρ over rounds in coverage (nan for spa, or if every ρ is ∞)",
    "rho_infinite": "share of rounds in coverage with ρ = ∞: under MSB with a fixed ρ the satellite wins "
                    "them; myopic's ρ = x0/x_(2) is ∞ where x_(2) = 0 < x0, and its critical bid is x0 there",
}


def tidy(result: dict, **labels) -> pd.DataFrame:
    """One row per mechanism (and one for the first-best) with `labels` as extra columns: scalars
    named other than `TIDY_COLUMNS` (a label never replaces a measured column)."""
    if not isinstance(result, Mapping) or not isinstance(result.get("first_best"), Mapping) \
            or not isinstance(result.get("mechanisms"), Mapping) \
            or not all(isinstance(e, Mapping) for e in result["mechanisms"].values()):
        raise InvalidInput("result", "expected evaluate()'s result (a dict of first_best and mechanisms), "
                           f"got {type(result).__name__}")
    for k, v in labels.items():
        if k in TIDY_COLUMNS:
            raise InvalidInput(k, "is a column tidy fills from the result; give the label another name")
        if not pd.api.types.is_scalar(v):
            raise InvalidInput(k, f"a label is one value for every row, got {type(v).__name__}")
    rows = [{"mechanism": "first_best", **result["first_best"]}]
    rows += [{"mechanism": k, **v} for k, v in result["mechanisms"].items()]
    df = pd.DataFrame(rows)
    for c in TIDY_COLUMNS:
        if c not in df:
            df[c] = np.nan
    df = df[list(TIDY_COLUMNS)]
    for k, v in labels.items():
        df[k] = v
    return df


def manipulability(mechanism, rounds: Rounds, factors: np.ndarray | None = None) -> dict:
    """How often a ground bidder gains by a unilateral deviation x_n = f · v_n (others truthful).

    `mechanism(x, rounds)` returns an Outcome. Returns the share of rounds in which some bidder
    gains more than 1e-9 of the round's top value, and the mean best gain there over that value.
    """
    require_rounds(rounds)
    if not callable(mechanism):
        raise InvalidInput("mechanism", f"expected a function (x, rounds) -> Outcome, got {type(mechanism).__name__}")
    factors = np.linspace(0.0, 3.0, 61) if factors is None else np.asarray(factors, float)
    v, v0 = rounds.v, rounds.v0
    truthful = M.utilities(mechanism(v, rounds), v, v0)
    best = np.zeros(rounds.n)
    for n in range(rounds.N):
        for f in factors:
            x = v.copy()
            x[:, n] = f * v[:, n]
            u = M.utilities(mechanism(x, rounds), v, v0)
            best = np.maximum(best, u[:, n + 1] - truthful[:, n + 1])
    top = v.max(axis=1)
    gains = best > 1e-9 * top
    return {"share_manipulable": float(gains.mean()) if rounds.n else 0.0,
            "mean_relative_gain": float((best[gains] / top[gains]).mean()) if gains.any() else 0.0}
