"""A solve in a forked child process, killed at its deadline (docs/formulation.md §14).

Solvers do not all keep their time limits (HiGHS 1.16 checks none during its root's cut
separation; an interface's own translation of a model is not counted at all), so a solve under a
limit runs in a child that the parent kills, with any process it started, when the deadline
passes. The child passes messages back as it goes (`send`); its log records are re-logged by the
parent under their own logger names. Linux: the child also dies with its parent.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from optcache.errors import InfeasibleModel, SolverFailed

KILL_GRACE = 0.5
"""A forked solver gets its time limit less this many seconds (at most half of it) and is killed
at the limit itself: time to send its answer when it stops on its own."""

ERRORS = {cls.__name__: cls for cls in (InfeasibleModel, SolverFailed)}
"""Errors a child's work may raise that the parent raises again, as they are."""


POLL_SECONDS = 3600.0
"""Longest single wait on the child's pipe: a time limit of 1e308 s is legal, `poll` takes far less."""

HELD_DURING_FORK = {signal.SIGINT, signal.SIGTERM}
"""Signals held while `os.fork` runs its hooks (`call`): an interrupt raised inside them is dropped
by Python ("Exception ignored in _releaseLock"), and a stopped grid then ran to its end, exit 0.
They are blocked in the forking thread and, in the main thread, their Python handlers only record
them until the fork is over (`_Held`): the kernel gives a process's signal to any thread that does
not block it (HiGHS's, a progress bar's), and Python then runs the handler in the main thread
wherever it is, the fork's hooks included."""


class _Held:
    """HELD_DURING_FORK held while `os.fork` runs: blocked in this thread and, in the main thread,
    their Python handlers swapped for one that records the signal. `release` puts the handlers back,
    raises each recorded signal again (`signal.raise_signal`: to this thread, where it stays pending
    while blocked) and then restores the mask, so a held signal reaches the caller's handler there.
    Handlers that are not Python callables (SIG_DFL, SIG_IGN) are left alone: Python raises nothing
    from them."""

    def __init__(self):
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_DURING_FORK)
        self.caught: list[int] = []
        self.previous = {}
        if threading.current_thread() is not threading.main_thread():
            return  # Python runs handlers in the main thread only: none can run in this fork's hooks
        for sig in sorted(HELD_DURING_FORK):
            handler = signal.getsignal(sig)
            if callable(handler):
                self.previous[sig] = signal.signal(sig, lambda signum, frame: self.caught.append(signum))

    def release(self, again: bool = True) -> None:
        """Handlers and mask as before; with `again`, a signal recorded meanwhile is raised."""
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if again:
            for sig in dict.fromkeys(self.caught):
                signal.raise_signal(sig)
        signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)


def own_limit(time_limit: float) -> float:
    """The time limit to give the solver inside a child killed at `time_limit` (see KILL_GRACE)."""
    return max(time_limit - KILL_GRACE, 0.5 * time_limit)


def usable() -> bool:
    """Forking is possible here (not on Windows)."""
    return hasattr(os, "fork")


class _Forward(logging.Handler):
    """The child's log records, sent to the parent as ('log', logger name, level, message)."""

    def __init__(self, send):
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        self.send("log", record.name, record.levelno, record.getMessage())


def call(work: Callable[[Callable[..., None]], object], deadline: float,
         on_message: Callable[[str, tuple], None] | None = None, what: str = "the solver"):
    """Run `work(send)` in a forked child; its return value is returned here.

    `send(kind, *msg)` in the child reaches `on_message(kind, msg)` here as it comes. An
    `InfeasibleModel` or `SolverFailed` raised by `work` is raised here; any other exception is a
    SolverFailed. None when `deadline` (a `time.perf_counter()` time) passes first: the child and
    every process it started are killed then."""
    import multiprocessing.connection as mpc

    reader, writer = mpc.Pipe(duplex=False)
    # a Ctrl-C or SIGTERM arriving during the fork is held until it is over: in the fork's own
    # hooks (logging's lock release) Python drops the exception, and the run went on to its end
    held = _Held()
    try:
        pid = os.fork()
    except BaseException:  # no child (out of memory, too many processes): nothing stays held
        reader.close()
        writer.close()
        held.release()
        raise
    if pid == 0:  # the child: never returns into the caller
        code = 1
        try:
            held.release(again=False)  # the parent's signal is the parent's: it kills this child
            reader.close()
            os.setpgid(0, 0)  # its own group: the parent kills any solver executable it starts
            _die_with_parent()
            code = _child(work, writer)
        finally:
            os._exit(code)
    final = None
    try:
        held.release()  # a held signal is raised here: the child is killed
        writer.close()
        try:
            os.setpgid(pid, pid)  # also here: the group exists before the parent may kill it
        except OSError:  # the child got there first, or already exited
            pass
        while final is None:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            if not reader.poll(min(left, POLL_SECONDS)):  # poll() overflows beyond ~2.1e6 s
                continue
            try:
                kind, *msg = reader.recv()
            except EOFError:  # the child died without a word
                break
            if kind == "log":
                logging.getLogger(msg[0]).log(msg[1], "%s", msg[2])
            elif kind in ("done", "raise"):
                final = (kind, msg)
            elif on_message is not None:
                on_message(kind, tuple(msg))
    finally:
        reader.close()
        if final is None:
            _kill(pid)
        os.waitpid(pid, 0)
    if final is None:
        if time.perf_counter() < deadline:
            raise SolverFailed(f"{what}'s process ended without an answer")
        return None
    kind, msg = final
    if kind == "raise":
        raise ERRORS.get(msg[0], SolverFailed)(msg[1])
    return msg[0]


def _child(work, conn) -> int:
    """The child's run: log records and messages go to `conn`, then ('done', value) or
    ('raise', error class name, message)."""

    def send(kind: str, *msg) -> None:
        conn.send((kind, *msg))

    _plain_streams()
    root = logging.getLogger()
    loggers = [root] + [lg for lg in logging.Logger.manager.loggerDict.values()
                        if isinstance(lg, logging.Logger)]
    for lg in loggers:  # the parent's handlers (a CLI's stderr) see the records once, there
        for h in list(lg.handlers):
            lg.removeHandler(h)
    root.addHandler(_Forward(send))
    try:
        send("done", work(send))
    except tuple(ERRORS.values()) as e:
        send("raise", type(e).__name__, str(e))
    except Exception as e:  # noqa: BLE001 - anything else ends as SolverFailed in the parent
        send("raise", "SolverFailed", f"the solver failed: {e!r}")
    conn.close()
    return 0


def _plain_streams() -> None:
    """sys.stdout and sys.stderr write to file descriptors 1 and 2 directly: the parent's stream
    objects may not work in the child (Jupyter's go through a thread the child does not have, and
    Pyomo's output capture fails on them with EBADF)."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        try:
            stream = open(fd, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the child
        except OSError:  # closed in the parent
            stream = open(os.devnull, "w")  # noqa: SIM115
        setattr(sys, name, stream)


def _kill(pid: int) -> None:
    """SIGKILL the child's process group (it and any solver it started), else the child."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover - it just ended
            pass


def _die_with_parent() -> None:
    """Linux: the child is killed when its parent dies (a killed study worker leaves no solver
    running). Elsewhere nothing: the child still stops at the solver's own time limit."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
