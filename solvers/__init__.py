"""Methods that produce schedules (optcache.solvers): exact HiGHS solves, replacement policies,
per-slot problem (29) and rolling horizon. All are reached through `registry`."""

from optcache.solvers.registry import get, names, register, run

__all__ = ["get", "names", "register", "run"]
