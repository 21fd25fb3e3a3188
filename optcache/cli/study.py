"""`optcache study GRID.toml --out RESULTS.parquet` and `optcache figures RESULTS.parquet --out DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optcache.cli import app


@app.command()
def study(
    grid: Annotated[Path, typer.Argument(help="Grid TOML: methods, seeds, [knobs], [[sweep]], [options.METHOD].")],
    out: Annotated[Path, typer.Option(help="Results Parquet; cells already in it are skipped (resumable).")],
    engine: Annotated[str, typer.Option(help="local (process pool) or dask.")] = "local",
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address; none starts a local cluster.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default min(2, cores)); 1 runs serially.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    retry_errors: Annotated[bool, typer.Option(help="Rerun cells whose earlier status was error.")] = False,
) -> None:
    """Run a study: every method on every instance of a scenario grid, into one tidy Parquet table."""
    from optcache.study import Grid, cells, read_results, run_study

    g = Grid.from_toml(grid)
    n_cells = len(cells(g))
    before = len(read_results(out)) if out.exists() else 0
    df = run_study(g, out, engine=engine, scheduler=scheduler, workers=workers, progress=progress,
                   retry_errors=retry_errors)
    ran = len(df) - before if not retry_errors else None
    errors = int((df["status"] == "error").sum())
    typer.echo(f"wrote {out}: {len(df)} rows ({n_cells} cells in the grid"
               + (f", {ran} run now" if ran is not None else "") + f", {errors} errors)")


@app.command()
def figures(
    results: Annotated[Path, typer.Argument(help="Results Parquet written by `optcache study`.")],
    out: Annotated[Path, typer.Option(help="Folder for the PNGs.")],
) -> None:
    """Draw a study's figures: cost breakdown against each swept knob, gap to the best bound."""
    from optcache.figures import figures as draw
    from optcache.study import read_results

    for path in draw(read_results(results), out):
        typer.echo(str(path))
