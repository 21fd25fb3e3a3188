"""Market studies: MarketConfig knobs × seeds → one tidy Parquet row per (point, seed).

The market counterpart of `optcache.study` (docs/formulation.md §11, docs/claims.md): a grid file
with `kind = "market"` names MarketConfig knobs (a list is swept, `[[sweep]]` tables are unions as
in a caching grid), seeds and, optionally, a `[train]` table of DQMSB hyperparameters
(`optcache.market.dqn.Args` fields); without it only the reference mechanisms are scored::

    kind = "market"
    seeds = 5
    [knobs]
    cloud_match = [200.0, 400.0, 800.0]
    match = ["aot", "pareto"]
    [train]                    # optional: train DQMSB (Algorithm 2) in every cell
    episodes = 24
    train_instances = 12
    eval_instances = 4

A cell is one point and one seed. Its held-out rounds are the episodes of `Args.eval_seeds()` for
that seed (the history episode first), whether or not DQMSB is trained, so that every mechanism is
scored on the same rounds. Columns: `MARKET_COLUMNS`. `run_market_study` runs the cells missing
from its output on the local pool or Dask (`optcache.engines`) and writes the table atomically
with its provenance; a rerun resumes (cells are keyed by a hash of their point and seed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optcache.errors import InvalidInput, finite
from optcache.instance import (
    check_writable,
    grid_points,
    grid_product,
    grid_seeds,
    grid_values,
    read_parquet,
    require_path,
)
from optcache.market.valuations import MarketConfig, caching_policy

log = logging.getLogger(__name__)

MARKET_KNOBS = MarketConfig.knob_names()
"""Knobs a market grid may set or sweep: the scenario's and the market's (`MarketConfig.knob_names`)."""

MECHANISMS = ("spa", "myopic", "optimal", "msb_rho1", "best_fixed_rho", "best_fixed_action", "dqmsb")
"""Mechanisms scored per cell (`msb_rho1` is MSB with ρ = 1; `dqmsb` only with a [train] table)."""

CONVERGED_WITHIN = 0.01
"""An epoch has converged when it and every later epoch are within this much efficiency (a
fraction of the first-best) of the final plateau (the mean of the last quarter of epochs)."""

MARKET_COLUMNS: dict[str, str] = {
    "cell": "stable id of the cell: a hash of its market knobs, seed and training args",
    "seed": "seed of the cell: held-out scenario seeds seed·10⁶ + 500000 + k (Args.eval_seeds)",
    **{k: f"market knob MarketConfig.{k}" for k in MARKET_KNOBS},
    "rounds": "held-out rounds scored",
    "coverage_share": "share of held-out rounds with the satellite in coverage (30b)",
    "satellite_first_best_share": "share of rounds in coverage where the satellite is first-best",
    "first_best": "first-best total surplus of the held-out rounds",
    **{f"{m}_efficiency": f"total surplus of {m} / first-best" for m in MECHANISMS},
    "dqmsb_over_optimal": "DQMSB total surplus / optimal MSB's",
    "dqmsb_over_myopic": "DQMSB total surplus / myopic MSB's",
    "dqmsb_over_msb_rho1": "DQMSB total surplus / MSB's with ρ = 1",
    "dqmsb_over_spa": "DQMSB total surplus / SPA's",
    "converged_epoch": f"first epoch from which the held-out efficiency stays within {CONVERGED_WITHIN} "
                       "of the final plateau",
    "epochs": "training epochs",
    "manipulable_share": "share of rounds in coverage where a station gains by x_n = f·v_n (DQMSB)",
    "train_seconds": "DQMSB training time (s); differs from run to run (MARKET_TIMING_COLUMNS)",
    "wall_seconds": "the whole cell (s); differs from run to run",
}

MARKET_TIMING_COLUMNS = ("train_seconds", "wall_seconds")
"""Columns that differ from run to run; everything else is reproducible across engines and
machines (same seed, same numbers: tests/test_market_sweep.py)."""


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _knob_values(knobs: Any, where: str) -> dict[str, tuple]:
    """Knob names and the values' form; `_check_points` checks the values together, per point."""
    if not isinstance(knobs, Mapping):
        raise InvalidInput(where, "expected a table of market knobs")
    out = {}
    for name, v in knobs.items():
        if name not in MARKET_KNOBS:
            raise InvalidInput(f"{where}.{name}", f"unknown market knob; choose from {', '.join(MARKET_KNOBS)}")
        out[name] = grid_values(v, f"{where}.{name}")
    return out


def _check_points(knobs: dict[str, tuple], sweeps: tuple[dict[str, tuple], ...],
                  train: dict | None) -> None:
    """Every distinct point is a valid MarketConfig with a registered policy (and valid `train`
    Args on it), as `optcache.study` checks scenarios; errors name `knobs.NAME`, `sweep[i].NAME`
    or `train.NAME`, with the point when a knob is swept."""
    from optcache.market.dqn import Args

    for point in grid_points(knobs, sweeps):
        try:
            config = MarketConfig(**point.values)
            caching_policy(config.policy)
        except InvalidInput as e:
            raise point.error(e) from None
        if train is not None and point.index is not None:  # a shadowed knob alone never trains
            try:
                Args.from_dict({**train, "market": config}, where="train")
            except InvalidInput as e:
                raise InvalidInput(e.field, (e.message + point.at())[:200]) from None


@dataclass(frozen=True)
class MarketGrid:
    """What to run: market points (knobs, sweeps) × seeds, with DQMSB trained if `train` is set."""

    seeds: tuple[int, ...] = (0,)
    """DQMSB seeds (`Args.seed`, 0..999), or an integer n for seeds 0..n-1."""
    knobs: dict[str, tuple] = field(default_factory=dict)
    """MarketConfig knobs (`MARKET_KNOBS`) set at every point; a list is swept (a product)."""
    sweeps: tuple[dict[str, tuple], ...] = ()
    """Extra sweeps, each a table of knob lists on top of `knobs`; the points are their union."""
    train: dict[str, Any] | None = None
    """DQMSB hyperparameters (Args fields other than seed and market); None: references only."""
    manipulability: bool = False
    """Also measure how often a station gains by misreporting under the trained DQMSB."""

    def __post_init__(self) -> None:
        seeds = grid_seeds(self.seeds, 1000, 999, "[0, 999] (Args.seed)")
        knobs = _knob_values(self.knobs, "knobs")
        if isinstance(self.sweeps, Mapping) or not isinstance(self.sweeps, (list, tuple)):
            raise InvalidInput("sweep", "expected a list of tables ([[sweep]] in TOML)")
        sweeps = tuple(_knob_values(s, f"sweep[{i}]") for i, s in enumerate(self.sweeps))
        train = self.train
        if train is not None:
            if not isinstance(train, Mapping):
                raise InvalidInput("train", "expected a table of DQMSB hyperparameters")
            for k in ("seed", "market"):
                if k in train:
                    raise InvalidInput(f"train.{k}", "set by the cell (its seed and market point)")
            train = dict(train)
        if not isinstance(self.manipulability, bool):
            raise InvalidInput("manipulability", "must be true or false")
        if self.manipulability and train is None:
            raise InvalidInput("manipulability", "needs a [train] table (it measures the trained DQMSB)")
        _check_points(knobs, sweeps, train)
        object.__setattr__(self, "seeds", tuple(seeds))
        object.__setattr__(self, "knobs", knobs)
        object.__setattr__(self, "sweeps", sweeps)
        object.__setattr__(self, "train", train)

    def to_dict(self) -> dict:
        """The grid as its TOML layout (`kind = "market"`), recorded in the table's provenance."""
        d: dict[str, Any] = {"kind": "market", "seeds": list(self.seeds),
                             "knobs": {k: list(v) for k, v in self.knobs.items()}}
        if self.sweeps:
            d["sweep"] = [{k: list(v) for k, v in sw.items()} for sw in self.sweeps]
        if self.train is not None:
            d["train"] = dict(self.train)
        if self.manipulability:
            d["manipulability"] = True
        return d

    @classmethod
    def from_dict(cls, d: Any) -> MarketGrid:
        """From a grid TOML's table; unknown keys and bad values are InvalidInput naming them."""
        if not isinstance(d, Mapping):
            raise InvalidInput("grid", "expected a table")
        allowed = ("kind", "description", "seeds", "knobs", "sweep", "train", "manipulability")
        for k in d:
            if k not in allowed:
                raise InvalidInput(k, f"unknown market grid key; choose from {', '.join(allowed)}")
        if d.get("kind") != "market":
            raise InvalidInput("kind", f"a market grid has kind = \"market\", got {d.get('kind')!r}")
        return cls(seeds=d.get("seeds", (0,)), knobs=d.get("knobs", {}), sweeps=d.get("sweep", ()),
                   train=d.get("train"), manipulability=d.get("manipulability", False))


def market_cells(grid: MarketGrid) -> list[dict]:
    """The grid's cells in grid order, without duplicates: {cell, seed, config (dict), train}."""
    out: dict[str, dict] = {}
    for sweep in grid.sweeps or ({},):
        for point in grid_product({**grid.knobs, **sweep}):
            config = MarketConfig(**point).to_dict()
            for seed in grid.seeds:
                cell = _digest({"config": config, "seed": seed, "train": grid.train,
                                "manipulability": grid.manipulability})
                out.setdefault(cell, {"cell": cell, "seed": seed, "config": config, "train": grid.train,
                                      "manipulability": grid.manipulability})
    return list(out.values())


def converged_epoch(efficiency: np.ndarray, within: float = CONVERGED_WITHIN) -> int:
    """First epoch (1-based) from which every held-out efficiency is within `within` of the
    plateau, the mean of the last quarter of the epochs; len(efficiency) + 1 if the last epoch
    itself is off the plateau (not converged: `claims.training_claims` reads it so)."""
    try:
        e = np.asarray(efficiency, float)
    except (TypeError, ValueError):
        raise InvalidInput("efficiency", "expected a sequence of numbers, one per epoch") from None
    if e.ndim != 1 or e.size == 0:
        raise InvalidInput("efficiency", f"expected one value per epoch, got shape {e.shape}")
    if not np.isfinite(e).all():
        raise InvalidInput("efficiency", "must be finite in every epoch")
    if isinstance(within, bool) or not isinstance(within, (int, float, np.integer, np.floating)) \
            or not (finite(within) and within >= 0):
        raise InvalidInput("within", f"must be a finite number >= 0, got {within!r}"[:160])
    plateau = float(e[-max(1, e.size // 4):].mean())
    ok = np.abs(e - plateau) <= within
    bad = np.flatnonzero(~ok)
    return int(bad[-1] + 2) if bad.size else 1


def run_market_cell(cell: dict) -> dict:
    """Score the reference mechanisms (and DQMSB, if the cell trains it) on the cell's held-out
    rounds; one row of `MARKET_COLUMNS` (bad input becomes InvalidInput, as in a caching study)."""
    import torch

    from optcache.market.dqn import Args

    t0 = time.perf_counter()
    config = MarketConfig.from_dict(dict(cell["config"]))
    args = Args(seed=cell["seed"], market=config, **(cell["train"] or {}))
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)  # tiny networks: more threads only cost (as in training)
    try:
        return _market_row(cell, config, args, t0)
    finally:
        torch.set_num_threads(threads)


def _market_row(cell: dict, config: MarketConfig, args, t0: float) -> dict:
    from optcache.market import mechanisms as M
    from optcache.market.dqn import public_features, train
    from optcache.market.experiment import evaluate, manipulability
    from optcache.market.valuations import market_dataset

    data = market_dataset(config, args.eval_seeds())
    held = data.subset(data.scored)
    if held.n == 0:  # refused, not a row of NaN efficiencies (0/0)
        raise InvalidInput(f"cell {cell['cell']}", "the held-out episodes have no auction rounds (no "
                           "requests); use more slots, services, users or eval_instances")
    row: dict[str, Any] = {"cell": cell["cell"], "seed": cell["seed"], **config.to_dict()}
    policies, res = {}, None
    if cell["train"] is not None:
        res = train(args, eval_data=data)
        policies = {"dqmsb": res.policy}
    result = evaluate(held, policies)
    mech = result["mechanisms"]
    plain = M.surplus(M.msb(held.v, held.x0, held.eligible, 1.0), held.v, held.v0, held.eligible)
    mech["msb_rho1"] = {k: plain[k] for k in ("total_surplus", "efficiency")}
    row.update(rounds=result["rounds"], coverage_share=result["rounds_in_coverage"] / max(result["rounds"], 1),
               satellite_first_best_share=result["satellite_first_best_share"],
               first_best=result["first_best"]["total_surplus"])
    for m in MECHANISMS:
        row[f"{m}_efficiency"] = mech[m]["efficiency"] if m in mech else np.nan
    for ref in ("optimal", "myopic", "msb_rho1", "spa"):
        row[f"dqmsb_over_{ref}"] = (mech["dqmsb"]["total_surplus"] / mech[ref]["total_surplus"]
                                    if "dqmsb" in mech and mech[ref]["total_surplus"] > 0 else np.nan)
    row.update(converged_epoch=np.nan, epochs=np.nan, manipulable_share=np.nan, train_seconds=np.nan)
    if res is not None:
        row.update(converged_epoch=converged_epoch(res.curve["efficiency"].to_numpy()),
                   epochs=len(res.curve), train_seconds=res.seconds)
        if cell.get("manipulability"):
            inside = held.subset(held.eligible)
            pub = public_features(inside)
            man = manipulability(lambda x, r: res.policy.mechanism(x, r.x0, r.eligible, pub), inside)
            row["manipulable_share"] = man["share_manipulable"]
    row["wall_seconds"] = time.perf_counter() - t0
    return row


def tidy_market(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Columns in `MARKET_COLUMNS` order, rows sorted by knobs and seed."""
    df = pd.DataFrame(rows) if isinstance(rows, list) else rows.copy()
    for c in MARKET_COLUMNS:
        if c not in df:
            df[c] = np.nan
    df = df[list(MARKET_COLUMNS)]
    if len(df):
        df = df.sort_values([*MARKET_KNOBS, "seed", "cell"], kind="mergesort").reset_index(drop=True)
    return df


def read_market(path: str | os.PathLike) -> pd.DataFrame:
    """A market study table; its provenance (grids included) in `df.attrs["optcache"]`. A file
    written with a newer schema, or with malformed provenance, is InvalidInput naming it."""
    return _read_market(path)[0]


def _read_market(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, dict | None]]:
    """The table at `path` and the grids (id → its TOML layout) recorded in its provenance."""
    from optcache.provenance import STUDY_SCHEMA, check_schema

    path = require_path(path)
    if path.is_dir():
        raise InvalidInput(str(path), "is a directory, not a market study table (a Parquet file)")
    df = read_parquet(path)
    prov = df.attrs.get("optcache")
    grids = {}
    if prov is not None:  # None: written before provenance
        if not isinstance(prov, dict):
            raise InvalidInput(str(path), f"malformed provenance: expected a table, got {type(prov).__name__}")
        check_schema(prov.get("schema"), STUDY_SCHEMA, str(path))
        grids = prov.get("grid", {})
        if not isinstance(grids, dict) or not all(isinstance(g, str) and (v is None or isinstance(v, dict))
                                                  for g, v in grids.items()):
            raise InvalidInput(str(path), "malformed provenance: `grid` is not a table of grid id → grid")
    missing = [c for c in MARKET_COLUMNS if c not in df]
    if missing:
        raise InvalidInput(str(path), f"not a market study table: missing columns {', '.join(missing)}")
    return df, dict(grids)


def _write(df: pd.DataFrame, out: Path, grids: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from optcache.instance import atomic_path
    from optcache.provenance import SOLVER_PACKAGES, STUDY_SCHEMA, provenance

    prov = provenance(STUDY_SCHEMA, packages=(*SOLVER_PACKAGES, "pyarrow", "torch"), grid=grids)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"PANDAS_ATTRS"] = json.dumps({"optcache": prov}, default=str).encode()
    meta[b"optcache"] = json.dumps(prov, default=str).encode()
    with atomic_path(out) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


def run_market_study(grid: MarketGrid, out: str | os.PathLike | None = None, *, engine: str = "local",
                     scheduler: Any = None, workers: int | None = None, progress: bool = True,
                     extend: bool = False, checkpoint_seconds: float = 10.0) -> pd.DataFrame:
    """Run the grid's cells not yet in `out` and return the whole table (old rows included).

    Engines as in `optcache.study.run_study`; the table is written atomically with the cells
    finished so far once `checkpoint_seconds` have passed since the last write (0: after every
    cell), at the end, and when the run stops on an exception or a signal (a signal is then
    `resume.StudyInterrupted`). A SIGKILL loses the cells in flight and those finished since the
    last write (a caching study journals each row instead; market tables are rewritten whole,
    which is cheap at their size). A table written by another grid is refused unless `extend`."""
    from optcache import engines
    from optcache.resume import OutputLock, check_checkpoint_seconds

    workers = engines.check(engine, scheduler, workers)  # bad settings: refused before any write
    checkpoint_seconds = check_checkpoint_seconds(checkpoint_seconds)
    if not isinstance(grid, MarketGrid):
        raise InvalidInput("grid", "expected a MarketGrid (MarketGrid.from_dict or load_market_grid "
                           f"make one), got {type(grid).__name__}")
    if out is not None:
        out = require_path(out, "out")
        try:
            check_writable(out)
        except InvalidInput as e:
            raise InvalidInput("out", f"{e.field}: {e.message}") from None
    if out is None:
        return _run_market(grid, None, engine, scheduler, workers, progress, extend, checkpoint_seconds)
    with OutputLock(out):  # one study per output, caching or market
        return _run_market(grid, out, engine, scheduler, workers, progress, extend, checkpoint_seconds)


def _run_market(grid: MarketGrid, out: Path | None, engine: str, scheduler: Any, workers: int | None,
                progress: bool, extend: bool, checkpoint_seconds: float) -> pd.DataFrame:
    """`run_market_study` once its arguments are checked and `out` (if any) is locked."""
    import signal

    from optcache import engines
    from optcache.resume import StudyInterrupted, check_grid, interrupt_in

    todo = market_cells(grid)
    gid = _digest(sorted(c["cell"] for c in todo))
    old = pd.DataFrame(columns=list(MARKET_COLUMNS))
    grids: dict = {}
    ids = {c["cell"] for c in todo}
    n_cells = len(todo)
    if out is not None and out.exists():
        old, grids = _read_market(out)
        check_grid(out, old, grids, gid, ids, extend)
        todo = [c for c in todo if c["cell"] not in set(old["cell"])]
    grids[gid] = grid.to_dict()
    rows: list[dict] = []
    interrupted = None

    def table_so_far() -> pd.DataFrame:
        parts = [d for d in (old, pd.DataFrame(rows)) if len(d)]
        return tidy_market(pd.concat(parts, ignore_index=True) if parts else [])

    last = time.monotonic()
    try:
        for _, row in engines.run(engine, run_market_cell, todo, scheduler=scheduler, workers=workers,
                                  progress=progress):
            rows.append(row)
            if out is not None and time.monotonic() - last >= checkpoint_seconds:
                _write(table_so_far(), out, grids)
                last = time.monotonic()
    except (KeyboardInterrupt, SystemError, RuntimeError) as e:
        interrupted = interrupt_in(e)
        if interrupted is None:
            raise
    finally:
        table = table_so_far()
        if out is not None:
            _write(table, out, grids)
            log.info("wrote %s: %d rows (%d run now)", out, len(table), len(rows))
    if interrupted is not None:
        saved = int(table["cell"].isin(ids).sum()) if len(table) else 0
        raise StudyInterrupted(getattr(interrupted, "signum", signal.SIGINT), saved, n_cells, out) from None
    return table


def load_market_grid(path: str | os.PathLike) -> MarketGrid:
    """A market grid from its TOML file (size and nesting limits as for caching grids)."""
    import tomllib

    from optcache.instance import DEFAULT_LIMITS, check_depth, read_text

    text = read_text(path, "grid", DEFAULT_LIMITS)
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(str(path), f"malformed TOML: {e}") from None
    return MarketGrid.from_dict(check_depth(d, path, DEFAULT_LIMITS))

