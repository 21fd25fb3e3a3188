"""The evaluator (docs/formulation.md §5–§6): a hand-computed example, each violation, and invariants.

The hand example is tests/data/hand_instance.json with tests/data/hand_schedule.json; every
expected number below is worked out by hand in the comments, never copied from the code.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optcache.cli import main
from optcache.dynamics import State, final_state
from optcache.evaluator import PER_SLOT_COLUMNS, TERMS, evaluate, evaluate_station
from optcache.instance import Instance, load_instance, parse_instance
from optcache.scenario import generate
from optcache.schedule import Schedule, load_schedule, parse_schedule

DATA = Path(__file__).resolve().parent / "data"
HAND_INSTANCE = DATA / "hand_instance.json"
HAND_SCHEDULE = DATA / "hand_schedule.json"
OPTCACHE = Path(sys.executable).parent / "optcache"

# ----------------------------------------------------------------------------- the hand example
# Instance (1 station, T = 2 slots, 2 pairs), every value chosen so that each term is a short
# fraction:
#   λ = 0.5, κ_0 = 1
#   model 0: s = 10 GB, e = 2 FLOP/token, w = 50 tokens
#   model 1: s = 10 GB, e = 5 FLOP/token, w = 8 tokens
#   service 0: d = 10 MB, k = 7 tokens;  service 1: d = 20 MB, k = 4 tokens
#   pair 0 = (service 0, model 0): α = 0.5, β = e^-0.5 (ln 1/β = 0.5), Δ = 5, l_0 = 1
#   pair 1 = (service 1, model 1): α = 0.5, β = e^-0.25 (ln 1/β = 0.25), Δ = 8, l_0 = 2
#   station: G = 20 GB, E = 100 FLOP/slot, f = 20 FLOP/s, r^C = 10 MB/s, l_{n,i} = (0.5, 0.25)
#   requests R = [[3, 2], [6, 2]]  (slot 1, slot 2)
# Schedule:
#   slot 1: a = [1, 0], x = [2, 0]   load pair 0, serve 2 of its 3 requests at the edge
#   slot 2: a = [1, 1], x = [5, 1]   keep pair 0 (serve 5 of 6), load pair 1 (serve 1 of 2)
#
# Per-request units:
#   compute-budget use e·k:   pair 0: 2·7 = 14 FLOP,  pair 1: 5·4 = 20 FLOP
#   computing cost k·e/f:     pair 0: 14/20 = 0.7,    pair 1: 20/20 = 1
#   backhaul d/r^C:           pair 0: 10/10 = 1,      pair 1: 20/10 = 2
#   accuracy coefficient (1-α)/ln(1/β):  pair 0: 0.5/0.5 = 1,  pair 1: 0.5/0.25 = 2
#
# Dynamics (18), (19), δ = k·x:
#   slot 1: pair 0: δ = 7·2 = 14, K = 0 + 14 = 14, κ = max(0 + 14 - 5, 0) = 9
#           pair 1: not cached: K = κ = 0
#   slot 2: pair 0: δ = 7·5 = 35, K = 14 + 35 = 49 (≤ w = 50), κ = max(9 + 35 - 5, 0) = 39
#           pair 1: δ = 4·1 = 4,  K = 0 + 4 = 4 (≤ w = 8),    κ = max(0 + 4 - 8, 0) = 0  (clipped)
# Constraints: memory 10 ≤ 20, then 10 + 10 = 20 ≤ 20 (tight); compute 2·14 = 28 ≤ 100, then
#   5·14 + 1·20 = 90 ≤ 100; x ≤ R·a everywhere; K ≤ w everywhere: feasible.
#
# Terms per slot (docs/formulation.md §5):
#   switching (21):     slot 1: λ·1 (pair 0 loaded) = 0.5;  slot 2: λ·1 (pair 1 loaded) = 0.5
#   transmission (22):  slot 1: access 3·0.5 + 2·0.25 = 2,   backhaul (3-2)·1 + (2-0)·2 = 5  -> 7
#                       slot 2: access 6·0.5 + 2·0.25 = 3.5, backhaul (6-5)·1 + (2-1)·2 = 3  -> 6.5
#   computing (23):     slot 1: 2·0.7 = 1.4;  slot 2: 5·0.7 + 1·1 = 4.5
#   accuracy (24):      slot 1: 2·1/(9 + 1) = 0.2
#                       slot 2: 5·1/(39 + 1) + 1·2/(0 + 1) = 0.125 + 2 = 2.125
#                       (the κ_0 offset keeps pair 1's unit cost finite at κ = 0: 2/1, not 2/0)
#   cloud (26):         slot 1: (3-2)·1 + (2-0)·2 = 5;  slot 2: (6-5)·1 + (2-1)·2 = 3
#   slot totals:        slot 1: 0.5 + 7 + 1.4 + 0.2 + 5 = 14.1
#                       slot 2: 0.5 + 6.5 + 4.5 + 2.125 + 3 = 16.625
# Objective (27), the slot average: (14.1 + 16.625)/2 = 15.3625; per term
#   switching (0.5 + 0.5)/2 = 0.5, transmission (7 + 6.5)/2 = 6.75, computing (1.4 + 4.5)/2 = 2.95,
#   accuracy (0.2 + 2.125)/2 = 1.1625, cloud (5 + 3)/2 = 4.
HAND_PER_SLOT = {  # slot -> (switching, transmission, computing, accuracy, cloud)
    1: (0.5, 7.0, 1.4, 0.2, 5.0),
    2: (0.5, 6.5, 4.5, 2.125, 3.0),
}
HAND_TERMS = {"switching": 0.5, "transmission": 6.75, "computing": 2.95, "accuracy": 1.1625,
              "cloud": 4.0}
HAND_COST = 15.3625
# All-cloud reference on the same instance: every request pays access + backhaul + cloud price,
#   pair 0: 0.5 + 1 + 1 = 2.5 per request, pair 1: 0.25 + 2 + 2 = 4.25 per request;
#   slot 1: 3·2.5 + 2·4.25 = 16, slot 2: 6·2.5 + 2·4.25 = 23.5; average (16 + 23.5)/2 = 19.75.
HAND_ALL_CLOUD = 19.75


def hand_dict() -> dict:
    return json.loads(HAND_INSTANCE.read_text())


def hand() -> tuple[Instance, Schedule]:
    inst = load_instance(HAND_INSTANCE)
    return inst, load_schedule(HAND_SCHEDULE, inst)


def sched(a, x) -> Schedule:
    return Schedule.from_arrays([(np.array(a, float), np.array(x, float))])


def kinds(ev) -> list[tuple]:
    return sorted(((v["constraint"], v["station"], v["slot"], v["pair"]) for v in ev.violations),
                  key=lambda v: (v[0], v[1], v[2], -1 if v[3] is None else v[3]))


def test_hand_units_from_instance():
    inst, _ = hand()
    d = inst.station_data(0)
    assert d.flops_per_request.tolist() == [14.0, 20.0]
    assert d.comp_unit == pytest.approx([0.7, 1.0], rel=1e-15)
    assert d.offload_unit.tolist() == [2.0, 4.0]  # backhaul + cloud price per offloaded request
    assert d.acc_coef == pytest.approx([1.0, 2.0], rel=1e-12)  # ln(1/β) is 0.5 and 0.25 to 1 ulp


def test_hand_example_every_term():
    inst, schedule = hand()
    ev = evaluate(inst, schedule)
    assert ev.feasible and ev.violations == []
    df = ev.per_slot
    assert list(df.columns) == list(PER_SLOT_COLUMNS)
    assert df["slot"].tolist() == [1, 2] and df["station"].tolist() == [0, 0]
    for slot, expected in HAND_PER_SLOT.items():
        row = df[df["slot"] == slot].iloc[0]
        for term, value in zip(TERMS, expected, strict=True):
            assert row[term] == pytest.approx(value, rel=1e-12), (slot, term)
        assert row["total"] == pytest.approx(sum(expected), rel=1e-12)
    assert df["total"].tolist() == pytest.approx([14.1, 16.625], rel=1e-12)
    for term, value in HAND_TERMS.items():
        assert ev.terms[term] == pytest.approx(value, rel=1e-12), term
    assert ev.cost == pytest.approx(HAND_COST, rel=1e-12)
    assert ev.station_costs == pytest.approx([HAND_COST], rel=1e-12)


def test_hand_example_dynamics():
    inst, schedule = hand()
    s = schedule.stations[0]
    se = evaluate_station(inst.station_data(0), s.cached, s.edge_requests)
    assert se.K.tolist() == [[14, 0], [49, 4]]
    assert se.kappa.tolist() == [[9, 0], [39, 0]]  # pair 1 clipped by max(·, 0) in slot 2
    assert se.cost == pytest.approx(HAND_COST, rel=1e-12)


def test_hand_example_split_horizon_matches():
    """Slot 2 scored alone from the state after slot 1 gives the same row, violations renumbered."""
    inst, schedule = hand()
    d = inst.station_data(0)
    a, x = schedule.stations[0].cached, schedule.stations[0].edge_requests
    st1 = final_state(a[:1], x[:1], d.k, d.delta)
    assert st1.kappa.tolist() == [9, 0] and st1.K.tolist() == [14, 0]
    tail = evaluate_station(d.window(1, 2), a[1:], x[1:], state0=st1, slot0=1)
    assert tail.terms[0] == pytest.approx(HAND_PER_SLOT[2], rel=1e-12)
    # the same window from a cold state pays switching for pair 0 again and has κ = 35 - 5 = 30
    cold = evaluate_station(d.window(1, 2), a[1:], x[1:])
    assert cold.terms[0, 0] == pytest.approx(1.0)  # λ·2
    assert cold.terms[0, 3] == pytest.approx(5 * 1 / (30 + 1) + 2.0, rel=1e-12)
    # a violation in the window is numbered with the slot of the whole horizon (slot0 + 1)
    over = evaluate_station(d.window(1, 2), a[1:], np.array([[6.0, 1.0]]), state0=st1, slot0=1)
    assert {(v["constraint"], v["slot"]) for v in over.violations} == {
        ("context_window_28c", 2), ("compute_budget_5", 2)}  # K = 14 + 42 = 56 > 50; 84 + 20 > 100


def test_hand_all_cloud():
    inst, _ = hand()
    ev = evaluate(inst, Schedule.all_cloud(inst))
    assert ev.feasible
    assert ev.cost == pytest.approx(HAND_ALL_CLOUD, rel=1e-12)
    assert ev.terms["switching"] == ev.terms["computing"] == ev.terms["accuracy"] == 0.0
    # transmission: access (2 + 3.5)/2 = 2.75 plus backhaul ((3·1 + 2·2) + (6·1 + 2·2))/2 = 8.5
    assert ev.terms["transmission"] == pytest.approx(11.25, rel=1e-12)
    # cloud: ((3·1 + 2·2) + (6·1 + 2·2))/2 = 8.5
    assert ev.terms["cloud"] == pytest.approx(8.5, rel=1e-12)


def _check_contract(out: dict) -> None:
    assert set(out) >= {"feasible", "violations", "cost", "terms"}
    assert out["feasible"] is True and out["violations"] == []
    assert out["cost"] == pytest.approx(HAND_COST, rel=1e-12)
    assert set(out["terms"]) == set(TERMS)
    for term, value in HAND_TERMS.items():
        assert out["terms"][term] == pytest.approx(value, rel=1e-12), term


def test_cli_evaluate_reproduces_hand_example(capsys):
    assert main(["evaluate", str(HAND_INSTANCE), str(HAND_SCHEDULE)]) == 0
    _check_contract(json.loads(capsys.readouterr().out))


def test_cli_evaluate_subprocess():
    r = subprocess.run([str(OPTCACHE), "evaluate", str(HAND_INSTANCE), str(HAND_SCHEDULE)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    _check_contract(json.loads(r.stdout))


def test_cli_evaluate_infeasible_schedule_exit_zero_with_int_slots(tmp_path, capsys):
    """Violations are results, not errors: exit 0, and slot/pair print as JSON integers."""
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"stations": [{"cached": [[1, 0], [1, 1]],
                                           "edge_requests": [[2, 1], [5, 1]]}]}))
    assert main(["evaluate", str(HAND_INSTANCE), str(p)]) == 0
    text = capsys.readouterr().out
    out = json.loads(text)
    assert out["feasible"] is False
    assert out["violations"] == [{"constraint": "edge_only_if_cached_4", "station": 0, "slot": 1,
                                  "pair": 1, "value": 1.0, "limit": 0.0}]
    assert '"slot": 1,' in text and '"pair": 1,' in text


def test_cli_evaluate_accepts_solve_output(tmp_path, capsys):
    """The output of `optcache solve` carries its schedule under "schedule" and is accepted."""
    p = tmp_path / "solved.json"
    p.write_text(json.dumps({"method": "x", "schedule": json.loads(HAND_SCHEDULE.read_text())}))
    assert main(["evaluate", str(HAND_INSTANCE), str(p)]) == 0
    _check_contract(json.loads(capsys.readouterr().out))


# ----------------------------------------------------------------------------- each violation
def _with(**station) -> Instance:
    d = hand_dict()
    d["stations"][0].update(station)
    return parse_instance(d)


HAND_A = [[1, 0], [1, 1]]
HAND_X = [[2, 0], [5, 1]]


@pytest.mark.parametrize("inst_change, a, x, expected", [
    # memory (3): with G = 15, slot 2 holds 10 + 10 = 20 GB > 15
    ({"gpu_memory_gb": 15.0}, HAND_A, HAND_X, [("memory_3", 2, None, 20.0, 15.0)]),
    # compute budget (5): with E = 80, slot 2 uses 5·14 + 1·20 = 90 FLOP > 80
    ({"compute_budget_flops": 80.0}, HAND_A, HAND_X, [("compute_budget_5", 2, None, 90.0, 80.0)]),
    # edge only if cached (4): pair 1 serves 1 request in slot 1 while not cached (limit R·a = 0)
    ({}, HAND_A, [[2, 1], [5, 1]], [("edge_only_if_cached_4", 1, 1, 1.0, 0.0)]),
    # (4) also caps x at R: pair 0 serves 4 > R = 3 in slot 1 (limit R·a = 3); its context
    # stays 7·4 + 7·5 = 63 > 50 in slot 2, so (28c) is reported too
    ({}, HAND_A, [[4, 0], [5, 1]], [("context_window_28c", 2, 0, 63.0, 50.0),
                                    ("edge_only_if_cached_4", 1, 0, 4.0, 3.0)]),
    # context window (28c): serving all 6 in slot 2 gives K = 14 + 7·6 = 56 > 50 (compute 84 ok)
    ({}, HAND_A, [[2, 0], [6, 0]], [("context_window_28c", 2, 0, 56.0, 50.0)]),
    # integrality (28d): a half-loaded pair
    ({}, [[1, 0], [1, 0.5]], [[2, 0], [5, 0]], [("integrality_28d", 2, 1, 0.5, 1.0)]),
    # integrality of x: 1.5 requests (limit: the nearest integer, 2)
    ({}, HAND_A, [[1.5, 0], [5, 1]], [("integrality_x", 1, 0, 1.5, 2.0)]),
    # x ≥ 0
    ({}, HAND_A, [[-1, 0], [5, 1]], [("edge_requests_nonnegative", 1, 0, -1.0, 0.0)]),
])
def test_each_violation_is_reported_not_raised(inst_change, a, x, expected):
    inst = _with(**inst_change)
    ev = evaluate(inst, sched(a, x))
    assert ev.feasible is False
    got = sorted((v["constraint"], v["slot"], v["pair"], v["value"], v["limit"])
                 for v in ev.violations)
    assert got == sorted(expected, key=lambda e: (e[0], e[1], -1 if e[2] is None else e[2]))
    assert all(v["station"] == 0 for v in ev.violations)
    assert set(ev.terms) == set(TERMS)
    xa, R = np.array(x, float), np.asarray(inst.stations[0].requests)
    if ((xa < 0) | (xa > R)).any():  # outside the domain 0 ≤ x ≤ R: reported, not scored
        assert ev.cost is None and all(v is None for v in ev.terms.values())
        assert np.isnan(ev.station_costs).all()
    else:
        assert np.isfinite(ev.cost) and ev.cost > 0


def test_violations_do_not_change_the_cost_formula():
    """An infeasible schedule is still scored by the same formulas (memory does not enter a term)."""
    inst = _with(gpu_memory_gb=15.0)
    ev = evaluate(inst, load_schedule(HAND_SCHEDULE, inst))
    assert not ev.feasible and ev.cost == pytest.approx(HAND_COST, rel=1e-12)


def test_schedule_shape_mismatch_is_an_error_not_a_violation():
    from optcache.errors import InvalidInput

    inst, _ = hand()
    with pytest.raises(InvalidInput, match=r"stations\[0\]\.cached"):
        evaluate(inst, sched([[1, 0]], [[0, 0]]))
    with pytest.raises(InvalidInput, match="stations"):
        evaluate(inst, Schedule(()))


# ----------------------------------------------------------------------------- invariants
# A small independent re-implementation of docs/formulation.md §4–§6 in plain Python loops over the JSON
# objects (not StationData), used as the oracle of the property tests below.
def reference(inst: dict, schedule: dict) -> tuple[list[list[list[float]] | None], list[tuple]]:
    """Per station, per slot, the five terms (None for a station with a pair outside the domain
    0 ≤ a ≤ 1, 0 ≤ x ≤ R); and the set of violations (constraint, n, slot, p). The context
    window is checked only for pairs whose a stays in [0, 1]."""
    T, lam, k0 = inst["slots"], inst["switching_cost"], inst["kappa_offset"]
    models, services, pairs = inst["models"], inst["services"], inst["pairs"]
    out, viol = [], []
    for n, (sn, ss) in enumerate(zip(inst["stations"], schedule["stations"], strict=True)):
        a_ok = [all(0 <= ss["cached"][t][p] <= 1 for t in range(T)) for p in range(len(pairs))]
        x_ok = [all(0 <= ss["edge_requests"][t][p] <= sn["requests"][t][p] for t in range(T))
                for p in range(len(pairs))]
        K = [0.0] * len(pairs)
        kap = [0.0] * len(pairs)
        prev = [0.0] * len(pairs)
        rows = []
        for t in range(T):
            terms = [0.0] * 5
            mem = flops = 0.0
            for p, pr in enumerate(pairs):
                m, svc = models[pr["model"]], services[pr["service"]]
                a, x, R = ss["cached"][t][p], ss["edge_requests"][t][p], sn["requests"][t][p]
                if a not in (0, 1):
                    viol.append(("integrality_28d", n, t + 1, p))
                if abs(x - round(x)) > 1e-9:
                    viol.append(("integrality_x", n, t + 1, p))
                if x < -1e-9:
                    viol.append(("edge_requests_nonnegative", n, t + 1, p))
                if x > R * a + 1e-9:
                    viol.append(("edge_only_if_cached_4", n, t + 1, p))
                mem += a * m["memory_gb"]
                flops += x * svc["thought_tokens"] * m["flops_per_token"]
                delta = svc["thought_tokens"] * x
                K[p] = a * (K[p] + delta)
                kap[p] = a * max(kap[p] + delta - pr["vanishing"], 0.0)
                if a_ok[p] and K[p] > m["context_tokens"] * (1 + 1e-9) + 1e-9:
                    viol.append(("context_window_28c", n, t + 1, p))
                terms[0] += lam * (1.0 if a > prev[p] else 0.0) * (a - prev[p])
                terms[1] += R * sn["access_cost"][pr["service"]] + svc["input_mb"] / sn["backhaul_mb_per_s"] * (R - x)
                terms[2] += x * svc["thought_tokens"] * m["flops_per_token"] / sn["compute_flops_per_s"]
                terms[3] += x * (1 - pr["zero_shot_accuracy"]) / (
                    math.log(1 / pr["cot_beta"]) * (kap[p] + k0))
                terms[4] += pr["cloud_cost"] * (R - x)
                prev[p] = a
            if mem > sn["gpu_memory_gb"] + 1e-9 * max(1.0, sn["gpu_memory_gb"]):
                viol.append(("memory_3", n, t + 1, None))
            if flops > sn["compute_budget_flops"] + 1e-9 * max(1.0, sn["compute_budget_flops"]):
                viol.append(("compute_budget_5", n, t + 1, None))
            rows.append(terms)
        out.append(rows if all(a_ok) and all(x_ok) else None)
    return out, sorted(viol, key=lambda v: (v[0], v[1], v[2], -1 if v[3] is None else v[3]))


@st.composite
def instances(draw) -> dict:
    """Small instance objects of the §14 format with integer or dyadic data (exact sums)."""
    T = draw(st.integers(1, 4))
    P = draw(st.integers(1, 3))
    N = draw(st.integers(1, 2))
    n_models = draw(st.integers(1, P))
    ints = st.integers
    models = [{"name": f"m{j}", "memory_gb": float(draw(ints(1, 10))),
               "flops_per_token": float(draw(ints(0, 5))), "context_tokens": draw(ints(1, 60))}
              for j in range(n_models)]
    services = [{"name": f"s{i}", "input_mb": float(draw(ints(0, 40))),
                 "thought_tokens": draw(ints(0, 12))} for i in range(P)]
    pairs = [{"service": i, "model": draw(ints(0, n_models - 1)),
              "zero_shot_accuracy": draw(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])),
              "cot_beta": draw(st.floats(0.05, 0.95)),
              "vanishing": draw(st.sampled_from([0.0, 0.6, 2.0, 5.0, 9.5])),
              "cloud_cost": draw(st.sampled_from([0.0, 0.04, 0.5, 2.0]))} for i in range(P)]
    stations = [{"name": f"n{n}", "gpu_memory_gb": float(draw(ints(0, 25))),
                 "compute_budget_flops": float(draw(ints(0, 300))),
                 "compute_flops_per_s": float(draw(ints(1, 50))),
                 "backhaul_mb_per_s": float(draw(st.sampled_from([1, 2, 8, 10]))),
                 "access_cost": [draw(st.sampled_from([0.0, 0.0001, 0.25, 1.0])) for _ in range(P)],
                 "requests": [[draw(ints(0, 5)) for _ in range(P)] for _ in range(T)]}
                for n in range(N)]
    return {"format": "optcache/instance@1", "slots": T,
            "switching_cost": draw(st.sampled_from([0.0, 0.1, 0.5, 3.0])),
            "kappa_offset": draw(st.sampled_from([0.5, 1.0, 2.0])),
            "models": models, "services": services, "pairs": pairs, "stations": stations}


def tame_schedules(inst: dict, draw) -> dict:
    """Binary a and integer x with 0 ≤ x ≤ R·a: (4) and integrality hold, the rest may not."""
    T, P = inst["slots"], len(inst["pairs"])
    out = []
    for s in inst["stations"]:
        a = [[draw(st.integers(0, 1)) for _ in range(P)] for _ in range(T)]
        x = [[draw(st.integers(0, s["requests"][t][p] * a[t][p])) for p in range(P)]
             for t in range(T)]
        out.append({"cached": a, "edge_requests": x})
    return {"stations": out}


def wild_schedules(inst: dict, draw) -> dict:
    """Anything the file format allows: fractional or negative entries, x above R or uncached."""
    T, P = inst["slots"], len(inst["pairs"])
    vals_a = st.sampled_from([0, 0, 1, 1, 1, 0.5, 2])
    vals_x = st.one_of(st.integers(-1, 7), st.sampled_from([0.5, 2.25]))
    return {"stations": [{"cached": [[draw(vals_a) for _ in range(P)] for _ in range(T)],
                          "edge_requests": [[draw(vals_x) for _ in range(P)] for _ in range(T)]}
                         for _ in inst["stations"]]}


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.data())
def test_matches_independent_reference_on_any_schedule(data):
    """Terms and violations agree with the loop oracle, even for nonsense; nothing is raised."""
    d = data.draw(instances())
    sd = wild_schedules(d, data.draw) if data.draw(st.booleans()) else tame_schedules(d, data.draw)
    inst = parse_instance(d)
    ev = evaluate(inst, parse_schedule(sd, inst))
    ref_terms, ref_viol = reference(d, sd)
    assert kinds(ev) == ref_viol
    assert ev.feasible == (not ref_viol)
    T = d["slots"]
    for n, rows in enumerate(ref_terms):
        got = ev.per_slot[ev.per_slot["station"] == n][list(TERMS)].to_numpy()
        if rows is None:  # not scored: NaN, never a number the formulas were not written for
            assert np.isnan(got).all() and np.isnan(ev.station_costs[n])
        else:
            np.testing.assert_allclose(got, np.array(rows), rtol=1e-9, atol=1e-12)
            assert (got >= 0).all()
    if any(rows is None for rows in ref_terms):
        assert ev.cost is None and set(ev.terms.values()) == {None} and not ev.feasible
        return
    total = sum(sum(r) for rows in ref_terms for r in rows) / T
    assert ev.cost == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert ev.cost == pytest.approx(float(ev.station_costs.sum()), rel=1e-12, abs=1e-12)
    assert ev.cost == pytest.approx(sum(ev.terms.values()), rel=1e-12, abs=1e-12)


@SETTINGS
@given(st.data())
def test_terms_are_nonnegative_for_sensible_schedules(data):
    d = data.draw(instances())
    sd = tame_schedules(d, data.draw)
    inst = parse_instance(d)
    ev = evaluate(inst, parse_schedule(sd, inst))
    assert (ev.per_slot[list(TERMS)].to_numpy() >= 0).all()
    assert all(v >= 0 for v in ev.terms.values())
    assert all(v["constraint"] in ("memory_3", "compute_budget_5", "context_window_28c")
               for v in ev.violations)


def all_cloud_formula(d: dict) -> float:
    """(1/T) Σ_n Σ_t Σ_p R·(l_{n,i} + d_i/r^C_n + l_{0,p}): everything offloaded (22) + (26)."""
    total = 0.0
    for s in d["stations"]:
        for row in s["requests"]:
            for p, R in enumerate(row):
                i = d["pairs"][p]["service"]
                total += R * (s["access_cost"][i] + d["services"][i]["input_mb"] / s["backhaul_mb_per_s"]
                              + d["pairs"][p]["cloud_cost"])
    return total / d["slots"]


@SETTINGS
@given(st.data())
def test_serving_nothing_at_the_edge_costs_the_all_cloud_formula(data):
    d = data.draw(instances())
    inst = parse_instance(d)
    T, P = d["slots"], len(d["pairs"])
    ev = evaluate(inst, Schedule.all_cloud(inst))
    assert ev.feasible
    assert ev.cost == pytest.approx(all_cloud_formula(d), rel=1e-12, abs=1e-15)
    # caching without serving adds exactly λ per load and nothing else
    a = [np.array([[data.draw(st.integers(0, 1)) for _ in range(P)] for _ in range(T)], float)
         for _ in d["stations"]]
    loads = sum(int(np.maximum(np.diff(np.vstack([np.zeros(P), ai]), axis=0), 0).sum()) for ai in a)
    ev2 = evaluate(inst, Schedule.from_arrays([(ai, np.zeros((T, P))) for ai in a]))
    assert ev2.cost == pytest.approx(all_cloud_formula(d) + d["switching_cost"] * loads / T,
                                     rel=1e-12, abs=1e-15)
    assert ev2.terms["computing"] == ev2.terms["accuracy"] == 0.0


@SETTINGS
@given(st.data())
def test_json_round_trip_scores_the_same(data):
    d = data.draw(instances())
    inst = parse_instance(d)
    sd = wild_schedules(d, data.draw)
    schedule = parse_schedule(sd, inst)
    inst2 = parse_instance(json.loads(json.dumps(inst.to_dict())))
    schedule2 = parse_schedule(json.loads(json.dumps(schedule.to_dict())), inst2)
    ev, ev2 = evaluate(inst, schedule), evaluate(inst2, schedule2)
    assert ev2.cost == ev.cost and ev2.terms == ev.terms and ev2.violations == ev.violations


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slots=st.integers(1, 5), services=st.integers(1, 4), gpus=st.integers(1, 30),
       users=st.integers(0, 40), vanishing=st.sampled_from([0.0, 0.6, 3.0]),
       seed=st.integers(0, 2**31), data=st.data())
def test_generated_instances_invariants(slots, services, gpus, users, vanishing, seed, data):
    """Generator instances: all-cloud formula, non-negative terms, JSON round trip."""
    inst = generate(slots=slots, services=services, gpus=gpus, users=users, stations=2,
                    vanishing=vanishing, seed=seed)
    d = inst.to_dict()
    assert evaluate(inst, Schedule.all_cloud(inst)).cost == pytest.approx(
        all_cloud_formula(d), rel=1e-12, abs=1e-15)
    sd = tame_schedules(d, data.draw)
    ev = evaluate(inst, parse_schedule(sd, inst))
    assert (ev.per_slot[list(TERMS)].to_numpy() >= 0).all()
    ref_terms, ref_viol = reference(d, sd)
    assert kinds(ev) == ref_viol
    inst2 = parse_instance(json.loads(json.dumps(d)))
    assert evaluate(inst2, parse_schedule(copy.deepcopy(sd), inst2)).cost == ev.cost


def test_state_cold_is_slot_zero():
    s = State.cold(3)
    assert s.cached.tolist() == s.K.tolist() == s.kappa.tolist() == [0, 0, 0]


def test_serve_unit_cost_is_the_x_slope_of_the_cost_terms():
    """`serve_unit_cost` (used by `slot` to break ties) restates (22)-(26) per request: it must be
    what one more edge request adds to the terms at a fixed κ."""
    from optcache.dynamics import State
    from optcache.evaluator import _pair_terms, serve_unit_cost
    from optcache.scenario import generate

    d = generate(slots=2, services=5, stations=1, users=30, seed=4).station_data(0)
    kappa = np.array([[0.0, 0.5, 3.0, 40.0, 1e3]])
    a = np.ones((1, d.P))
    x0 = np.zeros((1, d.P))
    terms = [_pair_terms(d, a, x, kappa, State.cold(d.P)) for x in (x0, x0 + 1)]
    slope = sum(terms[1][k] - terms[0][k] for k in terms[0])[0]
    np.testing.assert_allclose(serve_unit_cost(d, kappa[0]), slope, rtol=1e-12)
