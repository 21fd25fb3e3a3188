"""The one registry of caching methods, read by the CLI, the study API and the tests.

A method is a function `(instance, **options) -> MethodResult`. Modules register themselves with
`@register(name)`; `get(name)` imports the solver modules on first use so that importing the
registry stays light.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optcache.errors import InvalidInput, SolverFailed
from optcache.results import MethodResult

log = logging.getLogger(__name__)

OPTION_RULES: dict[str, str] = {
    "time_limit": "seconds for the whole method (omitted: no limit): a finite number > 0",
    "gap": "relative gap at which an exact method stops: a number in [0, 1)",
    "threads": "HiGHS threads: an integer in [1, 1024]",
}
"""Options shared by several methods, checked here for the CLI, studies and the API alike
(docs/formulation.md §14); method-specific options (horizon, forecast, ...) are checked by the method."""

_MODULES = (
    "optcache.solvers.reference",
    "optcache.solvers.exact",
    "optcache.solvers.policies",
    "optcache.solvers.rolling",
    "optcache.solvers.lagrange",
)


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its function, whether it is exact (returns a bound), and options."""

    name: str
    func: Callable[..., MethodResult]
    exact: bool
    description: str
    options: tuple[str, ...] = ()


_REGISTRY: dict[str, MethodSpec] = {}
_loaded = False


def register(name: str, *, exact: bool = False, options: tuple[str, ...] = ()) -> Callable:
    """Decorator: add a method under `name` (its docstring's first line is its description)."""

    def deco(func: Callable[..., MethodResult]) -> Callable[..., MethodResult]:
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = MethodSpec(name, func, exact, doc[0] if doc else "", options)
        return func

    return deco


def _load() -> None:
    global _loaded
    if not _loaded:
        for mod in _MODULES:
            try:
                importlib.import_module(mod)
            except ModuleNotFoundError as e:  # a solver module not written yet
                if e.name != mod:
                    raise
        _loaded = True


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def get(name: str) -> MethodSpec:
    _load()
    if name not in _REGISTRY:
        raise InvalidInput("method", f"unknown method {name!r}; choose from {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def check_option(name: str, value: Any, where: str | None = None) -> Any:
    """`value` if it is valid for the shared option `name` (OPTION_RULES), else InvalidInput."""
    where = where or name
    if name not in OPTION_RULES or value is None:
        return value
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if name == "time_limit":
        ok = number and math.isfinite(value) and value > 0
    elif name == "gap":
        ok = number and math.isfinite(value) and 0 <= value < 1
    else:
        ok = number and float(value).is_integer() and 1 <= value <= 1024
        value = int(value) if ok else value
    if not ok:
        raise InvalidInput(where, f"must be {OPTION_RULES[name].rsplit(': ', 1)[1]}, got {value!r}"[:160])
    return value


def check_options(name: str, options: dict) -> dict:
    """The options given (None dropped) if method `name` takes them and their values are valid."""
    spec = get(name)
    given = {k: v for k, v in options.items() if v is not None}
    bad = sorted(k for k in given if k not in spec.options)
    if bad:
        raise InvalidInput(bad[0], f"method {name!r} takes no option {bad[0]!r} (it takes: {', '.join(spec.options) or 'none'})")
    return {k: check_option(k, v) for k, v in given.items()}


def run(name: str, inst, **options) -> MethodResult:
    """Run a registered method; unknown or invalid options are an error naming them.

    A solver that stops without an answer (`SolverFailed`) or runs out of memory gives a result
    with status 'error' and a one-line message, not an exception."""
    spec = get(name)
    opts = check_options(name, options)
    t0 = time.perf_counter()
    try:
        return spec.func(inst, **opts)
    except SolverFailed as e:
        log.info("%s failed: %s", name, e)
        return MethodResult.failed(name, str(e), time.perf_counter() - t0)
    except MemoryError:
        log.info("%s ran out of memory", name)
        return MethodResult.failed(name, "out of memory: the instance is too large for this method "
                                   "on this machine", time.perf_counter() - t0)
