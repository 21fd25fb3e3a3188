"""Optimality-gap studies: methods × scenario grids × seeds → one tidy, resumable Parquet table.

A `Grid` names scenario knobs (each a value or a list of values to sweep), seeds, methods and
per-method options; `cells(grid)` expands it into independent cells; `run_study` runs the cells
not yet in the output file on an engine (`optcache.engines`: a local process pool or Dask).

Nothing finished is lost: each finished cell is appended (and fsync'd) to a journal beside the
table, `OUT.journal`, which is compacted into the Parquet file atomically (temporary file, then
rename) every `checkpoint_seconds`, at the end and when the study stops on an error or a signal.
A kill at any moment loses only the cells in flight; `read` and a rerun read the journal
too, so the rerun resumes where the study stopped. While a study runs, `OUT.lock` (an flock,
released by the kernel even on SIGKILL) refuses a second study on the same output, and a table
remembers the grids that wrote it: resuming it with another grid needs `extend=True`.

Grid files are TOML::

    methods = ["all-cloud", "static", "milp"]
    seeds = [0, 1, 2]              # or an integer n for seeds 0..n-1
    [knobs]                        # ScenarioConfig fields; a list is swept (cartesian product)
    stations = 1
    slots = [4, 6]
    [[sweep]]                      # optional: the union of several one-knob sweeps around [knobs]
    services = [2, 3]
    [options.milp]                 # registry options of a method; a list is swept
    time_limit = 30

A file with `kind = "market"` is a market grid instead (`load_grid`, `optcache.market.sweep`).

Columns of the table (also `COLUMNS`, name → meaning): `cell`, `instance`, `seed`, one column per
scenario knob, `method`, `label`, `options`, `exact`, `status`, `termination`, `cost` and its terms
(`switching`, `transmission`, `computing`, `accuracy`, `cloud`), `bound`, `gap`, `best_bound`,
`gap_to_best_bound`, `nodes`, `solver`, `solver_version`, `message`, `seconds`, `wall_seconds`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optcache import engines
from optcache.errors import InvalidInput, SolverFailed, SolverUnavailable, named_keywords
from optcache.evaluator import TERMS
from optcache.instance import (
    DEFAULT_LIMITS,
    Limits,
    atomic_path,
    grid_points,
    grid_product,
    grid_seeds,
    grid_values,
    json_plain,
    read_parquet,
    read_toml,
    require_limits,
    require_path,
)
from optcache.logs import SOLVER_LOGGERS, demoted
from optcache.provenance import SOLVER_PACKAGES, STUDY_SCHEMA, check_schema, provenance
from optcache.results import ROUNDING
from optcache.resume import Interrupt as Interrupt  # re-exported: a signal's exception
from optcache.resume import OutputLock, check_checkpoint_seconds
from optcache.resume import (
    StudyInterrupted as StudyInterrupted,  # re-exported: what run_study raises
)
from optcache.resume import check_grid as _check_grid
from optcache.resume import interrupt_in as _interrupt_in
from optcache.scenario import KNOB_RANGES, ScenarioConfig, generate
from optcache.warmup import warm

log = logging.getLogger(__name__)

MAX_GRID_CELLS = 100_000
"""Most cells a grid may expand to: a larger one is refused before it is expanded."""

JOURNAL_FORMAT = "optcache/study-journal@1"
"""First line of a journal: {"format": JOURNAL_FORMAT, "grid": grid id}; then one row per line."""

KNOBS = tuple(n for n in ScenarioConfig.field_names() if n != "seed")
"""Scenario knobs a grid may set or sweep: every `ScenarioConfig` field but the seed."""

_KNOB_TYPES = {f.name: type(f.default) for f in fields(ScenarioConfig)}

COLUMNS: dict[str, str] = {
    "cell": "stable id of the cell: a hash of its scenario knobs, seed, method and options",
    "instance": "stable id of the instance: a hash of its scenario knobs and seed",
    "seed": "seed of the scenario generator (ScenarioConfig.seed)",
    **{k: f"scenario knob ScenarioConfig.{k} (the full value, defaults included)" for k in KNOBS},
    "method": "registered method name (optcache.solvers.registry)",
    "label": "method and the options the grid set, e.g. 'milp[time_limit=30]': one curve in figures",
    "options": "JSON of the options passed to the method, threads=1 added for every method that takes threads",
    "exact": "the method is exact: its bound is a certified lower bound on the optimum",
    "status": "ok: feasible schedule; warning: schedule the evaluator finds infeasible; error: none",
    "termination": "optimal | time_limit | heuristic | infeasible | error (MethodResult.termination)",
    "cost": "evaluator's cost of the method's schedule: Σ_n L_n, the slot-average of the five terms",
    **{t: f"{t} term of the cost (docs/formulation.md §5), slot average summed over stations" for t in TERMS},
    "bound": "the method's certified lower bound on the optimum (NaN for heuristics)",
    "gap": "(cost − bound)/|cost| of this method's own bound (NaN without a bound)",
    "best_bound": "largest bound of any exact method on the same instance in the table (NaN if none)",
    "gap_to_best_bound": "(cost − best_bound)/|cost|: distance to the best certified bound; "
                         "rounding (down to −GAP_ROUNDING) reads 0, a negative value an invalid bound",
    "nodes": "branch-and-bound nodes of the method's solves: exact methods, and rolling's windows summed (<NA> for the policies, the references and slot)",
    "solver": "solver used by the method, if any",
    "solver_version": "version of that solver",
    "message": "why the cell failed (status error), else missing",
    "seconds": "the method's own run time (MethodResult.seconds; a process loads a built-in "
               "method's modules and compiled kernels once, before its first cell, outside this time)",
    "wall_seconds": "the whole cell: instance generation, method and evaluation (and in a process's "
                    "first cell of a built-in method, loading it)",
}

TIMING_COLUMNS = ("seconds", "wall_seconds")
"""Columns that differ from run to run; everything else is reproducible across engines and
machines, except in cells whose method stopped at a time limit (`termination` time_limit), whose
results depend on how much the machine did before the clock ran out."""

_DTYPES: dict[str, str] = {
    "cell": "str", "instance": "str", "seed": "int64",
    **{k: {int: "int64", float: "float64", str: "str"}[_KNOB_TYPES[k]] for k in KNOBS},
    "method": "str", "label": "str", "options": "str", "exact": "bool", "status": "str",
    "termination": "str", "cost": "float64", **{t: "float64" for t in TERMS}, "bound": "float64",
    "gap": "float64", "best_bound": "float64", "gap_to_best_bound": "float64", "nodes": "Int64",
    "solver": "str", "solver_version": "str", "message": "str", "seconds": "float64",
    "wall_seconds": "float64",
}
assert list(_DTYPES) == list(COLUMNS)

_SORT = [*KNOBS, "seed", "method", "options", "cell"]

GAP_ROUNDING = ROUNDING
"""A gap_to_best_bound in [−GAP_ROUNDING, 0) is rounding (a bound equal to the cost, computed
apart) and reads 0; below it, it stays visible: the bound is invalid."""


# --------------------------------------------------------------------------- grid
def _py(v: Any) -> Any:
    """`v` with numpy scalars and arrays as the Python values they equal (through lists, tuples and
    tables), so that every check that takes an int or a float takes numpy's too."""
    if isinstance(v, np.ndarray):
        return _py(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_py(x) for x in v] if isinstance(v, list) else tuple(_py(x) for x in v)
    if isinstance(v, Mapping):
        return {k: _py(x) for k, x in v.items()}
    return v


def _option_values(name: str, v: Any, where: str) -> tuple:
    """A grid's values of option `name` (a value, or a list of them to sweep), each checked by the
    registry; for a table option (solver_options) a table is one value, a list of tables a sweep."""
    from optcache.solvers import registry

    table = name in registry.TABLE_OPTIONS and (
        isinstance(v, Mapping) or (isinstance(v, (list, tuple)) and any(isinstance(x, Mapping) for x in v)))
    if not table:
        return tuple(registry.check_option(name, x, where) for x in grid_values(v, where, allow_bool=True))
    vals = tuple(registry.check_option(name, dict(x) if isinstance(x, Mapping) else x, where)
                 for x in (v if isinstance(v, (list, tuple)) else (v,)))
    if len({json.dumps(x, sort_keys=True) for x in vals}) != len(vals):
        raise InvalidInput(where, f"repeated values in {list(vals)}"[:160])
    return vals


def _label_value(v: Any) -> str:
    """An option value as a label shows it: tables as compact JSON, the rest as they print."""
    return json.dumps(v, sort_keys=True, separators=(",", ":")) if isinstance(v, dict) else f"{v}"


def _label(method: str, opts: Mapping[str, Any]) -> str:
    """A method run's label: its name and the options the grid set, e.g. `milp[time_limit=30]`."""
    return method + (f"[{','.join(f'{k}={_label_value(v)}' for k, v in opts.items())}]" if opts else "")


def _knob_values(knobs: Any, where: str) -> dict[str, tuple]:
    """Check knob names against ScenarioConfig and the values' form; `_check_points` checks the
    values themselves, together, as the grid's scenario points use them."""
    if not isinstance(knobs, Mapping):
        raise InvalidInput(where, "expected a table of scenario knobs")
    out = {}
    for name, v in knobs.items():
        if name == "seed":
            raise InvalidInput(f"{where}.seed", "set seeds with the top-level 'seeds' key")
        if name not in KNOBS:
            raise InvalidInput(f"{where}.{name}", f"unknown scenario knob; choose from {', '.join(KNOBS)}")
        vals = grid_values(v, f"{where}.{name}")
        if _KNOB_TYPES[name] is float:  # 1 and 1.0 are the same knob value (and the same cell id)
            vals = tuple(float(x) if isinstance(x, int) else x for x in vals)
        out[name] = vals
    return out


def _check_points(knobs: dict[str, tuple], sweeps: tuple[dict[str, tuple], ...]) -> None:
    """Every distinct scenario point the grid runs is a valid ScenarioConfig (ranges, and rules
    between knobs such as beta_min <= beta_max); errors name the knob where the grid sets it."""
    for point in grid_points(knobs, sweeps):
        try:
            ScenarioConfig(**point.values)
        except InvalidInput as e:
            raise point.error(e) from None


@named_keywords("Grid field")
@dataclass(frozen=True)
class Grid:
    """What to run: methods × seeds × scenario points (× swept method options)."""

    methods: tuple[str, ...]
    """Registered method names, each run on every scenario point and seed."""
    seeds: tuple[int, ...] = (0,)
    """Generator seeds (an integer n means 0..n-1)."""
    knobs: dict[str, tuple] = field(default_factory=dict)
    """Knob → values; every knob not named keeps its ScenarioConfig default."""
    sweeps: tuple[dict[str, tuple], ...] = ()
    """If given, the scenario points are the union over sweeps of the product of `{**knobs, **sweep}`."""
    options: dict[str, dict[str, tuple]] = field(default_factory=dict)
    """Method → option → values, checked against the registry's declared options."""

    def __post_init__(self) -> None:
        from optcache.solvers import registry

        methods = _py(self.methods)
        if isinstance(methods, str) or not isinstance(methods, (list, tuple)) or not methods:
            raise InvalidInput("methods", "expected a non-empty list of method names")
        known = registry.names()
        for i, m in enumerate(methods):
            if m not in known:
                raise InvalidInput(f"methods[{i}]", f"unknown method {m!r}; choose from {', '.join(known)}")
        if len(set(methods)) != len(methods):
            raise InvalidInput("methods", "a method is listed twice")
        seeds = grid_seeds(_py(self.seeds), MAX_GRID_CELLS, KNOB_RANGES["seed"][1], "[0, 2^63 - 1]")
        knobs = _knob_values(_py(self.knobs), "knobs")
        if isinstance(self.sweeps, Mapping) or not isinstance(self.sweeps, (list, tuple)):
            raise InvalidInput("sweep", "expected a list of tables ([[sweep]] in TOML)")
        sweeps = tuple(_knob_values(_py(s), f"sweep[{i}]") for i, s in enumerate(self.sweeps))
        if not isinstance(self.options, Mapping):
            raise InvalidInput("options", "expected a table of method → options")
        options = {}
        for m, opts in _py(self.options).items():
            if m not in methods:
                raise InvalidInput(f"options.{m}", f"options for a method not in methods ({', '.join(methods)})")
            if not isinstance(opts, Mapping):
                raise InvalidInput(f"options.{m}", "expected a table of option → value")
            allowed = registry.get(m).options
            for k in opts:
                if k not in allowed:
                    raise InvalidInput(f"options.{m}.{k}", f"method {m!r} takes no option {k!r} "
                                       f"(it takes: {', '.join(allowed) or 'none'})")
            options[m] = {k: _option_values(k, v, f"options.{m}.{k}") for k, v in opts.items()}
        n_points = sum(math.prod(len(v) for v in {**knobs, **sw}.values()) for sw in sweeps or ({},))
        n_runs = sum(math.prod(len(v) for v in options.get(m, {}).values()) for m in methods)
        if n_points * len(seeds) * n_runs > MAX_GRID_CELLS:
            raise InvalidInput("grid", f"{n_points} scenario points × {len(seeds)} seeds × {n_runs} "
                               f"method runs = {n_points * len(seeds) * n_runs:.3g} cells, over "
                               f"optcache.study.MAX_GRID_CELLS = {MAX_GRID_CELLS}")
        _check_points(knobs, sweeps)
        for m, opts in options.items():  # the method's own rules, between options too (registry)
            runs = grid_product(opts)
            for run in runs:
                try:
                    registry.check_options(m, run, where=f"options.{m}")
                except (InvalidInput, SolverUnavailable) as e:
                    field, message = (e.field, e.message) if isinstance(e, InvalidInput) else (f"options.{m}", str(e))
                    if len(runs) > 1:  # a swept option: say which combination breaks the rule
                        message += f", in the run {_label(m, run)}"
                    raise InvalidInput(field, message) from None
        object.__setattr__(self, "methods", tuple(methods))
        object.__setattr__(self, "seeds", tuple(seeds))
        object.__setattr__(self, "knobs", knobs)
        object.__setattr__(self, "sweeps", sweeps)
        object.__setattr__(self, "options", options)

    def to_dict(self) -> dict:
        """The grid in the TOML layout of the module docstring (lists for tuples): what a study's
        provenance records, and what `from_dict` reads back."""
        d: dict[str, Any] = {"methods": list(self.methods), "seeds": list(self.seeds),
                             "knobs": {k: list(v) for k, v in self.knobs.items()}}
        if self.sweeps:
            d["sweep"] = [{k: list(v) for k, v in sw.items()} for sw in self.sweeps]
        if self.options:
            d["options"] = {m: {k: list(v) for k, v in o.items()} for m, o in self.options.items()}
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Grid:
        """From the TOML layout of the module docstring; unknown keys are errors naming them."""
        if not isinstance(d, Mapping):
            raise InvalidInput("grid", "expected a table")
        allowed = ("description", "methods", "seeds", "knobs", "sweep", "options")
        for k in d:
            if k not in allowed:
                raise InvalidInput(k, f"unknown grid key; choose from {', '.join(allowed)}")
        if "methods" not in d:
            raise InvalidInput("methods", "missing: a grid needs a list of methods")
        return cls(methods=d["methods"], seeds=d.get("seeds", (0,)), knobs=d.get("knobs", {}),
                   sweeps=d.get("sweep", ()), options=d.get("options", {}))

    @classmethod
    def from_toml(cls, path: str | os.PathLike, limits: Limits | None = None) -> Grid:
        """Read a grid file within `limits` (size, nesting, digits: docs/formulation.md §14)."""
        return cls.from_dict(read_toml(path, "grid", limits))


def load_grid(path: str | os.PathLike, limits: Limits | None = None):
    """A grid file: a caching `Grid`, or a `optcache.market.sweep.MarketGrid` if it says
    `kind = "market"` (docs/claims.md); either is run by `optcache study`."""
    d = read_toml(path, "grid", limits)
    if isinstance(d, Mapping) and d.get("kind") == "market":
        from optcache.market.sweep import MarketGrid

        return MarketGrid.from_dict(d)
    return Grid.from_dict(d)


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def cells(grid: Grid, limits: Limits | None = None) -> list[dict]:
    """The grid's cells, in grid order, without duplicates (sweeps sharing a point run it once).

    A cell is a picklable dict: cell id, instance id, seed, full knobs, method, label, options.
    A scenario point over `limits.max_cells` request cells is refused here, before any run.
    """
    from optcache.solvers import registry

    if not isinstance(grid, Grid):
        raise InvalidInput("grid", f"expected an optcache.study.Grid (Grid.from_dict reads a table), "
                           f"got {type(grid).__name__}")
    limits = require_limits(limits)
    points = []
    for sweep in grid.sweeps or ({},):
        points += grid_product({**grid.knobs, **sweep})
    out: dict[str, dict] = {}
    for point in points:
        cfg = ScenarioConfig(**point)
        limits.check_cells(cfg.slots, cfg.services, cfg.stations, what="services", where="knobs")
        for seed in grid.seeds:
            knobs = ScenarioConfig(**point, seed=seed).knobs()
            instance = _digest(knobs)
            del knobs["seed"]
            for method in grid.methods:
                spec = registry.get(method)
                for opts in grid_product(grid.options.get(method, {})):
                    label = _label(method, opts)
                    effective = dict(opts)
                    if "threads" in spec.options:
                        effective.setdefault("threads", 1)
                    cell = _digest({"knobs": knobs, "seed": seed, "method": method, "options": effective})
                    out.setdefault(cell, {"cell": cell, "instance": instance, "seed": seed,
                                          "knobs": knobs, "method": method, "label": label,
                                          "options": effective, "exact": spec.exact})
    if limits != DEFAULT_LIMITS:
        for c in out.values():
            c["limits"] = limits
    return list(out.values())


def grid_id(grid_cells: list[dict]) -> str:
    """A grid's identity: a hash of its cell ids, so two spellings of one grid are the same grid."""
    return _digest(sorted(c["cell"] for c in grid_cells))


# --------------------------------------------------------------------------- one cell
def run_cell(cell: dict) -> dict:
    """Generate the cell's instance, run its method, return one table row (never raises on bad input)."""
    from optcache.solvers import registry

    t0 = time.perf_counter()
    row: dict[str, Any] = {
        "cell": cell["cell"], "instance": cell["instance"], "seed": cell["seed"], **cell["knobs"],
        "method": cell["method"], "label": cell["label"],
        "options": json.dumps(cell["options"], sort_keys=True), "exact": cell["exact"],
    }
    try:
        inst = generate(ScenarioConfig(**cell["knobs"], seed=cell["seed"]), limits=cell.get("limits"))
        with demoted(*SOLVER_LOGGERS):  # one progress bar for the study, not one per solve
            warm(cell["method"])  # `seconds` times the method, not this process's first load
            res = registry.run(cell["method"], inst, **cell["options"])
        summary = res.summary()
        row.update({k: summary.get(k) for k in ("status", "termination", "cost", "bound", "gap",
                                                "nodes", "solver", "solver_version", "seconds")})
        row.update({t: summary.get(t) for t in TERMS})
        row["message"] = res.message
    except (InvalidInput, SolverUnavailable, SolverFailed) as e:
        row.update(status="error", termination="error", message=f"{type(e).__name__}: {e}")
    row["wall_seconds"] = time.perf_counter() - t0
    return row


# --------------------------------------------------------------------------- the table
def empty_table() -> pd.DataFrame:
    """A study table with no rows and every column's dtype."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})


def require_table(df: Any, columns: Iterable[str] = (), field: str = "df") -> pd.DataFrame:
    """`df` if it is a DataFrame with `columns`, else InvalidInput naming the argument (`field`)
    and the columns it lacks."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidInput(field, f"expected a pandas DataFrame (a study table), got {type(df).__name__}")
    missing = [c for c in columns if c not in df]
    if missing:
        shown = ", ".join(missing[:6]) + (f", … ({len(missing)} in all)" if len(missing) > 6 else "")
        raise InvalidInput(field, f"missing column{'s' if len(missing) > 1 else ''} {shown}")
    return df


def typed_column(df: pd.DataFrame, column: str, dtype: str, field: str = "df") -> pd.Series:
    """`df[column]` as `dtype`, or InvalidInput at `field` naming the column and its first value
    that does not convert (a string, None in an integer column, an integer beyond the type)."""
    col = df[column]
    try:
        return col.astype(dtype)
    except (TypeError, ValueError, OverflowError):
        for i, v in enumerate(col):
            try:
                pd.Series([v], dtype=object).astype(dtype)
            except (TypeError, ValueError, OverflowError):
                raise InvalidInput(field, f"{column}: expected {_KINDS.get(dtype, dtype)}, got "
                                   f"{_py(v)!r} (row {df.index[i]})"[:160]) from None
        raise


MAX_COST = 1e100
"""Largest cost or cost term a study row may hold. With every instance field in range one slot's
term of one pair is below 1e54 (docs/formulation.md §14), so no evaluation comes near it; a table
beyond it was not written by optcache, and sums of its terms (stacked bars) could overflow."""


def check_costs(df: pd.DataFrame, where: Callable[[int], str]) -> None:
    """Refuse a row with status ok whose cost or a term is not a finite number in [0, MAX_COST],
    or whose bound is infinite: no evaluation gives one. InvalidInput at `where(row position)`."""
    ok = (df["status"] == "ok").to_numpy() if "status" in df else np.ones(len(df), bool)
    for c in ("cost", *TERMS, "bound"):
        if c not in df:
            continue
        try:
            v = df[c].to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError, OverflowError):  # strings, 10**400: not a finite number
            v = np.array([_float(x) for x in df[c]], dtype="float64")
        if c == "bound":
            bad = ok & df[c].notna().to_numpy() & ~np.isfinite(v)
        else:
            bad = ok & ~(np.isfinite(v) & (v >= 0) & (v <= MAX_COST))
        if bad.any():
            i = int(np.argmax(bad))
            rule = "finite (or missing)" if c == "bound" else "a number in [0, 1e100] (study.MAX_COST)"
            raise InvalidInput(where(i), f"{c}: must be {rule} in a row with status ok, got "
                               f"{_py(df[c].iloc[i])!r}"[:160])


def _float(x: Any) -> float:
    """`x` as a float: inf if it is too large for one, NaN if it is not a number."""
    try:
        return float(x)
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return math.nan


def with_best_bound(df: pd.DataFrame) -> pd.DataFrame:
    """Set best_bound (largest exact bound per instance) and gap_to_best_bound = (cost − it)/|cost|,
    clamped to 0 within GAP_ROUNDING (rounding, not a bound above the cost)."""
    df = require_table(df, ("instance", "exact", "bound", "cost")).copy()
    bound = typed_column(df, "bound", "float64")
    certified = bound.where(df["exact"].astype(bool) & np.isfinite(bound))
    df["best_bound"] = certified.groupby(df["instance"]).transform("max")
    cost = typed_column(df, "cost", "float64")
    bad = cost.notna() & ~(np.isfinite(cost) & (cost >= 0) & (cost <= MAX_COST))
    if bad.any():  # a negative cost gave a negative gap; a missing one (a failed run) is left NaN
        raise InvalidInput("df", f"cost: must be a number in [0, 1e100] (study.MAX_COST) or missing, got "
                           f"{cost[bad].iloc[0]!r} in row {cost[bad].index[0]}")
    gap = (cost - df["best_bound"]) / cost.abs().clip(lower=1e-10)
    df["gap_to_best_bound"] = gap.mask((gap < 0) & (gap >= -GAP_ROUNDING), 0.0)
    return df


def tidy(rows: pd.DataFrame | list[dict]) -> pd.DataFrame:
    """Columns in `COLUMNS` order with fixed dtypes, gaps recomputed, rows sorted by knobs/seed/method.
    Rows without a column of `_ROW_REQUIRED`, or with a value its column can't hold, are InvalidInput."""
    if isinstance(rows, pd.DataFrame):
        df = rows.copy()
    elif isinstance(rows, list):
        df = pd.DataFrame(rows)
    else:
        raise InvalidInput("rows", f"expected a DataFrame or a list of row dicts, got {type(rows).__name__}")
    if df.empty:
        return empty_table()
    require_table(df, _ROW_REQUIRED, "rows")
    for c in COLUMNS:
        if c not in df:
            df[c] = None
    df = df[list(COLUMNS)]
    for c, t in _DTYPES.items():
        if t != "str":
            df[c] = typed_column(df, c, t, "rows")
    for c, t in _DTYPES.items():
        if t == "str":
            df[c] = pd.Series([None if pd.isna(v) else str(v) for v in df[c]], index=df.index,
                              dtype="str")
    df = with_best_bound(df)
    return df.sort_values(_SORT, kind="mergesort").reset_index(drop=True)


def _merge(old: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    """old's rows then `rows`, one row per cell (the last one: a rerun replaces an error row)."""
    new = tidy(rows)
    if not len(new):
        return old
    if not len(old):
        return tidy(new.drop_duplicates("cell", keep="last"))
    both = pd.concat([old, new], ignore_index=True)
    return tidy(both.drop_duplicates("cell", keep="last").reset_index(drop=True))


def journal_path(out: str | os.PathLike) -> Path:
    """Where a study appends its finished cells before they reach the Parquet file `out`."""
    return Path(f"{out}.journal")


_ROW_REQUIRED = ("cell", "instance", "seed", *KNOBS, "method", "label", "options", "exact", "status",
                 "termination")
"""Columns every journal row has (`run_cell` sets them even for an error row); the rest may be null."""

_FLOAT_MAX = float(np.finfo("float64").max)

_KINDS = {"str": "a string", "int64": "an integer", "float64": "a number", "bool": "true or false",
          "Int64": "an integer"}


def _valid(value: Any, dtype: str) -> bool:
    """`value` (parsed JSON) fits a column of `dtype` (`_DTYPES`)."""
    if dtype == "str":
        return isinstance(value, str)
    if dtype == "bool":
        return isinstance(value, bool)
    if dtype == "float64":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, int) and not isinstance(value, bool)


def _journal_row(obj: dict, where: str) -> dict:
    """A journal row checked against `COLUMNS` (names, JSON types that fit the column, status
    values); a knob missing from it (added since it was written) is the default it ran at. Else
    InvalidInput at `where`; `_check_rows` checks the values."""
    unknown = [k for k in obj if k not in COLUMNS]
    if unknown:
        raise InvalidInput(where, f"not a study row: unknown column {unknown[0]!r}"[:160])
    row = {**{k: getattr(ScenarioConfig(), k) for k in KNOBS if k not in obj}, **obj}
    for c, dtype in _DTYPES.items():
        v = row.get(c)
        if v is None:
            if c in _ROW_REQUIRED:
                raise InvalidInput(where, f"not a study row: {c} is missing")
        elif not _valid(v, dtype):
            null = "" if c in _ROW_REQUIRED else " or null"
            raise InvalidInput(where, f"{c}: expected {_KINDS[dtype]}{null}, got {v!r}"[:160])
        elif dtype == "float64" and isinstance(v, int) and abs(v) > _FLOAT_MAX:
            raise InvalidInput(where, f"{c}: must be a finite number, got an integer of {len(str(abs(v)))} digits")
        elif c == "nodes" and not 0 <= v < 2**63:  # knobs and seed: ScenarioConfig's ranges (_check_rows)
            raise InvalidInput(where, f"{c}: must be an integer in [0, 2^63 - 1], got {v}"[:160])
    if row["status"] not in ("ok", "warning", "error"):
        raise InvalidInput(where, f"status: expected ok, warning or error, got {row['status']!r}"[:160])
    return row


def _read_journal(path: Path) -> tuple[list[dict], dict[str, dict | None]]:
    """Rows and grids (id → spec) of a journal. A torn last line (a kill mid-write) is skipped;
    any other line that is not a format line or a study row (`COLUMNS`) is InvalidInput naming it."""
    rows: list[dict] = []
    numbers: list[int] = []
    grids: dict[str, dict | None] = {}
    if path.is_dir():
        raise InvalidInput(str(path), "is a directory, not a study journal")
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return rows, grids
    except OSError as e:
        raise InvalidInput(str(path), f"cannot read the study journal: {e.strerror or e}") from None
    fix = "fix or delete that line (the journal holds the finished cells not yet in the table)"
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{path}, line {n + 1}"
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            if n == len(lines) - 1:  # no newline after it: a kill mid-write, expected
                log.info("%s: the last line is not a complete record (skipped)", path)
                continue
            raise InvalidInput(where, f"not a JSON record; {fix}") from None
        if isinstance(obj, dict) and "format" in obj and "cell" not in obj:
            if obj["format"] != JOURNAL_FORMAT or not isinstance(obj.get("grid"), str):
                raise InvalidInput(where, f"not the format line of {JOURNAL_FORMAT} (another optcache "
                                   f"version?); {fix}")
            spec = obj.get("spec")
            grids[obj["grid"]] = spec if isinstance(spec, dict) else grids.get(obj["grid"])
        elif isinstance(obj, dict):
            try:
                rows.append(_journal_row(obj, where))
            except InvalidInput as e:
                raise InvalidInput(e.field, f"{e.message}; {fix}") from None
            numbers.append(n + 1)
        else:
            raise InvalidInput(where, f"expected a study row (a JSON object), got {type(obj).__name__}; {fix}")
    try:
        _check_rows(pd.DataFrame(rows), lambda i: f"{path}, line {numbers[i]}")
    except InvalidInput as e:
        raise InvalidInput(e.field, f"{e.message}; {fix}") from None
    return rows, grids


def _check_rows(df: pd.DataFrame, where: Callable[[int], str]) -> None:
    """Refuse rows no study writes: knobs or seed outside ScenarioConfig's rules, or an ok row
    with impossible costs (`check_costs`). InvalidInput at `where(row position)`."""
    df = df.reset_index(drop=True)
    for cols in ([c for c in KNOBS if c in df], ["seed"] if "seed" in df else []):  # distinct values only
        for i, *values in df[cols].drop_duplicates().itertuples(name=None) if cols else ():
            try:
                ScenarioConfig(**dict(zip(cols, _py(values), strict=True)))
            except InvalidInput as e:
                raise InvalidInput(where(i), f"{e.field}: {e.message}") from None
    check_costs(df, where)


def _not_a_directory(path: Path) -> None:
    """A study table's path must not be a directory (read as one, it would lack every column)."""
    if path.is_dir():
        raise InvalidInput(str(path), "is a directory, not a study table (the Parquet file "
                           "`optcache study --out` writes)")


def _read_table(path: Path) -> tuple[pd.DataFrame, dict[str, dict | None]]:
    """The Parquet table at `path` (tidy) and the grids (id → spec) that wrote it; a file of
    another schema (not a study table, or written by a newer optcache) is InvalidInput."""
    _not_a_directory(path)
    df = read_parquet(path)
    prov = df.attrs.get("optcache")
    if isinstance(prov, dict):
        check_schema(prov.get("schema"), STUDY_SCHEMA, str(path))
    for k in KNOBS:  # a knob added after the table was written: its cells ran at the default
        if k not in df and "cell" in df:
            df[k] = getattr(ScenarioConfig(), k)
    missing = [c for c in COLUMNS if c not in df]
    if missing:
        raise InvalidInput(str(path), f"not a study table: missing columns {', '.join(missing)}")
    _check_rows(df, lambda i: f"{path}, row {i}")
    grids: dict[str, dict | None] = {}
    if isinstance(prov, dict) and isinstance(prov.get("grid"), dict):
        grids = {g: (v if isinstance(v, dict) else None) for g, v in prov["grid"].items() if isinstance(g, str)}
    else:  # written before provenance (schema optcache/study@0): grid ids only
        ids = df.attrs.get("optcache_grids", [])
        grids = {g: None for g in ids if isinstance(g, str)} if isinstance(ids, list) else {}
    try:
        return tidy(df), grids
    except InvalidInput as e:  # a column of another type
        raise InvalidInput(str(path), f"not a study table: {e.message}") from None


def _load(out: Path) -> tuple[pd.DataFrame, dict[str, dict | None]]:
    """Everything saved for `out`: the Parquet table merged with its journal, and the grids."""
    df, grids = _read_table(out) if out.exists() else (empty_table(), {})
    rows, more = _read_journal(journal_path(out))
    for g, spec in more.items():
        grids[g] = spec if spec is not None else grids.get(g)
    return _merge(df, rows), grids


def study_provenance(grids: dict[str, dict | None] | list[str] | None) -> dict:
    """The provenance a study table carries (`optcache.provenance`): schema, versions, and its
    grids (id → the grid's TOML layout, seeds included)."""
    if not isinstance(grids, dict):
        grids = {g: None for g in grids or []}
    return provenance(STUDY_SCHEMA, packages=(*SOLVER_PACKAGES, "pyarrow"), grid=dict(grids))


def read(path: str | os.PathLike) -> pd.DataFrame:
    """A study table from its Parquet file and journal (cells finished since the last
    compaction), its provenance in `df.attrs["optcache"]`. A missing or unreadable file, a file
    that is not a study table or one written with a newer schema is InvalidInput, and so is a
    row no study writes (a knob out of range, an ok row with a NaN or negative cost)."""
    path = require_path(path)
    if not path.exists() and not journal_path(path).exists():
        raise InvalidInput(str(path), "results file not found")
    df, grids = _load(path)
    df.attrs = {"optcache": study_provenance(grids)}
    return df


read_results = read
"""The name `read` had before it checked schemas; both are the same function."""


def write_results(df: pd.DataFrame, path: str | os.PathLike,
                  grids: dict[str, dict | None] | list[str] | None = None) -> None:
    """Write Parquet to a temporary file in the same folder, then rename: never a half-written table.

    The file carries its provenance (`study_provenance(grids)`, `grids` the grids whose cells it
    holds) in its metadata: `df.attrs["optcache"]` when read by pandas, and under the Parquet key
    `optcache` (JSON) for any other reader."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    prov = study_provenance(grids)
    df = require_table(df).copy(deep=False)
    df.attrs = {"optcache": prov, "optcache_grids": list(prov["grid"])}
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"PANDAS_ATTRS"] = json.dumps(df.attrs, default=json_plain).encode()
    meta[b"optcache"] = json.dumps(prov, default=json_plain).encode()
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


class _Journal:
    """Append-only JSON lines of finished rows, each flushed and fsync'd before the next cell."""

    def __init__(self, out: Path, grid: str, spec: dict | None = None):
        self.path = journal_path(out)
        try:
            self.f = open(self.path, "a", encoding="utf-8")  # closed by close()
        except OSError as e:  # a directory in its place, no permission
            raise InvalidInput(str(self.path), f"cannot write the study journal: {e.strerror or e}") from None
        self._write({"format": JOURNAL_FORMAT, "grid": grid, "spec": spec})

    def _write(self, obj: dict) -> None:
        self.f.write(json.dumps(obj, default=json_plain) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def append(self, row: dict) -> None:
        self._write(row)

    def close(self) -> None:
        self.f.close()



# --------------------------------------------------------------------------- the study
def run_study(grid: Grid | str | os.PathLike, out: str | os.PathLike | None = None, *,
              engine: str = "local", scheduler: Any = None, workers: int | None = None,
              progress: bool = True, retry_errors: bool = False,
              checkpoint_seconds: float = 60.0, extend: bool = False,
              limits: Limits | None = None) -> pd.DataFrame:
    """Run every cell of `grid` not already in `out` and return the whole table (old rows included).

    engine: "local" (a process pool of `workers`, default: the cores
    available, or $OPTCACHE_WORKERS; workers=1 runs serially
    in this process) or "dask" (`scheduler` an address or a Client; None starts a LocalCluster).
    Each finished row is appended to `OUT.journal` at once and the journal is compacted into `out`
    every `checkpoint_seconds`, at the end and when the study stops on an exception, always
    atomically. Error rows are kept as finished unless `retry_errors`. `out` in use by another
    study is InvalidInput; so is a table written by another grid, unless `extend`. On SIGINT (or
    an `Interrupt`) it saves and raises `StudyInterrupted`. `limits` bound the scenario sizes.
    `grid` may also be a table in the grid file's layout (`Grid.from_dict`) or a grid file's path.
    Every argument is checked before anything is written (numpy numbers count as numbers).
    """
    limits = require_limits(limits)
    grid = _as_grid(grid, limits)
    workers = engines.check(engine, scheduler, _py(workers))
    checkpoint_seconds = check_checkpoint_seconds(checkpoint_seconds)
    if out is not None:
        if not isinstance(out, (str, os.PathLike)):
            raise InvalidInput("out", f"expected a file path or None, got {type(out).__name__}")
        _not_a_directory(Path(out))
    todo_all = cells(grid, limits)
    if out is None:
        rows: list[dict] = []
        try:
            for _, row in engines.run(engine, run_cell, todo_all, scheduler=scheduler,
                                      workers=workers, progress=progress):
                rows.append(row)
        except (KeyboardInterrupt, SystemError) as e:
            stop = _interrupt_in(e)
            if stop is None:
                raise
            raise StudyInterrupted(getattr(stop, "signum", signal.SIGINT), 0, len(todo_all), None) from None
        table = tidy(rows)
        table.attrs = {"optcache": study_provenance({grid_id(todo_all): grid.to_dict()})}
        return table
    out = Path(out)
    with OutputLock(out):
        table = _run_locked(out, todo_all, engine, scheduler, workers, progress, retry_errors,
                            checkpoint_seconds, extend, grid.to_dict())
    return table


def _as_grid(grid: Any, limits: Limits) -> Grid:
    """`run_study`'s grid argument as a Grid: a Grid, a table (`Grid.from_dict`) or a grid file."""
    if isinstance(grid, Grid):
        return grid
    if isinstance(grid, Mapping):
        return Grid.from_dict(grid)
    if isinstance(grid, (str, os.PathLike)):
        return Grid.from_toml(grid, limits)
    raise InvalidInput("grid", "expected a Grid, a table in the grid file's layout or a grid file "
                       f"path, got {type(grid).__name__}")


def _run_locked(out: Path, todo_all: list[dict], engine: str, scheduler: Any,
                workers: int | None, progress: bool, retry_errors: bool,
                checkpoint_seconds: float, extend: bool, spec: dict | None = None) -> pd.DataFrame:
    """`run_study` once `out` is locked: resume, journal every row, compact, report signals."""
    gid = grid_id(todo_all)
    ids = {c["cell"] for c in todo_all}
    old, grids = _load(out) if out.exists() or journal_path(out).exists() else (empty_table(), {})
    _check_grid(out, old, grids, gid, ids, extend)
    stale = journal_path(out).exists() or not out.exists() or grids.get(gid) is None
    grids = {**grids, gid: spec if spec is not None else grids.get(gid)}
    finished = old if not retry_errors else old[old["status"] != "error"]
    done = set(finished["cell"])
    todo = [c for c in todo_all if c["cell"] not in done]

    def compact() -> pd.DataFrame:
        table, _ = _load(out)
        write_results(table, out, grids)
        journal_path(out).unlink(missing_ok=True)  # after the rename: a kill between keeps both
        table.attrs = {"optcache": study_provenance(grids)}
        return table

    if stale:  # fold a journal left by a killed run (and this grid's id) into the table first
        old = compact()
    if not todo:
        old.attrs = {"optcache": study_provenance(grids)}
        return old
    journal = _Journal(out, gid, grids[gid])
    interrupted: KeyboardInterrupt | None = None
    last = time.monotonic()
    try:
        gen = engines.run(engine, run_cell, todo, scheduler=scheduler, workers=workers,
                          progress=progress)
        try:
            for _, row in gen:
                journal.append(row)
                if time.monotonic() - last > checkpoint_seconds:
                    journal.close()
                    compact()
                    journal = _Journal(out, gid, grids[gid])
                    last = time.monotonic()
        finally:
            gen.close()  # a pool's workers stop before the table is written
    except (KeyboardInterrupt, SystemError, RuntimeError) as e:  # Pyomo's tee re-raises a signal's
        interrupted = _interrupt_in(e)  # Interrupt as a RuntimeError, numba as a SystemError
        if interrupted is None:
            raise
    finally:
        journal.close()
        table = compact()
    if interrupted is not None:
        saved = int(table["cell"].isin(ids).sum())
        raise StudyInterrupted(getattr(interrupted, "signum", signal.SIGINT), saved, len(todo_all),
                               out) from None
    return table
