"""Problem (28) of one station written as an LP or MPS file, for any solver or for inspection.

What is written is the MILP that one outer-approximation round of `milp` solves: the accuracy
term (24), convex in the age of thought κ, is replaced by tangents at a finite set of points κ̂
(listed in the file's header). Tangents under-estimate a convex function, so the file's optimum
is a valid lower bound on (28), not its optimum; `milp` adds tangents at each solution's κ and
re-solves until the evaluator's cost of its schedule meets that bound (docs/formulation.md §6).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from optcache.errors import InvalidInput, SolverFailed
from optcache.instance import Instance, atomic_path, check_index, require_instance, require_path
from optcache.provenance import EXPORT_SCHEMA, SOLVER_PACKAGES, provenance
from optcache.schedule import Schedule

FORMATS = ("lp", "mps")
FORMS = ("readable", "network")


def _points_text(points: dict, R: np.ndarray) -> list[str]:
    """The tangent points, one line per (pair, requests served j) when every slot shares them,
    else one line per slot: κ̂ in tokens."""
    by_pj: dict = defaultdict(dict)
    for (t, p, j), pts in points.items():
        by_pj[(p, j)][t] = tuple(round(float(k), 6) for k in sorted(pts))
    lines = []
    for (p, j) in sorted(by_pj):
        slots = by_pj[(p, j)]
        distinct = set(slots.values())
        if len(distinct) == 1:
            (pts,) = distinct
            lines.append(f"pair {p}, {j} served: {', '.join(f'{k:g}' for k in pts)} "
                         f"(every slot with >= {j} requests, {len(slots)} slots)")
        else:
            for t in sorted(slots):
                lines.append(f"pair {p}, {j} served, slot {t + 1}: {', '.join(f'{k:g}' for k in slots[t])}")
    return lines


def header(inst: Instance, station: int, form: str, fmt: str, points: dict, R: np.ndarray) -> list[str]:
    """The comment block at the top of an exported model (without the comment character)."""
    prov = provenance(EXPORT_SCHEMA, packages=SOLVER_PACKAGES, seed=inst.seed)
    pk = ", ".join(f"{k} {v}" for k, v in prov["packages"].items() if v)
    n_cuts = sum(len(v) for v in points.values())
    model = ("readable Pyomo model, rows named as in the paper (models/problem28.py)" if form == "readable"
             else "network form handed to HiGHS by milp, kappa in units of each pair's thought length "
                  "(models/matrix28.py)")
    return [
        f"optcache export: problem (28) of station {station}, {inst.slots} slots, {inst.n_pairs} pairs; {model}",
        f"schema {EXPORT_SCHEMA}; optcache {prov['optcache']}, Python {prov['python']}, {pk}; seed {prov['seed']}",
        "RELAXATION. The accuracy term (24) x c/(kappa + kappa_0) is convex in the age of thought kappa;",
        "here it is bounded below by tangents at the points listed (perspective cuts, accuracy_24_tangent).",
        "Tangents under-estimate a convex function, so the OPTIMUM OF THIS MILP IS A LOWER BOUND on problem",
        "(28), not its optimum. optcache's milp re-scores each solution's schedule with the evaluator, adds",
        "tangents at its true kappa and re-solves until cost and bound meet (docs/formulation.md section 6).",
        "Objective: the slot-average cost (27) of the station, all five terms, constant included.",
        f"Tangent points kappa-hat (tokens): {n_cuts} cuts over (slot, pair, requests served j):",
        *("  " + line for line in _points_text(points, R)),
    ]


def export_problem28(inst: Instance, path: str | os.PathLike, *, station: int = 0,
                     fmt: str | None = None, form: str = "readable",
                     schedule: Schedule | None = None) -> dict:
    """Write the MILP of (28) for `station` to `path` (atomically) and describe what was written.

    fmt: 'lp' or 'mps' (default: from the extension, else lp); form: 'readable' (Pyomo model) or
    'network' (the matrix `milp` solves); schedule: also put tangents at its κ (served cells)."""
    from optcache.dynamics import State
    from optcache.evaluator import evaluate_station
    from optcache.solvers.exact import check_size

    require_instance(inst)
    path = require_path(path)
    if fmt is not None and not isinstance(fmt, str):
        raise InvalidInput("--format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    fmt = (fmt or (path.suffix.lstrip(".").lower() if path.suffix.lower() in (".lp", ".mps") else "lp")).lower()
    if fmt not in FORMATS:
        raise InvalidInput("--format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if form not in FORMS:
        raise InvalidInput("--form", f"must be one of {', '.join(FORMS)}, got {form!r}")
    station = check_index(station, inst.n_stations, "--station")
    if schedule is not None and (not isinstance(schedule, Schedule)
                                 or len(schedule.stations) != inst.n_stations):
        raise InvalidInput("schedule", f"expected an optcache Schedule of the instance's {inst.n_stations} "
                           "stations")
    data = inst.station_data(station)
    try:
        check_size(data)
    except SolverFailed as e:  # the station's requests make the model too large to write
        raise InvalidInput(f"stations[{station}].requests", str(e)) from None
    extra: dict = {}
    if schedule is not None:
        s = schedule.stations[station]
        out = np.argwhere((s.cached < 0) | (s.cached > 1))
        if len(out):  # the evaluator leaves that pair's AoT undefined (NaN): no tangent point
            t, p = (int(i) for i in out[0])
            raise InvalidInput(f"stations[{station}].cached[{t}][{p}]",
                               f"{float(s.cached[t, p])!r} is outside [0, 1]: tangents need the AoT "
                               "of a schedule whose cache is in [0, 1]")
        ev = evaluate_station(data, s.cached, s.edge_requests, State.cold(data.P))
        extra = {(int(t), int(p)): [float(ev.kappa[t, p])]
                 for t, p in zip(*np.nonzero(s.edge_requests > 0), strict=True)}
    with atomic_path(path, suffix=f".{fmt}") as tmp:
        if form == "readable":
            import pyomo.environ as pyo

            from optcache.models.problem28 import build_problem28

            m = build_problem28(data, tangents=extra)
            with tempfile.TemporaryDirectory() as d:  # Pyomo checks the file name's extension
                m.write(str(Path(d) / f"problem28.{fmt}"), io_options={"symbolic_solver_labels": True})
                shutil.copyfile(Path(d) / f"problem28.{fmt}", tmp)
            points = m._tangent_points
            rows = sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True))
            cols = sum(1 for _ in m.component_data_objects(pyo.Var) if not _.fixed)
        else:
            from optcache.models.matrix28 import build_matrix28
            from optcache.solvers.highs import MatrixSolver

            mm = build_matrix28(data, tangents=extra)
            MatrixSolver(mm).h.writeModel(str(tmp))
            points, rows, cols = mm.tangent_points, mm.n_rows, mm.n_cols
        mark = "\\ " if fmt == "lp" else "* "
        text = "".join(f"{mark}{line}\n" for line in header(inst, station, form, fmt, points, data.R))
        tmp.write_text(text + tmp.read_text())
    return {"format": fmt, "form": form, "rows": int(rows), "columns": int(cols),
            "tangents": sum(len(v) for v in points.values()), "tangent_points": points}
