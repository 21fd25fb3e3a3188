"""Core subcommands: scenario, evaluate, solve, methods, export, demo, warmup.

Defaults and help texts come from light modules (`optcache.assumptions`, the registry's option
table) so that `optcache --help` does not import numpy, pandas or the solvers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from optcache import assumptions as A
from optcache.cli import app, emit
from optcache.solvers.registry import OPTION_HELP


@app.command()
def scenario(
    out: Annotated[Path, typer.Option(help="Where to write the instance JSON (optcache/instance@1).",
                                      metavar="FILE")],
    slots: Annotated[int, typer.Option(help="Time slots T (slots).", metavar="SLOTS")] = A.SLOTS,
    services: Annotated[int, typer.Option(help="LLM agent services (services); each is mapped to "
                                               "one model: one (service, model) pair each.")] = A.SERVICES,
    gpus: Annotated[int, typer.Option(help=f"GPUs per ground station ({A.GPU_MEMORY_GB:g} GB and "
                                           f"{A.GPU_GFLOPS_PER_W:g} GFLOPS/W × {A.GPU_POWER_W:g} W "
                                           "each).")] = A.GPUS,
    users: Annotated[int, typer.Option(help="Users per station: requests per (pair, slot) ~ "
                                            "Poisson(users / 10).")] = A.USERS,
    stations: Annotated[int, typer.Option(help="Ground stations N (stations).")] = A.STATIONS,
    vanishing: Annotated[float, typer.Option(help="Context vanishing factor Δ (tokens per slot), "
                                                  "the same for every pair.")] = A.VANISHING,
    models: Annotated[int, typer.Option(help="Reasoning models (models), alternating LLaMA-65B "
                                             "and GPT3-175B.")] = A.MODELS,
    switching_cost: Annotated[float, typer.Option(help="Switching cost λ (cost units per pair "
                                                       "loaded).")] = A.SWITCHING_COST,
    slot_seconds: Annotated[float, typer.Option(help="Slot length (s): the compute budget per "
                                                     "slot is E_n = f_n × slot_seconds (FLOP).")] = A.SLOT_SECONDS,
    seed: Annotated[int, typer.Option(help="Seed of the generator: the same knobs and seed give "
                                           "the same instance everywhere.")] = 0,
    access: Annotated[str, typer.Option(help="Access cost l_{n,i}: paper (0.0001 cost units per "
                                             "request) or channel (d_i / E[r], seconds per request, "
                                             "from the uplink model).")] = "paper",
) -> None:
    """Generate an instance with the paper's defaults (section VI-A) and write it as JSON."""
    from optcache.instance import save_instance
    from optcache.scenario import ScenarioConfig, generate

    inst = generate(ScenarioConfig(slots=slots, services=services, gpus=gpus, users=users,
                                   stations=stations, vanishing=vanishing, models=models,
                                   switching_cost=switching_cost, slot_seconds=slot_seconds,
                                   seed=seed, access=access))
    save_instance(inst, out)
    typer.echo(f"wrote {out}: {inst.slots} slots, {inst.n_stations} stations, {inst.n_pairs} pairs")


@app.command("evaluate")
def evaluate_cmd(
    instance: Annotated[Path, typer.Argument(metavar="INSTANCE", help="Instance JSON (optcache/instance@1).")],
    schedule: Annotated[Path, typer.Argument(metavar="SCHEDULE", help="Schedule JSON, or the output of `optcache solve`.")],
) -> None:
    """Score a schedule: feasibility, violations, cost and its five terms, as JSON."""
    from optcache.evaluator import evaluate
    from optcache.instance import load_instance
    from optcache.schedule import load_schedule

    inst = load_instance(instance)
    emit(evaluate(inst, load_schedule(schedule, inst)).to_contract())


@app.command()
def methods(
    json_out: Annotated[bool, typer.Option("--json", help="Print every method with its options, "
                                                          "their defaults and meaning, as JSON.")] = False,
) -> None:
    """List the registered caching methods (exact ones certify a lower bound)."""
    from optcache.solvers import registry

    described = [registry.describe(name) for name in registry.names()]
    if json_out:
        emit({"methods": described})
        return
    for d in described:
        opts = ", ".join(o["name"] for o in d["options"]) or "-"
        typer.echo(f"{d['name']:10s} {'exact ' if d['exact'] else ''}{d['description']}")
        typer.echo(f"{'':10s}   options: {opts}")


def parse_solver_options(items: list[str] | None) -> dict | None:
    """`KEY=VALUE` strings as a dict; values that read as numbers or true/false become them."""
    from optcache.errors import InvalidInput

    if not items:
        return None
    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput("--solver-option", f"expected KEY=VALUE, got {item!r}"[:160])
        out[key.strip()] = _option_value(text.strip())
    return out


def _option_value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            v = cast(text)
        except ValueError:
            continue
        if isinstance(v, float) and not math.isfinite(v):
            return text
        return v
    return text


def summary_lines(obj: dict, instance: Path, out: Path | None) -> list[str]:
    """A one-screen summary of a solve's JSON: what `optcache solve --out` prints."""
    from optcache.demo import NA

    def num(v, fmt=".6g"):
        return NA if v is None else format(v, fmt)

    lines = [f"{obj['method']} on {instance}: status {obj['status']}, termination {obj['termination']}"]
    if obj.get("message"):
        lines.append(f"  message    {obj['message']}")
    gap = obj.get("gap")
    lines += [f"  cost       {num(obj['cost'])}   (evaluator: Σ stations of the slot-average cost, cost units)",
              f"  bound      {num(obj['bound'])}" + ("   (certified lower bound)" if obj["bound"] is not None
                                                    else "   (none: not an exact method)"),
              f"  gap        {NA if gap is None else f'{100 * gap:.4g} %'}",
              f"  seconds    {obj['seconds']:.2f}"]
    if obj.get("solver"):
        lines.append(f"  solver     {obj['solver']} {obj.get('solver_version') or ''}".rstrip())
    if obj.get("nodes") is not None:
        lines.append(f"  nodes      {obj['nodes']}")
    if obj.get("terms"):
        lines.append("  terms      " + ", ".join(f"{k} {num(v)}" for k, v in obj["terms"].items()))
    details = obj.get("details") or {}
    if "fallback_slots" in details and obj["method"] == "rolling":
        lines.append(f"  windows    {details.get('windows_stopped', 0)} stopped at a time limit, "
                     f"{details['fallback_slots']} slots decided without a solve (time used up)")
    if out is not None:
        lines.append(f"  wrote      {out} (full JSON with the schedule and provenance)")
    return lines


@app.command()
def solve(
    instance: Annotated[Path, typer.Argument(metavar="INSTANCE", help="Instance JSON (optcache/instance@1).")],
    method: Annotated[str, typer.Option(help="A registered method (see `optcache methods`).")] = "milp",
    time_limit: Annotated[float | None, typer.Option(
        metavar="SECONDS", help="Seconds for the whole solve, every station and rolling window "
        "included; none: no limit. Exact methods then return their best schedule and certified gap; "
        "rolling and slot decide the slots left by a cheap rule.")] = None,
    gap: Annotated[float | None, typer.Option(
        metavar="FRACTION", help="Relative gap (cost − bound)/cost at which an exact method "
        "stops, e.g. 1e-4 (0.01 %); 0 asks for optimality to the bound's numerical resolution "
        "(about 1e-7 where large fixed costs dominate). Default: the method's.")] = None,
    threads: Annotated[int | None, typer.Option(metavar="N", help="Solver threads (default 1).")] = None,
    solver: Annotated[str | None, typer.Option(
        metavar="NAME", help="milp's MILP solver: highs (highspy directly, the default) or any "
        "name Pyomo's SolverFactory knows: pyomo:highs, appsi_highs, cbc, glpk, scip, gurobi, "
        "cplex, ...")] = None,
    solver_option: Annotated[list[str] | None, typer.Option(
        metavar="KEY=VALUE", help="An option handed to the MILP solver unchanged (repeat for "
        "several), e.g. presolve=off (highs), cuts=off (cbc).")] = None,
    horizon: Annotated[int | None, typer.Option(metavar="SLOTS", help="rolling: "
                                                + OPTION_HELP["horizon"] + " (default 12).")] = None,
    forecast: Annotated[str | None, typer.Option(metavar="oracle|mean", help="rolling: "
                                                 + OPTION_HELP["forecast"] + ".")] = None,
    window_solver: Annotated[str | None, typer.Option(
        metavar="lagrange|milp", help="rolling: " + OPTION_HELP["window_solver"] + " (default lagrange).")] = None,
    window_time_limit: Annotated[float | None, typer.Option(
        metavar="SECONDS", help="rolling: most seconds for each window, within --time-limit; a "
        "window stopped there applies its best schedule.")] = None,
    tail: Annotated[str | None, typer.Option(metavar="none|relaxed", help="rolling: "
                                             + OPTION_HELP["tail"] + ".")] = None,
    out: Annotated[Path | None, typer.Option(metavar="FILE", help="Write the full JSON here "
                                             "(atomically) and print a summary.")] = None,
    summary: Annotated[bool | None, typer.Option(
        "--summary/--json", help="Print the one-screen summary or the full JSON on stdout "
        "(default: the summary with --out, the JSON without).")] = None,
) -> None:
    """Run a method on an instance: the full JSON result (method, status, termination, cost, bound,
    gap, seconds, terms, details, provenance, schedule), or a summary of it."""
    from optcache.instance import load_instance, write_atomic
    from optcache.solvers import registry

    inst = load_instance(instance)
    spec = registry.get(method)
    opts = {"time_limit": time_limit, "gap": gap, "threads": threads, "horizon": horizon,
            "forecast": forecast, "window_solver": window_solver, "window_time_limit": window_time_limit,
            "tail": tail, "solver": solver, "solver_options": parse_solver_options(solver_option)}
    res = registry.run(spec.name, inst, **opts)
    obj = res.to_contract(seed=inst.seed)
    if out is not None:
        write_atomic(out, json.dumps(obj, default=float, allow_nan=False))
    if summary if summary is not None else out is not None:
        typer.echo("\n".join(summary_lines(obj, instance, out)))
    else:
        emit(obj)


@app.command()
def export(
    instance: Annotated[Path, typer.Argument(metavar="INSTANCE", help="Instance JSON (optcache/instance@1).")],
    out: Annotated[Path, typer.Option(metavar="FILE", help="Where to write the model (atomically).")],
    station: Annotated[int, typer.Option(metavar="N", help="Station index (0-based).")] = 0,
    fmt: Annotated[str | None, typer.Option(
        "--format", metavar="lp|mps", help="File format (default: from the extension of --out, else lp).")] = None,
    form: Annotated[str, typer.Option(
        metavar="readable|network", help="readable: the Pyomo model with the paper's row names "
        "(models/problem28.py); network: the tighter matrix that milp hands to HiGHS "
        "(models/matrix28.py), columns c0, c1, ...")] = "readable",
    tangents_at: Annotated[Path | None, typer.Option(
        metavar="SCHEDULE", help="Also put tangents at the AoT of this schedule (a schedule file or "
        "`optcache solve` output), as milp does with its incumbents.")] = None,
) -> None:
    """Write the MILP of problem (28) for one station as LP or MPS.

    It is a relaxation: the accuracy term is replaced by tangents (listed in the file's header),
    so its optimum is a lower bound on (28), not the optimum; milp adds tangents and re-solves."""
    from optcache.export import export_problem28
    from optcache.instance import load_instance
    from optcache.schedule import load_schedule

    inst = load_instance(instance)
    sched = None if tangents_at is None else load_schedule(tangents_at, inst)
    info = export_problem28(inst, out, station=station, fmt=fmt, form=form, schedule=sched)
    typer.echo(f"wrote {out}: problem (28) of station {station} ({info['form']} form, {info['format']}), "
               f"{info['rows']} rows, {info['columns']} columns, {info['tangents']} tangent cuts; "
               "a relaxation: its optimum is a lower bound")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(metavar="DIR", help="Folder for the figures and tables.")] = Path("out/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the paper's default scenario.")] = 0,
) -> None:
    """Run the paper's default scenario through the toolkit; print a summary and write figures."""
    from optcache.demo import run_demo

    run_demo(out, seed=seed, echo=typer.echo)


@app.command()
def warmup() -> None:
    """Compile and cache the numba kernels (the policies, lagrange's pair graphs) once, so that a
    first solve is as fast as the next; `make setup` runs it."""
    from optcache.warmup import warmup as run_warmup

    for name, seconds in run_warmup().items():
        typer.echo(f"{name:10s} {seconds:.2f} s")
