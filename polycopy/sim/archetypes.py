"""Trader archetypes of the simulated venue, each with a ground-truth label.

An archetype says how many position *episodes* a wallet opens, how it picks the
side (its edge), how large its bets are (USD notional) and how long it holds.
The pipeline never sees these labels; they are exported for evaluation only.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        Archetype("skilled_specialist", (80, 260), (0.30, 0.50), (2_000, 15_000), 0.5, 0.2,
                  "directional", skilled=True, n_categories=2),
        Archetype("skilled_generalist", (80, 260), (0.22, 0.38), (1_500, 12_000), 0.5, 0.2,
                  "directional", skilled=True),
        Archetype("decaying_skill", (80, 220), (0.35, 0.45), (2_000, 12_000), 0.5, 0.2,
                  "directional", n_categories=2, edge_end=(-0.10, -0.02)),
        Archetype("behaviour_shift", (80, 220), (0.30, 0.40), (1_500, 8_000), 0.5, 0.25,
                  "shift", n_categories=2),
        Archetype("lucky_gambler", (3, 14), (0.0, 0.0), (1_000, 50_000), 0.6, 0.05, "favorite"),
        Archetype("market_maker", (300, 800), (0.0, 0.0), (200, 2_000), 0.4, 1.0, "market_maker"),
        Archetype("wash_trader", (150, 400), (0.0, 0.0), (1_000, 8_000), 0.3, 1.0, "wash"),
        Archetype("insider", (1, 2), (1.0, 1.0), (5_000, 40_000), 0.4, 0.0, "insider"),
    ]
}

# Share of wallets per archetype; override with SimConfig.archetype_mix.
DEFAULT_MIX: dict[str, float] = {
    "noise": 0.62,
    "skilled_specialist": 0.035,
    "skilled_generalist": 0.025,
    "decaying_skill": 0.02,
    "behaviour_shift": 0.01,
    "lucky_gambler": 0.12,
    "market_maker": 0.03,
    "wash_trader": 0.02,
    "insider": 0.12,
}

CATEGORIES: tuple[str, ...] = (
    "politics", "crypto", "sports", "pop-culture", "economics", "science", "tech", "world",
)
