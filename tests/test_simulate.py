"""The simulator: any registered method, its schedule, a tidy per-slot cost table and wall time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optcache.errors import InvalidInput
from optcache.evaluator import evaluate
from optcache.instance import load_instance
from optcache.scenario import generate
from optcache.simulate import SIMULATION_COLUMNS, simulate
from optcache.solvers.policies import replace_station

HAND_INSTANCE = Path(__file__).resolve().parent / "data" / "hand_instance.json"


def test_all_cloud_per_slot_by_hand():
    # tests/data/hand_instance.json (worked out in tests/test_evaluator.py): R = [[3, 2], [6, 2]],
    # access costs 0.5 and 0.25, backhaul d/r^C = 1 and 2, cloud prices l_0 = 1 and 2.
    # All to the cloud, slot 1: access 3·0.5 + 2·0.25 = 2, backhaul 3·1 + 2·2 = 7 -> transmission 9;
    #   cloud 3·1 + 2·2 = 7; total 16.
    # Slot 2: access 6·0.5 + 2·0.25 = 3.5, backhaul 6 + 4 = 10 -> 13.5; cloud 6 + 4 = 10; total 23.5.
    sim = simulate(load_instance(HAND_INSTANCE), "all-cloud")
    df = sim.per_slot
    assert list(df.columns) == list(SIMULATION_COLUMNS)
    assert df["method"].tolist() == ["all-cloud"] * 2
    assert df["station"].tolist() == [0, 0] and df["slot"].tolist() == [1, 2]
    np.testing.assert_allclose(df["transmission"], [9.0, 13.5])
    np.testing.assert_allclose(df["cloud"], [7.0, 10.0])
    np.testing.assert_allclose(df[["switching", "computing", "accuracy"]].to_numpy(), 0.0)
    np.testing.assert_allclose(df["total"], [16.0, 23.5])
    assert sim.cost == pytest.approx((16.0 + 23.5) / 2)


@pytest.mark.parametrize("method", ["laot", "lfu", "static"])
def test_table_adds_up_to_the_evaluator_cost(method):
    inst = generate(seed=3, slots=20, stations=3, gpus=8)
    sim = simulate(inst, method)
    df = sim.per_slot
    assert len(df) == inst.n_stations * inst.slots
    assert sorted(set(df["station"])) == [0, 1, 2] and df["slot"].min() == 1 and df["slot"].max() == 20
    terms = ["switching", "transmission", "computing", "accuracy", "cloud"]
    np.testing.assert_allclose(df[terms].sum(axis=1), df["total"], rtol=1e-12)
    assert (df[terms].to_numpy() >= 0).all()
    # the table is the evaluator's: re-scoring the schedule gives the same total
    ev = evaluate(inst, sim.schedule)
    assert ev.feasible
    assert df["total"].sum() / inst.slots == pytest.approx(ev.cost, rel=1e-12)
    assert sim.cost == pytest.approx(ev.cost, rel=1e-12)
    assert sim.seconds >= sim.result.seconds >= 0


def test_policy_schedule_is_the_reference_one():
    inst = generate(seed=5, slots=15, stations=2, gpus=4)
    sim = simulate(inst, "fifo")
    for n in range(inst.n_stations):
        a, x = replace_station(inst.station_data(n), "fifo")
        np.testing.assert_array_equal(sim.schedule.stations[n].cached, a)
        np.testing.assert_array_equal(sim.schedule.stations[n].edge_requests, x)


def test_unknown_method_and_option_are_invalid_input():
    inst = generate(seed=0, slots=3, stations=1)
    with pytest.raises(InvalidInput) as e:
        simulate(inst, "belady")
    assert e.value.field == "method"
    with pytest.raises(InvalidInput) as e:
        simulate(inst, "lru", horizon=4)
    assert e.value.field == "horizon"


def test_importing_the_simulator_does_not_import_pyomo():
    code = "import sys, optcache.simulate; print('pyomo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
