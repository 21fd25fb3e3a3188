"""Step 3 of FORMULATION §7, shared by every replacement policy and the `static` reference."""

from __future__ import annotations

import numpy as np


def request_order(R_t: np.ndarray) -> np.ndarray:
    """Requested pairs by decreasing R[t][p], ties by pair index (FORMULATION §7 step 2)."""
    req = np.flatnonzero(R_t > 0)
    return req[np.lexsort((req, -R_t[req]))]


def serve_slot(order: np.ndarray, admitted: np.ndarray, R_t: np.ndarray, K: np.ndarray,
               k: np.ndarray, w: np.ndarray, flops_per_request: np.ndarray, budget: float) -> np.ndarray:
    """All-or-nothing service: each admitted pair in `order` serves x = R if budget and window allow.

    Returns x[p] for the slot. `K` is the context before the slot.
    """
    x = np.zeros(R_t.shape[0])
    used = 0.0
    for p in order:
        if not admitted[p]:
            continue
        need = flops_per_request[p] * R_t[p]
        if used + need <= budget * (1 + 1e-12) and K[p] + k[p] * R_t[p] <= w[p]:
            x[p] = R_t[p]
            used += need
    return x
