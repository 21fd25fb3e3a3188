"""Schedules: per station, `cached` a[t][p] and `edge_requests` x[t][p] (docs/formulation.md §2, §14)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from optcache.errors import InvalidInput
from optcache.instance import (
    RANGES,
    Instance,
    Limits,
    check_entries,
    check_value,
    json_kind,
    read_json,
    real_array,
    require_instance,
    write_atomic,
)


@dataclass(frozen=True, eq=False)
class StationSchedule:
    """Decisions of one station: a (cached, 0/1) and x (edge-served requests), both (T, P).

    Stored as float so that a non-integral value read from a file is reported by the evaluator
    as an integrality violation instead of being silently rounded.
    """

    cached: np.ndarray
    """a[t][p], float (T, P): 1 if the pair is loaded in slot t (§2)."""
    edge_requests: np.ndarray
    """x[t][p], float (T, P): requests served at the edge, 0 ≤ x ≤ R (§2)."""

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, StationSchedule)
                and np.array_equal(self.cached, other.cached)
                and np.array_equal(self.edge_requests, other.edge_requests))


@dataclass(frozen=True, eq=False)
class Schedule:
    """A schedule for every station of an instance."""

    stations: tuple[StationSchedule, ...]
    """One station schedule per station of the instance, in order."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.stations == other.stations

    @classmethod
    def from_arrays(cls, per_station: list[tuple[np.ndarray, np.ndarray]]) -> Schedule:
        """From one (a, x) pair of (T, P) arrays per station; values outside the schedule's range
        (RANGES: NaN, inf, beyond ±1e100), complex or non-numeric entries and a pair of
        different shapes are refused like in a file, naming the first."""
        if not isinstance(per_station, (list, tuple)):
            raise InvalidInput("per_station", "expected a list of (cached, edge_requests) pairs, "
                               f"got {type(per_station).__name__}")
        out = []
        for n, pair in enumerate(per_station):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise InvalidInput(f"stations[{n}]", "expected a (cached, edge_requests) pair of arrays")
            arrs = [_array(v, f"stations[{n}].{key}") for key, v in zip(KEYS, pair, strict=True)]
            if arrs[0].shape != arrs[1].shape:
                raise InvalidInput(f"stations[{n}].edge_requests",
                                   f"shape {arrs[1].shape} differs from cached {arrs[0].shape}")
            out.append(StationSchedule(*arrs))
        return cls(tuple(out))

    def checked(self) -> Schedule:
        """This schedule, its values checked as `from_arrays` checks them (a Schedule built
        directly skips them): what `evaluate` and `save_schedule` are handed, else InvalidInput
        naming the first bad entry."""
        if not isinstance(self.stations, (list, tuple)) or \
                not all(isinstance(ss, StationSchedule) for ss in self.stations):
            raise InvalidInput("stations", "expected a tuple of StationSchedule (Schedule.from_arrays "
                               "makes one from (cached, edge_requests) arrays)")
        return Schedule.from_arrays([(ss.cached, ss.edge_requests) for ss in self.stations])

    @classmethod
    def all_cloud(cls, inst: Instance) -> Schedule:
        """Nothing cached, every request sent to the cloud: the edge-free reference."""
        z = np.zeros((inst.slots, inst.n_pairs))
        require_instance(inst)
        return cls.from_arrays([(z, z) for _ in inst.stations])

    def to_dict(self) -> dict:
        """The schedule as the JSON object of `optcache/schedule@1` (§14)."""
        def clean(arr: np.ndarray) -> list:
            return [[int(v) if float(v).is_integer() else float(v) for v in row] for row in arr]

        return {"stations": [{"cached": clean(s.cached), "edge_requests": clean(s.edge_requests)}
                             for s in self.stations]}

    @classmethod
    def from_dict(cls, d: Any, inst: Instance | None = None) -> Schedule:
        """Parse a schedule object (or an `optcache solve` output); shapes checked against `inst` if given."""
        return parse_schedule(d, inst)


KEYS = ("cached", "edge_requests")
"""A station schedule's two matrices, a and x, in the file's and the arrays' order."""


def _array(v: Any, where: str) -> np.ndarray:
    """`v` as a float (T, P) array of values within the schedule's range (RANGES), or
    InvalidInput at its first bad entry; complex and non-numeric arrays are refused, not cast."""
    arr = real_array(v, where)
    if arr.ndim != 2:
        raise InvalidInput(where, f"expected a (slots, pairs) array, got shape {arr.shape}")
    arr = arr.astype(float, copy=False)
    rng = RANGES[f"stations[].{where.rsplit('.', 1)[-1]}[][]"]
    check_entries(arr, ~((arr >= rng.lo) & (arr <= rng.hi)), where, rng)  # NaN compares false
    return arr


def parse_schedule(d: Any, inst: Instance | None = None) -> Schedule:
    """Parse a schedule object; with an instance, also check that its shapes fit it."""
    if inst is not None:
        require_instance(inst)
    if not isinstance(d, dict):
        raise InvalidInput("schedule", f"expected an object, got {json_kind(d)}")
    if "stations" not in d and isinstance(d.get("schedule"), dict):
        d = d["schedule"]  # the output of `optcache solve` carries its schedule under "schedule"
    sts = d.get("stations")
    if not isinstance(sts, list):
        raise InvalidInput("stations", "missing or not a list")
    if inst is not None and len(sts) != inst.n_stations:
        raise InvalidInput("stations", f"expected {inst.n_stations} stations (as in the instance), got {len(sts)}")
    out = []
    for n, s in enumerate(sts):
        if not isinstance(s, dict):
            raise InvalidInput(f"stations[{n}]", "expected an object")
        arrs = []
        for key in KEYS:
            where = f"stations[{n}].{key}"
            if key not in s:
                raise InvalidInput(where, "missing")
            arrs.append(_matrix(s[key], where, inst))
        if arrs[0].shape != arrs[1].shape:
            raise InvalidInput(f"stations[{n}].edge_requests",
                               f"shape {arrs[1].shape} differs from cached {arrs[0].shape}")
        out.append(StationSchedule(*arrs))
    return Schedule(tuple(out))


def _matrix(v: Any, where: str, inst: Instance | None) -> np.ndarray:
    """A slots × pairs matrix of finite numbers within the schedule's range (RANGES)."""
    if not isinstance(v, list) or not all(isinstance(r, list) for r in v):
        raise InvalidInput(where, "expected a list of lists (slots × pairs)")
    widths = {len(r) for r in v}
    if len(widths) > 1:
        raise InvalidInput(where, "rows have different lengths")
    rng = RANGES[where.split(".")[-1].join(("stations[].", "[][]"))]
    for t, row in enumerate(v):
        if all(type(x) is int and rng.lo <= x <= rng.hi for x in row):
            continue  # the common case: small integers
        for p, x in enumerate(row):
            check_value(x, f"{where}[{t}][{p}]", rng)
    arr = np.asarray(v, dtype=float).reshape(len(v), widths.pop() if widths else 0)
    if inst is not None and arr.shape != (inst.slots, inst.n_pairs):
        raise InvalidInput(where, f"expected shape ({inst.slots}, {inst.n_pairs}) (slots, pairs), got {arr.shape}")
    return arr


def load_schedule(path: str | os.PathLike, inst: Instance | None = None,
                  limits: Limits | None = None) -> Schedule:
    """Read a schedule file (within `limits`) and, with an instance, check that it fits it."""
    return parse_schedule(read_json(path, "schedule", limits), inst)


def save_schedule(schedule: Schedule, path: str | os.PathLike) -> None:
    """Write `schedule` as `optcache/schedule@1` JSON, atomically."""
    if not isinstance(schedule, Schedule):
        raise InvalidInput("schedule", f"expected an optcache Schedule, got {type(schedule).__name__}")
    write_atomic(path, json.dumps(schedule.checked().to_dict(), allow_nan=False))
