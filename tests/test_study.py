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
    assert figures(df.assign(status="error"), tmp_path / "b") == []


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
