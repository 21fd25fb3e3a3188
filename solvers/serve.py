"""Step 3 of docs/formulation.md §8, shared by every replacement policy and the `static` reference."""

from __future__ import annotations

import numpy as np


def request_order(R_t: np.ndarray) -> np.ndarray:
    """Requested pairs by decreasing R[t][p], ties by pair index (docs/formulation.md §8 step 2)."""
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


def keep_and_serve(data, st, t: int, a: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A decision for slot `t` that needs no solver, for when a time limit is used up: cache `a`
    (default: keep what state `st` has cached) and serve all-or-nothing (docs/formulation.md §8 step 3).
    Feasible from any feasible state: memory holds a set that fit, and service checks (5), (28c)."""
    a_t = np.asarray(st.cached if a is None else a, float).copy()
    x_t = serve_slot(request_order(data.R[t]), a_t > 0.5, data.R[t], st.K, data.k, data.w,
                     data.flops_per_request, data.E)
    return a_t, x_t
