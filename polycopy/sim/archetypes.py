"""Trader archetypes of the simulated venue, each with a ground-truth label.

An archetype says how many position *episodes* a wallet opens, how it picks the
side (its edge), how large its bets are (USD notional) and how long it holds.
The pipeline never sees these labels; they are exported for evaluation only.

The table below is the centre of each archetype. ``draw_archetypes`` moves every range
and every behaviour parameter per seed, so that a detector or a threshold cannot fit
one fixed generator: one world's market makers hold for hours, another's for days;
one world's wash traders work in pairs, another's in rings of four.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Archetype:
    """One kind of trader.

    Attributes:
        name: ground-truth label.
        episodes: (low, high) log-uniform range of positions a wallet opens.
        edge: (low, high) uniform range of the wallet's skill ``e``: the chance of
            picking the eventual winner is ``p_w + e * (1 - p_w)`` where ``p_w`` is
            the winner's current price. 0 means no edge.
        edge_end: for decaying skill, the edge reached at the end of the history.
        n_categories: categories the wallet trades in (None = any category).
        notional_usd: (low, high) range of the wallet's median bet in USD.
        notional_sigma: log-normal dispersion of bet sizes around that median.
        exit_prob: chance a position is sold before resolution.
        style: how entries and exits are placed: "directional", "favorite",
            "insider", "market_maker", "wash", "shift".
        skilled: ground truth: the wallet has persistent, copyable skill.
    """

    name: str
    episodes: tuple[int, int]
    edge: tuple[float, float]
    notional_usd: tuple[float, float]
    notional_sigma: float
    exit_prob: float
    style: str
    skilled: bool = False
    n_categories: int | None = None
    edge_end: tuple[float, float] | None = None


ARCHETYPES: dict[str, Archetype] = {
    a.name: a
    for a in [
        # Bet size says nothing about skill: noise traders range from small accounts to
        # whales, and lucky gamblers are often big bettors (the leaderboard's favourites).
        Archetype("noise", (8, 50), (0.0, 0.0), (20, 20_000), 1.0, 0.35, "directional"),
        # Heavy traders with no edge: real leaderboards are crowded with them, and in any
        # period some of them are far up it on luck and size alone.
        Archetype("active_noise", (60, 400), (0.0, 0.0), (100, 30_000), 1.0, 0.35, "directional"),
        Archetype("skilled_specialist", (80, 260), (0.30, 0.50), (2_000, 15_000), 0.5, 0.2,
                  "directional", skilled=True, n_categories=2),
        Archetype("skilled_generalist", (80, 260), (0.22, 0.38), (1_500, 12_000), 0.5, 0.2,
                  "directional", skilled=True),
        Archetype("decaying_skill", (80, 220), (0.35, 0.45), (2_000, 12_000), 0.5, 0.2,
                  "directional", n_categories=2, edge_end=(-0.10, -0.02)),
        Archetype("behaviour_shift", (80, 220), (0.30, 0.40), (1_500, 8_000), 0.5, 0.25,
                  "shift", n_categories=2),
        Archetype("lucky_gambler", (3, 14), (0.0, 0.0), (1_000, 50_000), 0.6, 0.05, "favorite"),
        # A market maker's episode is one round trip (a fill on each side of its quote).
        Archetype("market_maker", (300, 800), (0.0, 0.0), (200, 2_000), 0.4, 1.0, "market_maker"),
        # A wash trader's episode is one crossing with a member of its ring.
        Archetype("wash_trader", (150, 400), (0.0, 0.0), (1_000, 8_000), 0.3, 1.0, "wash"),
        Archetype("insider", (1, 2), (1.0, 1.0), (5_000, 40_000), 0.4, 0.0, "insider"),
    ]
}

# Share of wallets per archetype; override with SimConfig.archetype_mix.
DEFAULT_MIX: dict[str, float] = {
    "noise": 0.54,
    "active_noise": 0.08,
    "skilled_specialist": 0.035,
    "skilled_generalist": 0.025,
    "decaying_skill": 0.02,
    "behaviour_shift": 0.01,
    "lucky_gambler": 0.12,
    "market_maker": 0.03,
    "wash_trader": 0.02,
    "insider": 0.12,
}


@dataclass(frozen=True)
class Behaviour:
    """How the market makers, wash traders and insiders of one world behave.

    Attributes:
        mm_markets: (low, high) markets a market maker quotes in.
        mm_hold_hours: median hours a market maker holds a round trip's inventory.
        mm_adverse_ticks: ticks a market maker loses per fill to adverse selection (it
            buys a little above, and sells a little below, where the price goes).
        mm_complement_share: share of round trips a market maker closes by buying the
            other outcome (and merging) instead of selling.
        wash_ring_sizes: probabilities of rings of 2, 3 and 4 wallets.
        wash_same_tx: share of crossings made in one transaction (else minutes apart).
        wash_gap_s: (low, high) seconds between crossings that are not in one transaction.
        wash_markets: (low, high) markets a ring works in.
        insider_warmup_trades: (low, high) small trades an insider makes before its bets.
        insider_warmup_days: (low, high) days between an insider's first trade and its bet.
        insider_hours_before_close: (low, high) hours before close an insider bets.
        specialist_categories: (low, high) categories a specialist trades.
    """

    mm_markets: tuple[int, int] = (3, 20)
    mm_hold_hours: float = 24.0
    mm_adverse_ticks: float = 0.6
    mm_complement_share: float = 0.2
    wash_ring_sizes: tuple[float, float, float] = (0.5, 0.3, 0.2)
    wash_same_tx: float = 0.5
    wash_gap_s: tuple[int, int] = (5, 300)
    wash_markets: tuple[int, int] = (2, 8)
    insider_warmup_trades: tuple[int, int] = (0, 4)
    insider_warmup_days: tuple[float, float] = (3.0, 40.0)
    insider_hours_before_close: tuple[float, float] = (1.0, 48.0)
    specialist_categories: tuple[int, int] = (1, 3)


def draw_archetypes(rng: np.random.Generator, spread: float = 1.0) -> tuple[dict[str, Archetype], Behaviour]:
    """This world's archetypes and behaviour: every range of the centre table moved by a
    random factor (``spread`` = 0 returns the centre table unchanged).

    Episode counts and bet sizes scale log-normally (σ = 0.35·spread), edges by a factor
    in [1 − 0.3·spread, 1 + 0.3·spread], exit chances by ±0.1·spread; the behaviour
    parameters are drawn from ranges wide enough that one world's market makers hold for
    an hour and another's for days.
    """
    if spread <= 0:
        return dict(ARCHETYPES), Behaviour()

    def scale_range(lo, hi, sigma, integer=False):
        f = float(np.exp(rng.normal(0.0, sigma * spread)))
        a, b = lo * f, hi * f
        return (max(1, int(round(a))), max(2, int(round(b)))) if integer else (a, b)

    out = {}
    for name, a in ARCHETYPES.items():
        edge_f = float(rng.uniform(1 - 0.3 * spread, 1 + 0.3 * spread))
        changes = dict(
            episodes=scale_range(*a.episodes, 0.35, integer=True),
            notional_usd=scale_range(*a.notional_usd, 0.35),
            exit_prob=float(np.clip(a.exit_prob + rng.uniform(-0.1, 0.1) * spread, 0.0, 1.0))
            if a.style not in ("market_maker", "wash", "insider") else a.exit_prob,
        )
        if a.edge != (0.0, 0.0) and a.style != "insider":
            changes["edge"] = (min(0.95, a.edge[0] * edge_f), min(0.95, a.edge[1] * edge_f))
        if name == "lucky_gambler":  # a handful of bets, whatever the world
            changes["episodes"] = (max(1, min(changes["episodes"][0], 6)), max(3, min(changes["episodes"][1], 18)))
        if name == "insider":
            changes["episodes"] = (1, int(rng.integers(1, 4)))
        out[name] = replace(a, **changes)
    ring = rng.dirichlet([2.0, 1.5, 1.0])
    lo_cats = int(rng.integers(1, 3))
    behaviour = Behaviour(
        mm_markets=(int(rng.integers(2, 6)), int(rng.integers(8, 30))),
        mm_hold_hours=float(np.exp(rng.uniform(np.log(1.0), np.log(96.0)))),
        mm_adverse_ticks=float(rng.uniform(0.2, 1.2)),
        mm_complement_share=float(rng.uniform(0.0, 0.4)),
        wash_ring_sizes=(float(ring[0]), float(ring[1]), float(ring[2])),
        wash_same_tx=float(rng.uniform(0.2, 0.8)),
        wash_gap_s=(int(rng.integers(1, 30)), int(rng.integers(60, 900))),
        wash_markets=(int(rng.integers(1, 4)), int(rng.integers(4, 12))),
        insider_warmup_trades=(int(rng.integers(0, 2)), int(rng.integers(2, 8))),
        insider_warmup_days=(float(rng.uniform(1.0, 7.0)), float(rng.uniform(14.0, 60.0))),
        insider_hours_before_close=(float(rng.uniform(0.5, 4.0)), float(rng.uniform(12.0, 72.0))),
        specialist_categories=(lo_cats, lo_cats + int(rng.integers(0, 2))),
    )
    return out, behaviour


# The categories a world's markets can be in (the taxonomy's categories). A world uses
# between 6 and 20 of them (SimConfig.n_categories).
CATEGORIES: tuple[str, ...] = (
    "politics", "crypto", "sports", "pop-culture", "economics", "science", "tech", "world",
    "elections", "soccer", "basketball", "american-football", "esports", "mentions", "finance",
    "earnings", "climate", "weather", "health", "ai",
)
