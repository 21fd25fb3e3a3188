"""Rolling horizon (docs/formulation.md §10): solve §6 over the next H slots, apply the first, move on.

Slot t's requests are known when it is decided; those of t+1..t+H-1 come from a forecast:
`oracle` (the true future) or `mean` (per pair, the mean of the requests seen in slots 1..t,
rounded half up to an integer because requests are integers; a pair never seen forecasts 0).

Windows are solved exactly, by `lagrange` (default) or `milp` (`window_solver`). `tail="relaxed"`
(a project extension; the default `none` is §10 as written) adds to each window the cost-to-go of
each pair after it, alone (memory and budget relaxed after the window), over the same forecast: a
terminal value that stops a short window from treating its last slot as the end of time.

`time_limit` covers the whole method: each window gets an even share of the time left over the
windows left (all stations), capped by `window_time_limit`; a window stopped at its limit applies
its best schedule. Once the time is used up, no window is solved: each remaining slot follows the
previous window's plan (shifted) while it lasts, serving what fits (§8 step 3), then takes
least-AoT's slot from the state reached; the result's termination is then `time_limit` and its
windows say `fallback`.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from optcache.dynamics import State, final_state, step
from optcache.errors import InvalidInput, SolverFailed
from optcache.instance import Instance, StationData, require_station_data
from optcache.logs import Progress, demoted
from optcache.results import MethodResult, relative_gap
from optcache.schedule import Schedule
from optcache.solvers.highs import highs_version
from optcache.solvers.policies_fast import _laot_from, laot_from, load_laot_from
from optcache.solvers.registry import option_check, register
from optcache.solvers.serve import keep_and_serve

log = logging.getLogger(__name__)

QUIET_LOGGERS = ("optcache.solvers.lagrange.search", "optcache.solvers.exact", "optcache.solvers.highs")
"""Loggers of the window solvers whose INFO lines are DEBUG inside a window (one per slot)."""

FORECASTS = ("oracle", "mean")
WINDOW_SOLVERS = ("lagrange", "milp")
TAILS = ("none", "relaxed")
WINDOW_GAP = 1e-6
"""Relative gap at which each window's solve stops: windows are solved to the §6 certificate."""
LOOKUP_DIGITS = 6
"""A window's final (K, κ) is matched to the tail graph's states rounded to 1e-6 tokens."""

WINDOW_COLUMNS = ("station", "slot", "window_slots", "tail", "termination", "gap", "seconds",
                  "build_seconds", "nodes", "window_cost", "window_bound", "start_cached",
                  "start_K", "start_kappa")
"""Columns of `extras["windows"]`, one row per window: station, its first slot t (1-based), its
length, whether its objective had the relaxed tail (False with `tail="none"`, in a window that ends
at T, and after the tail was dropped: it could not be built within half the station's share of the
time or within `lagrange.graph.MAX_ARCS`), the window solve's termination (`fallback`: not solved, the time limit was used up), relative gap, seconds (solve, model build), nodes, cost and
bound (slot averages over the window, with the forecast requests), and the state it starts from:
number of cached pairs, ΣK and Σκ. With `tail="relaxed"` cost and bound include the tail's value
(so they estimate the cost from the window's first slot to T, in slot averages over the window)."""


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


def continued(prev: tuple[np.ndarray, np.ndarray] | None, win: StationData, st: State
              ) -> tuple[np.ndarray, np.ndarray]:
    """The window's warm start: the previous plan from its second slot on (`shifted`), its slots
    past that plan decided by least-AoT from the state the plan reaches (the whole window by
    least-AoT without a plan). A window stopped at once returns it, so a short time limit keeps
    least-AoT's slots instead of a plan that empties by one slot per window (all-cloud after H)."""
    plan = shifted(prev, win)
    if plan is None:
        return _laot_from(win, st, 0)[:2]
    n = min(prev[0].shape[0] - 1, win.T)
    if n < win.T:
        reached = final_state(plan[0][:n], plan[1][:n], win.k, win.delta, st)
        a, x, _ = _laot_from(win, reached, n)
        plan[0][n:], plan[1][n:] = a, x
    return plan


class RelaxedTail:
    """Each pair's least cost from any state it can reach to slot T, alone: no memory (3) or
    budget (5) rows couple it to the others (they are relaxed after the window, hence a lower
    bound on the true cost-to-go). One backward pass over each pair's state graph
    (`lagrange.PairGraph`) built from the state at slot `t0` over the forecast requests."""

    def __init__(self, data: StationData, state0: State, t0: int, deadline: float | None = None):
        """Past `deadline` TimeoutError; graphs beyond `lagrange.graph.MAX_ARCS` SolverFailed."""
        from optcache.solvers.lagrange.graph import station_graphs

        self.t0 = t0
        self.graphs = station_graphs(data, state0, deadline)
        self.values = [g.cost_to_go() for g in self.graphs]
        R = data.R.astype(float)
        cloud = R * (data.access + data.offload_unit)  # all-cloud cost per slot: V is net of it
        self.cloud_after = np.vstack([np.cumsum(cloud[::-1], axis=0)[::-1][1:], np.zeros((1, data.P))])
        self._layers: dict = {}

    def _layer(self, p: int, layer: int):
        if (p, layer) not in self._layers:
            g = self.graphs[p]
            lo, hi = np.searchsorted(g.node_slot, [layer, layer + 1])  # nodes are made in slot order
            ids = np.arange(lo, hi)
            keys = {(bool(c), round(float(K), LOOKUP_DIGITS), round(float(k), LOOKUP_DIGITS)): i
                    for i, c, K, k in zip(ids, g.node_cached[ids], g.node_K[ids], g.node_kappa[ids],
                                          strict=True)}
            self._layers[(p, layer)] = (keys, ids)
        return self._layers[(p, layer)]

    def value(self, p: int, slot: int, cached, K, kappa) -> np.ndarray:
        """Cost-to-go (slot-sum units) after absolute slot `slot` from each state (cached, K, κ)."""
        layer = slot - self.t0
        keys, ids = self._layer(p, layer)
        g, V = self.graphs[p], self.values[p]
        out = np.empty(len(K))
        for j, (c, kk, kap) in enumerate(zip(np.atleast_1d(cached), np.atleast_1d(K),
                                             np.atleast_1d(kappa), strict=True)):
            c = bool(c)
            i = keys.get((c, round(float(kk), LOOKUP_DIGITS), round(float(kap), LOOKUP_DIGITS)) if c
                         else (False, 0.0, 0.0))
            if i is None:  # float noise across a rounding boundary: the nearest state, if close
                cand = ids[g.node_cached[ids] == c]
                dist = np.abs(g.node_K[cand] - kk) + np.abs(g.node_kappa[cand] - kap)
                near = int(np.argmin(dist)) if len(cand) else -1
                if near < 0 or dist[near] > 1e-6 * max(1.0, abs(kk)):
                    raise RuntimeError(f"rolling tail: state of pair {p} after slot {slot + 1} "
                                       "is not in the forecast's state graph")
                i = cand[near]
            out[j] = V[i] + self.cloud_after[layer, p]
        return out

    def after(self, slot: int):
        """The terminal-value callable for a window ending with absolute slot `slot`."""
        return lambda p, cached, K, kappa: self.value(p, slot, cached, K, kappa)


def window_solver(name: str):
    """The `StationSolver` (solvers/exact.py) that solves each window: 'lagrange' or 'milp'."""
    if name == "milp":
        from optcache.solvers.exact import solve_station

        return solve_station
    from optcache.solvers.lagrange import lagrange_station

    return lagrange_station


_station_solver = window_solver  # `window_solver` is also the name of the option below


def _fallback_record(station: int, t: int, window_slots: int, cached: float, K: float,
                     kappa: float) -> dict:
    """The window record of a slot decided without a solve (the time limit was used up), from the
    sums of the state it starts from."""
    return {"station": station, "slot": t + 1, "window_slots": window_slots, "tail": False,
            "termination": "fallback",
            "gap": None, "seconds": 0.0, "build_seconds": 0.0, "nodes": 0, "window_cost": None,
            "window_bound": None, "start_cached": int(cached), "start_K": float(K),
            "start_kappa": float(kappa)}


def rolling_station(data: StationData, horizon: int, forecast: str, station: int = 0,
                    window_solver: str = "lagrange", tail: str = "none", *,
                    deadline: float | None = None, windows_after: int = 0,
                    window_time_limit: float | None = None,
                    **solve_opts) -> tuple[np.ndarray, np.ndarray, list[dict], str | None]:
    """One station's rolling-horizon schedule (a, x), one record per window, the solver version.

    `deadline` (a `time.perf_counter()` value) ends the whole method: each window gets the time
    left shared evenly with the windows still to come (`windows_after` of them in later
    stations), at most `window_time_limit`; past the deadline the slot falls back (module doc)."""
    require_station_data(data)
    check_options(horizon, forecast, window_solver, tail)
    solve_station = _station_solver(window_solver)
    if window_solver == "lagrange":
        solve_opts.pop("threads", None)  # lagrange is single-threaded
        solve_opts["polytopes"] = {}  # the windows' slot polytopes repeat: separators found once
        solve_opts["option_cuts"] = False  # short windows: they cost more than they add
    T, P = data.R.shape
    a = np.zeros((T, P))
    x = np.zeros((T, P))
    st = State.cold(P)
    records = []
    prev, planned = None, 0  # the last plan and how many of its slots are still real decisions
    relaxed, tail_dropped = None, False
    version = highs_version()
    progress, stopped = Progress(log), 0
    for t in range(T):
        t1 = min(t + horizon, T)
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0:  # out of time: no solve, the cheap rule
            planned -= 1
            # the last plan while it lasts, then least-AoT from the state reached (keeping the
            # cache instead returned all-cloud when the time ran out before any window)
            if prev is not None and planned > 0:
                prev = shifted(prev, data.window(t, t1, R=forecast_window(data.R, t, t1, forecast)))
                a[t], x[t] = keep_and_serve(data, st, t, prev[0][0])
                records.append(_fallback_record(station, t, t1 - t, st.cached.sum(), st.K.sum(),
                                                st.kappa.sum()))
                st = step(st, a[t], x[t], data.k, data.delta)
                continue
            a[t:], x[t:], before = laot_from(data, st, t)  # compiled: the rest of the station
            records += [_fallback_record(station, u, min(u + horizon, T) - u, *sums) for u, *sums in
                        zip(range(t, T), before.cached.sum(axis=1).tolist(), before.K.sum(axis=1).tolist(),
                            before.kappa.sum(axis=1).tolist(), strict=True)]
            break
        win = data.window(t, t1, R=forecast_window(data.R, t, t1, forecast))
        solve_opts.pop("terminal", None)
        if tail == "relaxed" and t1 < T and not tail_dropped:
            if relaxed is None or forecast != "oracle":  # the oracle's future never changes
                # the whole rest of the horizon, for every window after: within half the
                # station's share of the time left
                until = None if left is None else \
                    time.perf_counter() + 0.5 * left * (T - t) / (T - t + windows_after)
                try:
                    relaxed = RelaxedTail(data.window(t, T, R=forecast_window(data.R, t, T, forecast)), st, t,
                                          until)
                except (TimeoutError, SolverFailed) as e:
                    tail_dropped, relaxed = True, None
                    log.warning("rolling: station %d, slot %d: the relaxed tail is dropped for the rest "
                                "of the station (%s); windows end at their last slot",
                                station, t + 1, "out of time" if isinstance(e, TimeoutError) else e)
            if relaxed is not None:
                solve_opts["terminal"] = relaxed.after(t1 - 1)
        limit = window_time_limit
        if left is not None:
            share = max(deadline - time.perf_counter(), 1e-9) / (T - t + windows_after)
            limit = share if limit is None else min(limit, share)
        with demoted(*QUIET_LOGGERS):
            sol = solve_station(win, st, warm_start=continued(prev, win, st), time_limit=limit, **solve_opts)
        version = getattr(sol, "solver_version", None) or version
        prev = (np.asarray(sol.a, float), np.asarray(sol.x, float))
        planned = prev[0].shape[0]
        a[t] = np.round(np.asarray(sol.a, float)[0])
        x[t] = np.round(np.asarray(sol.x, float)[0])
        records.append({
            "station": station, "slot": t + 1, "window_slots": t1 - t, "tail": "terminal" in solve_opts,
            "termination": sol.termination, "gap": relative_gap(sol.cost, sol.bound),
            "seconds": sol.seconds, "build_seconds": sol.build_seconds, "nodes": sol.nodes,
            "window_cost": sol.cost, "window_bound": sol.bound,
            "start_cached": int(st.cached.sum()), "start_K": float(st.K.sum()),
            "start_kappa": float(st.kappa.sum()),
        })
        log.debug("rolling: station %d, window at slot %d: %s, gap %s, %.2f s", station, t + 1,
                  sol.termination, records[-1]["gap"], sol.seconds)
        stopped += sol.termination == "time_limit"
        progress("rolling: station %d, slot %d of %d, %d windows stopped at a limit so far",
                 station, t + 1, T, stopped)
        st = step(st, a[t], x[t], data.k, data.delta)
    return a, x, records, version


@option_check("rolling")
def check_options(horizon: int, forecast: str, window_solver: str, tail: str, **_: object) -> None:
    """rolling's own option rules, in one place: run by `rolling` and by the registry's
    `check_options` (the CLI, study grids), so a bad value is refused before any run."""
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise InvalidInput("horizon", f"must be a positive integer, got {horizon!r}")
    for field, value, allowed in (("forecast", forecast, FORECASTS),
                                  ("window_solver", window_solver, WINDOW_SOLVERS), ("tail", tail, TAILS)):
        if value not in allowed:
            raise InvalidInput(field, f"must be one of {', '.join(allowed)}, got {value!r}")
    if tail == "relaxed" and window_solver != "lagrange":
        raise InvalidInput("tail", "'relaxed' needs window_solver='lagrange' (the tail is its pair graphs)")


@register("rolling", options=("horizon", "forecast", "window_solver", "tail", "time_limit",
                              "window_time_limit", "gap", "threads"))
def rolling(inst: Instance, horizon: int = 12, forecast: str = "oracle", window_solver: str = "lagrange",
            tail: str = "none", time_limit: float | None = None,
            window_time_limit: float | None = None, gap: float = WINDOW_GAP,
            threads: int = 1) -> MethodResult:
    """Rolling horizon: §6 over the next H slots (oracle or mean forecast), first slot applied."""
    check_options(horizon, forecast, window_solver, tail)
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    load_laot_from()  # the fallback's kernel, loaded inside the limit
    per_station, records, version = [], [], None
    progress = Progress(log)
    for n in range(inst.n_stations):
        a, x, rec, v = rolling_station(inst.station_data(n), int(horizon), forecast, n, window_solver,
                                       tail, deadline=deadline,
                                       windows_after=(inst.n_stations - n - 1) * inst.slots,
                                       window_time_limit=window_time_limit, threads=threads, gap=gap)
        version = v or version
        per_station.append((a, x))
        records += rec
        progress("rolling: %d of %d stations done, %.0f s", n + 1, inst.n_stations, time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    windows = pd.DataFrame(records, columns=list(WINDOW_COLUMNS))
    nodes = windows["nodes"].dropna()
    fallback = int((windows["termination"] == "fallback").sum())
    stopped = int((windows["termination"] == "time_limit").sum())
    if fallback:
        log.warning("rolling: time limit of %g s used up after %d of %d windows; the other slots "
                    "follow the previous plan, then least-AoT", time_limit, len(windows) - fallback,
                    len(windows))
    return MethodResult.from_schedule(
        inst, "rolling", Schedule.from_arrays(per_station), seconds,
        termination="time_limit" if fallback or stopped else "heuristic",
        nodes=int(nodes.sum()) if len(nodes) else None, solver="highs", solver_version=version,
        extras={"windows": windows, "horizon": int(horizon), "forecast": forecast,
                "window_solver": window_solver, "tail": tail, "time_limit": time_limit,
                "window_time_limit": window_time_limit, "windows_stopped": stopped,
                "fallback_slots": fallback})
