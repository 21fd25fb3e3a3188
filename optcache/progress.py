"""Progress bars: live on a terminal or in Jupyter, a few lines a minute in logs and CI."""

from __future__ import annotations

import sys

LOG_INTERVAL = 30.0
"""Seconds between updates when stderr is neither a terminal nor a notebook (logs, CI, pipes)."""


SILENT = False
"""Set by the CLI's -q: no progress bar at all, whatever a command's --progress says."""


def progress_bar(iterable=None, **kwargs):
    """`tqdm.auto.tqdm(iterable, **kwargs)`; when its output goes to a file, at most one update
    per LOG_INTERVAL (tqdm redraws ~10 times a second, which fills non-terminal logs)."""
    from tqdm.auto import tqdm

    if SILENT:
        kwargs["disable"] = True

    notebook = sys.modules.get("tqdm.notebook")  # imported by tqdm.auto only inside Jupyter
    widget = notebook is not None and issubclass(tqdm, notebook.tqdm_notebook)
    stream = kwargs.get("file") or sys.stderr
    if not widget and not getattr(stream, "isatty", lambda: False)():
        kwargs.setdefault("mininterval", LOG_INTERVAL)
    return tqdm(iterable, **kwargs)
