"""The paper's claims, measured from study tables: where each would hold (docs/claims.md).

Every function takes a tidy study table (`optcache.study` for the caching claims, written by the
grids of `benchmarks/grids/claims/`; `optcache.market.sweep` for the market claims) and returns a
tidy DataFrame with one row per setting of the swept assumptions: the claimed quantity as the mean
over seeds, its spread over seeds (standard deviation, minimum and maximum of the per-seed values),
the number of seeds, and whether the claim holds there (`holds`). Nothing is re-simulated here:
the costs are the evaluator's (docs/formulation.md §5), the surpluses those of
`optcache.market.experiment` (§11).

Claims (the README's table, in order; `CLAIMS` quotes the paper):

1. `satellite_saving`: the satellite-enabled architecture cuts total cost by 41 % on average over
   the Fig. 3 grid and by at least 20 % at every point. Four readings of what is compared
   (`READINGS`), each a ratio of two costs of the same instance; a share `coverage` of slots in the
   satellite's pass scales every reading's saving by that share (`at_coverage`).
2. `policy_ranking`: least-AoT has the lowest mean cost among FIFO, LFU and least-AoT at every
   Fig. 3 point.
3. `optimum_gaps`: least-AoT within `GOOD_GAP` of the certified optimum (problem (28)) on average.
4. `market_claims` (claims 4 to 6): DQMSB's total surplus over MSB's (+20 %), its efficiency gain
   (+23 %) and DQMSB the most efficient mechanism; the first-best bounds any DQMSB, so
   `1 / efficiency` of an MSB is an upper bound on DQMSB / that MSB wherever DQMSB is not trained.
5. `training_claims` (claims 7 and 8): convergence epoch and the share of manipulable rounds.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

from optcache.errors import InvalidInput
from optcache.study import KNOBS, require_table, typed_column

log = logging.getLogger(__name__)

CLAIMS: dict[str, str] = {
    "satellite_saving": "across the entire grid, the satellite-enabled architecture cuts total "
                        "provisioning cost by an average of 41% and by no less than 20% in every "
                        "individual configuration (section VI-B, Fig. 3)",
    "laot_lowest": "the least AoT algorithm demonstrates a consistent performance advantage, "
                   "maintaining the lowest average total cost (section VI-B, Fig. 3 b, d)",
    "laot_near_optimal": "(implicit) least-AoT is a good approximation of the optimal cache "
                         "(section IV-C, problem (28) solved by Algorithm 1)",
    "dqmsb_surplus": "the total surplus achieved by the DQMSB auction can outperform the MSB "
                     "auction by around 20% (section VI-C, Fig. 5)",
    "dqmsb_efficiency": "[DQMSB] can enhance allocation efficiency by 23% (abstract)",
    "dqmsb_highest": "the DQMSB auction consistently yields the highest total surplus (section VI-D, Fig. 6)",
    "dqmsb_converges": "at around 200 epochs, the total surplus stabilizes (section VI-C, Fig. 5)",
    "strategy_proof": "DQMSB is fully strategy-proof (Theorem 2)",
}

SAVING_MEAN = 0.41
"""Claim 1's average saving over the Fig. 3 grid."""
SAVING_MIN = 0.20
"""Claim 1's least saving at any Fig. 3 point."""
GOOD_GAP = 0.05
"""Claim 3: least-AoT is called a good approximation when its mean cost is within 5 % of the optimum."""
SURPLUS_GAIN = 1.20
"""Claim 4: DQMSB / MSB total surplus."""
EFFICIENCY_GAIN = 0.23
"""Claim 5: +23 % efficiency, read as a ratio (1.23 ×) or as points (+0.23 of the first-best)."""
CONVERGENCE_EPOCHS = 200
"""Claim 7: epochs to convergence."""

ROUNDING = 1e-9
"""Relative rounding tolerated: ties in claim 2, efficiencies just above 1, optima and bounds."""

FIG3_KNOBS = ("slots", "services", "gpus", "users")
"""The knobs the paper's Fig. 3 sweeps: a claim 'at every point' means over these."""

READINGS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "relay": (("relay", "laot"), ("ground", "laot")),
    "relay-nobackhaul": (("relay-nobackhaul", "laot"), ("ground", "laot")),
    "satellite-vs-caching": (("satellite", "all-cloud"), ("ground", "laot")),
    "satellite-vs-ground-cloud": (("satellite", "all-cloud"), ("ground", "all-cloud")),
}
"""Readings of claim 1: name → ((route, method) of the satellite-enabled side, (route, method) of
the side it is compared with); saving = 1 − cost(first) / cost(second) on the same instance.
'relay': least-AoT's offloaded requests relayed by the satellite; 'relay-nobackhaul': also without
the ground backhaul; 'satellite-vs-caching': everything sent to the cloud through the satellite
(no switching, no accuracy cost) against least-AoT's local caching; 'satellite-vs-ground-cloud':
the cloud reached through the satellite against through the ground gateways."""


def _spread(per_seed: pd.DataFrame, by: list[str], value: str, prefix: str = "") -> pd.DataFrame:
    """Mean, standard deviation, min and max over seeds of `value`, per group `by`."""
    g = per_seed.groupby(by, dropna=False)[value]
    out = g.agg(["mean", "std", "min", "max", "count"]).reset_index()
    return out.rename(columns={"mean": f"{prefix}mean", "std": f"{prefix}std", "min": f"{prefix}min",
                               "max": f"{prefix}max", "count": "seeds"})


def _varying(df: pd.DataFrame, exclude: tuple[str, ...]) -> list[str]:
    """Knob columns of a caching study table that take more than one value (besides `exclude`)."""
    return [k for k in KNOBS if k in df and k not in exclude and df[k].nunique(dropna=False) > 1]


def _check(df: pd.DataFrame, need: dict[str, set], field: str = "df") -> None:
    for col, values in need.items():
        missing = values - set(df[col].unique())
        if missing:
            raise InvalidInput(field, f"no rows with {col} in {sorted(missing)}")


def _table(df: Any, columns: tuple[str, ...], field: str = "df") -> pd.DataFrame:
    """`df` if it is a DataFrame with `columns` (`optcache.study.require_table`) and a row."""
    require_table(df, columns, field)
    if df.empty:
        raise InvalidInput(field, "empty table: no rows")
    return df


def _names(v: Any, field: str) -> list[str]:
    """`v` as a list of distinct names if it is a non-empty list or tuple of strings."""
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(x, str) for x in v):
        raise InvalidInput(field, f"expected a non-empty list of names, got {v!r}"[:160])
    if len(set(v)) < len(v):
        raise InvalidInput(field, f"{next(x for x in v if v.count(x) > 1)!r} is named twice")
    return list(v)


def _name(v: Any, field: str) -> str:
    if not isinstance(v, str) or not v:
        raise InvalidInput(field, f"expected a method name (a string), got {v!r}"[:160])
    return v


def _numbers(df: pd.DataFrame, col: str, field: str, *, lo: float = -math.inf, hi: float = math.inf,
             positive: bool = False, missing: bool = False) -> pd.Series:
    """`df[col]` as floats, or InvalidInput at `field` naming the column and the first bad row: not
    numbers, NaN (unless `missing`), ±inf, outside [lo, hi] beyond `ROUNDING`, ≤ 0 if `positive`."""
    if pd.api.types.infer_dtype(df[col], skipna=True) not in ("integer", "floating", "mixed-integer-float",
                                                               "empty"):
        first = next((v for v in df[col] if not isinstance(v, numbers.Real) or isinstance(v, bool)), None)
        raise InvalidInput(field, f"{col}: expected numbers, got {first!r}"[:160])
    v = typed_column(df, col, "float64", field)
    bad = (~np.isfinite(v) & ~(v.isna() & missing)) | (v < lo - ROUNDING) | (v > hi + ROUNDING)
    if positive:
        bad |= v <= 0
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        rule = _rule(lo, hi, positive) + (" (it divides)" if positive else "") + (" or missing" if missing else "")
        got = df[col].iloc[i]
        got = got.item() if isinstance(got, np.generic) else got
        raise InvalidInput(field, f"{col}: must be {rule}, got {got!r} (row {df.index[i]})"[:200])
    return v


def _rule(lo: float, hi: float, positive: bool) -> str:
    """'a finite number in [lo, hi]' (or '> 0', '>= lo', '<= hi'): what `_numbers` asks for."""
    low = max(lo, 0.0) if positive else lo
    if math.isfinite(low) and math.isfinite(hi):
        return f"a finite number in {'(' if positive else '['}{low:g}, {hi:g}]"
    if positive:
        return "a finite number > 0"
    if math.isfinite(lo):
        return f"a finite number >= {lo:g}"
    if math.isfinite(hi):
        return f"a finite number <= {hi:g}"
    return "a finite number"


def _key(row: pd.Series | tuple, keys: list[str]) -> str:
    """`k=v, …` of a row's `keys` (for messages)."""
    values = row if isinstance(row, tuple) else tuple(row[k] for k in keys)
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) or "the whole table"


def _unique(df: pd.DataFrame, keys: list[str], field: str, hint: str) -> None:
    """Refuse rows that repeat `keys` (InvalidInput naming the first repeated key)."""
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        raise InvalidInput(field, f"{int(dup.sum())} rows share their ({', '.join(keys)}), e.g. "
                           f"{_key(df[dup].iloc[0], keys)}; {hint}"[:240])


def _cells(df: pd.DataFrame, methods: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of `methods` (one per knobs, seed and method) and their ok rows with costs
    checked finite and > 0 (a ratio of costs)."""
    sub = df[df["method"].isin(methods)]
    _unique(sub, [*(k for k in KNOBS if k in sub), "seed", "method"], "df",
            "one cell per instance and method (filter on `label` for a grid that swept options)")
    ok = sub[sub["status"] == "ok"]
    if ok.empty:
        raise InvalidInput("df", f"no row of {', '.join(methods)} has status ok")
    return sub, ok.assign(cost=_numbers(ok, "cost", "df", positive=True))


def _used_seeds(complete: pd.Series, setting: list[str], what: str, field: str = "df") -> None:
    """Refuse a setting where no seed is `complete` (`complete` is indexed by setting, …, seed;
    False where the row's seed lacks `what`); log the (setting, seed) pairs left out."""
    if complete.all():
        return
    frame = complete.index.to_frame(index=False).assign(_c=complete.to_numpy())
    left = (frame.groupby(setting, dropna=False)["_c"].transform("any") if setting
            else pd.Series(frame["_c"].any(), index=frame.index))
    if not left.all():
        raise InvalidInput(field, f"no seed has {what} at {_key(frame[~left].iloc[0], setting)}"[:240])
    lost = frame[~frame["_c"]].drop_duplicates([*setting, "seed"])
    log.warning("%d (setting, seed) pairs lack %s and are left out of their setting, e.g. %s",
                len(lost), what, _key(lost.iloc[0], [*setting, "seed"]))


# --------------------------------------------------------------------------- claim 1
def satellite_savings(df: pd.DataFrame, readings: list[str] | None = None) -> pd.DataFrame:
    """Per instance (knobs, seed) and reading, the saving 1 − cost(satellite side)/cost(other side).

    `df` is a caching study table with a `route` column (benchmarks/grids/claims/claim1_saving.toml).
    Columns: the knobs that vary (route excluded), seed, reading, saving.
    The costs compared must be finite and > 0, one row per (knobs, seed, method); an instance whose
    cell failed (status not ok) has no saving (no row: `saving_verdicts` then leaves its seed out)."""
    readings = list(READINGS) if readings is None else _names(readings, "readings")
    for r in readings:
        if r not in READINGS:
            raise InvalidInput("readings", f"unknown reading {r!r}; choose from {', '.join(READINGS)}")
    _table(df, ("route", "method", "status", "cost", "seed"))
    pairs = {x for r in readings for x in READINGS[r]}
    _check(df, {"route": {x[0] for x in pairs}, "method": {x[1] for x in pairs}})
    _, ok = _cells(df[pd.MultiIndex.from_frame(df[["route", "method"]]).isin(pairs)],
                   sorted({x[1] for x in pairs}))
    keys = [*_varying(ok, ("route",)), "seed"]
    cost = ok.pivot_table(index=keys, columns=["route", "method"], values="cost", aggfunc="first")
    rows = []
    for r in readings:
        sat, ref = READINGS[r]
        if sat not in cost or ref not in cost:
            raise InvalidInput("df", f"reading {r!r} needs {sat} and {ref} cells with status ok")
        s = (1.0 - cost[sat] / cost[ref]).rename("saving").reset_index()
        rows.append(s.assign(reading=r))
    out = pd.concat(rows, ignore_index=True)
    return out[[*keys, "reading", "saving"]].dropna(subset=["saving"])


def at_coverage(savings: pd.DataFrame, share: float) -> pd.DataFrame:
    """Savings when only a `share` of the slots lies in the satellite's pass (docs/claims.md):
    outside the pass the satellite side is the ground side, so each slot saves either its full
    amount or nothing; with the pass's phase uniform over the slots (docs/formulation.md §11)
    every slot is covered with probability `share` and the expected saving is `share × saving`
    (exact for schedules that do not depend on prices, as least-AoT's and all-cloud's).
    Savings must be finite and ≤ 1 (NaN: no saving, kept)."""
    if isinstance(share, bool) or not isinstance(share, numbers.Real) or not 0 <= share <= 1:
        raise InvalidInput("share", f"must be a coverage share in [0, 1], got {share!r}")
    _table(savings, ("saving",), "savings")
    saving = _numbers(savings, "saving", "savings", hi=1.0, missing=True)
    return savings.assign(saving=saving * float(share), coverage=float(share))


def saving_verdicts(savings: pd.DataFrame) -> pd.DataFrame:
    """Claim 1 per setting of the unstated assumptions and reading (the Fig. 3 points are the
    distinct points of the table: 18 for the paper's four panels, which share the default).

    For each seed: the mean and the least saving over the Fig. 3 points; then their mean and
    spread over seeds. `holds`: mean of the per-seed grid means ≥ 41 % and mean of the per-seed
    minima ≥ 20 %; `holds_every_seed`: both on every seed.
    A seed without a saving (NaN or no row) at some point of its setting is left out of that
    setting (logged; refused if no seed is left): `seeds` counts the seeds used, `points` the
    points of each. Savings must be finite and ≤ 1, one row per (setting, point, seed)."""
    _table(savings, ("seed", "reading", "saving"), "savings")
    fig3 = [k for k in FIG3_KNOBS if k in savings]
    setting = [c for c in savings.columns if c not in (*fig3, "seed", "saving")]
    saving = _numbers(savings, "saving", "savings", hi=1.0, missing=True)
    _unique(savings, [*setting, *fig3, "seed"], "savings", "one saving per setting, Fig. 3 point and seed")
    savings = savings.assign(saving=saving)[saving.notna()]
    if savings.empty:
        raise InvalidInput("savings", "no saving: every value is NaN")
    point = savings.groupby(fig3, dropna=False).ngroup() if fig3 else pd.Series(0, index=savings.index)
    s = savings.assign(_point=point)
    have = s.groupby([*setting, "seed"], dropna=False)["_point"].transform("nunique")
    complete = have == s.groupby(setting, dropna=False)["_point"].transform("nunique")
    _used_seeds(pd.Series(complete.to_numpy(), index=pd.MultiIndex.from_frame(s[[*setting, "seed"]])),
                setting, "a saving at every Fig. 3 point", "savings")
    savings = savings[complete.to_numpy()]
    per_seed = savings.groupby([*setting, "seed"], dropna=False)["saving"].agg(
        grid_mean="mean", grid_min="min", points="count").reset_index()
    a = _spread(per_seed, setting, "grid_mean", "mean_")
    b = _spread(per_seed, setting, "grid_min", "min_").drop(columns="seeds")
    out = a.merge(b, on=setting)
    out["points"] = per_seed.groupby(setting, dropna=False)["points"].max().to_numpy()
    ok_seed = per_seed.assign(ok=(per_seed["grid_mean"] >= SAVING_MEAN) & (per_seed["grid_min"] >= SAVING_MIN))
    out["holds"] = (out["mean_mean"] >= SAVING_MEAN) & (out["min_mean"] >= SAVING_MIN)
    out["holds_every_seed"] = ok_seed.groupby(setting, dropna=False)["ok"].all().to_numpy()
    return out


# --------------------------------------------------------------------------- claim 2
def policy_ranking(df: pd.DataFrame, rivals: tuple[str, ...] = ("fifo", "lfu")) -> pd.DataFrame:
    """Claim 2 per setting: at how many Fig. 3 points least-AoT's cost is the lowest (ties
    included, 1e-9 relative) among itself and `rivals`.

    Per seed, the share of points won and the mean cost ratio min(rivals)/least-AoT; then their
    mean and spread over seeds. `points_won` counts the points where the seed-mean cost of least-AoT
    is lowest; `holds`: it is lowest at every point.
    A seed lacking an ok cell of a compared method at some point of its setting is left out of that
    setting (logged; refused if no seed is left): `seeds` counts the seeds used. Costs must be
    finite and > 0, one row per (knobs, seed, method); `rivals` a list of other methods."""
    rivals = _names(rivals, "rivals")
    if "laot" in rivals:
        raise InvalidInput("rivals", "'laot' would be compared with itself; name other methods")
    methods = ["laot", *rivals]
    _table(df, ("method", "status", "cost", "seed"))
    _check(df, {"method": set(methods)})
    sub, ok = _cells(df, methods)
    setting = _varying(sub, FIG3_KNOBS)
    fig3 = [k for k in FIG3_KNOBS if k in ok]
    index = [*setting, *fig3, "seed"]
    cost = ok.set_index([*index, "method"])["cost"].unstack("method")
    cost = cost.reindex(index=sub.set_index(index).index.unique(), columns=methods).sort_index()
    complete = cost.notna().all(axis=1).groupby(level=[*setting, "seed"], dropna=False).transform("all")
    _used_seeds(complete, setting, f"a cost of {', '.join(methods)} at every Fig. 3 point")
    cost = cost[complete.to_numpy()]
    best = cost[rivals].min(axis=1)
    per = pd.DataFrame({"win": cost["laot"] <= best * (1 + ROUNDING), "ratio": best / cost["laot"]}).reset_index()
    per_seed = per.groupby([*setting, "seed"], dropna=False).agg(win_share=("win", "mean"),
                                                                 ratio=("ratio", "mean")).reset_index()
    out = _spread(per_seed, setting, "win_share", "win_share_") if setting else \
        _spread(per_seed.assign(_all=0), ["_all"], "win_share", "win_share_").drop(columns="_all")
    r = per_seed.groupby(setting or (lambda _: 0), dropna=False)["ratio"].agg(["mean", "std"])
    out["ratio_mean"], out["ratio_std"] = r["mean"].to_numpy(), r["std"].to_numpy()
    mean_cost = cost.groupby([*setting, *fig3], dropna=False).mean()
    won = (mean_cost["laot"] <= mean_cost[rivals].min(axis=1) * (1 + ROUNDING))
    won = won.groupby(setting or (lambda _: 0), dropna=False).agg(["sum", "count"])
    out["points_won"], out["points"] = won["sum"].to_numpy(), won["count"].to_numpy()
    out["holds"] = out["points_won"] == out["points"]
    return out


# --------------------------------------------------------------------------- claim 3
def optimum_gaps(df: pd.DataFrame, method: str = "laot", exact: str = "milp") -> pd.DataFrame:
    """Claim 3 per setting: `method`'s cost over the certified optimum, minus one (instances whose
    `exact` cell is certified optimal only). Columns: setting, gap mean/std/min/max over seeds,
    seeds, `holds` (mean gap ≤ `GOOD_GAP`).
    Only instances with both cells ok count (`seeds`; refused if a setting has none). Costs must
    be finite and > 0, one row per (knobs, seed, method); a certified optimum above `method`'s cost
    by more than rounding (1e-9 relative, plus the exact cell's own `gap`) is InvalidInput."""
    method, exact = _name(method, "method"), _name(exact, "exact")
    if method == exact:
        raise InvalidInput("method", f"is the exact method {exact!r} itself: compare another method")
    _table(df, ("method", "status", "cost", "seed", "termination"))
    _check(df, {"method": {method, exact}})
    sub, ok = _cells(df, [method, exact])
    setting = _varying(sub, ())
    cost = ok.pivot_table(index=[*setting, "seed"], columns="method", values="cost", aggfunc="first")
    cost = cost.reindex(index=sub.set_index([*setting, "seed"]).index.unique().sort_values(),
                        columns=[method, exact])
    cells = ok[ok["method"] == exact].set_index([*setting, "seed"])
    certified = (cells["termination"].reindex(cost.index) == "optimal").to_numpy()
    if not certified.any():
        raise InvalidInput("df", f"no {exact} cell is certified optimal")
    certified = certified & cost.notna().all(axis=1).to_numpy()
    _used_seeds(pd.Series(certified, index=cost.index), setting,
                f"a {method} cost and a certified optimal {exact} cell (status ok)")
    gap = cost[method] / cost[exact] - 1.0
    own = (_numbers(cells, "gap", "df", missing=True).reindex(cost.index).fillna(0.0).clip(lower=0.0)
           if "gap" in cells else 0.0)
    wrong = certified & (gap < -(ROUNDING + own)).to_numpy()
    if wrong.any():
        i = int(np.argmax(wrong))
        at = cost.index[i] if isinstance(cost.index[i], tuple) else (cost.index[i],)
        raise InvalidInput("df", f"cost: {exact}'s certified optimum {float(cost[exact].iloc[i])!r} is above "
                           f"{method}'s cost {float(cost[method].iloc[i])!r} at {_key(at, [*setting, 'seed'])}"[:240])
    gap = gap[certified].rename("gap").reset_index()
    out = _spread(gap, setting, "gap", "gap_") if setting else \
        _spread(gap.assign(_all=0), ["_all"], "gap", "gap_").drop(columns="_all")
    out["holds"] = out["gap_mean"] <= GOOD_GAP
    return out


# --------------------------------------------------------------------------- claims 4-8
MSB_READINGS = ("optimal", "myopic", "msb_rho1")
"""What 'the MSB auction' may mean: optimal MSB (historical ρ), myopic MSB, or MSB with ρ = 1."""


def _settings(df: pd.DataFrame, setting: list[str], what: str) -> list[str]:
    """`setting` or a constant key; refuses two rows for one (setting, seed) (`what` says why)."""
    _unique(df, [*setting, "seed"], "df", f"one row per setting and seed ({what})")
    return setting or ["_all"]


def _mixed(d: pd.DataFrame, keys: list[str], col: str, what: str) -> None:
    """Refuse a setting (`keys`) whose rows differ in `col` (InvalidInput naming it and `what`)."""
    n = d.groupby(keys, dropna=False)[col].transform("nunique", dropna=False)
    if (n > 1).any():
        row = d[(n > 1).to_numpy()].iloc[0]
        raise InvalidInput("df", f"{what} at {_key(row, [k for k in keys if k != '_all'])}; read such "
                           "rows as separate tables"[:240])


def _convergence(d: pd.DataFrame, required: bool) -> pd.Series:
    """Per trained row, whether the run never converged: `converged_epoch` is epochs + 1
    (`optcache.market.sweep.converged_epoch` of a curve that does not settle); an epoch below 1,
    beyond that or not an integer is InvalidInput, NaN too if `required`."""
    epoch = _numbers(d, "converged_epoch", "df", lo=1.0, missing=not required)
    epochs = _numbers(d, "epochs", "df", lo=1.0, missing=not required)
    for col, v in (("converged_epoch", epoch), ("epochs", epochs)):
        fraction = (v % 1 != 0) & v.notna()
        if fraction.any():
            i = int(np.argmax(fraction.to_numpy()))
            raise InvalidInput("df", f"{col}: must be an integer, got {float(v.iloc[i])!r} (row {d.index[i]})")
    beyond = epoch > epochs + 1
    if beyond.any():
        i = int(np.argmax(beyond.to_numpy()))
        raise InvalidInput("df", f"converged_epoch: {epoch.iloc[i]:g} is beyond the run of {epochs.iloc[i]:g} "
                           f"epochs (row {d.index[i]})")
    return epoch == epochs + 1


def market_claims(df: pd.DataFrame) -> pd.DataFrame:
    """Claims 4–6 per market setting (every knob of the market table but the seed).

    Per seed: DQMSB / MSB total surplus for each reading of MSB (`MSB_READINGS`), or, where DQMSB
    was not trained, its upper bound first-best / MSB = 1 / MSB's efficiency; the efficiency gain in
    points (upper bound 1 − efficiency); SPA's efficiency and DQMSB's margin over the best other
    mechanism. Then mean and spread over seeds. `holds_surplus` (claim 4): ≥ 1.2 against some
    reading of MSB; `holds_efficiency`: ≥ 1.23 × or ≥ +0.23; `holds_highest`: DQMSB ≥ SPA, myopic
    and optimal MSB on average. `bound` says whether the quantities are DQMSB's or upper bounds.
    Efficiencies must be finite in [0, 1] (MSB's > 0; DQMSB's NaN where not trained), one row per
    (setting, seed), DQMSB trained for every seed of a setting or none; `seeds` counts distinct
    seeds; `converged_epoch_*` is NaN where a seed never converged (epochs + 1)."""
    from optcache.market.sweep import MARKET_KNOBS

    refs = ("spa", *MSB_READINGS)
    _table(df, ("seed", *(f"{m}_efficiency" for m in (*refs, "dqmsb"))))
    always = ("match", "pareto_shape", "contract", "cloud_match", "slot_seconds")
    setting = [k for k in MARKET_KNOBS if k in df and (k in always or df[k].nunique(dropna=False) > 1)]
    d = df.copy()
    for m in refs:
        d[f"{m}_efficiency"] = _numbers(d, f"{m}_efficiency", "df", lo=0.0, hi=1.0, positive=m != "spa")
    d["dqmsb_efficiency"] = _numbers(d, "dqmsb_efficiency", "df", lo=0.0, hi=1.0, missing=True)
    keys = _settings(d, setting, "e.g. two [train] tables resumed into one output")
    if not setting:
        d["_all"] = 0
    for c in ("converged_epoch", "epochs", "coverage_share", "satellite_first_best_share"):
        if c not in d:  # optional columns (a table built by hand, or before they existed)
            d[c] = float("nan")
    trained = d["dqmsb_efficiency"].notna()
    _mixed(d.assign(_trained=trained), keys, "_trained", "DQMSB trained for some seeds and not others")
    never = pd.Series(False, index=d.index)
    if trained.any():
        never[trained] = _convergence(d[trained], required=False)
    dq = d["dqmsb_efficiency"].where(trained, 1.0)  # the first-best bounds any DQMSB
    d["bound"] = ~trained
    cols = {}
    for m in MSB_READINGS:
        d[f"over_{m}"] = dq / d[f"{m}_efficiency"]
        d[f"points_over_{m}"] = dq - d[f"{m}_efficiency"]
        cols[m] = (f"over_{m}", f"points_over_{m}")
    d["over_best_other"] = dq - d[["spa_efficiency", "myopic_efficiency", "optimal_efficiency"]].max(axis=1)
    values = ["spa_efficiency", "optimal_efficiency", "dqmsb_efficiency", "coverage_share",
              "satellite_first_best_share", "over_best_other", "converged_epoch"] + [c for m in MSB_READINGS for c in cols[m]]
    agg = d.groupby(keys, dropna=False)[values].agg(["mean", "std"])
    agg.columns = [f"{a}_{b}" for a, b in agg.columns]
    out = agg.reset_index()
    if never.any():
        unsettled = d.assign(_never=never).groupby(keys, dropna=False)["_never"].any().to_numpy()
        out.loc[unsettled, ["converged_epoch_mean", "converged_epoch_std"]] = float("nan")
    out["seeds"] = d.groupby(keys, dropna=False)["seed"].nunique().to_numpy()
    out["bound"] = d.groupby(keys, dropna=False)["bound"].all().to_numpy()
    best_ratio = out[[f"over_{m}_mean" for m in MSB_READINGS]].max(axis=1)
    best_points = out[[f"points_over_{m}_mean" for m in MSB_READINGS]].max(axis=1)
    out["best_msb_ratio"] = best_ratio
    out["holds_surplus"] = best_ratio >= SURPLUS_GAIN
    out["holds_efficiency"] = (best_ratio >= 1 + EFFICIENCY_GAIN) | (best_points >= EFFICIENCY_GAIN)
    out["holds_highest"] = out["over_best_other_mean"] >= 0
    return out.drop(columns=["_all"], errors="ignore")


def training_claims(df: pd.DataFrame) -> pd.DataFrame:
    """Claims 7–8 from trained market cells: converged epoch and manipulable share, mean and
    spread over seeds, per setting (the market knobs that vary among trained cells; the DQN state
    is a training argument, so tables of the critical and the literal state are read separately
    and labelled by the caller). `seeds` counts distinct seeds; one row per (setting, seed).
    A run that never converged (converged_epoch = epochs + 1) makes its setting's epoch_* NaN and
    holds_convergence False, or None (undetermined) for runs shorter than 200 epochs; a NaN
    manipulable_share is 'not measured': share_* NaN and holds_strategy_proof None."""
    from optcache.market.sweep import MARKET_KNOBS

    _table(df, ("seed", "dqmsb_efficiency", "converged_epoch", "epochs", "manipulable_share"))
    trained = _numbers(df, "dqmsb_efficiency", "df", lo=0.0, hi=1.0, missing=True).notna()
    d = df[trained.to_numpy()]
    if not len(d):
        raise InvalidInput("df", "no trained DQMSB cell (dqmsb_efficiency is NaN in every row)")
    setting = [k for k in MARKET_KNOBS if k in d and d[k].nunique(dropna=False) > 1]
    keys = _settings(d, setting, "e.g. two [train] tables resumed into one output")
    never = _convergence(d, required=True)
    share = _numbers(d, "manipulable_share", "df", lo=0.0, hi=1.0, missing=True)
    d = d.assign(_all=0, _never=never, _measured=share.notna())
    _mixed(d, keys, "epochs", "runs of different lengths (different [train] tables)")
    _mixed(d, keys, "_measured", "manipulable_share measured for some seeds and not others")
    epoch = d if not never.any() else d.assign(converged_epoch=d["converged_epoch"].where(~never))
    out = _spread(epoch, keys, "converged_epoch", "epoch_")
    out = pd.concat([out, _spread(d, keys, "manipulable_share", "share_").drop(columns=[*keys, "seeds"])], axis=1)
    g = d.groupby(keys, dropna=False)
    out["seeds"] = g["seed"].nunique().to_numpy()
    unsettled = g["_never"].any().to_numpy()
    if unsettled.any():
        out.loc[unsettled, ["epoch_mean", "epoch_std", "epoch_min", "epoch_max"]] = float("nan")
    out["epochs"] = g["epochs"].max().astype("int64").to_numpy()
    out["dqmsb_efficiency_mean"] = g["dqmsb_efficiency"].agg(lambda s: float(s.mean())).to_numpy()
    converged = pd.Series((out["epoch_max"] <= CONVERGENCE_EPOCHS).to_numpy(), dtype=object)
    converged[unsettled] = [False if e >= CONVERGENCE_EPOCHS else None for e in out["epochs"][unsettled]]
    proof = pd.Series((out["share_max"] == 0).to_numpy(), dtype=object)
    proof[~g["_measured"].all().to_numpy()] = None
    out["holds_convergence"] = converged.astype(bool) if converged.notna().all() else converged
    out["holds_strategy_proof"] = proof.astype(bool) if proof.notna().all() else proof
    return out.drop(columns=["_all"], errors="ignore")
