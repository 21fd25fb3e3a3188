"""Issue 13: the knobs of the unstated assumptions, the market's match shapes and contract rules,
market studies, and the claim measurements of optcache.claims (hand-computed expected values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optcache import assumptions as A
from optcache import claims as C
from optcache.cli import main
from optcache.errors import InvalidInput
from optcache.evaluator import evaluate
from optcache.market.sweep import (
    MARKET_COLUMNS,
    MarketGrid,
    converged_epoch,
    market_cells,
    read_market,
    run_market_study,
)
from optcache.market.valuations import (
    PARETO_MEDIAN,
    MarketConfig,
    Rounds,
    instance_rounds,
    pareto_matches,
    with_history,
)
from optcache.scenario import NO_BACKHAUL_MB_PER_S, ScenarioConfig, generate
from optcache.solvers import registry
from optcache.study import Grid, load_grid

SMALL = {"slots": 6, "services": 3, "stations": 2, "gpus": 4}


# --------------------------------------------------------------------------- scenario knobs
def test_routes_reprice_the_same_requests_with_the_papers_prices():
    ground = generate(**SMALL, seed=3)
    for route in ("relay", "relay-nobackhaul", "satellite"):
        inst = generate(**SMALL, seed=3, route=route)
        for s0, s1 in zip(ground.stations, inst.stations, strict=True):
            assert np.array_equal(s0.requests, s1.requests)
    relay = generate(**SMALL, seed=3, route="relay")
    assert all(p.cloud_cost == pytest.approx(0.025 + 0.005) for p in relay.pairs)
    assert all(s.backhaul_mb_per_s == 10_000.0 for s in relay.stations)
    assert all(s.access_cost == (0.0001,) * 3 for s in relay.stations)
    nob = generate(**SMALL, seed=3, route="relay-nobackhaul")
    assert all(s.backhaul_mb_per_s == NO_BACKHAUL_MB_PER_S for s in nob.stations)
    sat = generate(**SMALL, seed=3, route="satellite")
    assert all(p.cloud_cost == 0.025 for p in sat.pairs)
    assert all(s.access_cost == (0.005,) * 3 for s in sat.stations)
    # all-cloud through the satellite: every request pays 0.005 + 0.025 (+ d/1e15, nil), per slot
    total = sum(int(s.requests.sum()) for s in sat.stations)
    assert registry.run("all-cloud", sat).cost == pytest.approx(total * 0.030 / 6, rel=1e-9)


def test_backhaul_knob_prices_each_offloaded_request_d_over_rc():
    a = generate(**SMALL, seed=1, backhaul_mb_per_s=1000.0)
    b = generate(**SMALL, seed=1, backhaul_mb_per_s=4000.0)
    assert all(s.backhaul_mb_per_s == 1000.0 for s in a.stations)
    d = np.array([s.input_mb for s in a.services])
    R = sum(s.requests.sum(axis=0) for s in a.stations)  # one pair per service
    hand = float((R * d).sum()) * (1 / 1000 - 1 / 4000) / 6
    assert registry.run("all-cloud", a).cost - registry.run("all-cloud", b).cost == pytest.approx(hand, rel=1e-9)


def test_beta_range_maps_the_same_draws():
    base = generate(**SMALL, seed=5)
    other = generate(**SMALL, seed=5, beta_min=0.3, beta_max=0.45)
    for p0, p1 in zip(base.pairs, other.pairs, strict=True):
        # same uniform draw u: beta = lo + (hi - lo) u, rounded to 4 decimals
        u = (p0.cot_beta - 0.6) / 0.3
        assert p1.cot_beta == pytest.approx(0.3 + 0.15 * u, abs=2e-4)
        assert 0.3 <= p1.cot_beta <= 0.45
    with pytest.raises(InvalidInput, match="beta_min"):
        ScenarioConfig(beta_min=0.8, beta_max=0.7)
    with pytest.raises(InvalidInput, match="beta_max"):
        ScenarioConfig(beta_max=1.0)


def test_channel_knobs_raise_the_access_cost_where_the_link_is_worse():
    kw = dict(slots=2, services=2, stations=1, users=3, access="channel", seed=2)
    base = generate(**kw).stations[0].access_cost
    noisy = generate(**kw, noise_dbm_per_hz=-150.0).stations[0].access_cost
    lossy = generate(**kw, path_loss_exponent=4.0).stations[0].access_cost
    assert all(n > b for n, b in zip(noisy, base, strict=True))
    assert all(x > b for x, b in zip(lossy, base, strict=True))
    sat = generate(**kw, route="satellite")
    assert np.array_equal(sat.stations[0].requests, generate(**kw).stations[0].requests)
    with pytest.raises(InvalidInput, match="noise_dbm_per_hz"):
        ScenarioConfig(noise_dbm_per_hz=-50.0)
    with pytest.raises(InvalidInput, match="route"):
        ScenarioConfig(route="balloon")


def test_study_grids_sweep_the_new_knobs(tmp_path):
    g = Grid(methods=["all-cloud"], seeds=[0], knobs={**SMALL, "route": ["ground", "satellite"],
                                                      "backhaul_mb_per_s": [1000.0, 2000.0]})
    from optcache.study import run_study

    df = run_study(g, tmp_path / "t.parquet", workers=1, progress=False)
    assert set(df["route"]) == {"ground", "satellite"} and len(df) == 4
    # the satellite route has no backhaul: its cost does not move with r^C
    sat = df[df["route"] == "satellite"]["cost"].to_numpy()
    assert sat[0] == pytest.approx(sat[1], rel=1e-12)


# --------------------------------------------------------------------------- market knobs
def test_pareto_matches_have_the_stated_median_and_tail():
    rng = np.random.default_rng(0)
    m = pareto_matches(rng, (400_000,), 2.0)
    assert np.median(m) == pytest.approx(PARETO_MEDIAN, rel=0.01)
    # P[m > y] = (x_m / y)^α with x_m = median · 2^(-1/α): at y = 2 · median, 2^-1 · 2^-α = 0.125
    assert (m > 2 * PARETO_MEDIAN).mean() == pytest.approx(0.125, abs=0.003)
    assert m.min() >= PARETO_MEDIAN * 2 ** -0.5 - 1e-9


def test_pareto_market_keeps_common_values_and_replaces_matches():
    inst = generate(slots=10, services=3, stations=3, seed=4)
    aot = instance_rounds(inst, MarketConfig(slots=10, services=3, stations=3), seed=4)
    par = instance_rounds(inst, MarketConfig(slots=10, services=3, stations=3, match="pareto",
                                             pareto_shape=3.0), seed=4)
    assert np.array_equal(aot.c, par.c) and par.m.shape == aot.m.shape
    assert not np.allclose(aot.m, par.m)
    assert par.m.min() >= PARETO_MEDIAN * 2 ** (-1 / 3) - 1e-9
    with pytest.raises(InvalidInput, match="match"):
        MarketConfig(match="lognormal")
    with pytest.raises(InvalidInput, match="pareto_shape"):
        MarketConfig(pareto_shape=1.0)
    with pytest.raises(InvalidInput, match="contract"):
        MarketConfig(contract="auction")


def _episode(e: int, v: list[list[float]], eligible: list[bool], m0: float = 3.0) -> Rounds:
    v = np.asarray(v, float)
    R = v.shape[0]
    nan = np.full(R, np.nan)
    return Rounds(episode=np.full(R, e), slot=np.arange(R), service=np.zeros(R, int), requests=np.ones(R, int),
                  c=np.arange(1.0, R + 1), m=v, m0=m0, eligible=np.asarray(eligible), log_inv_beta=np.ones(R),
                  context_tokens=np.ones(R), x0=nan, x2_mean=nan.copy(), scored=np.ones(R, bool), n_slots=R)


def test_mean_contract_is_the_mean_historical_value_in_coverage():
    e0 = _episode(0, [[1.0, 0.5], [9.0, 4.0], [2.0, 1.0]], [True, True, False])  # c = 1, 2, 3
    e1 = _episode(1, [[2.0, 1.5]], [True])
    e2 = _episode(2, [[5.0, 5.0]], [True])
    d = with_history([e0, e1, e2], warmup=1, contract="mean")
    # v0 = c · 3: history of e1 = rounds 1, 2 of e0 (in coverage): (3 + 6)/2; e2 adds e1's v0 = 3
    assert d.x0[3] == pytest.approx(4.5) and d.x0[4] == pytest.approx(4.0)
    with pytest.raises(InvalidInput, match="contract"):
        with_history([e0, e1], contract="bogus")


# --------------------------------------------------------------------------- market studies
def test_converged_epoch_by_hand():
    e = [0.5, 0.9, 0.95, 0.96, 0.95, 0.96, 0.96, 0.95]  # plateau = mean of last 2 = 0.955
    assert converged_epoch(e) == 3
    assert converged_epoch([0.9, 0.9, 0.9, 0.9]) == 1
    assert converged_epoch([0.1, 0.5, 0.9, 0.9]) == 3


def test_market_grid_bad_input_names_the_field():
    with pytest.raises(InvalidInput, match="knobs.bogus"):
        MarketGrid(knobs={"bogus": 1})
    with pytest.raises(InvalidInput, match="knobs.match"):
        MarketGrid(knobs={"match": ["aot", "cauchy"]})
    with pytest.raises(InvalidInput, match="train.seed"):
        MarketGrid(train={"seed": 3})
    with pytest.raises(InvalidInput, match="train.episodes"):
        MarketGrid(train={"episodes": 0})
    with pytest.raises(InvalidInput, match="manipulability"):
        MarketGrid(manipulability=True)
    g = MarketGrid(seeds=2, knobs={"cloud_match": [100.0, 200.0]}, sweeps=({"match": ("aot",)},
                                                                          {"match": ("aot", "pareto")}))
    assert len(market_cells(g)) == 2 * 2 * 2  # (aot) is shared by both sweeps


TINY_MARKET = """
kind = "market"
seeds = [0, 1]
[knobs]
slots = 12
services = 3
stations = 3
cloud_match = [50.0, 400.0]
"""


def test_market_study_through_the_cli_resumes(tmp_path, monkeypatch, capsys):
    grid = tmp_path / "m.toml"
    grid.write_text(TINY_MARKET)
    assert isinstance(load_grid(grid), MarketGrid)
    out = tmp_path / "m.parquet"
    assert main(["-q", "study", str(grid), "--out", str(out), "--workers", "1", "--no-progress"]) in (0, None)
    df = read_market(out)
    assert list(df.columns) == list(MARKET_COLUMNS) and len(df) == 4
    assert (df["spa_efficiency"] <= 1 + 1e-12).all() and (df["first_best"] > 0).all()
    assert df["dqmsb_efficiency"].isna().all()
    # the first-best bounds every mechanism; with a larger m_0 the satellite is first-best more often
    lo, hi = (df[df["cloud_match"] == m]["satellite_first_best_share"].mean() for m in (50.0, 400.0))
    assert hi > lo
    from optcache.market import sweep

    calls = []
    monkeypatch.setattr(sweep, "run_market_cell", lambda c: calls.append(c) or {})
    again = run_market_study(load_grid(grid), out, workers=1, progress=False)
    assert calls == [] and len(again) == 4


def test_market_cell_msb_rho1_matches_its_definition():
    from optcache.market import mechanisms as M
    from optcache.market.sweep import run_market_cell
    from optcache.market.valuations import market_dataset

    cell = market_cells(MarketGrid(seeds=[0], knobs={"slots": 12, "services": 3, "stations": 3}))[0]
    row = run_market_cell(cell)
    from optcache.market.dqn import Args

    data = market_dataset(MarketConfig(slots=12, services=3, stations=3), Args(seed=0).eval_seeds())
    h = data.subset(data.scored)
    v, v0, el = h.v, h.v0, h.eligible
    # by hand: in coverage the top ground bidder wins iff x_(1) > x_(2), else the satellite
    xs = -np.sort(-v, axis=1)
    ground = ~el | (xs[:, 0] > xs[:, 1])
    surplus = np.where(ground, xs[:, 0], v0).sum()
    best = np.maximum(v.max(axis=1), np.where(el, v0, -np.inf)).sum()
    assert row["msb_rho1_efficiency"] == pytest.approx(surplus / best, rel=1e-12)
    assert row["first_best"] == pytest.approx(best, rel=1e-12)
    assert row["coverage_share"] == pytest.approx(el.mean())
    assert M.first_best(v, v0, el).sum() == pytest.approx(best)


# --------------------------------------------------------------------------- claims
def _caching_table(rows: list[dict]) -> pd.DataFrame:
    from optcache.study import tidy

    base = {**ScenarioConfig().knobs(), "status": "ok", "termination": "heuristic", "exact": False,
            "label": "", "options": "{}", "cell": "", "instance": ""}
    base.pop("seed")
    out = []
    for i, r in enumerate(rows):
        row = {**base, **r}
        row["cell"] = f"c{i}"
        row["instance"] = f"i{row['seed']}{row.get('slots')}{row.get('switching_cost')}"
        out.append(row)
    return tidy(out)


def test_satellite_savings_and_verdicts_by_hand():
    rows = []
    costs = {  # (slots, seed): ground laot, relay laot, satellite all-cloud, ground all-cloud
        (20, 0): (1.0, 0.5, 0.7, 2.0), (20, 1): (1.0, 0.6, 0.9, 2.0),
        (40, 0): (2.0, 1.6, 1.0, 2.0), (40, 1): (2.0, 1.2, 1.0, 4.0),
    }
    for (slots, seed), (gl, rl, sa, ga) in costs.items():
        for route, method, cost in (("ground", "laot", gl), ("relay", "laot", rl),
                                    ("satellite", "all-cloud", sa), ("ground", "all-cloud", ga)):
            rows.append({"slots": slots, "seed": seed, "route": route, "method": method, "cost": cost})
    df = _caching_table(rows)
    s = C.satellite_savings(df, ["relay", "satellite-vs-caching", "satellite-vs-ground-cloud"])
    relay = s[s["reading"] == "relay"].set_index(["slots", "seed"])["saving"]
    assert relay[(20, 0)] == pytest.approx(0.5) and relay[(40, 1)] == pytest.approx(0.4)
    v = C.saving_verdicts(s).set_index("reading")
    # relay: seed 0 grid (0.5, 0.2) -> mean 0.35, min 0.2; seed 1 (0.4, 0.4) -> 0.4, 0.4
    assert v.loc["relay", "mean_mean"] == pytest.approx(0.375)
    assert v.loc["relay", "min_mean"] == pytest.approx(0.3)
    assert v.loc["relay", "mean_min"] == pytest.approx(0.35) and v.loc["relay", "seeds"] == 2
    assert not v.loc["relay", "holds"]
    # satellite-vs-ground-cloud: (0.65, 0.5) and (0.55, 0.75) -> means 0.575, 0.65; mins 0.5, 0.55
    assert v.loc["satellite-vs-ground-cloud", "mean_mean"] == pytest.approx(0.6125)
    assert v.loc["satellite-vs-ground-cloud", "holds"]
    assert v.loc["satellite-vs-ground-cloud", "holds_every_seed"]
    half = C.saving_verdicts(C.at_coverage(s, 0.5)).set_index("reading")
    assert half.loc["satellite-vs-ground-cloud", "mean_mean"] == pytest.approx(0.30625)
    with pytest.raises(InvalidInput, match="readings"):
        C.satellite_savings(df, ["moon"])
    with pytest.raises(InvalidInput, match="coverage"):
        C.at_coverage(s, 1.5)


def test_saving_at_a_coverage_share_is_the_share_of_the_full_saving():
    """Brute force over every phase of the pass: mixing the relay and ground per-slot costs of
    least-AoT's (price-oblivious) schedule gives share × the always-covered saving on average."""
    ground = generate(slots=10, services=3, stations=1, gpus=4, seed=7)
    relay = generate(slots=10, services=3, stations=1, gpus=4, seed=7, route="relay-nobackhaul")
    sched = registry.run("laot", ground).schedule
    assert registry.run("laot", relay).schedule.stations[0].cached.tolist() == sched.stations[0].cached.tolist()
    g = evaluate(ground, sched).per_slot["total"].to_numpy()
    r = evaluate(relay, sched).per_slot["total"].to_numpy()
    full = 1 - r.sum() / g.sum()
    n_cov = 4
    mixed = [np.where((np.arange(10) - start) % 10 < n_cov, r, g).sum() for start in range(10)]
    assert 1 - np.mean(mixed) / g.sum() == pytest.approx(0.4 * full, rel=1e-12)


def test_policy_ranking_by_hand():
    rows = []
    costs = {  # (slots, seed): fifo, lfu, laot
        (20, 0): (1.0, 1.1, 0.9), (20, 1): (1.0, 1.1, 1.2),
        (40, 0): (1.0, 1.0, 1.0), (40, 1): (2.0, 2.0, 1.5),
    }
    for (slots, seed), cs in costs.items():
        for m, c in zip(("fifo", "lfu", "laot"), cs, strict=True):
            rows.append({"slots": slots, "seed": seed, "method": m, "cost": c})
    r = C.policy_ranking(_caching_table(rows)).iloc[0]
    # per seed: seed 0 wins both points (a tie counts) -> 1.0; seed 1 wins one of two -> 0.5
    assert r["win_share_mean"] == pytest.approx(0.75) and r["win_share_min"] == pytest.approx(0.5)
    # seed-mean costs: slots 20 laot 1.05 > fifo 1.0 (lost), slots 40 laot 1.25 < 1.5 (won)
    assert r["points_won"] == 1 and r["points"] == 2 and not r["holds"]
    # ratio min(rivals)/laot per seed: seed 0 (1/0.9 + 1)/2, seed 1 (1/1.2 + 2/1.5)/2
    assert r["ratio_mean"] == pytest.approx(((1 / 0.9 + 1) / 2 + (1 / 1.2 + 2 / 1.5) / 2) / 2)


def test_optimum_gaps_use_certified_cells_only():
    rows = []
    for seed, (heur, opt, term) in enumerate([(1.2, 1.0, "optimal"), (1.1, 1.0, "optimal"),
                                              (9.0, 1.0, "time_limit")]):
        rows.append({"switching_cost": 0.1, "seed": seed, "method": "laot", "cost": heur})
        rows.append({"switching_cost": 0.1, "seed": seed, "method": "milp", "cost": opt,
                     "termination": term, "exact": True})
    g = C.optimum_gaps(_caching_table(rows)).iloc[0]
    assert g["gap_mean"] == pytest.approx(0.15) and g["seeds"] == 2 and not g["holds"]


def test_market_claims_by_hand():
    base = {k: v for k, v in MarketConfig().to_dict().items()}
    rows = []
    for seed, (spa, opt, my, r1, dq) in enumerate([(0.99, 0.8, 0.9, 0.5, 0.98), (0.97, 0.9, 0.9, 0.6, 0.99)]):
        rows.append({**base, "seed": seed, "spa_efficiency": spa, "optimal_efficiency": opt,
                     "myopic_efficiency": my, "msb_rho1_efficiency": r1, "dqmsb_efficiency": dq,
                     "coverage_share": 0.4, "satellite_first_best_share": 0.5})
    df = pd.DataFrame(rows)
    r = C.market_claims(df).iloc[0]
    assert r["over_optimal_mean"] == pytest.approx((0.98 / 0.8 + 0.99 / 0.9) / 2)
    assert r["over_msb_rho1_mean"] == pytest.approx((0.98 / 0.5 + 0.99 / 0.6) / 2)
    assert r["over_best_other_mean"] == pytest.approx((-0.01 + 0.02) / 2)
    assert r["holds_surplus"] and r["holds_efficiency"] and r["holds_highest"] and not r["bound"]
    untrained = C.market_claims(df.assign(dqmsb_efficiency=np.nan)).iloc[0]
    assert untrained["bound"] and untrained["over_optimal_mean"] == pytest.approx((1 / 0.8 + 1 / 0.9) / 2)


def test_claim_grids_parse(tmp_path):
    root = Path(__file__).resolve().parents[1] / "benchmarks" / "grids" / "claims"
    grids = {p.stem: load_grid(p) for p in sorted(root.glob("*.toml"))}
    assert {"claim1_saving", "claim2_policies", "claim3_optimum", "market_references", "market_dqmsb",
            "market_default", "market_literal"} <= set(grids)
    assert isinstance(grids["market_dqmsb"], MarketGrid) and grids["market_dqmsb"].train is not None
    assert isinstance(grids["claim1_saving"], Grid)
    assert MarketConfig().to_dict()["contract"] == "paper" and A.CLOUD_COST_SATELLITE == 0.025


def test_market_study_on_dask_equals_the_local_engine():
    g = MarketGrid(seeds=[0, 1], knobs={"slots": 12, "services": 3, "stations": 3,
                                        "match": ["aot", "pareto"]})
    local = run_market_study(g, None, workers=1, progress=False)
    dask = run_market_study(g, None, engine="dask", workers=1, progress=False)
    from optcache.market.sweep import MARKET_TIMING_COLUMNS

    drop = list(MARKET_TIMING_COLUMNS)  # the documented run-dependent columns, and only those
    pd.testing.assert_frame_equal(local.drop(columns=drop), dask.drop(columns=drop))


# --------------------------------------------------------------------------- claims: bad input (sweep 9)
def _claim1(costs: dict | None = None, seeds=(0, 1), slots=(20, 40)) -> pd.DataFrame:
    """A plain claim-1 table: ground laot 10, relay laot 6 (saving 0.4) at every (slots, seed)."""
    costs = costs or {("ground", "laot"): 10.0, ("relay", "laot"): 6.0}
    return pd.DataFrame([{"slots": s, "seed": sd, "route": r, "method": m, "status": "ok", "cost": c,
                          "termination": "heuristic"}
                         for s in slots for sd in seeds for (r, m), c in costs.items()])


def _ranking(costs: dict) -> pd.DataFrame:
    """A plain claim-2 table from {(slots, seed): (fifo, lfu, laot)}."""
    return pd.DataFrame([{"slots": s, "seed": sd, "method": m, "status": "ok", "cost": c, "termination": "heuristic"}
                         for (s, sd), cs in costs.items() for m, c in zip(("fifo", "lfu", "laot"), cs, strict=True)])


def _gaps(pairs: list[tuple[float, float]], **extra) -> pd.DataFrame:
    """A plain claim-3 table: per seed (laot cost, milp cost), milp certified optimal."""
    rows = []
    for seed, (heur, opt) in enumerate(pairs):
        rows.append({"slots": 6, "seed": seed, "method": "laot", "status": "ok", "cost": heur,
                     "termination": "heuristic"})
        rows.append({"slots": 6, "seed": seed, "method": "milp", "status": "ok", "cost": opt,
                     "termination": "optimal", **extra})
    return pd.DataFrame(rows)


MARKET_ROW = {"spa_efficiency": 0.99, "optimal_efficiency": 0.8, "myopic_efficiency": 0.9, "msb_rho1_efficiency": 0.5,
              "dqmsb_efficiency": 0.9, "converged_epoch": 5, "epochs": 20, "manipulable_share": 0.0,
              "coverage_share": 0.4, "satellite_first_best_share": 0.5}


def _market(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{**MarketConfig().to_dict(), **MARKET_ROW, **r} for r in rows])


def _refused(call, field: str, fragment: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == field and fragment in e.value.message, (e.value.field, e.value.message)
    return e.value


@pytest.mark.parametrize("cost, row, shown", [(0.0, 0, "0.0"), (-10.0, 0, "-10.0"), (np.inf, 1, "inf"),
                                              (np.nan, 1, "nan")])
def test_item1_savings_refuse_a_cost_that_is_not_positive_and_finite(cost, row, shown):
    df = _claim1()
    assert C.satellite_savings(df, ["relay"])["saving"].tolist() == pytest.approx([0.4] * 4)  # 1 - 6/10
    df.loc[row, "cost"] = cost  # row 0: ground laot, row 1: relay laot (slots 20, seed 0)
    e = _refused(lambda: C.satellite_savings(df, ["relay"]), "df", "cost: must be a finite number > 0")
    assert f"got {shown} (row {row})" in e.message
    # a failed cell has no cost: not refused, its instance has no saving
    df.loc[row, "status"] = "error"
    assert len(C.satellite_savings(df, ["relay"])) == 3


@pytest.mark.parametrize("call, field, fragment", [
    (lambda d: C.satellite_savings(d.drop(columns="status"), ["relay"]), "df", "missing column status"),
    (lambda d: C.satellite_savings(d.drop(columns="cost"), ["relay"]), "df", "missing column cost"),
    (lambda d: C.satellite_savings(d.drop(columns="seed"), ["relay"]), "df", "missing column seed"),
    (lambda d: C.policy_ranking(d.drop(columns="cost")), "df", "missing column cost"),
    (lambda d: C.optimum_gaps(d.drop(columns="termination")), "df", "missing column termination"),
    (lambda d: C.satellite_savings(None), "df", "expected a pandas DataFrame"),
    (lambda d: C.satellite_savings(d.assign(cost=d["cost"].astype(str)), ["relay"]), "df",
     "cost: expected numbers, got '10.0'"),
    (lambda d: C.satellite_savings(d.iloc[:0], ["relay"]), "df", "empty table"),
    (lambda d: C.at_coverage(pd.DataFrame({"x": [1]}), 0.5), "savings", "missing column saving"),
    (lambda d: C.at_coverage([1], 0.5), "savings", "expected a pandas DataFrame"),
    (lambda d: C.at_coverage(C.satellite_savings(d, ["relay"]), np.nan), "share", "coverage share in [0, 1]"),
])
def test_item2_every_required_column_and_argument_is_named(call, field, fragment):
    _refused(lambda: call(_claim1()), field, fragment)


def test_item2_at_coverage_takes_numpy_shares():
    s = C.satellite_savings(_claim1(), ["relay"])
    assert C.at_coverage(s, np.float32(0.5))["saving"].tolist() == pytest.approx([0.2] * 4)


@pytest.mark.parametrize("call, field, fragment", [
    (lambda d: C.satellite_savings(d, []), "readings", "expected a non-empty list of names, got []"),
    (lambda d: C.satellite_savings(d, [["relay"]]), "readings", "expected a non-empty list of names"),
    (lambda d: C.satellite_savings(d, "relay"), "readings", "expected a non-empty list of names, got 'relay'"),
    (lambda d: C.satellite_savings(d, ["relay", "relay"]), "readings", "'relay' is named twice"),
    (lambda d: C.policy_ranking(d, rivals="fifo"), "rivals", "expected a non-empty list of names, got 'fifo'"),
    (lambda d: C.optimum_gaps(d, method=["laot"]), "method", "expected a method name"),
])
def test_item3_name_lists_must_be_lists(call, field, fragment):
    _refused(lambda: call(_claim1()), field, fragment)


def test_item4_a_seed_missing_a_point_is_left_out_of_its_setting(caplog):
    # seeds 0 and 1 at both points; seed 2 lost its slots-40 point (a failed cell)
    sv = pd.DataFrame({"slots": [20, 40] * 3, "seed": [0, 0, 1, 1, 2, 2], "reading": "relay",
                       "saving": [0.5, 0.3, 0.5, 0.3, 0.9, np.nan]})
    v = C.saving_verdicts(sv).iloc[0]
    # by hand over seeds 0, 1: grid means 0.4, 0.4; minima 0.3, 0.3 (with seed 2's 0.9: mean 0.567)
    assert v["mean_mean"] == pytest.approx(0.4) and v["min_mean"] == pytest.approx(0.3)
    assert v["seeds"] == 2 and v["points"] == 2 and not v["holds"]
    assert "left out" in caplog.text and "seed=2" in caplog.text
    # the sweep's case: seed 0 loses its worst point -> seed 1 alone decides (0.4, 0.3), not holds
    one = C.saving_verdicts(sv[sv["seed"] < 2].assign(saving=[0.5, np.nan, 0.5, 0.3])).iloc[0]
    assert (one["mean_mean"], one["min_mean"], one["seeds"], one["points"], one["holds"]) == \
        (pytest.approx(0.4), pytest.approx(0.3), 1, 2, False)
    # through the pipeline: a failed relay cell of seed 0 at slots 40 leaves seed 1 only
    df = _claim1({("ground", "laot"): 10.0, ("relay", "laot"): 6.0})
    df.loc[(df["route"] == "relay") & (df["slots"] == 40) & (df["seed"] == 0), "status"] = "error"
    v = C.saving_verdicts(C.satellite_savings(df, ["relay"])).iloc[0]
    assert v["seeds"] == 1 and v["points"] == 2 and v["mean_mean"] == pytest.approx(0.4)
    # no seed with every point: refused, naming the setting
    _refused(lambda: C.saving_verdicts(sv.assign(saving=[0.5, np.nan, np.nan, 0.3, 0.9, np.nan])), "savings",
             "no seed has a saving at every Fig. 3 point at reading=relay")


@pytest.mark.parametrize("change, fragment", [
    (lambda s: s.assign(saving=[np.inf, 0.3, np.inf, 0.3]), "saving: must be a finite number <= 1 or missing, got inf"),
    (lambda s: s.assign(saving=[1.5, 0.3, 0.5, 0.3]), "saving: must be a finite number <= 1 or missing, got 1.5"),
    (lambda s: s.drop(columns="reading"), "missing column reading"),
    (lambda s: s.drop(columns="saving"), "missing column saving"),
    (lambda s: s.assign(saving=s["saving"].astype(str)), "saving: expected numbers"),
    (lambda s: pd.concat([s, s.iloc[:1]]), "rows share their (reading, slots, seed), e.g. reading=relay, slots=20, seed=0"),
])
def test_item5_saving_verdicts_refuse_infinite_savings_and_malformed_tables(change, fragment):
    sv = pd.DataFrame({"slots": [20, 40, 20, 40], "seed": [0, 0, 1, 1], "reading": "relay",
                       "saving": [0.5, 0.3, 0.5, 0.3]})
    _refused(lambda: C.saving_verdicts(change(sv)), "savings", fragment)


def test_item5_at_coverage_refuses_infinite_savings():
    sv = pd.DataFrame({"seed": [0], "reading": "relay", "saving": [-np.inf]})
    _refused(lambda: C.at_coverage(sv, 0.0), "savings", "saving: must be a finite number <= 1 or missing, got -inf")


def test_item6_policy_ranking_refuses_trivial_or_impossible_comparisons(caplog):
    costs = {(20, 0): (1.0, 1.1, 0.9), (40, 0): (1.0, 1.0, 1.0), (20, 1): (1.0, 1.1, 1.2), (40, 1): (2.0, 2.0, 1.5),
             (20, 2): (5.0, 5.0, 1.0), (40, 2): (5.0, 5.0, 1.0)}
    df = _ranking(costs)
    _refused(lambda: C.policy_ranking(df.assign(status="error")), "df", "no row of laot, fifo, lfu has status ok")
    _refused(lambda: C.policy_ranking(df.assign(status=np.where(df["method"] == "fifo", "error", "ok"))), "df",
             "no seed has a cost of laot, fifo, lfu at every Fig. 3 point")
    _refused(lambda: C.policy_ranking(df.assign(cost=np.where(df["method"] == "laot", np.nan, df["cost"]))), "df",
             "cost: must be a finite number > 0 (it divides), got nan")
    _refused(lambda: C.policy_ranking(df.assign(cost=np.where(df["method"] == "laot", 0.0, df["cost"]))), "df",
             "cost: must be a finite number > 0 (it divides), got 0.0")
    _refused(lambda: C.policy_ranking(df, rivals=()), "rivals", "expected a non-empty list of names")
    _refused(lambda: C.policy_ranking(df, rivals=("laot",)), "rivals", "'laot' would be compared with itself")
    # seed 2's fifo failed at slots 40: seed 2 is left out, the verdict is that of seeds 0 and 1
    # (test_policy_ranking_by_hand: points won 1 of 2, win share 0.75)
    failed = df.assign(status=np.where((df["seed"] == 2) & (df["slots"] == 40) & (df["method"] == "fifo"),
                                       "error", "ok"))
    r = C.policy_ranking(failed).iloc[0]
    assert r["seeds"] == 2 and r["points_won"] == 1 and r["points"] == 2 and not r["holds"]
    assert r["win_share_mean"] == pytest.approx(0.75) and "seed=2" in caplog.text
    # with seed 2 whole, seed-mean costs: slots 20 laot 3.1/3 < fifo 7/3, slots 40 laot 3.5/3 < 8/3: both won
    full = C.policy_ranking(df).iloc[0]
    assert full["seeds"] == 3 and full["points_won"] == 2 and full["holds"]


def test_item7_optimum_gaps_refuse_impossible_optima():
    assert C.optimum_gaps(_gaps([(5.5, 5.0), (6.0, 5.0)])).iloc[0]["gap_mean"] == pytest.approx(0.15)
    _refused(lambda: C.optimum_gaps(_gaps([(5.0, 0.0), (5.0, 4.0)])), "df",
             "cost: must be a finite number > 0 (it divides), got 0.0 (row 1)")
    _refused(lambda: C.optimum_gaps(_gaps([(5.0, -1.0), (5.0, 4.0)])), "df", "got -1.0 (row 1)")
    _refused(lambda: C.optimum_gaps(_gaps([(5.0, 6.0), (5.0, 4.0)])), "df",
             "cost: milp's certified optimum 6.0 is above laot's cost 5.0 at seed=0")
    _refused(lambda: C.optimum_gaps(_gaps([(5.0, 4.0)]), method="milp"), "method",
             "is the exact method 'milp' itself")
    # rounding is not a contradiction: 1e-12 relative, or within the exact cell's own certified gap
    g = C.optimum_gaps(_gaps([(5.0, 5.0 * (1 + 1e-12)), (5.5, 5.0)])).iloc[0]
    assert g["gap_mean"] == pytest.approx(0.05) and g["seeds"] == 2 and g["holds"]
    assert C.optimum_gaps(_gaps([(5.0, 5.000004)], gap=1e-6)).iloc[0]["gap_max"] == pytest.approx(-8e-7, abs=1e-9)
    _refused(lambda: C.optimum_gaps(_gaps([(5.0, 5.000004)], gap=1e-7)), "df", "certified optimum 5.000004")


def test_item8_a_repeated_cell_is_refused_whatever_the_row_order():
    g = _gaps([(5.5, 5.0), (6.0, 5.0)])
    dup = pd.concat([g, g[g["method"] == "milp"].assign(cost=g["cost"] * 1.5, termination="time_limit")])
    _refused(lambda: C.optimum_gaps(dup), "df", "4 rows share their (slots, seed, method), e.g. slots=6, seed=0, "
             "method=milp; one cell per instance and method (filter on `label`")
    df = _ranking({(20, 0): (1.0, 1.1, 0.9), (40, 0): (1.0, 1.0, 1.0)})
    laot = df[df["method"] == "laot"].assign(cost=lambda x: x["cost"] * 3)
    for order in ([laot, df], [df, laot]):
        _refused(lambda order=order: C.policy_ranking(pd.concat(order, ignore_index=True)), "df",
                 "method=laot")
    c1 = _claim1()
    _refused(lambda: C.satellite_savings(pd.concat([c1, c1.iloc[[1]]], ignore_index=True), ["relay"]), "df",
             "slots=20, route=relay, seed=0, method=laot")


@pytest.mark.parametrize("change, fragment", [
    ({"optimal_efficiency": 0.0}, "optimal_efficiency: must be a finite number in (0, 1] (it divides), got 0.0 (row 0)"),
    ({"msb_rho1_efficiency": -0.5}, "msb_rho1_efficiency: must be a finite number in (0, 1] (it divides), got -0.5"),
    ({"dqmsb_efficiency": 1.7}, "dqmsb_efficiency: must be a finite number in [0, 1] or missing, got 1.7"),
    ({"spa_efficiency": np.nan}, "spa_efficiency: must be a finite number in [0, 1], got nan"),
    ({"optimal_efficiency": "0.85"}, "optimal_efficiency: expected numbers, got '0.85'"),
])
def test_item9_market_claims_refuse_efficiencies_outside_0_1(change, fragment):
    t = _market([{"seed": 0}, {"seed": 1}])
    _refused(lambda: C.market_claims(t.assign(**change)), "df", fragment)


def test_item9_market_claims_name_missing_columns_and_accept_rounding():
    t = _market([{"seed": 0}, {"seed": 1}])
    for col in ("optimal_efficiency", "msb_rho1_efficiency", "dqmsb_efficiency", "seed"):
        _refused(lambda col=col: C.market_claims(t.drop(columns=col)), "df", f"missing column {col}")
    _refused(lambda: C.market_claims(None), "df", "expected a pandas DataFrame")
    r = C.market_claims(t.assign(spa_efficiency=1 + 1e-12)).iloc[0]  # a ratio of sums a hair above 1
    assert r["over_optimal_mean"] == pytest.approx(0.9 / 0.8) and r["over_best_other_mean"] == pytest.approx(0.9 - 1)


def test_item10_a_setting_is_all_trained_or_all_bounds():
    t = _market([{"cloud_match": 200.0, "seed": 0, "dqmsb_efficiency": np.nan},
                 {"cloud_match": 200.0, "seed": 1, "dqmsb_efficiency": 0.91}])
    _refused(lambda: C.market_claims(t), "df", "DQMSB trained for some seeds and not others at cloud_match=200.0")
    ok = _market([{"cloud_match": 200.0, "seed": s, "dqmsb_efficiency": dq} for s, dq in ((0, 0.88), (1, 0.92))]
                 + [{"cloud_match": 400.0, "seed": s, "dqmsb_efficiency": np.nan} for s in (0, 1)])
    v = C.market_claims(ok).set_index("cloud_match")
    assert not v.loc[200.0, "bound"] and v.loc[200.0, "over_optimal_mean"] == pytest.approx(0.9 / 0.8)
    assert v.loc[400.0, "bound"] and v.loc[400.0, "over_optimal_mean"] == pytest.approx(1 / 0.8)


def test_item11_one_row_per_setting_and_seed_and_seeds_are_distinct_seeds():
    t = _market([{"seed": 0, "epochs": 2, "converged_epoch": 2}, {"seed": 0, "epochs": 4, "converged_epoch": 3}])
    for f in (C.market_claims, C.training_claims):
        _refused(lambda f=f: f(t), "df", "2 rows share their (")
    # two seeds, one of which never converged: still 2 seeds
    t = _market([{"seed": 0, "converged_epoch": 4}, {"seed": 1, "converged_epoch": 21}])
    assert C.training_claims(t).iloc[0]["seeds"] == 2 and C.market_claims(t).iloc[0]["seeds"] == 2
    _refused(lambda: C.training_claims(_market([{"seed": 0, "epochs": 20}, {"seed": 1, "epochs": 40}])), "df",
             "runs of different lengths")


def test_item12_training_claims_per_setting():
    t = _market([{"cloud_match": cm, "seed": s, "converged_epoch": e, "manipulable_share": sh}
                 for cm, s, e, sh in ((200.0, 0, 5, 0.0), (200.0, 1, 6, 0.0), (400.0, 0, 15, 0.1), (400.0, 1, 18, 0.3))])
    v = C.training_claims(t).set_index("cloud_match")
    assert list(v.index) == [200.0, 400.0] and (v["seeds"] == 2).all() and (v["epochs"] == 20).all()
    assert v.loc[200.0, "epoch_mean"] == 5.5 and v.loc[200.0, "epoch_max"] == 6
    assert v.loc[400.0, "epoch_mean"] == 16.5 and v.loc[400.0, "share_mean"] == pytest.approx(0.2)
    assert v.loc[200.0, "holds_strategy_proof"] and not v.loc[400.0, "holds_strategy_proof"]
    assert v["holds_convergence"].all()


def test_item13_an_unmeasured_share_is_not_a_verdict():
    t = _market([{"seed": 0}, {"seed": 1}])
    r = C.training_claims(t.assign(manipulable_share=np.nan)).iloc[0]
    assert r["holds_strategy_proof"] is None and np.isnan(r["share_mean"]) and r["holds_convergence"]
    _refused(lambda: C.training_claims(t.assign(manipulable_share=[np.nan, 0.0])), "df",
             "manipulable_share measured for some seeds and not others")
    _refused(lambda: C.training_claims(t.assign(epochs=np.nan)), "df", "epochs: must be a finite number >= 1, got nan")
    _refused(lambda: C.training_claims(t.assign(manipulable_share=1.5)), "df",
             "manipulable_share: must be a finite number in [0, 1] or missing, got 1.5")
    _refused(lambda: C.training_claims(t.assign(converged_epoch=500)), "df",
             "converged_epoch: 500 is beyond the run of 20 epochs (row 0)")
    for col in ("epochs", "manipulable_share", "dqmsb_efficiency"):
        _refused(lambda col=col: C.training_claims(t.drop(columns=col)), "df", f"missing column {col}")
    _refused(lambda: C.training_claims(None), "df", "expected a pandas DataFrame")


def test_item14_a_run_that_never_converged_is_not_counted_as_converged():
    never = converged_epoch(np.array([0.9] * 7 + [0.8]))  # the last epoch is off the plateau
    assert never == 8 + 1  # optcache.market.sweep's "beyond the run": read by the claims as not converged
    t = _market([{"seed": 0, "converged_epoch": 3, "epochs": 8}, {"seed": 1, "converged_epoch": never, "epochs": 8}])
    r = C.training_claims(t).iloc[0]
    assert np.isnan(r["epoch_max"]) and np.isnan(r["epoch_mean"]) and r["seeds"] == 2
    assert r["holds_convergence"] is None  # 8 epochs: whether it would settle by 200 is not known
    long = C.training_claims(t.assign(epochs=250, converged_epoch=[3, 251])).iloc[0]
    assert long["holds_convergence"] is not None and not long["holds_convergence"]  # 250 epochs: it did not
    assert np.isnan(C.market_claims(t).iloc[0]["converged_epoch_mean"])
    both = C.training_claims(t.assign(converged_epoch=[3, 5])).iloc[0]
    assert both["epoch_mean"] == 4 and both["epoch_max"] == 5 and both["holds_convergence"]
    _refused(lambda: C.training_claims(t.assign(converged_epoch=[3, 2.5])), "df",
             "converged_epoch: must be an integer, got 2.5")


def test_item15_optimum_bracket_refuses_a_bound_above_a_feasible_cost():
    from optcache.demo import optimum_bracket

    T = pd.DataFrame({"status": ["ok"] * 3, "cost": [10.0, 12.0, 11.0], "bound": [9.5, np.nan, np.nan]},
                     index=["milp", "laot", "fifo"])
    b = optimum_bracket(T)
    assert b.loc["laot", "above_opt_min"] == pytest.approx(0.2)  # (12 - 10)/10
    assert b.loc["laot", "above_opt_max"] == pytest.approx(2.5 / 9.5)  # (12 - 9.5)/9.5
    _refused(lambda: optimum_bracket(T.assign(bound=[11.0, np.nan, np.nan])), "table",
             "bound: milp's lower bound 11 is above the cost 10 of milp's schedule")
    rounded = optimum_bracket(T.assign(bound=[10.0 * (1 + 1e-12), np.nan, np.nan]))
    assert rounded.loc["milp", "above_opt_max"] == 0.0 and rounded.loc["laot", "above_opt_max"] == pytest.approx(0.2)
    _refused(lambda: optimum_bracket(T.assign(bound=[np.inf, np.nan, np.nan])), "table, row milp",
             "bound: must be finite (or missing)")
    _refused(lambda: optimum_bracket(T.assign(cost=[10.0, -5.0, 11.0])), "table, row laot",
             "cost: must be a number in [0, 1e100] (study.MAX_COST)")
    for col in ("bound", "status", "cost"):
        _refused(lambda col=col: optimum_bracket(T.drop(columns=col)), "table", f"missing column {col}")
    _refused(lambda: optimum_bracket(None), "table", "expected a pandas DataFrame")


@pytest.mark.parametrize("kwargs, field, fragment", [
    ({"methods": ["laot"]}, "methods", "expected a non-empty dict"),
    ({"methods": {}}, "methods", "expected a non-empty dict"),
    ({"methods": {"laot": None}}, "methods.laot", "expected a dict of option name"),
    ({"methods": {"nope": {}}}, "methods", "unknown method 'nope'"),
    ({"methods": {"laot": {"bogus": 1}}}, "methods.laot.bogus", "takes no option 'bogus'"),
    ({"seed": -1}, "seed", "must be an integer"),
    ({"market": "yes"}, "market", "expected True or False"),
])
def test_item16_run_demo_checks_its_arguments_before_creating_out(tmp_path, monkeypatch, kwargs, field, fragment):
    from optcache.demo import run_demo
    from optcache.solvers import registry

    monkeypatch.setattr(registry, "run", lambda *a, **k: pytest.fail("a method ran"))
    out = tmp_path / "x"
    _refused(lambda: run_demo(out, **{"methods": {"laot": {}}, **kwargs}), field, fragment)
    assert not out.exists()
    _refused(lambda: run_demo(None, methods={"laot": {}}, market=False), "out", "expected a file path")


def test_converged_epoch_refuses_curves_it_cannot_read():
    """NaN epochs and a bad `within` were read silently (a NaN curve 'converged' at epoch 1 or
    after its last); an 8-epoch run off its plateau at the end reads 9, not converged."""
    from optcache.errors import InvalidInput

    assert converged_epoch(np.array([0.9] * 7 + [0.8])) == 9
    for bad, kw, field in [([0.5, np.nan], {}, "efficiency"), ([], {}, "efficiency"),
                           ([[0.5]], {}, "efficiency"), (["a"], {}, "efficiency"),
                           ([0.5], {"within": -1.0}, "within"), ([0.5], {"within": np.nan}, "within")]:
        with pytest.raises(InvalidInput) as e:
            converged_epoch(bad, **kw)
        assert e.value.field == field
