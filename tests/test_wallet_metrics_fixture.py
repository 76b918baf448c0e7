"""Twelve hand-made trades by three wallets in four markets, through the real dbt project
on both backends; every metric checked against arithmetic written out below.

Markets (resolution at 12:00 UTC on the closing day):
  M1 politics  tokens A1 (Yes) / A2 (No)   closed 2026-03-10, Yes wins
  M2 politics  tokens B1 / B2              closed 2026-03-20, void (0.5 each)
  M3 crypto    tokens C1 / C2              open
  M4 sports    tokens D1 / D2              closed 2026-03-15 (early; endDate 03-30), No wins

Trades (all times UTC):
  W1  1  03-01 10:00  BUY  A1 100 @ 0.40   cost 40
      2  03-02 10:00  BUY  A1 100 @ 0.60   cost 60 → 200 shares, cost 100, avg 0.50
      3  03-05 10:00  SELL A1  50 @ 0.70   realizes 50 × (0.70 − 0.50) = 10 on capital 25
                                           → 150 shares, cost 75; M1 settles 150 × 1 − 75 = 75
      4  03-12 10:00  BUY  B1 200 @ 0.30   cost 60; void: 200 × 0.5 − 60 = 40
      5  03-14 10:00  BUY  C1 100 @ 0.50   open
  W2  6  03-03 09:00  BUY  D1 100 @ 0.55   M4 No wins: 100 × 0 − 55 = −55
      7  03-04 09:00  BUY  A2  50 @ 0.40
      8  03-06 09:00  SELL A2  50 @ 0.30   realizes 50 × (0.30 − 0.40) = −5 on capital 20; closed
  W3  9  03-08 12:00:00 BUY  C2 100 @ 0.50  tx T9 ┐ self-crossing: one transaction
     10  03-08 12:00:00 SELL C2 100 @ 0.50  tx T9 ┘
     11  03-09 12:00:00 BUY  C2  80 @ 0.52  tx T11 ┐ rapid round trip: 30 s apart
     12  03-09 12:00:30 SELL C2  80 @ 0.52  tx T12 ┘
A history seen from mid-life (W4 held E1 and E2 shares from before the window):
  M5 tech      tokens E1 (Yes) / E2 (No)   closed 2026-03-25, Yes wins
  W4 13  03-10 10:00  BUY  E1 100 @ 0.40   cost 40
     14  03-12 10:00  SELL E1 150 @ 0.60   only 100 on record: realizes 100 × (0.60 − 0.40) = 20
                                           on capital 40; 50 shares of unknown cost sold for 30 USD;
                                           0 shares left (never −50)
     15  03-14 10:00  BUY  E1  20 @ 0.50   cost 10; M5 settles 20 × 1 − 10 = 10
     16  03-16 10:00  SELL E2  30 @ 0.45   nothing on record: 30 unknown-cost shares for 13.5 USD,
                                           no realized P&L (an orphan)
A split, then a sell of the unwanted side, then a redeem (W5's activity is read):
  M6 science   tokens F1 (Yes) / F2 (No)   closed 2026-03-28, No wins
  W5 A1  03-11 10:00  SPLIT 100 USD         +100 F1 and +100 F2 at 0.50 each (a set costs 1 USD)
     17  03-11 10:01  SELL  F1 100 @ 0.30   realizes 100 × (0.30 − 0.50) = −20 on capital 50
                                            M6 settles F2: 100 × 1 − 50 = +50 → W5 +30 in all
                                            (= 100 back + 30 for F1 − 100 paid for the set)
     A2  03-29 10:00  REDEEM 130 shares for 130 USD: 100 on record, so 30 shares of unknown
                                            cost (held from before the window) paid 30 USD
Shares that arrive by conversion have no cost on record (W6's activity is read):
  M7 world     tokens G1 / G2              open
  W6 A3  03-15 10:00  CONVERSION 40 G1      40 shares of unknown cost held
     18  03-20 10:00  SELL G1 60 @ 0.70     nothing of known cost: 60 unknown-cost shares sold
                                            (the 40 converted, 20 from before the window)
     A4  03-21 10:00  CONVERSION 10 G2      10 shares of unknown cost held, the position open
As of 2026-04-06 (so W1's realizations fall in two 30-day blocks), half-life 60 days.
"""

import json
import math
from datetime import datetime, timezone

import pytest

from polycopy.polymarket.markets import Market, resolve_market
from polycopy.polymarket.schema import ActivityEvent, Trade, trade_key
from tests.dbt_fixture import dbt_build, fixture_warehouse

AS_OF = "2026-04-06"
HL = 60.0
W1, W2, W3, W4, W5, W6 = ("0x" + c * 40 for c in "123456")


def ts(s: str) -> int:
    return int(datetime.fromisoformat(s).replace(tzinfo=timezone.utc).timestamp())


def cid(n: int) -> str:
    return "0x" + f"{n:064x}"


def tx(n: int) -> str:
    return "0x" + f"{1000 + n:064x}"


MARKETS = {  # name: (category, tokens, closed_ts, end_ts, prices or None if open)
    "M1": ("politics", ("11", "12"), ts("2026-03-10T12:00:00"), ts("2026-03-10T12:00:00"), ["1", "0"]),
    "M2": ("politics", ("21", "22"), ts("2026-03-20T12:00:00"), ts("2026-03-20T12:00:00"), ["0.5", "0.5"]),
    "M3": ("crypto", ("31", "32"), None, ts("2026-06-30T00:00:00"), None),
    "M4": ("sports", ("41", "42"), ts("2026-03-15T12:00:00"), ts("2026-03-30T00:00:00"), ["0", "1"]),
    "M5": ("tech", ("51", "52"), ts("2026-03-25T12:00:00"), ts("2026-03-25T12:00:00"), ["1", "0"]),
    "M6": ("science", ("61", "62"), ts("2026-03-28T12:00:00"), ts("2026-03-28T12:00:00"), ["0", "1"]),
    "M7": ("world", ("71", "72"), None, ts("2026-06-30T00:00:00"), None),
}
TOKEN = {"A1": ("M1", 0), "A2": ("M1", 1), "B1": ("M2", 0), "C1": ("M3", 0), "C2": ("M3", 1), "D1": ("M4", 0),
         "E1": ("M5", 0), "E2": ("M5", 1), "F1": ("M6", 0), "F2": ("M6", 1),
         "G1": ("M7", 0), "G2": ("M7", 1)}
TRADES = [  # n, wallet, time, side, token, shares, price, tx
    (1, W1, "2026-03-01T10:00:00", "BUY", "A1", 100, 0.40, 1),
    (2, W1, "2026-03-02T10:00:00", "BUY", "A1", 100, 0.60, 2),
    (3, W1, "2026-03-05T10:00:00", "SELL", "A1", 50, 0.70, 3),
    (4, W1, "2026-03-12T10:00:00", "BUY", "B1", 200, 0.30, 4),
    (5, W1, "2026-03-14T10:00:00", "BUY", "C1", 100, 0.50, 5),
    (6, W2, "2026-03-03T09:00:00", "BUY", "D1", 100, 0.55, 6),
    (7, W2, "2026-03-04T09:00:00", "BUY", "A2", 50, 0.40, 7),
    (8, W2, "2026-03-06T09:00:00", "SELL", "A2", 50, 0.30, 8),
    (9, W3, "2026-03-08T12:00:00", "BUY", "C2", 100, 0.50, 9),
    (10, W3, "2026-03-08T12:00:00", "SELL", "C2", 100, 0.50, 9),
    (11, W3, "2026-03-09T12:00:00", "BUY", "C2", 80, 0.52, 11),
    (12, W3, "2026-03-09T12:00:30", "SELL", "C2", 80, 0.52, 12),
    (13, W4, "2026-03-10T10:00:00", "BUY", "E1", 100, 0.40, 13),
    (14, W4, "2026-03-12T10:00:00", "SELL", "E1", 150, 0.60, 14),
    (15, W4, "2026-03-14T10:00:00", "BUY", "E1", 20, 0.50, 15),
    (16, W4, "2026-03-16T10:00:00", "SELL", "E2", 30, 0.45, 16),
    (17, W5, "2026-03-11T10:01:00", "SELL", "F1", 100, 0.30, 17),
    (18, W6, "2026-03-20T10:00:00", "SELL", "G1", 60, 0.70, 18),
]
ACTIVITY = [  # wallet, time, type, market, shares, usd, tx
    (W5, "2026-03-11T10:00:00", "SPLIT", "M6", 100.0, 100.0, 101),
    (W5, "2026-03-29T10:00:00", "REDEEM", "M6", 130.0, 130.0, 102),
    (W6, "2026-03-15T10:00:00", "CONVERSION", "G1", 40.0, 0.0, 103),
    (W6, "2026-03-21T10:00:00", "CONVERSION", "G2", 10.0, 0.0, 104),
]


def activity(wallet, when, kind, where, shares, usd, txn) -> ActivityEvent:
    """``where``: a market for movements of the whole condition, a token for a conversion."""
    m, k = (where, None) if where in MARKETS else TOKEN[where]
    token = None if k is None else MARKETS[m][1][k]
    return ActivityEvent(f"a{txn}", kind, wallet, cid(int(m[1:])), token, k, shares, usd, ts(when), tx(txn),
                         None, None, None, "v1")


def market(name: str) -> Market:
    category, tokens, closed_ts, end_ts, prices = MARKETS[name]
    n = int(name[1:])
    # Categories come from tags (one tag per market here, its slug the category's name).
    return Market(cid(n), str(n), f"{name}?", name.lower(), category, None, ts("2026-02-01T00:00:00"), end_ts,
                  closed_ts is not None, closed_ts, "resolved" if prices else None, json.dumps(["Yes", "No"]),
                  json.dumps(prices or ["0.5", "0.5"]), json.dumps(list(tokens)), "v1", False, 0.01, 5, None, None,
                  category_tag=category, tags=json.dumps([[str(n), category, category.title(), "event"]]))


def trade(n, wallet, when, side, token, shares, price, txn) -> Trade:
    m, k = TOKEN[token]
    tok = MARKETS[m][1][k]
    return Trade(trade_key(tx(txn), wallet, tok, side, shares, price), tx(txn), wallet, side, tok, cid(int(m[1:])),
                 float(shares), price, shares * price, ts(when), None, k, None, None, None, None, None, "v1")


def decay(days_ago: float) -> float:
    return 2 ** (-days_ago / HL)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def metrics(request, tmp_path_factory):
    wh, env, tmp_path = fixture_warehouse(request, tmp_path_factory)
    markets = [market(n) for n in MARKETS]
    wh.upsert_markets(markets, [], "test")
    days = [datetime(2026, 3, d, tzinfo=timezone.utc).date() for d in range(1, 32)]
    wh.replace_trade_partitions(days, [trade(*t) for t in TRADES], [], "test")
    with wh.activity_partition_writer(days, "test") as w:
        w.add([activity(*a) for a in ACTIVITY])
    resolutions = [r for m in markets for r in (resolve_market(m) or [])]
    wh.replace_resolution_partitions(days, resolutions, [], "test")
    dbt_build(env, tmp_path, AS_OF)
    rows = wh.query_df("select * from marts.wallet_metrics")
    out = {r["wallet_address"]: r for r in rows.to_dict("records")}
    out["_base_rates"] = wh.query_df("select * from marts.category_base_rates").set_index("category")
    out["_positions"] = wh.query_df("select * from intermediate.int_positions").set_index(["wallet_address", "token_id"])
    out["_fills"] = wh.query_df("select * from intermediate.int_trade_outcomes").set_index("trade_key")
    out["_realizations"] = wh.query_df("select * from intermediate.int_wallet_realizations")
    out["_redemptions"] = wh.query_df("select * from intermediate.int_wallet_redemptions")
    out["_daily"] = wh.query_df("select * from marts.fct_wallet_daily_pnl")
    return out


def approx(x):
    return pytest.approx(x, rel=1e-9, abs=1e-12)


def is_null(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def test_positions_and_outcomes(metrics):
    p = metrics["_positions"]
    assert p.loc[(W1, "11"), "realized_pnl_usd"] == approx(85.0)  # 10 from the sell + 75 settlement
    assert p.loc[(W1, "11"), "outcome"] == "won" and p.loc[(W1, "11"), "roi"] == approx(85 / 100)
    assert p.loc[(W1, "21"), "realized_pnl_usd"] == approx(40.0)  # void: 200 × 0.5 − 60
    assert p.loc[(W1, "21"), "roi"] == approx(40 / 60)
    assert p.loc[(W1, "31"), "outcome"] == "open" and p.loc[(W1, "31"), "realized_pnl_usd"] == approx(0.0)
    assert is_null(p.loc[(W1, "31"), "roi"])  # open: no ROI yet
    assert p.loc[(W2, "41"), "realized_pnl_usd"] == approx(-55.0) and p.loc[(W2, "41"), "outcome"] == "lost"
    assert p.loc[(W2, "12"), "realized_pnl_usd"] == approx(-5.0) and bool(p.loc[(W2, "12"), "is_closed"])
    assert p.loc[(W2, "12"), "roi"] == approx(-5 / 20)
    assert p.loc[(W3, "32"), "outcome"] == "flat"
    assert p.loc[(W1, "11"), "hold_seconds"] == 9 * 86400 + 7200  # 03-01 10:00 → resolution 03-10 12:00


def sharpe(returns: list[float], n: int) -> float:
    """Annualized Sharpe of ``returns`` padded with zeros to ``n`` days."""
    s1, s2 = sum(returns), sum(x * x for x in returns)
    return (s1 / n) / math.sqrt((s2 - s1 * s1 / n) / (n - 1)) * math.sqrt(365)


def daily_sharpe(returns: list[float], n: int) -> float:
    """Sharpe in daily units (not annualized), as the consistency blocks use it."""
    return sharpe(returns, n) / math.sqrt(365)


def test_wallet_one(metrics):
    m = metrics[W1]
    assert m["trade_count"] == 5
    assert m["first_trade_at_unix"] == ts("2026-03-01T10:00:00")
    assert m["last_trade_at_unix"] == ts("2026-03-14T10:00:00")
    assert m["wallet_age_days"] == 36  # 03-01 → 04-06
    assert (m["positions"], m["closed_positions"], m["won_positions"], m["lost_positions"]) == (3, 2, 2, 0)
    assert m["win_rate"] == approx(1.0) and m["decayed_win_rate"] == approx(1.0)
    assert m["gross_profit_usd"] == approx(125.0) and m["gross_loss_usd"] == approx(0.0)
    assert is_null(m["profit_factor"])  # no losses: undefined, not infinite
    assert m["realized_pnl_usd"] == approx(125.0)
    assert m["capital_realized_usd"] == approx(160.0)  # sell 25 + settlements 75 + 60
    assert m["roi"] == approx(125 / 160)
    assert m["volume_usd"] == approx(245.0)  # 40 + 60 + 35 + 60 + 50
    assert m["buy_volume_usd"] == approx(210.0) and m["sell_volume_usd"] == approx(35.0)
    # Days before 04-06: 03-01 36, 03-02 35, 03-05 32, 03-12 25, 03-14 23.
    assert m["decayed_volume_usd"] == approx(40 * decay(36) + 60 * decay(35) + 35 * decay(32)
                                             + 60 * decay(25) + 50 * decay(23))
    # Daily returns on the capital at risk (cost held at the day's start in unsettled
    # positions, plus the day's buys): 03-05 10 / 100 (A1 40 + 60) = 0.1; 03-10 75 / 75
    # (A1 after the 03-05 sell took 25 off; B1 is bought later, on 03-12) = 1;
    # 03-20 40 / 110 (B1 60 + C1 50, held since 03-14) = 4/11; zeros elsewhere.
    # 30 d = 03-08..04-06 (n 30): 1 and 4/11. 90 d: the 37 days since 03-01, all three.
    r = [0.1, 1.0, 4 / 11]
    assert m["sharpe_30d"] == approx(sharpe(r[1:], 30))
    assert m["sharpe_90d"] == approx(sharpe(r, 37))
    assert is_null(m["sortino_90d"])  # no negative day
    assert m["max_drawdown"] == approx(0.0) and m["current_drawdown"] == approx(0.0)
    assert is_null(m["calmar_ratio"])
    # Nobody else realized politics on its days: a benchmark of 0, active return = return.
    a_mean = sum(r) / 3
    a_std = math.sqrt(sum((x - a_mean) ** 2 for x in r) / 2)
    assert m["information_ratio"] == approx(a_mean / a_std * math.sqrt(365))
    # 30-day blocks back from 04-06 (daily-unit Sharpe): block 0 = 03-08..04-06 (0.75, 4/11),
    # block 1 = 02-07..03-07 (0.1).
    b0, b1 = daily_sharpe(r[1:], 30), daily_sharpe(r[:1], 30)
    assert m["sharpe_blocks"] == 2
    assert m["rolling_sharpe_30d_std"] == approx(abs(b0 - b1) / math.sqrt(2))
    # Holds: A1 03-01 10:00 → resolution 03-10 12:00; B1 03-12 10:00 → 03-20 12:00.
    assert m["avg_hold_seconds"] == approx(((9 * 86400 + 7200) + (8 * 86400 + 7200)) / 2)
    assert m["position_size_cv"] == approx(math.sqrt(700) / 70)  # bought 100, 60, 50
    assert m["category_count"] == 2
    assert m["category_hhi"] == approx(((195 / 245) ** 2 + (50 / 245) ** 2) * 10000)
    assert m["top_two_category_share"] == approx(1.0)
    assert m["profit_per_trade_usd"] == approx(25.0) and m["return_on_volume"] == approx(125 / 245)
    assert m["largest_market_profit_share"] == approx(85 / 125)
    assert (m["self_crossing_fills"], m["rapid_round_trips"], m["wash_trade_share"]) == (0, 0, 0.0)
    assert m["two_sided_position_share"] == approx(1 / 3)


def test_capital_at_risk_by_day(metrics):
    """The cost held at each day's start in unsettled positions, plus the day's buys: from
    the fills up to that day only (a later buy never raises an earlier day)."""
    d = metrics["_daily"]

    def by_day(wallet):
        rows = d[d["wallet_address"] == wallet].sort_values("activity_date")
        return {str(r.activity_date)[5:10]: (r.capital_held_usd, r.capital_at_risk_usd) for r in rows.itertuples()}

    # W1: A1 bought 40 + 60, 25 of cost sold 03-05, settled 03-10 (held until its end);
    # B1 60 bought 03-12, C1 50 bought 03-14, B1 settled 03-20.
    assert by_day(W1) == {"03-01": (0, approx(40)), "03-02": (approx(40), approx(100)),
                          "03-05": (approx(100), approx(100)), "03-10": (approx(75), approx(75)),
                          "03-12": (0, approx(60)), "03-14": (approx(60), approx(110)),
                          "03-20": (approx(110), approx(110))}
    # W4 from mid-life: the sell beyond the record takes off only the 40 of known cost;
    # the orphan E2 sell and the shares of unknown cost put nothing at risk.
    assert by_day(W4) == {"03-10": (0, approx(40)), "03-12": (approx(40), approx(40)),
                          "03-14": (0, approx(10)), "03-16": (approx(10), approx(10)),
                          "03-25": (approx(10), approx(10))}
    assert by_day(W6) == {"03-20": (0, 0)}
    assert (d["capital_held_usd"] >= 0).all() and (d["capital_at_risk_usd"] >= d["capital_held_usd"]).all()


def test_wallet_two(metrics):
    m = metrics[W2]
    assert m["trade_count"] == 3 and m["wallet_age_days"] == 34  # 03-03 → 04-06
    assert (m["won_positions"], m["lost_positions"]) == (0, 2)
    assert m["win_rate"] == approx(0.0) and m["decayed_win_rate"] == approx(0.0)
    assert m["profit_factor"] == approx(0.0)  # 0 profit / 60 loss
    assert m["realized_pnl_usd"] == approx(-60.0) and m["capital_realized_usd"] == approx(75.0)
    assert m["roi"] == approx(-0.8)
    assert m["volume_usd"] == approx(90.0)  # 55 + 20 + 15
    # Returns: 03-06 −5 / 75 (D1 55 + A2 20 open) = −1/15, 03-15 −55 / 55 (A2 sold 03-06) = −1.
    # 30 d (from 03-08): only −1; 90 d: 35 days.
    assert m["sharpe_30d"] == approx(sharpe([-1.0], 30))
    r, n = [-1 / 15, -1.0], 35
    assert m["sharpe_90d"] == approx(sharpe(r, n))
    mean = sum(r) / n
    assert m["sortino_90d"] == approx(mean / math.sqrt(sum(x * x for x in r) / n) * math.sqrt(365))
    # Equity 14/15 then × max(0, 1e-12): all but lost.
    dd = 1 - (14 / 15) * 1e-12
    assert m["max_drawdown"] == approx(dd) and m["current_drawdown"] == approx(dd)
    assert m["calmar_ratio"] == approx(mean * 365 / dd)
    # No other wallet realized politics on 03-06 or sports on 03-15: benchmark 0.
    active = r
    a_mean = sum(active) / 2
    a_var = sum((a - a_mean) ** 2 for a in active) / 1
    assert m["information_ratio"] == approx(a_mean / math.sqrt(a_var) * math.sqrt(365))
    # One realization per block (−1 in block 0, −1/15 in block 1): two block Sharpes.
    assert m["rolling_sharpe_30d_std"] == approx(abs(daily_sharpe([-1.0], 30) - daily_sharpe([-1 / 15], 30))
                                                 / math.sqrt(2))
    # Holds: D1 03-03 09:00 → 03-15 12:00; A2 03-04 09:00 → sold 03-06 09:00.
    assert m["avg_hold_seconds"] == approx(((12 * 86400 + 3 * 3600) + 2 * 86400) / 2)
    assert m["position_size_cv"] == approx(math.sqrt(2 * 17.5 ** 2) / 37.5)  # bought 55, 20
    assert m["category_hhi"] == approx(((55 / 90) ** 2 + (35 / 90) ** 2) * 10000)
    assert m["profit_per_trade_usd"] == approx(-20.0)
    assert is_null(m["largest_market_profit_share"])  # no profitable market
    assert m["two_sided_position_share"] == approx(0.5)


def test_wallet_three_wash_trader(metrics):
    m = metrics[W3]
    assert m["trade_count"] == 4 and m["positions"] == 1 and m["closed_positions"] == 1
    assert (m["won_positions"], m["lost_positions"]) == (0, 0) and is_null(m["win_rate"])
    assert is_null(m["profit_factor"]) and m["realized_pnl_usd"] == approx(0.0)
    assert m["capital_realized_usd"] == approx(50 + 41.6) and m["roi"] == approx(0.0)
    assert m["volume_usd"] == approx(183.2)
    assert is_null(m["sharpe_30d"])  # all-zero returns
    assert m["self_crossing_fills"] == 2  # trades 9 and 10 share transaction T9
    assert m["rapid_round_trips"] == 1  # trades 11 → 12, 30 s apart, separate transactions
    assert m["wash_trade_share"] == approx((2 + 2 * 1) / 4)
    assert m["two_sided_position_share"] == approx(1.0)
    assert m["avg_hold_seconds"] == approx(86400 + 30)  # 03-08 12:00:00 → 03-09 12:00:30
    assert m["category_count"] == 1 and m["category_hhi"] == approx(10000.0)
    assert is_null(m["position_size_cv"])  # one position: no dispersion


def test_category_base_rates(metrics):
    b = metrics["_base_rates"]
    # politics: A1 won, B1 won (void, +40), A2 lost; sports: D1 lost; crypto: only open/flat.
    assert (b.loc["politics", "won_positions"], b.loc["politics", "lost_positions"]) == (2, 1)
    assert b.loc["politics", "win_rate"] == approx(2 / 3)
    assert b.loc["sports", "win_rate"] == approx(0.0)
    assert "crypto" not in b.index


def test_a_wallet_that_sells_more_than_it_bought_in_the_window(metrics):
    fills = metrics["_fills"]
    key = {n: trade_key(tx(txn), w, MARKETS[TOKEN[tok][0]][1][TOKEN[tok][1]], side, shares, price)
           for n, w, _, side, tok, shares, price, txn in TRADES}
    oversell = fills.loc[key[14]]
    assert oversell["known_cost_shares"] == approx(100.0) and oversell["unknown_cost_shares"] == approx(50.0)
    assert oversell["realized_pnl_usd"] == approx(100 * (0.60 - 0.40))
    assert oversell["unknown_cost_proceeds_usd"] == approx(50 * 0.60)
    assert oversell["shares_after"] == approx(0.0) and oversell["cost_after"] == approx(0.0)
    assert fills.loc[key[15], "shares_after"] == approx(20.0) and fills.loc[key[15], "cost_after"] == approx(10.0)
    orphan = fills.loc[key[16]]
    assert bool(orphan["is_orphan_sell"]) and orphan["unknown_cost_shares"] == approx(30.0)
    assert orphan["known_cost_shares"] == approx(0.0) and is_null(orphan["realized_pnl_usd"])
    assert (fills["shares_after"] >= 0).all() and (fills["unknown_cost_shares"] >= 0).all()

    p = metrics["_positions"]
    e1, e2 = p.loc[(W4, "51")], p.loc[(W4, "52")]
    assert e1["realized_pnl_usd"] == approx(20 + (20 * 1 - 10))  # the sell's known part + settlement
    assert (e1["unknown_cost_shares"], e1["unknown_cost_fills"]) == (approx(50.0), 1)
    assert e1["outcome"] == "won" and e1["roi"] == approx(30 / 50)  # bought 40 + 10 in the window
    assert e2["outcome"] == "unknown" and e2["unknown_cost_shares"] == approx(30.0)
    assert e2["realized_pnl_usd"] == approx(0.0)

    # Only shares of known cost realize P&L and put capital at risk.
    z = metrics["_realizations"]
    z = z[z["wallet_address"] == W4].sort_values("realized_at_unix")
    assert z["realized_pnl_usd"].tolist() == [approx(20.0), approx(10.0)]
    assert z["capital_usd"].tolist() == [approx(40.0), approx(10.0)]
    assert (metrics["_realizations"]["capital_usd"] >= 0).all()
    m = metrics[W4]
    assert m["realized_pnl_usd"] == approx(30.0) and m["capital_realized_usd"] == approx(50.0)


def test_a_split_then_a_sell_then_a_redeem(metrics):
    fills = metrics["_fills"]
    legs = fills[fills["wallet_address"] == W5].sort_values(["token_id", "fill_seq"])
    assert legs["event_kind"].tolist() == ["split", "trade", "split"]  # F1: split, sell; F2: split
    f1_sell = legs[(legs["token_id"] == "61") & (legs["side"] == "SELL")].iloc[0]
    assert f1_sell["avg_cost_before"] == approx(0.5) and f1_sell["realized_pnl_usd"] == approx(100 * (0.30 - 0.50))
    assert f1_sell["unknown_cost_shares"] == approx(0.0)  # the split's shares are on record

    p = metrics["_positions"]
    assert p.loc[(W5, "61"), "realized_pnl_usd"] == approx(-20.0) and p.loc[(W5, "61"), "bought_usd"] == approx(50.0)
    assert p.loc[(W5, "62"), "realized_pnl_usd"] == approx(100 * 1.0 - 50.0)
    assert p.loc[(W5, "62"), "outcome"] == "won"
    m = metrics[W5]
    assert m["realized_pnl_usd"] == approx(30.0)  # 100 back + 30 for F1 − 100 for the set
    assert m["capital_realized_usd"] == approx(50.0 + 50.0)

    r = metrics["_redemptions"].set_index(["wallet_address", "condition_id"]).loc[(W5, cid(6))]
    assert (r["redeemed_shares"], r["redeemed_usd"], r["recorded_shares"]) == (approx(130.0), approx(130.0),
                                                                               approx(100.0))
    assert r["unknown_cost_shares_redeemed"] == approx(30.0) and r["unknown_cost_payout_usd"] == approx(30.0)
    assert bool(r["resolution_known"])


def test_converted_shares_are_held_at_no_known_cost(metrics):
    p = metrics["_positions"]
    g1, g2 = p.loc[(W6, "71")], p.loc[(W6, "72")]
    assert g1["converted_in_shares"] == approx(40.0) and g1["unknown_cost_shares"] == approx(60.0)
    assert g1["unknown_cost_shares_held"] == approx(0.0) and g1["realized_pnl_usd"] == approx(0.0)
    assert g1["outcome"] == "unknown" and bool(g1["is_closed"])
    assert g2["unknown_cost_shares_held"] == approx(10.0) and g2["open_shares"] == approx(0.0)
    assert g2["outcome"] == "unknown" and not bool(g2["is_closed"])  # shares still held
    assert (p["unknown_cost_shares_held"] >= 0).all()
    assert W6 not in {r["wallet_address"] for r in metrics["_realizations"].to_dict("records")}
