"""Where the paper's claims would hold (issue 13): verdict tables from the claim studies.

Run the grids first (each resumable, local pool or Dask):

    for g in claim1_saving claim2_policies claim3_optimum market_references market_dqmsb market_literal market_default; do
      .venv/bin/optcache study benchmarks/grids/claims/$g.toml --out benchmarks/results/claims/$g.parquet --workers 1
    done
    .venv/bin/python benchmarks/claims_summary.py [--tables DIR] [--out-dir DIR]

Reads the seven study tables CLAIM.parquet from --tables (default benchmarks/results/claims), all
of them before anything is written. Writes --out-dir/verdicts_*.csv (default: beside the tables;
one per claim, tidy: one row per setting of the swept assumptions, the claimed quantity's mean over
seeds and its spread, `holds`), each atomically, and prints the settings where each claim holds
and the defaults. Measurements: optcache/claims.py;
readings, thresholds and ranges: docs/claims.md.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from common import Parser, check_out_dir, entry, write_csv

from optcache import claims as C
from optcache.errors import InvalidInput
from optcache.market.sweep import read_market
from optcache.study import read

RESULTS = Path(__file__).resolve().parent / "results" / "claims"
STUDY_TABLES = ("claim1_saving", "claim2_policies", "claim3_optimum")
MARKET_TABLES = ("market_references", "market_dqmsb", "market_default", "market_literal")
VERDICTS = ("claim1", "claim2", "claim3", "market_references", "market_dqmsb", "claims78")
DEFAULTS = {"switching_cost": 0.1, "backhaul_mb_per_s": 10000.0, "slot_seconds": 0.05, "beta_min": 0.6,
            "access": "paper", "noise_dbm_per_hz": -174.0, "path_loss_exponent": 3.0}
pd.set_option("display.width", 220)
pd.set_option("display.max_rows", 400)


def at(df: pd.DataFrame, **values) -> pd.DataFrame:
    for k, v in values.items():
        if k in df:
            df = df[df[k] == v]
    return df


def main() -> None:
    ap = Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=Path, default=RESULTS,
                    help="folder of the claim studies' tables (default: benchmarks/results/claims)")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="folder of the verdicts_*.csv tables (default: the --tables folder)")
    args = ap.parse_args()
    out = args.tables if args.out_dir is None else args.out_dir
    try:
        tables = {n: read(args.tables / f"{n}.parquet") for n in STUDY_TABLES}
        tables.update({n: read_market(args.tables / f"{n}.parquet") for n in MARKET_TABLES})
    except InvalidInput as e:
        ap.fail("--tables", str(e))
    check_out_dir(ap, "--out-dir", out, [f"verdicts_{n}.csv" for n in VERDICTS])

    fmt = {"float_format": lambda x: f"{x:.4f}", "index": False}
    v1 = C.saving_verdicts(C.satellite_savings(tables["claim1_saving"]))
    v2 = C.policy_ranking(tables["claim2_policies"])
    v3 = C.optimum_gaps(tables["claim3_optimum"])
    v4 = C.market_claims(tables["market_references"])
    v5 = C.market_claims(tables["market_dqmsb"])
    rows = []
    for name, state in (("market_default", "critical"), ("market_literal", "literal")):
        t = tables[name]
        v = C.market_claims(t)
        rows.append(C.training_claims(t).assign(state=state, grid=name,
                                                 over_optimal_mean=v["over_optimal_mean"].iloc[0],
                                                 over_optimal_std=v["over_optimal_std"].iloc[0],
                                                 points_over_optimal_mean=v["points_over_optimal_mean"].iloc[0],
                                                 points_over_optimal_std=v["points_over_optimal_std"].iloc[0],
                                                 over_best_other_mean=v["over_best_other_mean"].iloc[0],
                                                 over_best_other_std=v["over_best_other_std"].iloc[0],
                                                 spa_efficiency_mean=v["spa_efficiency_mean"].iloc[0],
                                                 spa_efficiency_std=v["spa_efficiency_std"].iloc[0],
                                                 dqmsb_efficiency_std=v["dqmsb_efficiency_std"].iloc[0],
                                                 optimal_efficiency_mean=v["optimal_efficiency_mean"].iloc[0],
                                                 optimal_efficiency_std=v["optimal_efficiency_std"].iloc[0]))
    v78 = pd.concat(rows, ignore_index=True)
    for name, df in zip(VERDICTS, (v1, v2, v3, v4, v5, v78), strict=True):
        write_csv(out / f"verdicts_{name}.csv", df)

    print("Claim 1 at the defaults (always in coverage):")
    print(at(v1, **DEFAULTS).to_string(**fmt))
    print("\nClaim 1, settings where it holds:")
    print(v1[v1["holds"]].to_string(**fmt))
    print("\nClaim 1, best setting per reading (largest mean saving):")
    print(v1.loc[v1.groupby("reading")["mean_mean"].idxmax()].to_string(**fmt))
    print("\nClaim 1 with channel access (mean saving per reading):")
    print(v1[v1["access"] == "channel"].to_string(**fmt))

    print("\nClaim 2 (points where least-AoT is lowest):")
    print(v2.to_string(**fmt))

    print("\nClaim 3 (least-AoT / optimum - 1):")
    print(v3.to_string(**fmt))

    cols = ["match", "pareto_shape", "contract", "slot_seconds", "cloud_match", "coverage_share_mean",
            "satellite_first_best_share_mean", "spa_efficiency_mean", "optimal_efficiency_mean",
            "over_optimal_mean", "over_optimal_std", "over_myopic_mean", "over_msb_rho1_mean",
            "over_msb_rho1_std", "holds_surplus", "holds_efficiency"]
    print("\nClaims 4-5, references (upper bounds first-best / MSB):")
    print(v4[cols].to_string(**fmt))
    print(f"\nlargest bound on DQMSB / optimal MSB: {v4['over_optimal_mean'].max():.4f}; "
          f"on DQMSB / myopic: {v4['over_myopic_mean'].max():.4f}")

    cols5 = ["match", "pareto_shape", "contract", "cloud_match", "satellite_first_best_share_mean",
             "dqmsb_efficiency_mean", "dqmsb_efficiency_std", "spa_efficiency_mean", "optimal_efficiency_mean",
             "over_optimal_mean", "over_optimal_std", "over_myopic_mean", "over_myopic_std", "over_msb_rho1_mean",
             "over_msb_rho1_std", "points_over_optimal_mean", "points_over_optimal_std", "points_over_msb_rho1_mean",
             "points_over_msb_rho1_std", "over_best_other_mean", "over_best_other_std", "converged_epoch_mean",
             "converged_epoch_std", "holds_surplus", "holds_efficiency", "holds_highest"]
    print("\nClaims 4-6, DQMSB trained (24 epochs, 12 episodes):")
    print(v5[cols5].to_string(**fmt))

    print("\nClaims 4-8 at the defaults (critical: default training; literal: short training):")
    print(v78.T.to_string())
    print(f"wrote {out}/verdicts_*.csv")


if __name__ == "__main__":
    entry(main)
