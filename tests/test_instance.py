"""Instances and scenarios: exact JSON round trip (docs/formulation.md §14) and the paper's VI-A defaults."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optcache import assumptions as A
from optcache.cli import main
from optcache.errors import InvalidInput
from optcache.instance import Instance, Station, load_instance, parse_instance, save_instance
from optcache.scenario import ScenarioConfig, generate

DATA = Path(__file__).resolve().parent / "data"
HAND = DATA / "hand_instance.json"

# The paper's section VI-A values, written out here (not read from optcache.assumptions).
IMAGEBIND = {0.777, 0.500, 0.634, 0.540, 0.669, 0.250}
FLOPS_PER_S_24_GPUS = 24 * 810e9 * 300  # 24 GPUs × 810 GFLOPS/W × 300 W = 5.832e15 FLOP/s


# ----------------------------------------------------------------------------- round trip
def test_loaded_instance_is_the_file_object():
    """Every field of the file is read as written: to_dict() gives the JSON object back."""
    inst = load_instance(HAND)
    assert inst.to_dict() == json.loads(HAND.read_text())
    assert inst.slots == 2 and inst.n_pairs == 2 and inst.n_stations == 1
    assert inst.stations[0].requests.dtype == np.int64
    assert inst.stations[0].requests.tolist() == [[3, 2], [6, 2]]
    assert inst.models[1].context_tokens == 8 and isinstance(inst.models[1].context_tokens, int)


@pytest.mark.parametrize("make", [lambda: load_instance(HAND), lambda: generate(slots=6, seed=4),
                                  lambda: generate(slots=3, services=4, stations=2, seed=9)])
def test_json_round_trip_is_exact(tmp_path, make):
    inst = make()
    p1, p2 = tmp_path / "a.json", tmp_path / "b.json"
    save_instance(inst, p1)
    back = load_instance(p1)
    assert back == inst and back.to_dict() == inst.to_dict()
    assert back.meta == inst.meta
    for s, t in zip(inst.stations, back.stations, strict=True):
        assert np.array_equal(s.requests, t.requests)
    save_instance(back, p2)
    assert p2.read_text() == p1.read_text()
    # the numpy view is bit-identical too
    for n in range(inst.n_stations):
        a, b = inst.station_data(n), back.station_data(n)
        for f in ("s", "e", "w", "k", "d", "delta", "alpha", "beta", "l0", "access", "R"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slots=st.integers(1, 6), services=st.integers(1, 5), gpus=st.integers(1, 40),
       users=st.integers(0, 50), stations=st.integers(1, 3),
       vanishing=st.floats(0, 50, allow_nan=False), seed=st.integers(0, 2**63 - 1))
def test_round_trip_any_knobs(slots, services, gpus, users, stations, vanishing, seed):
    inst = generate(slots=slots, services=services, gpus=gpus, users=users, stations=stations,
                    vanishing=vanishing, seed=seed)
    text = json.dumps(inst.to_dict())
    back = parse_instance(json.loads(text))
    assert back == inst and json.dumps(back.to_dict()) == text


def test_equality_sees_requests():
    inst = load_instance(HAND)
    R = inst.stations[0].requests.copy()
    R[1, 1] += 1
    other = inst.with_requests(0, R)
    assert other != inst and other.stations[0].requests[1, 1] == 3
    assert inst.with_requests(0, inst.stations[0].requests) == inst


def test_direct_construction_is_validated():
    inst = load_instance(HAND)
    s = inst.stations[0]
    bad = Station(s.name, -1.0, s.compute_budget_flops, s.compute_flops_per_s, s.backhaul_mb_per_s,
                  s.access_cost, s.requests)
    with pytest.raises(InvalidInput) as e:
        replace(inst, stations=(bad,))
    assert e.value.field == "stations[0].gpu_memory_gb"
    with pytest.raises(InvalidInput) as e:
        replace(inst, kappa_offset=0.0)  # κ_0 > 0 keeps the accuracy cost (24) finite
    assert e.value.field == "kappa_offset"
    with pytest.raises(InvalidInput) as e:
        replace(inst, pairs=(inst.pairs[0], inst.pairs[0]))
    assert e.value.field == "pairs[1]"  # the cache holds pairs: a duplicate is ambiguous


# ----------------------------------------------------------------------------- paper defaults
@pytest.fixture(scope="module")
def default() -> Instance:
    return generate()


def test_default_sizes(default):
    assert default.slots == 100
    assert default.n_stations == 5
    assert len(default.services) == 10 and default.n_pairs == 10
    assert len(default.models) == 10
    for st_ in default.stations:
        assert st_.requests.shape == (100, 10)


def test_default_stations(default):
    for s in default.stations:
        assert s.gpu_memory_gb == 24 * 80.0
        assert s.compute_flops_per_s == pytest.approx(FLOPS_PER_S_24_GPUS, rel=1e-15)
        assert FLOPS_PER_S_24_GPUS == pytest.approx(5.832e15)
        # assumed: the budget per slot is the compute rate over one slot
        assert s.compute_budget_flops == pytest.approx(FLOPS_PER_S_24_GPUS * A.SLOT_SECONDS)
        assert s.access_cost == (0.0001,) * 10  # edge access cost of ground stations
        assert s.backhaul_mb_per_s == A.BACKHAUL_MB_PER_S


def test_default_models(default):
    windows = {m.name.split("#")[0]: m.context_tokens for m in default.models}
    assert windows == {"LLaMA-65B": 2048, "GPT3-175B": 8192}  # "2k and 8k tokens"
    kinds = [m.name.split("#")[0] for m in default.models]
    assert kinds.count("LLaMA-65B") == 5 and kinds.count("GPT3-175B") == 5
    for m in default.models:
        params = 65e9 if m.name.startswith("LLaMA") else 175e9
        assert m.memory_gb == pytest.approx(params * A.BYTES_PER_PARAMETER / 1e9)
        assert m.flops_per_token == pytest.approx(params * A.FLOPS_PER_PARAMETER_TOKEN)


def test_default_services_and_pairs(default):
    for s in default.services:
        assert 100.0 <= s.input_mb <= 200.0
        assert 1 <= s.thought_tokens <= 200  # thoughts of at most 200 tokens
        assert s.thought_tokens >= A.MIN_THOUGHT_TOKENS
    assert sorted(p.service for p in default.pairs) == list(range(10))  # one model per service
    for p in default.pairs:
        assert 0 <= p.model < 10
        assert p.zero_shot_accuracy in IMAGEBIND
        assert p.vanishing == 0.6
        assert p.cloud_cost == 0.04  # cloud cost via ground stations
        assert 0 < p.cot_beta < 1
        # the service name carries the modality whose ImageBind accuracy is α
        modality = default.services[p.service].name.split("-", 1)[1]
        assert A.IMAGEBIND_ACCURACY[modality] == p.zero_shot_accuracy
    assert default.kappa_offset == 1.0
    assert default.switching_cost == A.SWITCHING_COST


def test_paper_constants_in_assumptions():
    """The values that the generator does not put in an instance (satellite, radio) are recorded."""
    assert (A.ACCESS_COST_SATELLITE, A.CLOUD_COST_SATELLITE) == (0.005, 0.025)
    assert (A.ACCESS_COST_GROUND, A.CLOUD_COST_GROUND) == (0.0001, 0.04)
    assert (A.USER_TX_POWER_W, A.BANDWIDTH_HZ) == (0.2, 20e6)
    assert set(A.IMAGEBIND_ACCURACY.values()) == IMAGEBIND
    assert A.INPUT_MB == (100.0, 200.0) and A.MAX_THOUGHT_TOKENS == 200


def test_model_mapping_is_random_across_seeds():
    maps = {tuple(p.model for p in generate(slots=1, stations=1, seed=s).pairs) for s in range(8)}
    assert len(maps) > 1
    alphas = {p.zero_shot_accuracy for s in range(8) for p in generate(slots=1, stations=1, seed=s).pairs}
    assert len(alphas) >= 4  # modalities are drawn, not fixed


def test_seed_determinism():
    assert generate(slots=10, seed=3) == generate(slots=10, seed=3)
    a, b = generate(slots=10, seed=3), generate(slots=10, seed=4)
    assert a != b
    assert any(not np.array_equal(x.requests, y.requests)
               for x, y in zip(a.stations, b.stations, strict=True))


def test_config_object_and_knobs_agree():
    cfg = ScenarioConfig(slots=5, services=3, seed=2)
    assert generate(cfg) == generate(slots=5, services=3, seed=2)
    assert generate(cfg, stations=2) == generate(slots=5, services=3, seed=2, stations=2)
    assert generate(cfg).meta["scenario"] == cfg.knobs()


# ----------------------------------------------------------------------------- knobs
def test_knob_slots_services_stations():
    inst = generate(slots=7, services=3, stations=2, seed=1)
    assert inst.slots == 7 and inst.n_pairs == 3 and len(inst.services) == 3
    assert inst.n_stations == 2
    assert all(s.requests.shape == (7, 3) for s in inst.stations)
    assert all(len(s.access_cost) == 3 for s in inst.stations)


def test_knob_gpus_scales_memory_and_compute():
    inst = generate(slots=2, gpus=3, seed=1)
    for s in inst.stations:
        assert s.gpu_memory_gb == 3 * 80.0
        assert s.compute_flops_per_s == pytest.approx(3 * 810e9 * 300, rel=1e-15)
        assert s.compute_budget_flops == pytest.approx(3 * 810e9 * 300 * A.SLOT_SECONDS, rel=1e-15)


def test_knob_vanishing():
    inst = generate(slots=2, vanishing=2.5, seed=1)
    assert {p.vanishing for p in inst.pairs} == {2.5}
    assert {p.vanishing for p in generate(slots=2, vanishing=0.0).pairs} == {0.0}


def test_knob_users_changes_only_requests():
    lo, hi = generate(slots=50, users=10, seed=5), generate(slots=50, users=40, seed=5)
    assert lo.models == hi.models and lo.services == hi.services and lo.pairs == hi.pairs
    R_lo = np.stack([s.requests for s in lo.stations])
    R_hi = np.stack([s.requests for s in hi.stations])
    assert R_hi.mean() > 2 * R_lo.mean()
    assert not generate(slots=5, users=0).stations[0].requests.any()  # Poisson(0) ≡ 0


@pytest.mark.parametrize("users", [10, 30])
def test_requests_are_poisson_with_mean_users_over_ten(users):
    """Over n = slots·stations·services draws the sample mean of Poisson(λ) has standard error
    sqrt(λ/n); the sample variance has standard error ≈ sqrt((λ + 2λ²)/n) (its fourth central
    moment is λ + 3λ²). Both are checked to within 5 standard errors."""
    lam = users / 10
    inst = generate(slots=1000, services=10, stations=5, users=users, seed=11)
    R = np.stack([s.requests for s in inst.stations]).ravel()
    n = R.size
    assert n == 50_000
    assert abs(R.mean() - lam) <= 5 * math.sqrt(lam / n)
    assert abs(R.var(ddof=1) - lam) <= 5 * math.sqrt((lam + 2 * lam**2) / n)
    assert R.min() >= 0 and R.dtype == np.int64


@pytest.mark.parametrize("knob, value", [("slots", 0), ("services", 0), ("gpus", -1),
                                         ("stations", 0), ("users", -1), ("vanishing", -0.5),
                                         ("access", "nope"), ("slots", 2.5)])
def test_bad_knobs_name_the_knob(knob, value):
    with pytest.raises(InvalidInput) as e:
        ScenarioConfig(**{knob: value})
    assert e.value.field == knob


def test_cli_scenario_writes_the_generated_instance(tmp_path, capsys):
    out = tmp_path / "inst.json"
    code = main(["scenario", "--out", str(out), "--slots", "4", "--services", "3", "--gpus", "2",
                 "--users", "20", "--stations", "2", "--vanishing", "1.5", "--seed", "7"])
    assert code == 0
    assert "4 slots, 2 stations, 3 pairs" in capsys.readouterr().out
    assert load_instance(out) == generate(slots=4, services=3, gpus=2, users=20, stations=2,
                                          vanishing=1.5, seed=7)


def _doc_tables() -> str:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "formulation.md").read_text()
    return doc[doc.index("## Assumptions"):]


@pytest.mark.parametrize("module", ["optcache.channel", "optcache.coverage",
                                    "optcache.market.valuations"])
def test_model_constants_are_documented(module):
    """Every upper-case constant of the channel, coverage and market models is in the tables."""
    import importlib

    mod = importlib.import_module(module)
    names = [n for n, v in vars(mod).items()
             if n.isupper() and not n.startswith("_") and isinstance(v, (int, float))]
    assert names
    table = _doc_tables()
    missing = [n for n in names if f"`{n}`" not in table]
    assert not missing, f"undocumented constants of {module}: {missing}"


def test_channel_defaults_are_the_papers():
    """The channel's default power and bandwidth are the values recorded in assumptions."""
    import inspect

    from optcache import channel

    params = inspect.signature(channel.expected_uplink_rates).parameters
    assert params["bandwidth_hz"].default == A.BANDWIDTH_HZ == 20e6
    assert params["tx_power_w"].default == A.USER_TX_POWER_W == 0.2


def test_every_assumption_is_documented():
    """docs/formulation.md's Assumptions table names every value of optcache/assumptions.py."""
    table = _doc_tables()
    names = [n for n in vars(A) if n.isupper()]
    assert len(names) >= 25
    missing = [n for n in names if f"| `{n}` |" not in table]
    assert not missing, f"undocumented assumptions: {missing}"


def test_rounded_beta_stays_within_the_knobs_range():
    """β is rounded to 4 decimals; at the ends of the documented [1e-12, 0.999999] that gave 0 or
    1, outside the instance's own range, and `generate` failed naming pairs[0].cot_beta, a field
    the user never set (found by a scenario sweep)."""
    from optcache.scenario import generate

    for lo, hi in [(1e-12, 1e-12), (1e-6, 1e-5), (0.9999, 0.999999), (0.12345, 0.12345)]:
        inst = generate(slots=2, services=3, stations=1, beta_min=lo, beta_max=hi)
        betas = [p.cot_beta for p in inst.pairs]
        assert all(lo <= b <= hi for b in betas), (lo, hi, betas)
    assert [p.cot_beta for p in generate(slots=2, services=3, stations=1, beta_min=0.12345,
                                         beta_max=0.12345).pairs] == [0.12345] * 3


def test_requests_are_frozen_once_checked():
    """A station's requests stayed writeable after validation: `requests[0, 0] = -5` on the
    caller's array reached the solvers unchecked. The instance keeps a read-only checked copy."""
    import optcache
    from optcache.instance import Instance

    inst = optcache.generate(slots=3, services=2, stations=1, seed=0)
    R = np.array(inst.stations[0].requests)
    st = replace(inst.stations[0], requests=R)
    built = Instance(inst.slots, inst.switching_cost, inst.kappa_offset, inst.models, inst.services,
                     inst.pairs, (st,))
    R[0, 0] = -5  # the caller's array: not the instance's any more
    assert built.stations[0].requests[0, 0] >= 0 and built.station_data(0).R.min() >= 0
    with pytest.raises(ValueError, match="read-only"):
        built.stations[0].requests[0, 0] = -5
