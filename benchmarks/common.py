"""What the benchmark scripts share on the command line: one-line errors, option types, points.

Every script checks its whole command line, its output paths included, before it draws an
instance or solves anything: a bad value is one line on stderr,
`SCRIPT: error: argument --OPTION: why`, with exit status 2, and no file is written. Tables and
figures are written with `optcache.instance.write_atomic` / `atomic_path` (a temporary file in
the same folder, then a rename), so an output is either the old file or the complete new one.

The validation rules are optcache's own: `registry.check_option` for time limits and threads,
`ScenarioConfig` for knob values (and `Limits.check_cells` for the size of what they draw),
`instance.check_writable` for outputs.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import NoReturn

from optcache.errors import InvalidInput
from optcache.instance import DEFAULT_LIMITS, atomic_path, check_writable, make_folder, write_atomic
from optcache.scenario import KNOB_RANGES, ScenarioConfig
from optcache.solvers.registry import check_option

POINT_KNOBS = ("slots", "services", "gpus", "users", "models")
"""The knobs a KNOB=VALUE point may move: the integer knobs of `ScenarioConfig` other than
`stations` and `seed`, which every point fixes (station 0 of `generate(stations=1, seed=SEED,
KNOB=VALUE)`)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, `prog: error: message`, with exit status 2
    (argparse's own print the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")

    def fail(self, option: str, message: str) -> NoReturn:
        """A one-line error naming `option`, as argparse words its own."""
        self.error(f"argument {option}: {message}")


def _text(v: str) -> str:
    return repr(v) if not v.strip() or v != v.strip() else v


def time_limit(text: str) -> float:
    """argparse type: seconds, a finite number > 0 (the registry's `time_limit` rule)."""
    try:
        return float(check_option("time_limit", float(text)))
    except (ValueError, InvalidInput):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {_text(text)}") from None


def _nonnegative(text: str, finite: bool, must: str) -> float:
    """A number >= 0 (finite if `finite`), or an argparse error saying what it `must` be."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (v >= 0 and (math.isfinite(v) or not finite)):
        raise argparse.ArgumentTypeError(f"must be {must}, got {_text(text)}")
    return v


def retry_limit(text: str) -> float:
    """argparse type: seconds, a finite number >= 0 (0: no retry)."""
    return _nonnegative(text, True, "a finite number >= 0 (0: no retry)")


def retry_gap(text: str) -> float:
    """argparse type: a relative gap, a number >= 0 or inf (inf: retry every station not certified)."""
    return _nonnegative(text, False, "a number >= 0 or inf")


def threads(text: str) -> int:
    """argparse type: solver threads, an integer in [1, 1024] (the registry's `threads` rule)."""
    try:
        return int(check_option("threads", int(text)))
    except (ValueError, InvalidInput):
        raise argparse.ArgumentTypeError(f"must be an integer in [1, 1024], got {_text(text)}") from None


def integer(text: str) -> int:
    """argparse type: an integer (its range is checked where it is used)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {_text(text)}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (counts, horizons, repeats)."""
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {_text(text)}")
    return v


def seed_id(text: str) -> int:
    """argparse type: a scenario seed, an integer in [0, 2^63 - 1] (`ScenarioConfig.seed`)."""
    lo, hi = KNOB_RANGES["seed"]
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError(f"must be an integer seed in [0, 2^63 - 1], got {_text(text)}")
    return v


def distinct(values: Iterable) -> list:
    """`values` without repeats, in their first order (a seed given twice is run once)."""
    return list(dict.fromkeys(values))


def check_seeds(parser: Parser, option: str, base, seeds: Iterable[int]) -> list[int]:
    """`seeds` without repeats, each a valid seed of the dataclass `base` (a DQMSB `Args`), or a
    one-line error naming `option`."""
    from dataclasses import replace

    seeds = distinct(seeds)
    for seed in seeds:
        try:
            replace(base, seed=seed)
        except InvalidInput as e:
            parser.fail(option, f"{e.field}: {e.message}")
    return seeds


def check_station(parser: Parser, option: str, what: str, **knobs) -> ScenarioConfig:
    """The one-station config of `knobs` (which `generate(stations=1, **knobs)` would draw), or
    a one-line error naming `option` if a knob is out of its range or the instance too large."""
    try:
        cfg = ScenarioConfig(**{"stations": 1, **knobs})
        DEFAULT_LIMITS.check_cells(cfg.slots, cfg.services, cfg.stations, what="services")
    except InvalidInput as e:
        parser.fail(option, f"{what}: {e.field}: {e.message}")
    return cfg


def parse_points(parser: Parser, texts: list[str], option: str = "--points") -> list[tuple[str, int]]:
    """KNOB=VALUE texts as (knob, value) pairs, each checked against the scenario's knobs and
    their ranges; a one-line error naming `option` otherwise."""
    points = []
    for text in texts:
        knob, sep, value = text.partition("=")
        try:
            v = int(value)
        except ValueError:
            sep = ""
        if not sep:
            parser.fail(option, f"{text!r} is not KNOB=INTEGER (e.g. slots=20)")
        if knob not in POINT_KNOBS:
            why = "is not a knob a point can move" if knob in KNOB_RANGES else "is not a scenario knob"
            parser.fail(option, f"{knob!r} in {text!r} {why} (knobs: {', '.join(POINT_KNOBS)})")
        check_station(parser, option, text, **{knob: v})
        points.append((knob, v))
    return points


def distinct_stations(points: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[str]]:
    """`points` with each station once: two points that draw the same station
    (`generate(stations=1, slots=100)` is `generate(stations=1, services=10)`: both are the
    paper's defaults) keep the first. Returns the points kept and one note per point dropped."""
    kept: dict[ScenarioConfig, tuple[str, int]] = {}
    notes = []
    for knob, value in points:
        key = ScenarioConfig(stations=1, **{knob: value})
        if key in kept:
            k0, v0 = kept[key]
            if (k0, v0) != (knob, value):
                notes.append(f"{knob}={value} is the same station as {k0}={v0}: solved once, as {k0}={v0}")
            continue
        kept[key] = (knob, value)
    return list(kept.values()), notes


def check_outputs(parser: Parser, option: str, *paths: Path) -> None:
    """A one-line error naming `option` unless every path can be written (not a directory, under
    a folder that exists or can be made, with write permission); checked before any work, and
    the folders are then made (`instance.make_folder`), which a run would do when it writes."""
    try:
        for path in paths:
            check_writable(path)
        for path in paths:
            make_folder(Path(path).parent, str(path))
    except InvalidInput as e:
        parser.fail(option, f"{e.field}: {e.message}")


def check_out_dir(parser: Parser, option: str, folder: Path, names: Iterable[str]) -> None:
    """As `check_outputs` for the files `names` in the output folder `folder`."""
    if folder.exists() and not folder.is_dir():
        parser.fail(option, f"{folder}: cannot write: it is not a directory")
    check_outputs(parser, option, *(folder / n for n in names))


def report_options(parser: Parser, seeds: list[int], tables: str) -> argparse.Namespace:
    """--seeds (default `seeds`), --dir (the folder of the `tables` read) and --out (a Markdown file
    instead of stdout, checked before any work) of the scripts that report committed tables
    (grid_report.py, miss_report.py, gap_split.py), parsed; the seeds are made distinct."""
    parser.add_argument("--seeds", type=seed_id, nargs="+", metavar="SEED", default=seeds,
                        help=f"seeds of the tables to read (default: {' '.join(map(str, seeds))})")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent / "results",
                        help=f"folder of the {tables} tables (default: benchmarks/results)")
    report_out(parser)
    args = parser.parse_args()
    if args.out is not None:
        check_outputs(parser, "--out", args.out)
    args.seeds = distinct(args.seeds)
    return args


def report_out(parser: Parser) -> None:
    """--out of the report scripts: a Markdown file instead of stdout (check it with `check_outputs`
    once parsed)."""
    parser.add_argument("--out", type=Path, default=None,
                        help="write the report to this Markdown file instead of printing it (default: stdout)")


def write_report(lines: list[str], out: Path | None) -> None:
    """A report's lines to stdout, or atomically to `out`."""
    if out is None:
        print("\n".join(lines))
    else:
        write_atomic(out, "\n".join(lines) + "\n")
        print(f"wrote {out}")


def read_table(parser: Parser, option: str, path: Path, columns: Iterable[str], what: str):
    """The CSV table at `path` (a DataFrame), or one error naming `option` if it cannot be read
    or lacks one of `columns`; `what` names the kind of table in that error."""
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as e:
        parser.fail(option, f"{path}: cannot read {what}: {e}")
    missing = [c for c in columns if c not in table]
    if missing:
        parser.fail(option, f"{path}: not {what} (no column {', '.join(missing)})")
    return table


def write_csv(path: Path, df) -> None:
    """A table as CSV, written atomically (the old file or the whole new one, never a part)."""
    write_atomic(path, df.to_csv(index=False))


def partial_path(path: Path) -> Path:
    """Where a long script keeps the rows done so far: OUT.partial.csv beside OUT."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def write_partial(path: Path, df) -> None:
    """The rows done so far, atomically, to `partial_path(path)`: a stopped run keeps them there
    and leaves the table at `path` (a previous run's, complete) as it was."""
    write_csv(partial_path(path), df)


def finish(*paths: Path) -> None:
    """A run that got to its end: each partial table becomes the table (a rename)."""
    for path in paths:
        if partial_path(path).exists():
            os.replace(partial_path(path), path)


def case_options(parser: Parser, cases: dict, out: Path, other: Callable[[str], str] | None = None,
                 other_help: str = "") -> None:
    """--cases (names of `cases`, default all) and --out (default `out`): the options of the
    scripts that measure a few named stations (block_cuts.py, load_hull.py, load_cuts.py,
    coupling_split.py). `other` (a name -> the name, raising argparse.ArgumentTypeError) admits
    names beyond `cases`, described by `other_help`."""
    choice = {"choices": list(cases)} if other is None else {"type": other}
    parser.add_argument("--cases", nargs="+", default=list(cases), metavar="CASE", **choice,
                        help="stations, of: " + ", ".join(cases) + " (default all)"
                        + (f", or {other_help}" if other_help else ""))
    parser.add_argument("--out", type=Path, default=out, help=f"output CSV (default: benchmarks/results/{out.name})")


def run_cases(out: Path, names: Iterable[str], run_one) -> None:
    """Each case's rows (`run_one(name)`, a list of dicts) added to the table, rewritten to
    OUT.partial.csv after every case, which replaces OUT at the end."""
    import pandas as pd

    rows: list[dict] = []
    for name in names:
        rows += run_one(name)
        write_partial(out, pd.DataFrame(rows))
    finish(out)
    print(f"wrote {out}")


def entry(main) -> None:
    """A script's entry point: Ctrl-C (also inside numba or Pyomo code, or taken by HiGHS or SCIP)
    is one line on stderr and exit status 130, not a traceback, naming the partial tables kept."""
    import sys

    from optcache.resume import interrupt_in

    try:
        main()
    except KeyboardInterrupt:
        pass
    except (SystemError, RuntimeError) as e:
        if interrupt_in(e) is None:
            raise
    else:
        return
    prog = Path(sys.argv[0]).name
    print(f"{prog}: interrupted; finished tables are written only at the end (the rows done so "
          "far are in any *.partial.csv it wrote)", file=sys.stderr)
    sys.exit(130)


def save_figure(fig, path: Path, **kwargs) -> None:
    """`fig.savefig` to a temporary file beside `path`, then renamed onto it."""
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, **kwargs)


def show(row: dict, digits: int | None = None) -> dict:
    """A result row for printing: plain Python floats (rounded to `digits`), enums as their values."""
    out = {}
    for k, v in row.items():
        if isinstance(v, Enum):
            v = v.value
        elif isinstance(v, float):
            v = float(v) if digits is None else round(float(v), digits)
        out[k] = v
    return out
