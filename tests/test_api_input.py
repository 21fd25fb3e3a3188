"""Bad input through the Python API (a notebook's calls): InvalidInput naming the field, never a
raw Python error or a number computed from unchecked data. Found by the twelfth round's audit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import optcache
from optcache.channel import expected_uplink_rates
from optcache.dynamics import State, final_state, trajectory
from optcache.errors import InvalidInput
from optcache.evaluator import evaluate, evaluate_station
from optcache.market.valuations import MarketConfig
from optcache.scenario import generate
from optcache.schedule import Schedule, StationSchedule, save_schedule
from optcache.solvers import registry
from optcache.solvers.exact import solve_station
from optcache.solvers.policies_fast import laot_from
from optcache.solvers.rolling import rolling_station
from optcache.study import Grid, with_best_bound


@pytest.fixture(scope="module")
def inst():
    return generate(stations=1, slots=4, services=3, seed=3)


def _field(call, *args, **kw) -> str:
    with pytest.raises(InvalidInput) as e:
        call(*args, **kw)
    return e.value.field


# ------------------------------------------------------------------ an instance cannot change after its checks
def test_lists_the_caller_keeps_cannot_reach_a_checked_instance(inst):
    # an Instance given lists kept them: a station replaced afterwards with G = NaN made least-AoT
    # load every pair and report status ok (the evaluator's `load > NaN` is never true)
    stations = list(inst.stations)
    i2 = dataclasses.replace(inst, stations=stations)
    stations[0] = dataclasses.replace(stations[0], gpu_memory_gb=float("nan"))
    assert isinstance(i2.stations, tuple) and i2.stations[0].gpu_memory_gb == inst.stations[0].gpu_memory_gb
    assert registry.run("laot", i2).cost == registry.run("laot", inst).cost

    access = list(inst.stations[0].access_cost)
    i3 = dataclasses.replace(inst, stations=(dataclasses.replace(inst.stations[0], access_cost=access),))
    access[0] = -1.0
    assert i3.stations[0].access_cost[0] == inst.stations[0].access_cost[0] > 0


def test_a_read_only_view_of_the_callers_requests_is_copied(inst):
    R = np.array(inst.stations[0].requests)
    view = R.view()
    view.flags.writeable = False
    i2 = dataclasses.replace(inst, stations=(dataclasses.replace(inst.stations[0], requests=view),))
    R[:] = -3  # the view shows it; the instance must not
    assert i2.station_data(0).R.min() >= 0
    np.testing.assert_array_equal(i2.stations[0].requests, inst.stations[0].requests)


@pytest.mark.parametrize("change, field", [
    (lambda i: {"models": ({"name": "m"},)}, "models[0]"),
    (lambda i: {"stations": ("abc",)}, "stations[0]"),
    (lambda i: {"pairs": ((0, 0),)}, "pairs[0]"),
    (lambda i: {"services": "abc"}, "services"),
    (lambda i: {"stations": (dataclasses.replace(i.stations[0], access_cost=None),)}, "stations[0].access_cost"),
    (lambda i: {"stations": (dataclasses.replace(i.stations[0], access_cost=5.0),)}, "stations[0].access_cost"),
])
def test_wrong_objects_inside_an_instance_are_named(inst, change, field):
    assert _field(dataclasses.replace, inst, **change(inst)) == field


# ------------------------------------------------------------------ the evaluator checks what it is handed
def test_evaluate_station_refuses_a_nan_capacity(inst):
    d = inst.station_data(0)
    a = np.ones((d.T, d.P))  # more than fits: with G = NaN it was scored feasible
    for name in ("G", "E"):
        assert _field(evaluate_station, dataclasses.replace(d, **{name: float("nan")}), a, a * 0) == f"data.{name}"
    assert _field(evaluate_station, d, a, a * 0, slot0=float("nan")) == "slot0"


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e300])
def test_evaluate_refuses_a_directly_built_schedule_out_of_range(inst, value):
    z = np.zeros((inst.slots, inst.n_pairs))
    bad = z.copy()
    bad[1, 2] = value
    sched = Schedule((StationSchedule(z, bad),))
    assert _field(evaluate, inst, sched) == "stations[0].edge_requests[1][2]"
    assert _field(evaluate, inst, Schedule(None)) == "stations"
    assert _field(evaluate, inst, Schedule(([z, z],))) == "stations"


def test_save_schedule_refuses_nan_and_writes_nothing(tmp_path):
    z = np.zeros((2, 2))
    out = tmp_path / "s.json"
    assert _field(save_schedule, Schedule((StationSchedule(np.full((2, 2), np.nan), z),)), out) == \
        "stations[0].cached[0][0]"
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_dynamics_refuse_a_negative_state(inst):
    d = inst.station_data(0)
    a = np.ones((d.T, d.P))
    neg = State(np.ones(d.P), np.full(d.P, -1e6), np.zeros(d.P))
    assert _field(trajectory, a, a * 0, d.k, d.delta, neg).startswith("state0")
    assert _field(final_state, a, a * 0, d.k, d.delta, neg).startswith("state0")
    K, _ = trajectory(a.tolist(), a * 0, d.k, d.delta)  # a list is an array like any other
    assert K.shape == (d.T, d.P) and not K.any()


# ------------------------------------------------------------------ numbers too large for a float
@pytest.mark.parametrize("knob", ["vanishing", "switching_cost", "slot_seconds", "beta_max",
                                  "noise_dbm_per_hz", "path_loss_exponent"])
def test_integers_beyond_the_float_range_are_named(knob):
    assert _field(generate, **{knob: 10**400}) == knob  # was OverflowError from math.isfinite


def test_integers_beyond_the_float_range_in_the_market_and_channel():
    for name in ("cloud_match", "slot_seconds", "altitude_m"):
        assert _field(MarketConfig, **{name: 10**400}) == name
    assert _field(expected_uplink_rates, np.random.default_rng(0), 10**400) == "n_users"


# ------------------------------------------------------------------ study, registry and station solvers
def test_with_best_bound_refuses_a_negative_cost():
    df = pd.DataFrame({"instance": ["i", "i"], "exact": [True, False], "bound": [1.0, np.nan],
                       "cost": [1.0, -5.0], "status": ["ok", "ok"]})
    with pytest.raises(InvalidInput, match="cost: must be a number in") as e:
        with_best_bound(df)  # was gap_to_best_bound = -1.2 (120 % below the bound)
    assert e.value.field == "df" and "row 1" in e.value.message
    df.loc[1, "cost"] = 2.0
    assert with_best_bound(df)["gap_to_best_bound"].tolist() == [0.0, 0.5]


def test_grid_and_registry_name_what_is_wrong():
    assert _field(Grid, bogus=1) == "bogus"
    assert _field(registry.get, ["laot"]) == "method"


@pytest.mark.parametrize("kw, field", [({"threads": "x"}, "threads"), ({"threads": 0}, "threads"),
                                       ({"threads": None}, "threads"), ({"solver_options": 5}, "solver_options")])
def test_solve_station_checks_threads_and_solver_options(inst, kw, field):
    assert _field(solve_station, inst.station_data(0), **kw) == field


@pytest.mark.parametrize("args, field", [((2, "x"), "forecast"), ((0, "oracle"), "horizon"),
                                         ((1.5, "oracle"), "horizon")])
def test_rolling_station_checks_its_options(inst, args, field):
    assert _field(rolling_station, inst.station_data(0), *args) == field  # 'x' ran the mean forecast


def test_laot_from_checks_its_slot_and_state(inst):
    d = inst.station_data(0)
    for t0 in (-1, 1.5, d.T):
        assert _field(laot_from, d, State.cold(d.P), t0) == "t0"
    assert _field(laot_from, d, State(np.ones(d.P), -np.ones(d.P), np.zeros(d.P)), 0).startswith("st")
    assert _field(laot_from, dataclasses.replace(d, G=float("nan")), State.cold(d.P), 0) == "data.G"
    a, x, before = laot_from(d, None, 0)  # None is the cold start, as everywhere
    np.testing.assert_array_equal(a, optcache.solvers.policies.replace_station(d, "laot")[0])


def test_market_helpers_name_their_arguments():
    from optcache.market.valuations import coverage_mask, instance_rounds, pareto_matches

    rng = np.random.default_rng(0)
    cfg = MarketConfig()
    for alpha in (0, -1.0, float("nan")):  # ZeroDivisionError, values, NaNs before
        assert _field(pareto_matches, rng, (2, 2), alpha) == "alpha"
    assert _field(pareto_matches, None, (2, 2), 2.0) == "rng"
    assert _field(coverage_mask, cfg, -1, rng) == "slots"  # numpy's ValueError before
    assert _field(coverage_mask, cfg, 5, np.random.RandomState(0)) == "rng"
    small = generate(stations=1, slots=3, services=2, seed=0)
    for episode in (-1, 1.5):
        assert _field(instance_rounds, small, cfg, 0, episode) == "episode"
    assert pareto_matches(np.random.default_rng(1), (3,), 2.0).shape == (3,)


def test_results_and_small_solver_helpers_name_their_arguments(inst):
    from optcache.results import MethodResult, relative_gap
    from optcache.solvers.lagrange import lagrange_station
    from optcache.solvers.policies import laot_slot
    from optcache.solvers.policies_fast import replace_instance
    from optcache.solvers.reference import static_station

    d = inst.station_data(0)
    ok = {"method": "mine", "status": "ok", "termination": "heuristic", "cost": 1.0, "bound": None,
          "seconds": 0.1}
    for change, field in ((("status", "bogus"), "status"), (("termination", "done"), "termination"),
                          (("cost", float("nan")), "cost"), (("bound", float("nan")), "bound"),
                          (("seconds", -1.0), "seconds"), (("cost", "1"), "cost")):
        assert _field(MethodResult, **dict(ok, **dict([change]))) == field  # raw ValueError / NaN before
    assert MethodResult(**ok).gap is None
    assert _field(relative_gap, "1", 0.0) == "cost" and _field(relative_gap, 1.0, float("nan")) == "bound"
    assert relative_gap(2.0, 1.0) == 0.5 and relative_gap(1.0, -np.inf) is None
    assert _field(lagrange_station, d, terminal=5) == "terminal"  # TypeError deep in the build before
    assert _field(laot_slot, d, State.cold(d.P), d.T) == "t"  # IndexError before
    assert _field(replace_instance, None, "laot") == "inst"
    assert _field(static_station, dataclasses.replace(d, s=d.s[:-1])) == "data.s"  # IndexError before
