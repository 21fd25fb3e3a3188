"""`make demo`: the paper's default scenario through the toolkit, a summary table and figures."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from optcache.errors import InvalidInput
from optcache.instance import make_folder, require_path, write_atomic
from optcache.scenario import ScenarioConfig, generate
from optcache.study import check_costs, require_table, typed_column

log = logging.getLogger(__name__)

NA = "-"
"""Printed for a cell that does not apply (a heuristic's bound and gap, first-best's revenue), here
and by `optcache solve` for a missing bound or gap: the tables print no NaN; the CSVs leave those
cells empty."""


def scenario_summary(cfg: ScenarioConfig) -> pd.DataFrame:
    """Size of the scenario (what the paper calls the default setting of section VI-A), one row
    per quantity with its unit; values are printed as written (integers stay integers)."""
    inst = generate(cfg)
    d = inst.station_data(0)
    rows = [
        ("slots", inst.slots, "slots"), ("stations", inst.n_stations, "stations"),
        ("services", len(inst.services), "services"), ("models", len(inst.models), "models"),
        ("pairs", inst.n_pairs, "(service, model) pairs"),
        ("GPU memory per station", f"{d.G:g}", "GB"),
        ("compute budget per slot", f"{d.E:.4g}", "FLOP"),
        ("requests (total)", int(sum(s.requests.sum() for s in inst.stations)), "requests"),
    ]
    return pd.DataFrame([(v, u) for _, v, u in rows], index=[n for n, _, _ in rows],
                        columns=["value", "unit"], dtype=object)


DEMO_METHODS: dict[str, dict] = {
    "all-cloud": {}, "static": {}, "laot": {}, "fifo": {}, "lru": {}, "lfu": {}, "slot": {},
    "rolling": {"horizon": 12, "forecast": "oracle", "tail": "relaxed"},  # ~20 s, exact windows
    # the exact methods are time-limited so the demo stays within a few minutes on 2 cores; the
    # result says 'time_limit' with its certified gap when the limit is hit
    "milp": {"time_limit": 60.0},
    "lagrange": {"time_limit": 60.0},
}
"""Every caching method with the options the demo runs it with."""


def optimum_bracket(table: pd.DataFrame) -> pd.DataFrame:
    """How far above the optimum each method is, certified: with L the best bound any method
    proved and U the cheapest feasible schedule found, a cost c is between (c − U)/U and
    (c − L)/L above the optimum (columns `above_opt_min`, `above_opt_max`, fractions; NaN when no
    method proved a positive bound). `table` has one row per method with status, cost and bound.
    Rows with status ok need finite costs >= 0 and finite bounds (`optcache.study.check_costs`);
    L above U beyond rounding (1e-9 relative) contradicts a certificate: InvalidInput."""
    require_table(table, ("status", "cost", "bound"), "table")
    if table.empty:
        raise InvalidInput("table", "empty table: no method")
    check_costs(table, lambda i: f"table, row {table.index[i]}")
    ok = table["status"] == "ok"
    cost = typed_column(table, "cost", "float64", "table")
    bounds = typed_column(table, "bound", "float64", "table")
    lower = bounds[ok].max() if ok.any() else float("nan")
    upper = cost[ok].min() if ok.any() else float("nan")
    if lower > upper * (1 + 1e-9):
        raise InvalidInput("table", f"bound: {bounds[ok].idxmax()}'s lower bound {lower:g} is above the cost "
                           f"{upper:g} of {cost[ok].idxmin()}'s schedule; a certified bound cannot exceed a "
                           "feasible cost")
    out = pd.DataFrame(index=table.index, columns=["above_opt_min", "above_opt_max"], dtype=float)
    if pd.notna(lower) and lower > 0:
        lower = min(lower, upper)  # equal within rounding
        out["above_opt_min"] = ((cost - upper) / upper).where(ok)
        out["above_opt_max"] = ((cost - lower) / lower).where(ok)
    return out


def run_demo(out: Path, seed: int = 0, methods: dict[str, dict] | None = None,
             market: bool = True, echo: Callable[[str], None] = log.info) -> pd.DataFrame:
    """Run every method on the default scenario, report the tables through `echo` (the CLI prints
    them; by default they are logged at INFO), write figures and CSVs to `out`.
    Every argument (`methods`: a non-empty dict of method name → options) is checked before `out`
    is created."""
    from optcache.solvers import registry

    out = require_path(out, "out")
    cfg = ScenarioConfig(seed=seed)
    methods = DEMO_METHODS if methods is None else methods
    if not isinstance(methods, dict) or not methods:
        raise InvalidInput("methods", f"expected a non-empty dict of method name → options, got {methods!r}"[:160])
    for m, opts in methods.items():
        if not isinstance(m, str):
            raise InvalidInput("methods", f"expected method names (strings), got {m!r}"[:160])
        try:
            registry.get(m)
        except InvalidInput as e:
            raise InvalidInput("methods", e.message) from None
        registry.check_options(m, opts, f"methods.{m}")
    if not isinstance(market, bool):
        raise InvalidInput("market", f"expected True or False, got {market!r}"[:160])
    if not callable(echo):
        raise InvalidInput("echo", f"expected a function of one string, got {echo!r}"[:160])
    out = make_folder(out, str(out))  # before minutes of solving, not after
    inst = generate(cfg)
    echo("Scenario (paper section VI-A defaults):")
    echo(scenario_summary(cfg).to_string())
    echo("costs in the paper's cost units, per slot, summed over stations")
    rows = []
    for m, opts in methods.items():
        t0 = time.perf_counter()
        echo(f"  running {m} ...")
        res = registry.run(m, inst, **opts)
        row = res.summary()
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
    table = pd.DataFrame(rows).set_index("method")
    cols = ["status", "termination", "cost", "bound", "gap", "switching", "transmission",
            "computing", "accuracy", "cloud", "wall_s"]
    table[cols[2:]] = table[cols[2:]].astype(float)  # None (no bound) is NaN, printed as NA
    echo("\nCost per method (sum over stations of the slot-average cost (27)):")
    echo(table[cols].to_string(float_format=lambda v: f"{v:.4f}", na_rep=NA))
    bracket = optimum_bracket(table)
    table = table.join(bracket)
    if bracket["above_opt_max"].notna().any():
        echo("\nDistance from the optimum, certified by the best bound (the optimum lies between the "
             "best bound and the cheapest schedule):")
        echo((100 * bracket).rename(columns={"above_opt_min": "at least, %", "above_opt_max": "at most, %"})
             .to_string(float_format=lambda v: f"{v:.2f}", na_rep=NA))
    write_atomic(out / "summary.csv", table.to_csv())
    _figure(table, out / "cost_breakdown.png")
    echo(f"\nwrote {out / 'summary.csv'} and {out / 'cost_breakdown.png'}")
    if market:
        _market(out, echo)
    return table


def _market(out: Path, echo: Callable[[str], None]) -> None:
    """Score every mechanism on held-out rounds with the default DQMSB policy (trained once and
    cached in the user's cache folder, `optcache.cache.cache_dir()`)."""
    from optcache.market.dqn import cached_policy, load_checkpoint
    from optcache.market.experiment import evaluate, tidy
    from optcache.market.valuations import market_dataset

    echo("\nMarket: the default DQMSB policy (trained once, then cached) ...")
    policy, path, trained = cached_policy(progress=True)
    echo(f"  {'trained and cached' if trained else 'from the cache'}: {path}")
    data = market_dataset(policy.args.market, policy.args.eval_seeds())
    result = evaluate(data.subset(data.scored), {"dqmsb": policy})
    table = tidy(result)
    echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep=NA))
    write_atomic(out / "market.csv", table.to_csv(index=False))
    curve = load_checkpoint(path)[1].get("curve")
    if curve:
        write_atomic(out / "market_training_curve.csv", pd.DataFrame(curve).to_csv(index=False))
    echo(f"wrote {out / 'market.csv'}")


def _figure(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from optcache.figures import cost_by_method, save

    fig = cost_by_method(table.reset_index())
    fig.axes[0].set_title("Cost breakdown by method, paper default scenario", fontsize=10)
    save(fig, path, dpi=150)
