"""Synthetic Taobao-like interactions in which the future of similar users carries signal.

The generative story (full description and rationale in ``docs/synthetic.md``):

* A fixed catalogue: ``num_items`` items split over ``num_categories`` categories (category sizes and
  popularity are Zipf-skewed); within a category, item popularity is Zipf with ``zipf_exponent``.
* ``num_trajectories`` shared *interest trajectories*: cyclic sequences of ``trajectory_length``
  states, each state a category plus its own shift of the within-category popularity ranking (an
  item cluster). Categories recur across trajectories with different successors, so the current
  category alone does not say what comes next.
* Each user follows one trajectory from a random phase and drifts along it at ``drift_speed`` states
  per day (with a per-user jitter). An interaction is drawn from the user's current state with
  probability ``trajectory_prob``, from a personal favourite category with ``favourite_prob``,
  otherwise from the global category popularity. Behaviour types follow ``behavior_mix``.

Users on the same trajectory visit the same states in the same order, at different times. What
users who were in the target's state *earlier* did next is therefore what the target will do next:
the signal LIFT's retrieved futures are meant to carry, and which the target's own history lacks.

Everything is vectorised over rows and generated in chunks of users, each with its own seeded
stream, so 10 k and 100 M rows take the same code path (the output costs 57 bytes per row).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from liftrec.recsys.config import check
from liftrec.recsys.schema import LABEL, ROW_ID, TS, USER_ID, Schema

logger = logging.getLogger(__name__)

FIELDS = ("user", "item", "category", "behavior")
BEHAVIORS = ("pv", "cart", "fav", "buy")  # codes 1..4 in this order
_CHUNK_ROWS = 4_000_000  # rows generated per chunk of users (bounds temporary memory)
_DAY = 86_400


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic generator (defaults: ~150 k positive rows in about 0.05 s).

    Attributes:
        num_users: number of users (codes 1..num_users).
        num_items: catalogue size (codes 1..num_items; a tail item may have no interaction).
        num_categories: number of categories (codes 1..num_categories).
        interactions_per_user: mean interactions per user; counts are log-normal around it.
        activity_sigma: log-normal sigma of the per-user counts (0 = every user the same).
        min_interactions: floor of the per-user count.
        days: length of the observed time window.
        start: ISO-8601 start of the window, with its UTC offset.
        num_trajectories: number of shared interest trajectories.
        trajectory_length: states per (cyclic) trajectory.
        drift_speed: states a user advances per day.
        speed_jitter: relative per-user spread of the speed (uniform in +-jitter).
        trajectory_prob: share of interactions drawn from the user's current trajectory state.
        favourite_prob: share drawn from the user's personal favourite category.
        zipf_exponent: Zipf exponent of item popularity within a category.
        category_zipf_exponent: Zipf exponent of category popularity and category sizes.
        behavior_mix: probabilities of pv, cart, fav, buy (Taobao's rough mix).
    """

    num_users: int = 2_000
    num_items: int = 10_000
    num_categories: int = 60
    interactions_per_user: float = 75.0
    activity_sigma: float = 0.5
    min_interactions: int = 3
    days: float = 9.0
    start: str = "2017-11-25T00:00:00+08:00"
    num_trajectories: int = 8
    trajectory_length: int = 24
    drift_speed: float = 0.75
    speed_jitter: float = 0.2
    trajectory_prob: float = 0.8
    favourite_prob: float = 0.1
    zipf_exponent: float = 0.5
    category_zipf_exponent: float = 0.5
    behavior_mix: tuple[float, ...] = (0.89, 0.055, 0.03, 0.025)

    def __post_init__(self) -> None:
        check(self.num_users >= 1, "num_users", f"must be >= 1, got {self.num_users}")
        check(self.num_categories >= 2, "num_categories", f"must be >= 2, got {self.num_categories}")
        check(
            self.num_items >= self.num_categories,
            "num_items",
            f"must be >= num_categories ({self.num_categories}), got {self.num_items}",
        )
        check(self.interactions_per_user >= 1, "interactions_per_user", "must be >= 1")
        check(self.activity_sigma >= 0, "activity_sigma", "must be >= 0")
        check(self.min_interactions >= 1, "min_interactions", "must be >= 1")
        check(self.days > 0, "days", f"must be > 0, got {self.days}")
        ts = pd.Timestamp(self.start) if _parses(self.start) else None
        check(
            ts is not None and ts.tzinfo is not None,
            "start",
            f"needs ISO-8601 with offset, got {self.start!r}",
        )
        check(self.num_trajectories >= 1, "num_trajectories", "must be >= 1")
        check(self.trajectory_length >= 2, "trajectory_length", "must be >= 2")
        check(self.drift_speed >= 0, "drift_speed", "must be >= 0")
        check(0 <= self.speed_jitter < 1, "speed_jitter", "must be in [0, 1)")
        check(0 <= self.trajectory_prob <= 1, "trajectory_prob", "must be in [0, 1]")
        check(0 <= self.favourite_prob <= 1, "favourite_prob", "must be in [0, 1]")
        check(
            self.trajectory_prob + self.favourite_prob <= 1,
            "favourite_prob",
            "trajectory_prob + favourite_prob must be <= 1",
        )
        check(self.zipf_exponent >= 0, "zipf_exponent", "must be >= 0")
        check(self.category_zipf_exponent >= 0, "category_zipf_exponent", "must be >= 0")
        mix = self.behavior_mix
        check(len(mix) == len(BEHAVIORS), "behavior_mix", f"needs {len(BEHAVIORS)} probabilities {BEHAVIORS}")
        check(
            all(p >= 0 for p in mix) and abs(sum(mix) - 1) < 1e-6, "behavior_mix", "must be >= 0 and sum to 1"
        )


def _parses(s: str) -> bool:
    try:
        pd.Timestamp(s)
    except (ValueError, TypeError):
        return False
    return True


def zipf_ranks(rng: np.random.Generator, n: np.ndarray, s: float) -> np.ndarray:
    """Draw ranks in [0, n) with P(rank k) ~ (k + 1)^-s, vectorised over per-draw sizes ``n``.

    Inverse CDF of the bounded continuous power law on [1, n + 1), floored: the integral of x^-s
    over [k + 1, k + 2), a close approximation of discrete Zipf that needs no per-size tables.
    """
    n = np.asarray(n, dtype=np.float64)
    u = rng.random(n.shape)
    if abs(s - 1.0) < 1e-9:
        x = np.exp(u * np.log(n + 1.0))
    else:
        a = 1.0 - s
        x = (1.0 + u * ((n + 1.0) ** a - 1.0)) ** (1.0 / a)
    return np.minimum(np.floor(x).astype(np.int64) - 1, n.astype(np.int64) - 1).clip(0)


def _zipf_weights(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    return w / w.sum()


def generate_synthetic(cfg: SyntheticConfig, seed: int) -> tuple[pd.DataFrame, Schema]:
    """Generate the synthetic interactions table and its schema.

    Args:
        cfg: generator parameters.
        seed: seed of every random draw; same (cfg, seed) gives the same table.

    Returns:
        ``(interactions, schema)``: columns row_id, user_id, ts, label (all 1), user, item, category,
        behavior (int64 codes, 0 unused), sorted by (user_id, ts); the Taobao-like schema.
    """
    world = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    C, T, S = cfg.num_categories, cfg.num_trajectories, cfg.trajectory_length

    # Catalogue: categories in a random popularity order; sizes follow popularity (>= 1 item each).
    cat_pop = _zipf_weights(C, cfg.category_zipf_exponent)[world.permutation(C)]
    sizes = 1 + world.multinomial(cfg.num_items - C, cat_pop)
    cat_offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    item_code = world.permutation(cfg.num_items) + 1  # codes hide the category grouping

    # Trajectories: random category walks without immediate repeats, plus per-state item-rank shifts.
    steps = world.integers(1, C, size=(T, S))
    steps[:, 0] = world.integers(0, C, size=T)
    traj_cat = np.cumsum(steps, axis=1) % C
    traj_shift = world.integers(0, 1 << 30, size=(T, S))

    # Users: trajectory, phase, speed, favourite category, activity.
    U = cfg.num_users
    u_traj = world.integers(0, T, size=U)
    u_phase = world.random(U) * S
    u_speed = cfg.drift_speed * (1.0 + cfg.speed_jitter * (2.0 * world.random(U) - 1.0))
    u_fav = world.choice(C, size=U, p=cat_pop)
    mu = math.log(cfg.interactions_per_user) - cfg.activity_sigma**2 / 2.0
    u_n = np.maximum(cfg.min_interactions, np.rint(world.lognormal(mu, cfg.activity_sigma, U))).astype(
        np.int64
    )

    n = int(u_n.sum())
    start = int(pd.Timestamp(cfg.start).timestamp())
    span = max(1, int(round(cfg.days * _DAY)))
    cols = {c: np.empty(n, dtype=np.int64) for c in (TS, *FIELDS)}
    bounds = np.concatenate([[0], np.cumsum(u_n)])
    users_per_chunk = max(1, int(_CHUNK_ROWS // max(cfg.interactions_per_user, 1.0)))
    for k, u0 in enumerate(range(0, U, users_per_chunk)):
        u1 = min(U, u0 + users_per_chunk)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, k)))
        r0, r1 = int(bounds[u0]), int(bounds[u1])
        users = np.repeat(np.arange(u0, u1), u_n[u0:u1])
        # Sort times within users in one pass: users are contiguous, so sort (user, t) packed keys.
        key = (users - u0) * span + rng.integers(0, span, size=r1 - r0)
        key.sort()
        t = key - (users - u0) * span
        state = np.floor(u_phase[users] + u_speed[users] * (t / _DAY)).astype(np.int64) % S
        src = rng.random(r1 - r0)
        on_traj = src < cfg.trajectory_prob
        fav = ~on_traj & (src < cfg.trajectory_prob + cfg.favourite_prob)
        cat = _choice(rng, C, r1 - r0, cat_pop)
        cat[fav] = u_fav[users[fav]]
        cat[on_traj] = traj_cat[u_traj[users[on_traj]], state[on_traj]]
        shift = np.where(on_traj, traj_shift[u_traj[users], state], 0)
        local = (zipf_ranks(rng, sizes[cat], cfg.zipf_exponent) + shift) % sizes[cat]
        cols[TS][r0:r1] = start + t
        cols["user"][r0:r1] = users + 1
        cols["item"][r0:r1] = item_code[cat_offset[cat] + local]
        cols["category"][r0:r1] = cat + 1
        cols["behavior"][r0:r1] = _choice(rng, len(BEHAVIORS), r1 - r0, np.asarray(cfg.behavior_mix)) + 1

    df = pd.DataFrame(
        {
            ROW_ID: np.arange(n, dtype=np.int64),
            USER_ID: cols["user"],
            TS: cols[TS],
            LABEL: np.ones(n, dtype=np.int8),
            **{f: cols[f] for f in FIELDS},
        },
        copy=False,  # the arrays are ours: no second copy at 100 M rows
    )
    schema = Schema(
        dataset="synthetic",
        fields=FIELDS,
        cardinalities=(U + 1, cfg.num_items + 1, C + 1, len(BEHAVIORS) + 1),
        user_fields=("user",),
        item_fields=("item", "category"),
        context_fields=("behavior",),
        user_field="user",
        item_field="item",
        query_fields=("user", "item", "category"),
        time_unit="s",
        extra={
            "behavior_codes": {b: i + 1 for i, b in enumerate(BEHAVIORS)},
            "generator": asdict(cfg),
            "seed": seed,
        },
    )
    logger.info("synthetic: %d rows, %d users, %d items, %d categories", n, U, cfg.num_items, C)
    return df, schema


def _choice(rng: np.random.Generator, k: int, size: int, p: np.ndarray) -> np.ndarray:
    """Draw ``size`` values in [0, k) with probabilities ``p`` (inverse CDF; faster than rng.choice)."""
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), k - 1).astype(np.int64)
