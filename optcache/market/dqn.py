"""DQMSB's deep Q-network (Algorithm 2, eqs. (33)-(34)) in the style of CleanRL's dqn.py.

Each step is one auction round in the satellite's coverage (elsewhere ρ is moot: the satellite
cannot win). The auctioneer observes a state built from the bids, picks a level `a`, sets
`ρ = 10^{a/|A|}`, runs MSB (31)-(32) and receives the round's total surplus `Σ v_n z_n` as reward.
Transitions go to a replay buffer; mini-batches regress `Q_φ(S, a)` on
`y = r + γ max_a' Q_φ'(S', a')` (34) with a target network `φ'`; exploration is ε-greedy with a
linearly decaying ε. Two states (docs/formulation.md §11):

- `critical`: built for the top ground bidder from the *other* ground bids, sorted and divided by
  their maximum (`mechanisms.critical_state`), so the bidder faces `χ = ρ(x_{-n}) · max(x_{-n})`:
  strategy-proof and homogeneous of degree one.
- `literal`: the paper's `S_k = x^k`, every bid by bidder over a fixed scale; the winner's own bid
  moves ρ, which a test shows is exploitable.

Both may append public round features that no bid moves (`public_features`): the service's match
cap ln(w·ln(1/β))/8 (its model's context window w times its ln(1/β)), 2·ln(1/β), and the slot's
place in the episode (t + ½)/T — what the seller publishes in stage (i) of section IV-D.

Reproducible on CPU: scenario seeds derive from `Args.seed`; network initialisation draws from a
`torch.Generator`, exploration and replay sampling from a `numpy.random.Generator`, both seeded
from `Args.seed`; training runs on `Args.threads` torch threads (1 by default).
"""

from __future__ import annotations

import copy
import io
import math
import os
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from optcache.errors import InvalidInput, finite, named_keywords
from optcache.instance import write_atomic
from optcache.market import mechanisms as M
from optcache.market.valuations import MarketConfig, Rounds, caching_policy, market_dataset

FORMAT = "optcache/dqmsb@1"
VERSION = 1
STATES = ("critical", "literal")
REWARDS = ("surplus", "match")
N_PUBLIC = 3
EVAL_SEED_OFFSET = 500_000
"""Held-out episodes use scenario seeds `seed·10⁶ + 500000 + k`, training ones `seed·10⁶ + k`."""


ARG_RANGES: dict[str, tuple[int, int]] = {
    "seed": (0, 999), "n_actions": (2, 1000), "hidden": (1, 1024), "episodes": (1, 10**6),
    "train_instances": (1, EVAL_SEED_OFFSET - 1), "eval_instances": (1, EVAL_SEED_OFFSET - 1),
    "buffer_size": (1, 10**7), "batch_size": (1, 10**5), "target_network_frequency": (1, 10**9),
    "learning_starts": (0, 10**9), "train_frequency": (1, 10**9), "threads": (1, 256),
}
"""Closed range of each integer hyperparameter: a checkpoint's args are checked against these
before any network or buffer is allocated (with `MarketConfig`'s own ranges, ≤ 1000 stations)."""

MAX_BUFFER_FLOATS = 50_000_000
"""buffer_size × state size may not exceed this (each of the two replay arrays stays ≤ 200 MB)."""


@named_keywords("DQMSB argument")
@dataclass
class Args:
    """Every DQMSB hyperparameter, with the market scenario it trains on; saved in checkpoints."""

    seed: int = 0
    """Seed of everything: episode scenario seeds, network init, exploration, replay sampling."""
    state: str = "critical"
    """'critical' (scale-free, strategy-proof) or 'literal' (all bids, the paper's S_k = x^k)."""
    n_actions: int = 10
    """|A|: actions a = 0..|A|-1 give ρ = 10^{a/|A|} ∈ [1, 10^{(|A|-1)/|A|}]."""
    public_features: bool = True
    """Append the public round features (match cap ln(w·ln(1/β))/8, 2·ln(1/β), (t + ½)/T) to the state."""
    hidden: int = 64
    """Width of the Q-network's two hidden layers."""
    episodes: int = 96
    """Training epochs; epoch e replays training episode e mod n, n the training episodes with at
    least one round in coverage (at most `train_instances`; only those rounds are learnt from)."""
    train_instances: int = 48
    """Distinct training episodes (caching simulations), after one history-only warm-up episode."""
    eval_instances: int = 8
    """Held-out episodes scored after every epoch (the training curve) and by `evaluate`."""
    learning_rate: float = 3e-4
    """Adam step size, in (0, 1] (beyond, float32 overflows: the step is not a learning rate)."""
    buffer_size: int = 20_000
    """Replay buffer capacity (transitions)."""
    batch_size: int = 128
    """Mini-batch size K of the loss (34)."""
    gamma: float = 0.0
    """Discount γ of (33). Bids do not depend on past ρ (caching runs first), so the next state
    is the same whatever the action and every γ has the same greedy policy; γ = 0 removes the
    bootstrap noise. The target network is still used when γ > 0."""
    tau: float = 1.0
    """Target network update rate (1: hard copy)."""
    target_network_frequency: int = 250
    """Steps between target network updates."""
    start_e: float = 1.0
    """Initial exploration ε."""
    end_e: float = 0.02
    """Final exploration ε."""
    exploration_fraction: float = 0.4
    """Fraction of all steps over which ε decays linearly from start_e to end_e."""
    learning_starts: int = 500
    """Steps before the first gradient step."""
    train_frequency: int = 1
    """Steps between gradient steps."""
    reward: str = "surplus"
    """'surplus': r = Σ v z over the training mean first-best per round (the paper's reward,
    rescaled); 'match': r = Σ v z / c, the winner's match (removes the common value's noise)."""
    threads: int = 1
    """torch threads during training and evaluation."""
    market: MarketConfig = field(default_factory=MarketConfig)
    """The market scenario the policy trains and is evaluated on."""

    def __post_init__(self) -> None:
        if isinstance(self.market, dict):
            try:
                self.market = MarketConfig.from_dict(self.market)
            except InvalidInput as e:
                raise InvalidInput(f"market.{e.field}", e.message) from None
            except TypeError as e:
                raise InvalidInput("market", str(e)) from None
        if not isinstance(self.market, MarketConfig):
            raise InvalidInput("market", f"expected a table of market settings, got {type(self.market).__name__}")
        for name, (lo, hi) in ARG_RANGES.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise InvalidInput(name, f"must be an integer in [{lo}, {hi}], got {v!r}"[:120])
            setattr(self, name, int(v))  # a numpy integer is not JSON (checkpoints, config_key)
        if self.state not in STATES:
            raise InvalidInput("state", f"must be one of {', '.join(STATES)}, got {self.state!r}")
        if self.reward not in REWARDS:
            raise InvalidInput("reward", f"must be one of {', '.join(REWARDS)}, got {self.reward!r}")
        if not isinstance(self.public_features, (bool, np.bool_)):
            raise InvalidInput("public_features", "must be true or false")
        self.public_features = bool(self.public_features)
        floats = {"learning_rate": (0.0, False, 1.0), "gamma": (0.0, True, 1.0), "tau": (0.0, False, 1.0),
                  "start_e": (0.0, True, 1.0), "end_e": (0.0, True, 1.0),
                  "exploration_fraction": (0.0, False, 1.0)}
        for name, (lo, lo_closed, hi) in floats.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not finite(v) or v < lo or (v == lo and not lo_closed) or (hi is not None and v > hi):
                raise InvalidInput(name, f"must be a number in {'[' if lo_closed else '('}{lo:g}, "
                                   f"{'inf)' if hi is None else f'{hi:g}]'}, got "
                                   f"{float(v) if isinstance(v, (float, np.floating)) else v!r}"[:160])
            if isinstance(v, np.generic):
                setattr(self, name, v.item())
        if self.gamma >= 1:
            raise InvalidInput("gamma", "must be < 1")
        if self.end_e > self.start_e:
            raise InvalidInput("end_e", f"must be <= start_e = {self.start_e} (ε decays from start_e to end_e), "
                               f"got {self.end_e}")
        if self.buffer_size * state_dim(self) > MAX_BUFFER_FLOATS:
            raise InvalidInput("buffer_size", f"{self.buffer_size} transitions of {state_dim(self)} "
                               f"features exceed {MAX_BUFFER_FLOATS:.0e} floats per replay array")

    @classmethod
    def require(cls, args, where: str = "args") -> Args:
        """A checked copy of `args` (fields set since construction are checked again); InvalidInput
        naming `where` if it is not an Args (`Args.from_dict` reads a table)."""
        if not isinstance(args, cls):
            raise InvalidInput(where, f"expected an optcache.market.dqn.Args (Args.from_dict reads a table), "
                               f"got {type(args).__name__}")
        return replace(args)

    def to_dict(self) -> dict:
        """The hyperparameters as a plain dict (checkpoints, provenance); `market` flat, as
        `MarketConfig.to_dict` writes it."""
        return {f.name: (self.market.to_dict() if f.name == "market" else getattr(self, f.name))
                for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "args", *, complete: bool = False) -> Args:
        """From `to_dict`'s layout; unknown keys are InvalidInput at `where`, and so are missing
        ones if `complete` (a checkpoint records every field: a default would change the policy)."""
        if not isinstance(d, dict):
            raise InvalidInput(where, "expected a mapping of hyperparameters")
        names = [f.name for f in fields(cls)]
        bad = sorted(set(d) - set(names))
        if bad:
            raise InvalidInput(f"{where}.{bad[0]}", "unknown hyperparameter")
        if complete:
            missing = [n for n in names if n not in d]
            if missing:
                raise InvalidInput(f"{where}.{missing[0]}", "missing")
            if isinstance(d["market"], dict):
                try:
                    d = {**d, "market": MarketConfig.from_dict(d["market"], complete=True)}
                except InvalidInput as e:
                    raise InvalidInput(f"{where}.market.{e.field}", e.message) from None
                except TypeError as e:
                    raise InvalidInput(f"{where}.market", str(e)) from None
        try:
            return cls(**d)
        except InvalidInput as e:
            raise InvalidInput(f"{where}.{e.field}", e.message) from None
        except TypeError as e:
            raise InvalidInput(where, str(e)) from None

    def train_seeds(self) -> list[int]:
        """Scenario seeds of the training episodes (the first is history only)."""
        return [self.seed * 1_000_000 + k for k in range(1 + self.train_instances)]

    def eval_seeds(self) -> list[int]:
        """Scenario seeds of the held-out episodes, disjoint from the training ones."""
        return [self.seed * 1_000_000 + EVAL_SEED_OFFSET + k for k in range(1 + self.eval_instances)]


# --------------------------------------------------------------------------- states
def public_features(rounds: Rounds) -> np.ndarray:
    """(R, 3) features no bid moves: the service's match cap, its ln(1/β), the slot's place.

    The cap `w · ln(1/β)` is the largest match a station can reach for the service (κ ≤ w), given
    as ln(cap)/8 (≈ 0.7-1.05 under the default scenario); then 2·ln(1/β) and (t + ½)/T.
    """
    cap = np.maximum(rounds.context_tokens * rounds.log_inv_beta, 1e-12)
    return np.column_stack([np.log(cap) / 8.0, 2.0 * rounds.log_inv_beta, (rounds.slot + 0.5) / rounds.n_slots])


def state_dim(args: Args) -> int:
    """Length of the Q-network's input for `args` (critical or literal state, public features)."""
    N = args.market.stations
    base = max(N - 2, 0) if args.state == "critical" else N + 1
    return max(base + (N_PUBLIC if args.public_features else 0), 1)


def _pad(s: np.ndarray) -> np.ndarray:
    return s if s.shape[1] else np.zeros((s.shape[0], 1))


class QNetwork(nn.Module):
    """Q_φ(S, ·): an MLP from a state to one value per price level a ∈ A."""

    def __init__(self, dim: int, hidden: int, n_actions: int):
        super().__init__()
        self.network = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, n_actions))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


def init_network(net: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default Linear initialisation, drawn from an explicit generator."""
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(m.in_features)
            nn.init.uniform_(m.bias, -bound, bound, generator=generator)


def build_network(args: Args) -> QNetwork:
    """A Q-network for `args`, initialised from `torch.Generator().manual_seed(args.seed)` only."""
    with torch.device("meta"):  # no draw from the global generator
        net = QNetwork(state_dim(args), args.hidden, args.n_actions)
    net = net.to_empty(device="cpu")
    init_network(net, torch.Generator().manual_seed(args.seed))
    return net


@dataclass
class DQMSB:
    """A DQMSB auctioneer: its Q-network and what it needs to build states (scales from training)."""

    args: Args
    """The hyperparameters and market it was trained with."""
    net: QNetwork
    """The Q-network: state → one Q-value per action level."""
    state_scale: float  #: literal state: bids are divided by it (training mean first-best per round)
    reward_scale: float
    """Rewards are divided by it in training (surplus, cost units × tokens)."""
    source: str | None = None
    """The checkpoint the weights were loaded from, named by the error on non-finite Q-values."""

    @classmethod
    def untrained(cls, args: Args, state_scale: float = 1.0, reward_scale: float = 1.0) -> DQMSB:
        """A policy with freshly initialised weights (seeded by `args.seed`)."""
        return cls(args, build_network(args), float(state_scale), float(reward_scale))

    @property
    def n_actions(self) -> int:
        """Number of action levels |A| (ρ = 10^(a/|A|))."""
        return self.args.n_actions

    def state(self, x: np.ndarray, x0: np.ndarray, public: np.ndarray | None) -> np.ndarray:
        """The state of each round (R, d) from bids (and public features when the args use them)."""
        pub = public if self.args.public_features else None
        if self.args.public_features and public is None:
            raise InvalidInput("public", "this policy needs the public round features")
        if self.args.state == "critical":
            s = M.critical_state(x, pub)
        else:
            s = M.literal_state(x, x0, self.state_scale, pub)
        return _pad(s)

    def actions(self, states: np.ndarray) -> np.ndarray:
        """Greedy levels argmax_a Q(S, a) for a batch of states."""
        with torch.no_grad():
            q = self.net(torch.as_tensor(np.asarray(states), dtype=torch.float32))
        if not torch.isfinite(q).all():  # argmax would pick a NaN's level: never act on it
            if self.source:
                raise InvalidInput(f"{self.source}: state_dict", "the Q-network gives non-finite Q-values "
                                   "(its weights overflow float32); refusing to act on them")
            raise InvalidInput("dqmsb", "the Q-network gives non-finite Q-values (training diverged: "
                               "lower learning_rate)")
        return q.argmax(dim=1).numpy()

    def mechanism(self, x, x0, eligible=None, public: np.ndarray | None = None) -> M.Outcome:
        """Run DQMSB on bids x (R, N), contract price x0, coverage, public features (R, 3)."""
        pub = public if self.args.public_features else None
        N = np.shape(x)[1] if np.ndim(x) == 2 else None
        if N is not None and N != self.args.market.stations:  # the network's input size depends on N
            raise InvalidInput("bids", f"have {N} ground stations, the policy expects {self.args.market.stations}")
        pol = lambda s: self.actions(_pad(s))  # noqa: E731
        if self.args.state == "critical":
            return M.dqmsb_critical(x, x0, eligible, pol, self.n_actions, pub)
        return M.dqmsb_literal(x, x0, eligible, pol, self.n_actions, self.state_scale, pub)

    def outcome(self, rounds: Rounds) -> M.Outcome:
        """DQMSB on a dataset's rounds with truthful ground bids x = v."""
        _check_stations(self.args, rounds, "rounds")
        return self.mechanism(rounds.v, rounds.x0, rounds.eligible, public_features(rounds))


# --------------------------------------------------------------------------- replay buffer
class ReplayBuffer:
    """A ring buffer of transitions (S, a, r, S', done), sampled uniformly by a numpy Generator."""

    def __init__(self, capacity: int, dim: int, rng: np.random.Generator):
        self.s = np.zeros((capacity, dim), np.float32)
        self.s2 = np.zeros((capacity, dim), np.float32)
        self.a = np.zeros(capacity, np.int64)
        self.r = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.capacity, self.size, self.pos, self.rng = capacity, 0, 0, rng

    def add(self, s, a, r, s2, done) -> None:
        """Store a batch of transitions (state, action, reward, next state, done), overwriting the oldest."""
        i = self.pos
        self.s[i], self.a[i], self.r[i], self.s2[i], self.done[i] = s, a, r, s2, done
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, n: int):
        """`n` stored transitions drawn uniformly, as arrays."""
        idx = self.rng.integers(self.size, size=n)
        t = torch.as_tensor
        return t(self.s[idx]), t(self.a[idx]), t(self.r[idx]), t(self.s2[idx]), t(self.done[idx])


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    """ε at step `t`: linear from `start_e` to `end_e` over `duration` steps, then flat."""
    slope = (end_e - start_e) / max(duration, 1.0)
    return max(slope * t + start_e, end_e)


# --------------------------------------------------------------------------- rewards and curves
def reward_table(rounds: Rounds, n_actions: int) -> np.ndarray:
    """Total surplus of each round (R,) under each level a (R, |A|): MSB with ρ = 10^{a/|A|}."""
    v = rounds.v
    _, x1, x2 = M.top_two(v)
    rho = M.rho_of_action(np.arange(n_actions), n_actions)
    ground = M.ground_wins(x1[:, None], rho[None, :] * x2[:, None], rounds.eligible[:, None])
    return np.where(ground, x1[:, None], rounds.v0[:, None])


def score(out: M.Outcome, rounds: Rounds) -> dict:
    """Surplus and efficiency of an auction outcome on `rounds` (`mechanisms.surplus`)."""
    return M.surplus(out, rounds.v, rounds.v0, rounds.eligible)


@dataclass
class TrainResult:
    """A trained policy, its training curve (one row per epoch) and the wall time."""

    policy: DQMSB
    """The trained policy (greedy in its Q-network)."""
    curve: pd.DataFrame
    """One row per epoch, columns `CURVE_COLUMNS`."""
    seconds: float
    """Wall time of the training, s."""
    untrained: dict = field(default_factory=dict)
    """Held-out surplus and efficiency of the untrained policy, the baseline of the curve."""


CURVE_COLUMNS = {
    "epoch": "training epoch (1-based): one pass over one training episode's rounds in coverage",
    "step": "environment steps (auction rounds) so far",
    "epsilon": "exploration ε at the end of the epoch",
    "loss": "mean TD loss (34) over the epoch's gradient steps (nan before learning starts)",
    "train_reward": "mean reward of the epoch's ε-greedy rounds",
    "total_surplus": "held-out total surplus Σ v z of the greedy policy",
    "ground_surplus": "its ground stations' part",
    "satellite_surplus": "its satellite's part",
    "efficiency": "total surplus / held-out first-best",
    "seconds": "wall time since training started",
}
"""The columns of `TrainResult.curve` and of `optcache market train --log`, one row per epoch;
surplus in cost units × tokens, efficiency a fraction of the first-best, time in s."""


def train(args: Args, *, progress: bool = False, train_data: Rounds | None = None,
          eval_data: Rounds | None = None) -> TrainResult:
    """Algorithm 2: train a DQMSB policy on `args`'s training episodes, scoring each epoch held out."""
    from optcache.progress import progress_bar

    t_start = time.perf_counter()
    args = Args.require(args)
    for name, data in (("train_data", train_data), ("eval_data", eval_data)):
        if data is not None and not isinstance(data, Rounds):
            raise InvalidInput(name, f"expected Rounds (market_dataset makes them) or None, got {type(data).__name__}")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        # seeding: one numpy Generator and one torch Generator, both from args.seed
        rng = np.random.default_rng(args.seed)
        train_data = train_data if train_data is not None else market_dataset(args.market, args.train_seeds())
        eval_data = eval_data if eval_data is not None else market_dataset(args.market, args.eval_seeds())
        _check_stations(args, train_data, "train_data")
        _check_stations(args, eval_data, "eval_data")
        learn = train_data.subset(train_data.scored & train_data.eligible)
        held = eval_data.subset(eval_data.scored)
        if learn.n == 0:  # an auction round is a (slot, service) with requests
            raise InvalidInput("market", "no training round has the satellite in coverage" if train_data.n
                               else "the training episodes have no requests, hence no auction rounds")
        if held.n == 0:  # its efficiency would be 0/0 every epoch
            raise InvalidInput("eval_instances", "the held-out episodes have no auction rounds (no requests); "
                               "use more or longer episodes")
        fb = M.first_best(learn.v, learn.v0, learn.eligible)
        scale = float(fb.mean())
        policy = DQMSB.untrained(args, state_scale=scale, reward_scale=scale)
        untrained = score(policy.outcome(held), held)
        q_network = policy.net
        target_network = copy.deepcopy(q_network)
        optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)

        episodes = [learn.subset(learn.episode == e) for e in np.unique(learn.episode)]
        tables, states = [], []
        for ep in episodes:
            table = reward_table(ep, args.n_actions)
            if args.reward == "match":
                table = table / ep.c[:, None] / (scale / float(np.mean(learn.c)))
            else:
                table = table / scale
            tables.append(table.astype(np.float32))
            states.append(policy.state(ep.v, ep.x0, public_features(ep)).astype(np.float32))
        total_steps = sum(len(episodes[e % len(episodes)].c) for e in range(args.episodes))
        rb = ReplayBuffer(args.buffer_size, state_dim(args), rng)

        rows = []
        global_step = 0
        bar = progress_bar(range(args.episodes), desc="dqmsb", unit="epoch", disable=not progress, leave=False)
        for epoch in bar:
            k = epoch % len(episodes)
            S, table = states[k], tables[k]
            losses, rewards = [], []
            epsilon = args.start_e
            for i in range(S.shape[0]):
                epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_fraction * total_steps,
                                          global_step)
                if rng.random() < epsilon:
                    a = int(rng.integers(args.n_actions))
                else:
                    with torch.no_grad():
                        a = int(q_network(torch.as_tensor(S[i:i + 1])).argmax(dim=1)[0])
                r = float(table[i, a])
                last = i + 1 == S.shape[0]
                rb.add(S[i], a, r, S[i] if last else S[i + 1], float(last))
                rewards.append(r)
                global_step += 1
                if global_step > args.learning_starts and global_step % args.train_frequency == 0:
                    s, act, rew, s2, done = rb.sample(args.batch_size)
                    with torch.no_grad():
                        target_max = target_network(s2).max(dim=1).values
                        y = rew + args.gamma * target_max * (1.0 - done)  # (33)
                    q = q_network(s).gather(1, act[:, None]).squeeze(1)
                    loss = nn.functional.mse_loss(q, y)  # (34)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    losses.append(float(loss.detach()))
                if global_step % args.target_network_frequency == 0:
                    for tp, qp in zip(target_network.parameters(), q_network.parameters(), strict=True):
                        tp.data.copy_(args.tau * qp.data + (1.0 - args.tau) * tp.data)
            res = score(policy.outcome(held), held)
            rows.append({"epoch": epoch + 1, "step": global_step, "epsilon": epsilon,
                         "loss": float(np.mean(losses)) if losses else float("nan"),
                         "train_reward": float(np.mean(rewards)),
                         **{c: res[c] for c in ("total_surplus", "ground_surplus", "satellite_surplus",
                                                "efficiency")},
                         "seconds": time.perf_counter() - t_start})
            bar.set_postfix(efficiency=f"{res['efficiency']:.4f}", refresh=False)  # redrawn at the bar's pace
        bar.close()
        return TrainResult(policy, pd.DataFrame(rows, columns=list(CURVE_COLUMNS)),
                           time.perf_counter() - t_start, untrained)
    finally:
        torch.set_num_threads(threads)


def _check_stations(args: Args, data: Rounds, where: str) -> None:
    if data.N != args.market.stations:
        raise InvalidInput(where, f"has {data.N} ground stations, the policy expects {args.market.stations}")


# --------------------------------------------------------------------------- checkpoints
def save_checkpoint(policy: DQMSB, path: str | os.PathLike, *, curve: pd.DataFrame | None = None,
                    seconds: float | None = None) -> None:
    """torch.save a versioned checkpoint (format, version, args, scales, weights, curve), atomically."""
    if not isinstance(policy, DQMSB):
        raise InvalidInput("policy", f"expected a trained DQMSB (train(...) returns one), got {type(policy).__name__}")
    from optcache import __version__
    from optcache.provenance import MARKET_PACKAGES, provenance

    ck = {"format": FORMAT, "version": VERSION, "optcache_version": __version__,
          "torch_version": str(torch.__version__), "args": policy.args.to_dict(),
          "provenance": provenance(f"{FORMAT}", packages=MARKET_PACKAGES, seed=policy.args.seed),
          "state_dim": state_dim(policy.args), "state_scale": float(policy.state_scale),
          "reward_scale": float(policy.reward_scale),
          "state_dict": {k: v.detach().clone() for k, v in policy.net.state_dict().items()},
          "train_seconds": None if seconds is None else float(seconds),
          "curve": None if curve is None else {c: [float(x) for x in curve[c]] for c in curve.columns}}
    buf = io.BytesIO()
    torch.save(ck, buf)
    write_atomic(path, buf.getvalue())


def _load_error(e: Exception) -> str:
    """One short line from torch.load's (often multi-paragraph) error."""
    text = str(e)
    if "WeightsUnpickler error:" in text:
        detail = [ln.strip() for ln in text.split("WeightsUnpickler error:", 1)[1].splitlines() if ln.strip()]
        why = detail[0].split(". ")[0] if detail else "unsupported content"
        return f"refused by torch.load(weights_only=True): {why}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0].split('. ')[0][:160] if lines else 'unreadable'}"


def load_checkpoint(path: str | os.PathLike) -> tuple[DQMSB, dict]:
    """Load with torch.load(weights_only=True) and validate; any problem is one InvalidInput naming it."""
    from optcache.instance import DEFAULT_LIMITS, require_path

    p = str(require_path(path))
    if Path(path).is_dir():
        raise InvalidInput(p, "is a directory, not a checkpoint file")
    if not Path(path).is_file():
        raise InvalidInput(p, "checkpoint file not found")
    size = Path(path).stat().st_size
    if size > DEFAULT_LIMITS.max_file_bytes:
        raise InvalidInput(p, f"checkpoint file has {size} bytes, over the limit of "
                           f"{DEFAULT_LIMITS.max_file_bytes} (optcache.instance.Limits.max_file_bytes)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt zip, truncated file, foreign pickle: all one error
        raise InvalidInput(p, f"not a readable DQMSB checkpoint ({_load_error(e)})") from None
    if not isinstance(ck, dict):
        raise InvalidInput(p, f"expected a checkpoint dict, got {type(ck).__name__}")
    if ck.get("format") != FORMAT:
        raise InvalidInput(f"{p}: format", f"expected {FORMAT!r}, got {ck.get('format')!r}")
    if ck.get("version") != VERSION:
        raise InvalidInput(f"{p}: version", f"expected {VERSION}, got {ck.get('version')!r}")
    args = Args.from_dict(ck.get("args"), where=f"{p}: args", complete=True)
    try:
        caching_policy(args.market.policy)
    except InvalidInput as e:
        raise InvalidInput(f"{p}: args.market.{e.field}", e.message) from None
    for key in ("state_scale", "reward_scale"):
        v = ck.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not finite(v) or v <= 0:
            raise InvalidInput(f"{p}: {key}", f"must be a finite number > 0, got {v!r}")
    if ck.get("state_dim") != state_dim(args):
        raise InvalidInput(f"{p}: state_dim", f"{ck.get('state_dim')!r} does not match the args ({state_dim(args)})")
    sd = ck.get("state_dict")
    if not isinstance(sd, dict):
        raise InvalidInput(f"{p}: state_dict", "missing or not a mapping of tensors")
    policy = DQMSB.untrained(args, ck["state_scale"], ck["reward_scale"])
    want = policy.net.state_dict()
    cast = {}
    for key in sorted(set(want) | set(sd)):
        if key not in sd:
            raise InvalidInput(f"{p}: state_dict.{key}", "missing")
        if key not in want:
            raise InvalidInput(f"{p}: state_dict.{key}", "unexpected for this architecture")
        t = sd[key]
        if not isinstance(t, torch.Tensor) or t.shape != want[key].shape:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise InvalidInput(f"{p}: state_dict.{key}", f"shape {shape} does not match {tuple(want[key].shape)}")
        if not t.is_floating_point():  # complex, int, bool: a cast would drop or invent values
            raise InvalidInput(f"{p}: state_dict.{key}",
                               f"dtype {str(t.dtype).removeprefix('torch.')} is not a real floating type")
        if t.layout != torch.strided:
            raise InvalidInput(f"{p}: state_dict.{key}",
                               f"layout {str(t.layout).removeprefix('torch.')} is not a dense tensor")
        cast[key] = t.to(want[key].dtype)
        if not torch.isfinite(cast[key]).all():  # after the cast: 1e300 in float64 is ∞ in float32
            raise InvalidInput(f"{p}: state_dict.{key}",
                               f"contains values that are not finite in {str(want[key].dtype).removeprefix('torch.')}")
    policy.net.load_state_dict(cast)
    policy.source = p
    return policy, ck


# --------------------------------------------------------------------------- the cached default
def config_key(args: Args) -> str:
    """A hash of everything a trained policy depends on: the args, the checkpoint format, the
    optcache and torch versions. Same key, same training, same numbers (seeded, one thread)."""
    import hashlib
    import json

    from optcache import __version__

    blob = json.dumps({"args": args.to_dict(), "format": FORMAT, "version": VERSION,
                       "optcache": __version__, "torch": str(torch.__version__)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_policy_path(args: Args) -> Path:
    """Where `cached_policy` keeps the policy trained on `args`."""
    from optcache.cache import cache_dir

    return cache_dir() / f"dqmsb-{config_key(args)}.pt"


def cached_policy(args: Args | None = None, *, progress: bool = False,
                  retrain: bool = False) -> tuple[DQMSB, Path, bool]:
    """The policy trained on `args` (default `Args()`), from the user's cache if it is there
    (`optcache.cache.cache_dir()`, one checkpoint per `config_key`), else trained now and cached.

    Returns (policy, checkpoint path, trained now). A cached file that cannot be loaded is
    replaced. Training is seeded, so a cached policy is the one a new training would give."""
    import logging

    log = logging.getLogger(__name__)
    args = Args() if args is None else Args.require(args)
    path = cached_policy_path(args)
    if path.exists() and not retrain:
        try:
            policy, _ = load_checkpoint(path)
            return policy, path, False
        except InvalidInput as e:
            log.warning("cached policy %s is unusable (%s); training it again", path, e.message)
    res = train(args, progress=progress)
    save_checkpoint(res.policy, path, curve=res.curve, seconds=res.seconds)
    return res.policy, path, True
