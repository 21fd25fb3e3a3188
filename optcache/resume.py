"""What a resumable run (a caching or a market study) needs: the signal it stops on, reported
after saving, and the identity of the grids that wrote the table it resumes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd

from optcache.errors import InvalidInput


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
