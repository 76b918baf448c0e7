"""The whale watchlist: the stage-1 gate on wallet scores, and the state each wallet is in.

Gate (002 §3 stage 1): WQS ≥ 75, 30-day Sharpe above the 90-day Sharpe (improving),
current drawdown < 25 %, no red flag or market-maker verdict, not quarantined.
Members are ordered by the lower bound of their WQS interval.
"""

from __future__ import annotations

import pandas as pd

from polycopy.scoring.settings import WatchlistSettings


def stage_one_eligible(scores: pd.DataFrame, s: WatchlistSettings = WatchlistSettings()) -> pd.Series:
    """Boolean per score row: passes every stage-1 condition except quarantine."""
    s30 = scores["sharpe_30d"].astype(float)
    s90 = scores["sharpe_90d"].astype(float)
    dd = scores["current_drawdown"].astype(float).fillna(0.0)
    return ((scores["wqs"] >= s.min_wqs)
            & ((s30 > s90) if s.require_improving_sharpe else True)
            & (dd < s.max_current_drawdown)
            & ~scores["excluded"].astype(bool))


def stage_one_watchlist(scores: pd.DataFrame, s: WatchlistSettings = WatchlistSettings(),
                        quarantined: set[str] = frozenset()) -> pd.DataFrame:
    """Eligible, non-quarantined wallets, best lower bound first, at most ``s.max_wallets``."""
    ok = stage_one_eligible(scores, s) & ~scores["wallet_address"].isin(quarantined)
    return (scores[ok].sort_values(["wqs_lower", "wqs"], ascending=False).head(s.max_wallets)
            .reset_index(drop=True))
