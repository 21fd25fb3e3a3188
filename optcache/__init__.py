"""optcache: joint model caching, inference offloading and service auctions for LLM agents.

The names below are imported on first use (PEP 562), so that `import optcache` and the command
line start fast; the top-level API needs numpy and pandas only: instances, scenarios, dynamics
and the evaluator. Pyomo lives in `optcache.models`/`optcache.solvers`, torch in `optcache.market`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Evaluation": "optcache.evaluator",
    "evaluate": "optcache.evaluator",
    "InvalidInput": "optcache.errors",
    "Instance": "optcache.instance",
    "Limits": "optcache.instance",
    "Model": "optcache.instance",
    "Pair": "optcache.instance",
    "Service": "optcache.instance",
    "Station": "optcache.instance",
    "load_instance": "optcache.instance",
    "save_instance": "optcache.instance",
    "ScenarioConfig": "optcache.scenario",
    "generate": "optcache.scenario",
    "Schedule": "optcache.schedule",
    "load_schedule": "optcache.schedule",
    "save_schedule": "optcache.schedule",
}

__all__ = [
    "Evaluation",
    "Instance",
    "InvalidInput",
    "Limits",
    "Model",
    "Pair",
    "Schedule",
    "ScenarioConfig",
    "Service",
    "Station",
    "evaluate",
    "generate",
    "load_instance",
    "load_schedule",
    "save_instance",
    "save_schedule",
]
assert sorted(__all__) == sorted(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names are loaded on first use
    from optcache.errors import InvalidInput
    from optcache.evaluator import Evaluation, evaluate
    from optcache.instance import (
        Instance,
        Limits,
        Model,
        Pair,
        Service,
        Station,
        load_instance,
        save_instance,
    )
    from optcache.scenario import ScenarioConfig, generate
    from optcache.schedule import Schedule, load_schedule, save_schedule


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'optcache' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
