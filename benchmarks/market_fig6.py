"""Fig. 6: total, ground and satellite surplus by mechanism against stations, services, GPUs, users.

    .venv/bin/python benchmarks/market_fig6.py            # 5 values per knob, default Args() (~15 min)
    .venv/bin/python benchmarks/market_fig6.py --quick    # 3 values per knob, a small config (~3 min)

For every setting (one knob moved from the paper's defaults: 5 stations, 10 services, 24 GPUs,
10 users) a critical-form DQMSB is trained on that setting's training episodes and every mechanism
is scored on its held-out episodes. Writes to the folder benchmarks/results/ (or --out, a folder),
each file atomically; with --quick the names end in _quick (market_fig6_quick.csv, .png):
- market_fig6.csv: one row per (knob, value, seed, mechanism) with columns knob, value, seed,
  mechanism (first_best, spa, myopic, optimal, best_fixed_rho, best_fixed_action, dqmsb), total_surplus,
  ground_surplus, satellite_surplus, efficiency, revenue, satellite_share, rho (the mean of the
  finite ρ over the rounds in coverage: rounds with ρ = ∞, which the satellite wins, are left out,
  and their share, `tidy()`'s rho_infinite, is not in this table), train_seconds (of that
  setting's DQMSB). Empty (NaN): revenue, satellite_share and rho of
  first_best, rho of spa (ρ is reported for myopic, optimal, best_fixed_rho, best_fixed_action
  and dqmsb), and rho wherever every ρ is ∞;
- market_fig6.png: per knob, grouped bars per mechanism, ground (solid) + satellite (hatched).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import Parser, check_out_dir, check_seeds, entry, integer, save_figure, write_csv  # noqa: E402

from optcache.market.dqn import Args, train  # noqa: E402
from optcache.market.experiment import evaluate, tidy  # noqa: E402
from optcache.market.valuations import market_dataset  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
QUICK = dict(train_instances=16, episodes=32, eval_instances=4)
SWEEPS = {"stations": [3, 4, 5, 6, 7], "services": [10, 12, 14, 16, 18], "gpus": [16, 20, 24, 28, 32],
          "users": [5, 10, 15, 20, 25]}
QUICK_SWEEPS = {k: [v[0], v[2], v[4]] for k, v in SWEEPS.items()}
MECHS = ("spa", "myopic", "optimal", "best_fixed_rho", "best_fixed_action", "dqmsb")


def setting(base: Args, knob: str, value: int, seed: int) -> pd.DataFrame:
    args = replace(base, seed=seed, market=replace(base.market, **{knob: value}))
    t0 = time.perf_counter()
    res = train(args)
    data = market_dataset(args.market, args.eval_seeds())
    result = evaluate(data.subset(data.scored), {"dqmsb": res.policy})
    return tidy(result, train_seconds=res.seconds, wall_seconds=time.perf_counter() - t0)


def plot(df: pd.DataFrame, path: Path) -> None:
    knobs = list(dict.fromkeys(df["knob"]))
    fig, axes = plt.subplots(1, len(knobs), figsize=(4.2 * len(knobs), 3.8))
    width = 0.8 / len(MECHS)
    for ax, knob in zip(np.atleast_1d(axes), knobs, strict=True):
        d = df[df["knob"] == knob].groupby(["value", "mechanism"], as_index=False)[
            ["ground_surplus", "satellite_surplus"]].mean()
        values = sorted(d["value"].unique())
        for j, mech in enumerate(MECHS):
            s = d[d["mechanism"] == mech].set_index("value").reindex(values)
            x = np.arange(len(values)) + (j - (len(MECHS) - 1) / 2) * width
            ax.bar(x, s["ground_surplus"], width, color=f"C{j}", label=mech.replace("_", " "))
            ax.bar(x, s["satellite_surplus"], width, bottom=s["ground_surplus"], color=f"C{j}", alpha=0.45,
                   hatch="//", edgecolor="white")
        fb = d[d["mechanism"] == "first_best"].set_index("value").reindex(values)
        ax.plot(np.arange(len(values)), fb["ground_surplus"] + fb["satellite_surplus"], "k_", ms=22, mew=2,
                label="first best")
        ax.set_xticks(np.arange(len(values)), [str(v) for v in values])
        ax.set_xlabel(f"number of {knob}")
        ax.set_title(f"surplus vs {knob}")
    np.atleast_1d(axes)[0].set_ylabel("held-out surplus (ground solid, satellite hatched)")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 values per knob, small training config; files named market_fig6_quick*")
    ap.add_argument("--seeds", type=integer, nargs="+", metavar="SEED", default=[0],
                    help="training seeds, a list of seed ids in [0, 999] (default: 0)")
    ap.add_argument("--out", type=Path, default=RESULTS,
                    help="output folder, not a file (default: benchmarks/results)")
    ns = ap.parse_args()
    base = Args(**QUICK) if ns.quick else Args()
    seeds = check_seeds(ap, "--seeds", base, ns.seeds)
    suffix = "_quick" if ns.quick else ""
    check_out_dir(ap, "--out", ns.out, [f"market_fig6{suffix}.csv", f"market_fig6{suffix}.png"])
    sweeps = QUICK_SWEEPS if ns.quick else SWEEPS
    cache: dict[tuple, pd.DataFrame] = {}
    rows = []
    defaults = base.market
    for knob, values in sweeps.items():
        for value in values:
            for seed in seeds:
                key = (replace(defaults, **{knob: value}), seed)
                if key not in cache:  # the default setting appears in every sweep: train it once
                    cache[key] = setting(base, knob, value, seed)
                t = cache[key]
                rows.append(t.assign(knob=knob, value=value, seed=seed))
                dq = t.set_index("mechanism")
                print(f"{knob}={value} seed {seed}: efficiency " + ", ".join(
                    f"{m} {dq.loc[m, 'efficiency']:.4f}" for m in MECHS) + f" ({t['train_seconds'].iloc[0]:.0f} s)",
                    flush=True)
    df = pd.concat(rows, ignore_index=True)
    cols = ["knob", "value", "seed", "mechanism", "total_surplus", "ground_surplus", "satellite_surplus",
            "efficiency", "revenue", "satellite_share", "rho", "train_seconds"]
    write_csv(ns.out / f"market_fig6{suffix}.csv", df[cols])
    plot(df, ns.out / f"market_fig6{suffix}.png")
    print(f"wrote {ns.out}/market_fig6{suffix}.csv and .png")


if __name__ == "__main__":
    entry(main)
