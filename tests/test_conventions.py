"""Issue 12: the conventions researchers expect, through the CLI's entry point where they are CLI.

--version and -h, a quiet CLI with a summary, -v/-q mapped to logging, options with help and
units, `methods --json`, milp through a Pyomo-driven solver, LP/MPS export, provenance in every
result, files with the user's umask, start-up time, and the numba kernels cached by `warmup`.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optcache.cli import app, main
from optcache.errors import InvalidInput
from optcache.instance import write_atomic
from optcache.scenario import generate
from optcache.solvers import registry

ROOT = Path(__file__).resolve().parents[1]
HAND_INSTANCE = ROOT / "tests" / "data" / "hand_instance.json"
OPTCACHE = Path(sys.executable).parent / "optcache"
SMALL = dict(slots=8, services=4, gpus=4, stations=1, seed=7)


def cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The installed entry point, as a user runs it."""
    return subprocess.run([str(OPTCACHE), *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inst") / "small.json"
    assert main(["scenario", "--out", str(path), *sum(([f"--{k}", str(v)] for k, v in SMALL.items()), [])]) == 0
    return path


# --------------------------------------------------------------------------- 1. the CLI
def test_version_help_and_bare_command():
    from optcache import __version__

    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith(f"optcache {__version__} (Python ")
    r = cli("-h")
    assert r.returncode == 0 and "Usage: optcache" in r.stdout and "export" in r.stdout
    r = cli("solve", "-h")
    assert r.returncode == 0 and "--window-time-limit SECONDS" in r.stdout
    r = cli()  # bare: the help, no empty error line
    assert r.returncode == 0 and "Usage: optcache" in r.stdout and r.stderr == ""
    r = cli("study", "--help")  # brackets of the grid's table names survive the help renderer
    assert r.returncode == 0
    flat = " ".join(r.stdout.split())
    assert "[knobs], [[sweep]] and [options.METHOD]" in flat


def _commands():
    import typer.main

    from optcache.cli import _register_commands

    _register_commands()
    root = typer.main.get_command(app)
    out = []
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None)
        out += [(f"{name} {s}", c) for s, c in subs.items()] if subs else [(name, cmd)]
    return out


def test_every_option_has_help_and_the_numeric_ones_a_unit():
    units = ("seconds", "slots", "tokens", "GB", "cost units", "(s)", "FRACTION", "N", "per",
             "epoch", "episodes", "stations", "services", "users", "GPUs", "models", "width",
             "step", "|A|", "γ", "dots per inch", "seed", "Seed", "(0-based)", "threads")
    for name, cmd in _commands():
        for p in cmd.params:
            if p.name in ("help",):
                continue
            text = getattr(p, "help", None) or ""
            assert text.strip(), f"{name}: {p.name} has no help"
            if getattr(p, "type", None) is not None and p.type.name in ("integer", "float") and not p.count:
                shown = f"{text} {p.metavar or ''}"
                assert any(u in shown for u in units), f"{name} --{p.name}: no unit in {text!r}"


@pytest.mark.slow
def test_solve_prints_a_summary_with_out_and_json_otherwise(small, tmp_path):
    out = tmp_path / "laot.json"
    r = cli("solve", str(small), "--method", "laot", "--out", str(out))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) <= 12 and lines[0].startswith("laot on ") and "termination heuristic" in lines[0]
    saved = json.loads(out.read_text())
    assert f"cost       {saved['cost']:.6g}" in r.stdout and "terms      switching" in r.stdout
    assert "seconds" in r.stdout and "bound      -" in r.stdout
    r = cli("solve", str(small), "--method", "laot", "--out", str(out), "--json")
    assert json.loads(r.stdout)["cost"] == saved["cost"]
    r = cli("solve", str(small), "--method", "laot")
    assert json.loads(r.stdout)["schedule"] == saved["schedule"]
    r = cli("solve", str(small), "--method", "laot", "--summary")
    assert r.stdout.startswith("laot on ") and "wrote" not in r.stdout


def test_progress_on_stderr_by_default_q_silences_v_adds_solver_logs(small, capsys):
    # lagrange logs through optcache.solvers.lagrange.search ("root bound" at INFO), milp its rounds
    assert main(["solve", str(small), "--method", "lagrange", "--json"]) == 0
    err = capsys.readouterr().err
    assert "lagrange: root bound" in err and "lagrange: station 0 optimal" in err
    assert main(["solve", str(small), "--method", "lagrange", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["solve", str(small), "--method", "milp"]) == 0
    cap = capsys.readouterr()
    assert "milp round 1: MILP optimal" in cap.err and "debug:" not in cap.err
    json.loads(cap.out)  # stdout is the result only
    assert main(["-v", "solve", str(small), "--method", "milp"]) == 0  # -v before or after
    err = capsys.readouterr().err
    assert "debug: solvers.highs: " in err and "MIP has" in err  # HiGHS's own log
    assert main(["solve", str(small), "--method", "milp", "-v"]) == 0
    assert "debug: solvers.highs: " in capsys.readouterr().err


def test_highs_progress_line_in_a_long_solve(monkeypatch, caplog):
    # one INFO line every PROGRESS_SECONDS inside a HiGHS solve (nodes, incumbent, bound, gap)
    import logging

    from optcache.solvers import highs

    monkeypatch.setattr(highs, "PROGRESS_SECONDS", 0.0)
    inst = generate(**SMALL)
    with caplog.at_level(logging.INFO, logger="optcache"):
        registry.run("milp", inst)
    lines = [r.getMessage() for r in caplog.records if r.name == "optcache.solvers.highs"]
    assert lines and all(" nodes, incumbent " in ln and ", bound " in ln and ", gap " in ln for ln in lines)
    caplog.clear()  # under a time limit HiGHS runs in a forked child, which passes its lines on
    with caplog.at_level(logging.INFO, logger="optcache"):
        registry.run("milp", inst, time_limit=60)
    lines = [r.getMessage() for r in caplog.records if r.name == "optcache.solvers.highs"]
    assert lines and all(" nodes, incumbent " in ln and ", bound " in ln and ", gap " in ln for ln in lines)


@pytest.mark.slow
def test_methods_json_lists_options_defaults_and_exactness():
    r = cli("methods", "--json")
    assert r.returncode == 0
    methods = {m["name"]: m for m in json.loads(r.stdout)["methods"]}
    assert set(methods) == set(registry.names())
    assert methods["milp"]["exact"] and methods["lagrange"]["exact"] and not methods["laot"]["exact"]
    opts = {o["name"]: o for o in methods["milp"]["options"]}
    assert opts["solver"]["default"] == "highs" and opts["gap"]["default"] == 1e-6
    assert opts["time_limit"]["default"] is None and "whole method" in opts["time_limit"]["help"]
    roll = {o["name"]: o for o in methods["rolling"]["options"]}
    assert roll["window_solver"]["default"] == "lagrange" and roll["horizon"]["default"] == 12
    assert "each rolling-horizon window" in roll["window_time_limit"]["help"]
    assert all(o["help"] for m in methods.values() for o in m["options"])


def test_rolling_old_solver_option_names_the_new_one(capsys):
    assert main(["solve", str(HAND_INSTANCE), "--method", "rolling", "--solver", "milp"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: solver: renamed: rolling takes 'window_solver' (--window-solver on the "
                   "command line) for what 'solver' meant")


# --------------------------------------------------------------------------- 2. solvers, export
@pytest.fixture(scope="module")
def optimum():
    inst = generate(**SMALL)
    res = registry.run("milp", inst)
    assert res.termination == "optimal" and res.solver == "highs"
    return inst, res


@pytest.mark.parametrize("solver", ["pyomo:highs", "appsi_highs"])
def test_milp_through_pyomo_reaches_the_same_certified_optimum(optimum, solver):
    inst, direct = optimum
    res = registry.run("milp", inst, solver=solver)
    assert res.termination == "optimal" and res.status == "ok"
    assert res.cost == pytest.approx(direct.cost, rel=1e-6)
    assert res.bound <= res.cost and res.gap <= 1e-6
    assert res.solver == solver and res.solver_version.startswith("1.")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cbc") is None, reason="CBC not installed (Debian: coinor-cbc)")
def test_milp_with_cbc_through_the_cli(optimum, small, tmp_path):
    _, direct = optimum
    out = tmp_path / "cbc.json"
    r = cli("solve", str(small), "--method", "milp", "--solver", "cbc", "--solver-option", "seconds=60",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["termination"] == "optimal" and res["cost"] == pytest.approx(direct.cost, rel=1e-6)
    assert res["solver"] == "cbc" and res["solver_version"].startswith("2.")
    assert res["provenance"]["solver"] == {"name": "cbc", "version": res["solver_version"]}
    assert "milp (cbc) round 1:" in r.stderr


def test_solver_options_reach_highs_and_bad_ones_are_refused(small, capsys):
    from optcache.models.matrix28 import build_matrix28
    from optcache.solvers.highs import MatrixSolver

    data = generate(**SMALL).station_data(0)
    h = MatrixSolver(build_matrix28(data), options={"presolve": "off", "mip_heuristic_effort": 0.2}).h
    assert h.getOptionValue("presolve")[1] == "off" and h.getOptionValue("mip_heuristic_effort")[1] == 0.2
    assert main(["solve", str(small), "--method", "milp", "--solver-option", "presolve=off", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["termination"] == "optimal"
    for args, text in ((["--solver-option", "no_such_option=1"], "error: solver_options.no_such_option: HiGHS refuses 1"),
                       (["--solver-option", "presolve"], "error: --solver-option: expected KEY=VALUE"),
                       (["--solver", "no-such-solver"], "error: solver: unknown solver 'no-such-solver'"),
                       (["--solver", "gurobi"], "error: solver: gurobi is not installed or not licensed")):
        assert main(["solve", str(small), "--method", "milp", *args]) == 2
        cap = capsys.readouterr()
        assert cap.err.startswith(text) and len(cap.err.strip().splitlines()) == 1 and cap.out == ""


def _solve_file(path: Path) -> float:
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(path))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.run()
    return h.getInfo().objective_function_value


@pytest.mark.slow
def test_export_writes_the_relaxation_as_lp_and_mps(optimum, small, tmp_path):
    _, direct = optimum
    values = {}
    for name, extra in (("m.lp", []), ("m.mps", []), ("n.lp", ["--form", "network"]),
                        ("x.model", ["--format", "mps"])):
        r = cli("export", str(small), "--out", str(tmp_path / name), *extra)
        assert r.returncode == 0 and "a relaxation: its optimum is a lower bound" in r.stdout, r.stderr
        values[name] = _solve_file(tmp_path / name) if name != "x.model" else None
    text = (tmp_path / "m.lp").read_text()
    assert text.startswith("\\ optcache export: problem (28) of station 0")
    assert "OPTIMUM OF THIS MILP IS A LOWER BOUND" in text and "schema optcache/export@1" in text
    assert "\\   pair 0, 1 served: " in text and "memory_3" in text  # tangents listed, rows named
    assert (tmp_path / "m.mps").read_text().startswith("* optcache export")
    assert values["m.lp"] == pytest.approx(values["m.mps"], rel=1e-9)  # one model, two formats
    for v in (values["m.lp"], values["n.lp"]):  # a relaxation: below the certified optimum
        assert v <= direct.cost * (1 + 1e-9) and v >= 0.9 * direct.cost
    r = cli("export", str(small), "--out", str(tmp_path / "y.lp"), "--station", "1")
    assert r.returncode == 2 and r.stderr.startswith("error: --station: must be a station index in [0, 0]")


# --------------------------------------------------------------------------- 3. provenance
def test_solve_json_carries_its_provenance(small, tmp_path):
    from optcache import __version__

    assert main(["solve", str(small), "--method", "milp", "--out", str(tmp_path / "m.json"), "-q"]) == 0
    obj = json.loads((tmp_path / "m.json").read_text())
    p = obj["provenance"]
    assert obj["format"] == p["schema"] == "optcache/solve@1"
    assert p["optcache"] == __version__ and p["python"] == ".".join(map(str, sys.version_info[:3]))
    assert p["seed"] == SMALL["seed"] and p["solver"] == {"name": "highs", "version": obj["solver_version"]}
    assert {"numpy", "pyomo", "highspy"} <= set(p["packages"]) and all(p["packages"].values())
    assert obj["details"] == {"time_limit": None, "stations_optimal": 1}


def _grid(path: Path, time_limit: int) -> Path:
    path.write_text(f'methods = ["static", "milp"]\nseeds = [0, 1]\n[knobs]\nstations = 1\nservices = 2\n'
                    f'slots = 3\n[options.milp]\ntime_limit = {time_limit}\n')
    return path


def test_provenance_records_what_it_is_given_and_refuses_the_rest():
    """Schemas are ASCII 'kind@N' ('@²' made int() raise, '@١' read as 1); a seed is JSON even as
    a numpy integer; packages are names, not a string read letter by letter; extra fields cannot
    overwrite the recorded versions."""
    from optcache.errors import InvalidInput
    from optcache.provenance import (
        STUDY_SCHEMA,
        check_schema,
        package_version,
        parse_schema,
        provenance,
    )

    assert parse_schema("optcache/study@12") == ("optcache/study", 12)
    assert parse_schema("optcache/study@²") is None and parse_schema("optcache/study@١") is None
    with pytest.raises(InvalidInput, match="not an optcache/study file"):
        check_schema("optcache/study@²", STUDY_SCHEMA, "f.parquet")
    rec = provenance(STUDY_SCHEMA, packages=("numpy",), seed=np.int64(3), study={"a": 1})
    assert json.loads(json.dumps(rec))["seed"] == 3 and rec["study"] == {"a": 1}
    assert list(rec["packages"]) == ["numpy"] and rec["packages"]["numpy"] == np.__version__
    for call, field in [(lambda: provenance(STUDY_SCHEMA, packages="numpy"), "packages"),
                        (lambda: provenance(STUDY_SCHEMA, python="x"), "python"),
                        (lambda: package_version(None), "name"),
                        (lambda: check_schema("optcache/study@1", "garbage", "f"), "expected")]:
        with pytest.raises(InvalidInput) as e:
            call()
        assert e.value.field == field


def test_study_table_carries_schema_versions_and_grid(tmp_path, capsys):
    import pyarrow.parquet as pq

    from optcache import study as S

    out = tmp_path / "r.parquet"
    assert main(["study", str(_grid(tmp_path / "g.toml", 30)), "--out", str(out), "--workers", "1",
                 "--no-progress"]) == 0
    meta = json.loads(pq.read_schema(out).metadata[b"optcache"])  # any Parquet reader sees it
    assert meta["schema"] == "optcache/study@1" and meta["packages"]["pyarrow"]
    (spec,) = meta["grid"].values()
    assert spec["methods"] == ["static", "milp"] and spec["seeds"] == [0, 1]
    assert spec["options"] == {"milp": {"time_limit": [30]}} and spec["knobs"]["slots"] == [3]
    df = S.read(out)
    assert df.attrs["optcache"]["grid"] == meta["grid"] and len(df) == 4
    # another grid (time_limit 60) is refused unless told to append, then both grids are recorded
    g60 = _grid(tmp_path / "g60.toml", 60)
    capsys.readouterr()
    assert main(["study", str(g60), "--out", str(out), "--workers", "1", "--no-progress"]) == 2
    assert "holds the results of another grid" in capsys.readouterr().err
    assert main(["study", str(g60), "--out", str(out), "--workers", "1", "--no-progress", "--append"]) == 0
    df = S.read(out)
    assert len(df["label"].unique()) == 3 and len(df.attrs["optcache"]["grid"]) == 2
    # read() checks the schema: a newer one or another kind of file is refused
    for schema, text in (("optcache/study@2", "newer than this optcache"), ("optcache/figures@1", "not an optcache/study")):
        bad = tmp_path / f"{schema.replace('/', '_')}.parquet"
        d = df.copy()
        d.attrs = {"optcache": {**df.attrs["optcache"], "schema": schema}}
        d.to_parquet(bad)
        with pytest.raises(InvalidInput, match=text):
            S.read(bad)


@pytest.mark.slow
def test_figures_formats_units_and_manifest(tmp_path):
    from optcache import figures as F
    from optcache import study as S

    grid = S.Grid(methods=("all-cloud", "laot", "milp"), seeds=(0, 1),
                  knobs={"stations": 1, "services": 2, "slots": [3, 4]})
    df = S.run_study(grid, tmp_path / "r.parquet", workers=1, progress=False)
    for fmt, magic in (("svg", b"<?xml"), ("pdf", b"%PDF")):
        r = cli("figures", str(tmp_path / "r.parquet"), "--out", str(tmp_path / fmt), "--format", fmt, "--dpi", "72")
        assert r.returncode == 0, r.stderr
        names = [Path(p).name for p in r.stdout.split()]
        assert names == [f"cost_vs_slots.{fmt}", f"terms_vs_slots.{fmt}", f"gap_to_best_bound.{fmt}"]
        assert all((tmp_path / fmt / n).read_bytes().startswith(magic) for n in names)
    man = json.loads((tmp_path / "svg" / "figures.json").read_text())
    assert man["format"] == "optcache/figures@1" and man["provenance"]["study"]["schema"] == "optcache/study@1"
    assert [f["table"] for f in man["figures"]] == ["cost_vs_slots.csv", "terms_vs_slots.csv", "gap_to_best_bound.csv"]
    gaps = pd.read_csv(tmp_path / "svg" / "gap_to_best_bound.csv")
    ok = df[df["status"] == "ok"]
    assert gaps["gap_to_best_bound_pct"].max() == pytest.approx(100 * ok["gap_to_best_bound"].max())
    assert r.returncode == 0 and cli("figures", str(tmp_path / "r.parquet"), "--out", str(tmp_path / "x"),
                                     "--format", "bmp").returncode == 2
    # the plotting API: a table and an optional axes in, the figure out; units on every axis
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3)
    assert F.cost_vs_knob(ok, "slots", ax=axes[0]) is fig
    assert F.gap_by_method(ok, ax=axes[1]) is fig
    assert F.cost_by_method(ok, ax=axes[2]) is fig
    assert axes[0].get_ylabel() == F.COST_LABEL and "[cost units]" in F.COST_LABEL
    assert axes[0].get_xlabel() == "time slots T [slots]" and "[%]" in axes[1].get_ylabel()
    assert len(axes[0].get_lines()) == ok["label"].nunique()  # one line per method
    plt.close(fig)
    fig = F.terms_vs_knob(ok, "slots")
    assert len(fig.legends[0].get_texts()) == 5  # the five terms, not one entry per method too
    assert sum(ax.get_visible() for ax in fig.axes) == ok["label"].nunique()  # one panel per method
    plt.close(fig)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o027])
def test_files_are_written_with_the_users_umask(tmp_path, mask, small):
    old = os.umask(mask)
    try:
        write_atomic(tmp_path / "a.json", "{}")
        assert main(["solve", str(small), "--method", "laot", "--out", str(tmp_path / "s.json"), "-q"]) == 0
        assert main(["export", str(small), "--out", str(tmp_path / "m.lp")]) == 0
    finally:
        os.umask(old)
    for name in ("a.json", "s.json", "m.lp"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name


def test_study_and_figures_files_follow_the_umask(tmp_path):
    from optcache import figures as F
    from optcache import study as S

    old = os.umask(0o027)
    try:
        df = S.run_study(S.Grid(methods=("static",), knobs={"stations": 1, "services": 2, "slots": 3}),
                         tmp_path / "r.parquet", workers=1, progress=False)
        paths = F.figures(df, tmp_path / "f")
    finally:
        os.umask(old)
    for p in [tmp_path / "r.parquet", *paths, tmp_path / "f" / "figures.json"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p


# --------------------------------------------------------------------------- 4. the market
SMALL_MARKET = dict(episodes=2, train_instances=2, eval_instances=1, seed=1)


@pytest.fixture
def small_default(monkeypatch, tmp_path):
    """`market evaluate` without --checkpoint on a small configuration, cached under tmp_path."""
    from optcache.cli import market as cli_market
    from optcache.market.dqn import Args
    from optcache.market.valuations import MarketConfig

    monkeypatch.setenv("OPTCACHE_CACHE_DIR", str(tmp_path / "cache"))
    args = Args(**SMALL_MARKET, market=MarketConfig(slots=40, services=6, stations=3))
    monkeypatch.setattr(cli_market, "default_args", lambda: args)
    return tmp_path / "cache"


@pytest.mark.slow
def test_market_evaluate_caches_the_default_policy(small_default, capsys):
    assert main(["market", "evaluate", "--json", "--no-progress"]) == 0
    cap = capsys.readouterr()
    first = json.loads(cap.out)
    (ck,) = small_default.glob("dqmsb-*.pt")
    assert "market: training the default policy once" in cap.err
    assert f"market: trained the default policy and cached it in {ck}" in cap.err
    assert first["policy"] == {"source": "default policy, trained now and cached", "checkpoint": str(ck),
                               "key": ck.stem.removeprefix("dqmsb-")}
    assert first["seed"] == 1 and first["training"]["epochs"] == 2 and first["rounds"] > 0
    assert first["units"]["efficiency"].startswith("total surplus / first-best")
    mtime = ck.stat().st_mtime_ns
    assert main(["market", "evaluate", "--json", "--no-progress"]) == 0
    cap = capsys.readouterr()
    second = json.loads(cap.out)
    assert cap.err.strip() == f"market: using the default policy cached in {ck}"
    assert ck.stat().st_mtime_ns == mtime and second["policy"]["source"] == "default policy, from the cache"
    assert second["mechanisms"] == first["mechanisms"]
    # training is reproducible: a new training gives the cached numbers
    assert main(["market", "evaluate", "--json", "--no-progress", "--retrain", "-q"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["mechanisms"] == first["mechanisms"] and cap.err == ""


def test_market_train_log_writes_the_training_curve(tmp_path, capsys):
    from optcache.market.dqn import CURVE_COLUMNS

    args = ["--episodes", "3", "--train-instances", "2", "--eval-instances", "1", "--slots", "40",
            "--services", "6", "--stations", "3", "--no-progress", "--seed", "2"]
    curves = []
    for k in (1, 2):
        assert main(["market", "train", "--out", str(tmp_path / f"{k}.pt"), "--log", str(tmp_path / f"{k}.csv"),
                     *args]) == 0
        curves.append(pd.read_csv(tmp_path / f"{k}.csv"))
    assert list(curves[0].columns) == list(CURVE_COLUMNS) and curves[0]["epoch"].tolist() == [1, 2, 3]
    pd.testing.assert_frame_equal(curves[0].drop(columns="seconds"), curves[1].drop(columns="seconds"))
    import torch

    ck = torch.load(tmp_path / "1.pt", weights_only=True)
    assert ck["provenance"]["schema"] == "optcache/dqmsb@1" and ck["provenance"]["seed"] == 2
    assert ck["provenance"]["packages"]["torch"] == torch.__version__


# --------------------------------------------------------------------------- 5. start-up
def test_help_imports_nothing_heavy_and_is_fast():
    code = ("import sys, optcache.cli as c; c._register_commands(); "
            "print(sorted(m for m in ('numpy', 'pandas', 'pyomo', 'torch', 'numba', 'matplotlib') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
    best = min(_timed(cli, "--help") for _ in range(3))
    assert best < 0.5, f"optcache --help took {best:.2f} s"


def _timed(f, *args) -> float:
    t0 = time.perf_counter()
    assert f(*args).returncode == 0
    return time.perf_counter() - t0


@pytest.mark.slow
def test_warmup_leaves_compiled_kernels_for_the_next_process(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    r = cli("warmup", env=env)
    assert r.returncode == 0 and {ln.split()[0] for ln in r.stdout.splitlines()} == \
        {"laot", "fifo", "lru", "lfu", "lagrange", "rolling", "laot_from"}
    code = """
import optcache
from optcache.solvers import registry
from optcache.solvers import policies_fast as pf
from optcache.solvers.lagrange import graph
inst = optcache.generate(slots=10, services=4, gpus=4, stations=2, seed=5)
registry.run("laot", inst); registry.run("rolling", inst, horizon=3, tail="relaxed")
kernels = [pf.replace_batch, pf._station, graph._forward, graph._backward]
print(sum(sum(k.stats.cache_misses.values()) for k in kernels), sum(sum(k.stats.cache_hits.values()) for k in kernels))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **env})
    misses, hits = map(int, r.stdout.split())
    assert misses == 0 and hits >= 4, r.stdout + r.stderr  # loaded from the cache, not compiled


def test_numbers_in_demo_scenario_table_are_not_scientific():
    from optcache.demo import scenario_summary
    from optcache.scenario import ScenarioConfig

    text = scenario_summary(ScenarioConfig(slots=12, stations=2)).to_string()
    assert "slots" in text and " 12 " in text and "e+01" not in text and "1920" in text
    assert "GB" in text and "FLOP" in text


def test_details_of_a_result_are_json_safe():
    inst = generate(**SMALL)
    res = registry.run("rolling", inst, horizon=2)
    d = res.details
    assert d["horizon"] == 2 and d["window_solver"] == "lagrange" and d["fallback_slots"] == 0
    assert "windows" not in d
    json.dumps(res.to_contract(), allow_nan=False)
    assert np.isfinite(res.cost)


def test_demo_brackets_each_method_between_best_bound_and_cheapest_schedule():
    from optcache.demo import optimum_bracket

    table = pd.DataFrame({"status": ["ok", "ok", "ok", "error"], "cost": [0.2, 0.12, 0.1, float("nan")],
                          "bound": [None, None, 0.08, 0.09]}, index=["laot", "rolling", "lagrange", "milp"])
    b = optimum_bracket(table)
    # L = 0.08 (the error row's bound is not used), U = 0.1
    assert b.loc["laot", "above_opt_min"] == pytest.approx(1.0)
    assert b.loc["laot", "above_opt_max"] == pytest.approx(1.5)
    assert b.loc["rolling", "above_opt_min"] == pytest.approx(0.2)
    assert b.loc["rolling", "above_opt_max"] == pytest.approx(0.5)
    assert b.loc["lagrange", "above_opt_min"] == 0.0
    assert np.isnan(b.loc["milp", "above_opt_max"])
    assert optimum_bracket(table.assign(bound=None))["above_opt_max"].isna().all()
