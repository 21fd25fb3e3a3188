"""Typed, validated instances and the JSON interchange format `optcache/instance@1` (FORMULATION §10).

Instance objects live at the edge (files, the CLI, the generator); solvers and the evaluator work
on `StationData`, plain numpy arrays for one station.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from optcache.errors import InvalidInput

FORMAT = "optcache/instance@1"
MAX_REQUESTS = 2**53
"""Largest request count accepted: beyond it counts are not exact in float64 (and overflow int64)."""


# --------------------------------------------------------------------------- parsing helpers
def _obj(d: Any, path: str) -> dict:
    if not isinstance(d, dict):
        raise InvalidInput(path, f"expected an object, got {type(d).__name__}")
    return d


def _list(d: Any, path: str, length: int | None = None) -> list:
    if not isinstance(d, list):
        raise InvalidInput(path, f"expected a list, got {type(d).__name__}")
    if length is not None and len(d) != length:
        raise InvalidInput(path, f"expected {length} entries, got {len(d)}")
    return d


def _num(d: dict, key: str, path: str, *, lo: float | None = 0.0, lo_open: bool = False,
         hi: float | None = None, hi_open: bool = False, integer: bool = False) -> Any:
    """Read a finite number from d[key], checking its range; errors name the JSON path."""
    where = f"{path}.{key}" if path else key
    if key not in d:
        raise InvalidInput(where, "missing")
    return _check_num(d[key], where, lo=lo, lo_open=lo_open, hi=hi, hi_open=hi_open, integer=integer)


def _check_num(v: Any, where: str, *, lo: float | None = 0.0, lo_open: bool = False,
               hi: float | None = None, hi_open: bool = False, integer: bool = False) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise InvalidInput(where, f"expected a number, got {type(v).__name__}")
    try:
        finite = math.isfinite(float(v))
    except OverflowError:  # a JSON integer beyond float range
        finite = False
    if not finite:
        raise InvalidInput(where, f"must be finite, got {str(v)[:20]}")
    if integer:
        if float(v) != int(v):
            raise InvalidInput(where, f"must be an integer, got {v}")
        v = int(v)
    else:
        v = float(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise InvalidInput(where, f"must be {'>' if lo_open else '>='} {lo:g}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise InvalidInput(where, f"must be {'<' if hi_open else '<='} {hi:g}, got {v}")
    return v


def _str(d: dict, key: str, path: str) -> str:
    v = d.get(key, "")
    if not isinstance(v, str):
        raise InvalidInput(f"{path}.{key}", f"expected a string, got {type(v).__name__}")
    return v


# --------------------------------------------------------------------------- the objects
@dataclass(frozen=True)
class Model:
    """A reasoning LLM: running size s_m, compute e_m per token, context window w_m."""

    name: str
    memory_gb: float
    flops_per_token: float
    context_tokens: int


@dataclass(frozen=True)
class Service:
    """An LLM agent service: input size d_i and thought length k_i."""

    name: str
    input_mb: float
    thought_tokens: int


@dataclass(frozen=True)
class Pair:
    """Service i on model m: the unit the cache holds (FORMULATION §1)."""

    service: int
    model: int
    zero_shot_accuracy: float
    cot_beta: float
    vanishing: float
    cloud_cost: float


@dataclass(frozen=True, eq=False)
class Station:
    """A ground station: GPU memory G_n, compute budget E_n per slot, rates, access costs, requests."""

    name: str
    gpu_memory_gb: float
    compute_budget_flops: float
    compute_flops_per_s: float
    backhaul_mb_per_s: float
    access_cost: tuple[float, ...]
    requests: np.ndarray = field(repr=False)  # int64, shape (slots, pairs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Station) and _station_dict(self) == _station_dict(other)


@dataclass(frozen=True, eq=False)
class Instance:
    """A whole instance: global parameters, models, services, pairs and stations."""

    slots: int
    switching_cost: float
    kappa_offset: float
    models: tuple[Model, ...]
    services: tuple[Service, ...]
    pairs: tuple[Pair, ...]
    stations: tuple[Station, ...]
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        validate(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instance) and self.to_dict() == other.to_dict()

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def n_stations(self) -> int:
        return len(self.stations)

    def to_dict(self) -> dict:
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
        return parse_instance(d)

    def station_data(self, n: int) -> StationData:
        return StationData.from_instance(self, n)

    def with_requests(self, n: int, requests: np.ndarray) -> Instance:
        """A copy whose station n has other requests (forecasts, windows)."""
        st = list(self.stations)
        s = st[n]
        st[n] = Station(s.name, s.gpu_memory_gb, s.compute_budget_flops, s.compute_flops_per_s,
                        s.backhaul_mb_per_s, s.access_cost, np.asarray(requests, dtype=np.int64))
        T = int(np.asarray(requests).shape[0])
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


def validate(inst: Instance) -> None:
    """Check ranges and shapes of an instance; raise InvalidInput naming the first bad field."""
    _check_num(inst.slots, "slots", lo=1, integer=True)
    _check_num(inst.switching_cost, "switching_cost")
    _check_num(inst.kappa_offset, "kappa_offset", lo_open=True)
    if not inst.models:
        raise InvalidInput("models", "at least one model is required")
    if not inst.services:
        raise InvalidInput("services", "at least one service is required")
    if not inst.pairs:
        raise InvalidInput("pairs", "at least one pair is required")
    if not inst.stations:
        raise InvalidInput("stations", "at least one station is required")
    for j, m in enumerate(inst.models):
        _check_num(m.memory_gb, f"models[{j}].memory_gb", lo_open=True)
        _check_num(m.flops_per_token, f"models[{j}].flops_per_token")
        _check_num(m.context_tokens, f"models[{j}].context_tokens", lo=1, integer=True)
    for j, s in enumerate(inst.services):
        _check_num(s.input_mb, f"services[{j}].input_mb")
        _check_num(s.thought_tokens, f"services[{j}].thought_tokens", lo=0, integer=True)
    seen = set()
    for j, p in enumerate(inst.pairs):
        w = f"pairs[{j}]"
        _check_num(p.service, f"{w}.service", lo=0, hi=len(inst.services) - 1, integer=True)
        _check_num(p.model, f"{w}.model", lo=0, hi=len(inst.models) - 1, integer=True)
        if (p.service, p.model) in seen:
            raise InvalidInput(w, f"duplicate pair (service {p.service}, model {p.model})")
        seen.add((p.service, p.model))
        _check_num(p.zero_shot_accuracy, f"{w}.zero_shot_accuracy", hi=1.0)
        _check_num(p.cot_beta, f"{w}.cot_beta", lo_open=True, hi=1.0, hi_open=True)
        _check_num(p.vanishing, f"{w}.vanishing")
        _check_num(p.cloud_cost, f"{w}.cloud_cost")
    P, T = len(inst.pairs), inst.slots
    for n, s in enumerate(inst.stations):
        w = f"stations[{n}]"
        _check_num(s.gpu_memory_gb, f"{w}.gpu_memory_gb")
        _check_num(s.compute_budget_flops, f"{w}.compute_budget_flops")
        _check_num(s.compute_flops_per_s, f"{w}.compute_flops_per_s", lo_open=True)
        _check_num(s.backhaul_mb_per_s, f"{w}.backhaul_mb_per_s", lo_open=True)
        if len(s.access_cost) != len(inst.services):
            raise InvalidInput(f"{w}.access_cost",
                               f"expected {len(inst.services)} entries, got {len(s.access_cost)}")
        for i, c in enumerate(s.access_cost):
            _check_num(c, f"{w}.access_cost[{i}]")
        R = np.asarray(s.requests)
        if R.shape != (T, P):
            raise InvalidInput(f"{w}.requests", f"expected shape ({T}, {P}) (slots, pairs), got {R.shape}")
        if R.size and R.min() < 0:
            t, p = np.argwhere(R < 0)[0]
            raise InvalidInput(f"{w}.requests[{t}][{p}]", f"must be >= 0, got {R[t, p]}")


def parse_instance(d: Any) -> Instance:
    """Parse and validate the JSON interchange object of FORMULATION §10."""
    d = _obj(d, "instance")
    fmt = d.get("format")
    if fmt != FORMAT:
        raise InvalidInput("format", f"expected {FORMAT!r}, got {fmt!r}")
    T = _num(d, "slots", "", lo=1, integer=True)
    models = []
    for j, m in enumerate(_list(d.get("models"), "models")):
        w = f"models[{j}]"
        m = _obj(m, w)
        models.append(Model(_str(m, "name", w), _num(m, "memory_gb", w, lo_open=True),
                            _num(m, "flops_per_token", w), _num(m, "context_tokens", w, lo=1, integer=True)))
    services = []
    for j, s in enumerate(_list(d.get("services"), "services")):
        w = f"services[{j}]"
        s = _obj(s, w)
        services.append(Service(_str(s, "name", w), _num(s, "input_mb", w),
                                _num(s, "thought_tokens", w, integer=True)))
    pairs = []
    for j, p in enumerate(_list(d.get("pairs"), "pairs")):
        w = f"pairs[{j}]"
        p = _obj(p, w)
        pairs.append(Pair(_num(p, "service", w, integer=True, hi=max(len(services) - 1, 0)),
                          _num(p, "model", w, integer=True, hi=max(len(models) - 1, 0)),
                          _num(p, "zero_shot_accuracy", w, hi=1.0),
                          _num(p, "cot_beta", w, lo_open=True, hi=1.0, hi_open=True),
                          _num(p, "vanishing", w), _num(p, "cloud_cost", w)))
    stations = []
    for n, s in enumerate(_list(d.get("stations"), "stations")):
        w = f"stations[{n}]"
        s = _obj(s, w)
        acc = _list(s.get("access_cost"), f"{w}.access_cost", len(services))
        access = tuple(_check_num(c, f"{w}.access_cost[{i}]") for i, c in enumerate(acc))
        rows = _list(s.get("requests"), f"{w}.requests", T)
        R = np.zeros((T, len(pairs)), dtype=np.int64)
        for t, row in enumerate(rows):
            row = _list(row, f"{w}.requests[{t}]", len(pairs))
            for p, v in enumerate(row):
                R[t, p] = _check_num(v, f"{w}.requests[{t}][{p}]", integer=True, hi=MAX_REQUESTS)
        stations.append(Station(_str(s, "name", w), _num(s, "gpu_memory_gb", w),
                                _num(s, "compute_budget_flops", w),
                                _num(s, "compute_flops_per_s", w, lo_open=True),
                                _num(s, "backhaul_mb_per_s", w, lo_open=True), access, R))
    meta = d.get("meta", {})
    if not isinstance(meta, dict):
        raise InvalidInput("meta", "expected an object")
    return Instance(T, _num(d, "switching_cost", ""), _num(d, "kappa_offset", "", lo_open=True),
                    tuple(models), tuple(services), tuple(pairs), tuple(stations), meta)


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Read a JSON file; a missing or malformed file is InvalidInput naming the file."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise InvalidInput(str(path), f"{what} file not found") from None
    except json.JSONDecodeError as e:
        raise InvalidInput(str(path), f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(str(path), f"cannot read {what}: {e}") from None


def write_atomic(path: str | os.PathLike, text: str | bytes) -> None:
    """Write to a temporary file in the same folder, then rename: nothing is half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_instance(path: str | os.PathLike) -> Instance:
    return parse_instance(read_json(path, "instance"))


def save_instance(inst: Instance, path: str | os.PathLike) -> None:
    write_atomic(path, json.dumps(inst.to_dict(), indent=1))


# --------------------------------------------------------------------------- numpy view
@dataclass(frozen=True)
class StationData:
    """One station's instance as numpy arrays over pairs p (and slots t for R)."""

    T: int
    P: int
    lam: float  # switching cost λ
    kappa0: float  # κ_0 offset of the accuracy cost
    s: np.ndarray  # memory of the pair's model s_m (GB)
    e: np.ndarray  # FLOP per token e_m of the pair's model
    w: np.ndarray  # context window w_m (tokens)
    k: np.ndarray  # thought length k_i (tokens per request)
    d: np.ndarray  # input size d_i (MB)
    delta: np.ndarray  # vanishing factor Δ_p (tokens per slot)
    alpha: np.ndarray  # zero-shot accuracy α_p
    beta: np.ndarray  # CoT attenuation β_p
    l0: np.ndarray  # cloud price per request l_{0,p}
    access: np.ndarray  # access cost per request l_{n,i(p)}
    G: float  # GPU memory (GB)
    E: float  # compute budget (FLOP per slot)
    f: float  # compute rate (FLOP/s)
    rC: float  # backhaul rate (MB/s)
    R: np.ndarray  # requests, int64 (T, P)

    @classmethod
    def from_instance(cls, inst: Instance, n: int) -> StationData:
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

    def window(self, t0: int, t1: int, R: np.ndarray | None = None) -> StationData:
        """The same station over slots t0..t1-1 (rolling horizon), optionally with other requests."""
        from dataclasses import replace

        RR = self.R[t0:t1] if R is None else np.asarray(R, dtype=np.int64)
        return replace(self, T=int(RR.shape[0]), R=RR)
