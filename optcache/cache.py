"""Where optcache keeps what it can recompute (trained default policies): the user's cache.

`$OPTCACHE_CACHE_DIR` if set, else the platform's user cache folder: `$XDG_CACHE_HOME/optcache`
or `~/.cache/optcache` on Linux, `~/Library/Caches/optcache` on macOS, `%LOCALAPPDATA%\\optcache\\Cache`
on Windows. Deleting it loses nothing but the time to recompute.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from optcache.errors import InvalidInput


def cache_dir() -> Path:
    """The cache folder (created if missing); one that cannot be a folder is InvalidInput naming
    OPTCACHE_CACHE_DIR, the setting that moves it."""
    env = os.environ.get("OPTCACHE_CACHE_DIR")
    if env:
        path = Path(env).expanduser()
    elif sys.platform == "darwin":
        path = Path.home() / "Library" / "Caches" / "optcache"
    elif os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        path = Path(base) / "optcache" / "Cache"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "optcache"
    if path.exists() and not path.is_dir():
        raise InvalidInput("OPTCACHE_CACHE_DIR", f"the cache folder {path} is not a directory"
                           + ("" if env else "; set OPTCACHE_CACHE_DIR to another folder"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a parent that is a file, no permission, a read-only file system
        raise InvalidInput("OPTCACHE_CACHE_DIR", f"cannot create the cache folder {path}: {e.strerror or e}"
                           + ("" if env else "; set OPTCACHE_CACHE_DIR to another folder")) from None
    return path
