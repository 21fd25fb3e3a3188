"""The plotting API's input handling: one InvalidInput naming the argument or column, nothing
drawn from impossible numbers, and `figures` writes a whole set or nothing."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from optcache import figures as F  # noqa: E402
from optcache import study as S  # noqa: E402
from optcache.errors import InvalidInput  # noqa: E402


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """Two methods over slots 3 and 4; static's rows carry an exact bound of 0.9 × its cost."""
    grid = S.Grid(methods=["all-cloud", "static"], knobs={"stations": 1, "services": 2, "slots": [3, 4]})
    df = S.run_study(grid, None, workers=1, progress=False)
    static = df["method"] == "static"
    df["exact"] = static
    df["bound"] = df["cost"].where(static) * 0.9
    return S.with_best_bound(df)


@pytest.fixture(autouse=True)
def no_figures_left():
    plt.close("all")
    yield
    plt.close("all")


def refused(call, field: str, says: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == field and says in e.value.message, e.value
    return e.value


def test_save_checks_dpi_and_format_like_figures(tmp_path):
    fig = plt.figure()
    for dpi in (0, -1, float("nan"), "150", 10**6, True, 9.0):
        refused(lambda dpi=dpi: F.save(plt.figure(), tmp_path / "x.png", dpi=dpi), "dpi",
                f"must be an integer in [10, 2400], got {dpi!r}")
    for fmt in ("bmp", "xyz", "jpg", "PNG", 3):
        refused(lambda fmt=fmt: F.save(plt.figure(), tmp_path / "x", fmt=fmt), "fmt",
                f"must be one of png, pdf, svg, got {fmt!r}")
    for name in ("x.bmp", "a.xyz", "x.jpg"):
        refused(lambda name=name: F.save(plt.figure(), tmp_path / name), str(tmp_path / name),
                "is not an image format of png, pdf, svg; pass fmt")
    refused(lambda: F.save(plt.figure(), tmp_path / "x.pdf", fmt="png"), str(tmp_path / "x.pdf"),
            "the suffix .pdf says another format than fmt='png'")
    refused(lambda: F.save("fig", tmp_path / "x.png"), "fig", "expected a matplotlib Figure")
    refused(lambda: F.save(plt.figure(), None), "path", "expected a file path")
    assert list(tmp_path.iterdir()) == [] and plt.get_fignums() == [fig.number]  # each refused figure closed
    # figures() takes the same values, under its own argument names
    refused(lambda: F.figures(pd.DataFrame(), tmp_path / "f", dpi=10**6), "--dpi", "must be an integer in [10, 2400]")
    refused(lambda: F.figures(pd.DataFrame(), tmp_path / "f", format="bmp"), "--format", "must be one of png, pdf, svg")
    assert F.save(fig, tmp_path / "a.svg", dpi=np.int64(72)).read_bytes().startswith(b"<?xml")
    assert F.save(plt.figure(), tmp_path / "b", fmt="pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.svg", "b"] and plt.get_fignums() == []


def test_plotting_functions_name_the_bad_argument_or_column(table):
    empty = S.empty_table()
    heat = pd.DataFrame({"a": [1, 1, 2, 2], "b": [1, 2, 1, 2], "v": [0.1, 0.2, 0.3, 0.4]})
    cases = [
        (lambda: F.cost_table(table, "foo"), "knob", "expected a column of the table, got 'foo' (its knobs: slots"),
        (lambda: F.cost_table(table, None), "knob", "got None"),
        (lambda: F.terms_table(table, "foo"), "knob", "got 'foo'"),
        (lambda: F.cost_vs_knob(table, None), "knob", "got None"),
        (lambda: F.cost_vs_knob(table, "foo"), "knob", "got 'foo'"),
        (lambda: F.terms_vs_knob(table, None), "knob", "got None"),
        (lambda: F.terms_vs_knob(table, "foo"), "knob", "got 'foo'"),
        (lambda: F.terms_vs_knob(empty, "slots"), "df", "no rows to draw"),
        (lambda: F.cost_vs_knob(empty, "slots"), "df", "no rows to draw"),
        (lambda: F.cost_by_method(empty), "df", "no rows to draw"),
        (lambda: F.gap_by_method(empty), "df", "no rows to draw"),
        (lambda: F.gap_table(table.drop(columns="instance")), "df", "missing column instance"),
        (lambda: F.gap_by_method(table.drop(columns="gap_to_best_bound")), "df", "missing column gap_to_best_bound"),
        (lambda: F.cost_by_method(table.drop(columns=["switching", "cloud"])), "df", "missing columns switching, cloud"),
        (lambda: F.cost_vs_knob(table.drop(columns="cost"), "slots"), "df", "missing column cost"),
        (lambda: F.cost_table([1], "slots"), "df", "expected a pandas DataFrame"),
        (lambda: F.terms_table(None, None), "df", "got NoneType"),
        (lambda: F.cost_vs_knob(table, "slots", ax="x"), "ax", "expected a matplotlib Axes or None, got str"),
        (lambda: F.cost_by_method(table, ax=3), "ax", "got int"),
        (lambda: F.terms_vs_knob(table, "slots", axes=["x", "y"]), "axes", "expected matplotlib Axes"),
        (lambda: F.claim_heatmap([1], "a", "b", "v", 0.2), "table", "expected a pandas DataFrame"),
        (lambda: F.claim_heatmap(heat, "a", "b", "v", "a"), "level", "must be a finite number"),
        (lambda: F.claim_heatmap(heat, "a", "b", "v", float("nan")), "level", "got nan"),
        (lambda: F.claim_heatmap(heat, None, "b", "v", 0.2), "x", "expected a column name, got None"),
        (lambda: F.claim_heatmap(heat, "a", "b", "c", 0.2), "c", "not a column of the table"),
        (lambda: F.claim_heatmap(heat.assign(v=list("wxyz")), "a", "b", "v", 0.2), "v",
         "v: expected a number, got 'w'"),
        (lambda: F.claim_heatmap(heat.assign(v=[0.1, np.inf, 0.3, 0.4]), "a", "b", "v", 0.2), "v",
         "must be finite (or missing), got inf"),
    ]
    for call, field, says in cases:
        refused(call, field, says)
        assert plt.get_fignums() == []  # refused before a figure was made
    F.claim_heatmap(heat, "a", "b", "v", np.float64(0.25))  # numpy numbers are numbers
    F.cost_by_method(table)  # and the valid table draws


@pytest.mark.parametrize("column, value", [("cost", np.nan), ("switching", np.nan), ("accuracy", np.inf),
                                           ("cloud", -1.0), ("switching", 1e308), ("cost", 1e101)])
def test_ok_rows_with_impossible_costs_are_not_drawn(table, tmp_path, column, value):
    """np.nan_to_num drew a NaN term as a 0-height bar and inf as 1.8e308; figures wrote them.
    Terms of 1e308 summed to inf in a stacked bar (OverflowError): no evaluation exceeds 1e100."""
    bad = table.copy()
    bad.loc[2, column] = value
    says = f"{column}: must be a number in [0, 1e100] (study.MAX_COST) in a row with status ok, got {value!r}"
    for call in (lambda: F.cost_by_method(bad), lambda: F.terms_vs_knob(bad, "slots"),
                 lambda: F.cost_vs_knob(bad, "slots"), lambda: F.terms_table(bad, "slots")):
        refused(call, "df, row 2", says)
    refused(lambda: F.figures(bad, tmp_path / "f"), "results, row 2", says)
    assert list(tmp_path.iterdir()) == [] and plt.get_fignums() == []
    # the same value in an error row is no cost: it is left out, as before
    assert len(F.figures(bad.assign(status=np.where(bad.index == 2, "error", "ok")), tmp_path / "g")) == 3


@pytest.mark.parametrize("drop", ["gap_to_best_bound", "instance", "status", "switching"])
def test_figures_checks_columns_before_creating_the_folder(table, tmp_path, drop):
    refused(lambda: F.figures(table.drop(columns=drop), tmp_path / "out"), "results", f"missing column {drop}")
    assert list(tmp_path.iterdir()) == []


def test_figures_writes_the_whole_set_or_nothing(table, tmp_path, monkeypatch):
    out = tmp_path / "out"
    paths = F.figures(table, out)
    names = ["cost_vs_slots.png", "terms_vs_slots.png", "gap_to_best_bound.png"]
    assert [p.name for p in paths] == names
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == sorted([*names, *(n.replace(".png", ".csv") for n in names), "figures.json"])
    manifest = json.loads(before["figures.json"])
    assert [f["figure"] for f in manifest["figures"]] == names

    real, calls = F._savefig, []

    def disk_full_on_the_second(fig, path, fmt, dpi):
        calls.append(path)
        if len(calls) == 2:
            path.write_bytes(b"\x89PNG half")
            raise OSError(28, "No space left on device")
        real(fig, path, fmt, dpi)

    monkeypatch.setattr(F, "_savefig", disk_full_on_the_second)
    with pytest.raises(OSError, match="No space left"):  # a rerun into the folder: the old set stays
        F.figures(table[table["slots"] == 3], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporary left either
    calls.clear()
    with pytest.raises(OSError, match="No space left"):  # a new folder: not created
        F.figures(table, tmp_path / "new" / "figs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert plt.get_fignums() == []
    monkeypatch.setattr(F, "_savefig", real)
    F.figures(table[table["slots"] == 3], out)  # one scenario point: the manifest lists the new set
    manifest = json.loads((out / "figures.json").read_text())
    assert [f["figure"] for f in manifest["figures"]] == ["cost_by_method.png", "gap_to_best_bound.png"]
    assert all((out / f["figure"]).exists() and (out / f["table"]).exists() for f in manifest["figures"])


def test_only_ok_rows_are_drawn(table):
    """A method whose runs all failed has no cost: it is left out, not drawn as a 0-height bar;
    the means are those of the ok rows alone (all-cloud's cost at slots = 3, by hand from the
    table)."""
    failed = table.assign(status=np.where(table["method"] == "static", "error", "ok"))
    for c in ("cost", "switching"):
        failed.loc[failed["method"] == "static", c] = np.nan
    terms = F.terms_table(failed, None)
    assert list(terms["label"]) == ["all-cloud"]
    costs = F.cost_table(failed, "slots")
    cloud3 = table[(table["method"] == "all-cloud") & (table["slots"] == 3)]["cost"]
    assert list(costs["label"]) == ["all-cloud", "all-cloud"]
    assert costs.loc[costs["slots"] == 3, "cost_mean"].item() == pytest.approx(cloud3.mean(), rel=1e-12)
    refused(lambda: F.cost_by_method(failed[failed["method"] == "static"]), "df",
            "no rows to draw: none has status ok")


def test_a_product_grid_names_the_slice_each_figure_draws(tmp_path):
    """services [2, 3] × slots [3, 4]: cost_vs_slots draws services = 2 only (the most frequent,
    ties to the smallest); its footnote, its CSV and figures.json say so (they read as means over
    the whole table before)."""
    import json

    grid = S.Grid(methods=["all-cloud"], knobs={"stations": 1, "services": [2, 3], "slots": [3, 4]},
                  seeds=[0, 1])
    df = S.run_study(grid, None, workers=1, progress=False)
    F.figures(df, tmp_path / "f")
    cost = pd.read_csv(tmp_path / "f" / "cost_vs_slots.csv")
    assert (cost["services"] == 2).all() and list(cost["n"]) == [2, 2]
    want = df[df["services"] == 2].groupby("slots")["cost"].mean().to_numpy()
    assert np.allclose(cost.sort_values("slots")["cost_mean"], want)
    terms = pd.read_csv(tmp_path / "f" / "terms_vs_services.csv")
    assert (terms["slots"] == 3).all()
    manifest = json.loads((tmp_path / "f" / "figures.json").read_text())
    entry = {e["table"]: e for e in manifest["figures"]}
    assert entry["cost_vs_slots.csv"]["slice"] == {"services": 2}
    assert entry["terms_vs_services.csv"]["slice"] == {"slots": 3}
