"""Studies: grid parsing, resumable atomic Parquet, local vs Dask engines, gaps, figures, CLI."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optcache import study as S
from optcache.cli import main
from optcache.errors import InvalidInput
from optcache.figures import figures, knob_slice
from optcache.scenario import ScenarioConfig, generate
from optcache.solvers import registry

ROOT = Path(__file__).resolve().parents[1]

# Exact methods join the tests as soon as they are registered; tiny instances keep them fast.
EXACT = [m for m in ("milp",) if m in registry.names()]
METHODS = ["all-cloud", "static", *EXACT]
TINY = {"stations": 1, "services": 3, "slots": 4}


def tiny_grid(**kw) -> S.Grid:
    args = {"methods": METHODS, "seeds": [0, 1], "knobs": dict(TINY)}
    args.update(kw)
    return S.Grid(**args)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- grid
def test_grid_expands_sweeps_seeds_methods_without_duplicates(tmp_path):
    g = S.Grid.from_toml(write(tmp_path / "g.toml", """
methods = ["all-cloud", "static"]
seeds = 2
[knobs]
stations = 1
slots = 4
services = 3
[[sweep]]
slots = [4, 6]
[[sweep]]
services = [2, 3]
"""))
    assert g.seeds == (0, 1)
    cs = S.cells(g)
    # points (4,3), (6,3), (4,2); (4,3) is shared by both sweeps and runs once
    points = {(c["knobs"]["slots"], c["knobs"]["services"]) for c in cs}
    assert points == {(4, 3), (6, 3), (4, 2)}
    assert len(cs) == 3 * 2 * 2
    assert len({c["cell"] for c in cs}) == len(cs)
    # every cell's knobs are the full ScenarioConfig, defaults included
    assert all(c["knobs"]["gpus"] == ScenarioConfig.gpus for c in cs)
    # an instance id is shared by exactly the methods run on that instance
    assert pd.Series([c["instance"] for c in cs]).value_counts().eq(2).all()


def test_cell_ids_are_stable_and_ignore_spelling():
    a = S.cells(S.Grid(methods=["static"], knobs={"slots": 4, "vanishing": 1}))
    # naming a default knob and writing 1 for 1.0 describe the same cell
    b = S.cells(S.Grid(methods=["static"], knobs={"slots": [4], "vanishing": 1.0,
                                                   "gpus": ScenarioConfig.gpus}))
    assert [c["cell"] for c in a] == [c["cell"] for c in b]
    c = S.cells(S.Grid(methods=["static"], knobs={"slots": 4, "vanishing": 1.5}))
    assert a[0]["cell"] != c[0]["cell"] and a[0]["instance"] != c[0]["instance"]


@pytest.mark.parametrize("text, field", [
    ('methods = ["static"]\n[knobs]\nslotz = 3\n', "knobs.slotz"),
    ('methods = ["static", "nope"]\n', "methods[1]"),
    ('methods = ["static"]\n[options.static]\ntime_limit = 3\n', "options.static.time_limit"),
    ('methods = ["static"]\n[options.all-cloud]\n', "options.all-cloud"),
    ('methods = ["static"]\n[knobs]\nslots = 0\n', "knobs.slots"),
    ('methods = ["static"]\n[knobs]\nslots = []\n', "knobs.slots"),
    ('methods = ["static"]\n[knobs]\nseed = 3\n', "knobs.seed"),
    ('methods = ["static"]\n[[sweep]]\nusers = [-1]\n', "sweep[0].users"),
    ('methods = ["static"]\nseeds = [0, -2]\n', "seeds[1]"),
    ('methods = ["static"]\nmethod = "x"\n', "method"),
    ('seeds = [0]\n', "methods"),
    ('methods = ["static"\n', "g.toml"),
])
def test_bad_grid_names_the_key(tmp_path, text, field):
    with pytest.raises(InvalidInput) as e:
        S.Grid.from_toml(write(tmp_path / "g.toml", text))
    assert e.value.field.endswith(field)


def test_example_grids_parse():
    paths = sorted((ROOT / "benchmarks" / "grids").glob("*.toml"))
    assert {p.name for p in paths} >= {"small.toml", "fig3.toml"}
    for p in paths:
        assert len(S.cells(S.Grid.from_toml(p))) > 0


# --------------------------------------------------------------------------- cells
def test_run_cell_matches_a_direct_run_and_records_the_instance():
    cell = next(c for c in S.cells(tiny_grid(seeds=[3])) if c["method"] == "static")
    row = S.run_cell(cell)
    inst = generate(ScenarioConfig(**TINY, seed=3))
    res = registry.run("static", inst)
    assert row["status"] == "ok" and row["cost"] == res.cost
    assert sum(row[t] for t in ("switching", "transmission", "computing", "accuracy", "cloud")) == \
        pytest.approx(res.cost, rel=1e-12)
    assert (row["slots"], row["services"], row["stations"], row["seed"]) == (4, 3, 1, 3)


def test_bad_input_in_one_cell_is_an_error_row_not_a_crash():
    cell = dict(S.cells(tiny_grid(methods=["static"], seeds=[0]))[0], options={"bogus": 1})
    row = S.run_cell(cell)
    assert row["status"] == "error" and "bogus" in row["message"]
    df = S.tidy([row])
    assert math.isnan(df.loc[0, "cost"]) and df.loc[0, "status"] == "error"


# --------------------------------------------------------------------------- resumable, atomic
@pytest.fixture
def counted(monkeypatch):
    """Count run_cell calls (serial engine: the calls happen in this process)."""
    calls = []
    real = S.run_cell

    def run_cell(cell):
        calls.append(cell["cell"])
        return real(cell)

    monkeypatch.setattr(S, "run_cell", run_cell)
    return calls


def test_rerun_skips_finished_cells(tmp_path, counted):
    out = tmp_path / "r.parquet"
    g = tiny_grid(methods=["all-cloud", "static"])
    first = S.run_study(g, out, workers=1, progress=False)
    assert len(counted) == len(first) == 4
    again = S.run_study(g, out, workers=1, progress=False)
    assert len(counted) == 4  # nothing recomputed
    pd.testing.assert_frame_equal(first, again)  # timing columns included: the same rows
    with pytest.raises(InvalidInput, match="another grid"):  # a different grid, not asked for
        S.run_study(tiny_grid(methods=["all-cloud", "static"], seeds=[0, 1, 2]), out, workers=1,
                    progress=False)
    assert len(counted) == 4
    bigger = S.run_study(tiny_grid(methods=["all-cloud", "static"], seeds=[0, 1, 2]), out,
                         workers=1, progress=False, extend=True)
    assert len(counted) == 6 and len(bigger) == 6  # only seed 2's two cells ran
    old = bigger[bigger["seed"] < 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, first)
    pd.testing.assert_frame_equal(S.read_results(out), bigger)


def test_failure_keeps_finished_rows_and_leaves_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "r.parquet"
    g = tiny_grid(methods=["all-cloud", "static"], seeds=[0])
    first = S.run_study(g, out, workers=1, progress=False)
    real, n = S.run_cell, []

    def flaky(cell):
        n.append(1)
        if len(n) == 3:
            raise RuntimeError("worker died")
        return real(cell)

    monkeypatch.setattr(S, "run_cell", flaky)
    with pytest.raises(RuntimeError, match="worker died"):
        S.run_study(tiny_grid(methods=["all-cloud", "static"], seeds=[0, 1, 2]), out, workers=1,
                    progress=False, extend=True)
    kept = S.read_results(out)
    assert len(kept) == len(first) + 2  # the old rows and the two cells finished before the crash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]

    # a write that dies half-way leaves the previous file untouched and no temporary file
    def broken(table, where, **kw):
        Path(where).write_bytes(b"PAR1 half")
        raise OSError("disk full")

    import pyarrow.parquet as pq

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        S.write_results(first, out)
    pd.testing.assert_frame_equal(S.read_results(out), kept)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]


def test_journal_rows_survive_a_kill_and_a_torn_last_line(tmp_path):
    """What a SIGKILL leaves (a journal, maybe a torn last line, no compaction) is read back by
    read_results and folded into the table by the next run, each cell once."""
    out = tmp_path / "r.parquet"
    g = tiny_grid(methods=["all-cloud", "static"], seeds=[0, 1])
    rows = [S.run_cell(c) for c in S.cells(g)[:2]]
    lines = [json.dumps({"format": S.JOURNAL_FORMAT, "grid": S.grid_id(S.cells(g))})]
    lines += [json.dumps(r) for r in rows]
    S.journal_path(out).write_text("\n".join(lines) + "\n" + json.dumps(rows[0])[:40])
    got = S.read_results(out)  # no Parquet file yet: the journal alone
    pd.testing.assert_frame_equal(got, S.tidy(rows))
    full = S.run_study(g, out, workers=1, progress=False)
    assert len(full) == 4 and full["cell"].is_unique
    kept = full.set_index("cell").loc[[r["cell"] for r in rows]].reset_index()[list(got.columns)]
    pd.testing.assert_frame_equal(kept, got)  # the journal's rows, not recomputed ones
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]


def test_interrupt_saves_finished_cells_and_says_how_many(tmp_path, monkeypatch):
    out = tmp_path / "r.parquet"
    g = tiny_grid(methods=["all-cloud", "static"], seeds=[0, 1])
    real, n = S.run_cell, []

    def interrupted(cell):
        n.append(1)
        if len(n) == 3:
            raise S.Interrupt(signal.SIGTERM)  # what the CLI's SIGTERM handler raises
        return real(cell)

    monkeypatch.setattr(S, "run_cell", interrupted)
    with pytest.raises(S.StudyInterrupted) as e:
        S.run_study(g, out, workers=1, progress=False)
    assert (e.value.signum, e.value.saved, e.value.cells) == (signal.SIGTERM, 2, 4)
    assert str(e.value) == f"interrupted by SIGTERM: 2 of the grid's 4 cells saved in {out}"
    assert len(S.read_results(out)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]


def test_grids_too_large_are_refused_before_expansion():
    with pytest.raises(InvalidInput) as e:
        S.Grid(methods=["static"], seeds=10**9)
    assert e.value.field == "seeds"
    with pytest.raises(InvalidInput, match="over optcache.study.MAX_GRID_CELLS") as e:
        S.Grid(methods=["static", "laot"], seeds=1000, knobs={"slots": list(range(1, 101))})
    with pytest.raises(InvalidInput, match="request cells, over the budget") as e:
        S.cells(S.Grid(methods=["static"], knobs={"slots": [4, 10**7]}))
    assert e.value.field == "knobs"


# --------------------------------------------------------------------------- engines
@pytest.mark.slow
def test_local_pool_and_dask_cluster_give_identical_tables(tmp_path):
    g = tiny_grid(knobs={**TINY, "slots": [3, 4]})
    local = S.run_study(g, tmp_path / "local.parquet", engine="local", workers=2, progress=False)
    dask = S.run_study(g, tmp_path / "dask.parquet", engine="dask", workers=2, progress=False)
    assert len(local) == len(S.cells(g)) == 2 * 2 * len(METHODS)
    assert (local["status"] == "ok").all()
    drop = list(S.TIMING_COLUMNS)
    pd.testing.assert_frame_equal(local.drop(columns=drop), dask.drop(columns=drop))
    serial = S.run_study(g, None, workers=1, progress=False)
    pd.testing.assert_frame_equal(local.drop(columns=drop), serial.drop(columns=drop))
    if EXACT:  # the best bound is below every method's cost; certified-optimal rows meet it
        assert (local["gap_to_best_bound"] >= -1e-9).all()
        certified = local["method"].isin(EXACT) & (local["termination"] == "optimal")
        assert certified.any()
        assert (local.loc[certified, "gap_to_best_bound"] <= 1e-6).all()


def test_unknown_engine_and_bad_workers_are_invalid_input(tmp_path):
    with pytest.raises(InvalidInput) as e:
        S.run_study(tiny_grid(), tmp_path / "r.parquet", engine="spark")
    assert e.value.field == "engine"
    with pytest.raises(InvalidInput) as e:
        S.run_study(tiny_grid(), tmp_path / "r.parquet", workers=0)
    assert e.value.field == "workers"
    assert not (tmp_path / "r.parquet").exists()


# --------------------------------------------------------------------------- gaps
def test_gap_to_best_bound_by_hand():
    df = pd.DataFrame({
        "instance": ["A", "A", "A", "A", "B", "C", "C"],
        "method":   ["milp", "slot", "static", "milp", "static", "static", "fake"],
        "exact":    [True, True, False, True, False, False, False],
        "cost":     [10.0, 11.0, 12.0, np.nan, 5.0, 4.0, 4.5],
        "bound":    [9.5, 9.8, np.nan, np.nan, np.nan, np.nan, 3.0],  # C's bound is not certified
    })
    got = S.with_best_bound(df)
    assert got["best_bound"].iloc[:4].tolist() == [9.8] * 4
    expected = [(10 - 9.8) / 10, (11 - 9.8) / 11, (12 - 9.8) / 12]
    assert got["gap_to_best_bound"].iloc[:3].tolist() == pytest.approx(expected, rel=1e-12)
    assert got["gap_to_best_bound"].iloc[3:].isna().all()
    assert got["best_bound"].iloc[4:].isna().all()


def test_columns_are_documented_and_in_order(tmp_path):
    df = S.run_study(tiny_grid(methods=["static"], seeds=[0]), None, workers=1, progress=False)
    assert list(df.columns) == list(S.COLUMNS)
    assert all(S.COLUMNS[c] for c in df.columns)
    assert all(f"`{c}`" in S.__doc__ or c in S.KNOBS for c in S.COLUMNS)


# --------------------------------------------------------------------------- figures, CLI
def test_knob_slice_picks_each_one_knob_sweep():
    base = {"slots": 4, "services": 3}
    rows = [dict(base, slots=s) for s in (2, 4, 6)] + [dict(base, services=v) for v in (2, 5)]
    df = pd.DataFrame(rows)
    assert sorted(knob_slice(df, "slots")["slots"]) == [2, 4, 6]
    assert (knob_slice(df, "slots")["services"] == 3).all()
    assert sorted(knob_slice(df, "services")["services"]) == [2, 3, 5]


GRID = """
methods = {methods}
seeds = [0]
[knobs]
stations = 1
services = 2
slots = [3, 4]
"""


def test_cli_study_then_figures(tmp_path, capsys):
    grid = write(tmp_path / "g.toml", GRID.format(methods=METHODS).replace("'", '"'))
    out = tmp_path / "r.parquet"
    assert main(["study", str(grid), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    df = pd.read_parquet(out)
    assert len(df) == 2 * len(METHODS) and set(df["method"]) == set(METHODS)
    assert f"{2 * len(METHODS)} run now" in capsys.readouterr().out
    assert main(["study", str(grid), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    assert "0 run now" in capsys.readouterr().out
    assert main(["figures", str(out), "--out", str(tmp_path / "fig")]) == 0
    printed = capsys.readouterr().out.split()
    names = {Path(p).name for p in printed}
    assert "cost_vs_slots.png" in names and (("gap_to_best_bound.png" in names) == bool(EXACT))
    for p in printed:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("text, args, key", [
    ('methods = ["static"\n', [], "g.toml"),
    ('methods = ["static"]\n[knobs]\nslotz = 3\n', [], "knobs.slotz"),
    ('methods = ["nope"]\n', [], "methods[0]"),
    ('methods = ["static"]\n', ["--engine", "spark"], "engine"),
])
def test_cli_bad_grid_is_one_line_exit_2(tmp_path, capsys, text, args, key):
    grid = write(tmp_path / "g.toml", text)
    code = main(["study", str(grid), "--out", str(tmp_path / "r.parquet"), "--no-progress", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and key in err[0]
    assert not (tmp_path / "r.parquet").exists()


def test_cli_figures_of_a_non_study_file_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(bad)
    assert main(["figures", str(bad), "--out", str(tmp_path / "fig")]) == 2
    assert "missing columns" in capsys.readouterr().err


def test_figures_without_a_swept_knob_or_without_ok_rows(tmp_path):
    df = S.run_study(tiny_grid(methods=["all-cloud", "static"], seeds=[0]), None, workers=1,
                     progress=False)
    assert [p.name for p in figures(df, tmp_path / "a")] == ["cost_by_method.png"]
    assert json.loads((tmp_path / "a" / "figures.json").read_text())["figures"][0]["table"] == \
        "cost_by_method.csv"
    for bad in (df.assign(status="error"), df.iloc[:0]):  # nothing to draw is an input error
        with pytest.raises(InvalidInput, match="no figures: no row with status ok") as e:
            figures(bad, tmp_path / "b")
        assert e.value.field == "results"
    assert not (tmp_path / "b").exists()


@pytest.fixture
def fake_exact(monkeypatch):
    """A registered exact method for the plumbing: static's schedule with the bound 0.9 × cost."""
    threads = []

    def fake(inst, **opts):
        threads.append(opts.get("threads"))
        res = registry.run("static", inst)
        res.method, res.bound, res.termination = "fake-exact", 0.9 * res.cost, "time_limit"
        return res

    spec = registry.MethodSpec("fake-exact", fake, True, "test double", ("threads", "time_limit"))
    monkeypatch.setitem(registry._REGISTRY, "fake-exact", spec)
    return threads


def test_exact_methods_get_one_thread_swept_options_and_the_best_bound(tmp_path, fake_exact):
    g = tiny_grid(methods=["all-cloud", "static", "fake-exact"], seeds=[0],
                  options={"fake-exact": {"time_limit": [5, 10]}})
    df = S.run_study(g, None, workers=1, progress=False)
    assert fake_exact == [1, 1]  # threads=1 added for an exact method that takes threads
    assert sorted(df["label"]) == ["all-cloud", "fake-exact[time_limit=10]",
                                   "fake-exact[time_limit=5]", "static"]
    assert set(df.loc[df["method"] == "fake-exact", "options"]) == {
        '{"threads": 1, "time_limit": 5}', '{"threads": 1, "time_limit": 10}'}
    cost = df.set_index("label")["cost"]
    best = 0.9 * cost["static"]
    assert df["best_bound"].tolist() == pytest.approx([best] * 4, rel=1e-12)
    assert df.set_index("label")["gap_to_best_bound"]["all-cloud"] == \
        pytest.approx((cost["all-cloud"] - best) / cost["all-cloud"], rel=1e-12)
    assert df.set_index("label")["gap"]["fake-exact[time_limit=5]"] == pytest.approx(0.1)
    names = [p.name for p in figures(df, tmp_path)]
    assert names == ["cost_by_method.png", "gap_to_best_bound.png"]


# --------------------------------------------------------------------------- refused before anything runs
SMALL = '[knobs]\nstations = 1\nservices = 2\nslots = 3\n'
ROLLING = 'methods = ["rolling"]\n' + SMALL + '[options.rolling]\n'
MILP = 'methods = ["milp"]\n' + SMALL + '[options.milp]\n'
TINY_TOML = 'methods = ["all-cloud", "static"]\nseeds = [0]\n[knobs]\nstations = 1\nservices = 3\nslots = 4\n'


def study_args(grid: Path, out: Path) -> list[str]:
    return ["study", str(grid), "--out", str(out), "--workers", "1", "--no-progress"]


@pytest.mark.parametrize("text, field, says", [
    (ROLLING + "horizon = -1\n", "options.rolling.horizon", "must be a positive integer, got -1"),
    (ROLLING + "horizon = 2.5\n", "options.rolling.horizon", "must be a positive integer, got 2.5"),
    (ROLLING + "horizon = [3, -1]\n", "options.rolling.horizon", "got -1"),
    (ROLLING + 'forecast = "psychic"\n', "options.rolling.forecast", "one of oracle, mean, got 'psychic'"),
    (ROLLING + 'window_solver = "laot"\n', "options.rolling.window_solver", "got 'laot'"),
    (ROLLING + 'tail = "relaxed"\nwindow_solver = "milp"\n', "options.rolling.tail",
     "'relaxed' needs window_solver='lagrange'"),
    (ROLLING + 'tail = ["none", "relaxed"]\nwindow_solver = ["lagrange", "milp"]\n', "options.rolling.tail",
     "in the run rolling[tail=relaxed,window_solver=milp]"),
    (MILP + 'solver = "nosuchsolver"\n', "options.milp.solver", "unknown solver 'nosuchsolver'"),
    (MILP + "solver_options = {nosuch = 1}\n", "options.milp.solver_options.nosuch", "HiGHS refuses 1"),
])
def test_method_option_rules_refuse_the_grid_at_load(tmp_path, capsys, text, field, says):
    """Each method's own rules (registry.option_check) hold when the grid is loaded: one line,
    exit 2, nothing written; not an error row per cell and exit 0."""
    grid = write(tmp_path / "g.toml", text)
    with pytest.raises(InvalidInput) as e:
        S.Grid.from_toml(grid)
    assert e.value.field == field and says in e.value.message
    assert main(study_args(grid, tmp_path / "r.parquet")) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {field}: {e.value.message}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml"]


def test_solver_options_table_is_one_value_not_a_sweep(tmp_path):
    effort = {"mip_heuristic_effort": 0.1}
    g = S.Grid.from_toml(write(tmp_path / "g.toml", MILP + "solver_options = {mip_heuristic_effort = 0.1}\n"))
    assert g.options == {"milp": {"solver_options": (effort,)}}
    knobs = {"stations": 1, "services": 2, "slots": 3}
    assert S.Grid(methods=["milp"], knobs=knobs, options={"milp": {"solver_options": effort}}) == g
    (cell,) = S.cells(g)
    assert cell["options"] == {"solver_options": effort, "threads": 1}
    assert cell["label"] == 'milp[solver_options={"mip_heuristic_effort":0.1}]'
    row = S.run_cell(cell)  # the table reaches the solver: HiGHS takes it, the cell is ok
    assert row["status"] == "ok" and json.loads(row["options"])["solver_options"] == effort
    # a list of tables is a sweep, and the grid's recorded layout reads back as the same cells
    two = S.Grid.from_toml(write(tmp_path / "g2.toml", MILP + "solver_options = [{mip_heuristic_effort = 0.1},"
                                 " {mip_heuristic_effort = 0.2}]\n"))
    assert len(S.cells(two)) == 2
    assert [c["cell"] for c in S.cells(S.Grid.from_dict(two.to_dict()))] == [c["cell"] for c in S.cells(two)]
    with pytest.raises(InvalidInput, match="repeated values") as e:
        S.Grid(methods=["milp"], knobs=knobs, options={"milp": {"solver_options": [effort, effort]}})
    assert e.value.field == "options.milp.solver_options"
    with pytest.raises(InvalidInput, match="expected a scalar value") as e:  # other options take no table
        S.Grid(methods=["milp"], knobs=knobs, options={"milp": {"time_limit": {"a": 1}}})
    assert e.value.field == "options.milp.time_limit"


@pytest.mark.parametrize("bad, says", [
    ('{"cell": "abc"}', "not a study row: instance is missing"),
    ("cost=NaN", "cost: expected a number or null, got 'NaN'"),
    ("seed=true", "seed: expected an integer, got True"),
    ("colour=red", "unknown column 'colour'"),
    ("status=fine", "status: expected ok, warning or error, got 'fine'"),
    ("[1, 2]", "expected a study row (a JSON object), got list"),
    ('{"cell": "abc", "instance": ', "not a JSON record"),  # torn, but not the last line
    ('{"format": "optcache/study-journal@9", "grid": "x"}', "not the format line of optcache/study-journal@1"),
])
def test_corrupt_journal_line_is_one_error_naming_the_file_and_line(tmp_path, capsys, bad, says):
    out = tmp_path / "r.parquet"
    cs = S.cells(tiny_grid(methods=["all-cloud", "static"], seeds=[0]))
    row = S.run_cell(cs[0])
    if "=" in bad and not bad.startswith("{"):
        key, value = bad.split("=")
        bad = json.dumps({**row, key: {"true": True}.get(value, value)})
    header = json.dumps({"format": S.JOURNAL_FORMAT, "grid": S.grid_id(cs)})
    S.journal_path(out).write_text(f"{header}\n{bad}\n{json.dumps(row)}\n")
    where = f"{S.journal_path(out)}, line 2"
    with pytest.raises(InvalidInput) as e:
        S.read_results(out)
    assert e.value.field == where and says in e.value.message
    grid = write(tmp_path / "g.toml", TINY_TOML)
    for args in (study_args(grid, out), ["figures", str(out), "--out", str(tmp_path / "fig")]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {where}: ") and says in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml", "r.parquet.journal"]


def test_journal_reads_nan_numbers_rows_without_a_newer_knob_and_a_torn_last_line(tmp_path):
    out = tmp_path / "r.parquet"
    cs = S.cells(tiny_grid(methods=["all-cloud", "static"], seeds=[0]))
    rows = [S.run_cell(c) for c in cs]
    rows[0]["gap"] = float("nan")  # written as the JSON extension NaN, read back as NaN
    old = {k: v for k, v in rows[1].items() if k != "route"}  # written before the knob existed
    lines = [json.dumps({"format": S.JOURNAL_FORMAT, "grid": S.grid_id(cs)}), json.dumps(rows[0]),
             json.dumps(old)]
    S.journal_path(out).write_text("\n".join(lines) + "\n" + json.dumps(rows[0])[:30])
    pd.testing.assert_frame_equal(S.read_results(out), S.tidy(rows))


@pytest.mark.parametrize("env", ["abc", "0"])
def test_bad_workers_environment_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch, env):
    monkeypatch.setenv("OPTCACHE_WORKERS", env)
    market = ROOT / "benchmarks" / "grids" / "claims" / "market_references.toml"  # kind = "market"
    for grid in (write(tmp_path / "g.toml", TINY_TOML), market):
        assert main(["study", str(grid), "--out", str(tmp_path / "new.parquet"), "--no-progress"]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            f"error: OPTCACHE_WORKERS: must be a positive integer, got {env!r}"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml"]


def test_figures_of_a_table_without_ok_rows_is_exit_2_and_creates_nothing(tmp_path, capsys):
    table = tmp_path / "r.parquet"
    df = S.run_study(tiny_grid(methods=["all-cloud", "static"], seeds=[0]), None, workers=1, progress=False)
    S.write_results(df.assign(status="error"), table)
    assert main(["figures", str(table), "--out", str(tmp_path / "fig")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {table}: no figures: no row with status ok (2 rows: 2 error)"]
    assert not (tmp_path / "fig").exists()


def test_unwritable_output_paths_are_one_line_naming_the_path(tmp_path, capsys):
    grid = write(tmp_path / "g.toml", TINY_TOML)
    base = write(tmp_path / "base.json", "{}")
    table = tmp_path / "r.parquet"
    assert main(study_args(grid, table)) == 0
    (tmp_path / "l.parquet.lock").mkdir()
    capsys.readouterr()
    file_in_the_way = f"cannot write: {base} is not a directory"
    for args, line in [
        (study_args(grid, base / "x.parquet"), f"error: {base / 'x.parquet'}: {file_in_the_way}"),
        (["figures", str(table), "--out", str(base / "figs")], f"error: {base / 'figs'}: {file_in_the_way}"),
        (["figures", str(table), "--out", str(base)], f"error: {base}: {file_in_the_way}"),
        (study_args(grid, tmp_path / "l.parquet"), f"error: {tmp_path / 'l.parquet.lock'}: is a directory, "
                                                   "not the study's lock file: remove it, or choose another --out"),
    ]:
        assert main(args) == 2, args
        assert capsys.readouterr().err.strip().splitlines() == [line]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.json", "g.toml", "l.parquet.lock", "r.parquet"]


def test_a_directory_given_as_the_results_file_says_so(tmp_path, capsys):
    grid = write(tmp_path / "g.toml", TINY_TOML)
    folder = tmp_path / "d"
    folder.mkdir()
    line = f"error: {folder}: is a directory, not a study table (the Parquet file `optcache study --out` writes)"
    for args in (["figures", str(folder), "--out", str(tmp_path / "fig")], study_args(grid, folder)):
        assert main(args) == 2
        assert capsys.readouterr().err.strip().splitlines() == [line]
    with pytest.raises(InvalidInput, match="is a directory") as e:
        S.run_study(tiny_grid(), folder, workers=1, progress=False)
    assert e.value.field == str(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "g.toml"] and not any(folder.iterdir())


def test_gap_to_best_bound_is_zero_within_rounding_and_negative_beyond(tmp_path, monkeypatch):
    """A certified bound a few ulps above the cost is rounding (0 in the table and the figures'
    CSV); one above it by more than GAP_ROUNDING stays visible as a negative gap."""
    def exact(above):
        def run(inst, **opts):
            res = registry.run("static", inst)
            res.method, res.termination = "rounded", "optimal"
            res.bound = above(res.cost)
            return res
        return run

    for name, above in (("rounded", lambda c: np.nextafter(np.nextafter(c, np.inf), np.inf)),
                        ("invalid", lambda c: c * (1 + 1e-9))):
        spec = registry.MethodSpec(name, exact(above), True, "test double", ())
        monkeypatch.setitem(registry._REGISTRY, name, spec)
    rounded = S.run_study(tiny_grid(methods=["static", "rounded"], seeds=[0]), None, workers=1, progress=False)
    row = rounded.set_index("method").loc["rounded"]
    assert row["bound"] > row["cost"] and row["best_bound"] == row["bound"]  # 2 ulps above: rounding
    assert rounded["gap_to_best_bound"].tolist() == [0.0, 0.0]
    figures(rounded, tmp_path)
    assert pd.read_csv(tmp_path / "gap_to_best_bound.csv")["gap_to_best_bound_pct"].tolist() == [0.0, 0.0]
    invalid = S.run_study(tiny_grid(methods=["static", "invalid"], seeds=[0]), None, workers=1, progress=False)
    assert invalid["gap_to_best_bound"].tolist() == pytest.approx([-1e-9, -1e-9], rel=1e-3)


def test_run_study_takes_a_mapping_and_numpy_numbers_and_refuses_other_arguments(tmp_path):
    spec = {"methods": ["laot", "all-cloud"], "seeds": [0, 1], "knobs": {"stations": 1, "services": 2, "slots": [3, 4]}}
    plain = S.run_study(spec, None, workers=1, progress=False)
    assert len(plain) == 8 and (plain["status"] == "ok").all()
    as_numpy = S.Grid(methods=np.array(["laot", "all-cloud"]), seeds=[np.int64(0), np.int64(1)],
                      knobs={"stations": np.int64(1), "services": np.int32(2), "slots": np.array([3, 4])})
    same = S.run_study(as_numpy, None, workers=np.int64(1), progress=False, checkpoint_seconds=np.float32(5))
    drop = list(S.TIMING_COLUMNS)
    pd.testing.assert_frame_equal(plain.drop(columns=drop), same.drop(columns=drop))
    g = S.Grid(methods=["rolling"], seeds=np.int64(2), knobs={"vanishing": np.float32(0.5)},
               options={"rolling": {"horizon": np.int64(2), "threads": [np.int64(1), np.int64(2)]}})
    assert (g.seeds, g.knobs) == ((0, 1), {"vanishing": (0.5,)})
    assert g.options == {"rolling": {"horizon": (2,), "threads": (1, 2)}}
    assert type(g.options["rolling"]["horizon"][0]) is int
    checked = registry.check_options("milp", {"threads": np.int64(2), "time_limit": np.float32(1.5)})
    assert checked == {"threads": 2, "time_limit": 1.5} and type(checked["threads"]) is int
    for args, kw, field in [((None,), {}, "grid"), ((spec,), {"limits": 5}, "limits"),
                            ((spec,), {"checkpoint_seconds": -1}, "checkpoint_seconds"),
                            ((spec,), {"checkpoint_seconds": float("nan")}, "checkpoint_seconds"),
                            ((spec,), {"workers": np.int64(0)}, "workers"), ((spec, 5), {}, "out"),
                            ((spec, tmp_path / "x.parquet"), {"scheduler": "tcp://h:1"}, "scheduler")]:
        with pytest.raises(InvalidInput) as e:
            S.run_study(*args, progress=False, **kw)
        assert e.value.field == field
    assert list(tmp_path.iterdir()) == []


def test_run_market_study_refuses_bad_run_settings_before_writing(tmp_path, monkeypatch):
    """The API, not only the CLI: the market table was written (empty) in a `finally` when the
    engine refused its settings."""
    from optcache.market.sweep import load_market_grid, run_market_study

    grid = load_market_grid(ROOT / "benchmarks" / "grids" / "claims" / "market_references.toml")
    out = tmp_path / "m.parquet"
    monkeypatch.setenv("OPTCACHE_WORKERS", "abc")
    with pytest.raises(InvalidInput, match="OPTCACHE_WORKERS"):
        run_market_study(grid, out, progress=False)
    monkeypatch.delenv("OPTCACHE_WORKERS")
    with pytest.raises(InvalidInput, match="workers"):
        run_market_study(grid, out, workers=0, progress=False)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- input handling (sweep9)
def test_grid_checks_its_knobs_together_at_the_points_it_runs(tmp_path):
    """Each knob was checked alone with the others at their defaults: a valid pair such as
    beta_min = 0.95, beta_max = 0.99 was refused, an invalid one accepted until the run."""
    for knobs in ({"beta_min": 0.95, "beta_max": 0.99}, {"beta_min": 0.3, "beta_max": 0.5}):
        (cell,) = S.cells(S.Grid(methods=["laot"], knobs=knobs))
        assert {k: cell["knobs"][k] for k in knobs} == knobs
    ok = S.Grid(methods=["laot"], knobs={"beta_min": 0.95}, sweeps=[{"beta_max": [0.96, 0.99]}])
    assert len(S.cells(ok)) == 2
    for knobs, sweeps, field, says in [
        ({"beta_min": 0.9, "beta_max": 0.6}, (), "knobs.beta_min", "must be <= beta_max = 0.6, got 0.9"),
        ({"users": 10**12, "access": "channel"}, (), "knobs.users", "must be <= 1000 with access='channel'"),
        ({"beta_max": 0.5}, (), "knobs.beta_min", "got 0.6 (beta_min's default)"),
        ({"users": [10, 5000], "access": ["paper", "channel"]}, (), "knobs.users",
         "at the point users=5000, access=channel"),
        ({"beta_min": 0.9}, [{"beta_max": [0.95]}, {"beta_max": [0.99, 0.5]}], "knobs.beta_min",
         "at the point beta_max=0.5"),
        ({"beta_max": 0.99}, [{"beta_min": [0.3, 0.995]}], "sweep[0].beta_min", "got 0.995"),
        ({"slots": 0}, [{"slots": [3]}], "knobs.slots", "got 0"),  # overridden by every sweep: alone
        ({"slots": 4}, [{"services": [2]}, {"slots": [3, 0]}], "sweep[1].slots", "got 0"),
    ]:
        with pytest.raises(InvalidInput) as e:
            S.Grid(methods=["laot"], knobs=knobs, sweeps=sweeps)
        assert e.value.field == field and says in e.value.message, e.value
    with pytest.raises(InvalidInput) as e:  # at load, from a file too
        S.Grid.from_toml(write(tmp_path / "g.toml", 'methods = ["laot"]\n[knobs]\nbeta_min = 0.9\nbeta_max = 0.6\n'))
    assert e.value.field == "knobs.beta_min"


def test_dask_scheduler_that_is_no_address_or_a_closed_client_is_one_error(tmp_path):
    from distributed import Client, LocalCluster

    from optcache import engines

    spec = {"methods": ["laot"], "knobs": {"slots": 3, "stations": 1, "services": 2}}
    for address in ("notanaddress", "foo://h:1", "tcp://h:port"):
        with pytest.raises(InvalidInput) as e:
            S.run_study(spec, tmp_path / "r.parquet", engine="dask", scheduler=address, progress=False)
        assert e.value.field == "scheduler" and "not a scheduler address" in e.value.message
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        client = Client(cluster)
        client.close()
        with pytest.raises(InvalidInput, match="^scheduler: the distributed.Client is closed"):
            S.run_study(spec, tmp_path / "r.parquet", engine="dask", scheduler=client, progress=False)
        with pytest.raises(InvalidInput, match="^scheduler: the distributed.Client is closed"):
            list(engines.run_dask(S.run_cell, S.cells(S.Grid(**spec)), scheduler=client, progress=False))
    assert list(tmp_path.iterdir()) == []  # refused before the study wrote anything


@pytest.mark.parametrize("change, says", [
    ({"cost": -5.0}, "cost: must be a number in [0, 1e100] (study.MAX_COST) in a row with status ok, got -5.0"),
    ({"cost": float("nan")}, "cost: must be a number in [0, 1e100] (study.MAX_COST) in a row with status ok, got nan"),
    ({"cost": "1e400"}, "cost: must be a number in [0, 1e100] (study.MAX_COST) in a row with status ok, got inf"),
    ({"switching": -0.5}, "switching: must be a number in [0, 1e100] (study.MAX_COST)"),
    ({"bound": float("inf")}, "bound: must be finite (or missing) in a row with status ok"),
    ({"seed": -3}, "seed: must be an integer in [0, "),
    ({"users": -1}, "users: must be an integer in [0, "),
    ({"beta_min": 0.95}, "beta_min: must be <= beta_max"),
    ({"slots": 10**30}, "slots: must be an integer in [1, "),  # was an OverflowError in pandas
    ({"nodes": 10**30}, "nodes: must be an integer in [0, 2^63 - 1]"),
    ({"cost": 10**400}, "cost: must be a finite number, got an integer of 401 digits"),
])
def test_journal_rows_no_study_writes_are_refused_naming_the_line(tmp_path, capsys, change, says):
    out = tmp_path / "r.parquet"
    cs = S.cells(tiny_grid(methods=["all-cloud", "static"], seeds=[0]))
    row = S.run_cell(cs[0])
    assert row["status"] == "ok"
    bad = json.dumps({**row, **change})
    if change.get("cost") == "1e400":
        bad = bad.replace('"cost": "1e400"', '"cost": 1e400')
    header = json.dumps({"format": S.JOURNAL_FORMAT, "grid": S.grid_id(cs)})
    S.journal_path(out).write_text(f"{header}\n{json.dumps(row)}\n{bad}\n")
    with pytest.raises(InvalidInput) as e:
        S.read(out)
    assert e.value.field == f"{S.journal_path(out)}, line 3" and says in e.value.message
    assert e.value.message.endswith("; fix or delete that line (the journal holds the finished cells not yet in the table)")
    assert main(["figures", str(out), "--out", str(tmp_path / "fig")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {S.journal_path(out)}, line 3: {says}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet.journal"]


def test_parquet_rows_no_study_writes_are_refused_naming_the_row(tmp_path):
    df = S.run_study(tiny_grid(methods=["all-cloud", "static"], seeds=[0]), None, workers=1, progress=False)
    path = tmp_path / "r.parquet"
    for column, value, says in [("cost", np.nan, "cost: must be a number in [0, 1e100] (study.MAX_COST) in a row with status ok, got nan"),
                                ("accuracy", -1.0, "accuracy: must be a number in [0, 1e100] (study.MAX_COST)"),
                                ("seed", -3, "seed: must be an integer in [0, ")]:
        bad = df.copy()
        bad.loc[1, column] = value
        S.write_results(bad, path)
        with pytest.raises(InvalidInput) as e:
            S.read(path)
        assert e.value.field == f"{path}, row 1" and says in e.value.message
    S.write_results(df.assign(status="error", cost=np.nan, switching=np.nan), path)  # error rows: no cost
    assert S.read(path)["cost"].isna().all()
    bad = df.assign(cost=["x", "y"])
    bad.to_parquet(path)
    with pytest.raises(InvalidInput, match=r"row 0: cost: must be a number in \[0, 1e100\] \(study.MAX_COST\) .* got 'x'"):
        S.read(path)


def test_table_functions_refuse_wrong_arguments_naming_them(tmp_path):
    row = {"cell": "c", "instance": "i", "seed": 0, "method": "laot", "status": "ok", "cost": 1.0}
    good = S.run_study(tiny_grid(methods=["static"], seeds=[0]), None, workers=1, progress=False)
    for call, field, says in [
        (lambda: S.tidy([row]), "rows", "missing columns slots, services, gpus, users, stations, vanishing, … (20 in all)"),
        (lambda: S.tidy(pd.DataFrame({"x": [1]})), "rows", "missing columns cell, instance, seed"),
        (lambda: S.tidy(None), "rows", "expected a DataFrame or a list of row dicts, got NoneType"),
        (lambda: S.tidy({"cell": "c"}), "rows", "got dict"),
        (lambda: S.tidy(good.assign(seed=None)), "rows", "seed: expected an integer, got None"),
        (lambda: S.tidy(good.assign(nodes="many")), "rows", "nodes: expected an integer, got 'many'"),
        (lambda: S.with_best_bound(pd.DataFrame({"cost": [1.0]})), "df", "missing columns instance, exact, bound"),
        (lambda: S.with_best_bound(good.drop(columns="exact")), "df", "missing column exact"),
        (lambda: S.with_best_bound(good.assign(bound="x")), "df", "bound: expected a number, got 'x'"),
        (lambda: S.with_best_bound([row]), "df", "expected a pandas DataFrame"),
        (lambda: S.cells({"methods": ["laot"]}), "grid", "expected an optcache.study.Grid"),
        (lambda: S.Grid.from_toml(write(tmp_path / "g.toml", TINY_TOML), limits=3), "limits", "got int"),
        (lambda: S.load_grid(tmp_path / "g.toml", limits=3), "limits", "got int"),
        (lambda: S.read(None), "path", "expected a file path"),
        (lambda: S.read(3), "path", "expected a file path"),
        (lambda: S.write_results([row], tmp_path / "r.parquet"), "df", "expected a pandas DataFrame"),
    ]:
        with pytest.raises(InvalidInput) as e:
            call()
        assert e.value.field == field and says in e.value.message, e.value
    assert S.tidy([]).empty and list(S.tidy([])) == list(S.COLUMNS)


def test_a_process_loads_each_builtin_method_once_before_its_first_cell(monkeypatch):
    """A worker's first laot cell reported 0.55-0.7 s of `seconds` (numba's kernels loading), the
    next 0.0003 s: run_cell now warms a built-in method once per process (outside `seconds`),
    and leaves a method the user registered alone."""
    from optcache import warmup
    from optcache.solvers import registry

    real, calls = registry.run, []

    def counted(name, inst, **kw):
        calls.append((name, inst.slots))
        return real(name, inst, **kw)

    monkeypatch.setattr(registry, "run", counted)
    monkeypatch.setattr(warmup, "_warmed", set())
    grid = S.Grid(methods=["laot", "static"], seeds=[0, 1], knobs={"stations": 1, "slots": 5})
    rows = [S.run_cell(c) for c in S.cells(grid)]
    assert all(r["status"] == "ok" for r in rows)
    # one tiny (3-slot) warm-up run per built-in method, before its first 5-slot cell
    assert [c for c in calls if c[1] == 3] == [("laot", 3), ("static", 3)]
    assert calls.index(("laot", 3)) < calls.index(("laot", 5))
    assert sum(c == ("laot", 5) for c in calls) == 2
    warmup.warm("a-method-of-mine")  # not built in: nothing runs (it would not be found)
    assert len(calls) == 6


def test_option_values_spelled_as_int_or_float_are_one_cell():
    # time_limit = 30 and 30.0 (or gap = 0 and 0.0) made two cells, two grid ids and two labels
    # (reproducibility audit): a re-spelled grid was refused on resume or rerun as duplicates
    a = S.cells(S.Grid.from_dict({"knobs": {"slots": 3}, "methods": ["milp"], "seeds": [0],
                                  "options": {"milp": {"time_limit": 30, "gap": 0}}}))
    b = S.cells(S.Grid.from_dict({"knobs": {"slots": 3}, "methods": ["milp"], "seeds": [0],
                                  "options": {"milp": {"time_limit": 30.0, "gap": 0.0}}}))
    assert [c["cell"] for c in a] == [c["cell"] for c in b] and S.grid_id(a) == S.grid_id(b)
    assert a[0]["label"] == b[0]["label"] == "milp[time_limit=30,gap=0]"
