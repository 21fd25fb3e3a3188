"""Market grids and studies (optcache.market.sweep): knob combinations checked per point like
MarketConfig, policy names at load, provenance and output paths (sweep 9, items 21 and 22)."""

from __future__ import annotations

import pytest

from optcache.errors import InvalidInput
from optcache.market import sweep
from optcache.market.sweep import (
    MarketGrid,
    load_market_grid,
    market_cells,
    read_market,
    run_market_study,
    tidy_market,
)
from optcache.market.valuations import MarketConfig


def _raises(call, field: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == field and fragment in e.value.message, str(e.value)


# --------------------------------------------------------------------------- item 21
def test_grid_checks_knobs_together_as_market_config_does():
    """300000 slots × 1 service × 1 station is a valid MarketConfig; each knob alone against the
    defaults (10 services, 5 stations) was refused."""
    knobs = {"slots": [300000], "services": [1], "stations": [1]}
    assert MarketConfig(slots=300000, services=1, stations=1).slots == 300000
    g = MarketGrid(knobs=knobs)
    assert market_cells(g)[0]["config"]["slots"] == 300000
    _raises(lambda: MarketGrid(knobs={"slots": 300000, "services": [1, 40]}), "knobs.slots",
            "300000 slots × 40 services × 5 stations")
    _raises(lambda: MarketGrid(knobs={"slots": 300000, "services": [1, 40]}), "knobs.slots",
            "at the point services=40")
    # a sweep's own knob is named there; a point of the union shared by two sweeps is checked once
    _raises(lambda: MarketGrid(knobs={"slots": 40000}, sweeps=[{"services": [1]}, {"services": [40]}]),
            "knobs.slots", "at the point services=40")
    _raises(lambda: MarketGrid(sweeps=[{"stations": [2]}, {"stations": [0]}]), "sweep[1].stations", "")
    _raises(lambda: MarketGrid(knobs={"match": ["aot", "cauchy"]}), "knobs.match", "cauchy")


def test_grid_refuses_unknown_policies_before_any_cell_runs(tmp_path):
    _raises(lambda: MarketGrid(knobs={"policy": "nope"}), "knobs.policy", "unknown caching policy 'nope'")
    _raises(lambda: MarketGrid(knobs={"policy": ["laot", "nope"]}), "knobs.policy", "unknown caching policy 'nope'")
    _raises(lambda: MarketGrid(sweeps=[{"policy": ["fifo"]}, {"policy": ["nope"]}]), "sweep[1].policy", "'nope'")
    grid = tmp_path / "g.toml"
    grid.write_text('kind = "market"\n[knobs]\npolicy = ["fifo", "nope"]\n')
    _raises(lambda: load_market_grid(grid), "knobs.policy", "unknown caching policy 'nope'")
    assert MarketGrid(knobs={"policy": ["fifo", "lfu"]}).knobs["policy"] == ("fifo", "lfu")


def test_grid_checks_train_on_each_point():
    """buffer_size × state size depends on the point's stations (it was checked at 5 stations)."""
    ok = MarketGrid(knobs={"stations": 2}, train={"buffer_size": 10**7})
    assert ok.train == {"buffer_size": 10**7}
    _raises(lambda: MarketGrid(knobs={"stations": [2, 1000]}, train={"buffer_size": 10**6}),
            "train.buffer_size", "exceed 5e+07 floats per replay array, at the point stations=1000")
    _raises(lambda: MarketGrid(train={"episodes": 0}), "train.episodes", "must be an integer in [1, 1000000]")
    _raises(lambda: MarketGrid(train={"colour": 1}), "train.colour", "unknown hyperparameter")


# --------------------------------------------------------------------------- item 22
GRID = MarketGrid(seeds=1, knobs={"slots": 12, "services": 2, "stations": 3, "users": 5, "gpus": 2})


@pytest.fixture
def no_cells(monkeypatch):
    def fail(cell):
        raise AssertionError("a cell ran before the output was checked")

    monkeypatch.setattr(sweep, "run_market_cell", fail)


def _table(path, prov):
    df = tidy_market([])
    df.attrs = {} if prov is None else {"optcache": prov}
    df.to_parquet(path)
    return path


@pytest.mark.parametrize("prov, fragment", [
    ({"schema": "optcache/study@1", "grid": [1, 2]}, "malformed provenance: `grid` is not a table"),
    ({"schema": "optcache/study@1", "grid": {"g": 3}}, "malformed provenance: `grid` is not a table"),
    ("junk", "malformed provenance: expected a table, got str"),
    ({"schema": "optcache/study@99"}, "written with schema 'optcache/study@99', newer than this optcache"),
    ({"schema": "optcache/other@1"}, "not an optcache/study file"),
])
def test_malformed_or_newer_provenance_is_one_error_naming_the_file(tmp_path, no_cells, prov, fragment):
    out = _table(tmp_path / "m.parquet", prov)
    _raises(lambda: read_market(out), str(out), fragment)
    _raises(lambda: run_market_study(GRID, out, workers=1, progress=False), str(out), fragment)


def test_a_table_without_provenance_still_reads(tmp_path):
    out = _table(tmp_path / "m.parquet", None)
    assert len(read_market(out)) == 0


def test_out_and_grid_are_checked_before_any_cell(tmp_path, no_cells, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("keep")
    _raises(lambda: run_market_study(GRID, ".", workers=1, progress=False), "out", ".: cannot write: it is a directory")
    _raises(lambda: run_market_study(GRID, tmp_path, workers=1, progress=False), "out", "it is a directory")
    _raises(lambda: run_market_study(GRID, "afile/x.parquet", workers=1, progress=False), "out",
            "afile is not a directory")
    _raises(lambda: run_market_study(GRID, 3, workers=1, progress=False), "out", "expected a file path")
    _raises(lambda: run_market_study({"kind": "market"}, "x.parquet", workers=1, progress=False), "grid",
            "expected a MarketGrid (MarketGrid.from_dict or load_market_grid make one), got dict")
    _raises(lambda: read_market(tmp_path), str(tmp_path), "is a directory, not a market study table")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_market_study_refuses_another_grids_table_and_saves_on_a_signal(tmp_path, monkeypatch):
    """As a caching study: a table written by another grid needs extend=True (it was merged
    silently), and a signal saves the finished cells and raises StudyInterrupted (SIGTERM lost them)."""
    import signal

    from optcache.resume import Interrupt, StudyInterrupted

    out = tmp_path / "m.parquet"
    first = run_market_study(GRID, out, workers=1, progress=False)
    other = MarketGrid(seeds=1, knobs={**GRID.knobs, "users": 6})
    _raises(lambda: run_market_study(other, out, workers=1, progress=False), str(out),
            "holds the results of another grid (1 cells, 1 of them not in this one)")
    assert len(read_market(out)) == len(first) == 1
    assert len(run_market_study(other, out, workers=1, progress=False, extend=True)) == 2

    real, calls = sweep.run_market_cell, []

    def stop_at_second(cell):
        calls.append(cell)
        if len(calls) == 2:
            raise Interrupt(signal.SIGTERM)  # what the CLI's handler raises
        return real(cell)

    monkeypatch.setattr(sweep, "run_market_cell", stop_at_second)
    two = MarketGrid(seeds=[5, 6], knobs=GRID.knobs)
    out2 = tmp_path / "m2.parquet"
    with pytest.raises(StudyInterrupted) as e:
        run_market_study(two, out2, workers=1, progress=False)
    assert (e.value.signum, e.value.saved, e.value.cells) == (signal.SIGTERM, 1, 2)
    assert len(read_market(out2)) == 1


@pytest.mark.parametrize("every, seen", [(0.0, [0, 1, 2]), (float("inf"), [0, 0, 0])])
def test_a_market_study_checkpoints_its_table_while_it_runs(tmp_path, monkeypatch, every, seen):
    """A SIGKILL lost every cell of the run (the table was written only at the end): with
    checkpoint_seconds = 0 the table on disk holds each finished cell before the next one starts."""
    out = tmp_path / "m.parquet"
    real, on_disk = sweep.run_market_cell, []

    def look_then_run(cell):
        on_disk.append(len(read_market(out)) if out.exists() else 0)
        return real(cell)

    monkeypatch.setattr(sweep, "run_market_cell", look_then_run)
    grid = MarketGrid(seeds=[1, 2, 3], knobs=GRID.knobs)
    assert len(run_market_study(grid, out, workers=1, progress=False, checkpoint_seconds=every)) == 3
    assert on_disk == seen and len(read_market(out)) == 3
    _raises(lambda: run_market_study(grid, out, workers=1, progress=False, checkpoint_seconds=-1),
            "checkpoint_seconds", "must be a number of seconds >= 0")


def test_a_market_study_refuses_an_output_in_use(tmp_path):
    """Two market studies on one output both ran, and the later rewrite dropped the other's rows:
    the market study takes the caching study's lock (OUT.lock) now."""
    from optcache.resume import OutputLock

    out = tmp_path / "m.parquet"
    with OutputLock(out):  # what a running study holds
        _raises(lambda: run_market_study(GRID, out, workers=1, progress=False), str(out),
                "in use by another study")
        assert not out.exists()
    assert len(run_market_study(GRID, out, workers=1, progress=False)) == 1
    assert not (tmp_path / "m.parquet.lock").exists()
