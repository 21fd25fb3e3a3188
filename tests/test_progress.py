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
