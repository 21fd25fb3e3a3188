"""The benchmark scripts (benchmarks/*.py): a bad command line is refused in one line naming the
option (exit 2) before any work and without writing anything; --help documents every option;
tiny valid runs write the columns of the committed tables. Every script runs as a subprocess in a
temporary folder, its outputs under tmp_path: the committed tables in benchmarks/results/ are
never written."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name != "common.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / script), *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)


def tree(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def header(path: Path) -> list[str]:
    return path.read_text().splitlines()[0].split(",")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder with a regular file in it (`afile`), an empty folder (`adir`) and a one-row
    exact_grid table (`ex/exact_grid_101.csv`) for rolling_grid.py."""
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    (tmp_path / "ex").mkdir()
    rows = (RESULTS / "exact_grid_101.csv").read_text().splitlines()[:2]
    (tmp_path / "ex" / "exact_grid_101.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


# (script, arguments, the option the one-line error must name); {t} is the test's folder
BAD = [
    # item 1-2: time limits, threads, retry limit, repeats
    ("exact_grid.py", "--points slots=20 --time-limit -1 --out {t}/o.csv", "--time-limit"),
    ("exact_grid.py", "--points slots=20 --time-limit nan --out {t}/o.csv", "--time-limit"),
    ("exact_grid.py", "--points slots=20 --time-limit 0 --out {t}/o.csv", "--time-limit"),
    ("exact_grid.py", "--points slots=20 --retry-limit -5 --out {t}/o.csv", "--retry-limit"),
    ("exact_grid.py", "--points slots=20 --retry-gap nan --out {t}/o.csv", "--retry-gap"),
    ("exact_grid.py", "--points slots=20 --retry-gap -0.1 --out {t}/o.csv", "--retry-gap"),
    ("lagrange_default.py", "--seeds 0 --time-limit nan --out {t}/o.csv", "--time-limit"),
    ("exact_peers.py", "--points services=2 --methods milp --time-limit -1 --out {t}/o.csv", "--time-limit"),
    ("rolling_grid.py", "--seeds 101 --exact-dir {t}/ex --time-limit inf --out {t}/o.csv", "--time-limit"),
    ("solve_scaling.py", "--quick --axes slots --threads 0 --out {t}/o.csv", "--threads"),
    ("solve_scaling.py", "--quick --axes slots --time-limit -1 --out {t}/o.csv", "--time-limit"),
    ("policy_gaps.py", "--time-limit nan --out-dir {t}/o", "--time-limit"),
    ("policy_throughput.py", "--repeats 0 --out {t}/o.csv", "--repeats"),
    # item 3-4: malformed or unknown points, missing inputs
    ("exact_grid.py", "--points slots=abc --out {t}/o.csv", "--points"),
    ("exact_grid.py", "--points slots --out {t}/o.csv", "--points"),
    ("exact_grid.py", "--points foo=3 --out {t}/o.csv", "--points"),
    ("exact_grid.py", "--points slots=0 --out {t}/o.csv", "--points"),
    ("exact_peers.py", "--points slots --out {t}/o.csv", "--points"),
    ("rolling_grid.py", "--seeds 101 --exact-dir {t}/ex --points foo=3 --out {t}/o.csv", "--points"),
    ("rolling_grid.py", "--seeds 101 --exact-dir {t}/ex --points slots=21 --out {t}/o.csv", "--points"),
    ("rolling_grid.py", "--seeds 7 --exact-dir {t}/ex --out {t}/o.csv", "--seeds"),
    ("rolling_grid.py", "--seeds 101 --exact-dir {t}/ex --rebracket --out {t}/o.csv", "--out"),
    ("rolling_grid.py", "--seeds 101 --exact-dir {t}/ex --rebracket --out {t}/afile", "--out"),
    ("grid_report.py", "--seeds 101 --dir {t}/adir", "--dir"),
    ("grid_report.py", "--seeds 101 102 --dir {t}/ex", "--dir"),
    ("grid_report.py", "--dir {t}/ex --seeds 101 --out {t}/adir", "--out"),
    ("grid_summary.py", "--dir {t}/adir", "--dir"),
    ("grid_summary.py", "--dir {t}/afile", "--dir"),
    ("grid_summary.py", "--dir {t}/nothing", "--dir"),
    ("grid_summary.py", "--dir {t}/ex --out {t}/adir", "--out"),
    ("grid_summary.py", "--dir --out {t}/o.md", "--dir"),
    ("miss_report.py", "--seeds 101 --dir {t}/adir", "--dir"),
    ("miss_report.py", "--seeds 101 --dir {t}/ex", "--dir"),
    ("miss_report.py", "--seeds 101 --out {t}/adir", "--out"),
    ("gap_split.py", "--seeds 101 --dir {t}/adir", "--dir"),
    ("gap_split.py", "--seeds 101 --dir {t}/ex", "--dir"),
    ("gap_split.py", "--seeds 101 --out {t}/adir", "--out"),
    ("time_split.py", "--points slots=20 --time-limit -1 --out {t}/o.csv", "--time-limit"),
    ("time_split.py", "--points foo=3 --out {t}/o.csv", "--points"),
    ("time_split.py", "--points slots=20 --out {t}/adir", "--out"),
    ("crosscheck.py", "--tiny -1 --out {t}/o.csv", "--tiny"),
    ("crosscheck.py", "--tiny 0 --small 0 --medium 0 --out {t}/o.csv", "--tiny"),
    ("crosscheck.py", "--medium x --out {t}/o.csv", "--medium"),
    ("crosscheck.py", "--small-limit nan --out {t}/o.csv", "--small-limit"),
    ("crosscheck.py", "--seed-base 9223372036854775800 --out {t}/o.csv", "--seed-base"),
    ("crosscheck.py", "--tiny 1 --out {t}/adir", "--out"),
    ("tree_proof.py", "--chain 0 --out {t}/o.csv", "--chain"),
    ("tree_proof.py", "--strong 0 --out {t}/o.csv", "--strong"),
    ("tree_proof.py", "--cases seed=1,slots=5 --out {t}/o.csv", "--cases"),
    ("tree_proof.py", "--time-limit -1 --out {t}/o.csv", "--time-limit"),
    ("tree_proof.py", "--cases seed=102,slots=20 --optima {t}/afile --out {t}/o.csv", "--optima"),
    ("tree_proof.py", "--cases seed=102,slots=20 --optima {t}/afile/sub --out {t}/o.csv", "--optima"),
    ("tree_proof.py", "--cases seed=102,slots=20 --out {t}/adir", "--out"),
    # item 5-6: empty lists and counts below 1
    ("exact_grid.py", "--seeds 101 --points --out {t}/o.csv", "--points"),
    ("exact_peers.py", "--points --out {t}/o.csv", "--points"),
    ("exact_grid.py", "--seeds --points slots=20 --out {t}/o.csv", "--seeds"),
    ("market_fig5.py", "--quick --seeds --out {t}/o", "--seeds"),
    ("market_fig6.py", "--quick --seeds --out {t}/o", "--seeds"),
    ("policy_gaps.py", "--seeds 0 --skip-default --out-dir {t}/o", "--seeds"),
    ("policy_gaps.py", "--skip-small --skip-default --out-dir {t}/o", "--skip-default"),
    ("policy_throughput.py", "--instances 0 --out {t}/o.csv", "--instances"),
    ("policy_throughput.py", "--reference-instances 0 --out {t}/o.csv", "--reference-instances"),
    ("claims.py", "--seeds 0 --out {t}/o.csv", "--seeds"),
    # item 7: a bad later point writes nothing (all points are checked first)
    ("exact_grid.py", "--points services=2 foo=3 --time-limit 1 --out {t}/o.csv", "--points"),
    # item 8: outputs that cannot be written, refused before the work
    ("exact_grid.py", "--points slots=20 --out {t}/adir", "--out"),
    ("exact_grid.py", "--points slots=20 --out {t}/afile/o.csv", "--out"),
    ("exact_peers.py", "--points slots=20 --out {t}/adir", "--out"),
    ("lagrange_default.py", "--seeds 0 --out {t}/adir", "--out"),
    ("solve_scaling.py", "--quick --axes slots --out {t}/adir", "--out"),
    ("exact_relaxations.py", "--out {t}/adir", "--out"),
    ("block_cuts.py", "--out {t}/adir", "--out"),
    ("block_cuts.py", "--seconds -1 --out {t}/o.csv", "--seconds"),
    ("block_cuts.py", "--cases slots=20 --out {t}/o.csv", "--cases"),
    ("load_hull.py", "--out {t}/adir", "--out"),
    ("load_hull.py", "--cases slots=20 --out {t}/o.csv", "--cases"),
    ("load_cuts.py", "--out {t}/adir", "--out"),
    ("load_cuts.py", "--mip 0 --out {t}/o.csv", "--mip"),
    ("coupling_split.py", "--out {t}/adir", "--out"),
    ("coupling_split.py", "--time-limit 0 --out {t}/o.csv", "--time-limit"),
    ("coupling_split.py", "--cases slots=20 --out {t}/o.csv", "--cases"),
    ("rolling_grid.py", "--seeds 101 --exact-dir {t}/ex --out {t}/adir", "--out"),
    ("claims.py", "--out {t}/adir", "--out"),
    ("policy_throughput.py", "--out {t}/afile/o.csv", "--out"),
    ("policy_gaps.py", "--skip-default --out-dir {t}/afile", "--out-dir"),
    ("market_fig5.py", "--quick --no-literal --out {t}/afile", "--out"),
    ("claims_summary.py", "--tables {t}/adir --out-dir {t}/o", "--tables"),
    # item 11: options that did not do what they said
    ("exact_grid.py", f"--grid {BENCH}/grids/small.toml --out {{t}}/o.csv", "--grid"),
    ("lagrange_default.py", "--seeds 0 1 --rolling-seeds 5 --out {t}/o.csv", "--rolling-seeds"),
    ("solve_scaling.py", "--axes pairs --slots-values 12 --out {t}/o.csv", "--slots-values"),
    ("policy_throughput.py", "--instances 2 --reference-instances 3 --out {t}/o.csv", "--reference-instances"),
]


@pytest.mark.parametrize("script, args, option", BAD, ids=[f"{s}:{a.split(' --out')[0]}" for s, a, _ in BAD])
def test_a_bad_command_line_is_one_line_and_writes_nothing(work, script, args, option):
    before = tree(work)
    r = run(script, *args.format(t=work).split(), cwd=work)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{script}: error: argument {option}: "), lines[0]
    assert r.stdout == ""
    assert tree(work) == before


def _options(help_text: str) -> dict[str, str]:
    """Each option of an argparse --help (its first flag) and the help text argparse shows for it."""
    section = help_text.split("options:", 1)[1]
    entries: dict[str, str] = {}
    flag = None
    for line in section.splitlines():
        m = re.match(r"  (-\S+)(.*)", line)
        if m:
            flag = m.group(1).rstrip(",")
            rest = m.group(2)
            # the invocation is followed by two spaces and the help, or the help is on the next line
            entries[flag] = rest.split("  ", 1)[1].strip() if re.search(r"\S\s{2,}\S", line[2:]) else ""
        elif flag and line.strip():
            entries[flag] = (entries[flag] + " " + line.strip()).strip()
    return entries


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_describes_the_script_and_every_option(tmp_path, script):
    stamps = {p: p.stat().st_mtime_ns for p in RESULTS.rglob("*")}
    r = run(script, "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: ")
    doc = ast.get_docstring(ast.parse((BENCH / script).read_text()))
    assert " ".join(doc.splitlines()[0].split()) in " ".join(r.stdout.split())
    options = _options(r.stdout)
    assert "--out" in options or "--out-dir" in options
    assert all(options.values()), {k: v for k, v in options.items() if not v}
    assert tree(tmp_path) == []
    assert {p: p.stat().st_mtime_ns for p in RESULTS.rglob("*")} == stamps  # claims_summary ran nothing


def test_seeds_is_a_count_where_it_is_one(tmp_path):
    for script in ("claims.py", "policy_gaps.py"):
        r = run(script, "--help", cwd=tmp_path)
        assert "a count, not a list of seed ids" in " ".join(r.stdout.split())


def _bench_module(name: str, monkeypatch=None):
    """benchmarks/NAME.py as a module; with `monkeypatch`, its neighbour `common` importable."""
    if monkeypatch is not None:
        monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _common():
    return _bench_module("common")


def test_the_fig3_grid_is_18_distinct_stations():
    """The default point is in all four sweeps of fig3.toml; exact_grid.py solves it once, which
    gives the 18 points benchmarks/RESULTS.md lists."""
    common = _common()
    spec = tomllib.loads((BENCH / "grids" / "fig3.toml").read_text())
    texts = [f"{k}={v}" for sweep in spec["sweep"] for k, vs in sweep.items() for v in vs]
    points, notes = common.distinct_stations(common.parse_points(common.Parser(), texts))
    assert len(texts) == 21 and len(points) == 18 and len(notes) == 3
    results = (BENCH / "RESULTS.md").read_text()
    listed = re.search(r'P="(slots=20 [^"]*)"', results).group(1).split()
    assert [f"{k}={v}" for k, v in points] == listed


def test_the_documented_columns_are_the_committed_ones():
    """Item 12: every column of the committed tables is named in its script's docstring."""
    pairs = {"exact_grid.py": ["exact_grid_101.csv", "exact_grid_101_policies.csv"],
             "lagrange_default.py": ["lagrange_default.csv"], "rolling_grid.py": ["rolling_grid_101.csv"],
             "exact_peers.py": ["exact_peers.csv", "exact_peers_trace.csv"],
             "policy_throughput.py": ["policy_throughput.csv"], "solve_scaling.py": ["solve_scaling.csv"],
             "policy_gaps.py": ["policy_gaps.csv", "rolling_default.csv"], "claims.py": ["claims_fig3.csv"],
             "market_fig5.py": ["market_fig5.csv", "market_fig5_summary.csv"],
             "market_fig6.py": ["market_fig6.csv"], "block_cuts.py": ["block_cuts.csv"],
             "load_hull.py": ["load_hull.csv"], "load_cuts.py": ["load_cuts.csv", "load_cuts_mip.csv", "load_cuts_hull.csv"],
             "coupling_split.py": ["coupling_split.csv", "coupling_split_100.csv", "window_split.csv", "window_split_24.csv",
                                   "window_split_300.csv", "window_split_144.csv"],
             "time_split.py": ["time_split_60.csv", "time_split_600_103.csv"],
             "crosscheck.py": ["crosscheck.csv"], "tree_proof.py": ["tree_proof.csv"]}
    for script, tables in pairs.items():
        doc = ast.get_docstring(ast.parse((BENCH / script).read_text()))
        for table in tables:
            missing = [c for c in header(RESULTS / table) if not re.search(rf"\b{c}\b", doc)]
            assert not missing, (script, table, missing)


def test_a_time_limit_shorter_than_the_build_gives_the_warm_start(tmp_path):
    """Item 1: out of time before the pair graphs are built, lagrange returns no history; the row
    has the warm start's cost, the trivial bound and empty root columns. The two points are the
    same station: it is solved once."""
    r = run("exact_grid.py", "--seeds", "101", "--points", "slots=100", "services=10", "--time-limit", "0.05",
            "--retry-limit", "0", "--out", str(tmp_path / "out" / "eg.csv"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "services=10 is the same station as slots=100" in r.stdout
    df = pd.read_csv(tmp_path / "out" / "eg.csv")
    assert list(df.columns) == header(RESULTS / "exact_grid_101.csv")
    assert len(df) == 1 and df["termination"].iloc[0] == "time_limit"
    assert df[["root_bound", "root_seconds", "root_primal", "cuts"]].isna().all().all()
    assert df["bound"].iloc[0] <= df["cost"].iloc[0]
    pol = pd.read_csv(tmp_path / "out" / "eg_policies.csv")
    assert list(pol.columns) == header(RESULTS / "exact_grid_101_policies.csv")
    assert sorted(pol["method"]) == ["fifo", "lagrange", "laot", "lfu", "lru"]
    assert not list((tmp_path / "out").glob("*.partial.csv"))  # renamed at the end


@pytest.mark.parametrize("retry_gap, runs", [("inf", ["limit", "retry"]), ("0.005", ["limit"])])
def test_a_station_is_retried_only_within_the_retry_gap(tmp_path, retry_gap, runs):
    """--retry-gap: a station stopped by a 0.05-s limit (the warm start against the trivial bound,
    a gap far above 0.5 %) is run again with --retry-limit by default, and not with a 0.5 % bar."""
    r = run("exact_grid.py", "--seeds", "101", "--points", "slots=100", "--time-limit", "0.05",
            "--retry-limit", "0.05", "--retry-gap", retry_gap, "--out", str(tmp_path / "eg.csv"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path / "eg.csv")
    assert list(df["run"]) == runs
    assert (df["gap"] > 0.005).all()


def test_a_stopped_run_keeps_the_previous_table_and_its_rows_apart(tmp_path):
    """A SIGINT replaced the previous complete table with the stations done so far (18 rows to 2)
    and printed a traceback. Now OUT is left as it was, the rows done so far are in
    OUT.partial.csv, and the script says so in one line with exit status 130."""
    import signal
    import time

    out = tmp_path / "eg.csv"
    old = (RESULTS / "exact_grid_101.csv").read_text()
    out.write_text(old)
    # SIGINT as a terminal would deliver it: a test run started in the background of a
    # non-interactive shell (`make test &`) passes SIGINT on ignored, and Python then installs
    # no KeyboardInterrupt at all (the script ran to its end with exit status 0)
    p = subprocess.Popen([sys.executable, str(BENCH / "exact_grid.py"), "--seeds", "101", "--points",
                          "services=2", "slots=60", "--time-limit", "30", "--retry-limit", "0",
                          "--out", str(out)], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = tmp_path / "eg.partial.csv"
    t0 = time.monotonic()
    while not partial.exists() and time.monotonic() - t0 < 120 and p.poll() is None:
        time.sleep(0.2)
    assert partial.exists(), p.communicate()
    time.sleep(1.0)  # into the second station (slots=60 takes about 30 s)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and len(err.strip().splitlines()) == 1
    assert out.read_text() == old
    assert len(pd.read_csv(partial)) == 1


def test_lagrange_default_short_limit_and_repeated_seed(tmp_path):
    out = tmp_path / "ld.csv"
    r = run("lagrange_default.py", "--seeds", "0", "0", "--rolling-seeds", "--time-limit", "0.05",
            "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Termination." not in r.stdout  # enums print as their values
    df = pd.read_csv(out)
    assert list(df.columns) == header(RESULTS / "lagrange_default.csv")
    assert list(df["method"]) == ["lagrange", "laot"]
    assert df["root_bound"].isna().all()


def test_time_split_reads_back_where_the_time_went(tmp_path):
    """A station with a tree (`slots=20`/102 is certified after branching): the phases' seconds
    lie within the solve's, the tree's LP solves within all of them and the pruned children's
    within the tree's; the columns are the committed table's."""
    out = tmp_path / "ts.csv"
    r = run("time_split.py", "--seeds", "102", "--points", "slots=20", "--time-limit", "60", "--out", str(out),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == header(RESULTS / "time_split_60.csv")
    row = df.iloc[0]
    assert row["termination"] == "optimal" and row["nodes"] > 0
    phases = row[["root_seconds", "heuristic_seconds", "lns_seconds", "tree_seconds"]]
    assert (phases >= 0).all() and phases.sum() <= row["seconds"]
    assert 0 < row["lp_seconds"] <= row["seconds"] and 0 < row["lagrangian_seconds"] <= row["seconds"]
    assert 0 <= row["pruned_child_lp_solves"] <= row["tree_lp_solves"] <= row["lp_solves"]
    assert row["pruned_children"] <= row["nodes"] and row["evaluations"] > 0


def test_crosscheck_on_a_few_seeds_meets_the_references(tmp_path):
    """Three tiny stations against brute force and one small against milp: every lagrange result
    certified, the tiny ones at exactly the exhaustive optimum, no problem; the columns are the
    committed table's."""
    out = tmp_path / "cc.csv"
    r = run("crosscheck.py", "--tiny", "3", "--small", "1", "--medium", "0", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "8 checks, 0 failed" in r.stdout
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == header(RESULTS / "crosscheck.csv")
    assert list(df.family) == ["tiny"] * 6 + ["small"] * 2
    assert list(df.seed) == [980001, 980001, 980002, 980002, 980003, 980003, 990001, 990001]
    assert (df.termination == "optimal").all() and (df.problems == "").all()
    tiny = df[df.family == "tiny"]
    assert ((tiny.cost - tiny.ref_cost).abs() <= 1e-9 * tiny.ref_cost).all()
    assert (tiny.bound <= tiny.ref_cost * (1 + 1e-12)).all()


def test_committed_crosschecks_passed():
    """Every committed cross-check table (crosscheck.csv, the fifty-fifth round's; crosscheck_960000.csv,
    the fifty-ninth's) has its 4,480 checks (2,000 tiny stations, 200 small, 40 medium, two gaps each),
    none with a problem, every `lagrange` result certified: what benchmarks/RESULTS.md says of them."""
    tables = sorted(RESULTS.glob("crosscheck*.csv"))
    assert [p.name for p in tables] == ["crosscheck.csv", "crosscheck_960000.csv"]
    for path in tables:
        df = pd.read_csv(path)
        assert list(df.columns) == header(RESULTS / "crosscheck.csv")
        assert df.groupby("family").size().to_dict() == {"medium": 80, "small": 400, "tiny": 4000}
        assert df["problems"].isna().all() and (df["termination"] == "optimal").all()
        assert (df["bound"] <= df["ref_cost"] * (1 + 1e-7)).all() and (df["cost"] >= df["ref_bound"] * (1 - 1e-7)).all()


def test_crosscheck_names_what_a_wrong_result_breaks(monkeypatch):
    """`problems` on hand-made results of a tiny station: a bound above the optimum, a cost below
    it, a cost that is not the evaluator's, a schedule over the memory, a gap wider than certified."""
    cc = _bench_module("crosscheck", monkeypatch)
    from types import SimpleNamespace

    import numpy as np

    from tests.bruteforce import brute_force, random_tiny

    d = random_tiny(np.random.default_rng(980002)).station_data(0)
    opt, a, x = brute_force(d)

    def res(**kw):
        return SimpleNamespace(**{"a": a, "x": x, "cost": opt, "bound": opt, "seconds": 0.1,
                                  "termination": "optimal", **kw})

    assert cc.problems(d, res(), 0.0, opt, opt) == []
    assert cc.problems(d, res(bound=opt * 1.001, termination="time_limit"), 0.0, opt, opt) == [
        f"bound {opt * 1.001!r} above the reference's cost {opt!r}"]
    low = cc.problems(d, res(cost=opt * 0.99, termination="time_limit"), 0.0, opt, opt)
    assert low == [f"cost {opt * 0.99!r} is not the evaluator's {opt!r}",
                   f"cost {opt * 0.99!r} below the reference's bound {opt!r}"]
    full = np.ones_like(a)  # every pair loaded in every slot, serving nothing: over the memory
    assert (full @ d.s > d.G + 1e-9).all()
    over = cc.problems(d, res(a=full, x=np.zeros_like(x), cost=float("nan"), termination="time_limit"),
                       0.0, opt, opt)
    assert over == ["cost not finite", f"{d.T} violations (memory_3)"]
    wide = cc.problems(d, res(bound=opt * 0.99), 1e-4, opt, opt)
    assert wide == [f"certified at a gap {(opt - opt * 0.99) / opt!r} over 0.0001"]


def test_tree_proof_finds_stores_and_proves_an_optimum_the_same_way_twice(tmp_path):
    """A case without a stored optimum: it is certified and stored, then proved with CHAIN 1 and 2,
    each with pseudo-costs alone and with strong branching, from it; a second run reads it back
    (unchanged) and makes the same nodes (no clock in the path). The optimum is the committed one
    of that case."""
    opt, out = tmp_path / "opt", tmp_path / "tp.csv"
    args = ["--cases", "seed=102,slots=20", "--chain", "1", "2", "--strong", "1", "8", "--optima", str(opt),
            "--out", str(out)]
    r = run("tree_proof.py", *args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    stored = opt / "seed=102,slots=20.json"
    first, stamp = pd.read_csv(out), stored.stat().st_mtime_ns
    assert list(first.columns) == header(RESULTS / "tree_proof.csv")
    assert list(first.chain) == [1, 1, 2, 2] and list(first.strong) == [1, 8, 1, 8]
    assert (first.termination == "optimal").all()
    assert (first.strong_seconds[first.strong == 1] == 0).all()
    assert (first.strong_seconds <= first.tree_seconds).all()
    assert (first.gap <= 1e-4).all() and (first.bound <= first.cost).all()
    committed = json.loads((RESULTS / "optima" / stored.name).read_text())
    mine = json.loads(stored.read_text())
    assert mine["cost"] == pytest.approx(committed["cost"], rel=1e-4)
    assert (first.cost <= mine["cost"] * (1 + 1e-12)).all()
    r = run("tree_proof.py", *args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert stored.stat().st_mtime_ns == stamp
    assert pd.read_csv(out)["nodes"].tolist() == first["nodes"].tolist()


@pytest.mark.parametrize("change, says", [(lambda z: z.update(cost=z["cost"] * 1.01), "is not the evaluator's"),
                                          (lambda z: z.update(a=[[1] * len(r) for r in z["a"]],
                                                              x=[[0] * len(r) for r in z["x"]]), "breaks memory_3"),
                                          (lambda z: z.pop("x"), "not an optimum file"),
                                          (lambda z: z.update(a=z["a"][:-1]), "must be 20 × ")])
def test_tree_proof_refuses_a_stored_optimum_that_is_not_one(tmp_path, change, says):
    opt = tmp_path / "opt"
    opt.mkdir()
    z = json.loads((RESULTS / "optima" / "seed=102,slots=20.json").read_text())
    change(z)
    (opt / "seed=102,slots=20.json").write_text(json.dumps(z))
    r = run("tree_proof.py", "--cases", "seed=102,slots=20", "--optima", str(opt), "--out", str(tmp_path / "o.csv"),
            cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("tree_proof.py: error: argument --optima: ") and says in r.stderr
    assert not (tmp_path / "o.csv").exists()


def test_exact_peers_short_limit(tmp_path):
    out = tmp_path / "ep.csv"
    r = run("exact_peers.py", "--seeds", "101", "--points", "slots=100", "--methods", "lagrange",
            "--time-limit", "0.05", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert list(pd.read_csv(out).columns) == header(RESULTS / "exact_peers.csv")
    assert list(pd.read_csv(tmp_path / "ep_trace.csv").columns) == header(RESULTS / "exact_peers_trace.csv")
    assert (tmp_path / "ep.png").stat().st_size > 0


def test_claims_writes_its_table_where_told(tmp_path):
    out = tmp_path / "claims.csv"
    r = run("claims.py", "--seeds", "1", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == header(RESULTS / "claims_fig3.csv")
    assert set(df["seed"]) == {0} and len(df) == 21 * 3 * 5


def test_claims_summary_writes_its_verdicts_where_told(tmp_path):
    r = run("claims_summary.py", "--out-dir", str(tmp_path / "v"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    written = sorted(p.name for p in (tmp_path / "v").iterdir())
    assert written == sorted(p.name for p in (RESULTS / "claims").glob("verdicts_*.csv"))
    for name in written:  # the committed verdicts are what the committed tables give
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "v" / name), pd.read_csv(RESULTS / "claims" / name),
                                      check_exact=False, rtol=1e-9, atol=1e-12)


ROLLING_HEADER = ("knob,value,seed,method,cost,seconds,lagrange_cost,bound,best,above_opt_min,above_opt_max,"
                  "load1\n")


def test_rebracket_computes_the_bracket_from_the_exact_tables(work):
    """Exact runs: cheapest 1.0, best bound 0.9 (two runs); laot 1.5 and rolling 0.95 on the
    station, so U = 0.95 and L = 0.9: laot is 0.55/0.95 to 0.6/0.9 above the optimum, rolling 0
    to 0.05/0.9. Costs, seconds and load are kept; the stale bracket columns are replaced."""
    ex = work / "hand"
    ex.mkdir()
    (ex / "exact_grid_5.csv").write_text("knob,value,seed,cost,bound\nslots,20,5,1.0,0.85\nslots,20,5,1.2,0.9\n")
    out = work / "rg.csv"
    out.write_text(ROLLING_HEADER + "slots,20,5,laot,1.5,0.4,9,9,9,9,9,1.0\nslots,20,5,rolling,0.95,3.5,9,9,9,9,9,2.0\n")
    r = run("rolling_grid.py", "--seeds", "5", "--exact-dir", str(ex), "--rebracket", "--out", str(out), cwd=work)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == header(RESULTS / "rolling_grid_101.csv")
    assert df["cost"].tolist() == [1.5, 0.95] and df["seconds"].tolist() == [0.4, 3.5]
    assert df["load1"].tolist() == [1.0, 2.0]
    assert df["lagrange_cost"].tolist() == [1.0, 1.0] and df["bound"].tolist() == [0.9, 0.9]
    assert df["best"].tolist() == [0.95, 0.95]
    assert df["above_opt_min"].tolist() == pytest.approx([0.55 / 0.95, 0.0], rel=1e-12, abs=1e-15)
    assert df["above_opt_max"].tolist() == pytest.approx([0.6 / 0.9, 0.05 / 0.9], rel=1e-12)


def test_rebracket_refuses_a_station_without_exact_rows(work):
    out = work / "rg.csv"
    text = ROLLING_HEADER + "slots,40,101,laot,1.5,0.4,9,9,9,9,9,1.0\n"
    out.write_text(text)
    r = run("rolling_grid.py", "--seeds", "101", "--exact-dir", str(work / "ex"), "--rebracket", "--out", str(out),
            cwd=work)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "argument --seeds: " in r.stderr and "slots=40, seed 101" in r.stderr
    assert out.read_text() == text


@pytest.mark.parametrize("seed", [101, 102, 103])
def test_the_committed_rolling_brackets_are_those_of_the_committed_exact_tables(tmp_path, seed):
    """rolling_grid.py --rebracket on a copy of the committed table changes nothing: its bracket
    columns are what the committed exact_grid tables give (RESULTS recomputes them after each
    exact_grid re-run)."""
    out = tmp_path / f"rolling_grid_{seed}.csv"
    out.write_text((RESULTS / out.name).read_text())
    r = run("rolling_grid.py", "--seeds", str(seed), "--rebracket", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(RESULTS / out.name), check_exact=False,
                                  rtol=1e-12, atol=0)


def _report_in_section(command: list[str], start: str, end: str) -> list[str]:
    """The blocks (split at blank lines) a report script prints from the committed tables, each of
    which must stand in benchmarks/RESULTS.md between the headings `start` and `end`."""
    r = run(*command, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    section = (BENCH / "RESULTS.md").read_text().split(start, 1)[1].split(end, 1)[0]
    blocks = [b.strip() for b in r.stdout.split("\n\n") if b.strip()]
    for block in blocks:
        assert block in section
    return blocks


def test_grid_report_prints_the_tables_of_results():
    """The committed RESULTS.md tables of "Exact method at the paper's scale" (the grid, the
    retries, the rolling brackets) are what grid_report.py makes of the committed CSVs, and the
    grid table is the one at the section's head."""
    r = run("grid_report.py", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    results = (BENCH / "RESULTS.md").read_text()
    section = results.split("## Exact method at the paper's scale", 1)[1]
    tables = [b for b in r.stdout.split("\n\n") if b.startswith("|")]
    assert [t.splitlines()[0][:16] for t in tables] == ["| point | memory", "| station | gap ", "| point | least-"]
    assert section.index(tables[0]) == section.index("| point | memory slots")
    for table in tables:
        assert table.strip() in results


@pytest.mark.parametrize(("args", "section", "after"), [
    (["--seeds", "104", "105"], "**Forty-seventh round", "**Forty-sixth round"),
    (["--dir", "benchmarks/results/fresh55", "--seeds", "107", "108"], "**Fifty-fifth round", "**Fifty-fourth round"),
    (["--dir", "benchmarks/results/fresh56", "--seeds", "107", "108"], "**Fifty-sixth round", "**Fifty-fifth round"),
    (["--dir", "benchmarks/results/fresh57", "--seeds", "107", "108"], "**Fifty-seventh round", "**Fifty-sixth round"),
    (["--dir", "benchmarks/results/fresh58", "--seeds", "109", "110", "111", "112"], "**Fifty-eighth round",
     "**Fifty-seventh round"),
    (["--dir", "benchmarks/results/fresh59", "--seeds", "113", "114"], "**Fifty-ninth round", "**Fifty-eighth round"),
    (["--dir", "benchmarks/results/fresh61", "--seeds", "115", "116", "117", "118"], "**Sixty-first round",
     "**Sixtieth round"),
    (["--dir", "benchmarks/results/fresh62", "--seeds", "119", "120"], "**Sixty-second round", "**Sixty-first round"),
    (["--dir", "benchmarks/results/fresh63", "--seeds", "121", "122"], "**Sixty-third round", "**Sixty-second round"),
    (["--dir", "benchmarks/results/fresh64", "--seeds", "123", "124"], "**Sixty-fourth round", "**Sixty-third round"),
    (["--dir", "benchmarks/results/fresh65", "--seeds", "125", "126"], "**Sixty-fifth round", "**Sixty-fourth round"),
    (["--dir", "benchmarks/results/fresh66", "--seeds", "127", "128", "129", "130"], "**Sixty-sixth round", "**Sixty-fifth round"),
    (["--dir", "benchmarks/results/fresh67", "--seeds", "131", "132", "133", "134"], "**Sixty-seventh round",
     "**Sixty-sixth round"),
    (["--dir", "benchmarks/results/fresh68", "--seeds", "135", "136", "137", "138", "139", "140", "141"],
     "**Sixty-eighth round", "**Sixty-seventh round"),
    (["--dir", "benchmarks/results/fresh69", "--seeds", "142", "143", "144", "145", "146", "147", "148", "149"],
     "**Sixty-ninth round", "**Sixty-eighth round")])
def test_grid_report_prints_the_fresh_seed_tables_of_results(args, section, after):
    """The grids on seeds no other run had used (one parameter per round's section of
    benchmarks/RESULTS.md that ran one, its folder and seeds) are what grid_report.py makes of
    their committed CSVs: the grid table, its counts and the retries (no rolling table:
    rolling_grid.py did not run on those seeds)."""
    blocks = _report_in_section(["grid_report.py", *args], section, after)
    assert [b.splitlines()[0][:16] for b in blocks if b.startswith("|")] == ["| point | memory", "| station | gap "]


def test_miss_report_prints_the_table_of_results():
    """The fifty-first round's table (benchmarks/RESULTS.md, "Fifty-first round") and its counts are
    what miss_report.py makes of the committed exact_grid and exact_grid_long tables."""
    blocks = _report_in_section(["miss_report.py"], "**Fifty-first round", "**Fiftieth round")
    assert len(blocks) == 2 and blocks[0].startswith("| station | gap at 60 s")


def test_peer_tables_of_results_are_the_report_of_the_committed_csv():
    """The RESULTS.md tables of "Peer solvers on the same station problems", one per seed, are what
    exact_peers.py --report prints from the committed exact_peers.csv (no method runs)."""
    r = run("exact_peers.py", "--report", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    section = (BENCH / "RESULTS.md").read_text().split("## Peer solvers on the same station problems", 1)[1]
    tables = [b.strip() for b in r.stdout.split("\n\n") if b.startswith("|")]
    seeds = sorted(pd.read_csv(RESULTS / "exact_peers.csv")["seed"].unique())
    assert [t.splitlines()[0].split(" | ")[0] for t in tables] == [f"| point (seed {s})" for s in seeds]
    for table in tables:
        assert table in section


def test_exact_peers_report_on_a_hand_made_table(tmp_path):
    """Two stations of seed 7, stations in the grid's order whatever the rows' order. gpus=8: every
    schedule costs at least 0.5 (the best, lagrange's); lagrange's bound 0.49 at 10 s and 30 s and
    0.4999 at the end, not certified: (0.5 − 0.4999)/0.5 = 0.02 %; milp had no bound before its end
    (0.45: 10.00 %). slots=20: lagrange certified at 1.6 s (rounded: 2 s); milp did not run there."""
    head = "knob,value,seed,method,bound_10,bound_30,bound_60,certified_s,final_bound,final_incumbent\n"
    (tmp_path / "p.csv").write_text(
        head + "gpus,8,7,milp,-inf,,,,0.45,0.6\n"
        "gpus,8,7,lagrange,0.49,0.49,0.4999,,0.4999,0.5\n"
        "slots,20,7,lagrange,0.2,0.2,0.2,1.6,0.2,0.2\n")
    r = run("exact_peers.py", "--report", "--out", str(tmp_path / "p.csv"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:4] == [
        "| point (seed 7) | best schedule | lagrange | milp |", "|---|---|---|---|",
        "| slots = 20 | 0.200000 | 0.2000 / 0.2000 / 0.2000 · **2 s** | not run |",
        "| gpus = 8 | 0.500000 | 0.4900 / 0.4900 / 0.4999 · 0.02 % | – / – / 0.4500 · 10.00 % |"]
    bad = run("exact_peers.py", "--report", "--out", str(tmp_path / "none.csv"), cwd=tmp_path)
    assert bad.returncode != 0 and "--out" in bad.stderr and bad.stdout == ""


def test_coupling_split_relaxes_one_row_and_only_lowers_the_optimum(monkeypatch):
    """coupling_split.py's `relax`: 'memory' raises G to the pairs' total size and 'budget' E to the
    busiest slot's demand, so that row binds in no slot while the other is untouched; each is a
    relaxation, so on tiny random stations its brute-force optimum is at most the station's, and
    on some strictly less (else the measurement could not tell the rows apart)."""
    import numpy as np

    from optcache.solvers.lagrange import coupled_slots
    from tests.bruteforce import brute_force, random_tiny

    bench = _bench_module("coupling_split", monkeypatch)
    d = random_tiny(np.random.default_rng(0)).station_data(0)
    assert bench.relax(d, "none") is d
    m, b = bench.relax(d, "memory"), bench.relax(d, "budget")
    assert m.G == d.s.sum() and m.E == d.E and b.G == d.G
    assert b.E == max(sum(d.R[t, p] * d.e[p] * d.k[p] for p in range(d.P)) for t in range(d.T))
    lower = {"memory": 0, "budget": 0}
    for seed in range(30):
        d = random_tiny(np.random.default_rng(seed)).station_data(0)
        opt = brute_force(d)[0]
        for way, row in (("memory", 0), ("budget", 1)):
            r = bench.relax(d, way)
            assert len(coupled_slots(r)[row]) == 0 and len(coupled_slots(r)[1 - row]) == len(coupled_slots(d)[1 - row])
            relaxed = brute_force(r)[0]
            assert relaxed <= opt + 1e-12
            lower[way] += relaxed < opt - 1e-9
    assert lower["memory"] > 0 and lower["budget"] > 0


def test_coupling_split_widens_the_window_and_only_lowers_the_optimum(monkeypatch):
    """coupling_split.py's window ways: 'window2' and 'window4' double and quadruple every w_m,
    'window' raises it to at least k_p times the pair's requests over the horizon, which (28c) can
    then never reach: its brute-force optimum is that of a window of 10^12 tokens. Memory and the
    budget are untouched; each way is a relaxation, a wider window no dearer than a narrower one, and
    on some tiny stations 'window' is strictly cheaper (else the window would not be measured)."""
    import dataclasses

    import numpy as np

    from optcache.solvers.lagrange import coupled_slots
    from tests.bruteforce import brute_force, random_tiny

    bench = _bench_module("coupling_split", monkeypatch)
    lower = 0
    for seed in range(20):
        d = random_tiny(np.random.default_rng(seed)).station_data(0)
        w2, w4, wide = (bench.relax(d, way) for way in ("window2", "window4", "window"))
        assert np.array_equal(w2.w, 2 * d.w) and np.array_equal(w4.w, 4 * d.w)
        assert np.all(wide.w >= d.k * d.R.sum(axis=0)) and np.all(wide.w >= d.w)
        for r in (w2, w4, wide):
            assert (r.G, r.E) == (d.G, d.E) and all(
                np.array_equal(a, b) for a, b in zip(coupled_slots(r), coupled_slots(d), strict=True))
        opt, o2, o4, ow = (brute_force(x)[0] for x in (d, w2, w4, wide))
        assert ow <= o4 + 1e-12 and o4 <= o2 + 1e-12 and o2 <= opt + 1e-12
        assert abs(ow - brute_force(dataclasses.replace(d, w=np.full_like(d.w, 1e12)))[0]) <= 1e-12
        lower += ow < opt - 1e-9
    assert lower > 0


def test_coupling_split_takes_any_grid_station_as_a_case(monkeypatch):
    """--cases: a named case, or `seed=S,KNOB=V` with the Fig. 3 grid's knobs; anything else is
    refused (by argparse, naming --cases)."""
    import argparse

    bench = _bench_module("coupling_split", monkeypatch)
    assert bench.case("seed=131,services=8") == {"seed": 131, "services": 8}
    assert bench.case("seed=101,users=15,slots=30") == {"seed": 101, "users": 15, "slots": 30}
    for bad in ("services=8", "seed=1,foo=2", "seed=x,users=5", "seed=1,users"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.case(bad)


def test_coupling_split_refuses_a_case_out_of_range_before_any_run(tmp_path):
    """A `seed=S,KNOB=V` case whose value is out of the scenario's range gets one line naming
    --cases and exit 2, not a traceback from the generator, and no table is written."""
    r = run("coupling_split.py", "--cases", "seed=1,slots=0", "--out", str(tmp_path / "c.csv"), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--cases: seed=1,slots=0: slots: must be an integer in [1, 1e9], got 0" in r.stderr
    assert not list(tmp_path.iterdir())


def _hand_made_report(tmp_path: Path, script: str, tables: dict[str, str], stray: tuple[str, str]) -> list[str]:
    """SCRIPT --seeds 7 --dir tmp_path on `tables` (file name -> CSV text): its stdout lines. Then
    `stray` (file name, row), a gpus=8 station with no row in the grid table, is appended and the
    script must refuse it in one line naming --dir and the station, printing nothing."""
    for name, text in tables.items():
        (tmp_path / name).write_text(text)
    r = run(script, "--seeds", "7", "--dir", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with (tmp_path / stray[0]).open("a") as f:
        f.write(stray[1])
    bad = run(script, "--seeds", "7", "--dir", str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2 and "--dir" in bad.stderr and "gpus=8/7" in bad.stderr and bad.stdout == ""
    return r.stdout.splitlines()


def test_miss_report_on_hand_made_tables(tmp_path):
    """Seed 7, two stations of the long table. slots=80: 0.80 % at 60 s (bound 0.992, incumbent 1.0);
    the 300-s run's root converged in 4.4 s at 0.985, its bound 0.995 and incumbent 0.999 (0.40 %,
    40 nodes): the optimum lies in [0.995, 0.999], so the root is (0.995 − 0.985)/0.995 = 1.005 % to
    (0.999 − 0.985)/0.999 = 1.401 % under it, certifiably more than 0.5 %. users=15: root cut at
    150.2 s (of 300) at 0.498, bounds 0.499 (60 s) and 0.4995, schedules 0.502 and 0.503:
    (0.4995 − 0.498)/0.4995 = 0.30 % to (0.502 − 0.498)/0.502 = 0.80 % (the larger bound, the
    cheaper schedule), not counted (cut). A third station of the
    grid table with no long run is not reported; a long row with no grid row is refused."""
    head = "knob,value,seed,run,time_limit,termination,cost,bound,gap,root_bound,root_seconds,nodes\n"
    lines = _hand_made_report(tmp_path, "miss_report.py", {
        "exact_grid_7.csv": head + "slots,80,7,limit,60.0,time_limit,1.0,0.992,0.008,0.985,4.1,10\n"
        "users,15,7,limit,60.0,time_limit,0.502,0.499,0.00598,0.499,30.0,0\n"
        "slots,20,7,limit,60.0,optimal,0.5,0.49995,1e-04,0.49,1.0,0\n",
        "exact_grid_long_7.csv": head + "slots,80,7,limit,300.0,time_limit,0.999,0.995,0.004,0.985,4.4,40\n"
        "users,15,7,limit,300.0,time_limit,0.503,0.4995,0.00696,0.498,150.2,3\n"},
        ("exact_grid_long_7.csv", "gpus,8,7,limit,300.0,time_limit,1.0,0.99,0.01,0.98,10.0,5\n"))
    assert lines[2:4] == [
        "| `slots=80`/7 | 0.80 % | 0.985000, 4 s | 0.995000 / 0.999000 | 0.40 %, 40 | 1.01–1.40 |",
        "| `users=15`/7 | 0.60 % | 0.498000, cut at 150 s | 0.499500 / 0.503000 | 0.70 %, 3 | 0.30–0.80 |"]
    assert lines[-1] == ("2 stations; 1 long roots converged. Of those, 1 are certifiably more than 0.5 % under "
                         "their optimum, 0 certifiably within 0.5 % of it.")


def test_grid_report_on_hand_made_tables(tmp_path):
    """One seed, three points. slots=20: certified in 1.4 s. slots=40: 0.39 % at 60 s, then
    certified by the 600-s retry in 120.6 s with bound 0.99995 and incumbent 1.0 (the 60-s run's
    1.002). slots=60: 0.8 % at 60 s, certified by a retry in 300.2 s, which the bar does not count
    (not within 0.5 % at 60 s). So 1 certified within 60 s, 2 within 0.5 %, 2 meet the bar; gaps
    1e-4, 0.0039 and 0.008: median 0.39 %, mean 0.40 %, largest 0.80 %. least-AoT 1.25 against
    U = 1.0 and L = 0.99995 on slots=40 (25.0–25.006 %), 0.6 against U = 0.5 and L = 0.49995 on
    slots=20 (20.0–20.012 %), 1.1 against U = 1.0 and L = 0.9999 on slots=60 (10.0–10.011 %); FIFO
    is cheaper on slots=40 only."""
    head = ("knob,value,seed,coupled_memory,coupled_budget,run,time_limit,termination,cost,bound,gap,seconds,"
            "root_bound,nodes\n")
    (tmp_path / "exact_grid_7.csv").write_text(
        head + "slots,20,7,20,3,limit,60.0,optimal,0.5,0.49995,1e-04,1.4,0.49,0\n"
        "slots,40,7,40,11,limit,60.0,time_limit,1.002,0.9980922,0.0039,60.0,0.99,5\n"
        "slots,40,7,40,11,retry,600.0,optimal,1.0,0.99995,5e-05,120.6,0.99,40\n"
        "slots,60,7,60,18,limit,60.0,time_limit,1.0,0.992,0.008,60.0,0.99,3\n"
        "slots,60,7,60,18,retry,600.0,optimal,1.0,0.9999,1e-04,300.2,0.99,50\n")
    (tmp_path / "exact_grid_7_policies.csv").write_text(
        "knob,value,seed,method,cost\nslots,20,7,laot,0.6\nslots,20,7,fifo,0.7\nslots,40,7,laot,1.25\n"
        "slots,40,7,fifo,1.2\nslots,60,7,laot,1.1\nslots,60,7,fifo,1.3\n")
    r = run("grid_report.py", "--seeds", "7", "--dir", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "| slots = 20 | 20 | 3 | **1 s** | 2.00 |" in lines
    assert "| slots = 40 | 40 | 11 | 0.39 % → **121 s** | 1.20 |" in lines
    assert "| slots = 60 | 60 | 18 | 0.80 % → **300 s** | 1.00 |" in lines
    assert ("1 of 3 stations certified within 60 s, 2 of 3 within 0.5 %, median gap 0.390 %, mean 0.40 %, "
            "largest 0.80 %; 2 of 3 meet the bar (certified within 60 s, or within 0.5 % then and by the retry)") in lines
    rows = [line for line in lines if line.startswith("| `")]
    assert rows == ["| `slots=40`/7 | 0.39 % | **certified, 121 s** | 40 | 0.999950 | 1.000000 |",
                    "| `slots=60`/7 | 0.80 % | **certified, 300 s** | 50 | 0.999900 | 1.000000 |"]
    assert ("least-AoT above the optimum: 10.0–25 % (mean 18.3–18.3 %, the interval 0.0 points wide on average "
            "and at most 0.0); the cheapest of laot, fifo on 2 of 3") in lines
    assert not any(line.startswith("rolling ") for line in lines)  # no rolling_grid tables there
    r = run("grid_report.py", "--seeds", "7", "--dir", str(tmp_path), "--out", str(tmp_path / "r" / "g.md"),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r" / "g.md").read_text().splitlines() == lines


def test_grid_summary_on_hand_made_tables(tmp_path):
    """Two folders, seeds 7 (in a/) and 8 (in b/), two points. slots=20: seed 7 certified in 1 s,
    seed 8 0.39 % at 60 s and certified by its retry: both meet the bar. slots=40: seed 7 0.80 % at
    60 s, certified by a retry, which the bar does not count (over 0.5 % at 60 s); seed 8 0.20 % at
    60 s, its retry not certified (0.02 %): neither meets it. So 2 of 4 meet the bar, 1 certified
    within 60 s, 3 within 0.5 %, 2 of 3 retries certified; slots=40's median gap (0.2 + 0.8)/2 =
    0.50 %, the largest 0.80 % (`slots=40`/7). A long table beside them is not a grid table."""
    head = ("knob,value,seed,coupled_memory,coupled_budget,run,time_limit,termination,cost,bound,gap,seconds,"
            "root_bound,nodes\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "exact_grid_7.csv").write_text(
        head + "slots,20,7,20,3,limit,60.0,optimal,0.5,0.49995,1e-04,1.4,0.49,0\n"
        "slots,40,7,40,11,limit,60.0,time_limit,1.0,0.992,0.008,60.0,0.99,3\n"
        "slots,40,7,40,11,retry,600.0,optimal,1.0,0.9999,1e-04,300.2,0.99,50\n")
    (tmp_path / "b" / "exact_grid_8.csv").write_text(
        head + "slots,20,8,20,3,limit,60.0,time_limit,1.002,0.9980922,0.0039,60.0,0.99,5\n"
        "slots,20,8,20,3,retry,600.0,optimal,1.0,0.99995,5e-05,120.6,0.99,40\n"
        "slots,40,8,40,11,limit,60.0,time_limit,1.0,0.998,0.002,60.0,0.99,3\n"
        "slots,40,8,40,11,retry,600.0,time_limit,1.0,0.9998,2e-04,600.0,0.99,900\n")
    (tmp_path / "b" / "exact_grid_long_8.csv").write_text("not,a,grid,table\n")
    r = run("grid_summary.py", "--dir", str(tmp_path / "a"), str(tmp_path / "b"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "| point | stations | meet the bar | certified within 60 s | within 0.5 % | median gap, % | largest gap, % "
        "| missing the bar |", "|---|---|---|---|---|---|---|---|",
        "| slots = 20 | 2 | 2 | 1 | 2 | 0.200 | 0.39 | – |",
        "| slots = 40 | 2 | 0 | 0 | 1 | 0.500 | 0.80 | 7, 8 |", "",
        "2 of 4 stations (50 %) on seeds 7, 8 meet the bar: 1 certified within 60 s, 3 within 0.5 % then, 2 of 3 "
        "retries certified; the largest gap at 60 s 0.80 % (`slots=40`/7)"]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "exact_grid_7.csv").write_text((tmp_path / "a" / "exact_grid_7.csv").read_text())
    bad = run("grid_summary.py", "--dir", str(tmp_path / "a"), str(tmp_path / "c"), cwd=tmp_path)
    assert bad.returncode == 2 and "--dir" in bad.stderr and "seed 7" in bad.stderr and bad.stdout == ""
    (tmp_path / "c" / "exact_grid_7.csv").rename(tmp_path / "c" / "exact_grid_9.csv")
    bad = run("grid_summary.py", "--dir", str(tmp_path / "a"), str(tmp_path / "c"), cwd=tmp_path)
    assert bad.returncode == 2 and "--dir" in bad.stderr and "another seed than 9" in bad.stderr


def test_grid_summary_prints_the_table_of_results():
    """The per-point table of the current code's grid runs over every seed (benchmarks/RESULTS.md,
    "Exact method at the paper's scale", before the forty-second round's table) is what
    grid_summary.py makes of the committed CSVs of its default folders (`grid_summary.CURRENT`),
    which the section names."""
    blocks = _report_in_section(["grid_summary.py"], "## Exact method at the paper's scale",
                                "Command (2026-12-05, forty-second round")
    assert len(blocks) == 2 and blocks[0].startswith("| point | stations | meet the bar")


@pytest.mark.slow
def test_rolling_grid_from_an_exact_table(work):
    r = run("rolling_grid.py", "--seeds", "101", "--exact-dir", str(work / "ex"), "--time-limit", "0.5",
            "--horizon", "4", "--out", str(work / "rg.csv"), cwd=work)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(work / "rg.csv")
    assert list(df.columns) == header(RESULTS / "rolling_grid_101.csv")
    assert list(df["method"]) == ["laot", "rolling"]


def test_block_cuts_block_dp_is_the_least_over_the_blocks_trajectories(monkeypatch):
    """block_cuts.py's `block_dp` (a pair's DP with prices on its trajectories through a block of
    slots) against forcing each trajectory of the block in turn by bounds: the least of the forced
    DPs plus each trajectory's price, on a small station at random prices. It once called a
    `PairGraph` method the package had since removed."""
    import numpy as np

    from optcache.scenario import generate
    from optcache.solvers.lagrange.graph import PairBounds, PairGraph

    bc = _bench_module("block_cuts", monkeypatch)
    d = generate(stations=1, seed=3, slots=5, services=2, users=2).station_data(0)
    rng = np.random.default_rng(0)
    checked = 0
    for p in range(d.P):
        g = PairGraph.build(d, p)
        px, pa = rng.normal(0, 0.2, d.T), rng.normal(0, 0.2, d.T)
        po = rng.normal(0, 0.1, (d.T, g.x_max + 1))
        options = range(g.x_max + 2)  # 0 off, j + 1 cached serving j
        slots = (1, 2)
        table = {tau: float(rng.normal(0, 0.5)) for tau in [(0, 1), (1, 1), (2, 0), (1, 2)]}
        forced = []
        for tau in [(o1, o2) for o1 in options for o2 in options]:
            b = PairBounds.free(d.T)
            for t, o in zip(slots, tau, strict=True):
                if o == 0:
                    b.a_hi[t] = 0
                else:
                    b.a_lo[t], b.x_lo[t], b.x_hi[t] = 1, o - 1, o - 1
            v = g.solve(px, pa, b, po)[0]
            forced.append(v + table.get(tau, 0.0))
        value, a, x = bc.block_dp(g, px, pa, po, [(slots, table)], d.T)
        assert value == pytest.approx(min(forced), rel=1e-12, abs=1e-12)
        assert value == pytest.approx(g.solve(px, pa, PairBounds.fixed(a, x), po)[0]
                                      + table.get(tuple(int(x[t]) + 1 if a[t] else 0 for t in slots), 0.0), abs=1e-12)
        assert bc.block_dp(g, px, pa, po, [], d.T)[0] == pytest.approx(g.solve(px, pa, None, po)[0], abs=1e-12)
        checked += np.isfinite(min(forced))
    assert checked == d.P


def test_load_hull_distances_solved_by_hand(monkeypatch):
    """load_hull.py's `hull_distance` on points whose l1 distance from the joint cache trajectories
    is worked out by hand (benchmarks/RESULTS.md, "Forty-ninth round")."""
    import numpy as np

    hull_distance = _bench_module("load_hull", monkeypatch).hull_distance
    # A schedule is in the hull: pair 0 loaded in slot 0, pair 1 in slot 1 (one fits at a time)
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert hull_distance(a, a, np.ones(2), 1.0)[0] == pytest.approx(0.0, abs=1e-9)
    # Both loaded in one slot where one fits: the nearest mixtures, e.g. half each or one of them,
    # differ by 2 in l1 (a and u are both (1, 1) against (½, ½) twice, or (1, 0) twice)
    one = np.ones((1, 2))
    assert hull_distance(one, one, np.ones(2), 1.0)[0] == pytest.approx(2.0, abs=1e-7)
    # Three pairs, two fit: in slots t−1 and t pairs 0, 1, 2 are out 0.5, 0.25, 0.25 (so exactly one
    # is out in each), and pair 0 comes back in slot t with share 0.5 while no other out-share
    # moves. u_0 + a_0(t−1) + a_1(t) + a_2(t) − u_1 − u_2 ≤ 2 holds for every schedule (coefficients
    # ±1), and is 2.5 here: the distance is at least 0.5, and dropping u_0 to 0 (the same out-sets in
    # both slots) is a mixture, so it is 0.5.
    A = np.array([[0.5, 0.75, 0.75], [0.5, 0.75, 0.75]])
    U = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
    assert hull_distance(A, U, np.ones(3), 2.0, loads_from=1)[0] == pytest.approx(0.5, abs=1e-7)
    U[1, 0] = 0.0
    assert hull_distance(A, U, np.ones(3), 2.0, loads_from=1)[0] == pytest.approx(0.0, abs=1e-9)
    # The first slot's loads are not free from a cold start: (A, U) of slot 0 must agree
    assert hull_distance(A[:1], np.zeros((1, 3)), np.ones(3), 2.0)[0] == pytest.approx(2.0, abs=1e-7)


def test_load_cover_cuts_solved_by_hand_and_kept_by_every_schedule(monkeypatch):
    """load_cuts.py's `separate_covers`: the most violated load-cover cut per (t, p) on points
    worked out by hand, and none violated by any schedule (benchmarks/RESULTS.md, "Fiftieth round")."""
    import numpy as np

    separate = _bench_module("load_cuts", monkeypatch).separate_covers
    # The forty-ninth round's point (three pairs, two fit): pair 0 back in slot 1 with share 0.5
    # while pairs 1 and 2 stay at 0.75: u_0 + a_0(0) + a_1 + a_2 − u_1 − u_2 = 2.5 against 2
    A = np.array([[0.5, 0.75, 0.75], [0.5, 0.75, 0.75]])
    U = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
    cuts = separate(A, U, np.ones(3), 2.0)
    assert [(t, p, Q.tolist()) for t, p, Q, _ in cuts] == [(1, 0, [1, 2])]
    assert cuts[0][3] == pytest.approx(0.5)
    # Sizes 2, 1, 1, 1 and memory 3: a cover with pair 0 needs two of the others. Pair 0 comes
    # back (0.5) and was in (0.5); pairs 1, 2, 3 stay 0.9, 0.5, 1.0, so the cheapest cover leaves
    # out pair 2: 1 − (0.1 + 0) = 0.9. For pairs 1 to 3 every cover holds pair 0 (stays 0): none.
    A = np.array([[0.5, 0.9, 0.5, 1.0], [0.5, 0.9, 0.5, 1.0]])
    U = np.array([[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]])
    cuts = separate(A, U, np.array([2.0, 1.0, 1.0, 1.0]), 3.0)
    assert [(t, p, Q.tolist()) for t, p, Q, _ in cuts] == [(1, 0, [1, 3])]
    assert cuts[0][3] == pytest.approx(0.9)
    # No schedule violates a cut: every pair of sets that fit, for random sizes and memories
    rng = np.random.default_rng(7)
    for _ in range(40):
        P = int(rng.integers(2, 6))
        sizes = rng.integers(1, 5, P).astype(float)
        cap = float(rng.integers(1, sizes.sum()))
        fit = [S for S in range(1 << P) if sizes @ ((S >> np.arange(P)) & 1) <= cap]
        for S1 in fit:
            for S2 in fit:
                a1, a2 = (S1 >> np.arange(P)) & 1, (S2 >> np.arange(P)) & 1
                A = np.array([a1, a2], float)
                U = np.array([a1, a2 * (1 - a1)], float)
                assert not separate(A, U, sizes, cap, tol=1e-12), (sizes, cap, S1, S2)


def test_the_arc_lp_is_the_station_problem_and_its_root(monkeypatch):
    """load_cuts.py's `ArcLP`: with integral flows it is problem (28) (the brute-force optimum of
    tiny stations), and with the converged root's cuts its LP value is the root's bound."""
    import numpy as np

    from optcache.evaluator import accepted
    from optcache.scenario import generate
    from optcache.solvers.lagrange import PairBounds
    from optcache.solvers.lagrange.search import ROOT_TOL, Search
    from tests.bruteforce import brute_force, random_tiny

    bench = _bench_module("load_cuts", monkeypatch)
    ArcLP = bench.ArcLP
    checked = 0
    for seed in range(12):
        d = random_tiny(np.random.default_rng(seed)).station_data(0)
        opt = brute_force(d)[0]
        lp = ArcLP(d, [])
        assert lp.solve()[0] <= opt + 1e-9
        bound, incumbent = lp.mip(60.0)
        assert incumbent == pytest.approx(opt, rel=1e-6, abs=1e-9)
        assert bound <= opt * (1 + 1e-6) + 1e-9
        checked += 1
    assert checked == 12
    # Tiny stations whose LP point breaks load-cover cuts: rows added until none is broken raise the
    # LP's value, never above the optimum, and the MIP with them still finds the optimum
    raised = 0
    for seed in (67, 95, 96, 101, 110, 129, 134, 138):
        d = random_tiny(np.random.default_rng(seed)).station_data(0)
        opt = brute_force(d)[0]
        lp = ArcLP(d, [])
        first, f, _ = lp.solve()
        for _ in range(20):
            A, _, U = lp.shares(f)
            cuts = bench.separate_covers(A, U, d.s, accepted(d.G))
            if not cuts:
                break
            for t, p, Q, _ in cuts:
                lp.add_cover(t, p, Q)
            v, f, _ = lp.solve()
            assert v <= opt + 1e-9
        raised += v > first + 1e-9
        assert lp.mip(60.0)[1] == pytest.approx(opt, rel=1e-6, abs=1e-9)
    assert raised == 8
    d = generate(stations=1, seed=102, slots=8).station_data(0)
    s = Search(d, None, np.inf, 1e-4, quiet=True)
    root = s.colgen([PairBounds.free(d.T) for _ in range(d.P)], np.zeros(s.master.n_rows), ROOT_TOL, separate=True)
    assert s.master.cuts  # the comparison includes cuts
    assert ArcLP(d, s.master.cuts).solve()[0] == pytest.approx(root.L, rel=1e-6)


def test_hull_cut_is_the_hand_solved_inequality_and_kept_by_every_schedule(monkeypatch):
    """load_hull.py's `hull_cut`: the membership LP's dual as an inequality. On the forty-ninth
    round's point it is u_0 + a_0(t−1) + a_1(t) + a_2(t) − u_1 − u_2 ≤ 2, violated by 0.5; on
    random points of random stations every pair of sets that fit keeps it and the point breaks
    it by its l1 distance."""
    import numpy as np

    mod = _bench_module("load_hull", monkeypatch)
    A = np.array([[0.5, 0.75, 0.75], [0.5, 0.75, 0.75]])
    U = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
    viol, pa, pu, pi0 = mod.hull_cut(A, U, np.ones(3), 2.0, loads_from=1)
    assert viol == pytest.approx(0.5, abs=1e-7) and pi0 == pytest.approx(2.0, abs=1e-7)
    assert np.allclose(pa, [[1, 0, 0], [0, 1, 1]], atol=1e-7)
    assert np.allclose(pu, [[0, 0, 0], [1, -1, -1]], atol=1e-7)
    assert mod.hull_cut(A, np.zeros_like(U), np.ones(3), 2.0, loads_from=1) is None
    rng = np.random.default_rng(3)
    cut = 0
    for _ in range(25):
        P = int(rng.integers(2, 5))
        sizes = rng.integers(1, 4, P).astype(float)
        cap = float(rng.integers(1, sizes.sum()))
        A, U = rng.uniform(0, 1, (2, P)), np.zeros((2, P))
        U[1] = rng.uniform(0, 1, P) * A[1]
        c = mod.hull_cut(A, U, sizes, cap, loads_from=1)
        if c is None:
            continue
        cut += 1
        viol, pa, pu, pi0 = c
        assert viol == pytest.approx(mod.hull_distance(A, U, sizes, cap, 1)[0], abs=1e-6)
        assert (pa * A).sum() + (pu * U).sum() - pi0 == pytest.approx(viol, abs=1e-9)
        fit = [np.array((S >> np.arange(P)) & 1, float) for S in range(1 << P) if sizes @ ((S >> np.arange(P)) & 1) <= cap]
        worst = max(pa[0] @ a1 + pa[1] @ a2 + pu[1] @ (a2 * (1 - a1)) for a1 in fit for a2 in fit)
        assert worst == pytest.approx(pi0, abs=1e-7)  # valid, and tight at some schedule
    assert cut >= 10


def test_gap_split_on_hand_made_tables(tmp_path):
    """Seed 7, two stations of the 20-minute table. slots=100: 1.98 % at 60 s (bound 0.99, schedule
    1.01), 0.99 % at 300 s (0.995 / 1.005), certified at 1,200 s in 700.4 s (0.9999 / 1.0, 300 nodes,
    root 0.994 converged in 20 s): the optimum lies in [0.9999, 1.0], so the 60-s schedule is
    (1.01 − 1.0)/1.0 = 1.00 % to (1.01 − 0.9999)/0.9999 = 1.01 % above it, the 60-s bound
    (0.9999 − 0.99)/0.9999 = 0.99 % to (1.0 − 0.99)/1.0 = 1.00 % under it, the root 0.59–0.60 %
    under it; the schedule's share of the 60-s gap 0.01/(0.01 + 0.0099) = 50 %. users=15: no 300-s
    run, not certified at 1,200 s (0.498 / 0.502, root cut at 600.2 s of 1,200): schedule
    (0.505 − 0.502)/0.502 = 0.60 % to (0.505 − 0.498)/0.498 = 1.41 % above, bound
    (0.498 − 0.495)/0.498 = 0.60 % to (0.502 − 0.495)/0.502 = 1.39 % under. A grid station with no
    20-minute run is not reported; a 20-minute row with no grid row is refused."""
    head = "knob,value,seed,run,time_limit,termination,cost,bound,gap,root_bound,root_seconds,nodes,seconds\n"
    lines = _hand_made_report(tmp_path, "gap_split.py", {
        "exact_grid_7.csv": head + "slots,100,7,limit,60.0,time_limit,1.01,0.99,0.0198,0.985,4.1,10,60.0\n"
        "users,15,7,limit,60.0,time_limit,0.505,0.495,0.0198,0.495,30.0,0,60.1\n"
        "slots,20,7,limit,60.0,optimal,0.5,0.49995,1e-04,0.49,1.0,0,2.0\n",
        "exact_grid_long_7.csv": head + "slots,100,7,limit,300.0,time_limit,1.005,0.995,0.0099,0.99,5.0,40,300.0\n",
        "exact_grid_1200_7.csv": head + "slots,100,7,limit,1200.0,optimal,1.0,0.9999,1e-04,0.994,20.0,300,700.4\n"
        "users,15,7,limit,1200.0,time_limit,0.502,0.498,0.007968,0.497,600.2,0,1200.0\n"},
        ("exact_grid_1200_7.csv", "gpus,8,7,limit,1200.0,time_limit,1.0,0.99,0.01,0.98,10.0,5,1200.0\n"))
    assert lines[2:4] == [
        "| `slots=100`/7 | 1.98 % | 0.99 % | **700 s** (300) | 0.999900–1.000000 | 1.00–1.01 | 0.99–1.00 | 0.59–0.60 |",
        "| `users=15`/7 | 1.98 % | – | 0.80 % (0) | 0.498000–0.502000 | 0.60–1.41 | 0.60–1.39 | cut |"]
    assert lines[-1] == ("2 stations; 1 certified within 1,200 s. The schedule's share of those stations' 60-s "
                         "gaps (the rest is the bound's): median 50 % (of 1).")


def _station_tables():
    """Every committed table that gives a station of the grid (seed, knob, value) a schedule's cost or a
    bound: (schedules, bounds), each a DataFrame with the station, the value and where it comes from."""
    key = ["seed", "knob", "value"]
    costs, bounds = [], []
    for path in sorted(RESULTS.rglob("exact_grid_*.csv")):  # the re-runs in rerun53/ and rerun54/
        df, name = pd.read_csv(path), str(path.relative_to(RESULTS))
        if path.name.endswith("_policies.csv"):
            costs.append(df[key + ["cost"]].assign(source=name + ":" + df["method"]))
            continue
        costs.append(df[key + ["cost"]].assign(source=name + ":" + df["run"]))
        bounds.append(df[key + ["bound"]].assign(source=name + ":" + df["run"]))
        bounds.append(df[key].assign(bound=df["root_bound"], source=name + ":root"))
    for path in sorted(RESULTS.glob("time_split_*.csv")):
        df = pd.read_csv(path)
        costs.append(df[key + ["cost"]].assign(source=path.name))
        bounds.append(df[key + ["bound"]].assign(source=path.name))
    peers = pd.read_csv(RESULTS / "exact_peers.csv")
    for col in ("10", "30", "60"):
        costs.append(peers[key].assign(cost=peers[f"incumbent_{col}"], source="exact_peers.csv:" + peers["method"]))
        bounds.append(peers[key].assign(bound=peers[f"bound_{col}"], source="exact_peers.csv:" + peers["method"]))
    for path in sorted(RESULTS.glob("rolling_grid_*.csv")):
        df = pd.read_csv(path)
        costs.append(df[key + ["cost"]].assign(source=path.name + ":" + df["method"]))
    proofs = pd.read_csv(RESULTS / "tree_proof.csv")  # instances named seed=S,KNOB=V
    proofs = proofs.join(_case_keys(proofs["instance"]))
    costs.append(proofs[key + ["cost"]].assign(source="tree_proof.csv"))
    bounds.append(proofs[key + ["bound"]].assign(source="tree_proof.csv"))
    optima = [json.loads(p.read_text()) for p in sorted((RESULTS / "optima").glob("*.json"))]
    names = pd.Series([o["instance"] for o in optima])
    costs.append(_case_keys(names).assign(cost=[o["cost"] for o in optima], source="optima/" + names))
    return pd.concat(costs, ignore_index=True), pd.concat(bounds, ignore_index=True)


def _case_keys(names: pd.Series) -> pd.DataFrame:
    """seed, knob and value of case names `seed=S,KNOB=V` (tree_proof.py's). A case that moves two
    knobs (`seed=S,users=15,slots=30`) is no grid station: its knob is the rest of its name and its
    value 0, so it is only ever compared with itself."""
    def key(name: str) -> tuple[int, str, int]:
        knobs = dict(kv.split("=") for kv in name.split(","))
        seed = int(knobs.pop("seed"))
        if len(knobs) == 1:
            ((knob, value),) = knobs.items()
            return seed, knob, int(value)
        return seed, ",".join(f"{k}={v}" for k, v in knobs.items()), 0

    return pd.DataFrame([key(n) for n in names], columns=["seed", "knob", "value"], index=names.index)


def test_case_keys_keep_a_two_knob_case_apart_from_the_grid_station():
    """`seed=101,users=15,slots=30` (a 30-slot station) must not be keyed as the grid's 100-slot
    `users=15`/101, or its cost and bound would be compared with another station's."""
    keys = _case_keys(pd.Series(["seed=102,slots=20", "seed=101,users=15,slots=30"]))
    assert keys.to_dict("records") == [{"seed": 102, "knob": "slots", "value": 20},
                                       {"seed": 101, "knob": "users=15,slots=30", "value": 0}]


def test_no_committed_bound_exceeds_a_committed_schedule_of_its_station():
    """Across every committed run of a grid station (the grid's 60-s runs and retries and their
    re-runs, the 300-s and 20-minute runs, the time splits, the replacement policies, rolling horizon,
    and the peers' MPS solves by HiGHS and SCIP), no bound is above any schedule's cost (beyond 1e-9 relative): a bound that was not one
    would show here as soon as another method, seed group or time limit found a cheaper schedule."""
    import numpy as np

    costs, bounds = _station_tables()
    costs = costs[np.isfinite(costs["cost"])]
    bounds = bounds[np.isfinite(bounds["bound"])]
    key = ["seed", "knob", "value"]
    best = costs.sort_values("cost").drop_duplicates(key)
    top = bounds.sort_values("bound", ascending=False).drop_duplicates(key)
    both = top.merge(best, on=key, suffixes=("_bound", "_cost"))
    assert len(both) >= 90 and len(bounds) >= 600 and len(costs) >= 1300
    over = both[both["bound"] > both["cost"] * (1 + 1e-9)]
    assert over.empty, over.to_string()


def test_gap_split_prints_the_table_of_results():
    """The fifty-second round's table (benchmarks/RESULTS.md, "Fifty-second round") and its counts are
    what gap_split.py makes of the committed exact_grid, exact_grid_long and exact_grid_1200 tables."""
    blocks = _report_in_section(["gap_split.py"], "**Fifty-second round", "**Fifty-first round")
    assert len(blocks) == 2 and blocks[0].startswith("| station | gap at 60 s | at 300 s")


TIME_SPLIT_TABLES = ["benchmarks/results/time_split_600_103.csv", "benchmarks/results/time_split_600_102.csv",
                     "benchmarks/results/time_split_60.csv"]


def test_time_split_report_is_the_table_of_results():
    """RESULTS.md's "Fifty-third round" table is what `time_split.py --report` makes of the
    committed tables."""
    blocks = _report_in_section(["time_split.py", "--report", *TIME_SPLIT_TABLES], "**Fifty-third round",
                                "**Fifty-second round")
    assert len(blocks) == 1 and blocks[0].startswith("| station | limit | outcome")
    assert len(blocks[0].splitlines()) == 2 + sum(len(pd.read_csv(ROOT / t)) for t in TIME_SPLIT_TABLES)


@pytest.mark.parametrize(("folder", "section", "after"), [("rerun53", "**Fifty-third round", "**Fifty-second round"),
                                                         ("rerun54", "**Fifty-fourth round", "**Fifty-third round"),
                                                         ("rerun57", "**Fifty-seventh round", "**Fifty-sixth round")])
def test_the_grid_re_run_is_the_report_in_results(folder, section, after):
    """The re-runs of the grid (benchmarks/results/rerun53/ with the same code, rerun54/ with the
    chained branching, rerun57/ with strong branching): their grid and retry tables are what
    grid_report.py makes of those CSVs in their rounds' sections, and they have the stored grid's
    stations."""
    blocks = _report_in_section(["grid_report.py", "--dir", f"benchmarks/results/{folder}"], section, after)
    assert [b.splitlines()[0][:16] for b in blocks if b.startswith("|")] == ["| point | memory", "| station | gap "]
    key = ["seed", "knob", "value"]
    for seed in (101, 102, 103):
        stored = pd.read_csv(RESULTS / f"exact_grid_{seed}.csv")
        rerun = pd.read_csv(RESULTS / folder / f"exact_grid_{seed}.csv")
        assert list(rerun.columns) == list(stored.columns)
        assert rerun[rerun["run"] == "limit"][key].values.tolist() == stored[stored["run"] == "limit"][key].values.tolist()


def test_time_split_report_of_a_hand_made_row(tmp_path):
    """Shares worked by hand: 5 + 1 + 10 + 34 of 50 s; 25 s in 1,000 LP solves (25 ms each, half
    the solve); 200 of the tree's 800 LP solves in pruned children. A table without the counters
    is refused naming --report."""
    row = {"knob": "slots", "value": 20, "seed": 1, "time_limit": 60.0, "termination": "optimal", "cost": 1.0,
           "bound": 1.0, "gap": 0.0, "seconds": 50.0, "nodes": 7, "root_seconds": 5.0, "heuristic_seconds": 1.0,
           "lns_seconds": 10.0, "tree_seconds": 34.0, "lp_solves": 1000, "lp_seconds": 25.0, "evaluations": 900,
           "lagrangian_seconds": 5.0, "tree_lp_solves": 800, "pruned_children": 3, "pruned_child_lp_solves": 200,
           "load1": 1.0}
    pd.DataFrame([row, dict(row, termination="time_limit", gap=0.01234, seed=2)]).to_csv(tmp_path / "t.csv", index=False)
    r = run("time_split.py", "--report", str(tmp_path / "t.csv"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[2] == "| `slots=20`/1 | 60 s | certified | 50 | 10 % | 2 % | 20 % | 68 % | 7 | 50 %, 1,000, 25.0 | 10 % | 3, 25 % |"
    assert lines[3].startswith("| `slots=20`/2 | 60 s | 1.23 % | 50 |")
    pd.DataFrame([{k: v for k, v in row.items() if k != "tree_seconds"}]).to_csv(tmp_path / "u.csv", index=False)
    r = run("time_split.py", "--report", str(tmp_path / "u.csv"), cwd=tmp_path)
    assert r.returncode == 2 and "argument --report" in r.stderr and "tree_seconds" in r.stderr
