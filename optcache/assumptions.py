"""Every scenario value, in one place: the paper's section VI-A numbers and what it leaves unstated.

`PAPER` holds values the paper gives; `ASSUMED` holds the project's choices for the rest. Both are
listed in docs/formulation.md; change a value here and the generator, docs table and tests follow.
"""

from __future__ import annotations

# ----------------------------------------------------------------------- stated in the paper (VI-A)
SLOTS = 100  # "within 100 time steps"
STATIONS = 5  # "the number of BSs is set to 5 by default"
GPUS = 24  # GPUs per ground station
GPU_MEMORY_GB = 80.0  # per GPU
GPU_GFLOPS_PER_W = 810.0  # energy efficiency per GPU
GPU_POWER_W = 300.0  # energy capacity per GPU
SERVICES = 10
USERS = 10  # requests per (station, pair, slot) ~ Poisson(users / 10)
MODELS = 10  # reasoning models, each of one of the two kinds below
MODEL_KINDS = {
    # name: (parameters, context window in tokens)
    "LLaMA-65B": (65e9, 2048),
    "GPT3-175B": (175e9, 8192),
}
VANISHING = 0.6  # context vanishing factor Δ (tokens per slot)
MAX_THOUGHT_TOKENS = 200  # "maximum size [of a CoT example] is set to 200 tokens"
USER_TX_POWER_W = 0.2
BANDWIDTH_HZ = 20e6
INPUT_MB = (100.0, 200.0)  # input size d_i ~ U[100, 200] MB
ACCESS_COST_GROUND = 0.0001  # edge access cost per request, ground stations
CLOUD_COST_GROUND = 0.04  # cloud price per request via ground stations
ACCESS_COST_SATELLITE = 0.005  # edge access cost per request, satellite
CLOUD_COST_SATELLITE = 0.025  # cloud price per request via the satellite
IMAGEBIND_ACCURACY = {  # zero-shot accuracy per input modality, used as α of a service
    "image": 0.777, "video": 0.500, "infrared": 0.634,
    "depth": 0.540, "audio": 0.669, "imu": 0.250,
}

# ----------------------------------------------------------------------- assumed (not in the paper)
BYTES_PER_PARAMETER = 2.0  # fp16 weights: s_m = 2 bytes × parameters (LLaMA-65B 130 GB, GPT3 350 GB)
FLOPS_PER_PARAMETER_TOKEN = 2.0  # e_m = 2 × parameters FLOP per generated token
MIN_THOUGHT_TOKENS = 50  # k_i ~ U{50..200}
SLOT_SECONDS = 0.05  # compute budget E_n = GPUs × GFLOPS/W × W × slot length: ~15 requests, binds in busy slots
BACKHAUL_MB_PER_S = 10_000.0  # r^C_n, terrestrial core network (80 Gbit/s)
SWITCHING_COST = 0.1  # λ per model load: worth it once a pair serves ~3 requests at the edge
KAPPA_OFFSET = 1.0  # κ_0 (tokens) in Ā = (1-α)/(ln(1/β)(κ+κ_0)); docs/formulation.md §4
COT_BETA = (0.6, 0.9)  # β_p ~ U[0.6, 0.9]: per-thought attenuation of CoT gain, 0 < β < 1
