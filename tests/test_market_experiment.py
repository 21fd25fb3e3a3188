"""`evaluate` and `tidy` (optcache.market.experiment): bad arguments are one InvalidInput naming
them (sweep 9, items 18 and 19); labels never replace measured columns."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from optcache.errors import InvalidInput
from optcache.market.experiment import TIDY_COLUMNS, evaluate, tidy
from optcache.market.valuations import MarketConfig, market_dataset

SMALL = MarketConfig(slots=10, services=2, stations=3, users=5, gpus=2)


@pytest.fixture(scope="module")
def held():
    d = market_dataset(SMALL, [0, 1, 2])
    return d.subset(d.scored)


@pytest.fixture(scope="module")
def result(held):
    return evaluate(held)


def test_evaluate_refuses_bad_arguments(held):
    from optcache.market.dqn import DQMSB, Args

    policy = DQMSB.untrained(Args(market=SMALL))
    cases = [
        (lambda: evaluate(None), "rounds", "expected the Rounds of a market dataset"),
        (lambda: evaluate({"v": 1}), "rounds", "got dict"),
        (lambda: evaluate(held, ["x"]), "policies", "expected a mapping of name → DQMSB policy, got list"),
        (lambda: evaluate(held, {"dqmsb": object()}), "policies.dqmsb", "expected a trained DQMSB policy, got object"),
        (lambda: evaluate(held, {"spa": policy}), "policies", "other than first_best, spa"),
        (lambda: evaluate(held, {1: policy}), "policies", "got 1"),
        # m0 is the satellite's value, not its contract price
        (lambda: evaluate(replace(held, m0=-1.0)), "v0", "the satellite's value must be finite and >= 0"),
        (lambda: evaluate(replace(held, c=np.where(np.arange(held.n) == 0, np.nan, held.c))), "v",
         "ground values must be finite and >= 0"),
    ]
    for call, field, fragment in cases:
        with pytest.raises(InvalidInput) as e:
            call()
        assert e.value.field == field and fragment in e.value.message, str(e.value)
    assert set(evaluate(held, {})["mechanisms"]) == set(evaluate(held, None)["mechanisms"])
    assert "dqmsb" in evaluate(held, {"dqmsb": policy})["mechanisms"]


def test_tidy_labels_are_extra_columns_only(result):
    measured = tidy(result)["efficiency"].tolist()
    for name in ("efficiency", "mechanism", "total_surplus"):
        with pytest.raises(InvalidInput, match="is a column tidy fills from the result") as e:
            tidy(result, **{name: 5})
        assert e.value.field == name
    assert set(TIDY_COLUMNS) >= {"efficiency", "mechanism"}
    with pytest.raises(InvalidInput, match="one value for every row, got list") as e:
        tidy(result, seed=[1, 2])
    assert e.value.field == "seed"
    t = tidy(result, seed=np.int64(3), market="small")
    assert t["efficiency"].tolist() == measured and (t["seed"] == 3).all() and (t["market"] == "small").all()
    assert t["mechanism"].iloc[0] == "first_best" and t["efficiency"].iloc[0] == 1.0


@pytest.mark.parametrize("bad", [None, {"first_best": {}}, {"first_best": {}, "mechanisms": {"spa": 1}}, "x"])
def test_tidy_refuses_what_is_not_a_result(bad):
    with pytest.raises(InvalidInput, match="expected evaluate\\(\\)'s result") as e:
        tidy(bad)
    assert e.value.field == "result"
