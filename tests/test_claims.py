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
    drop = ["wall_seconds", "train_seconds"]
    pd.testing.assert_frame_equal(local.drop(columns=drop), dask.drop(columns=drop))
