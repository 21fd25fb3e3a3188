"""optcache: joint model caching, inference offloading and service auctions for LLM agents.

The top-level import stays light (numpy and pandas only): instances, scenarios, dynamics and the
evaluator. Pyomo lives in `optcache.models`/`optcache.solvers`, torch in `optcache.market`.
"""

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

__version__ = "0.1.0"

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
