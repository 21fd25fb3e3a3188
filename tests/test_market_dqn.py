"""DQMSB's DQN: reproducibility, checkpoints (round trip, corrupt, mismatched), and learning (issue 5c)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from optcache.errors import InvalidInput
from optcache.market import mechanisms as M
from optcache.market.dqn import (
    DQMSB,
    FORMAT,
    VERSION,
    Args,
    load_checkpoint,
    public_features,
    reward_table,
    save_checkpoint,
    train,
)
from optcache.market.valuations import MarketConfig, Rounds, market_dataset

TINY = dict(train_instances=2, episodes=3, eval_instances=1, learning_starts=64, batch_size=32,
            market=MarketConfig(slots=40, services=6, stations=3))


@pytest.fixture(scope="module")
def tiny():
    return train(Args(seed=3, **TINY))


def test_training_is_reproducible(tiny):
    again = train(Args(seed=3, **TINY))
    for k, v in tiny.policy.net.state_dict().items():
        assert torch.equal(v, again.policy.net.state_dict()[k]), k
    cols = ["step", "epsilon", "loss", "train_reward", "total_surplus"]
    assert tiny.curve[cols].equals(again.curve[cols])
    other = train(Args(seed=4, **TINY))
    assert not torch.equal(other.policy.net.network[0].weight, tiny.policy.net.network[0].weight)


def test_training_curve_is_consistent(tiny):
    c = tiny.curve
    assert c["epoch"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(c["total_surplus"], c["ground_surplus"] + c["satellite_surplus"], rtol=1e-12)
    assert (c["efficiency"] <= 1 + 1e-12).all() and (c["efficiency"] > 0).all()
    assert c["epsilon"].is_monotonic_decreasing and c["step"].is_monotonic_increasing


def test_reward_table_hand():
    """x_(1) = 10, x_(2) = 6, v0 = 8, |A| = 4: ground iff 10 > 10^{a/4}·6, i.e. only a = 0 (1.78·6 > 10)."""
    R = 3
    r = Rounds(episode=np.zeros(R, int), slot=np.arange(R), service=np.zeros(R, int), requests=np.ones(R, int),
               c=np.ones(R), m=np.array([[6.0, 10.0, 1.0], [2.0, 2.0, 1.0], [1.0, 9.0, 2.0]]), m0=8.0,
               eligible=np.array([True, False, True]), log_inv_beta=np.ones(R), context_tokens=np.ones(R),
               x0=np.ones(R), x2_mean=np.ones(R), scored=np.ones(R, bool), n_slots=R)
    t = reward_table(r, 4)
    assert t[0].tolist() == [10, 8, 8, 8]
    assert t[1].tolist() == [2, 2, 2, 2]  # out of coverage: the top station whatever ρ
    # 9 vs 2: ground for ρ < 4.5, i.e. a = 0, 1, 2 (3.16·2 = 6.3) but not a = 3 (5.62·2 = 11.2)
    assert t[2].tolist() == [9, 9, 9, 8]


def test_checkpoint_round_trip(tiny, tmp_path):
    path = tmp_path / "policy.pt"
    save_checkpoint(tiny.policy, path, curve=tiny.curve, seconds=tiny.seconds)
    loaded, meta = load_checkpoint(path)
    assert meta["format"] == FORMAT and meta["version"] == VERSION
    assert loaded.args == tiny.policy.args
    assert loaded.state_scale == tiny.policy.state_scale
    assert meta["curve"]["epoch"] == [1.0, 2.0, 3.0]
    data = market_dataset(loaded.args.market, loaded.args.eval_seeds())
    s = tiny.policy.state(data.v, data.x0, public_features(data))
    assert np.array_equal(loaded.actions(s), tiny.policy.actions(s))
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def _save_raw(obj, path):
    torch.save(obj, path)
    return path


def _good(tiny) -> dict:
    return {"format": FORMAT, "version": VERSION, "args": tiny.policy.args.to_dict(),
            "state_dim": tiny.policy.net.network[0].in_features, "state_scale": 1.0, "reward_scale": 1.0,
            "state_dict": dict(tiny.policy.net.state_dict())}


class _Foreign:
    pass


@pytest.mark.parametrize("case, field", [
    ("garbage", None), ("truncated", None), ("foreign", None), ("list", None),
    ("format", "format"), ("version", "version"), ("unknown_arg", "args.colour"), ("bad_arg", "args.state"),
    ("scale", "state_scale"), ("shape", "state_dict.network.0.weight"), ("missing", "state_dict.network.4.bias"),
    ("extra", "state_dict.extra"), ("nan", "state_dict.network.2.weight"), ("stations", "state_dim"),
    # metadata checked before anything is allocated (issue 11): no AttributeError, no 4 TB network
    ("market_str", "args.market"), ("hidden_huge", "args.hidden"),
    ("market_field", "args.market.cloud_match"), ("market_size", "args.market.slots"),
    ("buffer_huge", "args.buffer_size"),
    # weights: a real floating dtype, finite once cast to float32 (1e300 is ∞ there)
    ("float64_huge", "state_dict.network.0.weight"), ("complex", "state_dict.network.0.weight"),
    ("bool", "state_dict.network.2.bias"), ("int", "state_dict.network.4.weight"),
    # every field is required: a default would silently change the policy or its episodes
    ("no_hidden", "args.hidden"), ("no_seed", "args.seed"), ("no_market", "args.market"),
    ("no_slots", "args.market.slots"), ("no_policy", "args.market.policy"),
    ("bad_policy", "args.market.policy"),
])
def test_bad_checkpoints_are_one_invalid_input(tiny, tmp_path, case, field):
    path = tmp_path / f"{case}.pt"
    good = _good(tiny)
    if case == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif case == "truncated":
        save_checkpoint(tiny.policy, path)
        path.write_bytes(path.read_bytes()[:500])
    elif case == "foreign":
        _save_raw({"format": FORMAT, "payload": _Foreign()}, path)
    elif case == "list":
        _save_raw([1, 2, 3], path)
    elif case == "format":
        _save_raw({**good, "format": "something/else@9"}, path)
    elif case == "version":
        _save_raw({**good, "version": VERSION + 1}, path)
    elif case == "unknown_arg":
        _save_raw({**good, "args": {**good["args"], "colour": "blue"}}, path)
    elif case == "bad_arg":
        _save_raw({**good, "args": {**good["args"], "state": "telepathic"}}, path)
    elif case == "scale":
        _save_raw({**good, "state_scale": -1.0}, path)
    elif case == "shape":
        sd = dict(good["state_dict"])
        sd["network.0.weight"] = torch.zeros(3, 3)
        _save_raw({**good, "state_dict": sd}, path)
    elif case == "missing":
        sd = {k: v for k, v in good["state_dict"].items() if k != "network.4.bias"}
        _save_raw({**good, "state_dict": sd}, path)
    elif case == "extra":
        _save_raw({**good, "state_dict": {**good["state_dict"], "extra": torch.zeros(1)}}, path)
    elif case == "nan":
        sd = dict(good["state_dict"])
        sd["network.2.weight"] = torch.full_like(sd["network.2.weight"], float("nan"))
        _save_raw({**good, "state_dict": sd}, path)
    elif case == "market_str":
        _save_raw({**good, "args": {**good["args"], "market": "x"}}, path)
    elif case == "hidden_huge":
        _save_raw({**good, "args": {**good["args"], "hidden": 10**6}}, path)
    elif case == "market_field":
        _save_raw({**good, "args": {**good["args"], "market": {**good["args"]["market"],
                                                               "cloud_match": "x"}}}, path)
    elif case == "market_size":
        _save_raw({**good, "args": {**good["args"], "market": {**good["args"]["market"],
                                                               "slots": 10**9}}}, path)
    elif case == "buffer_huge":
        # 10**7 transitions of the literal state (N + 1 + 3 = 7 features): 7e7 floats per array
        _save_raw({**good, "args": {**good["args"], "buffer_size": 10**7, "state": "literal"}}, path)
    elif case in ("float64_huge", "complex", "bool", "int"):
        key = {"float64_huge": "network.0.weight", "complex": "network.0.weight", "bool": "network.2.bias",
               "int": "network.4.weight"}[case]
        w = good["state_dict"][key]
        bad = {"float64_huge": torch.full(w.shape, 1e300, dtype=torch.float64),
               "complex": w.to(torch.complex64), "bool": torch.ones(w.shape, dtype=torch.bool),
               "int": torch.ones(w.shape, dtype=torch.int64)}[case]
        _save_raw({**good, "state_dict": {**good["state_dict"], key: bad}}, path)
    elif case in ("no_hidden", "no_seed", "no_market"):
        _save_raw({**good, "args": {k: v for k, v in good["args"].items() if k != case[3:]}}, path)
    elif case in ("no_slots", "no_policy"):
        market = {k: v for k, v in good["args"]["market"].items() if k != case[3:]}
        _save_raw({**good, "args": {**good["args"], "market": market}}, path)
    elif case == "bad_policy":
        _save_raw({**good, "args": {**good["args"], "market": {**good["args"]["market"],
                                                               "policy": "psychic"}}}, path)
    elif case == "stations":  # weights trained for 3 stations, args claiming 6
        args = {**good["args"], "market": {**good["args"]["market"], "stations": 6}}
        _save_raw({**good, "args": args}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complex cast's UserWarning is not an answer
        with pytest.raises(InvalidInput) as err:
            load_checkpoint(path)
    assert str(path) in err.value.field
    if field is not None:
        assert err.value.field.endswith(field), err.value.field
    assert "\n" not in str(err.value)


def test_bad_weights_say_what_is_wrong(tiny, tmp_path):
    good = _good(tiny)
    w = good["state_dict"]["network.0.weight"]
    for name, bad, why in [("f64", torch.full(w.shape, 1e300, dtype=torch.float64), "not finite in float32"),
                           ("cplx", w.to(torch.complex64), "dtype complex64 is not a real floating type"),
                           ("int", torch.ones(w.shape, dtype=torch.int32), "dtype int32 is not a real floating type")]:
        path = _save_raw({**good, "state_dict": {**good["state_dict"], "network.0.weight": bad}},
                         tmp_path / f"{name}.pt")
        with pytest.raises(InvalidInput, match=why) as err:
            load_checkpoint(path)
        assert err.value.field == f"{path}: state_dict.network.0.weight"
    # finite float64 weights are cast, not refused: the same actions as the float32 original
    path = _save_raw({**good, "state_dict": {k: v.double() for k, v in good["state_dict"].items()}},
                     tmp_path / "double.pt")
    loaded, _ = load_checkpoint(path)
    s = np.random.default_rng(0).random((50, good["state_dim"]))
    assert np.array_equal(loaded.actions(s), tiny.policy.actions(s))


def test_overflowing_q_values_are_refused(tiny, tmp_path):
    """Finite float32 weights of 3e38 load, but their Q-values overflow to ∞ - ∞ = NaN: acting on
    them would pick an arbitrary level, so evaluation refuses and names the checkpoint."""
    good = _good(tiny)
    w = good["state_dict"]["network.0.weight"]
    path = _save_raw({**good, "state_dict": {**good["state_dict"],
                                             "network.0.weight": torch.full(w.shape, 3e38)}}, tmp_path / "big.pt")
    loaded, _ = load_checkpoint(path)
    s = np.ones((4, good["state_dim"]))
    with pytest.raises(InvalidInput, match="non-finite Q-values") as err:
        loaded.actions(s)
    assert err.value.field == f"{path}: state_dict"
    held = market_dataset(loaded.args.market, loaded.args.eval_seeds())
    with pytest.raises(InvalidInput, match="non-finite Q-values"):
        loaded.outcome(held.subset(held.scored))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(InvalidInput, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(InvalidInput, match="is a directory") as err:
        load_checkpoint(tmp_path)
    assert err.value.field == str(tmp_path)


def test_bad_args_name_the_field():
    with pytest.raises(InvalidInput, match="state"):
        Args(state="paper")
    with pytest.raises(InvalidInput, match="gamma"):
        Args(gamma=1.0)
    with pytest.raises(InvalidInput, match="n_actions"):
        Args(n_actions=1)
    with pytest.raises(InvalidInput, match="args.colour"):
        Args.from_dict({"colour": 1})
    # partial tables (a sweep's `train`) take defaults; a checkpoint's (`complete`) may not
    assert Args.from_dict({"hidden": 8}).hidden == 8
    with pytest.raises(InvalidInput, match="missing") as err:
        Args.from_dict({"hidden": 8}, where="ck: args", complete=True)
    assert err.value.field == "ck: args.seed"
    full = Args(hidden=8).to_dict()
    assert Args.from_dict(full, complete=True) == Args(hidden=8)
    del full["market"]["users"]
    with pytest.raises(InvalidInput, match="missing") as err:
        Args.from_dict(full, complete=True)
    assert err.value.field == "args.market.users"


def test_training_without_rounds_says_why():
    """No round to learn from is bad input whose message names the cause: episodes without any
    request have no auction rounds at all (`market train --users 0`); with rounds, none in the
    satellite's coverage."""
    from dataclasses import replace

    args = Args(seed=3, **TINY)
    data = market_dataset(args.market, args.train_seeds())
    held = market_dataset(args.market, args.eval_seeds())
    assert data.n > 0 and data.eligible.any()
    with pytest.raises(InvalidInput, match="no requests, hence no auction rounds") as err:
        train(args, train_data=data.subset(np.zeros(data.n, bool)), eval_data=held)
    assert err.value.field == "market"
    with pytest.raises(InvalidInput, match="no training round has the satellite in coverage"):
        train(args, train_data=replace(data, eligible=np.zeros(data.n, bool)), eval_data=held)


@pytest.mark.slow
def test_learning_beats_untrained_and_every_fixed_rho():
    """Issue 5(c): a small fixed-seed training run, scored on held-out episodes."""
    args = Args(seed=0, train_instances=16, episodes=32, eval_instances=4)
    res = train(args)
    ev = market_dataset(args.market, args.eval_seeds())
    ev = ev.subset(ev.scored)
    total = M.surplus(res.policy.outcome(ev), ev.v, ev.v0, ev.eligible)["total_surplus"]
    untrained = M.surplus(DQMSB.untrained(args).outcome(ev), ev.v, ev.v0, ev.eligible)["total_surplus"]
    assert total == pytest.approx(res.curve["total_surplus"].iloc[-1], rel=1e-12)
    assert total > untrained
    # every fixed ρ = 10^{a/|A|} of the action set, scored by the mechanism itself
    for a in range(args.n_actions):
        rho = float(M.rho_of_action(a, args.n_actions))
        fixed = M.surplus(M.msb(ev.v, ev.x0, ev.eligible, rho), ev.v, ev.v0, ev.eligible)["total_surplus"]
        assert total > fixed, f"ρ = {rho:.3f} scores {fixed:.1f} >= trained {total:.1f}"


def test_training_without_held_out_rounds_says_why():
    """Held-out episodes without requests would make every efficiency 0/0: refused, naming them."""
    args = Args(seed=3, **TINY)
    held = market_dataset(args.market, args.eval_seeds())
    with pytest.raises(InvalidInput, match="held-out episodes have no auction rounds") as err:
        train(args, eval_data=held.subset(np.zeros(held.n, bool)))
    assert err.value.field == "eval_instances"


def test_policy_refuses_another_number_of_stations(tiny):
    """The Q-network's input size depends on N: other bids are one InvalidInput, not a torch error."""
    pol = tiny.policy
    x = np.ones((2, 4))  # trained on 3 stations
    with pytest.raises(InvalidInput, match="expects 3") as err:
        pol.mechanism(x, 1.0, None, np.zeros((2, 3)))
    assert err.value.field == "bids"
    other = market_dataset(MarketConfig(slots=40, services=6, stations=2), [7, 8])
    with pytest.raises(InvalidInput, match="expects 3") as err:
        pol.outcome(other)
    assert err.value.field == "rounds"


# --------------------------------------------------------------------------- Args and train (sweep 9, items 20, 23)
SMALL = MarketConfig(slots=12, services=2, stations=3, users=5, gpus=2)
FEW = dict(episodes=3, train_instances=2, eval_instances=2, learning_starts=0, batch_size=4, hidden=8,
           buffer_size=100)


def test_training_efficiencies_stay_within_one():
    """This run's untrained policy and curve reached the first-best and read 1.0000000000000002."""
    res = train(Args(seed=3, market=SMALL, **FEW))
    assert res.untrained["efficiency"] == 1.0
    assert res.curve["efficiency"].between(0, 1).all() and res.curve["efficiency"].max() == 1.0


def test_args_take_numpy_numbers_as_their_values():
    """np.float32(0.5) was 'out of range' while np.float64 passed; numpy values are stored as Python
    numbers (a checkpoint and config_key hold them)."""
    a = Args(gamma=np.float32(0.5), learning_rate=np.float32(0.25), tau=np.float64(0.5), seed=np.int64(2),
             hidden=np.int32(8))
    assert (a.gamma, a.learning_rate, a.tau, a.seed, a.hidden) == (0.5, 0.25, 0.5, 2, 8)
    assert all(type(getattr(a, k)) is float for k in ("gamma", "learning_rate", "tau"))
    assert type(a.seed) is int and type(a.hidden) is int
    assert a == Args(gamma=0.5, learning_rate=0.25, tau=0.5, seed=2, hidden=8)
    b = Args(public_features=np.bool_(False), market=MarketConfig(cloud_match=np.float32(200.0)))
    assert b.public_features is False and type(b.market.cloud_match) is float
    from optcache.market.dqn import config_key

    assert config_key(b) == config_key(Args(public_features=False, market=MarketConfig(cloud_match=200.0)))
    with pytest.raises(InvalidInput, match=r"must be a number in \[0, 1\], got nan") as e:
        Args(gamma=np.float32("nan"))
    assert e.value.field == "gamma"
    with pytest.raises(InvalidInput, match="must be an integer") as e:
        Args(hidden=np.float64(8.0))
    assert e.value.field == "hidden"


def test_exploration_may_not_decay_upward():
    with pytest.raises(InvalidInput, match="must be <= start_e = 0.1") as e:
        Args(start_e=0.1, end_e=0.9)
    assert e.value.field == "end_e"
    assert Args(start_e=0.5, end_e=0.5).end_e == 0.5


@pytest.mark.parametrize("name, value, fragment", [
    ("episodes", 0, "must be an integer in [1, 1000000], got 0"),
    ("hidden", -1, "must be an integer in [1, 1024], got -1"),
    ("learning_rate", float("nan"), "must be a number in (0, 1], got nan"),
    ("learning_rate", 1e308, "must be a number in (0, 1], got 1e+308"),
    ("state", "paper", "must be one of critical, literal"),
    ("market", {"slots": 0}, "slots"),
])
def test_train_checks_args_set_after_construction(name, value, fragment):
    """Args is mutable: episodes = 0 gave an empty curve, hidden = -1 a raw torch RuntimeError."""
    args = Args(seed=0, market=SMALL, **FEW)
    setattr(args, name, value)
    with pytest.raises(InvalidInput) as e:
        train(args)
    assert e.value.field.startswith(name) and fragment in str(e.value), str(e.value)
    assert getattr(args, name) is value  # the caller's object is left as it was


def test_train_refuses_what_is_not_args_or_rounds():
    with pytest.raises(InvalidInput, match="expected an optcache.market.dqn.Args .*got dict") as e:
        train({"seed": 0})
    assert e.value.field == "args"
    args = Args(seed=0, market=SMALL, **FEW)
    for name in ("train_data", "eval_data"):
        with pytest.raises(InvalidInput, match="expected Rounds .*got list") as e:
            train(args, **{name: [1]})
        assert e.value.field == name
