"""Where study cells run: in-process, a local process pool, or a Dask cluster; one interface.

Every engine is a generator `(func, items) -> (index, result)` in completion order, so the study
can checkpoint as results arrive. Workers run one solver thread each: the machine's cores are
shared by the workers, not by the threads of one solve. Local workers die with the process that
started them, even when it is killed with SIGKILL, and are killed when the generator stops early
(an exception, a signal, `close()`): only the items in flight are lost.
"""

from __future__ import annotations

import multiprocessing
import numbers
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from optcache.errors import InvalidInput, SolverUnavailable

ENGINES = ("local", "dask")

QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"
"""Passed (via sys.warnoptions) to the helper processes multiprocessing starts: a worker killed
when a study stops early leaves the lock pyomo creates on import, and the resource tracker, which
removes it, would print a 'leaked semaphore' warning after the study's own one-line message."""

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
"""Environment variables set to 1 in every worker before the numeric libraries start threads."""


WORKERS_ENV = "OPTCACHE_WORKERS"
"""Environment variable that sets the default number of worker processes (e.g. on a shared node)."""


def default_workers() -> int:
    """The cores this process may run on (its CPU affinity), or `$OPTCACHE_WORKERS` if set."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise InvalidInput(WORKERS_ENV, f"must be a positive integer, got {env!r}")
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def limit_threads() -> None:
    """One thread per worker for OpenMP/MKL/numba (via the environment) and torch (if imported)."""
    for var in THREAD_ENV:
        os.environ[var] = "1"
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _exit_with(parent: int) -> None:
    """Block until process `parent` has exited, then end this process at once (os._exit)."""
    try:
        fd = os.pidfd_open(parent)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd (not Linux >= 5.3): poll once a second
        fd = None
    if fd is not None:
        select.select([fd], [], [])  # readable once the process has exited (a zombie counts)
        os._exit(1)
    while True:
        time.sleep(1.0)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass


def init_worker(parent: int) -> None:
    """A pool worker: one numeric thread, Ctrl-C left to the study, and death with `parent`.

    A forkserver worker is the forkserver's child, not the study's, so it watches the study's pid
    from a daemon thread (the GIL is free during HiGHS solves, so it acts within milliseconds)."""
    limit_threads()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="exit-with-parent").start()


def _bar(total: int, desc: str, progress: bool):
    from optcache.progress import progress_bar

    return progress_bar(total=total, desc=desc, unit="cell", disable=not progress, file=sys.stderr,
                        dynamic_ncols=True)


def run_serial(func: Callable, items: Sequence, *, progress: bool = True,
               desc: str = "study") -> Iterator[tuple[int, Any]]:
    """In this process, in order: for tests, notebooks and debugging (no pickling, no threads set)."""
    with _bar(len(items), f"{desc} (serial)", progress) as bar:
        for i, item in enumerate(items):
            yield i, func(item)
            bar.update()


def run_local(func: Callable, items: Sequence, *, workers: int | None = None,
              progress: bool = True, desc: str = "study") -> Iterator[tuple[int, Any]]:
    """A process pool of `workers` (default `default_workers()`); workers=1 runs serially here.

    Workers start from a forkserver, not by forking this process, so that threads of the caller
    (a Dask client, torch, a notebook kernel) are never copied half-locked into a worker.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise InvalidInput("workers", f"must be a positive integer, got {workers!r}")
    if workers == 1 or len(items) <= 1:
        yield from run_serial(func, items, progress=progress, desc=desc)
        return
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    if QUIET_TRACKER not in sys.warnoptions:  # read when the tracker and forkserver start
        sys.warnoptions.append(QUIET_TRACKER)
    pool = ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=ctx,
                               initializer=init_worker, initargs=(os.getpid(),))
    complete = False
    try:
        futures = {pool.submit(func, item): i for i, item in enumerate(items)}
        with _bar(len(items), f"{desc} (local x{workers})", progress) as bar:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
                bar.update()
        complete = True
    finally:
        if not complete:  # stopped early: kill the workers rather than wait for their cells
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)


def _dask_call(func: Callable, item: Any) -> Any:
    limit_threads()
    return func(item)


def run_dask(func: Callable, items: Sequence, *, scheduler: Any = None,
             workers: int | None = None, progress: bool = True,
             desc: str = "study") -> Iterator[tuple[int, Any]]:
    """On a Dask cluster: `scheduler` is an address ("tcp://host:8786"), a `distributed.Client`,
    or None for an in-process LocalCluster of `workers` single-threaded worker processes.

    Workers of a remote cluster must have optcache installed (the same version as here).
    """
    try:
        from distributed import Client, LocalCluster, as_completed
        from distributed.client import ClosedClientError
    except ImportError as e:  # pragma: no cover - dask is a dependency
        raise SolverUnavailable(f"engine 'dask' needs dask[distributed]: {e}") from None

    cluster = None
    own_client = True
    if scheduler is None:
        n = default_workers() if workers is None else workers
        if n < 1:
            raise InvalidInput("workers", f"must be a positive integer, got {n!r}")
        cluster = LocalCluster(n_workers=min(n, max(len(items), 1)), threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               env={var: "1" for var in THREAD_ENV})
        client = Client(cluster)
    elif isinstance(scheduler, str):
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, ValueError) as e:  # unreachable; a malformed address (check() refuses most)
            raise InvalidInput("scheduler", f"cannot connect to {scheduler!r}: {e}") from None
    elif isinstance(scheduler, Client):
        client, own_client = scheduler, False
    else:
        raise InvalidInput("scheduler", f"expected an address or a distributed.Client, got {type(scheduler).__name__}")

    try:
        try:
            futures = client.map(_dask_call, [func] * len(items), items, pure=False)
        except ClosedClientError:  # closed after check()
            raise InvalidInput("scheduler", "the distributed.Client is closed") from None
        index = {f.key: i for i, f in enumerate(futures)}
        where = "local cluster" if cluster is not None else str(scheduler if isinstance(scheduler, str) else "client")
        with _bar(len(items), f"{desc} (dask, {where})", progress) as bar:
            for fut in as_completed(futures):
                yield index[fut.key], fut.result()
                bar.update()
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


def _check_address(address: str) -> None:
    """A scheduler address distributed can parse ("tcp://host:8786"), before a study writes
    anything; whether a scheduler answers there is known only when the client connects."""
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address

    try:
        scheme, loc = parse_address(address)
        backend = registry.get_backend(scheme)
        try:
            backend.get_address_host_port(loc)
        except NotImplementedError:  # inproc:// and the like have no host and port
            pass
    except ValueError as e:
        raise InvalidInput("scheduler", f"not a scheduler address ({e}); expected e.g. "
                           "'tcp://host:8786'"[:200]) from None


def check(engine: str, scheduler: Any = None, workers: int | None = None) -> int | None:
    """Refuse bad run settings (engine, scheduler, workers, `$OPTCACHE_WORKERS`) before a study
    writes anything; returns `workers` as a plain int (numpy integers are integers too)."""
    if not isinstance(engine, str) or engine not in ENGINES:
        raise InvalidInput("engine", f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
            raise InvalidInput("workers", f"must be a positive integer, got {workers!r}")
        workers = int(workers)
    if engine == "local" and scheduler is not None:
        raise InvalidInput("scheduler", "only the dask engine takes a scheduler")
    if engine == "dask" and scheduler is not None:
        try:
            from distributed import Client
        except ImportError as e:  # pragma: no cover - dask is a dependency
            raise SolverUnavailable(f"engine 'dask' needs dask[distributed]: {e}") from None
        if isinstance(scheduler, str):
            _check_address(scheduler)
        elif not isinstance(scheduler, Client):
            raise InvalidInput("scheduler", "expected an address or a distributed.Client, "
                               f"got {type(scheduler).__name__}")
        elif scheduler.status in ("closing", "closed"):
            raise InvalidInput("scheduler", "the distributed.Client is closed; pass a running "
                               "Client or a scheduler address")
    if workers is None and (engine == "local" or scheduler is None):
        default_workers()  # a bad $OPTCACHE_WORKERS is refused now, not when the first cell starts
    return workers


def run(engine: str, func: Callable, items: Sequence, *, scheduler: Any = None,
        workers: int | None = None, progress: bool = True,
        desc: str = "study") -> Iterator[tuple[int, Any]]:
    """Dispatch on `engine` ("local" or "dask"); a scheduler address makes sense only for dask."""
    workers = check(engine, scheduler, workers)
    if engine == "local":
        return run_local(func, items, workers=workers, progress=progress, desc=desc)
    return run_dask(func, items, scheduler=scheduler, workers=workers, progress=progress, desc=desc)
