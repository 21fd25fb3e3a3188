"""The one registry of caching methods, read by the CLI, the study API and the tests.

A method is a function `(instance, **options) -> MethodResult`. Modules register themselves with
`@register(name)`; `get(name)` imports the solver modules on first use so that importing the
registry stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from optcache.errors import InvalidInput
from optcache.results import MethodResult

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


def run(name: str, inst, **options) -> MethodResult:
    """Run a registered method; unknown options are an error naming them."""
    spec = get(name)
    bad = sorted(k for k, v in options.items() if v is not None and k not in spec.options)
    if bad:
        raise InvalidInput(bad[0], f"method {name!r} takes no option {bad[0]!r} (it takes: {', '.join(spec.options) or 'none'})")
    return spec.func(inst, **{k: v for k, v in options.items() if v is not None})
