"""optcache's exact methods against generic MILP solvers on the same station problems.

Run: OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/exact_peers.py \
         [--points slots=20 slots=40 ...] [--seeds 101] [--time-limit 60] [--methods lagrange ...] [--merge]
Needs the benchmark extra for SCIP: `.venv/bin/pip install -e '.[bench]'` (pyscipopt); without
it the SCIP rows are skipped with a message.

Per station (station 0 of `generate(stations=1, seed=seed, knob=value)`), each on one thread with
the same time limit:
- `lagrange`: optcache's branch, price and cut (gap 1e-4);
- `milp`: optcache's outer approximation on the network MILP in HiGHS (gap 1e-4);
- `highs-mps`, `scip-mps`: the network MILP of problem (28) with the first outer-approximation
  round's tangents (at the least-AoT schedule's κ), written to MPS by HiGHS and solved by a fresh
  HiGHS and by SCIP (pyscipopt). That MILP is a relaxation of (28) (tangents under-estimate the
  accuracy term), so its dual bound is a valid bound on (28); every incumbent a peer reports is
  mapped back to a schedule and re-scored by the evaluator, which gives its true cost.
For each method the trace (seconds, bound, incumbent's true cost) is sampled at 10, 30 and 60 s
(the best values reached by then: with a --time-limit below a sample time, that sample holds the
run's final values, e.g. bound_60 of a 3-s run is its 3-s bound) and the time at which incumbent
and bound first met within 1e-4 is recorded (`certified_s`, empty if never).

Writes benchmarks/results/exact_peers.csv (or --out: knob, value, seed, method, bound_10,
incumbent_10, bound_30, incumbent_30, bound_60, incumbent_60, certified_s, final_bound,
final_incumbent, load1), OUT_trace.csv beside it (the raw traces: knob, value, seed, method,
seconds, bound, incumbent; bound -inf: no bound yet, incumbent inf: no schedule yet) and a
figure OUT.png (relative gap against time, one panel per station). The tables are written as
OUT.partial.csv (and its trace) after every station and renamed at the end, so a stopped run
leaves OUT as it was (nothing resumes from the partial files; --merge keeps an earlier run's rows
that are not re-run). Points that draw the same station (slots=100 and services=10 are both the
default station) and seeds given twice run once.

With --report no method runs: the tables of benchmarks/RESULTS.md ("Peer solvers on the same
station problems"), one per seed, are printed from OUT as it is. A cell is a method's bound at 10
s, at 30 s and at the end of its run (– : none yet), then its time to a certificate (bold) or the
gap of its final bound below the best schedule any method found on that station.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    Parser,
    check_outputs,
    distinct,
    distinct_stations,
    entry,
    finish,
    parse_points,
    read_table,
    save_figure,
    seed_id,
    show,
    time_limit,
    write_partial,
)

from optcache.dynamics import State
from optcache.evaluator import evaluate_station
from optcache.models.matrix28 import build_matrix28
from optcache.scenario import generate
from optcache.solvers.exact import solve_station
from optcache.solvers.highs import MatrixSolver
from optcache.solvers.lagrange import lagrange_station
from optcache.solvers.policies import replace_station

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLES = (10, 30, 60)
GAP = 1e-4
METHODS = ("lagrange", "milp", "highs-mps", "scip-mps")
POINTS = ("slots=20", "slots=40", "slots=60", "slots=100", "services=6", "services=8", "gpus=40",
          "users=5")


def run_lagrange(d, limit):
    s = lagrange_station(d, time_limit=limit, gap=GAP, warm_start=replace_station(d, "laot"))
    # no history: out of time before the pair graphs were built (warm start and trivial bound)
    progress = s.history[0]["progress"] if s.history else []
    rows = [(r["seconds"], r["bound"], r["incumbent"]) for r in progress]
    return rows + [(s.seconds, s.bound, s.cost)]


def run_milp(d, limit):
    s = solve_station(d, time_limit=limit, gap=GAP, warm_start=replace_station(d, "laot"))
    rows, t, best = [], 0.0, np.inf
    for r in s.history:  # one row per outer-approximation round
        t += r["seconds"] or 0.0
        if r.get("evaluated") is not None:
            best = min(best, r["evaluated"])
        rows.append((t + s.build_seconds, r["bound"] if r["bound"] is not None else -np.inf, best))
    return rows + [(s.seconds, s.bound, s.cost)]


def export_mps(d, path: Path):
    """The first outer-approximation round's MILP (network form, tangents at least-AoT's κ) as MPS;
    returns the column indices of a and x."""
    wa, wx = replace_station(d, "laot")
    ev = evaluate_station(d, wa, wx)
    tangents = {(int(t), int(p)): [float(ev.kappa[t, p])] for t, p in zip(*np.nonzero(wx), strict=False)}
    mm = build_matrix28(d, State.cold(d.P), tangents=tangents)
    MatrixSolver(mm, threads=1).h.writeModel(str(path))
    return mm.a_col, mm.x_col


def true_cost(d, values, a_col, x_col) -> float:
    """The evaluator's cost of a peer's solution vector (inf if the schedule is infeasible)."""
    a, x = np.round(values[a_col]), np.round(values[x_col])
    ev = evaluate_station(d, a, x)
    return ev.cost if not ev.violations else np.inf


def run_highs_mps(d, mps, cols, limit):
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(mps))
    for k, v in {"threads": 1, "time_limit": float(limit), "mip_rel_gap": GAP, "random_seed": 0}.items():
        h.setOptionValue(k, v)
    rows, best, stopped = [], [np.inf], [False]

    def improving(e):
        best[0] = min(best[0], true_cost(d, np.asarray(e.data_out.mip_solution, float), *cols))
        rows.append((e.data_out.running_time, e.data_out.mip_dual_bound, best[0]))

    def interrupt(e):
        if stopped[0]:  # Ctrl-C: stop HiGHS cleanly (a KeyboardInterrupt raised inside a callback
            e.data_in.user_interrupt = True  # ended the run as "Solve error", the row saved)
        if not rows or e.data_out.running_time - rows[-1][0] > 1.0:
            rows.append((e.data_out.running_time, e.data_out.mip_dual_bound, best[0]))

    h.cbMipImprovingSolution.subscribe(improving)
    h.cbMipInterrupt.subscribe(interrupt)
    t0 = time.perf_counter()
    previous = signal.signal(signal.SIGINT, lambda *_: stopped.__setitem__(0, True))
    try:
        h.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    status = h.getModelStatus()
    if stopped[0] or status == highspy.HighsModelStatus.kInterrupt:
        raise KeyboardInterrupt  # not a row: it would pass for a run to the limit
    if status == highspy.HighsModelStatus.kSolveError:
        raise RuntimeError("HiGHS stopped with a solve error on the exported MILP")
    return rows + [(time.perf_counter() - t0, h.getInfo().mip_dual_bound, best[0])]


def run_scip_mps(d, mps, cols, limit):
    import pyscipopt

    m = pyscipopt.Model()
    m.hideOutput()
    m.readProblem(str(mps))
    m.setParam("limits/time", float(limit))
    m.setParam("limits/gap", GAP)
    m.setParam("parallel/maxnthreads", 1)
    m.setParam("lp/threads", 1)
    index = {v.name: i for i, v in enumerate(m.getVars())}
    order = sorted(index, key=lambda n: int(n[1:]) if n[1:].isdigit() else index[n])
    rows, best = [], [np.inf]

    class Events(pyscipopt.Eventhdlr):
        def eventinit(self):
            self.model.catchEvent(pyscipopt.SCIP_EVENTTYPE.BESTSOLFOUND, self)
            self.model.catchEvent(pyscipopt.SCIP_EVENTTYPE.NODESOLVED, self)

        def eventexec(self, event):
            t = self.model.getSolvingTime()
            if event.getType() == pyscipopt.SCIP_EVENTTYPE.BESTSOLFOUND:
                sol = self.model.getBestSol()
                vals = np.array([self.model.getSolVal(sol, v) for v in self.model.getVars()])
                full = np.zeros(len(order))
                for i, name in enumerate(v.name for v in self.model.getVars()):
                    full[int(name[1:]) if name[1:].isdigit() else i] = vals[i]
                best[0] = min(best[0], true_cost(d, full, *cols))
            if event.getType() != pyscipopt.SCIP_EVENTTYPE.BESTSOLFOUND and rows and t - rows[-1][0] < 1.0:
                return
            rows.append((t, self.model.getDualbound(), best[0]))

    m.includeEventhdlr(Events(), "trace", "bound and incumbent trace")
    t0 = time.perf_counter()
    m.optimize()
    if m.getStatus() == "userinterrupt":  # SCIP took the Ctrl-C itself ("pressed CTRL-C"): as HiGHS
        raise KeyboardInterrupt
    return rows + [(time.perf_counter() - t0, m.getDualbound(), best[0])]


def summarise(trace, limit):
    tr = pd.DataFrame(trace, columns=["seconds", "bound", "incumbent"]).sort_values("seconds")
    tr["bound"] = tr["bound"].cummax()
    tr["incumbent"] = tr["incumbent"].cummin()
    out = {}
    for s in SAMPLES:
        upto = tr[tr["seconds"] <= s + 1e-9]
        out[f"bound_{s}"] = upto["bound"].max() if len(upto) else np.nan
        out[f"incumbent_{s}"] = upto["incumbent"].min() if len(upto) else np.nan
    finite = np.isfinite(tr["incumbent"]) & np.isfinite(tr["bound"])
    met = tr[finite & ((tr["incumbent"] - tr["bound"]) <= GAP * tr["incumbent"].abs())]
    out["certified_s"] = float(met["seconds"].iloc[0]) if len(met) else np.nan
    out["final_bound"], out["final_incumbent"] = tr["bound"].iloc[-1], tr["incumbent"].iloc[-1]
    return out, tr


def figure(traces: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(traces.groupby(["knob", "value", "seed"]))
    cols = 4
    fig, axes = plt.subplots((len(groups) + cols - 1) // cols, cols, figsize=(14, 3.2 * ((len(groups) + cols - 1) // cols)),
                             squeeze=False)
    for ax, ((knob, value, seed), g) in zip(axes.ravel(), groups, strict=False):
        ref = g["incumbent"].replace(np.inf, np.nan).min()
        for method, gm in g.groupby("method"):
            gap = 100 * (gm["incumbent"].clip(upper=10 * ref) - gm["bound"]) / ref
            ax.step(gm["seconds"], gap.clip(lower=1e-3), where="post", label=method)
        ax.set_yscale("log")
        ax.set_title(f"{knob}={value}, seed {seed}", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("gap to bound (% of best cost)")
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=150)
    plt.close(fig)


KNOB_ORDER = ("slots", "services", "gpus", "users", "models")


def report(table: pd.DataFrame) -> str:
    """--report: one markdown table per seed (stations in the grid's order, methods in METHODS')."""
    def bound(v: float) -> str:
        return f"{v:.4f}" if np.isfinite(v) else "–"

    out = []
    for seed, g in table.groupby("seed", sort=True):
        methods = [m for m in METHODS if m in set(g["method"])]
        out += [f"| point (seed {seed}) | best schedule | " + " | ".join(methods) + " |",
                "|---|---|" + "---|" * len(methods)]
        stations = sorted(set(zip(g["knob"], g["value"], strict=True)),
                          key=lambda kv: (KNOB_ORDER.index(kv[0]), kv[1]))
        for knob, value in stations:
            rows = g[(g["knob"] == knob) & (g["value"] == value)].set_index("method")
            best = rows["final_incumbent"].min()
            cells = []
            for m in methods:
                if m not in rows.index:
                    cells.append("not run")
                    continue
                r = rows.loc[m]
                end = f"**{r['certified_s']:.0f} s**" if np.isfinite(r["certified_s"]) \
                    else f"{100 * (best - r['final_bound']) / best:.2f} %"
                cells.append(f"{bound(r['bound_10'])} / {bound(r['bound_30'])} / {bound(r['final_bound'])} · {end}")
            out.append(f"| {knob} = {value} | {best:.6f} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def trace_path(out: Path) -> Path:
    return out.with_name(out.stem + "_trace.csv")


def save(args, table: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """Write the table and the traces (with --merge, over the rows of an earlier run that were not
    re-run); returns all traces."""
    key = ["knob", "value", "seed", "method"]
    tpath = trace_path(args.out)
    if args.merge and args.out.exists() and tpath.exists():
        redone = set(table[key].apply(tuple, axis=1))

        def rest(old):
            return old[~old[key].apply(tuple, axis=1).isin(redone)]
        table = pd.concat([rest(pd.read_csv(args.out)), table], ignore_index=True)
        trace = pd.concat([rest(pd.read_csv(tpath)), trace], ignore_index=True)
    for df, path in ((table, args.out), (trace, tpath)):
        write_partial(path, df)  # the tables at their paths change only when the run ends
    return trace


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", nargs="+", default=list(POINTS), metavar="KNOB=VALUE",
                    help="stations to solve, e.g. slots=20 gpus=40 (knobs: slots, services, gpus, users, "
                         f"models; default: {' '.join(POINTS)})")
    ap.add_argument("--seeds", type=seed_id, nargs="+", metavar="SEED", default=[101],
                    help="scenario seeds, a list of seed ids (default: 101)")
    ap.add_argument("--time-limit", type=time_limit, default=60.0,
                    help="seconds for each method on each station (default: 60)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                    help="methods to run (default: all; scip-mps needs pyscipopt)")
    ap.add_argument("--merge", action="store_true",
                    help="replace only the re-run (station, method) rows of an existing --out")
    ap.add_argument("--out", type=Path, default=RESULTS / "exact_peers.csv",
                    help="output CSV; OUT_trace.csv and OUT.png are written beside it "
                         "(default: benchmarks/results/exact_peers.csv)")
    ap.add_argument("--report", action="store_true",
                    help="run nothing: print the RESULTS.md tables (one per seed) from --out as it is")
    args = ap.parse_args()
    if args.report:
        print(report(read_table(ap, "--out", args.out, ["knob", "value", "seed", "method", "certified_s",
                                                         "final_bound", "final_incumbent"], "a peers table")))
        return
    points, notes = distinct_stations(parse_points(ap, args.points))
    seeds = distinct(args.seeds)
    methods = distinct(args.methods)
    try:
        import pyscipopt  # noqa: F401

        have_scip = True
    except ImportError:
        have_scip = False
        if methods == ["scip-mps"]:
            ap.fail("--methods", "scip-mps needs pyscipopt (pip install -e '.[bench]')")
    check_outputs(ap, "--out", args.out, trace_path(args.out), args.out.with_suffix(".png"))
    if not have_scip and "scip-mps" in methods:
        print("pyscipopt not installed (pip install -e '.[bench]'): SCIP rows skipped")
    for note in notes:
        print(note, flush=True)
    lagrange_station(generate(slots=3, services=2, stations=1, seed=0).station_data(0))  # compile
    rows, traces = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for knob, value in points:
            for seed in seeds:
                d = generate(stations=1, seed=seed, **{knob: value}).station_data(0)
                mps = Path(tmp) / f"{knob}{value}-{seed}.mps"
                cols = export_mps(d, mps) if any(m.endswith("-mps") for m in methods) else None
                runs = {"lagrange": lambda d=d: run_lagrange(d, args.time_limit),
                        "milp": lambda d=d: run_milp(d, args.time_limit),
                        "highs-mps": lambda d=d, mps=mps, cols=cols: run_highs_mps(d, mps, cols, args.time_limit)}
                if have_scip:
                    runs["scip-mps"] = lambda d=d, mps=mps, cols=cols: run_scip_mps(d, mps, cols, args.time_limit)
                for method, fn in runs.items():
                    if method not in methods:
                        continue
                    summary, tr = summarise(fn(), args.time_limit)
                    key = {"knob": knob, "value": value, "seed": seed, "method": method}
                    rows.append({**key, **summary, "load1": os.getloadavg()[0]})
                    traces.append(tr.assign(**key))
                    print(show(rows[-1]), flush=True)
                alltr = save(args, pd.DataFrame(rows), pd.concat(traces, ignore_index=True))
    finish(args.out, trace_path(args.out))
    figure(alltr, args.out.with_suffix(".png"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    entry(main)
