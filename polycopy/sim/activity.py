"""Share movements that are not trades, as real wallets make them.

Real histories are not a tidy sequence of BUYs and SELLs. A wallet mints shares by
SPLIT (1 USD of collateral becomes one share of every outcome) and sells the side it
does not want; burns complete sets by MERGE; receives shares by neg-risk CONVERSION or
by a plain ERC-1155 transfer (which the Data API does not show at all); and collects
its payout by REDEEM after the market resolves. Market makers also earn REWARD and
MAKER_REBATE payments. This module rewrites some of a world's entry BUYs into those
movements and adds the redeems, so the venue serves the real mix.

All times are unix seconds, sizes shares, USD amounts ``usdc_size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd



BUY, SELL = 0, 1
HOUR = 3_600
# outcome_index of a movement that concerns the whole condition (every outcome token).
CONDITION_LEVEL = -1

ACTIVITY_TYPES: tuple[str, ...] = ("SPLIT", "MERGE", "REDEEM", "CONVERSION", "REWARD", "MAKER_REBATE")


@dataclass(frozen=True)
class ActivityRates:
    """How often entries arrive other than by a BUY, and how often holders redeem.

    Attributes:
        split: share of single-fill entry BUYs replaced by a SPLIT (then the unwanted
            side is sold, or the complete sets are later merged back).
        merge: share of those splits closed by a MERGE instead of selling one side.
        transfer: share of entry BUYs replaced by shares received by transfer (no record).
        conversion: share of entry BUYs in neg-risk markets replaced by a CONVERSION.
        redeem: chance a wallet holding shares at resolution redeems them in the history.
        reward: chance a market maker's fill earns a REWARD (and half that, a MAKER_REBATE).
    """

    split: float = 0.05
    merge: float = 0.3
    transfer: float = 0.02
    conversion: float = 0.15
    redeem: float = 0.8
    reward: float = 0.02


ACTIVITY_COLUMNS = ("ts", "wallet_idx", "market_idx", "type", "outcome_index", "size", "usdc_size", "tx_idx")


def _empty_activity() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c not in ("type", "size", "usdc_size") else
                                      (object if c == "type" else "float64")) for c in ACTIVITY_COLUMNS})


def derive_activity(rates: ActivityRates, rng: np.random.Generator, markets: pd.DataFrame, wallets: pd.DataFrame,
                    trades: pd.DataFrame, n_tx: int, horizon_ts: int
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """Rewrite some entries of ``trades`` and add the redeems and rewards.

    Returns ``(trades, activity, transfers, n_tx)``: the trades still made as trades, the
    activity rows (``ACTIVITY_COLUMNS``), the BUYs that became transfers in (kept for the
    ground truth only: no API shows them) and the new number of transactions.
    """
    t = trades.reset_index(drop=True)
    style = wallets["style"].to_numpy()[t["wallet_idx"].to_numpy()]
    fills_in_tx = t.groupby("tx_idx")["tx_idx"].transform("size").to_numpy()
    entry = ((t["side"].to_numpy() == BUY) & (fills_in_tx == 1)
             & ~np.isin(style, ("market_maker", "wash", "insider")))
    u = rng.random(len(t))
    neg_risk = markets["neg_risk"].to_numpy()[t["market_idx"].to_numpy()]
    is_split = entry & (u < rates.split)
    is_transfer = entry & ~is_split & (u < rates.split + rates.transfer)
    is_conversion = entry & ~is_split & ~is_transfer & neg_risk & (rng.random(len(t)) < rates.conversion)

    # A split may be merged back only if its token is never sold afterwards (the merge
    # burns those shares).
    key = t["wallet_idx"].to_numpy() * 4_000_003 + t["market_idx"].to_numpy() * 2 + t["outcome_index"].to_numpy()
    last_sell = pd.Series(np.where(t["side"] == SELL, t["ts"], -1)).groupby(key).transform("max").to_numpy()
    mergeable = is_split & (last_sell < t["ts"].to_numpy()) & (rng.random(len(t)) < rates.merge)
    sells_other = is_split & ~mergeable

    closed_ts = markets["closed_ts"].to_numpy()
    rows = []
    s = t[is_split]
    rows.append(pd.DataFrame({"ts": s["ts"], "wallet_idx": s["wallet_idx"], "market_idx": s["market_idx"],
                              "type": "SPLIT", "outcome_index": CONDITION_LEVEL, "size": s["size"],
                              "usdc_size": s["size"], "tx_idx": s["tx_idx"]}))
    m = t[mergeable]
    close = closed_ts[m["market_idx"].to_numpy()]
    merge_ts = m["ts"].to_numpy() + (rng.uniform(0.1, 0.9, len(m)) * np.maximum(close - m["ts"].to_numpy(), 0)).astype(np.int64)
    ok = merge_ts < np.minimum(close, horizon_ts)
    new_tx = n_tx + np.arange(len(m))
    n_tx += len(m)
    rows.append(pd.DataFrame({"ts": merge_ts[ok], "wallet_idx": m["wallet_idx"].to_numpy()[ok],
                              "market_idx": m["market_idx"].to_numpy()[ok], "type": "MERGE",
                              "outcome_index": CONDITION_LEVEL, "size": m["size"].to_numpy()[ok],
                              "usdc_size": m["size"].to_numpy()[ok], "tx_idx": new_tx[ok]}))
    c = t[is_conversion]
    rows.append(pd.DataFrame({"ts": c["ts"], "wallet_idx": c["wallet_idx"], "market_idx": c["market_idx"],
                              "type": "CONVERSION", "outcome_index": c["outcome_index"], "size": c["size"],
                              "usdc_size": 0.0, "tx_idx": c["tx_idx"]}))

    # The side a split does not want is sold within two minutes, at its bid.
    o = t[sells_other]
    other = pd.DataFrame({
        "ts": o["ts"].to_numpy() + rng.integers(2, 120, len(o)), "wallet_idx": o["wallet_idx"].to_numpy(),
        "market_idx": o["market_idx"].to_numpy(), "outcome_index": 1 - o["outcome_index"].to_numpy(),
        "side": np.full(len(o), SELL, dtype=np.int8), "size": o["size"].to_numpy(),
        "price": np.clip(np.round(1.0 - o["price"].to_numpy(), 2), 0.01, 0.99),
        "tx_idx": n_tx + np.arange(len(o)), "partial": np.zeros(len(o), dtype=bool)})
    other = other[other["ts"].to_numpy() < closed_ts[other["market_idx"].to_numpy()]]
    n_tx += len(o)

    transfers = t[is_transfer].copy()
    kept = t[~(is_split | is_transfer | is_conversion)]
    kept = pd.concat([kept.drop(columns=["trade_idx"]), other], ignore_index=True)
    kept = kept.sort_values(["ts", "tx_idx", "side"], kind="stable").reset_index(drop=True)
    kept.insert(0, "trade_idx", np.arange(len(kept)))

    activity = pd.concat([r for r in rows if len(r)] or [_empty_activity()], ignore_index=True)
    redeems, n_tx = _redeems(rates, rng, markets, kept, transfers, activity, n_tx, horizon_ts)
    rewards, n_tx = _rewards(rates, rng, wallets, kept, n_tx, horizon_ts)
    activity = pd.concat([activity, redeems, rewards], ignore_index=True)
    activity = activity.astype({"ts": "int64", "wallet_idx": "int64", "market_idx": "int64",
                                "outcome_index": "int64", "size": "float64", "usdc_size": "float64",
                                "tx_idx": "int64"})
    activity["size"] = activity["size"].round(6)
    activity["usdc_size"] = activity["usdc_size"].round(6)
    activity = activity.sort_values(["ts", "tx_idx"], kind="stable").reset_index(drop=True)
    return kept, activity, transfers.reset_index(drop=True), n_tx


def holdings(markets: pd.DataFrame, trades: pd.DataFrame, transfers: pd.DataFrame,
             activity: pd.DataFrame) -> pd.Series:
    """Shares each wallet holds of each outcome after every movement: index
    (wallet_idx, market_idx, outcome_index). Trades, transfers in, splits (+ every
    outcome), merges (− every outcome), conversions (+ one outcome); redeems empty them."""
    parts = [
        pd.DataFrame({"w": trades["wallet_idx"], "m": trades["market_idx"], "k": trades["outcome_index"],
                      "q": np.where(trades["side"] == BUY, trades["size"], -trades["size"])}),
        pd.DataFrame({"w": transfers["wallet_idx"], "m": transfers["market_idx"], "k": transfers["outcome_index"],
                      "q": transfers["size"]}),
    ]
    a = activity
    for kind, sign in (("SPLIT", 1.0), ("MERGE", -1.0)):
        x = a[a["type"] == kind]
        for k in (0, 1):
            parts.append(pd.DataFrame({"w": x["wallet_idx"], "m": x["market_idx"], "k": k, "q": sign * x["size"]}))
    x = a[a["type"] == "CONVERSION"]
    parts.append(pd.DataFrame({"w": x["wallet_idx"], "m": x["market_idx"], "k": x["outcome_index"], "q": x["size"]}))
    df = pd.concat([p for p in parts if len(p)], ignore_index=True)
    held = df.groupby(["w", "m", "k"])["q"].sum()
    x = a[a["type"] == "REDEEM"]
    if len(x):
        redeemed = pd.MultiIndex.from_arrays([x["wallet_idx"], x["market_idx"]])
        wm = pd.MultiIndex.from_arrays([held.index.get_level_values(0), held.index.get_level_values(1)])
        held = held.where(~wm.isin(redeemed), 0.0)
    return held


def _redeems(rates, rng, markets, trades, transfers, activity, n_tx, horizon_ts):
    held = holdings(markets, trades, transfers, activity)
    held = held[held > 1e-9].reset_index()
    if held.empty:
        return _empty_activity(), n_tx
    winner = markets["winner"].to_numpy()[held["m"].to_numpy()]
    payout = np.where(winner < 0, 0.5, (winner == held["k"].to_numpy()).astype(float))
    held["usdc"] = held["q"] * payout
    per = held.groupby(["w", "m"]).agg(size=("q", "sum"), usdc=("usdc", "sum")).reset_index()
    resolved = markets["resolved_ts"].to_numpy()[per["m"].to_numpy()]
    ts = resolved + rng.integers(600, 72 * HOUR, len(per))
    ok = (ts <= horizon_ts) & (rng.random(len(per)) < rates.redeem)
    per, ts = per[ok], ts[ok]
    out = pd.DataFrame({"ts": ts, "wallet_idx": per["w"].to_numpy(), "market_idx": per["m"].to_numpy(),
                        "type": "REDEEM", "outcome_index": CONDITION_LEVEL, "size": per["size"].to_numpy(),
                        "usdc_size": per["usdc"].to_numpy(), "tx_idx": n_tx + np.arange(len(per))})
    return out, n_tx + len(per)


def _rewards(rates, rng, wallets, trades, n_tx, horizon_ts):
    style = wallets["style"].to_numpy()[trades["wallet_idx"].to_numpy()]
    mm = trades[(style == "market_maker") & (rng.random(len(trades)) < rates.reward)]
    kind = np.where(rng.random(len(mm)) < 1 / 3, "MAKER_REBATE", "REWARD")
    ts = mm["ts"].to_numpy() + rng.integers(HOUR, 24 * HOUR, len(mm))
    ok = ts <= horizon_ts
    usdc = np.round(rng.uniform(0.5, 25.0, len(mm)), 6)
    out = pd.DataFrame({"ts": ts[ok], "wallet_idx": mm["wallet_idx"].to_numpy()[ok],
                        "market_idx": mm["market_idx"].to_numpy()[ok], "type": kind[ok],
                        "outcome_index": CONDITION_LEVEL, "size": usdc[ok], "usdc_size": usdc[ok],
                        "tx_idx": n_tx + np.arange(int(ok.sum()))})
    return out, n_tx + int(ok.sum())
