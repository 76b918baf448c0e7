"""Each behaviour detector on a wallet built to trip it and a near-miss built not to, through
the real dbt project on both backends, with the measurements that decide it worked out below.

Markets (one per category; all resolve at 12:00 UTC on the closing day):
  K1 politics  101 Yes / 102 No   closes 2026-03-20, Yes wins
  K2 crypto    201 / 202          closes 2026-03-25, No wins
  K3 sports    301 / 302          closes 2026-04-10, Yes wins
  K4 tech      401 / 402          open (closes 2026-06-30)
  K5 economics 501 / 502          closes 2026-04-20, Yes wins
  K6 world     601 / 602          closes 2026-04-25, Yes wins
Six categories are traded, so categories_available = 6. As of 2026-04-30; the data starts
2026-03-01 00:00 (the first fill, by MM).

Market making
  MM   50 round trips in K4: BUY 100 @ 0.50 every 12 h from 03-01 00:00, each sold 100 @ 0.49
       a minute short of 36 h later — it holds inventory for a day and a half, and loses the
       spread. Exposure peaks at 300 (three round trips open); added = removed = 5,000 →
       flow_balance 1, net 0, turnover 10,000 / (2 × 300) = 16.7; 100 fills.
  SW   near-miss, a swing trader scaling in and out: in each of K1, K2, K3, K5, K6, 10 BUYs of
       20 shares @ 0.50 a day apart, then 10 SELLs of 20 @ 0.52 a day apart, all before close.
       flow_balance 1 and net 0 like a maker, but the peak is the whole 200 it bought:
       turnover = 2000 / (2 × 1000) = 1.0 < 1.4 — one cycle per market, a view, not a quote.
Wash trading
  WA, WB, WC  a ring: 6 cycles in K4, each: WA BUYs 50 @ 0.40 from the market, sells them to WB
       (one transaction), WB to WC (60 s later, another transaction each side), WC back to WA
       (one transaction), then WA SELLs 50 @ 0.40 to the market. Each pair crosses 6 times.
       WA: 24 fills of 20 USD, 12 of them crossed (6 bought from WC, 6 sold to WB) → share 0.5,
       circularity 1; WB and WC: all 12 fills crossed → share 1, circularity 1.
  WD, WE  near-miss, ordinary counterparties: WD sells 70 @ 0.60 of K1 Yes to WE once.
  WF, WG  near-miss, one way: WF sells 30 @ 0.45 of K2 No to WG four times (a taker hitting the
       same maker): a repeated pair, but WF only sells and WG only buys (circularity 0).
New wallets and insiders
  WI   insider: two 20-USD BUYs (K1 Yes 03-05, K2 No 03-08), then on 04-09 12:00 — 24 h before
       K3 closes — BUYs 10,000 Yes @ 0.30 (3,000 USD), which wins. First seen 03-05, within 7
       days of the data's start, so its age is unknown; 2 earlier fills → thin history.
       insider_like_bet_usd 3000, volume share 3000 / 3040.
  WS   near-miss, a seasoned wallet making the same late bet: 30 BUYs of 400 @ 0.50 (200 USD)
       in K4 from 03-02, then the 3,000-USD bet: 30 earlier fills, 6,000 USD earlier → not thin.
  WN   new wallet: first seen 03-20 (age known), BUYs 4,000 K5 Yes @ 0.50 (2,000 USD) on 03-22,
       2 days old → new_wallet_bet_usd 2000, share 1.
  WO   near-miss: first seen 03-20 with a 10-USD BUY, the 2,000-USD bet on 04-05 (16 days old,
       15 days before K5 closes): neither new nor late.
Luck
  WL   3 winning BUYs at 0.80, 800 USD each (K1 Yes, K2 No, K5 Yes): P&L 600; null variance
       3 × 800² × 0.2 / 0.8 = 480,000 → z = 600 / 692.82 = 0.866 < 2.33 with 3 trades.
  WL2  near-miss: the same 3 winners bought at 0.10, 100 USD each: P&L 2,700; null variance
       3 × 100² × 9 = 270,000 → z = 5.196: three 10 % shots in a row are not luck.
Specialization
  WG1  100 USD in each of the six categories, every one lost (K1 No, K2 Yes, K3 No, K5 No,
       K6 No) except K4 (open) → effective categories 6, breadth 1, best category z < 0.
  WG2  near-miss: the same spread, but K1 Yes bought at 0.20 (won: P&L 400, z = 400 /
       √(100² × 4) = 2.0 in politics).
  WSP  near-miss, a specialist: five 20-USD BUYs of K1 Yes @ 0.50 → breadth 1 / 6.
"""

import json
import math
from datetime import datetime, timezone

import pytest

from polycopy.polymarket.markets import Market, resolve_market
from polycopy.polymarket.schema import Trade, trade_key
from polycopy.scoring.formulas import market_maker_evidence, red_flags
from tests.dbt_fixture import dbt_build, fixture_warehouse

AS_OF = "2026-04-30"
H, D = 3600, 86400
NAMES = "MM SW WA WB WC WD WE WF WG WI WS WN WO WL WL2 WG1 WG2 WSP".split()
W = {n: "0x" + f"{i + 1:02x}" * 20 for i, n in enumerate(NAMES)}


def ts(s: str) -> int:
    return int(datetime.fromisoformat(s).replace(tzinfo=timezone.utc).timestamp())


T0 = ts("2026-03-01T00:00:00")
MARKETS = {  # name: (category, closes, winning outcome index or None if open)
    "K1": ("politics", "2026-03-20T12:00:00", 0),
    "K2": ("crypto", "2026-03-25T12:00:00", 1),
    "K3": ("sports", "2026-04-10T12:00:00", 0),
    "K4": ("tech", "2026-06-30T12:00:00", None),
    "K5": ("economics", "2026-04-20T12:00:00", 0),
    "K6": ("world", "2026-04-25T12:00:00", 0),
}


def cid(m: str) -> str:
    return "0x" + f"{int(m[1:]):064x}"


def token(m: str, k: int) -> str:
    return f"{int(m[1:])}0{k + 1}"


def market(name: str) -> Market:
    category, closes, winner = MARKETS[name]
    closed = winner is not None
    prices = json.dumps(["1", "0"] if winner == 0 else ["0", "1"]) if closed else json.dumps(["0.5", "0.5"])
    return Market(cid(name), name[1:], f"{name}?", name.lower(), category, None, T0 - 30 * D, ts(closes), closed,
                  ts(closes) if closed else None, "resolved" if closed else None, json.dumps(["Yes", "No"]), prices,
                  json.dumps([token(name, 0), token(name, 1)]), "v1", False, 0.01, 5, None, None,
                  category_tag=category, tags=json.dumps([[name[1:], category, category.title(), "event"]]))


FILLS: list[tuple] = []  # wallet, unix time, side, market, outcome index, shares, price, transaction


def fill(who, at, side, m, k, shares, price, txn=None):
    FILLS.append((W[who], at, side, m, k, shares, price, txn or f"t{len(FILLS)}"))


# Market making
for j in range(50):
    fill("MM", T0 + j * 12 * H, "BUY", "K4", 0, 100, 0.50)
    fill("MM", T0 + j * 12 * H + 36 * H - 60, "SELL", "K4", 0, 100, 0.49)
for i, m in enumerate(("K1", "K2", "K3", "K5", "K6")):
    start = T0 + i * H
    for j in range(10):
        fill("SW", start + j * D, "BUY", m, 0, 20, 0.50)
        fill("SW", start + (10 + j) * D, "SELL", m, 0, 20, 0.52)
# Wash trading: a ring of three
for c in range(6):
    t = ts("2026-03-02T00:00:00") + c * D
    fill("WA", t, "BUY", "K4", 0, 50, 0.40)
    for seller, buyer, dt, same in (("WA", "WB", 60, True), ("WB", "WC", 120, False), ("WC", "WA", 240, True)):
        txn = f"ring{c}{seller}"
        fill(seller, t + dt, "SELL", "K4", 0, 50, 0.40, txn)
        fill(buyer, t + dt + (0 if same else 60), "BUY", "K4", 0, 50, 0.40, txn if same else txn + "b")
    fill("WA", t + 600, "SELL", "K4", 0, 50, 0.40)
fill("WD", ts("2026-03-03T10:00:00"), "BUY", "K1", 0, 70, 0.55)
fill("WD", ts("2026-03-06T10:00:00"), "SELL", "K1", 0, 70, 0.60, "dx")
fill("WE", ts("2026-03-06T10:00:00"), "BUY", "K1", 0, 70, 0.60, "dx")
fill("WF", ts("2026-03-02T09:00:00"), "BUY", "K2", 1, 120, 0.40)
for j in range(4):
    at = ts("2026-03-04T09:00:00") + j * D
    fill("WF", at, "SELL", "K2", 1, 30, 0.45, f"fg{j}")
    fill("WG", at + 30, "BUY", "K2", 1, 30, 0.45, f"fg{j}b")
# New wallets and insiders
fill("WI", ts("2026-03-05T10:00:00"), "BUY", "K1", 0, 40, 0.50)
fill("WI", ts("2026-03-08T10:00:00"), "BUY", "K2", 1, 40, 0.50)
fill("WI", ts("2026-04-09T12:00:00"), "BUY", "K3", 0, 10_000, 0.30)
for j in range(30):
    fill("WS", ts("2026-03-02T10:00:00") + j * D, "BUY", "K4", 1, 400, 0.50)
fill("WS", ts("2026-04-09T12:00:00"), "BUY", "K3", 0, 10_000, 0.30)
fill("WN", ts("2026-03-20T10:00:00"), "BUY", "K5", 0, 20, 0.50)
fill("WN", ts("2026-03-22T10:00:00"), "BUY", "K5", 0, 4_000, 0.50)
fill("WO", ts("2026-03-20T10:00:00"), "BUY", "K6", 1, 20, 0.50)
fill("WO", ts("2026-04-05T10:00:00"), "BUY", "K5", 0, 4_000, 0.50)
# Luck
for m, k in (("K1", 0), ("K2", 1), ("K5", 0)):
    fill("WL", ts("2026-03-10T10:00:00"), "BUY", m, k, 1_000, 0.80)
    fill("WL2", ts("2026-03-10T10:00:00"), "BUY", m, k, 1_000, 0.10)
# Specialization
for m, lose_k in (("K1", 1), ("K2", 0), ("K3", 1), ("K4", 0), ("K5", 1), ("K6", 1)):
    fill("WG1", ts("2026-03-11T10:00:00"), "BUY", m, lose_k, 200, 0.50)
    if m == "K1":
        fill("WG2", ts("2026-03-11T10:00:00"), "BUY", m, 0, 500, 0.20)
    else:
        fill("WG2", ts("2026-03-11T10:00:00"), "BUY", m, lose_k, 200, 0.50)
for j in range(5):
    fill("WSP", ts("2026-03-12T10:00:00") + j * H, "BUY", "K1", 0, 40, 0.50)


def trade(wallet, at, side, m, k, shares, price, txn) -> Trade:
    tok = token(m, k)
    h = "0x" + txn.encode().hex().rjust(64, "0")
    return Trade(trade_key(h, wallet, tok, side, shares, price), h, wallet, side, tok, cid(m), float(shares), price,
                 shares * price, at, None, k, None, None, None, None, None, "v1")


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def metrics(request, tmp_path_factory):
    wh, env, tmp_path = fixture_warehouse(request, tmp_path_factory)
    markets = [market(n) for n in MARKETS]
    wh.upsert_markets(markets, [], "test")
    days = sorted({datetime.fromtimestamp(f[1], tz=timezone.utc).date() for f in FILLS})
    wh.replace_trade_partitions(days, [trade(*f) for f in FILLS], [], "test")
    res_days = sorted({datetime.fromtimestamp(ts(MARKETS[m][1]), tz=timezone.utc).date() for m in MARKETS})
    wh.replace_resolution_partitions(res_days, [r for m in markets for r in (resolve_market(m) or [])], [], "test")
    dbt_build(env, tmp_path, AS_OF)
    rows = wh.query_df("select * from marts.wallet_metrics")
    out = {r["wallet_address"]: r for r in rows.to_dict("records")}
    out["_pairs"] = wh.query_df("select * from intermediate.int_wallet_pairs")
    return out


def approx(x):
    return pytest.approx(x, rel=1e-9, abs=1e-9)


def flags(metrics, who) -> dict:
    return red_flags(metrics[W[who]])


def test_market_maker_by_behaviour_not_by_hold_time(metrics):
    m = metrics[W["MM"]]
    assert m["trade_count"] == 100
    assert m["flow_balance"] == approx(1.0) and m["net_position_ratio"] == approx(0.0)
    assert m["inventory_turnover"] == approx(10_000 / (2 * 300))
    assert m["avg_hold_seconds"] > 3600  # holds for 36 h: the old hold-time filter missed it
    assert market_maker_evidence(m) == {"trade_count": 100, "flow_balance": approx(1.0),
                                        "inventory_turnover": approx(m["inventory_turnover"]),
                                        "net_position_ratio": approx(0.0)}
    sw = metrics[W["SW"]]
    assert sw["trade_count"] == 100 and sw["flow_balance"] == approx(1.0) and sw["net_position_ratio"] == approx(0.0)
    assert sw["inventory_turnover"] == approx(1.0)  # one cycle per market
    assert market_maker_evidence(sw) is None
    assert sw["two_sided_markets"] == 5


def test_wash_ring_by_repeated_circular_crossings(metrics):
    pairs = metrics["_pairs"].set_index(["wallet_a", "wallet_b"])
    ring = sorted([W["WA"], W["WB"], W["WC"]])
    for a, b in ((ring[0], ring[1]), (ring[0], ring[2]), (ring[1], ring[2])):
        assert pairs.loc[(a, b), "crossings"] == 6
    assert pairs.loc[(W["WA"], W["WB"]), "same_transaction_crossings"] == 6
    a, b, c = (metrics[W[n]] for n in ("WA", "WB", "WC"))
    assert a["trade_count"] == 24 and a["wash_volume_share"] == approx(0.5) and a["wash_circularity"] == approx(1.0)
    assert a["wash_partners"] == 2
    for x in (b, c):
        assert x["wash_volume_share"] == approx(1.0) and x["wash_circularity"] == approx(1.0)
    for who in ("WA", "WB", "WC"):
        f = flags(metrics, who)["WASH_TRADING_DETECTED"]
        assert f["wash_volume_share"] >= 0.5 and f["wash_circularity"] == approx(1.0)
    # One crossing is an ordinary match; a repeated pair that only goes one way is a taker and a maker.
    assert pairs.loc[tuple(sorted([W["WD"], W["WE"]])), "crossings"] == 1
    assert pairs.loc[tuple(sorted([W["WF"], W["WG"]])), "crossings"] == 4
    assert pairs.loc[tuple(sorted([W["WF"], W["WG"]])), "circularity"] == approx(0.0)
    for who in ("WD", "WE"):
        assert metrics[W[who]]["wash_volume_share"] == approx(0.0) and "WASH_TRADING_DETECTED" not in flags(metrics, who)
    assert metrics[W["WF"]]["wash_circularity"] == approx(0.0) and metrics[W["WG"]]["wash_circularity"] == approx(0.0)
    assert "WASH_TRADING_DETECTED" not in flags(metrics, "WF") and "WASH_TRADING_DETECTED" not in flags(metrics, "WG")


def test_insider_and_new_wallet_at_the_time_of_each_bet(metrics):
    i = metrics[W["WI"]]
    assert i["insider_like_bet_usd"] == approx(3000.0) and i["insider_like_volume_share"] == approx(3000 / 3040)
    assert i["insider_like_hours_before_close"] == approx(24.0) and i["insider_like_prior_fills"] == 2
    assert i["new_wallet_bet_usd"] is None or math.isnan(i["new_wallet_bet_usd"])  # first seen too early to know its age
    assert flags(metrics, "WI")["INSIDER_PATTERN"]["insider_like_bet_usd"] == approx(3000.0)
    s = metrics[W["WS"]]  # the same bet on a long history
    assert (s["insider_like_bet_usd"] is None or math.isnan(s["insider_like_bet_usd"])
            or s["insider_like_volume_share"] < 0.5)
    assert "INSIDER_PATTERN" not in flags(metrics, "WS") and "NEW_WALLET_LARGE_BET" not in flags(metrics, "WS")
    n = metrics[W["WN"]]
    assert n["new_wallet_bet_usd"] == approx(2000.0) and n["new_wallet_volume_share"] == approx(1.0)
    assert flags(metrics, "WN")["NEW_WALLET_LARGE_BET"] == {"new_wallet_bet_usd": approx(2000.0),
                                                            "new_wallet_volume_share": approx(1.0)}
    o = metrics[W["WO"]]  # 16 days old, 15 days before the close
    assert o["new_wallet_bet_usd"] == approx(10.0)  # only its first 10-USD trade was made while new
    assert "NEW_WALLET_LARGE_BET" not in flags(metrics, "WO") and "INSIDER_PATTERN" not in flags(metrics, "WO")


def test_luck_is_a_record_the_prices_explain(metrics):
    lucky = metrics[W["WL"]]
    assert lucky["edge_null_z"] == approx(600 / math.sqrt(3 * 800 ** 2 * 0.2 / 0.8))
    assert lucky["pricing_edge"] == approx(600 / 2400)
    assert flags(metrics, "WL")["LUCK_NOT_SKILL"] == {"trade_count": 3, "edge_null_z": approx(lucky["edge_null_z"])}
    long_shots = metrics[W["WL2"]]
    assert long_shots["edge_null_z"] == approx(2700 / math.sqrt(3 * 100 ** 2 * 0.9 / 0.1))
    assert "LUCK_NOT_SKILL" not in flags(metrics, "WL2")


def test_specialization_relative_to_the_categories_there_are(metrics):
    g1, g2, sp = (metrics[W[n]] for n in ("WG1", "WG2", "WSP"))
    assert g1["categories_available"] == 6
    assert g1["effective_categories"] == approx(6.0) and g1["category_breadth"] == approx(1.0)
    assert g1["best_category_edge_z"] < 0
    assert flags(metrics, "WG1")["NO_SPECIALIZATION"]["category_breadth"] == approx(1.0)
    assert g2["best_category_edge_z"] == approx(400 / math.sqrt(100 ** 2 * 0.8 / 0.2))  # its politics win
    assert "NO_SPECIALIZATION" not in flags(metrics, "WG2")
    assert sp["category_breadth"] == approx(1 / 6) and "NO_SPECIALIZATION" not in flags(metrics, "WSP")
