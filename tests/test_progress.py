"""Progress bars update rarely when written to a log, as usual on a terminal."""

from __future__ import annotations

import io

from optcache.progress import LOG_INTERVAL, progress_bar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_output_is_throttled():
    log = io.StringIO()
    bar = progress_bar(range(3), file=log)
    assert bar.mininterval == LOG_INTERVAL
    assert list(bar) == [0, 1, 2]


def test_terminal_output_is_live():
    bar = progress_bar(range(3), file=FakeTerminal())
    assert bar.mininterval < 1.0
    list(bar)


def test_an_explicit_interval_wins():
    assert progress_bar(range(1), file=io.StringIO(), mininterval=0.5).mininterval == 0.5


def test_quiet_cli_shows_no_progress_bar(tmp_path, capsys):
    """`optcache -q` promises "no progress lines"; a study still drew its bar on stderr."""
    from optcache.cli import main

    grid = tmp_path / "g.toml"
    grid.write_text('methods = ["static"]\nseeds = [0, 1]\n[knobs]\nslots = 3\nstations = 1\n')
    assert main(["study", str(grid), "--out", str(tmp_path / "a.parquet"), "--workers", "1"]) == 0
    assert "study (serial)" in capsys.readouterr().err  # the bar, without -q
    assert main(["-q", "study", str(grid), "--out", str(tmp_path / "b.parquet"), "--workers", "1"]) == 0
    assert capsys.readouterr().err == ""
    assert progress_bar(range(1), file=io.StringIO()).disable is False  # the API keeps its bars


def test_long_heuristic_runs_log_their_progress(monkeypatch, caplog):
    """rolling over many stations, slot and static printed nothing for 10-20 s (the scale sweep):
    each now logs a line at most every PROGRESS_SECONDS (0 here, so every station or slot)."""
    import logging

    from optcache import logs
    from optcache.scenario import generate
    from optcache.solvers import registry

    monkeypatch.setattr(logs, "PROGRESS_SECONDS", 0.0)
    inst = generate(slots=2, services=2, stations=2, seed=0)
    with caplog.at_level(logging.INFO, logger="optcache"):
        for method, opts in (("static", {}), ("slot", {}), ("rolling", {"horizon": 1})):
            registry.run(method, inst, **opts)
    text = caplog.text
    assert "static: 2 of 2 stations" in text and "slot: station 2 of 2, slot 2 of 2" in text
    assert "rolling: 2 of 2 stations done" in text
