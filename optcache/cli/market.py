"""`optcache market train --out CKPT [--log CSV]` and `optcache market evaluate [--checkpoint CKPT] [--json]`.

`evaluate` scores spa, myopic, optimal, the best fixed ρ in hindsight and DQMSB on the checkpoint's
held-out episodes. Without `--checkpoint` it uses the default policy (`Args()`), trained once per
configuration (40-50 s on one core) and kept in the user's cache (`optcache.cache.cache_dir()`,
keyed by the configuration's hash): the numbers always come from a trained auctioneer, and the
same ones as a new training would give (training is seeded).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from optcache.cli import CONTEXT, app, emit

log = logging.getLogger("optcache.cli.market")

market_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                         context_settings=CONTEXT,
                         help="The service market (docs/formulation.md §11): train and evaluate DQMSB.")
app.add_typer(market_app, name="market")

CONTRACT_KEYS = ("total_surplus", "ground_surplus", "satellite_surplus", "efficiency")

UNITS = {
    "surplus": "Σ over the scored rounds of v·z, v = c·m: c the round's resource cost in cost units "
               "(backhaul and cloud price of its requests, docs/formulation.md §11), m the CoT match "
               "(κ + κ_0)·ln(1/β) in tokens; so cost units × tokens",
    "efficiency": "total surplus / first-best total surplus (a fraction, 1 = first-best)",
    "first_best": "the first-best total surplus, in the unit of surplus",
}
"""Units of the numbers of `market evaluate --json`."""


def default_args():
    """The configuration `market evaluate` uses without --checkpoint: `Args()`, the paper's defaults."""
    from optcache.market.dqn import Args

    return Args()


def contract(result: dict) -> dict:
    """Reduce `experiment.evaluate`'s result to the CLI contract object."""
    return {"first_best": result["first_best"]["total_surplus"],
            "mechanisms": {name: {k: m[k] for k in CONTRACT_KEYS} for name, m in result["mechanisms"].items()}}


@market_app.command()
def train(
    out: Annotated[Path, typer.Option(help="Checkpoint to write (atomically).")],
    seed: Annotated[int, typer.Option(help="Seed of scenarios, initialisation, exploration, replay.")] = 0,
    state: Annotated[str, typer.Option(help="critical (strategy-proof) or literal (the paper's, all bids).")] = "critical",
    episodes: Annotated[int, typer.Option(help="Training epochs.")] = 96,
    train_instances: Annotated[int, typer.Option(help="Distinct training episodes (simulations).")] = 48,
    eval_instances: Annotated[int, typer.Option(help="Held-out episodes.")] = 8,
    actions: Annotated[int, typer.Option(help="|A|: ρ = 10^{a/|A|}.")] = 10,
    hidden: Annotated[int, typer.Option(help="Q-network hidden width.")] = 64,
    learning_rate: Annotated[float, typer.Option(help="Adam step size, in (0, 1].")] = 3e-4,
    gamma: Annotated[float, typer.Option(help="Discount γ of (33).")] = 0.0,
    stations: Annotated[int, typer.Option(help="Ground stations N.")] = 5,
    services: Annotated[int, typer.Option(help="Services.")] = 10,
    gpus: Annotated[int, typer.Option(help="GPUs per station.")] = 24,
    users: Annotated[int, typer.Option(help="Users per station.")] = 10,
    slots: Annotated[int, typer.Option(help="Slots per episode.")] = 100,
    policy: Annotated[str, typer.Option(help="Caching policy of the stations.")] = "laot",
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
    log_csv: Annotated[Path | None, typer.Option(
        "--log", metavar="CSV", help="Also write the training curve here: one row per epoch (loss, "
        "ε, held-out surplus and efficiency, seconds).")] = None,
) -> None:
    """Train a DQMSB auctioneer (Algorithm 2) and save a versioned checkpoint."""
    from optcache.errors import InvalidInput
    from optcache.instance import check_writable
    from optcache.market.dqn import Args, save_checkpoint
    from optcache.market.dqn import train as run_training
    from optcache.market.valuations import MarketConfig

    check_writable(out)
    if log_csv is not None:
        check_writable(log_csv)
    market = MarketConfig(slots=slots, services=services, gpus=gpus, users=users, stations=stations,
                          policy=policy)
    try:
        args = Args(seed=seed, state=state, episodes=episodes, train_instances=train_instances,
                    eval_instances=eval_instances, n_actions=actions, hidden=hidden,
                    learning_rate=learning_rate, gamma=gamma, market=market)
    except InvalidInput as e:  # the field as the user typed it: --actions sets n_actions
        raise InvalidInput("actions" if e.field == "n_actions" else e.field, e.message) from None
    res = run_training(args, progress=progress)
    save_checkpoint(res.policy, out, curve=res.curve, seconds=res.seconds)
    if log_csv is not None:
        from optcache.instance import write_atomic

        write_atomic(log_csv, res.curve.to_csv(index=False))
        typer.echo(f"wrote {log_csv}: training curve, {len(res.curve)} epochs")
    last = res.curve.iloc[-1]
    typer.echo(f"wrote {out}: dqmsb ({state}), {episodes} epochs in {res.seconds:.1f} s, "
               f"held-out efficiency {last['efficiency']:.4f} (untrained {res.untrained['efficiency']:.4f})")


@market_app.command()
def evaluate(
    checkpoint: Annotated[Path | None, typer.Option(
        metavar="CKPT", help="A checkpoint from `market train`; none: the default policy, from the "
        "user's cache (trained once per configuration).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the contract JSON object (with "
                                           "seed, rounds, units and provenance).")] = False,
    eval_instances: Annotated[int | None, typer.Option(help="Held-out episodes (default: the checkpoint's).")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar while training the default policy.")] = True,
    retrain: Annotated[bool, typer.Option(help="Train the default policy again and replace the "
                                          "cached one.")] = False,
) -> None:
    """Score spa, myopic, optimal, best fixed ρ and DQMSB on held-out rounds against the first-best."""
    from dataclasses import replace

    from optcache.market.dqn import cached_policy, cached_policy_path, config_key, load_checkpoint
    from optcache.market.experiment import evaluate as run_evaluation
    from optcache.market.valuations import market_dataset
    from optcache.provenance import MARKET_PACKAGES, MARKET_SCHEMA, provenance

    if checkpoint is None:
        default = default_args()
        if retrain or not cached_policy_path(default).exists():
            log.info("market: training the default policy once for this configuration (key %s, "
                     "~45 s on one core at the paper's defaults)", config_key(default))
        policy, path, trained = cached_policy(default, progress=progress, retrain=retrain)
        log.info("market: %s %s", "trained the default policy and cached it in" if trained
                 else "using the default policy cached in", path)
        source = "default policy, trained now and cached" if trained else "default policy, from the cache"
    else:
        policy, _ = load_checkpoint(checkpoint)
        path, source = checkpoint, "checkpoint"
    args = policy.args if eval_instances is None else replace(policy.args, eval_instances=eval_instances)
    data = market_dataset(args.market, args.eval_seeds())
    result = run_evaluation(data.subset(data.scored), {"dqmsb": policy})
    if json_out:
        emit({"format": MARKET_SCHEMA, **contract(result),
              "rounds": result["rounds"], "rounds_in_coverage": result["rounds_in_coverage"],
              "seed": args.seed, "eval_seeds": args.eval_seeds(),
              "training": {"epochs": args.episodes, "train_instances": args.train_instances,
                           "state": args.state, "train_seed": policy.args.seed},
              "policy": {"source": source, "checkpoint": str(path), "key": config_key(policy.args)},
              "units": UNITS,
              "provenance": provenance(MARKET_SCHEMA, packages=MARKET_PACKAGES, seed=args.seed,
                                       market=args.market.to_dict())})
        return
    typer.echo(f"held-out: {result['rounds']} rounds, {result['rounds_in_coverage']} with the satellite in "
               f"coverage (first-best there: satellite {result['satellite_first_best_share']:.0%}); "
               f"seed {args.seed}; surplus in cost units × tokens")
    typer.echo(f"{'mechanism':16s} {'total':>12s} {'ground':>12s} {'satellite':>12s} {'efficiency':>10s} {'mean ρ':>7s}")
    fb = result["first_best"]
    typer.echo(f"{'first_best':16s} {fb['total_surplus']:12.1f} {fb['ground_surplus']:12.1f} "
               f"{fb['satellite_surplus']:12.1f} {1.0:10.4f}")
    starred = False
    for name, m in result["mechanisms"].items():
        typer.echo(f"{name:16s} {m['total_surplus']:12.1f} {m['ground_surplus']:12.1f} "
                   f"{m['satellite_surplus']:12.1f} {m['efficiency']:10.4f} {rho_cell(m):>7s}")
        starred |= rho_cell(m).endswith("*")
    if starred:
        typer.echo("* mean of the finite ρ; some rounds in coverage have ρ = ∞ (MSB's go to the satellite; "
                   "myopic's have x_(2) = 0 and the critical bid x0)")


def rho_cell(m: dict) -> str:
    """The mean-ρ column: '-' without ρ (spa, no round in coverage), '∞' if every ρ is infinite,
    the mean finite ρ with '*' if only some are (never 'inf': a mean with ∞ in it says nothing)."""
    rho, inf = m.get("rho"), m.get("rho_infinite", 0.0)
    if rho is None:
        return "∞" if inf > 0 else "-"
    return f"{rho:.3f}" + ("*" if inf > 0 else "")
