"""Bad input through the CLI: one line on stderr naming the field, exit code 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from optcache.cli import main
from optcache.errors import InvalidInput

DATA = Path(__file__).resolve().parent / "data"
HAND_INSTANCE = DATA / "hand_instance.json"
HAND_SCHEDULE = DATA / "hand_schedule.json"
OPTCACHE = Path(sys.executable).parent / "optcache"


def _inst() -> dict:
    return json.loads(HAND_INSTANCE.read_text())


def _sched() -> dict:
    return json.loads(HAND_SCHEDULE.read_text())


def _set(path: list, value) -> Callable[[dict], None]:
    def f(d: dict) -> None:
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return f


def _del(path: list) -> Callable[[dict], None]:
    def f(d: dict) -> None:
        for k in path[:-1]:
            d = d[k]
        del d[path[-1]]
    return f


def check_one_line(code: int, err: str, field: str, out: str = "") -> None:
    assert code == 2, err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert field in lines[0], (field, lines[0])
    assert "Traceback" not in err
    assert out == ""  # nothing half-printed on stdout


# (id, change to the instance object, field the message must name)
INSTANCE_CASES = [
    ("wrong format tag", _set(["format"], "optcache/instance@0"), "format"),
    ("missing format tag", _del(["format"]), "format: missing"),
    ("missing slots", _del(["slots"]), "slots: missing"),
    ("missing model field", _del(["models", 0, "memory_gb"]), "models[0].memory_gb: missing"),
    ("missing station field", _del(["stations", 0, "compute_flops_per_s"]),
     "stations[0].compute_flops_per_s: missing"),
    ("missing list", _del(["pairs"]), "pairs"),
    # names were defaulted to "" when missing; §14 lists them in every object
    ("missing model name", _del(["models", 0, "name"]), "models[0].name: missing"),
    ("missing service name", _del(["services", 0, "name"]), "services[0].name: missing"),
    ("missing station name", _del(["stations", 0, "name"]), "stations[0].name: missing"),
    # meta was not checked: NaN and ±∞ loaded, and were written back as non-JSON NaN/Infinity
    ("NaN in meta", _set(["meta"], {"scenario": {"vanishing": float("nan")}}), "meta"),
    ("infinity in meta", _set(["meta"], {"x": [1.0, float("-inf")]}), "meta"),
    ("negative gpu memory", _set(["stations", 0, "gpu_memory_gb"], -80.0),
     "stations[0].gpu_memory_gb"),
    ("negative switching cost", _set(["switching_cost"], -1), "switching_cost"),
    ("zero kappa offset", _set(["kappa_offset"], 0), "kappa_offset"),
    ("negative requests", _set(["stations", 0, "requests", 1, 0], -2),
     "stations[0].requests[1][0]"),
    ("fractional requests", _set(["stations", 0, "requests", 0, 1], 1.5),
     "stations[0].requests[0][1]"),
    ("requests beyond int64", _set(["stations", 0, "requests", 0, 0], 10**20),
     "stations[0].requests[0][0]"),
    ("integer beyond float range", _set(["models", 0, "memory_gb"], 10**400), "models[0].memory_gb"),
    ("requests: too many slots", _set(["stations", 0, "requests"], [[1, 1]] * 3),
     "stations[0].requests"),
    ("requests: short row", _set(["stations", 0, "requests", 1], [1]),
     "stations[0].requests[1]"),
    ("requests: not a list", _set(["stations", 0, "requests"], 5), "stations[0].requests"),
    ("access cost length", _set(["stations", 0, "access_cost"], [0.5]),
     "stations[0].access_cost"),
    ("non-number", _set(["models", 0, "memory_gb"], "ten"), "models[0].memory_gb"),
    ("boolean as number", _set(["services", 1, "thought_tokens"], True),
     "services[1].thought_tokens"),
    ("null as number", _set(["stations", 0, "backhaul_mb_per_s"], None),
     "stations[0].backhaul_mb_per_s"),
    ("cot_beta = 1", _set(["pairs", 0, "cot_beta"], 1.0), "pairs[0].cot_beta"),
    ("cot_beta = 0", _set(["pairs", 1, "cot_beta"], 0), "pairs[1].cot_beta"),
    ("cot_beta > 1", _set(["pairs", 0, "cot_beta"], 1.5), "pairs[0].cot_beta"),
    ("accuracy > 1", _set(["pairs", 0, "zero_shot_accuracy"], 1.2), "pairs[0].zero_shot_accuracy"),
    ("pair with a missing model", _set(["pairs", 0, "model"], 2), "pairs[0].model"),
    ("pair with a missing service", _set(["pairs", 1, "service"], 5), "pairs[1].service"),
    ("duplicate pair", _set(["pairs", 1], {**_inst()["pairs"][0]}), "pairs[1]"),
    ("fractional context window", _set(["models", 1, "context_tokens"], 8.5),
     "models[1].context_tokens"),
    ("zero compute rate", _set(["stations", 0, "compute_flops_per_s"], 0),
     "stations[0].compute_flops_per_s"),
    ("station not an object", _set(["stations", 0], [1, 2]), "stations[0]"),
    ("no stations", _set(["stations"], []), "stations"),
    # issue 11: values the old checks accepted and the evaluator or HiGHS turned into ∞, NaN or
    # a traceback; each is now outside its documented range (docs/formulation.md §14)
    ("flops_per_token 1e308", _set(["models", 0, "flops_per_token"], 1e308),
     "models[0].flops_per_token: must be <= 1e24"),
    ("thought_tokens 1e308", _set(["services", 0, "thought_tokens"], 1e308),
     "services[0].thought_tokens: must be <= 1e9"),
    ("cloud_cost 1e308", _set(["pairs", 0, "cloud_cost"], 1e308), "pairs[0].cloud_cost: must be <= 1e12"),
    ("memory_gb 1e308", _set(["models", 0, "memory_gb"], 1e308), "models[0].memory_gb: must be <= 1e12"),
    ("vanishing 1e308", _set(["pairs", 1, "vanishing"], 1e308), "pairs[1].vanishing: must be <= 1e12"),
    ("switching_cost 1e308", _set(["switching_cost"], 1e308), "switching_cost: must be <= 1e12"),
    ("access_cost 1e308", _set(["stations", 0, "access_cost", 1], 1e308),
     "stations[0].access_cost[1]: must be <= 1e12"),
    ("backhaul 1e-320", _set(["stations", 0, "backhaul_mb_per_s"], 1e-320),
     "stations[0].backhaul_mb_per_s: must be >= 1e-6, got 1e-320"),
    ("compute rate 1e-320", _set(["stations", 0, "compute_flops_per_s"], 1e-320),
     "stations[0].compute_flops_per_s: must be >= 1e-6"),
    ("requests 2**53", _set(["stations", 0, "requests", 0, 0], 2**53),
     "stations[0].requests[0][0]: must be <= 1e15, got 9007199254740992"),
    ("context window 10**30", _set(["models", 0, "context_tokens"], 10**30),
     "models[0].context_tokens: must be <= 1e12, got 1e30 (an integer of 31 digits)"),
    ("memory 10**400", _set(["models", 0, "memory_gb"], 10**400), "models[0].memory_gb: must be <= 1e12"),
]


@pytest.mark.parametrize("change, field", [c[1:] for c in INSTANCE_CASES],
                         ids=[c[0] for c in INSTANCE_CASES])
def test_bad_instance(tmp_path, capsys, change, field):
    d = _inst()
    change(d)
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(d))
    code = main(["evaluate", str(p), str(HAND_SCHEDULE)])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, field, cap.out)


SCHEDULE_CASES = [
    ("wrong station count", _set(["stations"], _sched()["stations"] * 2), "stations"),
    ("stations missing", _del(["stations"]), "stations"),
    ("wrong number of slots", _set(["stations", 0, "cached"], [[1, 0]] * 3), "stations[0].cached"),
    ("wrong number of pairs", _set(["stations", 0, "edge_requests"], [[2], [5]]),
     "stations[0].edge_requests"),
    ("ragged rows", _set(["stations", 0, "cached"], [[1, 0], [1]]), "stations[0].cached"),
    ("cached not a list", _set(["stations", 0, "cached"], 1), "stations[0].cached"),
    ("rows not lists", _set(["stations", 0, "cached"], [1, 0]), "stations[0].cached"),
    ("missing key", _del(["stations", 0, "edge_requests"]), "stations[0].edge_requests: missing"),
    ("non-number entry", _set(["stations", 0, "edge_requests", 0, 1], "two"),
     "stations[0].edge_requests[0][1]"),
    ("null entry", _set(["stations", 0, "cached", 1, 0], None), "stations[0].cached[1][0]"),
    ("integer beyond float range", _set(["stations", 0, "edge_requests", 1, 0], 10**400),
     "stations[0].edge_requests[1][0]"),
    ("infinite entry", _set(["stations", 0, "edge_requests", 1, 0], float("inf")),
     "stations[0].edge_requests[1][0]"),
    ("station not an object", _set(["stations", 0], []), "stations[0]"),
    ("beyond the schedule range", _set(["stations", 0, "edge_requests", 0, 0], 1e200),
     "stations[0].edge_requests[0][0]: must be <= 1e100"),
]


@pytest.mark.parametrize("change, field", [c[1:] for c in SCHEDULE_CASES],
                         ids=[c[0] for c in SCHEDULE_CASES])
def test_bad_schedule(tmp_path, capsys, change, field):
    d = _sched()
    change(d)
    p = tmp_path / "sched.json"
    p.write_text(json.dumps(d))
    code = main(["evaluate", str(HAND_INSTANCE), str(p)])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, field, cap.out)


@pytest.mark.parametrize("which", ["instance", "schedule"])
@pytest.mark.parametrize("text, field, what", [
    ("{\"slots\": 2,", None, "malformed JSON"),  # None: the field is the file's path
    ("", None, "malformed JSON"),
    ("[1, 2]", "{which}", "expected an object, got a list"),
    ("1", "{which}", "expected an object, got a number"),
    ("null", "{which}", "expected an object, got null"),
    ("true", "{which}", "expected an object, got true/false"),
    ("{\"slots\": 2}", "{first}", ""),
])
def test_malformed_files(tmp_path, capsys, which, text, field, what):
    bad = tmp_path / f"bad_{which}.json"
    bad.write_text(text)
    args = [str(bad), str(HAND_SCHEDULE)] if which == "instance" else [str(HAND_INSTANCE), str(bad)]
    code = main(["evaluate", *args])
    cap = capsys.readouterr()
    first = "format" if which == "instance" else "stations"  # the first field checked
    field = str(bad) if field is None else field.format(which=which, first=first)
    check_one_line(code, cap.err, f"error: {field}: ", cap.out)
    assert what in cap.err


@pytest.mark.parametrize("which", ["instance", "schedule"])
@pytest.mark.parametrize("damage, what", [
    (lambda t: t.replace('"slots": 2', '"slots": ' + "9" * 5000, 1), "has more than 1000 digits"),
    (lambda t: t.replace('"stations"', '"junk": ' + "[" * 3500 + "]" * 3500 + ', "stations"', 1),
     "nested deeper than 64 levels"),
    (lambda t: t.replace('"stations"', '"junk": ' + "[" * 70 + "]" * 70 + ', "stations"', 1),
     "nested deeper than 64 levels"),
])
def test_parsing_limits(tmp_path, capsys, which, damage, what):
    """Huge literals, deep nesting and oversized files: one line naming the file, exit 2."""
    src = HAND_INSTANCE if which == "instance" else HAND_SCHEDULE
    text = src.read_text()
    if which == "schedule":
        text = text.replace('{"stations"', '{"slots": 2, "stations"', 1)
    bad = tmp_path / f"bad_{which}.json"
    bad.write_text(damage(text))
    args = [str(bad), str(HAND_SCHEDULE)] if which == "instance" else [str(HAND_INSTANCE), str(bad)]
    code = main(["evaluate", *args])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, f"error: {bad}: ", cap.out)
    assert what in cap.err


@pytest.mark.parametrize("which", ["instance", "schedule"])
def test_file_over_the_size_limit(tmp_path, capsys, which):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:  # sparse: refused on its size, before a byte is read
        f.truncate(64 * 2**20 + 1)
    args = [str(big), str(HAND_SCHEDULE)] if which == "instance" else [str(HAND_INSTANCE), str(big)]
    code = main(["evaluate", *args])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, f"error: {big}: {which} file has 67108865 bytes, over the limit "
                   "of 67108864", cap.out)


@pytest.mark.parametrize("args, message", [
    (["--time-limit", "-1"], "time_limit: must be a finite number > 0, got -1.0"),
    (["--time-limit", "0"], "time_limit: must be a finite number > 0, got 0.0"),
    (["--time-limit", "nan"], "time_limit: must be a finite number > 0, got nan"),
    (["--time-limit", "inf"], "time_limit: must be a finite number > 0, got inf"),
    (["--gap", "2"], "gap: must be a number in [0, 1), got 2.0"),
    (["--gap", "1"], "gap: must be a number in [0, 1), got 1.0"),
    (["--gap", "-0.1"], "gap: must be a number in [0, 1), got -0.1"),
    (["--threads", "0"], "threads: must be an integer in [1, 1024], got 0"),
    (["--threads", "5000"], "threads: must be an integer in [1, 1024], got 5000"),
])
@pytest.mark.parametrize("method", ["milp", "rolling"])
def test_bad_solver_options(capsys, args, message, method):
    code = main(["solve", str(HAND_INSTANCE), "--method", method, *args])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, f"error: {message}", cap.out)


def test_solver_options_are_checked_by_the_api_and_grids_too():
    from optcache.instance import load_instance
    from optcache.solvers import registry
    from optcache.study import Grid

    inst = load_instance(HAND_INSTANCE)
    for opts, field in (({"time_limit": -1}, "time_limit"), ({"gap": 2}, "gap"),
                        ({"threads": 0}, "threads"), ({"threads": True}, "threads")):
        with pytest.raises(InvalidInput) as e:
            registry.run("milp", inst, **opts)
        assert e.value.field == field
        with pytest.raises(InvalidInput) as e:
            Grid(methods=["milp"], options={"milp": {k: [5, v] for k, v in opts.items()}})
        assert e.value.field == f"options.milp.{field}"
    ok = registry.run("milp", inst, time_limit=30, gap=0, threads=1)
    assert ok.status == "ok" and ok.termination == "optimal"


def test_nan_is_rejected_with_its_field(tmp_path, capsys):
    d = _inst()
    text = json.dumps(d).replace('"compute_budget_flops": 100.0', '"compute_budget_flops": NaN')
    p = tmp_path / "nan.json"
    p.write_text(text)
    code = main(["evaluate", str(p), str(HAND_SCHEDULE)])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, "stations[0].compute_budget_flops", cap.out)
    assert "finite" in cap.err


@pytest.mark.parametrize("which", ["instance", "schedule"])
def test_missing_file(tmp_path, capsys, which):
    gone = tmp_path / "nowhere.json"
    args = [str(gone), str(HAND_SCHEDULE)] if which == "instance" else [str(HAND_INSTANCE), str(gone)]
    code = main(["evaluate", *args])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, str(gone), cap.out)
    assert f"{which} file not found" in cap.err


def test_directory_instead_of_file(tmp_path, capsys):
    code = main(["evaluate", str(tmp_path), str(HAND_SCHEDULE)])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, str(tmp_path), cap.out)


@pytest.mark.parametrize("command", [
    ["scenario", "--slots", "2", "--stations", "1", "--out"],
    ["solve", str(HAND_INSTANCE), "--method", "all-cloud", "--out"],
    ["export", str(HAND_INSTANCE), "--out"],
])
@pytest.mark.parametrize("target", ["a_file/out.json", "a_dir"])
def test_unwritable_output_is_one_line(tmp_path, capsys, command, target):
    """An --out below a regular file, or onto a directory: one line naming the path, exit 2, and
    nothing left behind."""
    (tmp_path / "a_file").write_text("keep")
    (tmp_path / "a_dir").mkdir()
    out = tmp_path / target
    code = main([*command, str(out)])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, str(out), cap.out)
    assert "cannot write" in cap.err
    assert (tmp_path / "a_file").read_text() == "keep"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a_dir", "a_file"]
    assert list((tmp_path / "a_dir").iterdir()) == []


def test_unknown_method(capsys):
    code = main(["solve", str(HAND_INSTANCE), "--method", "no-such-method"])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, "method", cap.out)
    assert "all-cloud" in cap.err  # the message lists the registered methods


def test_option_a_method_does_not_take(capsys):
    code = main(["solve", str(HAND_INSTANCE), "--method", "all-cloud", "--horizon", "3"])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, "horizon", cap.out)


@pytest.mark.parametrize("args, field", [(["--tail", "exact"], "tail"), (["--window-solver", "gurobi"], "window_solver"),
                                         (["--solver", "lagrange"], "renamed: rolling takes 'window_solver'"),
                                         (["--tail", "relaxed", "--window-solver", "milp"], "tail")])
def test_bad_rolling_options(capsys, args, field):
    code = main(["solve", str(HAND_INSTANCE), "--method", "rolling", *args])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, field, cap.out)


def test_solve_with_bad_instance(tmp_path, capsys):
    d = _inst()
    d["stations"][0]["gpu_memory_gb"] = -1
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(d))
    code = main(["solve", str(p), "--method", "all-cloud"])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, "stations[0].gpu_memory_gb", cap.out)


@pytest.mark.parametrize("args, field", [(["--slots", "0"], "slots"),
                                         (["--vanishing", "-1"], "vanishing"),
                                         (["--access", "radio"], "access"),
                                         (["--users", "-3"], "users"),
                                         (["--seed", "-1"], "seed"),
                                         (["--vanishing", "1e308"], "vanishing: must be a number in [0, 1e12]"),
                                         (["--users", "2000", "--access", "channel"], "users: must be <= 1000"),
                                         (["--slots", "10000000"],
                                          "instance: 10000000 slots × 10 services × 5 stations = 5e+08 "
                                          "request cells, over the budget of 2000000")])
def test_bad_scenario_knobs(tmp_path, capsys, args, field):
    out = tmp_path / "inst.json"
    code = main(["scenario", "--out", str(out), *args])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, field, cap.out)
    assert not out.exists()


def test_subprocess_bad_input_one_line_exit_2(tmp_path):
    """The installed entry point, not just main(): exit status 2, one stderr line, no traceback."""
    d = _inst()
    d["stations"][0]["gpu_memory_gb"] = -80
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(d))
    r = subprocess.run([str(OPTCACHE), "evaluate", str(p), str(HAND_SCHEDULE)],
                       capture_output=True, text=True, timeout=120)
    check_one_line(r.returncode, r.stderr, "stations[0].gpu_memory_gb", r.stdout)
    assert r.stderr.startswith("error: stations[0].gpu_memory_gb: must be >= 0")


def test_subprocess_schedule_mismatch(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"stations": [{"cached": [[1, 0, 0]] * 2,
                                           "edge_requests": [[0, 0, 0]] * 2}]}))
    r = subprocess.run([str(OPTCACHE), "evaluate", str(HAND_INSTANCE), str(p)],
                       capture_output=True, text=True, timeout=120)
    check_one_line(r.returncode, r.stderr, "stations[0].cached", r.stdout)
    assert "expected shape (2, 2)" in r.stderr


def test_cli_usage_errors_are_one_line(capsys):
    from optcache.cli import main

    for argv in (["scenario", "--out", "x.json", "--slots", "abc"], ["no-such-command"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ")


def test_the_python_api_names_what_is_wrong():
    """Wrong types and values through the API: InvalidInput naming the argument or field, not an
    AttributeError or TypeError from deep inside."""
    import numpy as np

    from optcache.evaluator import evaluate
    from optcache.instance import load_instance
    from optcache.scenario import generate
    from optcache.schedule import Schedule
    from optcache.solvers import registry

    inst = load_instance(HAND_INSTANCE)
    cases = [
        (lambda: generate(bogus=1), "bogus", "unknown scenario knob"),
        (lambda: generate({"slots": 3}), "config", "expected a ScenarioConfig, got dict"),
        (lambda: evaluate(None, Schedule.all_cloud(inst)), "inst", "got NoneType"),
        (lambda: evaluate(inst.to_dict(), Schedule.all_cloud(inst)), "inst", "got dict"),
        (lambda: evaluate(inst, None), "schedule", "got NoneType"),
        (lambda: registry.run(["laot"], inst), "method", "expected a method name (a string), got list"),
        (lambda: registry.run("laot", None), "inst", "got NoneType"),
        (lambda: registry.run("laot", inst.to_dict()), "inst", "got dict"),
    ]
    z = np.zeros((inst.slots, inst.n_pairs))
    for value, message in [(np.nan, "must be finite, got nan"), (np.inf, "must be finite, got inf"),
                           (-1e101, "must be >= -1e100")]:
        x = z.copy()
        x[1, 0] = value
        cases.append((lambda x=x: Schedule.from_arrays([(z, x)]), "stations[0].edge_requests[1][0]", message))
    for call, field, message in cases:
        with pytest.raises(InvalidInput) as err:
            call()
        assert err.value.field == field and message in str(err.value), (field, str(err.value))


def test_scenario_knobs_come_out_as_plain_numbers(tmp_path):
    """numpy scalars are knobs like any number, and -0.0 is written as 0.0 (it once reached the
    file as "switching_cost": -0.0)."""
    import numpy as np

    from optcache.scenario import ScenarioConfig, generate

    cfg = ScenarioConfig(slots=np.int64(3), seed=np.int64(2), switching_cost=-0.0, vanishing=np.float64(0.5))
    assert type(cfg.slots) is int and type(cfg.vanishing) is float
    assert str(cfg.switching_cost) == "0.0"
    assert generate(cfg).to_dict() == generate(slots=3, seed=2, switching_cost=0.0, vanishing=0.5).to_dict()
    out = tmp_path / "z.json"
    assert main(["scenario", "--slots", "2", "--stations", "1", "--switching-cost", "-0.0", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["switching_cost"] == 0.0 and "-0.0" not in out.read_text()


def test_export_of_a_station_too_large_names_its_requests(tmp_path, capsys):
    d = _inst()
    d["stations"][0]["requests"] = [[10**15] * len(row) for row in d["stations"][0]["requests"]]
    src = tmp_path / "big.json"
    src.write_text(json.dumps(d))
    out = tmp_path / "big.lp"
    code = main(["export", str(src), "--out", str(out)])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, "stations[0].requests", cap.out)
    assert "too large for an exact solve" in cap.err and not out.exists()


def test_demo_refuses_an_unwritable_out_before_running_anything(tmp_path, capsys, monkeypatch):
    """`optcache demo --out FILE/x` ran every method for minutes, then died in mkdir."""
    from optcache.solvers import registry

    def no_run(*args, **kwargs):
        raise AssertionError("a method ran before --out was checked")

    monkeypatch.setattr(registry, "run", no_run)
    (tmp_path / "a_file").write_text("keep")
    out = tmp_path / "a_file" / "demo"
    code = main(["demo", "--out", str(out)])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, str(out), "")
    assert "a_file is not a directory" in cap.err


def test_the_lower_level_api_refuses_what_it_would_get_wrong(tmp_path):
    """Builders, station solvers, instances and schedules at their edges: silent wrong answers
    (a fraction truncated, a NaN request, index -1 counted from the end, a complex part
    dropped, a NaN limit never reached or gap never met, NaN tangents) and raw errors found by
    the API sweep are one InvalidInput naming the argument."""
    import dataclasses

    import numpy as np

    from optcache.dynamics import State
    from optcache.export import export_problem28
    from optcache.instance import load_instance
    from optcache.models.matrix28 import build_matrix28
    from optcache.models.problem28 import build_problem28
    from optcache.models.problem29 import build_problem29
    from optcache.schedule import Schedule, load_schedule, parse_schedule, save_schedule
    from optcache.solvers import registry
    from optcache.solvers.exact import solve_station
    from optcache.solvers.lagrange import lagrange_station

    inst = load_instance(HAND_INSTANCE)
    d = inst.station_data(0)
    T, P = d.T, d.P
    z = np.zeros((T, P))
    st = inst.stations[0]
    R = np.asarray(st.requests)
    half, nan = R + 0.5, R.astype(float)
    nan[0, 0] = np.nan
    sched = tmp_path / "s.json"
    save_schedule(Schedule.all_cloud(inst), sched)
    cases = [
        (lambda: inst.station_data(1), "n", "station index in [0, 0], got 1"),
        (lambda: inst.station_data(-1), "n", "got -1"),
        (lambda: inst.station_data(0.0), "n", "expected a station index"),
        (lambda: inst.with_requests(0, np.full((T, P), 0.7)), "requests[0][0]", "must be an integer, got 0.7"),
        (lambda: inst.with_requests(0, np.full((T, P), 1e30)), "requests[0][0]", "must be <= 1e15, got 1e+30"),
        (lambda: inst.with_requests(-1, R), "n", "got -1"),
        (lambda: dataclasses.replace(inst, stations=(dataclasses.replace(st, requests=half),)),
         "stations[0].requests[0][0]", "must be an integer"),
        (lambda: dataclasses.replace(inst, stations=(dataclasses.replace(st, requests=nan),)),
         "stations[0].requests[0][0]", "must be finite, got nan"),
        (lambda: Schedule.from_arrays([(z + 1j, z)]), "stations[0].cached", "complex128"),
        (lambda: Schedule.from_arrays([(z, z, z)]), "stations[0]", "(cached, edge_requests) pair"),
        (lambda: Schedule.from_arrays([(z, np.zeros((T, P + 1)))]), "stations[0].edge_requests", "differs"),
        (lambda: Schedule.from_arrays(None), "per_station", "got NoneType"),
        (lambda: save_schedule({"stations": []}, tmp_path / "x.json"), "schedule", "got dict"),
        (lambda: save_schedule(Schedule.all_cloud(inst), None), "path", "got None"),
        (lambda: load_schedule(sched, limits=5), "limits", "got int"),
        (lambda: parse_schedule({"stations": []}, "inst"), "inst", "got str"),
        (lambda: export_problem28(inst, tmp_path / "x.lp", station=0.0), "--station", "expected a station index"),
        (lambda: export_problem28(inst, tmp_path / "x.lp", fmt=3), "--format", "got 3"),
        (lambda: export_problem28(inst, None), "path", "got None"),
        (lambda: export_problem28(inst, tmp_path / "x.lp", schedule={}), "schedule", "Schedule"),
        (lambda: build_problem29(d, T, State.cold(P)), "t", f"slot index in [0, {T - 1}], got {T}"),
        (lambda: build_problem29(d, -1, State.cold(P)), "t", "got -1"),
        (lambda: build_problem29(d, 0, State.cold(P + 1)), "state.cached", f"expected {P} real numbers"),
        (lambda: build_problem29(inst, 0, State.cold(P)), "data", "got Instance"),
        (lambda: build_matrix28(d, tangents={(1, 1): [float("nan")]}), "tangents[(1, 1)]", "finite"),
        (lambda: build_matrix28(d, tangents={(99, 0): [1.0]}), "tangents", "got (99, 0)"),
        (lambda: build_matrix28(d, initial_tangents=-1), "initial_tangents", "got -1"),
        (lambda: build_matrix28(d, deadline=float("nan")), "deadline", "got nan"),
        (lambda: build_problem28(d, tangents=[1, 2]), "tangents", "got list"),
        (lambda: lagrange_station(d, time_limit=float("nan")), "time_limit", "got nan"),
        (lambda: lagrange_station(d, time_limit="5"), "time_limit", "got '5'"),
        (lambda: lagrange_station(d, gap=float("nan")), "gap", "got nan"),
        (lambda: lagrange_station(d, gap=2.0), "gap", "got 2.0"),
        (lambda: lagrange_station(d, state0="x"), "state0", "got str"),
        (lambda: lagrange_station(d, warm_start="ab"), "warm_start", "pair of arrays"),
        (lambda: solve_station(d, time_limit=-1), "time_limit", "got -1"),
        (lambda: solve_station(None), "data", "got NoneType"),
        (lambda: registry.run("lagrange", inst, time_limit=10**400), "time_limit", "an integer of 401 digits"),
        (lambda: registry.check_options("laot", None), "options", "got NoneType"),
    ]
    for call, field, message in cases:
        with pytest.raises(InvalidInput) as err:
            call()
        assert err.value.field == field and message in str(err.value), (field, str(err.value))
    assert not (tmp_path / "x.lp").exists() and not (tmp_path / "x.json").exists()
    # whole counts held as floats, and numpy indices, are what they say
    assert inst.with_requests(np.int64(0), R.astype(float)) == inst
    assert np.array_equal(inst.station_data(np.int64(0)).R, R)


# --------------------------------------------------------------------------- station arrays (API)
@pytest.mark.parametrize("name, value", [
    ("G", -1.0), ("G", float("nan")), ("E", -1.0), ("kappa0", 0.0), ("lam", -1.0), ("rC", 0.0),
    ("w", -5.0), ("w", 0.0), ("delta", -1.0), ("alpha", 2.0), ("beta", 1.0), ("beta", 0.0),
    ("s", float("nan")), ("R", -1), ("R", "shape"), ("k", 0.5)])
def test_station_arrays_out_of_range_are_refused_by_every_solver(name, value):
    """StationData changed by hand (`dataclasses.replace`) meets the instance file's ranges: one
    InvalidInput naming the field from every station solver, never a TypeError or an 'optimal'."""
    from dataclasses import replace

    from optcache.scenario import generate
    from optcache.solvers.exact import solve_station
    from optcache.solvers.lagrange import lagrange_station
    from optcache.solvers.policies import replace_station
    from optcache.solvers.rolling import rolling_station

    d = generate(stations=1, seed=5000, slots=3, services=2, gpus=3, users=8).station_data(0)
    old = getattr(d, name)
    if value == "shape":
        new = d.R[:, :1].copy()
    elif isinstance(old, np.ndarray):
        new = old.copy()
        new.flat[0] = value
    else:
        new = value
    bad = replace(d, **{name: new})
    for solve in (solve_station, lagrange_station, lambda x: replace_station(x, "laot"),
                  lambda x: rolling_station(x, 2, "oracle")):
        with pytest.raises(InvalidInput) as e:
            solve(bad)
        assert e.value.field == f"data.{name}"


def test_a_start_state_no_trajectory_reaches_is_refused():
    """An uncached pair carries no context or AoT ((18)-(19) reset it): a start state claiming one
    is refused by the evaluator and both exact solvers (they once certified 0.5 where the evaluator
    scored a schedule at 0.0207 from it)."""
    from optcache.dynamics import State
    from optcache.evaluator import evaluate_station
    from optcache.instance import Instance, Model, Pair, Service, Station
    from optcache.solvers.exact import solve_station
    from optcache.solvers.lagrange import lagrange_station

    inst = Instance(1, 0.0, 1e-3, (Model("m0", 1.0, 0.0, 2),), (Service("s0", 0.0, 0),),
                    (Pair(0, 0, 0.9, 0.2, 0.0, 0.5),),
                    (Station("n0", 1.0, 1.0, 1.0, 1.0, (0.0,), np.array([[1]])),))
    d = inst.station_data(0)
    for name, st in (("kappa", State(np.zeros(1), np.zeros(1), np.array([3.0]))),
                     ("K", State(np.zeros(1), np.array([1.0]), np.zeros(1)))):
        for call in (lambda s: evaluate_station(d, np.ones((1, 1)), np.ones((1, 1)), s),
                     lambda s: solve_station(d, s), lambda s: lagrange_station(d, s)):
            with pytest.raises(InvalidInput) as e:
                call(st)
            assert e.value.field == f"state0.{name}"
    # cached, the same κ is a legal start: serving the request costs (1 - α)/ln(1/β)/(κ + κ_0)
    # = (1 - 0.9)/ln 5/(3 + 0.001) (κ stays 3: k = 0 tokens and Δ = 0; nothing else is charged)
    ok = State(np.ones(1), np.array([3.0]), np.array([3.0]))
    ev = evaluate_station(d, np.ones((1, 1)), np.ones((1, 1)), ok)
    assert ev.cost == pytest.approx(0.1 / np.log(5.0) / 3.001)


def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path, capsys):
    """`--out` naming a pipe (or a device such as /dev/full) is refused before any work: the
    write-then-rename once replaced the pipe with a regular file and reported it written."""
    import os
    import stat

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main(["scenario", "--slots", "2", "--services", "2", "--out", str(fifo)]) == 2
    assert main(["solve", str(HAND_INSTANCE), "--method", "laot", "--out", str(fifo)]) == 2
    err = capsys.readouterr().err
    assert err.count("not a regular file") == 2 and "Traceback" not in err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_api_calls_with_the_wrong_object_name_the_argument(tmp_path):
    """Public functions handed None (or another wrong object) raise InvalidInput naming the
    argument, not AttributeError or TypeError from deep inside."""
    import optcache
    from optcache.market import dqn
    from optcache.market import experiment as X
    from optcache.market import valuations as V

    cases = [(lambda: optcache.save_instance(None, tmp_path / "x.json"), "instance"),
             (lambda: V.episode_rounds(None, 0), "config"),
             (lambda: V.instance_rounds(None, None), "config"),
             (lambda: X.best_fixed_rho(None), "rounds"),
             (lambda: X.best_fixed_action(None, 10), "rounds"),
             (lambda: X.manipulability(None, None), "rounds"),
             (lambda: dqn.load_checkpoint(None), "path"),
             (lambda: dqn.save_checkpoint(None, tmp_path / "x.pt"), "policy")]
    for call, field in cases:
        with pytest.raises(InvalidInput) as e:
            call()
        assert e.value.field == field
    assert list(tmp_path.iterdir()) == []


def test_tangents_at_a_cache_outside_0_1_names_the_schedule_cell(tmp_path, capsys):
    """The evaluator leaves such a pair's AoT undefined; the error named an internal
    'tangents[(0, 0)]' instead of the cell of the user's file."""
    sched = _sched()
    sched["stations"][0]["cached"][1][0] = 1 + 5e-10
    path = tmp_path / "s.json"
    path.write_text(json.dumps(sched))
    out = tmp_path / "e.lp"
    assert main(["export", str(HAND_INSTANCE), "--out", str(out), "--tangents-at", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: stations[0].cached[1][0]: 1.0000000005 is outside [0, 1]")
    assert not out.exists()


@pytest.mark.parametrize("key, first", [("switching_cost", "-5"), ("stations", "[]"), ("slots", "0")])
def test_a_key_twice_in_one_object_is_refused_naming_it(tmp_path, capsys, key, first):
    """Python's parser keeps the last value: the first one (here out of range) was never seen."""
    text = json.dumps(_inst()).replace(f'"{key}": ', f'"{key}": {first}, "{key}": ', 1)
    p = tmp_path / "dup.json"
    p.write_text(text)
    code = main(["evaluate", str(p), str(HAND_SCHEDULE)])
    cap = capsys.readouterr()
    check_one_line(code, cap.err, f"key '{key}' appears twice", cap.out)


def test_instances_built_in_python_save_as_json_and_load_back(tmp_path):
    """numpy scalars in fields and meta were a TypeError in save; a name that is no string or a
    meta that is no object passed validation, saved, and then was refused on load."""
    import dataclasses as dc

    import optcache
    from optcache.instance import load_instance, save_instance

    inst = optcache.generate(slots=2, stations=1, services=2, seed=0)
    m = dc.replace(inst.models[0], context_tokens=np.int64(2048))
    p0 = dc.replace(inst.pairs[0], service=np.int64(0))
    built = dc.replace(inst, models=(m,) + inst.models[1:], pairs=(p0,) + inst.pairs[1:],
                       meta={"a": np.float64(1.5), "b": np.arange(2)})
    save_instance(built, tmp_path / "i.json")
    back = load_instance(tmp_path / "i.json")
    assert back == built and back.models[0].context_tokens == 2048
    assert json.loads((tmp_path / "i.json").read_text())["meta"] == {"a": 1.5, "b": [0, 1]}
    for change, field in [({"models": (dc.replace(m, name=5),) + inst.models[1:]}, "models[0].name"),
                          ({"stations": (dc.replace(inst.stations[0], name=None),)}, "stations[0].name"),
                          ({"meta": [1]}, "meta"), ({"meta": {"x": float("inf")}}, "meta"),
                          ({"meta": {"x": object()}}, "meta")]:
        with pytest.raises(InvalidInput) as e:
            dc.replace(inst, **change)
        assert e.value.field == field


def test_settings_objects_name_an_unknown_keyword():
    """ScenarioConfig(foo=1) and Args(foo=1) raised Python's TypeError (generate(foo=1) and
    MarketConfig(foo=1) already named the field)."""
    from optcache.market.dqn import Args
    from optcache.scenario import ScenarioConfig

    for make, what in ((ScenarioConfig, "scenario knob"), (Args, "DQMSB argument")):
        with pytest.raises(InvalidInput, match=f"unknown {what}") as e:
            make(slots_per_day=3)
        assert e.value.field == "slots_per_day"
    assert ScenarioConfig(slots=3).slots == 3 and Args(seed=2).seed == 2


@pytest.mark.parametrize("scenario", [-1, "x", [1], {"seed": "7"}, {"seed": True}])
def test_solve_and_export_read_the_seed_of_any_meta(tmp_path, capsys, scenario):
    """`meta` is free-form: `"meta": {"scenario": -1}` made `solve` crash with AttributeError
    (found by the fuzz test's in-range mutations); a seed that is no integer is not recorded."""
    d = _inst()
    d["meta"] = {"scenario": scenario}
    p = tmp_path / "i.json"
    p.write_text(json.dumps(d))
    assert main(["solve", str(p), "--method", "laot"]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"]["seed"] is None
    assert main(["export", str(p), "--format", "lp", "--out", str(tmp_path / "m.lp")]) == 0
    capsys.readouterr()
    d["meta"] = {"scenario": {"seed": 7}}
    p.write_text(json.dumps(d))
    assert main(["solve", str(p), "--method", "laot"]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"]["seed"] == 7


@pytest.mark.parametrize("how", ["plain", "numba"])
def test_ctrl_c_during_a_solve_is_one_line_and_exit_130(monkeypatch, capsys, how):
    """Ctrl-C landing in numba code (rolling, lagrange) came back as a SystemError caused by the
    KeyboardInterrupt: a traceback and exit 1; a plain KeyboardInterrupt gave Python's traceback."""
    from optcache.solvers import registry

    def interrupted(*a, **kw):
        if how == "plain":
            raise KeyboardInterrupt
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise SystemError("CPUDispatcher(<function slot_max>) returned a result with an exception set") from e

    monkeypatch.setattr(registry, "run", interrupted)
    code = main(["solve", str(HAND_INSTANCE), "--method", "laot"])
    cap = capsys.readouterr()
    assert code == 130 and cap.out == "" and "Traceback" not in cap.err
    # typer turns a plain KeyboardInterrupt into exit 130 itself, silently (the shell shows ^C)
    assert cap.err == ("" if how == "plain" else "error: interrupted (nothing written)\n")
