"""The `optcache` command line. Subcommands live in sibling modules; bad input is one line, exit 2."""

from __future__ import annotations

import json
import sys

import typer

from optcache.errors import InvalidInput, SolverUnavailable

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="optcache: model caching, offloading and service auctions for LLM agents at the edge.")


def emit(obj: dict) -> None:
    """Print a JSON object (the CLI contract of FORMULATION §10); NaN or ∞ would not be JSON."""
    typer.echo(json.dumps(obj, indent=1, default=float, allow_nan=False))


def _register_commands() -> None:
    from optcache.cli import basic  # noqa: F401

    for mod in ("optcache.cli.market", "optcache.cli.study"):
        try:
            __import__(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; InvalidInput and a missing solver become one line and exit 2.

    Running out of memory is one line and exit 1; Ctrl-C exits 130 (a study first saves its
    finished cells and says how many)."""
    _register_commands()
    try:
        rv = app(args=argv, standalone_mode=False)
    except InvalidInput as e:
        typer.echo(f"error: {' '.join(str(e).split())}", err=True)
        return 2
    except SolverUnavailable as e:
        typer.echo(f"error: solver: {e}", err=True)
        return 2
    except MemoryError:
        typer.echo("error: out of memory: the input is too large for this machine "
                   "(see the size limits in docs/formulation.md §14)", err=True)
        return 1
    except Exception as e:  # usage errors of typer's (vendored) click: print as click would
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            typer.echo(f"error: {e.format_message()}", err=True)  # one line, like InvalidInput
            return int(e.exit_code)
        if type(e).__name__ == "Exit":
            return int(getattr(e, "exit_code", 0))
        if type(e).__name__ == "Abort":
            typer.echo("aborted", err=True)
            return 1
        raise
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


def run() -> None:
    sys.exit(main())
