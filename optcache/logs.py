"""Logging conventions of the package: module loggers only, no handlers (the CLI sets those up).

Exact methods log progress at INFO (rounds, nodes, bound, incumbent, at most one line every
`PROGRESS_SECONDS` inside a long solve) and details at DEBUG. A method that calls another many
times (rolling's windows) demotes the inner method's INFO lines to DEBUG with `demoted` and logs
its own progress instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

PROGRESS_SECONDS = 5.0
"""Seconds between two INFO progress lines of one long computation."""


class Progress:
    """A method's progress lines: `progress(msg, *args)` logs at INFO at most once every
    `PROGRESS_SECONDS` (nothing for a method that ends sooner)."""

    def __init__(self, logger: logging.Logger):
        self.log, self.last = logger, time.monotonic()

    def __call__(self, msg: str, *args: object) -> None:
        if time.monotonic() - self.last >= PROGRESS_SECONDS:
            self.last = time.monotonic()
            self.log.info(msg, *args)

SOLVER_LOGGERS = ("optcache.solvers.exact", "optcache.solvers.highs", "optcache.solvers.pyomo_mip",
                  "optcache.solvers.rolling", "optcache.solvers.lagrange.search",
                  "optcache.solvers.registry", "optcache.solvers.reference")
"""Loggers of the methods: a study (many cells, its own progress bar) demotes their INFO lines."""


class _Demote(logging.Filter):
    """Turn INFO records into DEBUG ones, kept only where DEBUG is enabled (`optcache -v`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(record.levelno)


@contextmanager
def demoted(*names: str) -> Iterator[None]:
    """Within the block, INFO lines of the loggers `names` are logged at DEBUG."""
    f = _Demote()
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addFilter(f)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(f)
