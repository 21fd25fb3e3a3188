"""Rolling horizon (docs/formulation.md §10): forecasts, window bookkeeping, and H = T with the oracle = §6."""

from __future__ import annotations

import sys
import time
import types
from dataclasses import replace

import numpy as np
import pytest

from optcache.dynamics import State, final_state, step
from optcache.errors import InvalidInput
from optcache.evaluator import evaluate_station
from optcache.instance import Instance, Model, Pair, Service, Station
from optcache.scenario import generate
from optcache.solvers import registry
from optcache.solvers.exact import StationSolve
from optcache.solvers.highs import highs_version
from optcache.solvers.lagrange import lagrange_station
from optcache.solvers.policies import laot_slot, replace_station
from optcache.solvers.policies_fast import laot_from, load_laot_from
from optcache.solvers.rolling import WINDOW_COLUMNS, RelaxedTail, forecast_window
from optcache.solvers.serve import keep_and_serve
from tests.bruteforce import brute_force, random_tiny
from tests.test_lagrange import random_state

SMALL = dict(slots=6, services=3, gpus=8, stations=1)  # ~0.1 s of HiGHS each, pairs do get cached


# ------------------------------------------------------------------ forecasts by hand
R = np.array([[1, 0, 4],
              [2, 0, 1],
              [0, 0, 0],
              [5, 3, 2]])


def test_oracle_forecast_is_the_true_future():
    np.testing.assert_array_equal(forecast_window(R, 1, 4, "oracle"), R[1:4])
    np.testing.assert_array_equal(forecast_window(R, 3, 4, "oracle"), R[3:4])  # shrinks at the end


def test_mean_forecast_rounds_half_up():
    # at slot 2 (t = 1) slots 1..2 are seen: means (1+2)/2 = 1.5 -> 2, 0 -> 0 (never seen), 2.5 -> 3;
    # slot 2 itself is known: [2, 0, 1]
    np.testing.assert_array_equal(forecast_window(R, 1, 4, "mean"), [[2, 0, 1], [2, 0, 3], [2, 0, 3]])
    # at slot 3 (t = 2): means 3/3 = 1, 0, 5/3 = 1.67 -> 2; slot 3 known: zeros
    np.testing.assert_array_equal(forecast_window(R, 2, 4, "mean"), [[0, 0, 0], [1, 0, 2]])
    # at slot 1 only slot 1 is seen: the forecast repeats it
    np.testing.assert_array_equal(forecast_window(R, 0, 3, "mean"), [[1, 0, 4]] * 3)


# ------------------------------------------------------------------ the loop, with a fake solver
def test_windows_states_and_forecasts_with_a_fake_solver(monkeypatch):
    # The fake solver caches pair 0 in every slot and serves all its requests; it records what it
    # was given. Instance: generate(slots=4, services=2, stations=1), H = 3, mean forecast.
    inst = generate(slots=4, services=2, stations=1, seed=2)
    data = inst.station_data(0)
    seen = []

    def solve_station(win, state0=None, **opts):
        seen.append((win.R.copy(), state0, opts))
        a = np.zeros((win.T, win.P))
        a[:, 0] = 1
        x = a * win.R
        return StationSolve(a, x, 10.0, 9.0, "optimal", 0.5, 0.25, 7, 1)

    registry.names()  # register the real methods first: the fake module must not replace them
    fake = types.ModuleType("optcache.solvers.exact")
    fake.solve_station = solve_station
    monkeypatch.setitem(sys.modules, "optcache.solvers.exact", fake)
    res = registry.run("rolling", inst, horizon=3, forecast="mean", window_solver="milp",
                       window_time_limit=5.0)

    Rt = data.R
    assert [w.shape[0] for w, _, _ in seen] == [3, 3, 2, 1]  # windows shrink at the end
    for t, (w, _, opts) in enumerate(seen):
        np.testing.assert_array_equal(w, forecast_window(Rt, t, min(t + 3, 4), "mean"))
        assert opts["time_limit"] == 5.0 and opts["threads"] == 1
    # warm starts: the previous plan from its second slot, x cut to the new window's requests, the
    # slots past it least-AoT's from the state the plan reaches (the first window: least-AoT from
    # the start). Window lengths 3, 3, 2, 1 -> shifted parts of length 2, 2, 1.
    def window(t):
        return data.window(t, min(t + 3, 4), R=forecast_window(Rt, t, min(t + 3, 4), "mean"))

    wa, wx = seen[0][2]["warm_start"]
    la, lx, _ = laot_from(window(0), seen[0][1], 0)
    np.testing.assert_array_equal(wa, la)
    np.testing.assert_array_equal(wx, lx)
    for t, n_kept, length in [(1, 2, 3), (2, 2, 2), (3, 1, 1)]:
        wa, wx = seen[t][2]["warm_start"]
        prev_R, new_R = seen[t - 1][0], seen[t][0]
        np.testing.assert_array_equal(wa[:n_kept, 0], 1)
        np.testing.assert_array_equal(wa[:n_kept, 1], 0)
        np.testing.assert_array_equal(wx[:n_kept, 0], np.minimum(prev_R[1:n_kept + 1, 0], new_R[:n_kept, 0]))
        if n_kept < length:
            w = window(t)
            reached = final_state(wa[:n_kept], wx[:n_kept], w.k, w.delta, seen[t][1])
            la, lx, _ = laot_from(w, reached, n_kept)
            np.testing.assert_array_equal(wa[n_kept:], la)
            np.testing.assert_array_equal(wx[n_kept:], lx)
    # the state handed to slot t+1 is the §4 step of the applied slot: pair 0 accumulates k·R
    k0, d0 = data.k[0], data.delta[0]
    K = kappa = 0.0
    for t, (_, state, _) in enumerate(seen):
        assert state.K[0] == pytest.approx(K) and state.kappa[0] == pytest.approx(kappa)
        assert state.cached[0] == (1.0 if t > 0 else 0.0) and state.cached[1] == 0.0
        K, kappa = K + k0 * Rt[t, 0], max(kappa + k0 * Rt[t, 0] - d0, 0.0)
    sched = res.schedule.stations[0]
    np.testing.assert_array_equal(sched.cached[:, 0], 1)
    np.testing.assert_array_equal(sched.edge_requests[:, 0], Rt[:, 0])
    win = res.extras["windows"]
    assert list(win.columns) == list(WINDOW_COLUMNS)
    assert win["slot"].tolist() == [1, 2, 3, 4] and win["window_slots"].tolist() == [3, 3, 2, 1]
    assert win["start_cached"].tolist() == [0, 1, 1, 1]
    assert win["gap"].tolist() == pytest.approx([0.1] * 4)  # (10 - 9)/10
    assert res.nodes == 28 and res.bound is None and res.termination == "heuristic"


@pytest.mark.parametrize("opts,field", [({"horizon": 0}, "horizon"), ({"horizon": 2.5}, "horizon"),
                                        ({"forecast": "median"}, "forecast"),
                                        ({"window_solver": "cplex"}, "window_solver"),
                                        ({"solver": "lagrange"}, "solver"), ({"tail": "exact"}, "tail"),
                                        ({"tail": "relaxed", "window_solver": "milp"}, "tail"),
                                        ({"window_time_limit": 0}, "window_time_limit"),
                                        ({"tabu": 1}, "tabu")])
def test_bad_options_are_invalid_input(opts, field):
    with pytest.raises(InvalidInput) as e:
        registry.run("rolling", generate(slots=2, services=2, stations=1), **opts)
    assert e.value.field == field


# ------------------------------------------------------------------ with the exact solver
@pytest.mark.parametrize("solver", ["lagrange", "milp"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oracle_with_full_horizon_equals_the_milp_optimum(seed, solver):
    inst = generate(seed=seed, **SMALL)
    opt = registry.run("milp", inst, threads=1)
    assert opt.termination == "optimal"
    roll = registry.run("rolling", inst, horizon=inst.slots, forecast="oracle", window_solver=solver,
                        threads=1)
    assert roll.status == "ok"
    assert roll.cost == pytest.approx(opt.cost, rel=1e-6)
    win = roll.extras["windows"]
    assert len(win) == inst.slots and (win["termination"] == "optimal").all()
    # the first window is the whole problem: its bound is §6's bound
    assert win["window_bound"].iloc[0] <= opt.cost * (1 + 1e-6)


@pytest.mark.parametrize("forecast", ["oracle", "mean"])
def test_short_horizons_are_feasible_and_above_the_bound(forecast):
    inst = generate(seed=4, **{**SMALL, "stations": 2})
    opt = registry.run("milp", inst, threads=1)
    roll = registry.run("rolling", inst, horizon=2, forecast=forecast, threads=1)
    assert roll.status == "ok" and roll.evaluation.feasible
    assert roll.cost >= opt.bound * (1 - 1e-9)
    win = roll.extras["windows"]
    assert len(win) == inst.n_stations * inst.slots
    assert win.groupby("station")["slot"].apply(list).tolist() == [list(range(1, 7))] * 2
    # the recorded start state is the schedule's previous slot
    for n in range(inst.n_stations):
        a = roll.schedule.stations[n].cached
        starts = win[win["station"] == n]["start_cached"].to_numpy()
        np.testing.assert_array_equal(starts, np.concatenate([[0], a[:-1].sum(axis=1)]))


# ------------------------------------------------------------------ the relaxed tail
@pytest.mark.parametrize("seed", range(30))
def test_window_with_relaxed_tail_equals_brute_force(seed):
    # A window over slots t0+1..t0+h plus the relaxed tail is the problem over t0+1..T in which
    # memory and budget couple the pairs only in the window: brute force enumerates exactly that.
    rng = np.random.default_rng(9100 + seed)
    d = random_tiny(rng).station_data(0)
    t0 = int(rng.integers(0, d.T - 1)) if seed % 2 else 0  # every other one from a carried-in state
    st = random_state(rng, d) if t0 else State.cold(d.P)
    rest = d.window(t0, d.T)
    h = int(rng.integers(1, rest.T))  # the window; rest.T - h ≥ 1 tail slots
    tail = RelaxedTail(rest, st, t0)
    s = lagrange_station(rest.window(0, h), st, gap=1e-9, terminal=tail.after(t0 + h - 1))
    opt, _, _ = brute_force(rest, st.cached, st.K, st.kappa, couple_until=h)
    # slot-sum units: the window's objective is averaged over its h slots
    assert s.cost * h == pytest.approx(opt * rest.T, rel=1e-9, abs=1e-12)
    assert s.bound <= s.cost * (1 + 1e-12)
    # the window's schedule is feasible, and its objective is the evaluator's cost plus the tail
    ev = evaluate_station(rest.window(0, h), s.a, s.x, st)
    assert not ev.violations
    end = ev.kappa[-1], ev.K[-1], s.a[-1]
    tail_sum = sum(tail.value(p, t0 + h - 1, end[2][[p]], end[1][[p]], end[0][[p]])[0] for p in range(d.P))
    assert s.cost == pytest.approx(ev.cost + tail_sum / h, rel=1e-12, abs=1e-15)


def uncoupled(inst):
    """The same instance with memory and budget too large to bind: pairs independent."""
    return replace(inst, stations=tuple(replace(s, gpu_memory_gb=1e9, compute_budget_flops=1e30)
                                        for s in inst.stations))


@pytest.mark.parametrize("horizon", [1, 2, 4])
def test_relaxed_tail_is_exact_when_nothing_couples_the_pairs(horizon):
    # Without coupling the tail is the true cost-to-go, so by the principle of optimality every
    # window's first slot starts an optimal schedule: the rolling cost is the optimum at any H.
    inst = uncoupled(generate(seed=5, **SMALL))
    opt = registry.run("milp", inst, threads=1)
    assert opt.termination == "optimal"
    roll = registry.run("rolling", inst, horizon=horizon, forecast="oracle", tail="relaxed")
    assert roll.cost == pytest.approx(opt.cost, rel=1e-6)
    if horizon == 1:  # without the tail a one-slot window is myopic here
        plain = registry.run("rolling", inst, horizon=1, forecast="oracle")
        assert plain.cost > opt.cost * (1 + 1e-3)


@pytest.mark.parametrize("forecast", ["oracle", "mean"])
def test_relaxed_tail_is_feasible_and_above_the_bound(forecast):
    inst = generate(seed=4, **{**SMALL, "stations": 2})
    opt = registry.run("milp", inst, threads=1)
    roll = registry.run("rolling", inst, horizon=2, forecast=forecast, tail="relaxed")
    assert roll.status == "ok" and roll.evaluation.feasible
    assert roll.cost >= opt.bound * (1 - 1e-9)
    assert roll.extras["tail"] == "relaxed" and roll.extras["window_solver"] == "lagrange"
    assert (roll.extras["windows"]["termination"] == "optimal").all()
    w = roll.extras["windows"]  # every window that ends before T has the tail, the others cannot
    assert (w["tail"] == (w["slot"] + w["window_slots"] - 1 < inst.slots)).all() and w["tail"].any()


# ------------------------------------------------------------------ the time limit of the whole method
def test_time_limit_is_shared_by_the_windows_then_the_slots_fall_back(monkeypatch):
    # A fake window solver that takes 50 ms and loads pair 0; 2 stations × 6 slots = 12 windows.
    # time_limit=0.3 covers the whole method: each window gets the time left over the windows
    # left, capped by window_time_limit; once it is used up, slots are decided without a solve.
    inst = generate(slots=6, services=2, stations=2, seed=2)
    limits = []

    def solve_station(win, state0=None, *, time_limit=None, **opts):
        limits.append((time_limit, time.perf_counter()))
        time.sleep(0.05)
        a = np.zeros((win.T, win.P))
        a[:, 0] = 1
        return StationSolve(a, a * win.R, 10.0, 9.0, "optimal", 0.05, 0.0, 1, 1)

    registry.names()
    load_laot_from()  # numba's start-up (~0.5 s in a fresh process) is inside the limit: done here
    fake = types.ModuleType("optcache.solvers.exact")
    fake.solve_station = solve_station
    monkeypatch.setitem(sys.modules, "optcache.solvers.exact", fake)
    t0 = time.perf_counter()
    res = first = registry.run("rolling", inst, horizon=3, window_solver="milp", time_limit=0.3,
                               window_time_limit=0.02)
    wall = time.perf_counter() - t0
    win = res.extras["windows"]
    solved = win[win["termination"] != "fallback"]
    assert len(win) == 12 and 3 <= len(solved) <= 7  # ~0.3 s / 0.05 s per window
    assert (win["termination"].iloc[len(solved):] == "fallback").all()  # no solve after the end
    assert res.extras["fallback_slots"] == 12 - len(solved) and res.termination == "time_limit"
    assert limits[0][0] == pytest.approx(0.02)  # min(window_time_limit, 0.3 / 12 windows)
    assert all(0 < lim <= 0.02 + 1e-12 for lim, _ in limits)
    assert wall < 0.3 + 0.1  # at most one window's overrun
    # without window_time_limit a window gets the even share of the time left
    limits.clear()
    res = registry.run("rolling", inst, horizon=3, window_solver="milp", time_limit=1.2)
    t_first = limits[0][1]
    for lim, t in limits:
        left_then = 1.2 - (t - t_first)
        assert lim <= left_then + 1e-3
    assert limits[0][0] == pytest.approx(1.2 / 12, rel=0.05)
    assert res.status in ("ok", "warning") and len(res.extras["windows"]) == 12
    # in the first run, the slots after a station's last solved window follow its plan (pair 0
    # cached) while it lasts (H - 1 = 2 slots), then take least-AoT's slot from the state reached;
    # a station with no solved window is least-AoT from a cold start
    assert first.evaluation.feasible

    for n, sched in enumerate(first.schedule.stations):
        d = inst.station_data(n)
        rows = win[win["station"] == n].reset_index(drop=True)
        st, since = State.cold(d.P), None
        for t in range(d.T):
            if rows.loc[t, "termination"] != "fallback":
                since = 0
            elif since is not None and since < 2:
                since += 1
                np.testing.assert_array_equal(sched.cached[t], [1.0, 0.0])
            else:
                since = None
                a_t, x_t = laot_slot(d, st, t)
                np.testing.assert_array_equal(sched.cached[t], a_t)
                np.testing.assert_array_equal(sched.edge_requests[t], x_t)
            st = step(st, sched.cached[t], sched.edge_requests[t], d.k, d.delta)
        if not (solved["station"] == n).any():
            np.testing.assert_array_equal(sched.cached, replace_station(d, "laot")[0])


def test_fallback_with_no_time_at_all_is_least_aot():
    # with a time limit too short for any window, every slot is decided by the cheap rule, least-
    # AoT's slot from the state reached: from a cold start that is least-AoT itself (keeping the
    # cache, the rule before, never loaded a pair: all-cloud's cost, 3.2× least-AoT's at scale)
    inst = generate(slots=5, services=3, stations=1, seed=1)
    laot = registry.run("laot", inst)
    assert laot.cost < registry.run("all-cloud", inst).cost
    res = registry.run("rolling", inst, horizon=3, time_limit=1e-9)
    assert res.termination == "time_limit" and res.status == "ok" and res.evaluation.feasible
    assert (res.extras["windows"]["termination"] == "fallback").all()
    assert res.cost == pytest.approx(laot.cost, rel=1e-12)
    slot = registry.run("slot", inst, time_limit=1e-9)
    assert slot.termination == "time_limit" and slot.extras["fallback_slots"] == 5
    assert slot.evaluation.feasible and slot.cost == pytest.approx(laot.cost, rel=1e-12)


# ------------------------------------------------------------------ the fallback rule, by hand
def hand_station(R, k, e, w, G, E) -> Instance:
    """One station, pair p = service p on model p (1 GB each), with the thought lengths k, FLOP
    per token e, context windows w, GPU memory G, compute budget E and requests R given."""
    P = len(k)
    models = tuple(Model(f"m{p}", 1.0, float(e[p]), int(w[p])) for p in range(P))
    services = tuple(Service(f"s{p}", 1.0, int(k[p])) for p in range(P))
    pairs = tuple(Pair(p, p, 0.5, 0.5, 0.6, 0.04) for p in range(P))
    station = Station("n0", float(G), float(E), 100.0, 10.0, (1e-4,) * P, np.asarray(R, np.int64))
    return Instance(len(R), 0.1, 1.0, models, services, pairs, (station,))


def test_keep_and_serve_by_hand():
    # docs/formulation.md §8 step 3 on a hand-made station of 4 pairs, slot t = 1 (0-based):
    #   k = [2, 1, 1, 3] tokens/request, e = [1, 1, 2, 1] FLOP/token -> e·k = [2, 1, 2, 3] FLOP/request
    #   w = [100, 100, 50, 50], E = 12 FLOP/slot, G = 3 GB (1 GB per pair)
    #   state: cached [1, 0, 1, 1], K = [91, 0, 4, 10]; R[1] = [5, 6, 4, 2]
    #   order (decreasing R, ties by index): p1 (6), p0 (5), p2 (4), p3 (2)
    # Keep the cache, a = [1, 0, 1, 1]:
    #   p1: not cached                                              -> x = 0
    #   p0: budget 0 + 2·5 = 10 ≤ 12 but window 91 + 2·5 = 101 > 100 -> x = 0 (uses no budget)
    #   p2: budget 0 + 2·4 = 8 ≤ 12, window 4 + 1·4 = 8 ≤ 50       -> x = 4, used 8
    #   p3: window 10 + 3·2 = 16 ≤ 50 but budget 8 + 3·2 = 14 > 12   -> x = 0 (alone 6 would fit)
    #   (had p0 ignored its window it would take 10 of the budget and block p2.)
    # A plan's cache a = [0, 1, 1, 0] (p1 loaded from K = 0, p0 and p3 dropped; memory 2 ≤ 3):
    #   p1: budget 1·6 = 6 ≤ 12, window 0 + 1·6 = 6 ≤ 100           -> x = 6, used 6
    #   p2: budget 6 + 2·4 = 14 > 12                                 -> x = 0
    # Slot 0's requests [1, 1, 1, 1] would serve p0 (91 + 2 ≤ 100): the slot's own row is used.
    inst = hand_station(R=[[1, 1, 1, 1], [5, 6, 4, 2]], k=[2, 1, 1, 3], e=[1, 1, 2, 1],
                        w=[100, 100, 50, 50], G=3, E=12)
    d = inst.station_data(0)
    st = State(np.array([1.0, 0, 1, 1]), np.array([91.0, 0, 4, 10]), np.array([3.0, 0, 1, 2]))
    for plan, want_a, want_x in [(None, [1, 0, 1, 1], [0, 0, 4, 0]),
                                 (np.array([0.0, 1, 1, 0]), [0, 1, 1, 0], [0, 6, 0, 0])]:
        a, x = keep_and_serve(d, st, 1, plan)
        np.testing.assert_array_equal(a, want_a)
        np.testing.assert_array_equal(x, want_x)
        ev = evaluate_station(d.window(1, 2), a[None], x[None], st, slot0=1)
        assert not ev.violations
    np.testing.assert_array_equal(st.cached, [1, 0, 1, 1])  # the state is not changed


def test_fallback_follows_the_last_plan_then_least_aot(monkeypatch):
    # One station, T = 6, H = 4, oracle. The fake window solver is called once: it sleeps past the
    # deadline, so slots 2..6 fall back. Its plan for slots 1..4 caches {0}, {1}, {0}, {0, 2} and
    # serves all their requests. Pairs: k = [2, 1, 1] tokens/request, e = 1 FLOP/token (e·k = k),
    # w = [20, 100, 100], E = 10 FLOP/slot, G = 2 GB (1 GB per pair).
    R = [[3, 0, 0], [2, 4, 0], [4, 0, 1], [2, 0, 3], [3, 0, 5], [5, 1, 4]]
    inst = hand_station(R=R, k=[2, 1, 1], e=[1, 1, 1], w=[20, 100, 100], G=2, E=10)
    plan = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 1]], float)
    calls = []

    def solve_station(win, state0=None, *, time_limit=None, **opts):
        calls.append(win.T)
        # time_limit = (time left)/6 windows: sleeping 6× it (and a bit) passes the deadline
        time.sleep(6 * time_limit + 0.02)
        return StationSolve(plan, plan * win.R, 10.0, 9.0, "optimal", 0.1, 0.0, 1, 1)

    registry.names()
    highs_version()  # imported before the clock starts
    fake = types.ModuleType("optcache.solvers.exact")
    fake.solve_station = solve_station
    monkeypatch.setitem(sys.modules, "optcache.solvers.exact", fake)
    res = registry.run("rolling", inst, horizon=4, window_solver="milp", time_limit=0.25)
    assert calls == [4]  # window 1 only
    win = res.extras["windows"]
    assert win["termination"].tolist() == ["optimal"] + ["fallback"] * 5
    assert res.extras["fallback_slots"] == 5 and res.termination == "time_limit"
    # By hand (K after each slot; a pair not cached has K = 0):
    #   slot 1 (solved):  a = {0}: x0 = 3 (window's plan), K0 = 2·3 = 6
    #   slot 2 (plan):    a = {1}: p1 4 FLOP ≤ 10, K1 = 4 ≤ 100 -> x = [0, 4, 0]; p0 unloaded, K0 = 0
    #   slot 3 (plan):    a = {0}: p0 2·4 = 8 ≤ 10, K0 = 0 + 8 = 8 ≤ 20 -> x = [4, 0, 0]
    #   slot 4 (plan):    a = {0, 2}; order p2 (3), p0 (2): p2 3 FLOP, K2 = 3; p0 3 + 4 = 7 ≤ 10,
    #                     K0 = 8 + 4 = 12 ≤ 20 -> x = [2, 0, 3]
    #   slot 5 (laot):    the plan has run out: least-AoT from {0, 2}, K0 = 12, K2 = 3; no refresh
    #                     (12 + 2·3 = 18 ≤ 20); order p2 (5), p0 (3), both cached: p2 5 FLOP,
    #                     K2 = 3 + 5 = 8; p0 budget 5 + 6 = 11 > 10 -> x = [0, 0, 5]
    #   slot 6 (laot):    refresh: p0's 12 + 2·5 = 22 > 20, unloaded; order p0 (5, out for the
    #                     slot), p2 (4, cached), p1 (1): memory {2} + p1 = 2 ≤ 2 GB, p1 loaded;
    #                     serve p2 4 FLOP, then p1 1 FLOP (5 ≤ 10) -> a = {1, 2}, x = [0, 1, 4]
    #                     (keeping the cache, the rule before, kept p0 idle and left p1 to the cloud)
    sched = res.schedule.stations[0]
    np.testing.assert_array_equal(sched.cached, [[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 1],
                                                 [1, 0, 1], [0, 1, 1]])
    np.testing.assert_array_equal(sched.edge_requests, [[3, 0, 0], [0, 4, 0], [4, 0, 0], [2, 0, 3],
                                                        [0, 0, 5], [0, 1, 4]])
    assert win["start_cached"].tolist() == [0, 1, 1, 1, 2, 2]
    assert win["start_K"].tolist() == pytest.approx([0, 6, 4, 8, 15, 20])  # ΣK before each slot
    assert res.status == "ok" and res.evaluation.feasible


def test_windows_stopped_at_once_keep_least_aot_not_an_emptying_plan(monkeypatch):
    # A window stopped before it improves anything returns its warm start. That was the last plan
    # from its second slot with an empty last slot (no plan at all in the first window), so with
    # windows that never improve, rolling emptied the cache: all-cloud's cost with status ok
    # (+206 % over least-AoT on the default station at 0.5 s with milp windows, the time-limit
    # audit). The warm start's slots past the plan are now least-AoT's from the state it reaches,
    # so such windows give least-AoT exactly.
    inst = generate(slots=30, services=4, gpus=8, stations=2, seed=4)
    laot = registry.run("laot", inst)
    assert laot.cost < 0.8 * registry.run("all-cloud", inst).cost

    def solve_station(win, state0=None, *, warm_start=None, **opts):
        a, x = warm_start
        return StationSolve(a, x, 1.0, 0.0, "time_limit", 0.0, 0.0, 0, 0)

    registry.names()
    fake = types.ModuleType("optcache.solvers.exact")
    fake.solve_station = solve_station
    monkeypatch.setitem(sys.modules, "optcache.solvers.exact", fake)
    for horizon in (1, 3, 12):
        res = registry.run("rolling", inst, horizon=horizon, window_solver="milp")
        assert res.evaluation.feasible and res.cost == pytest.approx(laot.cost, rel=1e-12)
        assert res.schedule == laot.schedule


def test_relaxed_tail_that_cannot_be_built_in_time_is_dropped_not_an_error():
    # T = 1000: the tail's graphs over the whole horizon took seconds past a 0.05-s limit (built
    # without a deadline), then exceeded MAX_ARCS: status error, no schedule, at any limit
    inst = generate(slots=1000, stations=1, seed=0)
    t0 = time.perf_counter()
    res = registry.run("rolling", inst, tail="relaxed", time_limit=0.5)
    assert time.perf_counter() - t0 < 0.5 + 0.5
    assert res.status == "ok" and res.termination == "time_limit" and res.evaluation.feasible
    win = res.extras["windows"]
    assert not win["tail"].any() and len(win) == 1000
    assert res.cost <= registry.run("laot", inst).cost * (1 + 1e-12)  # least-AoT's slots at least
