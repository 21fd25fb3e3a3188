"""The one registry of caching methods, read by the CLI, the study API and the tests.

A method is a function `(instance, **options) -> MethodResult`. Modules register themselves with
`@register(name)`; `get(name)` imports the solver modules on first use so that importing the
registry stays light.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import numbers
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optcache.errors import InvalidInput, SolverFailed, finite

if TYPE_CHECKING:  # imported when a method runs: the registry itself stays light for the CLI
    from optcache.results import MethodResult

log = logging.getLogger(__name__)

OPTION_RULES: dict[str, str] = {
    "time_limit": "seconds for the whole method, every station and rolling window included "
                  "(omitted: no limit): a finite number > 0",
    "window_time_limit": "seconds for each rolling-horizon window, within time_limit "
                         "(omitted: no limit): a finite number > 0",
    "gap": "relative gap (cost − bound)/cost at which an exact method stops: a number in [0, 1)",
    "threads": "solver threads: an integer in [1, 1024]",
    "solver": "MILP solver: 'highs' (highspy on the network form, the default and fastest) or a "
              "solver Pyomo can drive by name ('pyomo:highs', 'appsi_highs', 'cbc', 'scip', "
              "'gurobi', 'cplex', ...): a name of letters, digits and _.:-",
    "solver_options": "options handed to that solver unchanged: a table of name → number, "
                      "string or boolean",
}
"""Options shared by several methods, checked here for the CLI, studies and the API alike
(docs/formulation.md §14); method-specific options (horizon, forecast, ...) are checked by the
method's own check (`option_check`), which `check_options` runs too."""

TABLE_OPTIONS = ("solver_options",)
"""Options whose one value is a table (a study grid's table is one value, not a sweep)."""

OPTION_HELP: dict[str, str] = {
    **{k: v.rsplit(": ", 1)[0] for k, v in OPTION_RULES.items()},
    "horizon": "rolling-horizon window length H, in slots",
    "forecast": "requests a rolling window assumes after its first slot: oracle (the true "
                "future) or mean (each pair's mean so far, rounded half up)",
    "window_solver": "exact method that solves each rolling window: lagrange or milp",
    "tail": "rolling window's terminal value: none (docs/formulation.md §10 as written) or relaxed "
            "(each pair's cost-to-go after the window)",
}
"""One line per option name, for `optcache methods --json`, the CLI help and the docs."""

RENAMED: dict[str, str] = {"solver": "window_solver"}
"""Options renamed for methods that no longer take the old name (rolling's window method)."""

_SOLVER_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

_MODULES = (
    "optcache.solvers.reference",
    "optcache.solvers.exact",
    "optcache.solvers.policies",
    "optcache.solvers.rolling",
    "optcache.solvers.lagrange",
)

_HOME = {
    "all-cloud": "optcache.solvers.reference", "static": "optcache.solvers.reference",
    "milp": "optcache.solvers.exact", "slot": "optcache.solvers.exact",
    "laot": "optcache.solvers.policies", "fifo": "optcache.solvers.policies",
    "lru": "optcache.solvers.policies", "lfu": "optcache.solvers.policies",
    "rolling": "optcache.solvers.rolling", "lagrange": "optcache.solvers.lagrange",
}
"""The module that registers each built-in method: `get(name)` imports only that one (a heuristic
then starts without Pyomo); `names()` imports them all. tests/test_cli.py holds it complete."""


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its function, whether it is exact (returns a bound), and options."""

    name: str
    """The registry name, e.g. `laot`."""
    func: Callable[..., MethodResult]
    """The function `(instance, **options) -> MethodResult`."""
    exact: bool
    """True if the method returns a certified lower bound."""
    description: str
    """The first line of the function's docstring."""
    options: tuple[str, ...] = ()
    """The option names the method takes; each is explained once in `OPTION_HELP`."""


_REGISTRY: dict[str, MethodSpec] = {}
_CHECKS: dict[str, Callable[..., None]] = {}
_loaded = False


def is_builtin(name: str) -> bool:
    """`name` is one of optcache's own methods (not one a user registered)."""
    return name in _HOME


def register(name: str, *, exact: bool = False, options: tuple[str, ...] = ()) -> Callable:
    """Decorator: add a method under `name` (its docstring's first line is its description)."""

    def deco(func: Callable[..., MethodResult]) -> Callable[..., MethodResult]:
        where = f"{func.__module__}.{func.__qualname__}"
        if name in _HOME and func.__module__ != _HOME[name]:
            raise InvalidInput("method", f"{name!r} is a built-in method; register {where} under another name")
        old = _REGISTRY.get(name)
        if old is not None and f"{old.func.__module__}.{old.func.__qualname__}" != where:
            # the same function defined again (a re-run notebook cell, a reload) replaces itself
            raise InvalidInput("method", f"{name!r} is already registered by "
                               f"{old.func.__module__}.{old.func.__qualname__}; choose another name")
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = MethodSpec(name, func, exact, doc[0] if doc else "", options)
        return func

    return deco


def option_check(name: str) -> Callable:
    """Decorator: register method `name`'s own check of its options, run by `check_options` (so
    by the CLI, study grids and `run` alike) with every option the method takes, defaults filled in."""

    def deco(func: Callable[..., None]) -> Callable[..., None]:
        _CHECKS[name] = func
        return func

    return deco


PLUGIN_GROUP = "optcache.methods"
"""Entry-point group of methods from other packages: a package that declares
`[project.entry-points."optcache.methods"] NAME = "its.module"` in its pyproject.toml has that
module imported (it registers with `@register`) wherever optcache looks methods up: the CLI,
studies and their pool or Dask workers (docs/howto/add-policy.md)."""


def _load() -> None:
    global _loaded
    if not _loaded:
        for mod in _MODULES:
            importlib.import_module(mod)
        _load_plugins()
        _loaded = True


def _load_plugins() -> None:
    """Import every module of the `PLUGIN_GROUP` entry points; one that fails is bad input
    naming its entry point (a plugin's bug must not look like an unknown method)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            importlib.import_module(ep.module)
        except InvalidInput:
            raise
        except Exception as e:  # noqa: BLE001 - a plugin may fail any way; say which one
            raise InvalidInput(f"entry point {PLUGIN_GROUP}:{ep.name}",
                               f"cannot import {ep.module}: {type(e).__name__}: {e}"[:300]) from None


def names() -> list[str]:
    """Every registered method's name, sorted (imports all solver modules)."""
    _load()
    return sorted(_REGISTRY)


def get(name: str) -> MethodSpec:
    """The `MethodSpec` of method `name`; InvalidInput naming the known methods if unknown."""
    if not isinstance(name, str):
        raise InvalidInput("method", f"expected a method name (a string), got {type(name).__name__}")
    if name not in _REGISTRY and name in _HOME:
        importlib.import_module(_HOME[name])
    if name not in _REGISTRY:
        _load()
    if name not in _REGISTRY:
        raise InvalidInput("method", f"unknown method {name!r}; choose from {', '.join(sorted(_REGISTRY))} "
                           f"(a method of your own: an {PLUGIN_GROUP!r} entry point, docs/howto/add-policy.md)")
    return _REGISTRY[name]


def check_option(name: str, value: Any, where: str | None = None) -> Any:
    """`value` if it is valid for the shared option `name` (OPTION_RULES), else InvalidInput;
    numpy numbers are accepted as the Python numbers they equal (and returned as those)."""
    where = where or name
    if name not in OPTION_RULES or value is None:
        return value
    value = _plain(value)
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if name == "solver":
        ok = isinstance(value, str) and _SOLVER_NAME.fullmatch(value) is not None
    elif name == "solver_options":
        return _check_solver_options(value, where)
    elif number and isinstance(value, int) and abs(value) > sys.float_info.max:  # 10**400
        ok = False
    elif name in ("time_limit", "window_time_limit", "gap"):
        ok = number and finite(value) and (value > 0 if name != "gap" else 0 <= value < 1)
        if ok and float(value).is_integer():  # 30 and 30.0 are one value: one cell id, one label
            value = int(value)
    else:
        ok = number and float(value).is_integer() and 1 <= value <= 1024
        value = int(value) if ok else value
    if not ok:
        from optcache.instance import show_value

        got = show_value(value) if isinstance(value, int) and not isinstance(value, bool) else repr(value)
        raise InvalidInput(where, f"must be {OPTION_RULES[name].rsplit(': ', 1)[1]}, got {got}"[:160])
    return value


def _plain(v: Any) -> Any:
    """A numpy (or other) real number as the Python int or float it equals: JSON, labels and
    solvers take those; anything else (bools included) unchanged."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return int(v) if isinstance(v, numbers.Integral) else float(v)
    return v


def _check_solver_options(value: Any, where: str) -> dict:
    """A mapping of option name → finite number, string or boolean, passed to a solver as is
    (numpy numbers as the Python numbers they equal)."""
    if not isinstance(value, dict):
        raise InvalidInput(where, f"expected a table of name → value, got {type(value).__name__}")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not _SOLVER_NAME.fullmatch(k.replace("/", "_")):
            raise InvalidInput(where, f"bad option name {k!r}"[:160])
        v = _plain(v)
        if not isinstance(v, (bool, int, float, str)) or (isinstance(v, float) and not finite(v)):
            raise InvalidInput(f"{where}.{k}", f"expected a finite number, a string or a boolean, got {v!r}"[:160])
        out[k] = v
    return out


def _defaults(spec: MethodSpec) -> dict[str, Any]:
    """The default of each option `spec` takes, from its function's signature (None if none)."""
    params = inspect.signature(spec.func).parameters
    return {k: (params[k].default if k in params and params[k].default is not inspect.Parameter.empty
                else None) for k in spec.options}


def check_options(name: str, options: dict, where: str | None = None) -> dict:
    """The options given (None dropped) if method `name` takes them and their values are valid,
    each alone (`check_option`) and together (the method's `option_check`); errors are named
    `where.OPTION` if `where` is given (a study grid's `options.METHOD`)."""
    spec = get(name)
    if not isinstance(options, dict):
        raise InvalidInput(where or "options", f"expected a dict of option name → value, got "
                           f"{type(options).__name__}")
    given = {k: v for k, v in options.items() if v is not None}
    pre = f"{where}." if where else ""
    bad = sorted(k for k in given if k not in spec.options)
    if bad:
        new = RENAMED.get(bad[0])
        if new in spec.options:
            raise InvalidInput(pre + bad[0], f"renamed: {name} takes {new!r} (--{new.replace('_', '-')} "
                               f"on the command line) for what {bad[0]!r} meant")
        raise InvalidInput(pre + bad[0], f"method {name!r} takes no option {bad[0]!r} (it takes: "
                           f"{', '.join(spec.options) or 'none'})")
    checked = {k: check_option(k, v, pre + k) for k, v in given.items()}
    check = _CHECKS.get(name)
    if check is not None:
        try:
            check(**{**_defaults(spec), **checked})
        except InvalidInput as e:
            if where:
                raise InvalidInput(pre + e.field, e.message) from None
            raise
    return checked


def describe(name: str) -> dict:
    """A method as `optcache methods --json` lists it: name, exact, description, and each option
    with its default (from the method's signature) and meaning."""
    spec = get(name)
    opts = [{"name": k, "default": default, "help": OPTION_HELP.get(k, "")}
            for k, default in _defaults(spec).items()]
    return {"name": spec.name, "exact": spec.exact, "description": spec.description, "options": opts}


def run(name: str, inst, **options) -> MethodResult:
    """Run a registered method; unknown or invalid options are an error naming them.

    A solver that stops without an answer (`SolverFailed`) or runs out of memory gives a result
    with status 'error' and a one-line message, not an exception."""
    t0 = time.perf_counter()  # the limit covers importing the method's module on its first call
    from optcache.instance import require_instance  # numpy: not at import (`--help` stays light)
    from optcache.results import MethodResult

    if not isinstance(name, str):
        raise InvalidInput("method", f"expected a method name (a string), got {type(name).__name__}")
    require_instance(inst)
    spec = get(name)
    opts = check_options(name, options)
    before = time.perf_counter() - t0
    limit = opts.get("time_limit")
    if limit is not None:
        opts["time_limit"] = max(limit - before, min(limit, 1e-3))
    try:
        res = spec.func(inst, **opts)
        res.seconds += before
        if limit is not None and "time_limit" in res.extras:
            res.extras["time_limit"] = limit
        return res
    except SolverFailed as e:
        log.info("%s failed: %s", name, e)
        return MethodResult.failed(name, str(e), time.perf_counter() - t0)
    except MemoryError:
        log.info("%s ran out of memory", name)
        return MethodResult.failed(name, "out of memory: the instance is too large for this method "
                                   "on this machine", time.perf_counter() - t0)
