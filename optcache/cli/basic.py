"""Core subcommands: scenario, evaluate, solve, methods, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from optcache.cli import app, emit
from optcache.evaluator import evaluate
from optcache.instance import load_instance, save_instance
from optcache.scenario import ScenarioConfig, generate
from optcache.schedule import load_schedule


@app.command()
def scenario(
    out: Annotated[Path, typer.Option(help="Where to write the instance JSON.")],
    slots: int = ScenarioConfig.slots, services: int = ScenarioConfig.services,
    gpus: int = ScenarioConfig.gpus, users: int = ScenarioConfig.users,
    stations: int = ScenarioConfig.stations, vanishing: float = ScenarioConfig.vanishing,
    seed: int = 0, access: str = "paper",
) -> None:
    """Generate an instance with the paper's defaults (section VI-A) and write it as JSON."""
    inst = generate(ScenarioConfig(slots=slots, services=services, gpus=gpus, users=users,
                                   stations=stations, vanishing=vanishing, seed=seed, access=access))
    save_instance(inst, out)
    typer.echo(f"wrote {out}: {inst.slots} slots, {inst.n_stations} stations, {inst.n_pairs} pairs")


@app.command("evaluate")
def evaluate_cmd(
    instance: Annotated[Path, typer.Argument(help="Instance JSON (optcache/instance@1).")],
    schedule: Annotated[Path, typer.Argument(help="Schedule JSON.")],
) -> None:
    """Score a schedule: feasibility, violations, cost and its five terms, as JSON."""
    inst = load_instance(instance)
    emit(evaluate(inst, load_schedule(schedule, inst)).to_contract())


@app.command()
def methods() -> None:
    """List the registered caching methods."""
    from optcache.solvers import registry

    for name in registry.names():
        spec = registry.get(name)
        typer.echo(f"{name:10s} {'exact ' if spec.exact else ''}{spec.description}")


@app.command()
def solve(
    instance: Annotated[Path, typer.Argument(help="Instance JSON (optcache/instance@1).")],
    method: Annotated[str, typer.Option(help="A registered method (see `optcache methods`).")] = "milp",
    time_limit: Annotated[float | None, typer.Option(help="Seconds per solve (exact methods).")] = None,
    gap: Annotated[float | None, typer.Option(help="Relative gap to stop at (exact methods); 0 proves optimality.")] = None,
    threads: Annotated[int | None, typer.Option(help="HiGHS threads.")] = None,
    horizon: Annotated[int | None, typer.Option(help="Rolling horizon H in slots.")] = None,
    forecast: Annotated[str | None, typer.Option(help="Rolling-horizon forecast: oracle or mean.")] = None,
    solver: Annotated[str | None, typer.Option(help="Rolling-horizon window solver: lagrange or milp.")] = None,
    tail: Annotated[str | None, typer.Option(
        help="Rolling-horizon terminal value: none (§8 as written) or relaxed (pairs' cost-to-go).")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON here (atomically).")] = None,
) -> None:
    """Run a method on an instance and print {method, status, cost, bound, seconds, schedule}."""
    from optcache.instance import write_atomic
    from optcache.solvers import registry

    inst = load_instance(instance)
    spec = registry.get(method)
    opts = {"time_limit": time_limit, "gap": gap, "threads": threads, "horizon": horizon,
            "forecast": forecast, "solver": solver, "tail": tail}
    res = registry.run(spec.name, inst, **opts)
    obj = res.to_contract()
    if out is not None:
        write_atomic(out, json.dumps(obj, default=float, allow_nan=False))
    emit(obj)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the figures and tables.")] = Path("out/demo"),
    seed: int = 0,
) -> None:
    """Run the paper's default scenario through the toolkit; print a summary and write figures."""
    from optcache.demo import run_demo

    run_demo(out, seed=seed)


