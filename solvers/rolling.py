"""Rolling horizon (FORMULATION §8): solve §5 over the next H slots, apply the first, move on.

Slot t's requests are known when it is decided; those of t+1..t+H-1 come from a forecast:
`oracle` (the true future) or `mean` (per pair, the mean of the requests seen in slots 1..t,
rounded half up to an integer because requests are integers; a pair never seen forecasts 0).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from optcache.solvers.registry import register

from optcache.dynamics import State, step
from optcache.errors import InvalidInput
from optcache.instance import Instance, StationData
from optcache.results import MethodResult, relative_gap
from optcache.schedule import Schedule

FORECASTS = ("oracle", "mean")

WINDOW_COLUMNS = ("station", "slot", "window_slots", "termination", "gap", "seconds",
                  "build_seconds", "nodes", "window_cost", "window_bound", "start_cached",
                  "start_K", "start_kappa")
"""Columns of `extras["windows"]`, one row per window: station, its first slot t (1-based), its
length, the window solve's termination, relative gap, seconds (solve, model build), nodes, cost and
bound (slot averages over the window, with the forecast requests), and the state it starts from:
number of cached pairs, ΣK and Σκ."""


def forecast_window(R: np.ndarray, t: int, t1: int, forecast: str) -> np.ndarray:
    """Requests of slots t..t1-1 (0-based) as a window sees them: slot t true, later ones forecast."""
    out = np.empty((t1 - t, R.shape[1]), dtype=np.int64)
    out[0] = R[t]
    if forecast == "oracle":
        out[1:] = R[t + 1:t1]
    else:  # mean of slots 0..t, rounded half up
        out[1:] = np.floor(R[: t + 1].mean(axis=0) + 0.5).astype(np.int64)
    return out


def shifted(prev: tuple[np.ndarray, np.ndarray] | None, win: StationData
            ) -> tuple[np.ndarray, np.ndarray] | None:
    """The previous window's plan from its second slot on, as a feasible incumbent for `win`.

    Its first slot was applied, so the state matches; the new last slot is left empty, and x is
    cut to the new window's requests (less served only lowers K and budget use: still feasible).
    """
    if prev is None:
        return None
    a = np.zeros((win.T, win.P))
    x = np.zeros((win.T, win.P))
    n = min(prev[0].shape[0] - 1, win.T)
    a[:n] = prev[0][1:n + 1]
    x[:n] = np.minimum(prev[1][1:n + 1], win.R[:n] * a[:n])
    return a, x


def rolling_station(data: StationData, horizon: int, forecast: str, station: int = 0,
                    **solve_opts) -> tuple[np.ndarray, np.ndarray, list[dict], str | None]:
    """One station's rolling-horizon schedule (a, x), one record per window, the solver version."""
    from optcache.solvers.exact import solve_station

    T, P = data.R.shape
    a = np.zeros((T, P))
    x = np.zeros((T, P))
    st = State.cold(P)
    records = []
    prev = None
    for t in range(T):
        t1 = min(t + horizon, T)
        win = data.window(t, t1, R=forecast_window(data.R, t, t1, forecast))
        sol = solve_station(win, st, warm_start=shifted(prev, win), **solve_opts)
        prev = (np.asarray(sol.a, float), np.asarray(sol.x, float))
        a[t] = np.round(np.asarray(sol.a, float)[0])
        x[t] = np.round(np.asarray(sol.x, float)[0])
        records.append({
            "station": station, "slot": t + 1, "window_slots": t1 - t,
            "termination": sol.termination, "gap": relative_gap(sol.cost, sol.bound),
            "seconds": sol.seconds, "build_seconds": sol.build_seconds, "nodes": sol.nodes,
            "window_cost": sol.cost, "window_bound": sol.bound,
            "start_cached": int(st.cached.sum()), "start_K": float(st.K.sum()),
            "start_kappa": float(st.kappa.sum()),
        })
        st = step(st, a[t], x[t], data.k, data.delta)
    return a, x, records, getattr(sol, "solver_version", None)


@register("rolling", options=("horizon", "forecast", "time_limit", "gap", "threads"))
def rolling(inst: Instance, horizon: int = 12, forecast: str = "oracle", time_limit: float | None = None,
            gap: float | None = None, threads: int = 1) -> MethodResult:
    """Rolling horizon: §5 over the next H slots (oracle or mean forecast), first slot applied."""
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise InvalidInput("horizon", f"must be a positive integer, got {horizon!r}")
    if forecast not in FORECASTS:
        raise InvalidInput("forecast", f"must be one of {', '.join(FORECASTS)}, got {forecast!r}")
    opts = {"time_limit": time_limit, "threads": threads}  # time_limit applies to each window
    if gap is not None:
        opts["gap"] = gap
    t0 = time.perf_counter()
    per_station, records, version = [], [], None
    for n in range(inst.n_stations):
        a, x, rec, version = rolling_station(inst.station_data(n), int(horizon), forecast, n, **opts)
        per_station.append((a, x))
        records += rec
    seconds = time.perf_counter() - t0
    windows = pd.DataFrame(records, columns=list(WINDOW_COLUMNS))
    nodes = windows["nodes"].dropna()
    return MethodResult.from_schedule(
        inst, "rolling", Schedule.from_arrays(per_station), seconds,
        nodes=int(nodes.sum()) if len(nodes) else None, solver="highs", solver_version=version,
        extras={"windows": windows, "horizon": int(horizon), "forecast": forecast})
