"""Fig. 5: DQMSB's training curve against SPA and MSB baselines, and the issue-5 targets.

    .venv/bin/python benchmarks/market_fig5.py            # default Args(), seeds 0 1 2 (~3 min)
    .venv/bin/python benchmarks/market_fig5.py --quick    # a small config, seed 0 (~30 s)

Writes to the folder benchmarks/results/ (or --out, a folder), each file atomically; with --quick
the names end in _quick (market_fig5_quick.csv, market_fig5_quick_summary.csv,
market_fig5_quick.png), so a quick run does not replace the full run's files:
- market_fig5.csv, one row per (seed, state, series, epoch): `series` is dqmsb (the held-out
  greedy policy after each epoch) or a constant baseline (spa, myopic, optimal, best_fixed_rho,
  best_fixed_action, first_best) repeated over the epochs; columns seed, state, series, epoch, total_surplus,
  ground_surplus, satellite_surplus, efficiency, seconds (training wall time, dqmsb rows only).
- market_fig5_summary.csv, one row per (seed, state), the final held-out scores: seed, state,
  rounds, rounds_in_coverage, satellite_first_best_share (share of covered rounds where the
  satellite is first-best); spa_efficiency, myopic_efficiency, optimal_efficiency,
  best_fixed_rho_efficiency, best_fixed_action_efficiency, dqmsb_efficiency (total surplus /
  first-best); best_fixed_rho (the ρ ≥ 1 best in hindsight),
  optimal_rho_mean, dqmsb_rho_mean (mean ρ of those mechanisms), best_fixed_action_rho (the ρ
  of the best fixed action among DQMSB's own levels); dqmsb_over_optimal, dqmsb_over_best_fixed,
  dqmsb_over_best_action, dqmsb_over_spa (ratios of total surplus, the issue's targets);
  untrained_efficiency (DQMSB before training); train_seconds and wall_seconds (run-dependent);
  manipulable_share (share of covered rounds where some station gains by a unilateral deviation
  x_n = f·v_n) and manipulation_gain (its mean relative gain there).
- market_fig5.png: total, ground and satellite surplus per epoch (first seed), baselines dashed.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from common import Parser, check_out_dir, check_seeds, entry, integer, save_figure, write_csv  # noqa: E402

from optcache.market.dqn import Args, public_features, train  # noqa: E402
from optcache.market.experiment import evaluate, manipulability  # noqa: E402
from optcache.market.valuations import market_dataset  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
QUICK = dict(train_instances=16, episodes=32, eval_instances=4)
PARTS = ("total_surplus", "ground_surplus", "satellite_surplus", "efficiency")


def run(args: Args) -> tuple[pd.DataFrame, dict]:
    t0 = time.perf_counter()
    res = train(args, progress=True)
    seconds = time.perf_counter() - t0
    data = market_dataset(args.market, args.eval_seeds())
    held = data.subset(data.scored)
    result = evaluate(held, {"dqmsb": res.policy})
    curve = res.curve.assign(series="dqmsb")
    rows = [curve[["series", "epoch", *PARTS, "seconds"]]]
    consts = {"first_best": result["first_best"], **{k: v for k, v in result["mechanisms"].items() if k != "dqmsb"}}
    for name, m in consts.items():
        rows.append(pd.DataFrame({"series": name, "epoch": curve["epoch"], **{p: m[p] for p in PARTS}}))
    table = pd.concat(rows, ignore_index=True).assign(seed=args.seed, state=args.state)
    mech = result["mechanisms"]
    inside = held.subset(held.eligible)
    pub = public_features(inside)
    manip = manipulability(lambda x, r: res.policy.mechanism(x, r.x0, r.eligible, pub), inside)
    summary = {
        "seed": args.seed, "state": args.state, "rounds": result["rounds"],
        "rounds_in_coverage": result["rounds_in_coverage"],
        "satellite_first_best_share": result["satellite_first_best_share"],
        **{f"{k}_efficiency": mech[k]["efficiency"] for k in mech},
        "best_fixed_rho": mech["best_fixed_rho"]["rho"], "optimal_rho_mean": mech["optimal"]["rho"],
        "dqmsb_rho_mean": mech["dqmsb"]["rho"],
        "dqmsb_over_optimal": mech["dqmsb"]["total_surplus"] / mech["optimal"]["total_surplus"],
        "dqmsb_over_best_fixed": mech["dqmsb"]["total_surplus"] / mech["best_fixed_rho"]["total_surplus"],
        "dqmsb_over_best_action": mech["dqmsb"]["total_surplus"] / mech["best_fixed_action"]["total_surplus"],
        "best_fixed_action_rho": mech["best_fixed_action"]["rho"],
        "dqmsb_over_spa": mech["dqmsb"]["total_surplus"] / mech["spa"]["total_surplus"],
        "untrained_efficiency": res.untrained["efficiency"],
        "train_seconds": res.seconds, "wall_seconds": seconds,
        "manipulable_share": manip["share_manipulable"], "manipulation_gain": manip["mean_relative_gain"],
    }
    return table, summary


def plot(table: pd.DataFrame, path: Path) -> None:
    first = table[(table["seed"] == table["seed"].min()) & (table["state"] == "critical")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    styles = {"dqmsb": ("C0", "-"), "spa": ("C1", "--"), "optimal": ("C2", "--"), "myopic": ("C4", ":"),
              "best_fixed_rho": ("C3", "-."), "best_fixed_action": ("C5", "-."), "first_best": ("k", ":")}
    for ax, part in zip(axes, ("total_surplus", "ground_surplus", "satellite_surplus"), strict=True):
        for name, (color, ls) in styles.items():
            s = first[first["series"] == name]
            ax.plot(s["epoch"], s[part], color=color, ls=ls, label=name.replace("_", " "))
        ax.set_title(part.replace("_", " "))
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("held-out surplus")
    axes[0].legend(fontsize=7)
    fig.suptitle("DQMSB convergence (Fig. 5): held-out surplus per training epoch")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="small config, one seed; files named market_fig5_quick*")
    ap.add_argument("--seeds", type=integer, nargs="+", metavar="SEED", default=None,
                    help="training seeds, a list of seed ids in [0, 999] (default: 0 1 2; 0 with --quick)")
    ap.add_argument("--no-literal", action="store_true", help="skip the literal-state comparison")
    ap.add_argument("--out", type=Path, default=RESULTS,
                    help="output folder, not a file (default: benchmarks/results)")
    ns = ap.parse_args()
    base = Args(**QUICK) if ns.quick else Args()
    seeds = check_seeds(ap, "--seeds", base, ns.seeds if ns.seeds is not None else ([0] if ns.quick else [0, 1, 2]))
    suffix = "_quick" if ns.quick else ""
    names = [f"market_fig5{suffix}.csv", f"market_fig5{suffix}_summary.csv", f"market_fig5{suffix}.png"]
    check_out_dir(ap, "--out", ns.out, names)
    tables, summaries = [], []
    for seed in seeds:
        for state in ("critical",) if ns.no_literal else ("critical", "literal"):
            if state == "literal" and seed != seeds[0]:
                continue  # one literal run shows the contrast
            t, s = run(replace(base, seed=seed, state=state))
            tables.append(t)
            summaries.append(s)
            print(f"seed {seed} {state}: dqmsb/optimal {s['dqmsb_over_optimal']:.4f}, dqmsb/best fixed "
                  f"{s['dqmsb_over_best_fixed']:.4f}, efficiency dqmsb {s['dqmsb_efficiency']:.4f} spa "
                  f"{s['spa_efficiency']:.4f} optimal {s['optimal_efficiency']:.4f}, manipulable "
                  f"{s['manipulable_share']:.3f}, {s['train_seconds']:.1f} s", flush=True)
    table = pd.concat(tables, ignore_index=True)[["seed", "state", "series", "epoch", *PARTS, "seconds"]]
    write_csv(ns.out / names[0], table)
    write_csv(ns.out / names[1], pd.DataFrame(summaries))
    plot(table, ns.out / names[2])
    print(f"wrote {ns.out}/market_fig5{suffix}.csv, _summary.csv, .png")


if __name__ == "__main__":
    entry(main)
