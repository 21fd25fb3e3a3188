"""Context fill (18) and age of thought (19), docs/formulation.md §4. Pure numpy, no solver."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optcache.errors import InvalidInput


@dataclass(frozen=True)
class State:
    """What a station carries from one slot to the next: cache a, context K and AoT κ per pair."""

    cached: np.ndarray
    """a[t][p] ∈ {0, 1} after the slot, per pair (float array of length P)."""
    K: np.ndarray
    """Context fill K[t][p] (18), tokens, per pair."""
    kappa: np.ndarray
    """Age of thought κ[t][p] (19), tokens, per pair."""

    @classmethod
    def cold(cls, P: int) -> State:
        """Slot 0: nothing cached, empty contexts (a[0] = 0, K[0] = κ[0] = 0)."""
        z = np.zeros(P)
        return cls(z.copy(), z.copy(), z.copy())

    @classmethod
    def check(cls, state: object, P: int, field: str = "state0") -> State:
        """`state` (cold for None) if it is a State of `P` pairs with a 0/1 cache and finite,
        non-negative K and κ that are 0 where nothing is cached, else InvalidInput naming `field`:
        a start state a builder, a solver or the evaluator is handed (rolling windows, the API)."""
        if state is None:
            return cls.cold(P)
        if not isinstance(state, cls):
            raise InvalidInput(field, f"expected an optcache.dynamics.State, got {type(state).__name__}")
        c, K, k = state.cached, state.K, state.kappa
        if all(isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.shape == (P,) for v in (c, K, k)):
            with np.errstate(invalid="ignore"):  # the common case in one pass (solvers call it often)
                off = c == 0
                if ((off | (c == 1)).all() and (K >= 0).all() and (k >= 0).all() and (K < np.inf).all()
                        and (k < np.inf).all() and not (off & ((K != 0) | (k != 0))).any()):
                    return state
        for name in ("cached", "K", "kappa"):
            v = np.asarray(getattr(state, name))
            if v.dtype.kind not in "biuf" or v.shape != (P,):
                raise InvalidInput(f"{field}.{name}", f"expected {P} real numbers (one per pair), "
                                   f"got shape {v.shape} of {v.dtype}")
            if not (np.isfinite(v).all() and (v >= 0).all()):
                raise InvalidInput(f"{field}.{name}", "must be finite and >= 0")
        if not np.isin(state.cached, (0, 1)).all():
            raise InvalidInput(f"{field}.cached", "must be 0 or 1 for every pair")
        for name in ("K", "kappa"):  # (18)-(19) reset an unloaded pair: no reachable state has it
            stale = np.nonzero((np.asarray(state.cached) == 0) & (np.asarray(getattr(state, name)) != 0))[0]
            if stale.size:
                raise InvalidInput(f"{field}.{name}", f"must be 0 for a pair that is not cached (18)-(19); "
                                   f"pair {int(stale[0])} has cached = 0 and {name} = "
                                   f"{float(np.asarray(getattr(state, name))[stale[0]]):g}")
        return state


def aged_kappa(kappa, tokens, delta):
    """(19) for a pair that stays cached: κ + k·x − Δ, floored at 0 (arrays or scalars). The one
    place the formula is written; the numba policy kernel repeats it, held equal by
    tests/test_policies_fast.py."""
    return np.maximum(kappa + tokens - delta, 0.0)


def _advance(K: np.ndarray, kappa: np.ndarray, a: np.ndarray, add: np.ndarray, delta: np.ndarray):
    """(18) and (19) on arrays: unloaded pairs reset, cached ones add the tokens `add` and decay by Δ."""
    return a * (K + add), a * aged_kappa(kappa, add, delta)


def step(state: State, a: np.ndarray, x: np.ndarray, k: np.ndarray, delta: np.ndarray) -> State:
    """One slot of (18) and (19): unloaded pairs reset, cached ones add k·x and decay by Δ."""
    K, kappa = _advance(state.K, state.kappa, a, k * x, delta)
    return State(np.asarray(a, float).copy(), K, kappa)


def trajectory(a: np.ndarray, x: np.ndarray, k: np.ndarray, delta: np.ndarray,
               state0: State | None = None) -> tuple[np.ndarray, np.ndarray]:
    """K[t][p] and κ[t][p] for every slot of a schedule (a, x) of shape (T, P)."""
    a = np.asarray(a, float)
    T, P = a.shape
    st = State.check(state0, P)
    if not np.any(a):  # nothing ever cached (all-cloud): (18)-(19) give 0 in every slot
        return np.zeros((T, P)), np.zeros((T, P))
    K = np.empty((T, P))
    kappa = np.empty((T, P))
    add = np.asarray(x, float) * k
    Kt, kt = np.asarray(st.K, float), np.asarray(st.kappa, float)
    for t in range(T):  # on plain arrays, no State per slot: the evaluator's inner loop
        Kt, kt = _advance(Kt, kt, a[t], add[t], delta)
        K[t], kappa[t] = Kt, kt
    return K, kappa


def final_state(a: np.ndarray, x: np.ndarray, k: np.ndarray, delta: np.ndarray,
                state0: State | None = None) -> State:
    """The state after the last slot of (a, x): the boundary state of a rolling-horizon window."""
    a = np.asarray(a, float)
    T, P = a.shape
    st = State.check(state0, P)
    for t in range(T):
        st = step(st, a[t], x[t], k, delta)
    return st
