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
    assert not (tmp_path / "x.pt").exists()
