"""Scenario generator with the paper's section VI-A defaults (values in `optcache.assumptions`).

Every draw goes through one `numpy.random.Generator` seeded from `ScenarioConfig.seed`, in a fixed
order, so the same config gives the same instance on every machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from optcache import assumptions as A
from optcache.errors import InvalidInput
from optcache.instance import Instance, Model, Pair, Service, Station


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

    def __post_init__(self) -> None:
        for name in ("slots", "services", "gpus", "stations", "models"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise InvalidInput(name, f"must be a positive integer, got {v!r}")
        if not isinstance(self.users, (int, np.integer)) or self.users < 0:
            raise InvalidInput("users", f"must be a non-negative integer, got {self.users!r}")
        if not np.isfinite(self.vanishing) or self.vanishing < 0:
            raise InvalidInput("vanishing", f"must be >= 0, got {self.vanishing!r}")
        if self.access not in ("paper", "channel"):
            raise InvalidInput("access", f"must be 'paper' or 'channel', got {self.access!r}")
        if self.switching_cost < 0 or self.slot_seconds <= 0:
            raise InvalidInput("switching_cost" if self.switching_cost < 0 else "slot_seconds",
                               "must be non-negative (switching_cost) / positive (slot_seconds)")

    def knobs(self) -> dict:
        """The config as a flat dict (study tables carry it as columns)."""
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def generate(config: ScenarioConfig | None = None, **knobs) -> Instance:
    """Draw an instance; `generate(slots=12, seed=3)` is shorthand for a config with those knobs."""
    cfg = config or ScenarioConfig(**knobs)
    if config is not None and knobs:
        cfg = ScenarioConfig(**{**asdict(config), **knobs})
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
    beta = rng.uniform(*A.COT_BETA, size=cfg.services)
    services = [Service(f"service{i}-{modalities[modality[i]]}", float(round(input_mb[i], 3)),
                        int(thought[i])) for i in range(cfg.services)]
    pairs = [Pair(service=i, model=int(mapping[i]),
                  zero_shot_accuracy=A.IMAGEBIND_ACCURACY[modalities[modality[i]]],
                  cot_beta=float(round(beta[i], 4)), vanishing=float(cfg.vanishing),
                  cloud_cost=A.CLOUD_COST_GROUND) for i in range(cfg.services)]

    flops_per_s = cfg.gpus * A.GPU_GFLOPS_PER_W * 1e9 * A.GPU_POWER_W
    stations = []
    for n in range(cfg.stations):
        if cfg.access == "channel":
            access = tuple(float(v) for v in _channel_access_cost(rng, [s.input_mb for s in services], cfg.users))
        else:
            access = (A.ACCESS_COST_GROUND,) * cfg.services
        R = rng.poisson(cfg.users / 10.0, size=(cfg.slots, cfg.services)).astype(np.int64)
        stations.append(Station(f"station{n}", gpu_memory_gb=cfg.gpus * A.GPU_MEMORY_GB,
                                compute_budget_flops=flops_per_s * cfg.slot_seconds,
                                compute_flops_per_s=flops_per_s,
                                backhaul_mb_per_s=A.BACKHAUL_MB_PER_S, access_cost=access,
                                requests=R))
    return Instance(cfg.slots, cfg.switching_cost, A.KAPPA_OFFSET, tuple(models), tuple(services),
                    tuple(pairs), tuple(stations), meta={"scenario": cfg.knobs()})


def _channel_access_cost(rng: np.random.Generator, input_mb: list[float], users: int) -> np.ndarray:
    """l_{n,i} = d_i / E_u[r_{u,n}] with the expected rates of the station's users (channel model)."""
    from optcache import channel

    rates = channel.expected_uplink_rates(rng, max(users, 1))
    return channel.access_cost(np.asarray(input_mb), rates)
