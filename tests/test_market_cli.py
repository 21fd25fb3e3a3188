"""`optcache market train` / `optcache market evaluate`: the contract object and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from optcache.cli import main

SMALL = ["--episodes", "2", "--train-instances", "2", "--eval-instances", "1", "--slots", "40",
         "--services", "6", "--stations", "3", "--no-progress"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("market") / "dqmsb.pt"
    assert main(["market", "train", "--out", str(path), "--seed", "1", *SMALL]) == 0
    return path


def test_train_writes_a_checkpoint(checkpoint):
    ck = torch.load(checkpoint, weights_only=True)
    assert ck["format"] == "optcache/dqmsb@1" and ck["args"]["market"]["stations"] == 3
    assert ck["args"]["seed"] == 1 and len(ck["curve"]["epoch"]) == 2


def test_evaluate_json_contract(checkpoint, capsys):
    capsys.readouterr()
    assert main(["market", "evaluate", "--checkpoint", str(checkpoint), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"format", "first_best", "mechanisms", "rounds", "rounds_in_coverage", "seed",
                        "eval_seeds", "training", "policy", "units", "provenance"}
    assert out["format"] == "optcache/market-evaluate@1" and out["seed"] == 1
    assert out["training"]["epochs"] == 2 and out["policy"]["source"] == "checkpoint"
    assert out["rounds"] > 0 and 0 < out["rounds_in_coverage"] <= out["rounds"]
    assert out["provenance"]["seed"] == 1 and out["provenance"]["packages"]["torch"] == torch.__version__
    assert "cost units" in out["units"]["surplus"]
    assert {"spa", "myopic", "optimal", "dqmsb", "best_fixed_rho", "best_fixed_action"} <= set(out["mechanisms"])
    fb = out["first_best"]
    for name, m in out["mechanisms"].items():
        assert set(m) == {"total_surplus", "ground_surplus", "satellite_surplus", "efficiency"}, name
        assert m["total_surplus"] == pytest.approx(m["ground_surplus"] + m["satellite_surplus"], rel=1e-12)
        assert m["efficiency"] == pytest.approx(m["total_surplus"] / fb, rel=1e-12)
        assert 0 < m["efficiency"] <= 1 + 1e-12, name
    # one held-out episode, so `optimal` is MSB with one fixed ρ: the best fixed ρ in hindsight is no worse
    mech = out["mechanisms"]
    assert mech["best_fixed_rho"]["total_surplus"] >= mech["optimal"]["total_surplus"] * (1 - 1e-12)
    assert mech["best_fixed_rho"]["total_surplus"] >= mech["best_fixed_action"]["total_surplus"] * (1 - 1e-12)


def test_evaluate_table(checkpoint, capsys):
    capsys.readouterr()
    assert main(["market", "evaluate", "--checkpoint", str(checkpoint)]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [ln.split()[0] for ln in lines[2:]]
    assert names == ["first_best", "spa", "myopic", "optimal", "best_fixed_rho", "best_fixed_action", "dqmsb"]


def _one_line_error(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_corrupt_checkpoint_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage")
    err = _one_line_error(capsys, ["market", "evaluate", "--checkpoint", str(bad), "--json"])
    assert str(bad) in err and "checkpoint" in err


def test_mismatched_checkpoint_is_exit_2(checkpoint, tmp_path, capsys):
    ck = torch.load(checkpoint, weights_only=True)
    ck["state_dict"]["network.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "mismatch.pt"
    torch.save(ck, path)
    err = _one_line_error(capsys, ["market", "evaluate", "--checkpoint", str(path)])
    assert str(path) in err and "state_dict.network.0.weight" in err


def test_missing_checkpoint_and_bad_options_are_exit_2(tmp_path, capsys):
    err = _one_line_error(capsys, ["market", "evaluate", "--checkpoint", str(tmp_path / "none.pt")])
    assert "not found" in err
    err = _one_line_error(capsys, ["market", "train", "--out", str(tmp_path / "x.pt"), "--state", "psychic",
                                   "--no-progress"])
    assert "state" in err
    # each names the flag and the market's own range (were n_actions, and the scenario's [1, 100000])
    for flag, value, says in [("--actions", "1", "error: actions: must be an integer in [2, 1000], got 1"),
                              ("--stations", "0", "error: stations: must be an integer in [1, 1000], got 0")]:
        err = _one_line_error(capsys, ["market", "train", "--out", str(tmp_path / "x.pt"), flag, value,
                                       "--no-progress"])
        assert err == says
    assert not (tmp_path / "x.pt").exists()


def test_unwritable_out_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """--out (or --log) that cannot be written is one line naming it, before minutes of training."""
    import optcache.market.dqn as dqn

    def no_training(*a, **kw):
        raise AssertionError("trained although the output cannot be written")

    monkeypatch.setattr(dqn, "train", no_training)
    (tmp_path / "base.json").write_text("{}")
    (tmp_path / "adir").mkdir()
    not_dir = f"{tmp_path / 'base.json'} is not a directory"
    for out, log_csv, why in [(tmp_path / "base.json" / "x.pt", None, not_dir),
                              (tmp_path / "adir", None, "it is a directory"),
                              (tmp_path / "ok.pt", tmp_path / "base.json" / "sub" / "c.csv", not_dir)]:
        argv = ["market", "train", "--out", str(out), *SMALL] + ([] if log_csv is None else ["--log", str(log_csv)])
        err = _one_line_error(capsys, argv)
        assert err == f"error: {log_csv or out}: cannot write: {why}"
    assert not (tmp_path / "ok.pt").exists() and list((tmp_path / "adir").iterdir()) == []


def test_cache_dir_that_is_a_file_is_exit_2(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "somefile"
    blocker.write_text("not a folder")
    monkeypatch.setenv("OPTCACHE_CACHE_DIR", str(blocker))
    err = _one_line_error(capsys, ["market", "evaluate", "--json", "--no-progress"])
    assert err == f"error: OPTCACHE_CACHE_DIR: the cache folder {blocker} is not a directory"
    monkeypatch.setenv("OPTCACHE_CACHE_DIR", str(blocker / "sub"))
    err = _one_line_error(capsys, ["market", "evaluate", "--json", "--no-progress"])
    assert err.startswith(f"error: OPTCACHE_CACHE_DIR: cannot create the cache folder {blocker / 'sub'}")
    assert blocker.read_text() == "not a folder"


def test_directory_as_checkpoint_says_so(tmp_path, capsys):
    err = _one_line_error(capsys, ["market", "evaluate", "--checkpoint", str(tmp_path)])
    assert err == f"error: {tmp_path}: is a directory, not a checkpoint file"


@pytest.mark.parametrize("case, where, why", [
    ("float64_huge", "state_dict.network.0.weight", "not finite in float32"),
    ("float32_huge", "state_dict", "non-finite Q-values"),
    ("complex", "state_dict.network.0.weight", "dtype complex64 is not a real floating type"),
    ("no_hidden", "args.hidden", "missing"),
    ("no_seed", "args.seed", "missing"),
    ("no_slots", "args.market.slots", "missing"),
    ("bad_policy", "args.market.policy", "unknown caching policy 'psychic'"),
])
def test_bad_checkpoint_content_is_exit_2(checkpoint, tmp_path, capsys, case, where, why):
    """Weights that would give NaN Q-values, a missing field, a bad policy: exit 2, no numbers."""
    ck = torch.load(checkpoint, weights_only=True)
    w = ck["state_dict"]["network.0.weight"]
    if case == "float64_huge":
        ck["state_dict"]["network.0.weight"] = torch.full(w.shape, 1e300, dtype=torch.float64)
    elif case == "float32_huge":
        ck["state_dict"]["network.0.weight"] = torch.full(w.shape, 3e38)
    elif case == "complex":
        ck["state_dict"]["network.0.weight"] = w.to(torch.complex64)
    elif case in ("no_hidden", "no_seed"):
        del ck["args"][case[3:]]
    elif case == "no_slots":
        del ck["args"]["market"]["slots"]
    elif case == "bad_policy":
        ck["args"]["market"]["policy"] = "psychic"
    path = tmp_path / f"{case}.pt"
    torch.save(ck, path)
    capsys.readouterr()
    assert main(["market", "evaluate", "--checkpoint", str(path), "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith(f"error: {path}: {where}: ") and why in out.err, out.err
    assert len(out.err.strip().splitlines()) == 1, out.err


EMPTY = ["--seed", "0", "--slots", "1", "--services", "1", "--stations", "2", "--users", "1",
         "--train-instances", "20", "--episodes", "1", "--no-progress"]
"""One slot, one service, one user: the first held-out episode (the only one with --eval-instances 1
after the warm-up) has no request, so no auction round; training ones do (seed 0)."""


def test_held_out_without_rounds_is_one_line(tmp_path, capsys):
    """Was a reshape traceback in `_append`, then efficiencies of 0/0: now exit 2 naming the cause."""
    out = tmp_path / "e0.pt"
    err = _one_line_error(capsys, ["market", "train", "--out", str(out), *EMPTY, "--eval-instances", "1"])
    assert err.startswith("error: ") and "held-out episodes have no auction rounds" in err
    assert not out.exists()
    assert main(["market", "train", "--out", str(out), *EMPTY, "--eval-instances", "30"]) == 0
    err = _one_line_error(capsys, ["market", "evaluate", "--checkpoint", str(out), "--eval-instances", "1"])
    assert "held-out episodes have no auction rounds" in err


def test_rho_column_is_never_inf():
    from optcache.cli.market import rho_cell

    assert rho_cell({"rho": None, "rho_infinite": 1.0}) == "∞"
    assert rho_cell({"rho": 1.5, "rho_infinite": 0.25}) == "1.500*"
    assert rho_cell({"rho": 2.0, "rho_infinite": 0.0}) == "2.000"
    assert rho_cell({"total_surplus": 1.0}) == "-"
