"""Optimality-gap studies: methods × scenario grids × seeds → one tidy, resumable Parquet table.

A `Grid` names scenario knobs (each a value or a list of values to sweep), seeds, methods and
per-method options; `cells(grid)` expands it into independent cells; `run_study` runs the cells
not yet in the output file on an engine (`optcache.engines`: a local process pool or Dask) and
writes the union atomically, so an interrupted study resumes where it stopped.

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

Columns of the table (also `COLUMNS`, name → meaning): `cell`, `instance`, `seed`, one column per
scenario knob, `method`, `label`, `options`, `exact`, `status`, `termination`, `cost` and its terms
(`switching`, `transmission`, `computing`, `accuracy`, `cloud`), `bound`, `gap`, `best_bound`,
`gap_to_best_bound`, `nodes`, `solver`, `solver_version`, `message`, `seconds`, `wall_seconds`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optcache import engines
from optcache.errors import InfeasibleModel, InvalidInput, SolverUnavailable
from optcache.evaluator import TERMS
from optcache.scenario import ScenarioConfig, generate

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
    "options": "JSON of the options passed to the method, threads=1 included for exact methods",
    "exact": "the method is exact: its bound is a certified lower bound on the optimum",
    "status": "ok: feasible schedule; warning: schedule the evaluator finds infeasible; error: none",
    "termination": "optimal | time_limit | heuristic | infeasible | error (MethodResult.termination)",
    "cost": "evaluator's cost of the method's schedule: Σ_n L_n, the slot-average of the five terms",
    **{t: f"{t} term of the cost (FORMULATION §4), slot average summed over stations" for t in TERMS},
    "bound": "the method's certified lower bound on the optimum (NaN for heuristics)",
    "gap": "(cost − bound)/|cost| of this method's own bound (NaN without a bound)",
    "best_bound": "largest bound of any exact method on the same instance in the table (NaN if none)",
    "gap_to_best_bound": "(cost − best_bound)/|cost|: distance to the best certified bound; "
                         "≤ 0 beyond rounding would mean an invalid bound",
    "nodes": "branch-and-bound nodes of exact methods (<NA> otherwise)",
    "solver": "solver used by the method, if any",
    "solver_version": "version of that solver",
    "message": "why the cell failed (status error), else missing",
    "seconds": "the method's own run time (MethodResult.seconds)",
    "wall_seconds": "the whole cell: instance generation, method and evaluation",
}

TIMING_COLUMNS = ("seconds", "wall_seconds")
"""Columns that differ from run to run; everything else is reproducible across engines."""

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


# --------------------------------------------------------------------------- grid
def _scalar(v: Any, where: str, *, allow_bool: bool = False) -> Any:
    if isinstance(v, bool) and not allow_bool:
        raise InvalidInput(where, f"expected a number or a string, got {v!r}")
    if not isinstance(v, (bool, int, float, str)):
        raise InvalidInput(where, f"expected a scalar value, got {type(v).__name__}")
    return v


def _values(v: Any, where: str, *, allow_bool: bool = False) -> tuple:
    """A scalar is one value; a non-empty list is a sweep."""
    if isinstance(v, (list, tuple)):
        if not v:
            raise InvalidInput(where, "an empty list sweeps over nothing")
        vals = tuple(_scalar(x, f"{where}[{i}]", allow_bool=allow_bool) for i, x in enumerate(v))
    else:
        vals = (_scalar(v, where, allow_bool=allow_bool),)
    if len(set(vals)) != len(vals):
        raise InvalidInput(where, f"repeated values in {list(vals)}")
    return vals


def _knob_values(knobs: Any, where: str) -> dict[str, tuple]:
    """Check knob names against ScenarioConfig and each value with ScenarioConfig's own checks."""
    if not isinstance(knobs, Mapping):
        raise InvalidInput(where, "expected a table of scenario knobs")
    out = {}
    for name, v in knobs.items():
        if name == "seed":
            raise InvalidInput(f"{where}.seed", "set seeds with the top-level 'seeds' key")
        if name not in KNOBS:
            raise InvalidInput(f"{where}.{name}", f"unknown scenario knob; choose from {', '.join(KNOBS)}")
        vals = _values(v, f"{where}.{name}")
        if _KNOB_TYPES[name] is float:  # 1 and 1.0 are the same knob value (and the same cell id)
            vals = tuple(float(x) if isinstance(x, int) else x for x in vals)
        for x in vals:
            try:
                ScenarioConfig(**{name: x})
            except InvalidInput as e:
                raise InvalidInput(f"{where}.{name}", e.message) from None
            except TypeError as e:
                raise InvalidInput(f"{where}.{name}", f"bad value {x!r}: {e}") from None
        out[name] = vals
    return out


@dataclass(frozen=True)
class Grid:
    """What to run: methods × seeds × scenario points (× swept method options)."""

    methods: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    knobs: dict[str, tuple] = field(default_factory=dict)
    """Knob → values; every knob not named keeps its ScenarioConfig default."""
    sweeps: tuple[dict[str, tuple], ...] = ()
    """If given, the scenario points are the union over sweeps of the product of {**knobs, **sweep}."""
    options: dict[str, dict[str, tuple]] = field(default_factory=dict)
    """Method → option → values, checked against the registry's declared options."""

    def __post_init__(self) -> None:
        from optcache.solvers import registry

        methods = self.methods
        if isinstance(methods, str) or not isinstance(methods, (list, tuple)) or not methods:
            raise InvalidInput("methods", "expected a non-empty list of method names")
        known = registry.names()
        for i, m in enumerate(methods):
            if m not in known:
                raise InvalidInput(f"methods[{i}]", f"unknown method {m!r}; choose from {', '.join(known)}")
        if len(set(methods)) != len(methods):
            raise InvalidInput("methods", "a method is listed twice")
        seeds = self.seeds
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise InvalidInput("seeds", f"an integer n means seeds 0..n-1 and must be >= 1, got {seeds}")
            seeds = tuple(range(seeds))
        if not isinstance(seeds, (list, tuple)) or not seeds:
            raise InvalidInput("seeds", "expected a non-empty list of integers or an integer count")
        for i, s in enumerate(seeds):
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise InvalidInput(f"seeds[{i}]", f"expected a non-negative integer, got {s!r}")
        if len(set(seeds)) != len(seeds):
            raise InvalidInput("seeds", "a seed is listed twice")
        knobs = _knob_values(self.knobs, "knobs")
        if isinstance(self.sweeps, Mapping) or not isinstance(self.sweeps, (list, tuple)):
            raise InvalidInput("sweep", "expected a list of tables ([[sweep]] in TOML)")
        sweeps = tuple(_knob_values(s, f"sweep[{i}]") for i, s in enumerate(self.sweeps))
        if not isinstance(self.options, Mapping):
            raise InvalidInput("options", "expected a table of method → options")
        options = {}
        for m, opts in self.options.items():
            if m not in methods:
                raise InvalidInput(f"options.{m}", f"options for a method not in methods ({', '.join(methods)})")
            if not isinstance(opts, Mapping):
                raise InvalidInput(f"options.{m}", "expected a table of option → value")
            allowed = registry.get(m).options
            for k in opts:
                if k not in allowed:
                    raise InvalidInput(f"options.{m}.{k}", f"method {m!r} takes no option {k!r} "
                                       f"(it takes: {', '.join(allowed) or 'none'})")
            options[m] = {k: _values(v, f"options.{m}.{k}", allow_bool=True) for k, v in opts.items()}
        object.__setattr__(self, "methods", tuple(methods))
        object.__setattr__(self, "seeds", tuple(seeds))
        object.__setattr__(self, "knobs", knobs)
        object.__setattr__(self, "sweeps", sweeps)
        object.__setattr__(self, "options", options)

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
    def from_toml(cls, path: str | os.PathLike) -> Grid:
        try:
            with open(path, "rb") as f:
                d = tomllib.load(f)
        except FileNotFoundError:
            raise InvalidInput(str(path), "grid file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise InvalidInput(str(path), f"malformed TOML: {e}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidInput(str(path), f"cannot read grid: {e}") from None
        return cls.from_dict(d)


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _product(spec: Mapping[str, tuple]) -> list[dict]:
    names = list(spec)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(spec[k] for k in names))]


def cells(grid: Grid) -> list[dict]:
    """The grid's cells, in grid order, without duplicates (sweeps sharing a point run it once).

    A cell is a picklable dict: cell id, instance id, seed, full knobs, method, label, options.
    """
    from optcache.solvers import registry

    points = []
    for sweep in grid.sweeps or ({},):
        points += _product({**grid.knobs, **sweep})
    out: dict[str, dict] = {}
    for point in points:
        for seed in grid.seeds:
            knobs = ScenarioConfig(**point, seed=seed).knobs()
            instance = _digest(knobs)
            del knobs["seed"]
            for method in grid.methods:
                spec = registry.get(method)
                for opts in _product(grid.options.get(method, {})):
                    label = method + (f"[{','.join(f'{k}={v}' for k, v in opts.items())}]" if opts else "")
                    effective = dict(opts)
                    if "threads" in spec.options:
                        effective.setdefault("threads", 1)
                    cell = _digest({"knobs": knobs, "seed": seed, "method": method, "options": effective})
                    out.setdefault(cell, {"cell": cell, "instance": instance, "seed": seed,
                                          "knobs": knobs, "method": method, "label": label,
                                          "options": effective, "exact": spec.exact})
    return list(out.values())


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
        inst = generate(ScenarioConfig(**cell["knobs"], seed=cell["seed"]))
        res = registry.run(cell["method"], inst, **cell["options"])
        summary = res.summary()
        row.update({k: summary.get(k) for k in ("status", "termination", "cost", "bound", "gap",
                                                "nodes", "solver", "solver_version", "seconds")})
        row.update({t: summary.get(t) for t in TERMS})
        msg = res.extras.get("message") if isinstance(res.extras, dict) else None
        row["message"] = msg if isinstance(msg, str) else None
    except (InvalidInput, SolverUnavailable, InfeasibleModel) as e:
        row.update(status="error", termination="error", message=f"{type(e).__name__}: {e}")
    row["wall_seconds"] = time.perf_counter() - t0
    return row


# --------------------------------------------------------------------------- the table
def empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})


def with_best_bound(df: pd.DataFrame) -> pd.DataFrame:
    """Set best_bound (largest exact bound per instance) and gap_to_best_bound = (cost − it)/|cost|."""
    df = df.copy()
    bound = df["bound"].astype("float64")
    certified = bound.where(df["exact"].astype(bool) & np.isfinite(bound))
    df["best_bound"] = certified.groupby(df["instance"]).transform("max")
    cost = df["cost"].astype("float64")
    df["gap_to_best_bound"] = (cost - df["best_bound"]) / cost.abs().clip(lower=1e-10)
    return df


def tidy(rows: pd.DataFrame | list[dict]) -> pd.DataFrame:
    """Columns in `COLUMNS` order with fixed dtypes, gaps recomputed, rows sorted by knobs/seed/method."""
    df = pd.DataFrame(rows) if isinstance(rows, list) else rows.copy()
    if df.empty:
        return empty_table()
    for c in COLUMNS:
        if c not in df:
            df[c] = None
    df = df[list(COLUMNS)]
    df = df.astype({c: t for c, t in _DTYPES.items() if t not in ("str", "Int64")})
    df["nodes"] = pd.array([None if pd.isna(v) else int(v) for v in df["nodes"]], dtype="Int64")
    for c, t in _DTYPES.items():
        if t == "str":
            df[c] = pd.Series([None if pd.isna(v) else str(v) for v in df[c]], index=df.index,
                              dtype="str")
    df = with_best_bound(df)
    return df.sort_values(_SORT, kind="mergesort").reset_index(drop=True)


def _merge(old: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    new = tidy(rows)
    return tidy(pd.concat([old, new], ignore_index=True)) if len(old) and len(new) else (new if len(new) else old)


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """A study table from Parquet; a missing, unreadable or foreign file is InvalidInput."""
    try:
        df = pd.read_parquet(path)
    except FileNotFoundError:
        raise InvalidInput(str(path), "results file not found") from None
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise InvalidInput(str(path), f"not a readable Parquet file: {e}") from None
    missing = [c for c in COLUMNS if c not in df]
    if missing:
        raise InvalidInput(str(path), f"not a study table: missing columns {', '.join(missing)}")
    return tidy(df)


def write_results(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write Parquet to a temporary file in the same folder, then rename: never a half-written table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- the study
def run_study(grid: Grid | str | os.PathLike, out: str | os.PathLike | None = None, *,
              engine: str = "local", scheduler: Any = None, workers: int | None = None,
              progress: bool = True, retry_errors: bool = False,
              checkpoint_seconds: float = 60.0) -> pd.DataFrame:
    """Run every cell of `grid` not already in `out` and return the whole table (old rows included).

    engine: "local" (a process pool of `workers`, default min(2, cores); workers=1 runs serially
    in this process) or "dask" (`scheduler` an address or a Client; None starts a LocalCluster).
    Finished rows are written to `out` every `checkpoint_seconds`, at the end, and when the study
    stops on an exception, always atomically. Error rows are kept as finished unless `retry_errors`.
    """
    if not isinstance(grid, Grid):
        grid = Grid.from_toml(grid)
    if engine not in engines.ENGINES:
        raise InvalidInput("engine", f"unknown engine {engine!r}; choose from {', '.join(engines.ENGINES)}")
    todo_all = cells(grid)
    old = empty_table()
    if out is not None and Path(out).exists():
        old = read_results(out)
        if retry_errors:
            old = old[old["status"] != "error"]
    done = set(old["cell"])
    todo = [c for c in todo_all if c["cell"] not in done]
    if not todo:
        if out is not None and not Path(out).exists():
            write_results(old, out)
        return old

    rows: list[dict] = []
    finished = False
    last = time.monotonic()
    try:
        for _, row in engines.run(engine, run_cell, todo, scheduler=scheduler, workers=workers,
                                  progress=progress):
            rows.append(row)
            if out is not None and time.monotonic() - last > checkpoint_seconds:
                write_results(_merge(old, rows), out)
                last = time.monotonic()
        finished = True
    finally:
        if not finished and out is not None and rows:  # keep what finished before the failure
            write_results(_merge(old, rows), out)
    df = _merge(old, rows)
    if out is not None:
        write_results(df, out)
    return df
