"""The `optcache` command line. Subcommands live in sibling modules; bad input is one line, exit 2.

Start-up stays fast (`optcache --help` imports neither numpy nor the solvers): every module a
command needs is imported inside the command. The CLI is the only place that configures logging:
the package's loggers (`optcache.*`) go to stderr at INFO (progress of exact methods), `-q` keeps
warnings and errors only, `-v` adds DEBUG (solver logs); they may appear anywhere before `--`.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer

from optcache import __version__
from optcache.errors import InvalidInput, SolverUnavailable

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, context_settings=CONTEXT,
                  help="optcache: model caching, offloading and service auctions for LLM agents at the edge.")

VERBOSITY_FLAGS = {"-v": 1, "--verbose": 1, "-vv": 2, "-q": -1, "--quiet": -1, "-qq": -2}
"""Flags read by `main` wherever they are (before `--`): each -v adds detail, each -q removes it."""

LEVELS = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


def emit(obj: dict) -> None:
    """Print a JSON object (the CLI contract of docs/formulation.md §14); NaN or ∞ would not be JSON."""
    typer.echo(json.dumps(obj, indent=1, default=float, allow_nan=False))


def _version(value: bool) -> None:
    if value:
        import platform

        typer.echo(f"optcache {__version__} (Python {platform.python_version()})")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                          help="Print optcache's version and exit.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More detail on stderr: DEBUG lines (solver logs). "
                                              "May be given after the command too.")] = 0,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True,
                                       help="Less on stderr: no progress lines, only warnings and "
                                            "errors (-qq: errors only).")] = 0,
) -> None:
    """optcache: model caching, offloading and service auctions for LLM agents at the edge.

    Progress of long solves goes to stderr (-q silences it, -v adds solver logs); results go to
    stdout or to the --out file. Bad input is one line on stderr and exit code 2."""


class _Formatter(logging.Formatter):
    """INFO lines as they are (progress); other levels prefixed by their name, like `error:`."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            msg += "\n" + self.formatException(record.exc_info)
        if record.levelno == logging.INFO:
            return msg
        if record.levelno < logging.INFO:
            return f"debug: {record.name.removeprefix('optcache.')}: {msg}"
        return f"{record.levelname.lower()}: {msg}"


def split_verbosity(argv: list[str]) -> tuple[list[str], int]:
    """argv without the -v/-q flags (up to `--`), and the verbosity they ask for (0: INFO)."""
    out, level, literal = [], 0, False
    for a in argv:
        if not literal and a in VERBOSITY_FLAGS:
            level += VERBOSITY_FLAGS[a]
            continue
        literal = literal or a == "--"
        out.append(a)
    return out, max(min(level, 1), -2)


def _register_commands() -> None:
    from optcache.cli import basic, market, study  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; InvalidInput and a missing solver become one line and exit 2.

    Running out of memory is one line and exit 1; Ctrl-C exits 130 (a study first saves its
    finished cells and says how many). Logging goes to stderr for the duration of the call."""
    _register_commands()
    argv, verbosity = split_verbosity(list(sys.argv[1:] if argv is None else argv))
    level = LEVELS[verbosity]
    logger = logging.getLogger("optcache")
    handler = logging.StreamHandler(sys.stderr)  # the stderr of this call (pytest, redirects)
    handler.setLevel(level)
    handler.setFormatter(_Formatter())
    old_level = logger.level
    logger.setLevel(level)
    logger.addHandler(handler)
    from optcache import progress

    was_silent, progress.SILENT = progress.SILENT, verbosity < 0  # -q: "no progress lines"
    try:
        return _run(argv)
    finally:
        progress.SILENT = was_silent
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _run(argv: list[str]) -> int:
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="optcache")
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
    except KeyboardInterrupt:  # a study handles its own (it saves first); anything else stops here
        typer.echo("error: interrupted (nothing written)", err=True)
        return 130
    except (SystemError, RuntimeError) as e:  # Ctrl-C inside numba code or Pyomo's output capture
        from optcache.resume import interrupt_in

        if interrupt_in(e) is None:
            raise
        typer.echo("error: interrupted (nothing written)", err=True)
        return 130
    except Exception as e:  # usage errors of typer's (vendored) click: print as click would
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `optcache` (or `optcache market`)
            typer.echo(e.format_message())
            return 0
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            typer.echo(f"error: {' '.join(e.format_message().split())}", err=True)  # one line
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
