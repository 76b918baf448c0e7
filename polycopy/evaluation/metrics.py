"""How well a wallet ranking finds skill, measured out of sample on a simulated world.

Pure functions over pandas frames; the world's ground truth is read here and nowhere
in the pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from polycopy.sim.truth import average_cost_walk
from polycopy.sim.world import SimWorld

BAD_ARCHETYPES = ("market_maker", "wash_trader", "insider", "lucky_gambler")


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


def pooled_return(selected: list[str], nxt: pd.DataFrame) -> float:
    """Capital-weighted next-period return of copying every selected wallet's new trades."""
    rows = nxt[nxt["wallet_address"].isin(selected)]
    cap = rows["next_buy_usd"].sum()
    return float(rows["next_pnl_usd"].sum() / cap) if cap > 0 else float("nan")
