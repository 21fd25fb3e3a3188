"""One exception type for bad input, so the CLI can turn it into one line and exit code 2."""

from __future__ import annotations


class InvalidInput(ValueError):
    """Raised for malformed or inconsistent input; `field` names the offending JSON path."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class SolverUnavailable(RuntimeError):
    """Raised when a method needs a solver that is not installed or not licensed."""


class SolverFailed(RuntimeError):
    """Raised when a solver stops without an answer (a status such as Empty or Unknown, a model too
    large to build); `registry.run` turns it into a result with status 'error' and this message."""


class InfeasibleModel(SolverFailed):
    """Raised when a model has no feasible point (it should not happen for problem (28))."""


def named_keywords(what: str):
    """Class decorator for a dataclass of settings: an unknown keyword is InvalidInput naming it
    (the generated __init__ raises Python's TypeError, which the CLI would show as a traceback)."""
    import functools
    from dataclasses import fields

    def deco(cls):
        init = cls.__init__
        names = [f.name for f in fields(cls) if f.init]

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            for k in kw:
                if k not in names:
                    raise InvalidInput(str(k), f"unknown {what}; the {what}s are {', '.join(sorted(names))}"[:400])
            init(self, *args, **kw)

        cls.__init__ = __init__
        return cls

    return deco


def finite(v) -> bool:
    """`math.isfinite(v)`, but False for an integer beyond the float range (10**400) instead of
    Python's OverflowError: the input checks' one test for a finite real number."""
    import math

    try:
        return math.isfinite(v)
    except OverflowError:
        return False
