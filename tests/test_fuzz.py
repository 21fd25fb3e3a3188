"""Fuzzing the CLI: mutated instance, schedule and grid files through `optcache.cli.main`.

Every run must end in exit 0 with valid JSON whose costs are finite and non-negative (or null
where documented: an out-of-domain schedule, a method that failed with a message), or in exit 2
with exactly one line on stderr; never an exception (a traceback). The examples are
derandomized so that `make test` is reproducible; `OPTCACHE_FUZZ_EXAMPLES=N` runs N random
examples per test instead (the longer run of benchmarks/RESULTS.md, "Reliability").
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from optcache import study as S
from optcache.cli import main

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data"
LONG = int(os.environ.get("OPTCACHE_FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples: int):
    return settings(max_examples=LONG or examples, derandomize=not LONG, deadline=None,
                    database=None, suppress_health_check=list(HealthCheck))


NASTY = [0, -1, 1, 2, 0.5, -0.5, 1e-320, 5e-324, 1e-7, 1e300, 1e308, -1e308, 2**53, 2**63, 10**30,
         10**400, math.nan, math.inf, -math.inf, "x", "", None, True, False, [], {}, [1], [[1, 2]],
         {"a": 1}]
"""Values a mutation puts anywhere: zero, signs, denormals, float and int extremes, NaN, ±∞,
wrong types."""

EDGES = [1e-12, 1e-6, 0.999999999999, 10**9, 1e9, 1e12, 10**15, 1e15, 1e24, 1e30]
"""Values at the ends of the documented ranges (docs/formulation.md §14): accepted by some fields,
they are where costs would overflow if the ranges were wrong."""

BASES = {
    "hand": (json.loads((DATA / "hand_instance.json").read_text()),
             json.loads((DATA / "hand_schedule.json").read_text())),
}


def _generated() -> tuple[dict, dict]:
    from optcache.scenario import generate
    from optcache.solvers import registry

    inst = generate(slots=3, services=3, stations=2, gpus=2, users=20, seed=1)
    return inst.to_dict(), registry.run("laot", inst).schedule.to_dict()


BASES["generated"] = _generated()


def paths(obj, prefix=()) -> list[tuple]:
    """Every path to a value (containers included) inside a JSON object."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths(v, (*prefix, i))
    return out


def _parent(obj, path):
    for k in path[:-1]:
        obj = obj[k]
    return obj


def range_key(path: tuple) -> str:
    """The `RANGES` key of a JSON path: ("stations", 0, "requests", 1, 2) → "stations[].requests[][]"."""
    key = ""
    for k in path:
        key += "[]" if isinstance(k, int) else (f".{k}" if key else k)
    return key


def in_range(draw, key: str, current):
    """A value the field accepts (docs/formulation.md §14): its ends, a point between, or the current
    value moved; so that mutations also reach the exit-0 paths, not only the refusals."""
    from optcache.instance import RANGES

    r = RANGES[key]
    if r.index_of is not None:
        return 0
    lo, hi = (r.lo if not r.lo_open else r.lo + max(abs(r.lo) * 1e-9, 1e-300)), \
        (r.hi if not r.hi_open else r.hi * (1 - 1e-12))
    v = draw(st.sampled_from([lo, hi, "between", "moved"]))
    if v == "between":
        v = lo + (hi - lo) * draw(st.sampled_from([1e-12, 1e-6, 0.5]))
    elif v == "moved":
        v = min(max(float(current) * draw(st.sampled_from([0.0, 0.5, 2.0, 1e3])), lo), hi)
    return int(v) if r.integer else float(v)


@st.composite
def mutated(draw, obj: dict) -> str:
    """A JSON text: `obj` after one to three structural mutations, then maybe a text mutation."""
    obj = copy.deepcopy(obj)
    for _ in range(draw(st.integers(1, 3))):
        ps = [p for p in paths(obj) if p]
        if not ps:
            break
        path = draw(st.sampled_from(ps))
        parent, key = _parent(obj, path), path[-1]
        op = draw(st.sampled_from(["set", "set", "edge", "edge", "scale", "delete", "duplicate",
                                   "valid", "valid", "valid"]))
        if op == "valid":
            from optcache.instance import RANGES

            if range_key(path) in RANGES and isinstance(parent[key], (int, float)) \
                    and not isinstance(parent[key], bool):
                parent[key] = in_range(draw, range_key(path), parent[key])
        elif op == "set":
            parent[key] = copy.deepcopy(draw(st.sampled_from(NASTY)))
        elif op == "edge":
            parent[key] = draw(st.sampled_from(EDGES))
        elif op == "scale" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            f = draw(st.sampled_from([-1, 10**20, 1e300, 1e-300, 0.5, 3]))
            try:
                parent[key] = parent[key] * f
            except OverflowError:
                parent[key] = math.inf
        elif op == "delete":
            del parent[key]
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    text = json.dumps(obj)
    how = draw(st.sampled_from(["none"] * 6 + ["truncate", "digits", "nest", "token", "key twice"]))
    if how == "truncate":
        text = text[:draw(st.integers(0, len(text)))]
    elif how == "digits":
        text = text.replace("1", "1" + "7" * draw(st.sampled_from([30, 999, 1001, 5000])), 1)
    elif how == "nest":
        n = draw(st.sampled_from([63, 65, 3000]))
        text = text.replace("[", "[" * n, 1).replace("]", "]" * n, 1)
    elif how == "key twice":  # Python's parser would keep the last value unseen
        at = text.find('": ')
        if at > 0:
            name = text[text.rfind('"', 0, at) + 1:at]
            text = text[:at + 3] + f'0, "{name}": ' + text[at + 3:]
    elif how == "token":
        text = text.replace("2", draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"])), 1)
    return text


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """main(argv) with its stdout and stderr captured; an exception fails the test as is."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _reject_constant(name: str):
    raise AssertionError(f"{name} in the JSON output")


def _finite_nonneg(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def check(code: int, out: str, err: str) -> dict | None:
    """Exit 2 with one line, or exit 0 with JSON (no NaN/∞); returns the JSON object."""
    assert "Traceback" not in err
    event(f"exit {code}")
    if code == 2:
        lines = err.strip("\n").split("\n")
        assert len(lines) == 1 and lines[0].startswith("error: ") and out == "", (err, out)
        return None
    assert code == 0, (code, err)
    return json.loads(out, parse_constant=_reject_constant)


def check_terms(obj: dict) -> None:
    """cost and terms: all finite and ≥ 0 with cost = Σ terms, or all null."""
    cost, terms = obj["cost"], obj["terms"]
    if cost is None:
        assert terms is None or all(v is None for v in terms.values())
        return
    assert _finite_nonneg(cost) and all(_finite_nonneg(v) for v in terms.values()), obj
    assert abs(sum(terms.values()) - cost) <= 1e-9 * max(1.0, cost)


def check_evaluation(obj: dict) -> None:
    event("cost null" if obj["cost"] is None else f"feasible {obj['feasible']}")
    check_terms(obj)
    if obj["cost"] is None:
        assert obj["feasible"] is False and obj["violations"]
    assert obj["feasible"] == (not obj["violations"])
    for v in obj["violations"]:
        assert math.isfinite(v["value"]) and math.isfinite(v["limit"])


def check_solve(obj: dict) -> None:
    assert obj["status"] in ("ok", "warning", "error")
    event(f"status {obj['status']}")
    if obj["status"] == "error":
        assert obj["cost"] is None and obj["schedule"] is None
        assert isinstance(obj["message"], str) and obj["message"] and "\n" not in obj["message"]
        return
    check_terms(obj)
    assert obj["cost"] is not None
    if obj["bound"] is not None:
        assert math.isfinite(obj["bound"]) and obj["bound"] <= obj["cost"] * (1 + 1e-9) + 1e-12


@fuzz_settings(120)
@given(data=st.data())
def test_fuzz_evaluate(tmp_path_factory, data):
    inst, sched = BASES[data.draw(st.sampled_from(sorted(BASES)))]
    target = data.draw(st.sampled_from(["instance", "schedule"]))
    d = tmp_path_factory.mktemp("fuzz")
    ip, sp = d / "i.json", d / "s.json"
    ip.write_text(data.draw(mutated(inst)) if target == "instance" else json.dumps(inst))
    sp.write_text(data.draw(mutated(sched)) if target == "schedule" else json.dumps(sched))
    obj = check(*run_cli(["evaluate", str(ip), str(sp)]))
    if obj is not None:
        check_evaluation(obj)


@fuzz_settings(150)
@given(data=st.data())
def test_fuzz_solve(tmp_path_factory, data):
    inst, _ = BASES[data.draw(st.sampled_from(sorted(BASES)))]
    d = tmp_path_factory.mktemp("fuzz")
    ip = d / "i.json"
    ip.write_text(data.draw(mutated(inst)))
    method = data.draw(st.sampled_from(["laot", "laot", "all-cloud", "static", "fifo", "milp"]))
    opts = ["--time-limit", "5"] if method == "milp" else []
    obj = check(*run_cli(["solve", str(ip), "--method", method, *opts, "--out", str(d / "o.json"), "--json"]))
    if obj is None:
        assert not (d / "o.json").exists()
        return
    check_solve(obj)
    if obj["schedule"] is not None:  # the schedule it printed is scored the same by evaluate
        ev = check(*run_cli(["evaluate", str(ip), str(d / "o.json")]))
        assert ev is not None and ev["cost"] == obj["cost"] and ev["feasible"] == (obj["status"] == "ok")


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, (int, str)):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(grid: dict) -> str:
    lines = [f"{k} = {toml_value(v)}" for k, v in grid.items() if not isinstance(v, dict)]
    for k, v in grid.items():
        if isinstance(v, dict):
            if all(isinstance(x, dict) for x in v.values()) and v:
                for name, table in v.items():
                    lines.append(f'[{k}."{name}"]')
                    lines += [f"{kk} = {toml_value(x)}" for kk, x in table.items()]
            else:
                lines.append(f"[{k}]")
                lines += [f"{kk} = {toml_value(x)}" for kk, x in v.items()]
    return "\n".join(lines) + "\n"


BASE_GRID = {"methods": ["all-cloud", "laot", "milp"], "seeds": 2,
             "knobs": {"stations": 1, "services": 2, "slots": 3, "users": 10},
             "options": {"milp": {"time_limit": 5, "gap": 1e-6}}}
GRID_NASTY = [-1, 0, 1, 2, 2.5, 10**9, 10**30, 2**64, 1e308, math.nan, math.inf, "x", True, [],
              [1, 1], ["laot"], {"a": 1}]


def _deletable(path: tuple) -> bool:
    """Any value but the size knobs: without them a grid is the paper's 5-station scenario, on
    which milp (legitimately) runs for hours; their values are fuzzed instead."""
    return not (path[0] == "knobs" and len(path) == 2 and path[1] in ("stations", "services", "slots")) \
        and path != ("knobs",)


@fuzz_settings(15)
@given(data=st.data())
def test_fuzz_study_grid(tmp_path_factory, data):
    grid = copy.deepcopy(BASE_GRID)
    for _ in range(data.draw(st.integers(1, 2))):
        leaves = [p for p in paths(grid) if p and not isinstance(_parent(grid, p)[p[-1]], dict)]
        if not leaves:
            break
        path = data.draw(st.sampled_from(leaves))
        parent, key = _parent(grid, path), path[-1]
        op = data.draw(st.sampled_from(["set", "set", "set", "delete", "unknown"]))
        if op == "set":
            parent[key] = copy.deepcopy(data.draw(st.sampled_from(GRID_NASTY)))
        elif op == "delete" and _deletable(path):
            del parent[key]
        elif op == "unknown" and isinstance(parent, dict):
            parent["colour"] = 1
    d = tmp_path_factory.mktemp("fuzz")
    g, out = d / "g.toml", d / "r.parquet"
    text = to_toml(grid)
    if data.draw(st.booleans()) and data.draw(st.booleans()):
        text = text.replace("2", "2" + "0" * data.draw(st.sampled_from([50, 5000])), 1)
    g.write_text(text)
    code, stdout, err = run_cli(["study", str(g), "--out", str(out), "--workers", "1", "--no-progress"])
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip("\n").split("\n")
        assert len(lines) == 1 and lines[0].startswith("error: ") and stdout == "", (err, stdout)
        assert not out.exists()
        return
    assert code == 0 and stdout.startswith(f"wrote {out}: "), (code, err)
    event("study ran")
    df = S.read_results(out)
    assert sorted(p.name for p in d.iterdir()) == ["g.toml", "r.parquet"]  # no journal, no lock
    assert df["status"].isin(["ok", "warning", "error"]).all() and df["cell"].is_unique
    ok = df[df["status"] != "error"]
    assert ok["cost"].map(_finite_nonneg).all()
    assert (df.loc[df["status"] == "error", "message"].str.len() > 0).all()
