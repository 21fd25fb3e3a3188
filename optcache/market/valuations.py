"""Auction rounds built from caching simulations (docs/formulation.md §11): v_n = c · m_n, v_0 = c · m_0.

One *episode* is one scenario instance (`optcache.generate`, one seed) whose stations each run a
caching policy (`laot` by default). Every (slot t, service i) with requests is one *round*:

- `c` (common value) = the resource cost of the opportunity by §5: all of the service's requests
  in the slot, over every station and pair of the service, sent to the cloud, i.e.
  `c = Σ_n Σ_{p of i} R_n[t][p] · (d_i / r^C_n + l_{0,p})` (backhaul (22) + cloud (26)).
  Rounds without requests are skipped.
- `m_n` (private match) = `(κ_n + κ_0) · ln(1/β)` of station n's pair for the service, with `κ_n`
  the age of thought *entering* slot t (after slot t-1, from `dynamics.trajectory` on the policy's
  schedule): bids are sealed before the slot is served. With several pairs per service, the best.
- `m_0` = `CLOUD_MATCH` (below); the satellite's value `v_0 = c · m_0`.
- `eligible[t]`: the satellite may win only in slots inside its coverage window (30b).
- `x0`: the satellite's contract price for the episode, fixed, from *previous* episodes only
  (`contract_price`); the first `warmup` episodes of a dataset are history and are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import ClassVar

import numpy as np

from optcache import coverage
from optcache.channel import check_rng
from optcache.dynamics import trajectory
from optcache.errors import InvalidInput, finite
from optcache.scenario import ScenarioConfig, generate

CLOUD_MATCH = 400.0
"""m_0, the cloud's match reached through the satellite, in the units of `(κ + κ_0) · ln(1/β)`.

Calibrated, not given by the paper: close to the median top ground match `max_n m_n` under `laot`
on the default scenario (≈ 430 over all rounds, ≈ 480 in coverage; episodes 1–8 of seed 0), so
the cloud's model is as good a match as the typical best station and, in coverage, the satellite is
the first-best bidder in 38–52 % of the rounds (seeds 0–4, benchmarks/results/claims/
market_default.parquet): who should serve is then a real question. In AoT terms it is
a pair holding ≈ 1360 tokens at the mean ln(1/β) ≈ 0.294 of β ~ U[0.6, 0.9].
a match of 1 would beat only uncached pairs (`κ_0 · ln(1/β) ≤ 0.51`), leaving the
satellite first-best only when no station holds the service's pair.
"""

MARKET_SLOT_SECONDS = 10.0
"""Length of one market slot (one batch of requests), seconds. A pass of the default satellite
(550 km, ε_min = 10°: `coverage.coverage_time` ≈ 476 s) then covers 47 whole slots, under half of
a 100-slot episode; the orbital period (≈ 5730 s, 573 slots) exceeds the episode, so an episode
sees at most one pass."""


MATCHES = ("aot", "pareto")
"""Shapes of the private matches m_n: 'aot' (the stations' simulated ages of thought, above) or
'pareto' (i.i.d. heavy-tailed draws as in Arnosti, Beck and Milgrom; docs/claims.md)."""

PARETO_MEDIAN = CLOUD_MATCH
"""Median of a 'pareto' match: the default m_0, so that m_0 sits where the AoT matches' median does."""

CONTRACTS = ("paper", "mean")
"""Rules for the satellite's contract price x_0 from history: 'paper' (the profit maximiser of
section V-A, `contract_price`) or 'mean' (its mean historical value E[v_0]: a bidder without the
paper's profit rule bidding what the opportunity is worth on average)."""

MAX_BIDDERS = 1000
"""Most ground stations in a market: the DQN's input layer grows with them (Args bounds the rest)."""


SCENARIO_KNOBS = ("slots", "services", "gpus", "users", "stations", "vanishing")
"""The caching scenario's knobs that a market configuration always records (its `to_dict`); the
scenario's other fields keep `ScenarioConfig`'s defaults unless set (then they are recorded too)."""


@dataclass(frozen=True, init=False)
class MarketConfig:
    """One market scenario: a caching scenario (`ScenarioConfig`, its knobs declared there once),
    the caching policy, m_0, the orbit, the match shape and the contract-price rule.

    Built flat, like the checkpoints store it: `MarketConfig(slots=40, cloud_match=800.0)` sets
    the scenario's `slots` and the market's `cloud_match`; `MarketConfig(scenario=cfg, ...)` starts
    from a whole `ScenarioConfig`. The scenario's own `slot_seconds` (the compute budget's slot) is
    not reachable flat: `slot_seconds` here is the market's slot. Episodes draw their seeds
    themselves, so the scenario's `seed` is not used."""

    scenario: ScenarioConfig
    """The caching scenario every episode is generated from (with the episode's seed)."""
    policy: str = "laot"
    """Caching policy run by every station (registry name)."""
    cloud_match: float = CLOUD_MATCH
    """m_0: the satellite's (cloud's) match."""
    MIN_SLOT_SECONDS: ClassVar[float] = 1e-6
    """Shortest market slot, s: the coverage pass and the orbital period are counted in slots."""
    slot_seconds: float = MARKET_SLOT_SECONDS
    """Length of a market slot in seconds (coverage window in slots), in [`MIN_SLOT_SECONDS` = 1e-6, 1e6]:
    shorter slots would make the orbital period overflow an integer count of slots."""
    altitude_m: float = coverage.ALTITUDE_M
    """Satellite altitude l (m)."""
    min_elevation_deg: float = coverage.MIN_ELEVATION_DEG
    """Minimum elevation ε_min (degrees)."""
    match: str = "aot"
    """Shape of the ground matches, one of `MATCHES`: 'aot' or 'pareto' (heavy-tailed)."""
    pareto_shape: float = 2.0
    """Tail index α of the 'pareto' matches (P[m > y] ∝ y^-α; smaller is heavier), in [1.05, 20]."""
    contract: str = "paper"
    """The satellite's contract-price rule, one of `CONTRACTS`."""

    def __init__(self, scenario: ScenarioConfig | None = None, **kw) -> None:
        own = [f for f in fields(self) if f.name != "scenario"]
        taken = {f.name for f in own} | {"seed"}
        knobs = {k: kw.pop(k) for k in ScenarioConfig.field_names() if k not in taken and k in kw}
        if scenario is None:
            scenario = ScenarioConfig()
        if not isinstance(scenario, ScenarioConfig):
            raise InvalidInput("scenario", f"expected a ScenarioConfig, got {type(scenario).__name__}")
        bad = sorted(set(kw) - {f.name for f in own})
        if bad:
            raise InvalidInput(bad[0], "unknown market config field")
        stations = knobs.get("stations", scenario.stations)
        if not isinstance(stations, bool) and isinstance(stations, (int, np.integer)) \
                and not 1 <= stations <= MAX_BIDDERS:  # the market's range, not the scenario's 1..1e5
            raise InvalidInput("stations", f"must be an integer in [1, {MAX_BIDDERS}], got {stations!r}")
        object.__setattr__(self, "scenario", replace(scenario, **knobs))  # validated there
        for f in own:
            object.__setattr__(self, f.name, kw.get(f.name, f.default))
        self.__post_init__()

    @property
    def slots(self) -> int:
        """Slots per episode (rounds are slot × service): the scenario's `slots`."""
        return self.scenario.slots

    @property
    def services(self) -> int:
        """Services (one pair each in generated scenarios): the scenario's `services`."""
        return self.scenario.services

    @property
    def gpus(self) -> int:
        """GPUs per ground station: the scenario's `gpus`."""
        return self.scenario.gpus

    @property
    def users(self) -> int:
        """Users per station (requests ~ Poisson(users / 10) per station, pair, slot)."""
        return self.scenario.users

    @property
    def stations(self) -> int:
        """Ground bidders N: the scenario's `stations`."""
        return self.scenario.stations

    @property
    def vanishing(self) -> float:
        """Context vanishing factor Δ: the scenario's `vanishing`."""
        return self.scenario.vanishing

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        """The fields of `to_dict` (and of a market grid): SCENARIO_KNOBS, then the market's own."""
        return (*SCENARIO_KNOBS, *(f.name for f in fields(cls) if f.name != "scenario"))

    @classmethod
    def other_scenario_fields(cls) -> tuple[str, ...]:
        """The scenario's other fields, settable flat and recorded by `to_dict` when not default."""
        taken = set(cls.knob_names()) | {"seed"}
        return tuple(k for k in ScenarioConfig.field_names() if k not in taken)

    def __post_init__(self) -> None:
        from optcache.instance import DEFAULT_LIMITS

        DEFAULT_LIMITS.check_cells(self.slots, self.services, self.stations, what="services",
                                   where="slots")
        floats = {"cloud_match": (0.0, 1e12), "slot_seconds": (self.MIN_SLOT_SECONDS, 1e6), "altitude_m": (0.0, 1e9)}
        for name, (lo, hi) in floats.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not finite(v) or not (0 < v <= hi) or v < lo:
                low = "> 0" if lo == 0 else f">= {lo:g}"
                raise InvalidInput(name, f"must be a finite number {low} and <= {hi:g}, got {v!r}"[:120])
        v = self.min_elevation_deg
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not 0 <= v < 90:
            raise InvalidInput("min_elevation_deg", f"must be in [0, 90), got {v!r}"[:120])
        if self.match not in MATCHES:
            raise InvalidInput("match", f"must be one of {', '.join(MATCHES)}, got {self.match!r}"[:120])
        if self.contract not in CONTRACTS:
            raise InvalidInput("contract", f"must be one of {', '.join(CONTRACTS)}, got {self.contract!r}"[:120])
        v = self.pareto_shape
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not 1.05 <= v <= 20:
            raise InvalidInput("pareto_shape", f"must be a number in [1.05, 20], got {v!r}"[:120])
        if not isinstance(self.policy, str):
            raise InvalidInput("policy", "must be a registered caching method name")
        for name in ("cloud_match", "slot_seconds", "altitude_m", "min_elevation_deg", "pareto_shape"):
            v = getattr(self, name)
            if isinstance(v, np.generic):  # a numpy number is not JSON (checkpoints, cell ids)
                object.__setattr__(self, name, v.item())

    def to_dict(self) -> dict:
        """The configuration as a flat dict (checkpoints, provenance, study columns): the scenario's
        SCENARIO_KNOBS, the market's fields, then any other scenario field set away from its default."""
        default = ScenarioConfig()
        out = {k: getattr(self.scenario, k) for k in SCENARIO_KNOBS}
        out.update({f.name: getattr(self, f.name) for f in fields(self) if f.name != "scenario"})
        for k in self.other_scenario_fields():
            if getattr(self.scenario, k) != getattr(default, k):
                out[k] = getattr(self.scenario, k)
        return out

    @classmethod
    def from_dict(cls, d: dict, *, complete: bool = False) -> MarketConfig:
        """From `to_dict`'s layout; unknown keys are InvalidInput naming them, and so is a missing
        `knob_names` field if `complete` (a checkpoint's market: a default would change its episodes)."""
        if not isinstance(d, dict):
            raise InvalidInput("market", f"expected a table of market settings, got {type(d).__name__}")
        bad = sorted(set(d) - set(cls.knob_names()) - set(cls.other_scenario_fields()))
        if bad:
            raise InvalidInput(bad[0], "unknown market config field")
        missing = [k for k in cls.knob_names() if k not in d] if complete else []
        if missing:
            raise InvalidInput(missing[0], "missing")
        return cls(**d)


@dataclass(frozen=True)
class Rounds:
    """Auction rounds, one entry per (episode, slot, service) with requests; arrays over rounds."""

    episode: np.ndarray  #: int (R,): episode index within the dataset
    slot: np.ndarray  #: int (R,): 0-based slot
    service: np.ndarray  #: int (R,)
    requests: np.ndarray  #: int (R,): the opportunity's requests over all stations
    c: np.ndarray  #: (R,) common value
    m: np.ndarray  #: (R, N) private matches of the ground stations
    m0: float  #: the satellite's match
    eligible: np.ndarray  #: bool (R,): satellite in coverage
    log_inv_beta: np.ndarray  #: (R,) ln(1/β) of the service (public)
    context_tokens: np.ndarray  #: (R,) context window w_m of the service's model (public)
    x0: np.ndarray  #: (R,) satellite's contract price of the round's episode (nan: no history)
    x2_mean: np.ndarray  #: (R,) historical mean second ground bid E[x_(2)] (nan: no history)
    scored: np.ndarray  #: bool (R,): False for warm-up (history-only) episodes
    n_slots: int  #: slots per episode T

    @property
    def n(self) -> int:
        """Number of rounds R."""
        return int(self.c.shape[0])

    @property
    def N(self) -> int:
        """Number of ground stations N."""
        return int(self.m.shape[1])

    @property
    def v(self) -> np.ndarray:
        """Ground values v_n = c · m_n (R, N); truthful ground bids."""
        return self.c[:, None] * self.m

    @property
    def v0(self) -> np.ndarray:
        """Satellite values v_0 = c · m_0 (R,)."""
        return self.c * self.m0

    def subset(self, mask: np.ndarray) -> Rounds:
        """The rounds where `mask` is true (scalars kept)."""
        mask = np.asarray(mask)
        kw = {f.name: (getattr(self, f.name) if f.name in _SCALARS else getattr(self, f.name)[mask])
              for f in fields(self)}
        return Rounds(**kw)

    @classmethod
    def concat(cls, parts: list[Rounds]) -> Rounds:
        """The rounds of several datasets one after the other; InvalidInput if none."""
        if not parts:
            raise InvalidInput("episodes", "at least one episode is required")
        kw = {f.name: (getattr(parts[0], f.name) if f.name in _SCALARS
                       else np.concatenate([getattr(p, f.name) for p in parts]))
              for f in fields(cls)}
        return cls(**kw)


_SCALARS = ("m0", "n_slots")


# --------------------------------------------------------------------------- coverage (30b)
def coverage_mask(config: MarketConfig, slots: int, rng: np.random.Generator) -> np.ndarray:
    """Slots (0-based) during which the satellite covers the stations' users.

    One pass lasts `coverage_time` (standard LEO geometry, docs/formulation.md §12) and recurs every
    orbital period. The pass's phase is drawn per episode: its first slot is uniform over the
    episode's slots, so that passes meet early (cold caches) and late slots alike. A slot is
    covered iff it lies wholly in the pass (`slots_in_coverage` whole slots).
    """
    require_config(config)
    if isinstance(slots, bool) or not isinstance(slots, (int, np.integer)) or slots < 1:
        raise InvalidInput("slots", f"must be a positive integer, got {slots!r}"[:120])
    check_rng(rng)
    cov_s = coverage.coverage_time(config.altitude_m, config.min_elevation_deg)
    n_cov = coverage.slots_in_coverage(cov_s, config.slot_seconds)
    period = max(int(coverage.orbital_period(config.altitude_m) // config.slot_seconds), n_cov, 1)
    start = int(rng.integers(slots))
    return ((np.arange(slots) - start) % period) < n_cov


# --------------------------------------------------------------------------- one episode
def caching_policy(name: str) -> str:
    """The registered policy `name`, checked (an unknown name is bad input naming the field)."""
    from optcache.solvers import registry

    if name not in registry.names():
        raise InvalidInput("policy", f"unknown caching policy {name!r}; choose from {', '.join(registry.names())}")
    return name


def require_config(config: object) -> MarketConfig:
    """`config` if it is a MarketConfig, else InvalidInput naming `config`."""
    if not isinstance(config, MarketConfig):
        raise InvalidInput("config", f"expected an optcache.market MarketConfig, got {type(config).__name__}")
    return config


def require_rounds(rounds: object) -> Rounds:
    """`rounds` if it is a Rounds, else InvalidInput naming `rounds`."""
    if not isinstance(rounds, Rounds):
        raise InvalidInput("rounds", "expected the Rounds of a market dataset (market_dataset(...) "
                           f"and its .subset(scored)), got {type(rounds).__name__}")
    return rounds


def episode_rounds(config: MarketConfig, seed: int, episode: int = 0) -> Rounds:
    """Simulate one episode: generate the scenario for `seed`, then `instance_rounds`."""
    require_config(config)
    _check_seed(seed)
    inst = generate(replace(config.scenario, seed=int(seed)))
    return instance_rounds(inst, config, seed, episode)


def instance_rounds(inst, config: MarketConfig, seed: int = 0, episode: int = 0) -> Rounds:
    """Rounds of one instance: run `config.policy` at every station, read c, m and coverage.

    Only `policy`, `cloud_match` and the orbit of `config` are used; `seed` draws the pass's phase.
    """
    require_config(config)
    _check_seed(seed)
    if isinstance(episode, bool) or not isinstance(episode, (int, np.integer)) or episode < 0:
        raise InvalidInput("episode", f"must be a non-negative integer, got {episode!r}"[:120])
    from optcache.solvers import registry

    res = registry.run(caching_policy(config.policy), inst)
    if res.schedule is None:
        raise InvalidInput("policy", f"caching policy {config.policy!r} returned no schedule")
    T, n_svc, N = inst.slots, len(inst.services), inst.n_stations
    svc = np.array([p.service for p in inst.pairs])
    cost = np.zeros((T, n_svc))
    m = np.zeros((T, n_svc, N))
    for n in range(N):
        d = inst.station_data(n)
        s = res.schedule.stations[n]
        _, kappa = trajectory(s.cached, s.edge_requests, d.k, d.delta)
        before = np.vstack([np.zeros((1, d.P)), kappa[:-1]])  # κ entering slot t
        match = (before + d.kappa0) * np.log(1.0 / d.beta)  # (T, P)
        unit = d.d / d.rC + d.l0  # backhaul + cloud cost of one request, per pair
        for i in range(n_svc):
            pi = svc == i
            if pi.any():
                m[:, i, n] = match[:, pi].max(axis=1)
                cost[:, i] += (d.R[:, pi] * unit[pi]).sum(axis=1)
    req = sum(np.stack([np.bincount(svc, weights=row, minlength=n_svc) for row in st.requests])
              for st in inst.stations)  # (T, n_svc)
    lib = np.array([np.mean([np.log(1 / p.cot_beta) for p in inst.pairs if p.service == i] or [np.nan])
                    for i in range(n_svc)])
    win = np.array([max([inst.models[p.model].context_tokens for p in inst.pairs if p.service == i] or [0])
                    for i in range(n_svc)], float)
    rng = np.random.default_rng([int(seed), 0x5A7])  # the orbit phase: its own stream of the seed
    cover = coverage_mask(config, T, rng)
    tt, ii = np.nonzero(req > 0)  # slot-major order: rounds follow time
    R = tt.size
    match = m[tt, ii]
    if config.match == "pareto":  # heavy-tailed matches: their own stream of the seed
        match = pareto_matches(np.random.default_rng([int(seed), 0x9A2]), (R, N), config.pareto_shape)
    nan = np.full(R, np.nan)
    return Rounds(episode=np.full(R, episode), slot=tt, service=ii, requests=req[tt, ii].astype(np.int64),
                  c=cost[tt, ii], m=match, m0=float(config.cloud_match), eligible=cover[tt],
                  log_inv_beta=lib[ii], context_tokens=win[ii], x0=nan, x2_mean=nan.copy(),
                  scored=np.ones(R, bool), n_slots=T)


def pareto_matches(rng: np.random.Generator, shape: tuple[int, ...], alpha: float) -> np.ndarray:
    """Pareto(α) matches with median `PARETO_MEDIAN`: m = x_m · U^(-1/α), x_m = median · 2^(-1/α)."""
    check_rng(rng)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
            or not finite(alpha) or alpha <= 0:
        raise InvalidInput("alpha", f"must be a finite number > 0, got {alpha!r}"[:120])
    u = 1.0 - rng.random(shape)  # in (0, 1]
    return PARETO_MEDIAN * 2.0 ** (-1.0 / alpha) * u ** (-1.0 / alpha)


def _check_seed(seed) -> None:
    """Seeds are integers: int('a') or int(nan) would be a raw error, int(1.5) a silent 1."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidInput("seed", f"must be an integer, got {seed!r}"[:120])


def _check_warmup(warmup, episodes: int) -> None:
    """`warmup` is an integer in 1..episodes-1: 1.5 would silently act as 2, "1" a raw TypeError."""
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or not 1 <= warmup < episodes:
        raise InvalidInput("warmup", f"must be an integer in 1..{episodes - 1} (at least one scored "
                           f"episode), got {warmup!r}"[:160])


# --------------------------------------------------------------------------- the satellite's contract
def contract_price(v1: np.ndarray, v0: np.ndarray) -> float:
    """x_0 = argmax_x mean[(v_0 - v_(1)) · 1(v_(1) ≤ x)] over historical rounds (paper, section V-A).

    The satellite's profit in a second-price auction bidding x against the top ground value v_(1):
    it depends on x only through which v_(1) fall below it, so the exact empirical maximiser is a
    prefix of the rounds sorted by v_(1). The price returned is the midpoint between the last
    v_(1) taken and the next one (0 if taking none is best; 1 % above the largest v_(1) if taking
    every round is), so ties at the boundary cannot matter.
    """
    try:
        v1 = np.asarray(v1, float)
        v0 = np.asarray(v0, float)
    except (TypeError, ValueError):
        raise InvalidInput("history", "values must be real numbers") from None
    if v1.ndim != 1 or v0.shape != v1.shape:  # a NaN or mismatched history would give a NaN price
        raise InvalidInput("history", f"expected two value arrays of one shape (R,), got {v1.shape} and {v0.shape}")
    if not (np.all(np.isfinite(v1)) and np.all(np.isfinite(v0))) or np.any(v1 < 0) or np.any(v0 < 0):
        raise InvalidInput("history", "values must be finite and >= 0")
    if v1.size == 0:
        return 0.0
    order = np.argsort(v1, kind="stable")
    s, gain = v1[order], (v0 - v1)[order]
    # a prefix must end where the sorted v_(1) changes (a bid cannot split equal values)
    cum = np.cumsum(gain)
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    best = ends[np.argmax(cum[ends])]
    if cum[best] <= 0:
        return 0.0
    nxt = s[best + 1] if best + 1 < s.size else s[best] * 1.01
    return float(0.5 * (s[best] + nxt))


def with_history(parts: list[Rounds], warmup: int = 1, contract: str = "paper") -> Rounds:
    """Concatenate episodes; give each the satellite's x0 and E[x_(2)] from the episodes before it.

    Only rounds in coverage enter the history (the satellite can win nothing else). Episodes before
    `warmup` are history only (`scored` False, no x0).
    """
    if not isinstance(parts, (list, tuple)) or len(parts) < 2:
        raise InvalidInput("episodes", "expected a list of at least 2 episodes' Rounds (history, then a scored one)")
    _check_warmup(warmup, len(parts))
    if contract not in CONTRACTS:
        raise InvalidInput("contract", f"must be one of {', '.join(CONTRACTS)}, got {contract!r}"[:120])
    out = []
    v1_hist, v0_hist, x2_hist = [], [], []
    for e, p in enumerate(parts):
        R = p.n
        if e >= warmup:
            v1 = np.concatenate(v1_hist)
            v0 = np.concatenate(v0_hist)
            x0 = contract_price(v1, v0) if contract == "paper" else (float(v0.mean()) if v0.size else 0.0)
            x2 = float(np.mean(np.concatenate(x2_hist))) if v1.size else 0.0
            p = replace(p, x0=np.full(R, x0), x2_mean=np.full(R, x2), scored=np.ones(R, bool))
        else:
            p = replace(p, scored=np.zeros(R, bool))
        out.append(p)
        v = p.v[p.eligible]
        vs = -np.sort(-v, axis=1)
        v1_hist.append(vs[:, 0])
        v0_hist.append(p.v0[p.eligible])
        x2_hist.append(vs[:, 1] if p.N >= 2 else np.zeros(vs.shape[0]))
    return Rounds.concat(out)


def market_dataset(config: MarketConfig, seeds: list[int], warmup: int = 1) -> Rounds:
    """Episodes for `seeds` (the first `warmup` are history only), with contract prices from history."""
    if not isinstance(config, MarketConfig):
        raise InvalidInput("config", "expected a MarketConfig (MarketConfig.from_dict reads a table), "
                           f"got {type(config).__name__}")
    if isinstance(seeds, np.ndarray) and seeds.ndim == 1:
        seeds = list(seeds)
    if not isinstance(seeds, (list, tuple, range)) or len(seeds) < 2:
        shown = len(seeds) if isinstance(seeds, (list, tuple, range)) else type(seeds).__name__
        raise InvalidInput("seeds", f"expected a list of at least 2 integer seeds (history, then a "
                           f"scored episode), got {shown}")
    for s in seeds:  # all checked before any episode is simulated
        _check_seed(s)
    _check_warmup(warmup, len(seeds))
    parts = [episode_rounds(config, s, e) for e, s in enumerate(seeds)]
    return with_history(parts, warmup, config.contract)
