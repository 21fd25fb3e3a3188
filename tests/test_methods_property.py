"""Every registered method: an evaluator-feasible schedule, never below the certified bound of `milp`.

Instances are drawn by hypothesis, tiny (≤ 4 slots, ≤ 3 pairs) so that the exact methods stay fast,
with tight memory, windows and budgets so that evictions, refreshes and budget cuts all happen.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optcache.evaluator import evaluate
from optcache.instance import Instance, Model, Pair, Service, Station
from optcache.solvers import registry

OPTIONS = {"threads": 1, "horizon": 2, "time_limit": 30.0}
"""Options handed to the methods that take them."""

VARIANTS = [("rolling", {"window_solver": "milp"}), ("rolling", {"tail": "relaxed"}),
            ("rolling", {"tail": "relaxed", "forecast": "mean"})]
"""Non-default options also checked (on top of every method with its defaults)."""


@st.composite
def instances(draw) -> Instance:
    T = draw(st.integers(1, 4))
    P = draw(st.integers(1, 3))
    N = draw(st.integers(1, 2))
    i = st.integers
    models = tuple(Model(f"m{p}", float(draw(i(1, 3))), float(draw(i(0, 3))), draw(i(5, 60)))
                   for p in range(P))
    services = tuple(Service(f"s{p}", float(draw(i(0, 3))), draw(i(0, 12))) for p in range(P))
    pairs = tuple(Pair(p, p, draw(st.sampled_from([0.0, 0.3, 0.9])),
                       draw(st.sampled_from([0.2, 0.5, 0.8])), draw(st.sampled_from([0.0, 1.0, 6.0])),
                       draw(st.sampled_from([0.0, 0.5, 2.0]))) for p in range(P))
    stations = tuple(
        Station(f"n{n}", float(draw(i(0, 6))), float(draw(i(0, 80))), 4.0, 2.0,
                tuple(float(draw(i(0, 1))) for _ in range(P)),
                np.array(draw(st.lists(i(0, 3), min_size=T * P, max_size=T * P)), np.int64).reshape(T, P))
        for n in range(N))
    return Instance(T, draw(st.sampled_from([0.0, 0.1, 1.0])), 1.0, models, services, pairs, stations)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances())
def test_every_method_is_feasible_and_above_the_bound(inst):
    opt = registry.run("milp", inst, threads=1)
    assert opt.status == "ok" and opt.bound is not None
    assert opt.bound <= opt.cost * (1 + 1e-6) + 1e-9
    for name, extra in [(n, {}) for n in registry.names()] + VARIANTS:
        spec = registry.get(name)
        res = registry.run(name, inst, **{k: v for k, v in OPTIONS.items() if k in spec.options}, **extra)
        assert res.status == "ok", (name, res.status)
        ev = evaluate(inst, res.schedule)
        assert ev.feasible, (name, ev.violations[:3])
        assert res.cost == ev.cost
        assert res.cost >= opt.bound - 1e-6 * max(1.0, abs(opt.bound)), (name, res.cost, opt.bound)
        if spec.exact and res.bound is not None:  # another exact method's bound is below milp's cost
            assert res.bound <= opt.cost + 1e-6 * max(1.0, abs(opt.cost)), (name, res.bound)
