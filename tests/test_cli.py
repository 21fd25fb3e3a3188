"""The CLI contract of docs/formulation.md §14 on the hand instance: solve -> JSON -> evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optcache.cli import main

DATA = Path(__file__).resolve().parent / "data"
HAND_INSTANCE = DATA / "hand_instance.json"

# all-cloud on the hand instance (worked out in tests/test_evaluator.py): 19.75.
# static on the hand instance: both pairs have requests (totals 9 and 4) and fit together
# (10 + 10 ≤ 20 GB), so both are loaded in slot 1 and kept. Serving all-or-nothing (§8 step 3):
#   slot 1: pair 0 (R = 3): 3·14 = 42 FLOP, K = 21 ≤ 50 -> x = 3; pair 1 (R = 2): 42 + 40 = 82
#           ≤ 100, K = 8 ≤ 8 -> x = 2
#   slot 2: pair 0 (R = 6): K would be 21 + 42 = 63 > 50 -> x = 0; pair 1: 8 + 8 > 8 -> x = 0
# κ after slot 1: pair 0: 21 - 5 = 16, pair 1: max(8 - 8, 0) = 0.
#   slot 1 = switching 2·0.5 + transmission (3·0.5 + 2·0.25) + computing (3·0.7 + 2·1)
#            + accuracy (3·1/(16+1) + 2·2/(0+1)) + cloud 0 = 1 + 2 + 4.1 + 4 + 3/17
#   slot 2 = transmission (3.5 + 6·1 + 2·2) + cloud (6·1 + 2·2) = 13.5 + 10 = 23.5
#   cost = (11.1 + 3/17 + 23.5)/2 = 17.3 + 3/34
STATIC_COST = 17.3 + 3 / 34


def test_methods_lists_the_references(capsys):
    assert main(["methods"]) == 0
    names = [ln.split()[0] for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert {"all-cloud", "static"} <= set(names)


def test_every_method_has_a_home_module():
    # registry.get(name) imports only the module in _HOME: it must be the one that registers it
    from optcache.solvers import registry

    assert set(registry._HOME) == set(registry.names())
    for name, module in registry._HOME.items():
        assert registry.get(name).func.__module__ == module, name


@pytest.mark.parametrize("method, cost", [("all-cloud", 19.75), ("static", STATIC_COST)])
def test_solve_then_evaluate(tmp_path, capsys, method, cost):
    out = tmp_path / "solved.json"
    assert main(["solve", str(HAND_INSTANCE), "--method", method, "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"method", "status", "cost", "bound", "seconds", "schedule"} <= set(printed)
    assert printed["method"] == method and printed["status"] == "ok"
    assert printed["bound"] is None  # heuristics certify nothing
    assert printed["cost"] == pytest.approx(cost, rel=1e-12)
    assert json.loads(out.read_text()) == printed
    # the solve output is itself a valid schedule file for `optcache evaluate`
    assert main(["evaluate", str(HAND_INSTANCE), str(out)]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["feasible"] is True and ev["cost"] == pytest.approx(cost, rel=1e-12)


def test_static_schedule_on_the_hand_instance(capsys):
    assert main(["solve", str(HAND_INSTANCE), "--method", "static"]) == 0
    sched = json.loads(capsys.readouterr().out)["schedule"]["stations"][0]
    assert sched["cached"] == [[1, 1], [1, 1]]
    assert sched["edge_requests"] == [[3, 2], [0, 0]]


def test_rolling_with_the_relaxed_tail_on_the_hand_instance(capsys):
    # the CLI's options reach rolling: H = 1 with the relaxed tail and lagrange windows finds the
    # hand instance's optimum, 504.5/34 (brute force; `lagrange` certifies the same), and, being a
    # heuristic, reports no bound (the tail's effect itself: tests/test_rolling.py)
    from optcache.instance import load_instance
    from tests.bruteforce import brute_force

    optimum = brute_force(load_instance(HAND_INSTANCE).station_data(0))[0]
    assert optimum == pytest.approx(504.5 / 34, rel=1e-12) and optimum < STATIC_COST
    assert main(["solve", str(HAND_INSTANCE), "--method", "lagrange", "--gap", "1e-9"]) == 0
    opt = json.loads(capsys.readouterr().out)
    assert opt["cost"] == pytest.approx(optimum, rel=1e-12) and opt["bound"] <= optimum * (1 + 1e-12)
    assert main(["solve", str(HAND_INSTANCE), "--method", "rolling", "--horizon", "1",
                 "--tail", "relaxed", "--window-solver", "lagrange"]) == 0
    roll = json.loads(capsys.readouterr().out)
    assert roll["status"] == "ok" and roll["bound"] is None
    assert roll["cost"] == pytest.approx(optimum, rel=1e-12)


@pytest.mark.parametrize("args, grid_options", [
    (["--method", "rolling", "--horizon", "-1"], "horizon = -1"),
    (["--method", "rolling", "--forecast", "psychic"], 'forecast = "psychic"'),
    (["--method", "rolling", "--tail", "relaxed", "--window-solver", "milp"],
     'tail = "relaxed"\nwindow_solver = "milp"'),
    (["--method", "milp", "--solver", "nosuchsolver"], 'solver = "nosuchsolver"'),
    (["--method", "milp", "--solver-option", "nosuch=1"], "solver_options = {nosuch = 1}"),
])
def test_solve_and_a_study_grid_refuse_the_same_option_values(tmp_path, capsys, args, grid_options):
    """One check per rule (the registry's, the method's own included): `solve` and a study grid
    refuse a value with the same line, the grid's naming the option under options.METHOD."""
    assert main(["solve", str(HAND_INSTANCE), *args]) == 2
    solved = capsys.readouterr().err.strip().splitlines()
    method = args[1]
    grid = tmp_path / "g.toml"
    grid.write_text(f'methods = ["{method}"]\n[options.{method}]\n{grid_options}\n')
    assert main(["study", str(grid), "--out", str(tmp_path / "r.parquet"), "--no-progress"]) == 2
    studied = capsys.readouterr().err.strip().splitlines()
    assert len(solved) == len(studied) == 1
    assert studied[0] == solved[0].replace("error: ", f"error: options.{method}.", 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml"]


def test_python_dash_m_runs_the_cli():
    """`python -m optcache` is the `optcache` command: exit code 0 and the registry's methods."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "optcache", "methods"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "lagrange" in out.stdout and "all-cloud" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "optcache", "solve", "nope.json"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "nope.json" in bad.stderr


def test_registering_a_taken_name_is_refused_naming_the_holder(monkeypatch):
    """`@register("static")` in a user's module replaced the built-in until the next `names()`
    call silently put it back; a second method under a user's name replaced the first."""
    from optcache.errors import InvalidInput
    from optcache.solvers import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.names()

    def static(inst):
        """Mine."""

    with pytest.raises(InvalidInput, match="'static' is a built-in method; register"):
        registry.register("static")(static)
    assert registry.get("static").func.__module__ == "optcache.solvers.reference"

    def mine(inst):
        """Mine."""

    registry.register("mine")(mine)
    registry.register("mine")(mine)  # the same function again (a re-run notebook cell): fine

    def other(inst):
        """Another."""

    with pytest.raises(InvalidInput, match="'mine' is already registered by .*test_cli.*mine"):
        registry.register("mine")(other)
    assert registry.get("mine").func is mine


PLUGIN = '''"""A method from another package, found through the optcache.methods entry point."""
import time

from optcache.results import MethodResult
from optcache.schedule import Schedule
from optcache.solvers import registry


@registry.register("cloud-twin")
def cloud_twin(inst):
    """All to the cloud, from a plugin package."""
    t0 = time.perf_counter()
    return MethodResult.from_schedule(inst, "cloud-twin", Schedule.all_cloud(inst), time.perf_counter() - t0)
'''


def _plugin_package(root):
    """A minimal installed distribution (dist-info with an entry point) holding PLUGIN."""
    (root / "cloud_twin_plugin").mkdir()
    (root / "cloud_twin_plugin" / "__init__.py").write_text(PLUGIN)
    info = root / "cloud_twin_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cloud-twin-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[optcache.methods]\ncloud-twin = cloud_twin_plugin\n")
    return root


def test_methods_of_other_packages_are_found_through_their_entry_point(tmp_path, monkeypatch):
    """A researcher's own package declares its module under the optcache.methods entry point;
    the CLI, studies and their workers then know its methods (they could not: 'unknown method')."""
    import subprocess
    import sys

    import optcache
    from optcache.solvers import registry

    root = _plugin_package(tmp_path)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_loaded", False)
    inst = optcache.generate(slots=3, services=2, stations=1, seed=0)
    res = registry.run("cloud-twin", inst)
    assert res.cost == registry.run("all-cloud", inst).cost and "cloud-twin" in registry.names()
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    cli = [sys.executable, "-m", "optcache"]
    out = subprocess.run([*cli, "methods"], capture_output=True, text=True, env=env, check=True).stdout
    assert "cloud-twin" in out and "from a plugin package" in out
    # a plugin that fails to import is named, not an unknown method
    (root / "cloud_twin_plugin" / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    bad = subprocess.run([*cli, "methods"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "entry point optcache.methods:cloud-twin" in bad.stderr and "broken on purpose" in bad.stderr


def test_demo_prints_no_nan_where_a_cell_does_not_apply(tmp_path):
    """Heuristics have no bound or gap: the printed cost table shows "-" there, not NaN, while
    summary.csv keeps the cells empty (the standard: every number printed is finite)."""
    import re

    import pandas as pd

    from optcache.demo import NA, run_demo
    lines: list[str] = []
    run_demo(tmp_path, methods={"all-cloud": {}, "laot": {}}, market=False, echo=lines.append)
    text = "\n".join(lines)
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    at = next(i for i, ln in enumerate(lines) if ln.startswith("\nCost per method"))
    rows = {ln.split()[0]: ln.split() for ln in lines[at + 1].splitlines()[2:]}
    for m in ("all-cloud", "laot"):  # method, status, termination, cost, bound, gap, ...
        assert rows[m][1:3] == ["ok", "heuristic"] and rows[m][4:6] == [NA, NA]
    csv = pd.read_csv(tmp_path / "summary.csv", index_col="method")
    assert csv["bound"].isna().all() and (csv["cost"] > 0).all()
