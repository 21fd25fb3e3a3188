"""Progress bars: live on a terminal or in Jupyter, a few lines a minute in logs and CI."""

from __future__ import annotations

import sys

LOG_INTERVAL = 30.0
"""Seconds between updates when stderr is neither a terminal nor a notebook (logs, CI, pipes)."""


def progress_bar(iterable=None, **kwargs):
    """`tqdm.auto.tqdm(iterable, **kwargs)`; when its output goes to a file, at most one update
    per LOG_INTERVAL (tqdm redraws ~10 times a second, which fills non-terminal logs)."""
    from tqdm.auto import tqdm
    from tqdm.std import tqdm as plain

    widget = any(base is not plain and issubclass(base, plain) and base.__module__ == "tqdm.notebook"
                 for base in tqdm.__mro__)  # tqdm.auto chose the Jupyter widget
    stream = kwargs.get("file") or sys.stderr
    if not widget and not getattr(stream, "isatty", lambda: False)():
        kwargs.setdefault("mininterval", LOG_INTERVAL)
    return tqdm(iterable, **kwargs)
