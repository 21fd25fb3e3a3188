"""What a resumable run (a caching or a market study) needs: the signal it stops on, reported
after saving, and the identity of the grids that wrote the table it resumes."""

from __future__ import annotations

import logging
import math
import numbers
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optcache.errors import InvalidInput
from optcache.instance import make_folder

log = logging.getLogger(__name__)


class StudyInterrupted(KeyboardInterrupt):
    """A study stopped by SIGINT or SIGTERM after saving every finished cell."""

    def __init__(self, signum: int, saved: int, cells: int, out: str | os.PathLike | None):
        self.signum, self.saved, self.cells, self.out = signum, saved, cells, out
        where = f" in {out}" if out is not None else " (no --out: nothing written)"
        super().__init__(f"interrupted by {signal.Signals(signum).name}: {saved} of the grid's "
                         f"{cells} cells saved{where}")


class Interrupt(KeyboardInterrupt):
    """What a SIGTERM (or SIGINT) handler raises so that `run_study` saves and reports the signal."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def interrupt_in(e: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (a signal's `Interrupt`) behind `e`, if any: a signal handler that
    raises while compiled code (numba) returns comes back as a SystemError caused by it, and
    inside Pyomo's output capture as a RuntimeError raised while handling it."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def check_checkpoint_seconds(seconds: Any) -> float:
    """How often a study saves its table: a number of seconds >= 0 (inf: only at the end; numpy
    numbers count), else InvalidInput naming `checkpoint_seconds`."""
    if isinstance(seconds, np.generic):
        seconds = seconds.item()
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or math.isnan(seconds) or seconds < 0:
        raise InvalidInput("checkpoint_seconds", "must be a number of seconds >= 0 (inf: only at the "
                           f"end), got {seconds!r}"[:160])
    return seconds


def check_grid(out: Path, old: pd.DataFrame, grids: dict, gid: str, ids: set[str],
               extend: bool) -> None:
    """Refuse to resume `out` with a grid other than those that wrote it, unless `extend`."""
    if extend or gid in grids or not len(old):
        return
    foreign = int((~old["cell"].isin(ids)).sum())
    if grids or foreign:
        raise InvalidInput(str(out), f"holds the results of another grid ({len(old)} cells, {foreign} "
                           "of them not in this one); pass --extend (extend=True) to add this "
                           "grid's cells to it, or choose another --out")


def lock_path(out: str | os.PathLike) -> Path:
    """The lock file held while a study writes `out`."""
    return Path(f"{out}.lock")


class OutputLock:
    """An exclusive flock on `OUT.lock`: one study (caching or market) per output; the kernel drops
    it with the process."""

    def __init__(self, out: Path):
        self.out, self.path, self.fd = out, lock_path(out), None

    def __enter__(self) -> OutputLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            log.warning("no fcntl: %s is not locked against a second study", self.out)
            return self
        make_folder(self.path.parent, str(self.out))
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except IsADirectoryError:
                raise InvalidInput(str(self.path), "is a directory, not the study's lock file: "
                                   "remove it, or choose another --out") from None
            except OSError as e:  # no permission, a read-only file system
                raise InvalidInput(str(self.path), f"cannot create the study's lock file: "
                                   f"{e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise InvalidInput(str(self.out), f"in use by another study (pid {holder}, lock "
                                   f"{self.path.name}); wait for it or choose another --out") from None
            try:  # the file locked must still be the one at the path (a finishing study unlinks it)
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None
