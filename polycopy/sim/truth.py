"""Ground truth of a simulated world, for evaluation only.

The pipeline never reads this. Tests and benchmarks compare what the pipeline
produced against: each wallet's archetype, every trade the venue emitted (with the
same identity key the pipeline uses), each market's winner, and each wallet's true
realized P&L (average-cost method, USD).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from polycopy.polymarket.schema import trade_key
from polycopy.sim.world import BUY, SimWorld


def emitted_trades(world: SimWorld, until_ts: int | None = None) -> pd.DataFrame:
    """Every real trade released by ``until_ts`` (default: the whole history)."""
    t = world.trades
    until = world.config.history_end_ts if until_ts is None else until_ts
    t = t[t["ts"] <= until]
    m = world.markets
    w = world.wallets
    tokens = np.where(t["outcome_index"].to_numpy() == 0, m["token0"].to_numpy()[t["market_idx"]],
                      m["token1"].to_numpy()[t["market_idx"]])
    wallets = w["address"].to_numpy()[t["wallet_idx"]]
    txs = np.array(world.tx_hashes, dtype=object)[t["tx_idx"].to_numpy()]
    sides = np.where(t["side"].to_numpy() == BUY, "BUY", "SELL")
    keys = [trade_key(tx, wa, str(tok), s, sz, px) for tx, wa, tok, s, sz, px in
            zip(txs, wallets, tokens, sides, t["size"].to_numpy(), t["price"].to_numpy())]
    return pd.DataFrame({
        "trade_key": keys,
        "timestamp": t["ts"].to_numpy(),
        "proxy_wallet": wallets,
        "condition_id": m["condition_id"].to_numpy()[t["market_idx"]],
        "token_id": tokens.astype(str),
        "side": sides,
        "size": t["size"].to_numpy(),
        "price": t["price"].to_numpy(),
        "transaction_hash": txs,
    })


def market_outcomes(world: SimWorld, as_of_ts: int | None = None) -> pd.DataFrame:
    """Each market's true result, and whether it is resolved by ``as_of_ts``."""
    m = world.markets
    as_of = world.config.history_end_ts if as_of_ts is None else as_of_ts
    winner_token = np.where(m["winner"] == 0, m["token0"], np.where(m["winner"] == 1, m["token1"], None))
    return pd.DataFrame({
        "condition_id": m["condition_id"],
        "winner_token_id": winner_token,
        "void": m["void"],
        "early": m["early"],
        "protocol_version": m["version"],
        "closed_ts": m["closed_ts"],
        "resolved": m["resolved_ts"] <= as_of,
    })


def average_cost_walk(world: SimWorld, trades: pd.DataFrame, settle: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average-cost P&L of ``trades`` (rows of ``world.trades``, in time order) per wallet.

    Per (wallet, token): a SELL realizes ``shares × (price − average cost)`` on the shares
    these trades bought (selling more than that — shares bought before them — realizes
    nothing); shares still held in a market where ``settle[market]`` is true settle at its
    payout (1 winner, 0 loser, 0.5 void). Fees are not included.
    Returns per-wallet arrays: P&L (USD), USD bought, number of buys.
    """
    m = world.markets
    void = m["void"].to_numpy()
    payout_yes = np.where(void, 0.5, np.where(m["winner"] == 0, 1.0, 0.0))
    n = len(world.wallets)
    pnl, bought, buys = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    held: dict[tuple[int, int, int], list[float]] = {}  # shares, cost
    for w, mi, k, side, size, price in zip(trades["wallet_idx"].to_numpy(), trades["market_idx"].to_numpy(),
                                           trades["outcome_index"].to_numpy(), trades["side"].to_numpy(),
                                           trades["size"].to_numpy(), trades["price"].to_numpy()):
        pos = held.setdefault((int(w), int(mi), int(k)), [0.0, 0.0])
        if side == BUY:
            pos[0] += size
            pos[1] += size * price
            bought[w] += size * price
            buys[w] += 1
        elif pos[0] > 1e-9:
            q = min(size, pos[0])
            avg = pos[1] / pos[0]
            pnl[w] += q * (price - avg)
            pos[1] -= q * avg
            pos[0] -= q
    for (w, mi, k), (shares, cost) in held.items():
        if settle[mi]:
            payout = payout_yes[mi] if k == 0 or void[mi] else 1.0 - payout_yes[mi]
            pnl[w] += shares * payout - cost
    return pnl, bought, buys


def realized_pnl(world: SimWorld, as_of_ts: int | None = None) -> pd.DataFrame:
    """True realized P&L per wallet in USD, as of ``as_of_ts``: average cost over every
    trade by then, with markets resolved by then settled at their payout."""
    as_of = world.config.history_end_ts if as_of_ts is None else as_of_ts
    pnl, _, _ = average_cost_walk(world, world.trades[world.trades["ts"] <= as_of],
                                  world.markets["resolved_ts"].to_numpy() <= as_of)
    return pd.DataFrame({"proxy_wallet": world.wallets["address"], "realized_pnl": pnl})


def wallet_labels(world: SimWorld) -> pd.DataFrame:
    return world.wallets[["address", "archetype", "skilled", "edge_start", "edge_end", "wash_group"]].copy()


def malformed_records(world: SimWorld, until_ts: int | None = None) -> pd.DataFrame:
    """The malformed rows the venue serves, by kind, with their template's time."""
    until = world.config.history_end_ts if until_ts is None else until_ts
    mal = world.malformed.copy()
    mal["ts"] = world.trades["ts"].to_numpy()[mal["template_trade_idx"].to_numpy()]
    return mal[mal["ts"] <= until]


def export_truth(world: SimWorld, out_dir: str | Path) -> Path:
    """Write the ground truth as CSV files plus a JSON summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wallet_labels(world).to_csv(out / "wallets.csv", index=False)
    emitted_trades(world).to_csv(out / "trades.csv", index=False)
    market_outcomes(world).to_csv(out / "markets.csv", index=False)
    realized_pnl(world).to_csv(out / "realized_pnl.csv", index=False)
    (out / "summary.json").write_text(json.dumps({
        "seed": world.config.seed,
        "markets": len(world.markets),
        "wallets": len(world.wallets),
        "trades": len(world.trades),
        "malformed": len(world.malformed),
        "archetypes": world.wallets["archetype"].value_counts().to_dict(),
    }, indent=2))
    return out


# ---- partial histories -------------------------------------------------------------
def movements(world: SimWorld) -> pd.DataFrame:
    """Every change of a wallet's shares, served or not, in time order: trades before and
    after the first served day, transfers in (never served), and splits, merges and
    conversions (redeems empty what is left). Columns: ts, wallet_idx, market_idx,
    outcome_index, shares (signed: + in, − out), price (USD per share: the fill's, 0.5 for a
    split or merge leg, NaN when shares move without a price), kind, served."""
    s = world.config.history_start_ts
    parts = []
    for t, served in ((world.prelude_trades, False), (world.trades, True)):
        parts.append(pd.DataFrame({"ts": t["ts"], "wallet_idx": t["wallet_idx"], "market_idx": t["market_idx"],
                                   "outcome_index": t["outcome_index"],
                                   "shares": np.where(t["side"] == BUY, t["size"], -t["size"]),
                                   "price": t["price"], "kind": np.where(t["side"] == BUY, "BUY", "SELL"),
                                   "served": served}))
    x = world.transfers
    parts.append(pd.DataFrame({"ts": x["ts"], "wallet_idx": x["wallet_idx"], "market_idx": x["market_idx"],
                               "outcome_index": x["outcome_index"], "shares": x["size"], "kind": "TRANSFER",
                               "served": False}))
    act = pd.concat([world.prelude_activity, world.activity], ignore_index=True)
    for kind, sign in (("SPLIT", 1.0), ("MERGE", -1.0)):
        a = act[act["type"] == kind]
        for k in (0, 1):
            parts.append(pd.DataFrame({"ts": a["ts"], "wallet_idx": a["wallet_idx"], "market_idx": a["market_idx"],
                                       "outcome_index": k, "shares": sign * a["size"], "price": 0.5, "kind": kind,
                                       "served": a["ts"] >= s}))
    a = act[act["type"] == "CONVERSION"]
    parts.append(pd.DataFrame({"ts": a["ts"], "wallet_idx": a["wallet_idx"], "market_idx": a["market_idx"],
                               "outcome_index": a["outcome_index"], "shares": a["size"], "kind": "CONVERSION",
                               "served": a["ts"] >= s}))
    df = pd.concat([p for p in parts if len(p)], ignore_index=True)
    df["inflow"] = df["shares"] > 0
    # Within one second shares arrive before they leave, as a wallet must hold to sell.
    return df.sort_values(["ts", "inflow"], ascending=[True, False], kind="stable").reset_index(drop=True)


def observed_positions(world: SimWorld, as_of_ts: int | None = None,
                       activity_wallets: set[str] | None = None) -> pd.DataFrame:
    """What an observer of the served records must conclude, position by position, walking
    the true history: trades, and — for the wallets whose activity it reads
    (``activity_wallets``, addresses; None = every wallet) — splits (one share of each
    outcome at 1 / outcomes, Polymarket's own convention) and merges (the reverse).

    Two stocks per (wallet, token): shares of known cost (bought, or split, in view) and
    shares of other origin (held from before the first served day, or received by transfer,
    conversion, or a split out of view). An exit in view takes from the known stock first at
    average cost and counts the rest as shares of unknown cost; an exit out of view (before
    the window, or a merge not read) takes from the other stock first. Shares of known cost
    still held when the market resolves settle at its payout (1 / 0, void 0.5).

    Columns: proxy_wallet, token_id, realized_pnl_usd (known cost only), unknown_origin_shares,
    unknown_cost_shares_sold, known_shares_at_end.
    """
    as_of = world.config.history_end_ts if as_of_ts is None else as_of_ts
    mv = movements(world)
    mv = mv[mv["ts"] <= as_of]
    addresses = world.wallets["address"].to_numpy()
    reads_activity = (np.ones(len(addresses), dtype=bool) if activity_wallets is None
                      else np.isin(addresses, list(activity_wallets)))
    m = world.markets
    priced = {"SPLIT", "MERGE"}
    state: dict[tuple, list[float]] = {}  # known shares, known cost, other shares, pnl, origin, sold
    for w, mi, k, q, kind, served, px in zip(mv["wallet_idx"].to_numpy(), mv["market_idx"].to_numpy(),
                                             mv["outcome_index"].to_numpy(), mv["shares"].to_numpy(),
                                             mv["kind"].to_numpy(), mv["served"].to_numpy(), mv["price"].to_numpy()):
        s = state.setdefault((int(w), int(mi), int(k)), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        in_view = bool(served) and (kind in ("BUY", "SELL") or (kind in priced and reads_activity[w]))
        p = float(px) if in_view else 0.0
        if q > 0:
            if in_view:
                s[0] += q
                s[1] += q * p
            else:
                s[2] += q
                s[4] += q
            continue
        out = -q
        if in_view:
            take = min(out, s[0])
            if take > 0:
                avg = s[1] / s[0]
                s[3] += take * (p - avg)
                s[1] -= take * avg
                s[0] -= take
            rest = out - take
            if rest > 1e-9:
                s[5] += rest
            s[2] -= rest
        else:
            take = min(out, max(s[2], 0.0))
            s[2] -= take
            rest = out - take
            if rest > 1e-9 and s[0] > 0:
                avg = s[1] / s[0]
                r = min(rest, s[0])
                s[1] -= r * avg
                s[0] -= r
    resolved = m["resolved_ts"].to_numpy() <= as_of
    void = m["void"].to_numpy()
    winner = m["winner"].to_numpy()
    rows = []
    for (w, mi, k), s in state.items():
        pnl = s[3]
        if resolved[mi] and s[0] > 1e-12:
            payout = 0.5 if void[mi] else float(winner[mi] == k)
            pnl += s[0] * payout - s[1]
        token = str(m["token0"].iat[mi] if k == 0 else m["token1"].iat[mi])
        rows.append((addresses[w], token, pnl, s[4], s[5], s[0]))
    return pd.DataFrame(rows, columns=["proxy_wallet", "token_id", "realized_pnl_usd", "unknown_origin_shares",
                                       "unknown_cost_shares_sold", "known_shares_at_end"])
