"""How well a wallet ranking finds skill, measured out of sample on a simulated world.

Pure functions over pandas frames; the world's ground truth is read here and nowhere
in the pipeline.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from polycopy.sim.truth import average_cost_walk
from polycopy.sim.world import SimWorld

BAD_ARCHETYPES = ("market_maker", "wash_trader", "insider", "lucky_gambler")
# Each detector and the flags it raises; a bad archetype is judged by its own detector.
DETECTORS: dict[str, tuple[str, ...]] = {
    "market_maker": ("MARKET_MAKER",),
    "wash_trader": ("WASH_TRADING_DETECTED",),
    "insider": ("INSIDER_PATTERN", "NEW_WALLET_LARGE_BET"),
    "lucky_gambler": ("LUCK_NOT_SKILL",),
    "specialization": ("NO_SPECIALIZATION",),
}


def next_period_returns(world: SimWorld, start_ts: int, end_ts: int) -> pd.DataFrame:
    """What copying each wallet's trades in (start_ts, end_ts] would have earned.

    Per (wallet, token), positions opened in the period at average cost: a SELL
    realizes shares × (price − average cost) on shares bought in the period (selling
    shares bought earlier is not a copyable trade and is ignored); what is still held
    at the end settles at the market's true payout (1 / 0, void 0.5), known to the
    simulation even when the market resolves later. Fees are not included.

    Returns wallet_address, next_buy_usd (capital deployed, USD), next_pnl_usd (USD),
    next_return (pnl / capital), next_buys (count).
    """
    t = world.trades
    t = t[(t["ts"] > start_ts) & (t["ts"] <= end_ts)]
    pnl, cost_in, buys = average_cost_walk(world, t, np.ones(len(world.markets), dtype=bool))
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = np.where(cost_in > 0, pnl / cost_in, np.nan)
    return pd.DataFrame({"wallet_address": world.wallets["address"], "next_buy_usd": cost_in,
                         "next_pnl_usd": pnl, "next_return": ret, "next_buys": buys})


def information_coefficient(score: pd.Series, outcome: pd.Series) -> float:
    """Spearman rank correlation of a score with the next period's outcome (ties share ranks)."""
    ok = score.notna() & outcome.notna()
    if ok.sum() < 3:
        return float("nan")
    return float(spearmanr(score[ok], outcome[ok]).statistic)


def precision_at_k(selected: list[str], skilled: set[str], k: int) -> float:
    """Share of the first ``k`` selected wallets that are truly skilled (of fewer, if
    fewer were selected; NaN when none were)."""
    top = selected[:k]
    return float(np.mean([w in skilled for w in top])) if top else float("nan")


def exclusion_recall(selected: list[str], labels: pd.DataFrame) -> dict[str, float]:
    """Per bad archetype, the share of its wallets kept out of ``selected``."""
    chosen = set(selected)
    out = {}
    for name in BAD_ARCHETYPES:
        members = labels.loc[labels["archetype"] == name, "address"]
        out[name] = float(np.mean([a not in chosen for a in members])) if len(members) else float("nan")
    return out


def insiders_before_their_bet(world: SimWorld, as_of_ts: int, min_bet_usd: float = 1000.0) -> set[str]:
    """Insider wallets that have placed no bet over ``min_bet_usd`` by ``as_of_ts``: so
    far they are only their small warm-up trades, which no detector could tell apart."""
    t = pd.concat([world.prelude_trades, world.trades], ignore_index=True)
    t = t[(t["ts"] <= as_of_ts) & (t["side"] == 0) & (t["size"] * t["price"] > min_bet_usd)]
    insiders = world.wallets.loc[world.wallets["archetype"] == "insider", "wallet_idx"]
    waiting = set(insiders) - set(t["wallet_idx"])
    return set(world.wallets["address"].to_numpy()[sorted(waiting)])


def pooled_return(selected: list[str], nxt: pd.DataFrame) -> float:
    """Capital-weighted next-period return of copying every selected wallet's new trades."""
    rows = nxt[nxt["wallet_address"].isin(selected)]
    cap = rows["next_buy_usd"].sum()
    return float(rows["next_pnl_usd"].sum() / cap) if cap > 0 else float("nan")


def _raised(flagged: pd.DataFrame) -> pd.Series:
    """wallet_address → the set of flags it raised (MARKET_MAKER for the verdict)."""
    sets = [set(json.loads(f)) | ({"MARKET_MAKER"} if mm else set())
            for f, mm in zip(flagged["red_flags"], flagged["is_market_maker"])]
    return pd.Series(sets, index=flagged["wallet_address"].to_numpy())


def _share_flagged(raised: pd.Series, wallets: list[str], flags) -> float:
    """Share of ``wallets`` that raised any of ``flags`` (NaN for no wallets)."""
    return float(np.mean([bool(raised[w] & set(flags)) for w in wallets])) if wallets else float("nan")


def detector_recall(flagged: pd.DataFrame, labels: pd.DataFrame, not_yet: set[str] = frozenset()) -> dict[str, float]:
    """Per bad archetype, the share of its scored wallets its own detector flags.
    ``flagged``: wallet_scores rows (wallet_address, red_flags JSON, is_market_maker);
    ``not_yet``: wallets left out because they have not shown their behaviour yet (an
    insider before its bet is a handful of small trades)."""
    raised = _raised(flagged)
    arch = labels.set_index("address")["archetype"]
    out = {}
    for name in BAD_ARCHETYPES:
        mine = [w for w in raised.index if arch.get(w) == name and w not in not_yet]
        out[name] = _share_flagged(raised, mine, DETECTORS[name])
    return out


def detector_false_positive_rates(flagged: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float]:
    """Per detector, the share of the truly skilled scored wallets it flags, and the worst
    of them as ``max``."""
    raised = _raised(flagged)
    skilled = set(labels.loc[labels["skilled"], "address"])
    mine = [w for w in raised.index if w in skilled]
    out = {name: _share_flagged(raised, mine, flags) for name, flags in DETECTORS.items()}
    out["max"] = max((v for v in out.values() if not np.isnan(v)), default=float("nan"))
    return out
