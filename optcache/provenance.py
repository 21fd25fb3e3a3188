"""Provenance of every result optcache writes, built in one place: schema, versions, seed, grid.

A result file (solve JSON, a study's Parquet metadata, the figures' manifest, market JSON, DQMSB
checkpoints) carries `provenance(schema, ...)`, so that a number can be traced to the code, the
solver and the seed that produced it. Versions are read from the installed distributions'
metadata (`importlib.metadata`), which imports nothing.
"""

from __future__ import annotations

import numbers
import platform
from importlib import metadata
from typing import Any

from optcache.errors import InvalidInput

SOLVE_SCHEMA = "optcache/solve@1"
"""`optcache solve` output (`MethodResult.to_contract`)."""
STUDY_SCHEMA = "optcache/study@1"
"""A study's Parquet table (`optcache.study.COLUMNS`); its provenance is in the file's metadata."""
FIGURES_SCHEMA = "optcache/figures@1"
"""`figures.json`, the manifest `optcache figures` writes beside the figures and their source tables."""
MARKET_SCHEMA = "optcache/market-evaluate@1"
"""`optcache market evaluate --json`."""
EXPORT_SCHEMA = "optcache/export@1"
"""The header of an LP/MPS file written by `optcache export`."""

CORE_PACKAGES = ("numpy", "pandas")
SOLVER_PACKAGES = ("numpy", "pandas", "pyomo", "highspy", "numba")
MARKET_PACKAGES = ("numpy", "pandas", "torch")


def package_version(name: str) -> str | None:
    """The installed version of distribution `name`, or None if it is not installed."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("name", f"expected a distribution name, got {name!r}"[:160])
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def optcache_version() -> str:
    """The installed optcache's version."""
    from optcache import __version__

    return __version__


def provenance(schema: str, *, packages: tuple[str, ...] = CORE_PACKAGES, seed: Any = None,
               solver: str | None = None, solver_version: str | None = None,
               grid: Any = None, **extra: Any) -> dict:
    """The provenance record of a result: its schema, the optcache, Python and package versions,
    the solver (name and version) and seed where there is one, and a study's grid. `extra`
    adds fields; it cannot replace the recorded ones."""
    if isinstance(packages, str) or not all(isinstance(p, str) for p in packages):
        raise InvalidInput("packages", f"expected a tuple of distribution names, got {packages!r}"[:160])
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        seed = int(seed)  # a numpy integer is not JSON
    rec: dict[str, Any] = {
        "schema": schema,
        "optcache": optcache_version(),
        "python": platform.python_version(),
        "packages": {p: package_version(p) for p in packages},
        "seed": seed,
    }
    if solver is not None or solver_version is not None:
        rec["solver"] = {"name": solver, "version": solver_version}
    if grid is not None:
        rec["grid"] = grid
    clash = sorted(set(extra) & {"schema", "optcache", "python", "packages", "seed", "solver", "grid"})
    if clash:
        raise InvalidInput(clash[0], "is recorded by provenance itself; pass it by its own argument")
    rec.update(extra)
    return rec


def parse_schema(schema: Any) -> tuple[str, int] | None:
    """'optcache/study@1' -> ('optcache/study', 1); None if it is not of that form."""
    if not isinstance(schema, str) or "@" not in schema:
        return None
    family, _, version = schema.rpartition("@")
    return (family, int(version)) if version.isascii() and version.isdigit() else None  # not '²'


def check_schema(found: Any, expected: str, where: str) -> None:
    """Refuse (InvalidInput) a file of another kind than `expected` or of a newer version."""
    want, got = parse_schema(expected), parse_schema(found)
    if want is None:
        raise InvalidInput("expected", f"not a schema of the form 'optcache/KIND@VERSION': {expected!r}"[:160])
    if got is None or got[0] != want[0]:
        raise InvalidInput(where, f"not an {want[0]} file (schema {found!r})")
    if got[1] > want[1]:
        raise InvalidInput(where, f"written with schema {found!r}, newer than this optcache "
                           f"({optcache_version()}) reads ({expected}); upgrade optcache")
