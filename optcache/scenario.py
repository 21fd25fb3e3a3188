"""Scenario generator with the paper's section VI-A defaults (values in `optcache.assumptions`).

Every draw goes through one `numpy.random.Generator` seeded from `ScenarioConfig.seed`, in a fixed
order, so the same config gives the same instance on every machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from optcache import assumptions as A
from optcache.channel import MC_SAMPLES, NOISE_DBM_PER_HZ, PATH_LOSS_EXPONENT
from optcache.errors import InvalidInput, finite, named_keywords
from optcache.instance import (
    RANGES,
    Instance,
    Limits,
    Model,
    Pair,
    Service,
    Station,
    format_bound,
    require_limits,
)

KNOB_RANGES: dict[str, tuple[float, float]] = {
    "slots": (1, RANGES["slots"].hi),
    "services": (1, 10**5),
    "gpus": (1, 10**6),
    "users": (0, 10**12),
    "stations": (1, 10**5),
    "vanishing": (RANGES["pairs[].vanishing"].lo, RANGES["pairs[].vanishing"].hi),
    "models": (1, 10**5),
    "seed": (0, 2**63 - 1),
    "switching_cost": (RANGES["switching_cost"].lo, RANGES["switching_cost"].hi),
    "slot_seconds": (0, 1e6),
    "backhaul_mb_per_s": (RANGES["stations[].backhaul_mb_per_s"].lo, RANGES["stations[].backhaul_mb_per_s"].hi),
    "beta_min": (RANGES["pairs[].cot_beta"].lo, 0.999999),
    "beta_max": (RANGES["pairs[].cot_beta"].lo, 0.999999),
    "noise_dbm_per_hz": (-200.0, -100.0),
    "path_loss_exponent": (1.5, 6.0),
}
"""Closed range of each numeric knob (slot_seconds must also be > 0): the instance it draws is
within `optcache.instance.RANGES`, and `generate` refuses it beyond `Limits.max_cells`.
The last five are the assumptions the paper leaves unstated (docs/claims.md): r^C, the range of
β and, with access='channel', the noise density and the ground path-loss exponent (§13)."""

ROUTES = ("ground", "relay", "relay-nobackhaul", "satellite")
"""How requests reach the cloud (the `route` knob; readings of the satellite claim, docs/claims.md):
'ground' (the model of §5), 'relay' (offloaded requests relayed by the satellite at its cloud and
access prices, l_0 = 0.025 + 0.005, ground backhaul kept), 'relay-nobackhaul' (the same without the
ground backhaul d/r^C of (22)), 'satellite' (users reach the cloud only through the satellite:
access 0.005 per request instead of 0.0001, l_0 = 0.025, no ground backhaul)."""

NO_BACKHAUL_MB_PER_S = RANGES["stations[].backhaul_mb_per_s"].hi
"""r^C of the routes without a ground backhaul: d/r^C ≤ 2e-13 per request, nil beside every other term."""

_FLOAT_KNOBS = ("vanishing", "switching_cost", "slot_seconds", "backhaul_mb_per_s", "beta_min",
                "beta_max", "noise_dbm_per_hz", "path_loss_exponent")

CHANNEL_MAX_USERS = 1000
"""Most users per station with access='channel': its Monte Carlo holds MC_SAMPLES × users draws."""


@named_keywords("scenario knob")
@dataclass(frozen=True)
class ScenarioConfig:
    """The generator's knobs: the paper's sweeps (slots, services, GPUs, users, stations, Δ) and seed."""

    slots: int = A.SLOTS
    """Number of time slots T."""
    services: int = A.SERVICES
    """Number of LLM agent services; each is mapped to one model at random, giving one pair each."""
    gpus: int = A.GPUS
    """GPUs per ground station: sets G_n, f_n and E_n."""
    users: int = A.USERS
    """Users per station: requests per (station, pair, slot) ~ Poisson(users / 10)."""
    stations: int = A.STATIONS
    """Number of ground stations N."""
    vanishing: float = A.VANISHING
    """Context vanishing factor Δ in tokens per slot, the same for every pair."""
    models: int = A.MODELS
    """Number of reasoning models, alternating between the two kinds of `assumptions.MODEL_KINDS`."""
    seed: int = 0
    """Seed of the one numpy Generator behind every draw."""
    access: str = "paper"
    """'paper': l_{n,i} = 0.0001 per request; 'channel': d_i / E[r] from the uplink model (2)."""
    switching_cost: float = A.SWITCHING_COST
    """λ, cost of loading one pair."""
    slot_seconds: float = A.SLOT_SECONDS
    """Slot length: the compute budget per slot is E_n = f_n × slot_seconds."""
    route: str = "ground"
    """How requests reach the cloud, one of `ROUTES` (ground, relay, relay-nobackhaul, satellite)."""
    backhaul_mb_per_s: float = A.BACKHAUL_MB_PER_S
    """r^C_n of every station, MB/s (the backhaul term d_i/r^C of (22)); unused by the routes without one."""
    beta_min: float = A.COT_BETA[0]
    """Lower end of β ~ U[beta_min, beta_max], the per-thought attenuation of (20)."""
    beta_max: float = A.COT_BETA[1]
    """Upper end of that range (beta_min <= beta_max < 1)."""
    noise_dbm_per_hz: float = NOISE_DBM_PER_HZ
    """Noise density N_0 of the uplink (2), dBm/Hz; used with access='channel' only."""
    path_loss_exponent: float = PATH_LOSS_EXPONENT
    """Ground path-loss exponent beyond d_0 (§13); used with access='channel' only."""

    def __post_init__(self) -> None:
        for name, (lo, hi) in KNOB_RANGES.items():
            v = getattr(self, name)
            if name in _FLOAT_KNOBS:
                ok = (not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))
                      and finite(v) and lo <= v <= hi and not (name == "slot_seconds" and v == 0))
                kind = "a number"
            else:
                ok = not isinstance(v, bool) and isinstance(v, (int, np.integer)) and lo <= v <= hi
                kind = "an integer"
            if not ok:
                shown = f"{'(' if name == 'slot_seconds' else '['}{format_bound(lo)}, {format_bound(hi)}]"
                raise InvalidInput(name, f"must be {kind} in {shown}, got {v!r}"[:120])
            # plain Python numbers from here on (numpy scalars in, and -0.0, which files would show)
            object.__setattr__(self, name, float(v) + 0.0 if name in _FLOAT_KNOBS else int(v))
        if self.beta_min > self.beta_max:
            raise InvalidInput("beta_min", f"must be <= beta_max = {self.beta_max!r}, got {self.beta_min!r}")
        if self.route not in ROUTES:
            raise InvalidInput("route", f"must be one of {', '.join(ROUTES)}, got {self.route!r}"[:120])
        if self.access not in ("paper", "channel"):
            raise InvalidInput("access", f"must be 'paper' or 'channel', got {self.access!r}")
        if self.access == "channel" and self.users > CHANNEL_MAX_USERS:
            raise InvalidInput("users", f"must be <= {CHANNEL_MAX_USERS} with access='channel' "
                               f"(a Monte Carlo of {MC_SAMPLES} draws per user), got {self.users}")

    def knobs(self) -> dict:
        """The config as a flat dict (study tables carry it as columns)."""
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        """The knob names, in declaration order."""
        return [f.name for f in fields(cls)]


def generate(config: ScenarioConfig | None = None, *, limits: Limits | None = None,
             **knobs) -> Instance:
    """Draw an instance; `generate(slots=12, seed=3)` is shorthand for a config with those knobs.

    An instance over `limits.max_cells` (default `DEFAULT_LIMITS`) is refused before any draw."""
    known = {f.name for f in fields(ScenarioConfig)}
    for name in knobs:
        if name not in known:
            raise InvalidInput(name, f"unknown scenario knob; the knobs are {', '.join(sorted(known))}")
    if config is not None and not isinstance(config, ScenarioConfig):
        raise InvalidInput("config", f"expected a ScenarioConfig, got {type(config).__name__}")
    cfg = config or ScenarioConfig(**knobs)
    if config is not None and knobs:
        cfg = ScenarioConfig(**{**asdict(config), **knobs})
    require_limits(limits).check_cells(cfg.slots, cfg.services, cfg.stations, what="services")
    rng = np.random.default_rng(cfg.seed)

    kinds = list(A.MODEL_KINDS.items())
    models = []
    for j in range(cfg.models):
        name, (params, window) = kinds[j % len(kinds)]
        models.append(Model(f"{name}#{j}", memory_gb=params * A.BYTES_PER_PARAMETER / 1e9,
                            flops_per_token=params * A.FLOPS_PER_PARAMETER_TOKEN,
                            context_tokens=window))
    modalities = list(A.IMAGEBIND_ACCURACY)
    input_mb = rng.uniform(*A.INPUT_MB, size=cfg.services)
    thought = rng.integers(A.MIN_THOUGHT_TOKENS, A.MAX_THOUGHT_TOKENS + 1, size=cfg.services)
    modality = rng.integers(len(modalities), size=cfg.services)
    mapping = rng.integers(cfg.models, size=cfg.services)
    beta = rng.uniform(cfg.beta_min, cfg.beta_max, size=cfg.services)
    services = [Service(f"service{i}-{modalities[modality[i]]}", float(round(input_mb[i], 3)),
                        int(thought[i])) for i in range(cfg.services)]
    pairs = [Pair(service=i, model=int(mapping[i]),
                  zero_shot_accuracy=A.IMAGEBIND_ACCURACY[modalities[modality[i]]],
                  cot_beta=float(min(max(round(beta[i], 4), cfg.beta_min), cfg.beta_max)), vanishing=float(cfg.vanishing),
                  cloud_cost=_cloud_price(cfg.route)) for i in range(cfg.services)]

    flops_per_s = cfg.gpus * A.GPU_GFLOPS_PER_W * 1e9 * A.GPU_POWER_W
    stations = []
    for n in range(cfg.stations):
        if cfg.access == "channel":
            mb = [s.input_mb for s in services]
            # The ground draw is made on every route, so that the requests stay those of 'ground';
            # the satellite's costs come from their own stream, and only the costs used are checked.
            ground = _channel_access_cost(rng, mb, cfg, check=cfg.route != "satellite")
            cost = ground if cfg.route != "satellite" else _channel_access_cost(
                np.random.default_rng([cfg.seed, n, 0x5A7]), mb, cfg, link="satellite")
            access = tuple(float(v) for v in cost)
        else:
            access = ((A.ACCESS_COST_SATELLITE if cfg.route == "satellite" else A.ACCESS_COST_GROUND),) \
                * cfg.services
        R = rng.poisson(cfg.users / 10.0, size=(cfg.slots, cfg.services)).astype(np.int64)
        stations.append(Station(f"station{n}", gpu_memory_gb=cfg.gpus * A.GPU_MEMORY_GB,
                                compute_budget_flops=flops_per_s * cfg.slot_seconds,
                                compute_flops_per_s=flops_per_s,
                                backhaul_mb_per_s=(cfg.backhaul_mb_per_s if cfg.route in ("ground", "relay")
                                                   else NO_BACKHAUL_MB_PER_S), access_cost=access,
                                requests=R))
    return Instance(cfg.slots, cfg.switching_cost, A.KAPPA_OFFSET, tuple(models), tuple(services),
                    tuple(pairs), tuple(stations), meta={"scenario": cfg.knobs()})


def _cloud_price(route: str) -> float:
    """l_{0,p} per offloaded request on a route (paper, section VI-A: 0.04 via ground stations;
    0.025 via the satellite, plus its edge access 0.005 when the satellite only relays)."""
    if route == "ground":
        return A.CLOUD_COST_GROUND
    if route == "satellite":
        return A.CLOUD_COST_SATELLITE
    return A.CLOUD_COST_SATELLITE + A.ACCESS_COST_SATELLITE


def _channel_access_cost(rng: np.random.Generator, input_mb: list[float], cfg: ScenarioConfig,
                         link: str = "ground", check: bool = True) -> np.ndarray:
    """l_{n,i} = d_i / E_u[r_{u,n}] with the expected rates of the station's users (channel model,
    docs/formulation.md §13, eq. (2)), with the config's noise density and path-loss exponent
    (ground only); `check` refuses costs beyond the instance range (off for a discarded draw)."""
    from optcache import channel

    noise = channel.noise_power(A.BANDWIDTH_HZ, cfg.noise_dbm_per_hz)
    rates = channel.expected_uplink_rates(rng, max(cfg.users, 1), noise_w=noise, link=link,
                                          path_loss_exponent=cfg.path_loss_exponent)
    cost = channel.access_cost(np.asarray(input_mb), rates)
    most = RANGES["stations[].access_cost[]"].hi
    if check and not np.all(cost <= most):  # each knob in its range, together an uplink that carries nothing
        knobs = f"path_loss_exponent={cfg.path_loss_exponent:g} and " if link == "ground" else ""
        raise InvalidInput("noise_dbm_per_hz", f"with {knobs}users={cfg.users}, the channel's {link} uplink "
                           f"gives an access cost of {float(cost.max()):.3g} s per request, over {most:g}: "
                           f"a lower noise density{' or path-loss exponent' if link == 'ground' else ''} is needed")
    return cost
