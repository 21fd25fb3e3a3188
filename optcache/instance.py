"""Typed, validated instances and the JSON interchange format `optcache/instance@1` (docs/formulation.md §14).

Instance objects live at the edge (files, the CLI, the generator); solvers and the evaluator work
on `StationData`, plain numpy arrays for one station.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from optcache.errors import InvalidInput

FORMAT = "optcache/instance@1"


# --------------------------------------------------------------------------- ranges and limits
@dataclass(frozen=True)
class Range:
    """The documented range of one numeric field: bounds chosen so that every cost stays finite."""

    symbol: str
    """The field's symbol in docs/formulation.md, e.g. `λ`."""
    unit: str
    """Its unit, e.g. `tokens`, `GB`, `FLOP per slot`."""
    lo: float
    """Lower bound."""
    hi: float
    """Upper bound."""
    lo_open: bool = False
    """The lower bound is excluded."""
    hi_open: bool = False
    """The upper bound is excluded."""
    integer: bool = False
    """Only integers are accepted."""
    index_of: str | None = None
    """For an index field: the list it points into (its bounds are that list's length)."""

    def text(self) -> str:
        """The range as docs/formulation.md §14 writes it, e.g. `integer in [1, 1e9]`, `[1e-12, 1)`."""
        if self.index_of is not None:
            return f"index into `{self.index_of}`"
        body = (f"{'(' if self.lo_open else '['}{format_bound(self.lo)}, {format_bound(self.hi)}"
                f"{')' if self.hi_open else ']'}")
        return f"integer in {body}" if self.integer else body


def format_bound(v: float) -> str:
    """1e12 rather than 1e+12; small integers as they are."""
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    mant, exp = f"{v:e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


RANGES: dict[str, Range] = {
    "slots": Range("T", "slots", 1, 1e9, integer=True),
    "switching_cost": Range("λ", "cost per load", 0, 1e12),
    "kappa_offset": Range("κ_0", "tokens", 1e-6, 1e12),
    "models[].memory_gb": Range("s_m", "GB", 1e-6, 1e12),
    "models[].flops_per_token": Range("e_m", "FLOP per token", 0, 1e24),
    "models[].context_tokens": Range("w_m", "tokens", 1, 1e12, integer=True),
    "services[].input_mb": Range("d_i", "MB", 0, 1e12),
    "services[].thought_tokens": Range("k_i", "tokens per request", 0, 1e9, integer=True),
    "pairs[].service": Range("i", "—", 0, 0, integer=True, index_of="services"),
    "pairs[].model": Range("m", "—", 0, 0, integer=True, index_of="models"),
    "pairs[].zero_shot_accuracy": Range("α", "—", 0, 1),
    "pairs[].cot_beta": Range("β", "—", 1e-12, 1, hi_open=True),
    "pairs[].vanishing": Range("Δ", "tokens per slot", 0, 1e12),
    "pairs[].cloud_cost": Range("l_0", "cost per request", 0, 1e12),
    "stations[].gpu_memory_gb": Range("G_n", "GB", 0, 1e15),
    "stations[].compute_budget_flops": Range("E_n", "FLOP per slot", 0, 1e30),
    "stations[].compute_flops_per_s": Range("f_n", "FLOP/s", 1e-6, 1e30),
    "stations[].backhaul_mb_per_s": Range("r^C_n", "MB/s", 1e-6, 1e15),
    "stations[].access_cost[]": Range("l_{n,i}", "cost per request", 0, 1e12),
    "stations[].requests[][]": Range("R", "requests", 0, 1e15, integer=True),
    # schedule files: a value outside the decision's domain is a violation, not an error; only
    # beyond these bounds is the file refused (they keep every violation's value finite)
    "stations[].cached[][]": Range("a", "— (schedule)", -1e100, 1e100),
    "stations[].edge_requests[][]": Range("x", "requests (schedule)", -1e100, 1e100),
}
"""Every numeric field of the instance and schedule files, by JSON path with `[]` for any index:
its symbol, unit and range (docs/formulation.md §14 prints this table; a test holds them equal).
With every field in range, a cost term of one slot and pair is below 1e54: sums stay finite."""

MAX_REQUESTS = int(RANGES["stations[].requests[][]"].hi)
"""Largest request count accepted: below 2^53, so counts are exact in float64 (and fit int64)."""


@dataclass(frozen=True)
class Limits:
    """Sizes refused before anything large is read or built (docs/formulation.md §14).

    The defaults protect the CLI and studies; pass a larger `Limits(...)` to `load_instance`,
    `parse_instance`, `load_schedule`, `generate`, `Grid.from_toml` or `run_study` for inputs you
    trust."""

    max_file_bytes: int = 64 * 2**20
    """Largest instance, schedule or grid file read (64 MiB: ~3.5 times a budget-sized instance)."""
    max_depth: int = 64
    """Deepest nesting of lists and objects in a file (an instance needs 5, a solve output 6)."""
    max_digits: int = 1000
    """Longest run of digits in a number (Python refuses integers of 4300 digits, slowly); shorter
    numbers are parsed, so that one beyond its field's range is refused naming the field."""
    max_cells: int = 2_000_000
    """Largest instance, in request cells: slots × pairs × stations (~2 s to load and run laot
    when wide; longer with many stations or slots per pair, docs/formulation.md §14)."""

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_depth", "max_digits", "max_cells"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInput(f"limits.{name}", f"must be a positive integer, got {v!r}")

    def check_cells(self, slots: int, pairs: int, stations: int, *, what: str = "pairs",
                    where: str = "instance") -> None:
        """Refuse an instance of more than `max_cells` request cells, before it is built."""
        cells = slots * pairs * stations
        if cells > self.max_cells:
            raise InvalidInput(where, f"{slots} slots × {pairs} {what} × {stations} stations = "
                               f"{cells:.3g} request cells, over the budget of {self.max_cells} "
                               "(optcache.instance.Limits.max_cells)")


DEFAULT_LIMITS = Limits()


# --------------------------------------------------------------------------- parsing helpers
_JSON_KINDS = ((type(None), "null"), (bool, "true/false"), ((int, float), "a number"), (str, "a string"),
               (list, "a list"), (dict, "an object"))


def json_kind(v: Any) -> str:
    """What a parsed JSON value is, in the file's terms (null, a list, ...), for error messages."""
    return next((name for t, name in _JSON_KINDS if isinstance(v, t)), type(v).__name__)


def _obj(d: Any, path: str) -> dict:
    if not isinstance(d, dict):
        raise InvalidInput(path, f"expected an object, got {json_kind(d)}")
    return d


def _list(d: Any, path: str, length: int | None = None) -> list:
    if not isinstance(d, list):
        raise InvalidInput(path, f"expected a list, got {json_kind(d)}")
    if length is not None and len(d) != length:
        raise InvalidInput(path, f"expected {length} entries, got {len(d)}")
    return d


def show_value(v: Any) -> str:
    """A value for an error message, short even for a 1000-digit integer."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and abs(int(v)) >= 10**20:
        e = math.log10(abs(int(v)))  # str() of an integer of over 4300 digits raises
        n = int(e) + 1
        return f"{'-' if v < 0 else ''}{int(10 ** (e - int(e)) + 1e-9)}e{n - 1} (an integer of {n} digits)"
    return str(v)[:24]


def check_value(v: Any, where: str, rng: Range, n_items: int | None = None) -> Any:
    """A finite number within `rng` (an int if the range is integer); else InvalidInput at `where`.

    Integers are compared exactly (10**30 is out of range, not 'not an integer'); `n_items` is the
    length of the list an index field points into."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise InvalidInput(where, f"expected a number, got {json_kind(v)}")
    given = v
    if isinstance(v, (int, np.integer)):
        v = int(v)
    elif not math.isfinite(v):
        raise InvalidInput(where, f"must be finite, got {v}")
    elif rng.integer:
        if not float(v).is_integer():
            raise InvalidInput(where, f"must be an integer, got {v}")
        v = int(v)
    lo, hi = rng.lo, rng.hi
    if rng.index_of is not None:
        lo, hi = 0, max((n_items or 0) - 1, 0)
    if v < lo or (rng.lo_open and v == lo):
        raise InvalidInput(where, f"must be {'>' if rng.lo_open else '>='} {format_bound(lo)}, got {show_value(given)}")
    if v > hi or (rng.hi_open and v == hi):
        raise InvalidInput(where, f"must be {'<' if rng.hi_open else '<='} {format_bound(hi)}, got {show_value(given)}")
    return v if rng.integer else float(v) + 0.0  # + 0.0: -0.0 is written as 0.0


def _num(d: dict, key: str, path: str, rkey: str, n_items: int | None = None) -> Any:
    """Read d[key], checked against RANGES[rkey]; errors name the JSON path."""
    where = f"{path}.{key}" if path else key
    if key not in d:
        raise InvalidInput(where, "missing")
    return check_value(d[key], where, RANGES[rkey], n_items)


def _str(d: dict, key: str, path: str) -> str:
    if key not in d:  # §14 lists it in every object: a missing name is named, never defaulted
        raise InvalidInput(f"{path}.{key}", "missing (a string; it may be empty)")
    v = d[key]
    if not isinstance(v, str):
        raise InvalidInput(f"{path}.{key}", f"expected a string, got {json_kind(v)}")
    return v


# --------------------------------------------------------------------------- the objects
@dataclass(frozen=True)
class Model:
    """A reasoning LLM: running size s_m, compute e_m per token, context window w_m."""

    name: str
    """Display name, e.g. `LLaMA-65B`."""
    memory_gb: float
    """Running size s_m, GB of GPU memory, taken by every pair on this model (3)."""
    flops_per_token: float
    """Compute e_m, FLOP per token (5), (23)."""
    context_tokens: int
    """Context window w_m, tokens (28c)."""


@dataclass(frozen=True)
class Service:
    """An LLM agent service: input size d_i and thought length k_i."""

    name: str
    """Display name."""
    input_mb: float
    """Input size d_i of one request, MB (backhaul time d_i / r^C_n in (22))."""
    thought_tokens: int
    """Thought length k_i, tokens added to the context per request served at the edge (§4)."""


@dataclass(frozen=True)
class Pair:
    """Service i on model m: the unit the cache holds (docs/formulation.md §1)."""

    service: int
    """Index into `Instance.services`."""
    model: int
    """Index into `Instance.models`."""
    zero_shot_accuracy: float
    """α_p in [0, 1], the pair's zero-shot accuracy (20), (24)."""
    cot_beta: float
    """β_p in (0, 1), per-thought attenuation of the chain-of-thought gain (20), (24)."""
    vanishing: float
    """Vanishing factor Δ_p, tokens per slot by which the age of thought decays (19)."""
    cloud_cost: float
    """Cloud price l_{0,p}, cost units per offloaded request (26)."""


@dataclass(frozen=True, eq=False)
class Station:
    """A ground station: GPU memory G_n, compute budget E_n per slot, rates, access costs, requests."""

    name: str
    """Display name."""
    gpu_memory_gb: float
    """GPU memory G_n, GB (3): GPUs × memory per GPU."""
    compute_budget_flops: float
    """Compute budget E_n, FLOP per slot (5)."""
    compute_flops_per_s: float
    """Compute rate f_n, FLOP/s: the computing cost (23) is k e / f_n seconds per request."""
    backhaul_mb_per_s: float
    """Backhaul rate r^C_n, MB/s: an offloaded request costs d_i / r^C_n (22)."""
    access_cost: tuple[float, ...]
    """Access cost l_{n,i} per service, cost units per request (22)."""
    requests: np.ndarray = field(repr=False)  # int64, shape (slots, pairs)
    """Requests R[t][p], integer, shape (slots, pairs)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Station) and _station_dict(self) == _station_dict(other)


@dataclass(frozen=True, eq=False)
class Instance:
    """A whole instance: global parameters, models, services, pairs and stations."""

    slots: int
    """Number of slots T."""
    switching_cost: float
    """Switching cost λ, cost units per pair loaded (21)."""
    kappa_offset: float
    """κ_0 > 0, tokens: the accuracy unit cost (24) is c_p / (κ + κ_0) (§4)."""
    models: tuple[Model, ...]
    """The reasoning models."""
    services: tuple[Service, ...]
    """The LLM agent services."""
    pairs: tuple[Pair, ...]
    """The (service, model) pairs the cache holds (§1)."""
    stations: tuple[Station, ...]
    """The ground stations, each with its requests."""
    meta: dict = field(default_factory=dict, compare=False)
    """Free-form provenance (the generator's config and seed); not compared by `==`."""

    def __post_init__(self) -> None:
        validate(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instance):
            return False
        a, b = self.to_dict(), other.to_dict()
        a.pop("meta", None), b.pop("meta", None)  # provenance, not data (the field's compare=False)
        return a == b

    @property
    def seed(self) -> int | None:
        """The generator's seed recorded in `meta.scenario.seed`, if any (provenance only)."""
        scenario = self.meta.get("scenario")
        seed = scenario.get("seed") if isinstance(scenario, dict) else None
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    @property
    def n_pairs(self) -> int:
        """Number of pairs P."""
        return len(self.pairs)

    @property
    def n_stations(self) -> int:
        """Number of ground stations N."""
        return len(self.stations)

    def to_dict(self) -> dict:
        """The instance as the JSON object of `optcache/instance@1` (§14)."""
        d = {
            "format": FORMAT,
            "slots": self.slots,
            "switching_cost": self.switching_cost,
            "kappa_offset": self.kappa_offset,
            "models": [vars(m).copy() for m in self.models],
            "services": [vars(s).copy() for s in self.services],
            "pairs": [vars(p).copy() for p in self.pairs],
            "stations": [_station_dict(s) for s in self.stations],
        }
        if self.meta:
            d["meta"] = self.meta
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Instance:
        """Parse and validate an `optcache/instance@1` object (`parse_instance`)."""
        return parse_instance(d)

    def station_data(self, n: int) -> StationData:
        """Station `n` (0-based) as numpy arrays over pairs, the solvers' view."""
        return StationData.from_instance(self, check_index(n, self.n_stations, "n"))

    def with_requests(self, n: int, requests: np.ndarray) -> Instance:
        """A copy whose station n has other requests (forecasts, windows)."""
        n = check_index(n, self.n_stations, "n")
        R = request_matrix(requests, "requests")
        if R.ndim != 2 or R.shape[0] < 1:
            raise InvalidInput("requests", f"expected a (slots, pairs) matrix, got shape {R.shape}")
        st = list(self.stations)
        s = st[n]
        st[n] = Station(s.name, s.gpu_memory_gb, s.compute_budget_flops, s.compute_flops_per_s,
                        s.backhaul_mb_per_s, s.access_cost, R)
        T = R.shape[0]
        others = [x if i == n else Station(x.name, x.gpu_memory_gb, x.compute_budget_flops,
                  x.compute_flops_per_s, x.backhaul_mb_per_s, x.access_cost, x.requests[:T])
                  for i, x in enumerate(st)]
        return Instance(T, self.switching_cost, self.kappa_offset, self.models, self.services,
                        self.pairs, tuple(others), dict(self.meta))


def _station_dict(s: Station) -> dict:
    return {
        "name": s.name,
        "gpu_memory_gb": s.gpu_memory_gb,
        "compute_budget_flops": s.compute_budget_flops,
        "compute_flops_per_s": s.compute_flops_per_s,
        "backhaul_mb_per_s": s.backhaul_mb_per_s,
        "access_cost": [float(v) for v in s.access_cost],
        "requests": np.asarray(s.requests).astype(int).tolist(),
    }


def _check_fields(obj: Any, where: str, group: str, names: tuple[str, ...]) -> None:
    for name in names:
        check_value(getattr(obj, name), f"{where}.{name}", RANGES[f"{group}[].{name}"])


def real_array(v: Any, where: str, kinds: str = "biuf", what: str = "real numbers") -> np.ndarray:
    """`v` as a numpy array of `what` (dtype kinds `kinds`), or InvalidInput naming `where`:
    ragged lists, strings and complex numbers are refused, not cast."""
    try:
        arr = np.asarray(v)
    except (TypeError, ValueError) as e:  # ragged nested lists
        raise InvalidInput(where, f"expected an array of numbers: {e}"[:160]) from None
    if arr.dtype.kind not in kinds:
        raise InvalidInput(where, f"expected {what}, got an array of {arr.dtype}")
    return arr


def check_entries(arr: np.ndarray, bad: np.ndarray, where: str, rng: Range) -> None:
    """InvalidInput at the first entry of `arr` flagged in `bad`, worded by `check_value`
    (`where[t][p]`: must be finite, an integer, within `rng`)."""
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        v = arr[idx]
        check_value(int(v) if arr.dtype.kind in "iu" else float(v), where + "".join(f"[{i}]" for i in idx), rng)


def request_matrix(R: Any, where: str) -> np.ndarray:
    """`R` as the int64 request matrix, or InvalidInput at its first bad entry: requests are
    whole, finite counts within range (a fraction is refused, not truncated by the cast)."""
    rng = RANGES["stations[].requests[][]"]
    A = real_array(R, where, "iuf", "integer counts")
    if A.dtype.kind == "f":
        check_entries(A, ~np.isfinite(A) | (A != np.round(A)) | (A < rng.lo) | (A > rng.hi), where, rng)
    elif A.size and (A.min() < rng.lo or A.max() > rng.hi):
        check_entries(A, (A < rng.lo) | (A > rng.hi), where, rng)
    return A.astype(np.int64, copy=False)


def check_index(v: Any, count: int, where: str, what: str = "station") -> int:
    """`v` as a 0-based index into `count` items (negative indices are refused, not counted from
    the end), or InvalidInput naming `where`."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise InvalidInput(where, f"expected a {what} index (an integer), got {json_kind(v)}")
    if not 0 <= v < count:
        raise InvalidInput(where, f"must be a {what} index in [0, {count - 1}], got {show_value(v)}")
    return int(v)


def validate(inst: Instance) -> None:
    """Check ranges (RANGES) and shapes of an instance; raise InvalidInput naming the first bad field."""
    for name in ("slots", "switching_cost", "kappa_offset"):
        check_value(getattr(inst, name), name, RANGES[name])
    for name, kind in (("models", Model), ("services", Service), ("pairs", Pair), ("stations", Station)):
        _freeze_items(inst, name, kind)
    if not inst.models:
        raise InvalidInput("models", "at least one model is required")
    if not inst.services:
        raise InvalidInput("services", "at least one service is required")
    if not inst.pairs:
        raise InvalidInput("pairs", "at least one pair is required")
    if not inst.stations:
        raise InvalidInput("stations", "at least one station is required")
    for j, m in enumerate(inst.models):
        _check_name(m, f"models[{j}]")
        _check_fields(m, f"models[{j}]", "models", ("memory_gb", "flops_per_token", "context_tokens"))
    for j, s in enumerate(inst.services):
        _check_name(s, f"services[{j}]")
        _check_fields(s, f"services[{j}]", "services", ("input_mb", "thought_tokens"))
    seen = set()
    for j, p in enumerate(inst.pairs):
        w = f"pairs[{j}]"
        check_value(p.service, f"{w}.service", RANGES["pairs[].service"], len(inst.services))
        check_value(p.model, f"{w}.model", RANGES["pairs[].model"], len(inst.models))
        if (p.service, p.model) in seen:
            raise InvalidInput(w, f"duplicate pair (service {p.service}, model {p.model})")
        seen.add((p.service, p.model))
        _check_fields(p, w, "pairs", ("zero_shot_accuracy", "cot_beta", "vanishing", "cloud_cost"))
    P, T = len(inst.pairs), inst.slots
    for n, s in enumerate(inst.stations):
        w = f"stations[{n}]"
        _check_name(s, w)
        _check_fields(s, w, "stations", ("gpu_memory_gb", "compute_budget_flops",
                                         "compute_flops_per_s", "backhaul_mb_per_s"))
        if not isinstance(s.access_cost, (list, tuple, np.ndarray)):
            raise InvalidInput(f"{w}.access_cost", f"expected a list of {len(inst.services)} numbers, "
                               f"got {json_kind(s.access_cost)}")
        object.__setattr__(s, "access_cost", tuple(s.access_cost))  # a later write cannot reach it
        if len(s.access_cost) != len(inst.services):
            raise InvalidInput(f"{w}.access_cost",
                               f"expected {len(inst.services)} entries, got {len(s.access_cost)}")
        for i, c in enumerate(s.access_cost):
            check_value(c, f"{w}.access_cost[{i}]", RANGES["stations[].access_cost[]"])
        R = request_matrix(s.requests, f"{w}.requests")
        if R.shape != (T, P):
            raise InvalidInput(f"{w}.requests", f"expected shape ({T}, {P}) (slots, pairs), got {R.shape}")
        if isinstance(s.requests, np.ndarray) and np.may_share_memory(R, s.requests):
            R = R.copy()  # the checked requests, an own frozen copy: a later `requests[t, p] = -5`
        R.flags.writeable = False  # on the caller's array (or one a read-only view shows) would
        # reach the solvers unchecked
        object.__setattr__(s, "requests", R)
    _check_meta(inst.meta)


def _freeze_items(inst: Instance, name: str, kind: type) -> None:
    """`inst.<name>` as a tuple of `kind` objects (a list the caller keeps could be changed after
    the checks), else InvalidInput naming the field or the item."""
    items = getattr(inst, name)
    if not isinstance(items, (list, tuple)):
        raise InvalidInput(name, f"expected a list of {kind.__name__} objects, got {json_kind(items)}")
    for j, item in enumerate(items):
        if not isinstance(item, kind):
            raise InvalidInput(f"{name}[{j}]", f"expected an optcache {kind.__name__}, got "
                               f"{type(item).__name__}")
    object.__setattr__(inst, name, tuple(items))


def _check_name(obj: Any, where: str) -> None:
    if not isinstance(obj.name, str):
        raise InvalidInput(f"{where}.name", f"expected a string, got {json_kind(obj.name)}")


def _check_meta(meta: Any) -> None:
    """`meta` as the file will hold it: an object of JSON values without NaN or ±∞ (§14)."""
    if not isinstance(meta, dict):
        raise InvalidInput("meta", f"expected an object (a dict), got {json_kind(meta)}")
    try:
        json.dumps(meta, allow_nan=False, default=json_plain)
    except (ValueError, TypeError, RecursionError) as e:
        raise InvalidInput("meta", f"must hold JSON values with finite numbers only: {e}"[:200]) from None


def json_plain(v: Any) -> Any:
    """numpy scalars and arrays as the JSON values they stand for (json.dumps' `default`)."""
    if isinstance(v, (np.generic, np.ndarray)):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} is not a JSON value")


def _requests(rows: Any, where: str, T: int, P: int) -> np.ndarray:
    """The slots × pairs request matrix of a station object, every entry checked."""
    rng = RANGES["stations[].requests[][]"]
    rows = _list(rows, where, T)
    R = np.zeros((T, P), dtype=np.int64)
    for t, row in enumerate(rows):
        row = _list(row, f"{where}[{t}]", P)
        if all(type(v) is int for v in row):  # the common case, checked at once
            if P and (min(row) < rng.lo or max(row) > rng.hi):
                p = next(p for p, v in enumerate(row) if v < rng.lo or v > rng.hi)
                check_value(row[p], f"{where}[{t}][{p}]", rng)
            R[t] = row
            continue
        for p, v in enumerate(row):
            R[t, p] = check_value(v, f"{where}[{t}][{p}]", rng)
    return R


def parse_instance(d: Any, limits: Limits | None = None) -> Instance:
    """Parse and validate the JSON interchange object of docs/formulation.md §14.

    Instances over `limits.max_cells` request cells are refused before their requests are read."""
    limits = require_limits(limits)
    d = _obj(d, "instance")
    if "format" not in d:
        raise InvalidInput("format", f"missing: an instance file starts with \"format\": {FORMAT!r}")
    fmt = d["format"]
    if fmt != FORMAT:
        raise InvalidInput("format", f"expected {FORMAT!r}, got {show_value(fmt)!r}")
    T = _num(d, "slots", "", "slots")
    models = []
    for j, m in enumerate(_list(d.get("models"), "models")):
        w = f"models[{j}]"
        m = _obj(m, w)
        models.append(Model(_str(m, "name", w), _num(m, "memory_gb", w, "models[].memory_gb"),
                            _num(m, "flops_per_token", w, "models[].flops_per_token"),
                            _num(m, "context_tokens", w, "models[].context_tokens")))
    services = []
    for j, s in enumerate(_list(d.get("services"), "services")):
        w = f"services[{j}]"
        s = _obj(s, w)
        services.append(Service(_str(s, "name", w), _num(s, "input_mb", w, "services[].input_mb"),
                                _num(s, "thought_tokens", w, "services[].thought_tokens")))
    pairs = []
    for j, p in enumerate(_list(d.get("pairs"), "pairs")):
        w = f"pairs[{j}]"
        p = _obj(p, w)
        pairs.append(Pair(_num(p, "service", w, "pairs[].service", len(services)),
                          _num(p, "model", w, "pairs[].model", len(models)),
                          *(_num(p, k, w, f"pairs[].{k}") for k in
                            ("zero_shot_accuracy", "cot_beta", "vanishing", "cloud_cost"))))
    station_objs = _list(d.get("stations"), "stations")
    limits.check_cells(T, len(pairs), len(station_objs))
    stations = []
    for n, s in enumerate(station_objs):
        w = f"stations[{n}]"
        s = _obj(s, w)
        acc = _list(s.get("access_cost"), f"{w}.access_cost", len(services))
        access = tuple(check_value(c, f"{w}.access_cost[{i}]", RANGES["stations[].access_cost[]"])
                       for i, c in enumerate(acc))
        R = _requests(s.get("requests"), f"{w}.requests", T, len(pairs))
        stations.append(Station(_str(s, "name", w),
                                *(_num(s, k, w, f"stations[].{k}") for k in
                                  ("gpu_memory_gb", "compute_budget_flops", "compute_flops_per_s",
                                   "backhaul_mb_per_s")), access, R))
    meta = d.get("meta", {})
    _check_meta(meta)
    return Instance(T, _num(d, "switching_cost", "", "switching_cost"),
                    _num(d, "kappa_offset", "", "kappa_offset"),
                    tuple(models), tuple(services), tuple(pairs), tuple(stations), meta)


def _depth(obj: Any) -> int:
    """Deepest nesting of lists and dicts, without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, level = stack.pop()
        if level > deepest:
            deepest = level
        items = o.values() if isinstance(o, dict) else o if isinstance(o, list) else ()
        stack.extend((v, level + 1) for v in items if isinstance(v, (list, dict)))
    return deepest if isinstance(obj, (list, dict)) else 0


def require_limits(limits: Any) -> Limits:
    """`limits`, DEFAULT_LIMITS for None; anything else is InvalidInput naming the argument."""
    if limits is None:
        return DEFAULT_LIMITS
    if not isinstance(limits, Limits):
        raise InvalidInput("limits", f"expected an optcache.instance.Limits, got {type(limits).__name__}")
    return limits


def require_path(path: Any, field: str = "path") -> Path:
    """`path` as a Path if it is a str or os.PathLike naming something, else InvalidInput."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InvalidInput(field, f"expected a file path (a str or os.PathLike), got {path!r}"[:160])
    return Path(path)


def read_text(path: str | os.PathLike, what: str, limits: Limits | None = None) -> str:
    """A file's text if it exists, fits `limits.max_file_bytes` and has no over-long number."""
    limits = require_limits(limits)
    path = require_path(path)
    try:
        size = os.stat(path).st_size
        if size > limits.max_file_bytes:
            raise InvalidInput(str(path), f"{what} file has {size} bytes, over the limit of "
                               f"{limits.max_file_bytes} (optcache.instance.Limits.max_file_bytes)")
        with open(path, encoding="utf-8") as f:
            text = f.read(limits.max_file_bytes + 1)
        if len(text) > limits.max_file_bytes:  # a device or a file that grew while read
            raise InvalidInput(str(path), f"{what} file is over the limit of {limits.max_file_bytes} "
                               "bytes (optcache.instance.Limits.max_file_bytes)")
    except FileNotFoundError:
        raise InvalidInput(str(path), f"{what} file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(str(path), f"cannot read {what}: {e}") from None
    long = re.search(rf"(?<!\d)\d{{{limits.max_digits + 1}}}", text)  # each run scanned once
    if long:
        line = text.count("\n", 0, long.start()) + 1
        raise InvalidInput(str(path), f"a number at line {line} has more than {limits.max_digits} "
                           "digits (optcache.instance.Limits.max_digits)")
    return text


def check_depth(obj: Any, path: str | os.PathLike, limits: Limits | None = None) -> Any:
    """`obj` if nested at most `limits.max_depth` deep, else InvalidInput naming the file."""
    limits = require_limits(limits)
    if _depth(obj) > limits.max_depth:
        raise InvalidInput(str(path), f"nested deeper than {limits.max_depth} levels "
                           "(optcache.instance.Limits.max_depth)")
    return obj


def _read_parsed(path: str | os.PathLike, what: str, limits: Limits | None, loads, malformed) -> Any:
    """`loads` of a file's text within `limits`: size, digits, nesting; a parse error is
    InvalidInput with `malformed(error)` as its message."""
    limits = require_limits(limits)
    text = read_text(path, what, limits)
    try:
        obj = loads(text)
    except RecursionError:
        raise InvalidInput(str(path), f"nested deeper than {limits.max_depth} levels "
                           "(optcache.instance.Limits.max_depth)") from None
    except ValueError as e:  # json.JSONDecodeError and tomllib.TOMLDecodeError
        raise InvalidInput(str(path), malformed(e)) from None
    return check_depth(obj, path, limits)


def read_json(path: str | os.PathLike, what: str, limits: Limits | None = None) -> Any:
    """Read a JSON file within `limits`; a missing, malformed or oversized file is InvalidInput."""
    return _read_parsed(path, what, limits, _strict_json_loads,
                        lambda e: f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}"
                        if isinstance(e, json.JSONDecodeError) else f"malformed JSON: {e}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"key {dup!r} appears twice in one object (which value is meant?)"[:160])
    return d


def _strict_json_loads(text: str) -> Any:
    """json.loads that refuses duplicate keys (Python's parser keeps the last one unseen). NaN
    and ±Infinity are parsed, so that the range check refuses them naming their field (§14)."""
    return json.loads(text, object_pairs_hook=_unique_keys)


def read_toml(path: str | os.PathLike, what: str, limits: Limits | None = None) -> Any:
    """Read a TOML file (a study grid) within `limits`, like `read_json`."""
    import tomllib

    return _read_parsed(path, what, limits, tomllib.loads, lambda e: f"malformed TOML: {e}")


def _scalar(v: Any, where: str, *, allow_bool: bool = False) -> Any:
    if isinstance(v, bool) and not allow_bool:
        raise InvalidInput(where, f"expected a number or a string, got {v!r}")
    if not isinstance(v, (bool, int, float, str)):
        raise InvalidInput(where, f"expected a scalar value, got {type(v).__name__}")
    return v


def grid_values(v: Any, where: str, *, allow_bool: bool = False) -> tuple:
    """A grid file's value (study and market grids): a scalar is one value, a non-empty list of
    distinct scalars is a sweep; anything else is InvalidInput at `where`."""
    if isinstance(v, (list, tuple)):
        if not v:
            raise InvalidInput(where, "an empty list sweeps over nothing")
        vals = tuple(_scalar(x, f"{where}[{i}]", allow_bool=allow_bool) for i, x in enumerate(v))
    else:
        vals = (_scalar(v, where, allow_bool=allow_bool),)
    if len(set(vals)) != len(vals):
        raise InvalidInput(where, f"repeated values in {list(vals)}")
    return vals


def grid_seeds(seeds: Any, max_count: int, max_seed: int, what: str) -> tuple[int, ...]:
    """A grid file's `seeds`: an integer n in [1, max_count] means 0..n-1, else a non-empty list
    of distinct integers in [0, max_seed] (`what` names that range in the error)."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if not 1 <= seeds <= max_count:
            raise InvalidInput("seeds", f"an integer n means seeds 0..n-1 and must be in "
                               f"[1, {max_count}], got {seeds}"[:160])
        seeds = tuple(range(seeds))
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise InvalidInput("seeds", "expected a non-empty list of integers or an integer count")
    for i, v in enumerate(seeds):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= max_seed:
            raise InvalidInput(f"seeds[{i}]", f"expected an integer in {what}, got {v!r}"[:160])
    if len(set(seeds)) != len(seeds):
        raise InvalidInput("seeds", "a seed is listed twice")
    return tuple(seeds)


def grid_product(spec: Mapping[str, tuple]) -> list[dict]:
    """The product of a table of value lists, one dict per combination (grid order)."""
    names = list(spec)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(spec[k] for k in names))]


class GridPoint(NamedTuple):
    """One distinct point of a grid's knobs × sweeps (study and market grids), with where each
    value is set, so that a point a config refuses is named as the grid file spells it."""

    index: int | None
    """The sweep's index; None for a `knobs` value every sweep overrides (checked alone)."""
    sweep: dict
    """That sweep's table (the knob alone for an overridden one)."""
    spec: dict
    """The value lists the point was drawn from: the knobs with the sweep over them."""
    values: dict
    """The point: knob name → value."""

    def at(self, field: str | None = None) -> str:
        """', at the point k=v, ...' for the swept values (not only `field`'s), else ''."""
        shown = {k: v for k, v in self.values.items()
                 if len(self.spec[k]) > 1 or (self.index is not None and k in self.sweep)}
        if len(shown) > (field in shown):
            return ", at the point " + ", ".join(f"{k}={v}" for k, v in shown.items())
        return ""

    def error(self, e: InvalidInput) -> InvalidInput:
        """`e`, a config's refusal of this point, named `knobs.NAME` or `sweep[i].NAME`."""
        where = f"sweep[{self.index}]" if self.index is not None and e.field in self.sweep else "knobs"
        message = e.message if e.field in self.spec else f"{e.message} ({e.field}'s default)"
        return InvalidInput(f"{where}.{e.field}", (message + self.at(e.field))[:200])


def grid_points(knobs: dict[str, tuple], sweeps: tuple[dict[str, tuple], ...]) -> Iterator[GridPoint]:
    """Each distinct point a grid runs, once (sweeps may share points), and each `knobs` value
    every sweep overrides alone: what a grid checks whole when it is built."""
    shadowed = sorted(set(knobs).intersection(*sweeps)) if sweeps else []  # sorted: the first error
    # named is the same in every process (a set's order follows PYTHONHASHSEED)
    spaces = [(None, {k: knobs[k]}) for k in shadowed] + list(enumerate(sweeps or ({},)))
    seen: set[tuple] = set()
    for i, sweep in spaces:
        spec = {**knobs, **sweep} if i is not None else sweep
        for values in grid_product(spec):
            if len(spaces) > 1:
                key = tuple(sorted(values.items()))
                if key in seen:
                    continue
                seen.add(key)
            yield GridPoint(i, sweep, spec, values)


def read_parquet(path: str | os.PathLike):
    """A Parquet table (a study's results) as a DataFrame; missing or unreadable is InvalidInput."""
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise InvalidInput(str(path), "results file not found") from None
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError, its IO errors OSErrors
        raise InvalidInput(str(path), f"not a readable Parquet file: {e}") from None


def umask() -> int:
    """The process's file-mode creation mask, read without changing it where the OS allows
    (Linux: /proc/self/status), since setting it to read it races with other threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def require_instance(obj: Any, field: str = "inst") -> Instance:
    """`obj` if it is an Instance, else InvalidInput naming the argument (the API's first check)."""
    if not isinstance(obj, Instance):
        raise InvalidInput(field, "expected an optcache Instance (load_instance, parse_instance or "
                           f"generate make one), got {type(obj).__name__}")
    return obj


STATION_DATA_RANGES: dict[str, str] = {
    "lam": "switching_cost", "kappa0": "kappa_offset", "s": "models[].memory_gb",
    "e": "models[].flops_per_token", "w": "models[].context_tokens", "k": "services[].thought_tokens",
    "d": "services[].input_mb", "delta": "pairs[].vanishing", "alpha": "pairs[].zero_shot_accuracy",
    "beta": "pairs[].cot_beta", "l0": "pairs[].cloud_cost", "access": "stations[].access_cost[]",
    "G": "stations[].gpu_memory_gb", "E": "stations[].compute_budget_flops",
    "f": "stations[].compute_flops_per_s", "rC": "stations[].backhaul_mb_per_s",
    "R": "stations[].requests[][]"}
"""Each StationData field and the instance field (RANGES) whose range it must meet."""


def require_station_data(obj: Any, field: str = "data") -> StationData:
    """`obj` if it is a StationData whose every field has its shape and the range of the instance
    field it comes from (RANGES), else InvalidInput naming `field.NAME`: arrays changed by hand
    (`dataclasses.replace`) meet the same contract as an instance file. `Instance.station_data(n)`
    makes valid ones."""
    if not isinstance(obj, StationData):
        raise InvalidInput(field, "expected an optcache StationData (Instance.station_data(n) makes "
                           f"one), got {type(obj).__name__}")
    for name in ("T", "P"):
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidInput(f"{field}.{name}", f"must be a positive integer, got {show_value(v)}")
    for name, key in STATION_DATA_RANGES.items():
        rng, where = RANGES[key], f"{field}.{name}"
        v = getattr(obj, name)
        if name in ("lam", "kappa0", "G", "E", "f", "rC"):
            check_value(v, where, rng)
            continue
        shape = (obj.T, obj.P) if name == "R" else (obj.P,)
        if not isinstance(v, np.ndarray) or v.dtype.kind not in "iuf" or v.shape != shape:
            got = f"shape {v.shape} of {v.dtype}" if isinstance(v, np.ndarray) else type(v).__name__
            raise InvalidInput(where, f"expected a numeric array of shape {shape}, got {got}")
        bad = ~np.isfinite(v) | (v < rng.lo) | (v > rng.hi)
        if rng.hi_open:
            bad |= v == rng.hi
        if rng.integer:
            bad |= v != np.round(v)
        if bad.any():
            i = tuple(int(c[0]) for c in np.nonzero(bad))
            raise InvalidInput(where, f"{show_value(v[i].item())} at {list(i)} is not in {rng.text()}")
    return obj


def _existing(path: Path) -> Path:
    """The nearest of `path` and its parents that exists (what a new file or folder goes under)."""
    return next((f for f in (path, *path.parents) if f.exists()), Path("."))


def make_folder(folder: str | os.PathLike, field: str) -> Path:
    """Create `folder` (parents included) for an output, or one InvalidInput naming `field`: a
    file in its way, no permission, a read-only file system."""
    folder = Path(folder)
    blocking = _existing(folder)
    if not blocking.is_dir():
        raise InvalidInput(field, f"cannot write: {blocking} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidInput(field, f"cannot create the folder {folder}: {e.strerror or e}") from None
    return folder


def check_writable(path: str | os.PathLike) -> None:
    """Refuse an output path that cannot be written (a directory, a device or pipe, below a
    regular file, a folder without write permission) before any work is done: minutes of work
    would otherwise end in a failed write."""
    path = require_path(path)
    if path.is_dir():
        raise InvalidInput(str(path), "cannot write: it is a directory")
    if path.exists() and not path.is_file():  # the rename would replace the device, pipe or socket
        raise InvalidInput(str(path), "cannot write: it is not a regular file (a device, pipe or "
                           "socket); give a file path, or leave --out out to print to stdout")
    folder = _existing(path.parent)
    if not folder.is_dir():
        raise InvalidInput(str(path), f"cannot write: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInput(str(path), f"cannot write: no permission to write in {folder}")


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` to write to; on success it gets the mode a plain `open`
    would give (0o666 less the umask, not mkstemp's 0o600) and is renamed onto `path`, so
    nothing is ever half-written. On failure the temporary file is removed."""
    path = require_path(path)
    check_writable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    except OSError as e:  # a parent that is a file, no permission, a read-only file system
        raise InvalidInput(str(path), f"cannot write: {e.strerror or e}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        try:
            os.replace(tmp, path)
        except OSError as e:  # e.g. a directory made at `path` meanwhile
            raise InvalidInput(str(path), f"cannot write: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, text: str | bytes) -> None:
    """Write to a temporary file in the same folder, then rename: nothing is half-written.
    The file gets the user's umask like any other file they create."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode() if isinstance(text, str) else text)


def load_instance(path: str | os.PathLike, limits: Limits | None = None) -> Instance:
    """Read and validate an instance file; `limits` (default `DEFAULT_LIMITS`) bound its size."""
    return parse_instance(read_json(path, "instance", limits), limits)


def save_instance(inst: Instance, path: str | os.PathLike) -> None:
    """Write `inst` as `optcache/instance@1` JSON, atomically."""
    if not isinstance(inst, Instance):
        raise InvalidInput("instance", f"expected an optcache Instance, got {type(inst).__name__}")
    write_atomic(path, json.dumps(inst.to_dict(), indent=1, allow_nan=False, default=json_plain))


# --------------------------------------------------------------------------- numpy view
@dataclass(frozen=True)
class StationData:
    """One station's instance as numpy arrays over pairs p (and slots t for R)."""

    T: int  #: slots
    P: int  #: pairs
    lam: float  #: switching cost λ
    kappa0: float  #: κ_0 offset of the accuracy cost
    s: np.ndarray  #: memory of the pair's model s_m (GB)
    e: np.ndarray  #: FLOP per token e_m of the pair's model
    w: np.ndarray  #: context window w_m (tokens)
    k: np.ndarray  #: thought length k_i (tokens per request)
    d: np.ndarray  #: input size d_i (MB)
    delta: np.ndarray  #: vanishing factor Δ_p (tokens per slot)
    alpha: np.ndarray  #: zero-shot accuracy α_p
    beta: np.ndarray  #: CoT attenuation β_p
    l0: np.ndarray  #: cloud price per request l_{0,p}
    access: np.ndarray  #: access cost per request l_{n,i(p)}
    G: float  #: GPU memory (GB)
    E: float  #: compute budget (FLOP per slot)
    f: float  #: compute rate (FLOP/s)
    rC: float  #: backhaul rate (MB/s)
    R: np.ndarray  #: requests, int64 (T, P)

    @classmethod
    def from_instance(cls, inst: Instance, n: int) -> StationData:
        """Station `n` of `inst`, every per-pair quantity read through the pair (§1)."""
        st = inst.stations[n]
        svc = np.array([p.service for p in inst.pairs])
        mod = np.array([p.model for p in inst.pairs])
        arr = np.asarray
        return cls(
            T=inst.slots, P=len(inst.pairs), lam=float(inst.switching_cost),
            kappa0=float(inst.kappa_offset),
            s=arr([inst.models[m].memory_gb for m in mod], float),
            e=arr([inst.models[m].flops_per_token for m in mod], float),
            w=arr([inst.models[m].context_tokens for m in mod], float),
            k=arr([inst.services[i].thought_tokens for i in svc], float),
            d=arr([inst.services[i].input_mb for i in svc], float),
            delta=arr([p.vanishing for p in inst.pairs], float),
            alpha=arr([p.zero_shot_accuracy for p in inst.pairs], float),
            beta=arr([p.cot_beta for p in inst.pairs], float),
            l0=arr([p.cloud_cost for p in inst.pairs], float),
            access=arr([st.access_cost[i] for i in svc], float),
            G=float(st.gpu_memory_gb), E=float(st.compute_budget_flops),
            f=float(st.compute_flops_per_s), rC=float(st.backhaul_mb_per_s),
            R=np.asarray(st.requests, dtype=np.int64),
        )

    @property
    def flops_per_request(self) -> np.ndarray:
        """e_m · k_i: compute-budget use of one edge-served request (5)."""
        return self.e * self.k

    @property
    def comp_unit(self) -> np.ndarray:
        """Computing cost (23) of one edge-served request: k_i e_m / f_n."""
        return self.k * self.e / self.f

    @property
    def offload_unit(self) -> np.ndarray:
        """Cost of one request sent to the cloud: backhaul d_i/r^C (22) plus cloud price (26)."""
        return self.d / self.rC + self.l0

    @property
    def acc_coef(self) -> np.ndarray:
        """(1 - α)/ln(1/β): the accuracy unit cost (24) is acc_coef / (κ + κ_0)."""
        return (1.0 - self.alpha) / np.log(1.0 / self.beta)

    def pairs(self, idx) -> StationData:
        """The station with only the pairs `idx` (in that order; an index may repeat), e.g. one
        pair alone, or copies of a pair to evaluate it from many start states at once."""
        from dataclasses import replace

        idx = np.asarray(idx, dtype=np.int64)
        per_pair = {k: getattr(self, k)[idx] for k in ("s", "e", "w", "k", "d", "delta", "alpha",
                                                       "beta", "l0", "access")}
        return replace(self, P=len(idx), R=self.R[:, idx], **per_pair)

    def window(self, t0: int, t1: int, R: np.ndarray | None = None) -> StationData:
        """The same station over slots t0..t1-1 (rolling horizon), optionally with other requests."""
        from dataclasses import replace

        RR = self.R[t0:t1] if R is None else np.asarray(R, dtype=np.int64)
        return replace(self, T=int(RR.shape[0]), R=RR)
