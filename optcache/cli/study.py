"""`optcache study GRID.toml --out RESULTS.parquet` and `optcache figures RESULTS.parquet --out DIR`."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from optcache.cli import app


def _raise_interrupt(signum: int, frame: object) -> None:
    from optcache.resume import Interrupt

    raise Interrupt(signum)


@app.command()
def study(
    grid: Annotated[Path, typer.Argument(metavar="GRID", help="Grid TOML: keys methods, seeds, tables [knobs], [[sweep]] and "
                                              "[options.METHOD] (see benchmarks/grids/*.toml); or kind = \"market\" with "
                                              "MarketConfig knobs and an optional [train] table "
                                              "(optcache.market.sweep, docs/claims.md).")],
    out: Annotated[Path, typer.Option(metavar="FILE", help="Results Parquet; cells already in it are "
                                      "skipped (resumable). Its metadata records the grid and versions.")],
    engine: Annotated[str, typer.Option(metavar="local|dask", help="local (process pool) or dask.")] = "local",
    scheduler: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Dask scheduler address, "
                                                  "e.g. tcp://HOST:8786; none starts a local cluster.")] = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="Worker processes (default: the "
                                                "cores available, or $OPTCACHE_WORKERS); 1 runs serially.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    retry_errors: Annotated[bool, typer.Option(help="Rerun cells whose earlier status was error.")] = False,
    extend: Annotated[bool, typer.Option("--extend", "--append", help="Add this grid's cells to a table "
                                         "written by another grid (refused without it).")] = False,
) -> None:
    """Run a study: every method on every instance of a scenario grid, into one tidy Parquet table.

    Every finished cell is saved at once (OUT.journal; a market grid rewrites OUT every 10 s);
    SIGINT or SIGTERM save, report and exit 130 or 143; rerunning the command resumes."""
    from concurrent.futures.process import BrokenProcessPool

    from optcache import engines
    from optcache.study import StudyInterrupted, cells, journal_path, load_grid, run_study
    from optcache.study import read as read_results

    g = load_grid(grid)
    engines.check(engine, scheduler, workers)  # bad settings ($OPTCACHE_WORKERS) before any write
    market = getattr(g, "to_dict", lambda: {})().get("kind") == "market"  # docs/claims.md
    if not market:
        n_cells = len(cells(g))
        before = len(read_results(out)) if out.exists() or journal_path(out).exists() else 0
    previous = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if market:
            from optcache.market.sweep import run_market_study

            df = run_market_study(g, out, engine=engine, scheduler=scheduler, workers=workers,
                                  progress=progress, extend=extend)
            typer.echo(f"wrote {out}: {len(df)} rows (market grid)")
            return
        df = run_study(g, out, engine=engine, scheduler=scheduler, workers=workers,
                       progress=progress, retry_errors=retry_errors, extend=extend)
    except StudyInterrupted as e:
        typer.echo(f"error: {e}; run the same command again to resume", err=True)
        raise typer.Exit(128 + e.signum) from None
    except BrokenProcessPool:
        saved = len(read_results(out)) if out.exists() else 0
        typer.echo(f"error: a worker process died (killed, or out of memory?); {saved} rows saved "
                   f"in {out}; run the same command again to resume", err=True)
        raise typer.Exit(1) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    ran = len(df) - before if not retry_errors else None
    errors = int((df["status"] == "error").sum())
    typer.echo(f"wrote {out}: {len(df)} rows ({n_cells} cells in the grid"
               + (f", {ran} run now" if ran is not None else "") + f", {errors} errors)")


@app.command()
def figures(
    results: Annotated[Path, typer.Argument(metavar="RESULTS", help="Results Parquet written by `optcache study`.")],
    out: Annotated[Path, typer.Option(metavar="DIR", help="Folder for the figures, their source "
                                      "tables (CSV) and figures.json (provenance, units).")],
    fmt: Annotated[str, typer.Option("--format", metavar="png|pdf|svg", help="Image format.")] = "png",
    dpi: Annotated[int, typer.Option(metavar="N", help="Resolution of raster images, dots per inch.")] = 150,
) -> None:
    """Draw a study's figures: cost by method and cost terms against each swept knob, gap to the
    best bound (%); prints the paths of the figures."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, whatever the environment
    from optcache.errors import InvalidInput
    from optcache.figures import figures as draw
    from optcache.study import read

    try:
        paths = draw(read(results), out, format=fmt, dpi=dpi)
    except InvalidInput as e:
        if e.field != "results":
            raise
        raise InvalidInput(str(results), e.message) from None  # the file, not the argument's name
    for path in paths:
        typer.echo(str(path))
