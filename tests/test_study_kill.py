"""Killing a real `optcache study` process: SIGKILL, SIGTERM and SIGINT lose only the cells in flight.

One table is built in stages, each a fresh study process killed at a random moment after its first
finished cell: SIGKILL with a process pool (no worker or forkserver may outlive it), SIGKILL of a
serial study that records each finished cell in a witness file (at most the one cell in flight
may be missing), SIGTERM and SIGINT (exit 143 and 130 with a one-line count of the saved cells),
then a run to completion. Rows saved by a killed study are never recomputed or changed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from optcache import study as S

pytestmark = pytest.mark.slow

OPTCACHE = Path(sys.executable).parent / "optcache"

# ~40-100 ms per cell: long enough to kill a study mid-run, short enough for the suite
GRID = """
methods = ["laot", "all-cloud"]
seeds = 20
[knobs]
stations = 2
services = 20
slots = 2500
"""

# the real CLI entry point, with run_cell wrapped to record each cell once it has finished
WITNESS = """
import os, sys
import optcache.study as S
real = S.run_cell
def run_cell(cell):
    row = real(cell)
    with open(os.environ["OPTCACHE_WITNESS"], "a") as f:
        f.write(cell["cell"] + "\\n")
        f.flush()
        os.fsync(f.fileno())
    return row
S.run_cell = run_cell
from optcache.cli import main
sys.exit(main(sys.argv[1:]))
"""


def journal_cells(out: Path) -> set[str]:
    """Cells in the journal right now (a study may be appending: the last line may be partial)."""
    try:
        lines = S.journal_path(out).read_bytes().split(b"\n")
    except FileNotFoundError:
        return set()
    return {ln[10:26].decode() for ln in lines[:-1] if ln.startswith(b'{"cell": "')}


def saved_cells(out: Path) -> set[str]:
    """Cells saved right now (Parquet file and journal), read while a study may be writing them."""
    for _ in range(100):
        try:
            cells = set(pd.read_parquet(out, columns=["cell"])["cell"]) if out.exists() else set()
        except (OSError, ValueError):  # replaced while read: read again
            time.sleep(0.01)
            continue
        return cells | journal_cells(out)
    raise AssertionError("cannot read the saved cells")


def saved(out: Path) -> pd.DataFrame:
    return S.read_results(out) if out.exists() or S.journal_path(out).exists() else S.empty_table()


def start(cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def kill_mid_run(proc: subprocess.Popen, out: Path, sig: int, rng: random.Random
                 ) -> tuple[set[str], list[psutil.Process], str, str]:
    """Wait until this study has saved a cell, wait a random moment, send `sig`; return the cells
    saved just before, the process's descendants, and its stdout/stderr."""
    before = saved_cells(out)  # a new study first folds an old journal into the Parquet file
    t0 = time.monotonic()
    while not journal_cells(out) - before:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 60, "no cell finished within 60 s"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.3))
    assert proc.poll() is None, "the study finished before the kill: the grid is too small"
    family = psutil.Process(proc.pid).children(recursive=True)
    seen = saved_cells(out)
    os.kill(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=60)
    return seen, family, stdout, stderr


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_all_dead(procs: list[psutil.Process], timeout: float = 10.0) -> None:
    """Every process is gone (or a zombie: dead, waiting for init to reap it)."""
    deadline = time.monotonic() + timeout
    alive = procs
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _alive(p)]
    assert not alive, [p.pid for p in alive]


def test_kills_lose_only_the_cells_in_flight(tmp_path, monkeypatch):
    seed = int(os.environ.get("OPTCACHE_KILL_SEED", int.from_bytes(os.urandom(4), "little")))
    print(f"kill timings seed {seed} (replay: OPTCACHE_KILL_SEED={seed})")  # shown when it fails
    rng = random.Random(seed)
    grid = tmp_path / "g.toml"
    grid.write_text(GRID)
    out = tmp_path / "r.parquet"
    ids = [c["cell"] for c in S.cells(S.Grid.from_toml(grid))]
    study = [str(OPTCACHE), "study", str(grid), "--out", str(out), "--no-progress"]
    kept: list[pd.DataFrame] = []

    # 1. SIGKILL a pool study: the rows in its journal survive, its workers and forkserver die
    proc = start([*study, "--workers", "2"])
    seen, family, _, _ = kill_mid_run(proc, out, signal.SIGKILL, rng)
    assert proc.returncode == -signal.SIGKILL
    assert len(family) >= 3  # resource tracker, forkserver, workers
    assert_all_dead(family)
    df = saved(out)
    assert seen <= set(df["cell"]) <= set(ids) and df["cell"].is_unique
    assert (df["status"] == "ok").all()
    kept.append(df)

    # 2. SIGKILL a serial study whose cells record themselves once finished: every finished cell
    #    is saved but the one in flight (finished, killed before its row was written)
    witness = tmp_path / "witness.txt"
    proc = start([sys.executable, "-c", WITNESS, *study[1:], "--workers", "1"],
                 env={"OPTCACHE_WITNESS": str(witness)})
    kill_mid_run(proc, out, signal.SIGKILL, rng)
    finished = set(witness.read_text().split())
    df = saved(out)
    assert len(finished) >= 1
    assert len(finished - set(df["cell"])) <= 1, "a finished cell other than the one in flight was lost"
    assert set(kept[-1]["cell"]) <= set(df["cell"]) and df["cell"].is_unique
    kept.append(df)

    # 3. SIGTERM (pool) and 4. SIGINT (serial): save, say how many cells are saved, exit 128 + n
    for sig, workers in ((signal.SIGTERM, "2"), (signal.SIGINT, "1")):
        proc = start([*study, "--workers", workers])
        seen, family, stdout, stderr = kill_mid_run(proc, out, sig, rng)
        assert proc.returncode == 128 + sig, stderr
        assert len(seen) > len(kept[-1])
        assert stdout == ""
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in stderr, stderr
        df = S.read_results(out)
        assert lines[0].startswith(f"error: interrupted by {signal.Signals(sig).name}: "
                                   f"{len(df)} of the grid's {len(ids)} cells saved in {out}")
        assert seen <= set(df["cell"]) and df["cell"].is_unique
        # compacted: one Parquet file, no journal, the lock released and removed
        assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml", "r.parquet", "witness.txt"]
        assert_all_dead(family)
        kept.append(df)

    # 5. resume to completion (here, serially): only the missing cells run, saved rows are kept
    ran = []
    real = S.run_cell
    monkeypatch.setattr(S, "run_cell", lambda cell: ran.append(cell["cell"]) or real(cell))
    final = S.run_study(S.Grid.from_toml(grid), out, workers=1, progress=False)
    assert sorted(ran) == sorted(set(ids) - set(kept[-1]["cell"]))
    assert sorted(final["cell"]) == sorted(ids) and (final["status"] == "ok").all()
    for df in kept:  # timing columns included: nothing saved was recomputed
        again = final.set_index("cell").loc[df["cell"]].reset_index()[list(df.columns)]
        pd.testing.assert_frame_equal(again, df.reset_index(drop=True))


def test_second_study_is_refused_and_an_early_sigterm_saves(tmp_path):
    """While a study runs, another on the same output is refused in one line; a SIGTERM then
    (whether or not a cell has finished) exits 143 saying how many cells are saved."""
    grid = tmp_path / "g.toml"
    grid.write_text(GRID.replace("seeds = 20", "seeds = 500"))  # runs until interrupted below
    out = tmp_path / "r.parquet"
    cmd = [str(OPTCACHE), "study", str(grid), "--out", str(out), "--no-progress", "--workers", "1"]
    proc = start(cmd)
    try:
        t0 = time.monotonic()
        while not S.journal_path(out).exists():  # started: the lock is held, the journal open
            assert proc.poll() is None and time.monotonic() - t0 < 60
            time.sleep(0.01)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
        assert r.stderr.startswith(f"error: {out}: in use by another study (pid {proc.pid}, ")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    n = len(S.read_results(out))
    assert stderr.strip() == (f"error: interrupted by SIGTERM: {n} of the grid's 1000 cells saved "
                              f"in {out}; run the same command again to resume")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml", "r.parquet"]
