"""The set-based position walk (int_trade_outcomes) against a ledger written the plain
way, one fill after another, on a market maker's long position: thousands of fills that
trade in and out without ever going flat, sell-outs, sells beyond the shares on record,
and shares of unknown cost arriving by conversion.

The walk decays the cost of a position in log space, in bands; this history decays it
by thousands of nats (each sell of 99 % of the position is 4.6), far past where a single
exp() would overflow.
"""

import json
import math
import random
from datetime import datetime, timezone

import pytest

from polycopy.polymarket.markets import Market
from polycopy.polymarket.schema import ActivityEvent, Trade, trade_key
from tests.dbt_fixture import dbt_build, fixture_warehouse

WALLET = "0x" + "7" * 40
CONDITION = "0x" + f"{77:064x}"
TOKENS = ("771", "772")
START = int(datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp())


def _history(n_fills: int, seed: int = 11):
    """(trades, conversions): fills on token 771 a minute apart."""
    rng = random.Random(seed)
    held = 0.0
    trades, conversions = [], []
    for i in range(n_fills):
        t = START + 60 * i
        price = round(rng.uniform(0.05, 0.95), 3)
        # The second half never goes flat: one stretch of cost decaying over a thousand sells.
        roll = rng.random() if i < n_fills // 2 else rng.random() * 0.9
        if held <= 1 or roll < 0.45:
            side, shares = "BUY", round(rng.uniform(1, 500), 2)
            held += shares
        elif roll < 0.9:  # most of the position, never all of it
            side, shares = "SELL", max(math.floor(held * rng.uniform(0.5, 0.99) * 100) / 100, 0.01)
            held = max(held - shares, 0.0)
        elif roll < 0.95:  # all of it: the cost starts again from zero
            side, shares = "SELL", round(held, 2)
            held = 0.0
        elif roll < 0.98:  # more than on record: shares from before the history
            side, shares = "SELL", round(held + rng.uniform(1, 50), 2)
            held = 0.0
        else:
            conversions.append(ActivityEvent(f"conv{i}", "CONVERSION", WALLET, CONDITION, TOKENS[0], 0,
                                             round(rng.uniform(1, 30), 2), 0.0, t, "0x" + f"{i:064x}", None, None,
                                             None, "v1"))
            continue
        txh = "0x" + f"{i:064x}"
        trades.append(Trade(trade_key(txh, WALLET, TOKENS[0], side, shares, price), txh, WALLET, side, TOKENS[0],
                            CONDITION, shares, price, shares * price, t, None, 0, None, None, None, None, None, "v1"))
    return trades, conversions


def _plain_ledger(trades, conversions):
    """{trade_key: (shares_after, cost_after, unknown_after)}: the average-cost ledger, one
    event at a time (a SELL realizes against the average; beyond the shares on record it
    draws on shares of unknown cost)."""
    events = sorted([(t.timestamp, 1 if t.side == "SELL" else 0, t) for t in trades]
                    + [(c.timestamp, 0, c) for c in conversions], key=lambda e: (e[0], e[1]))
    shares = cost = unknown = 0.0
    out = {}
    for _, _, e in events:
        if isinstance(e, ActivityEvent):
            unknown += e.size
            continue
        if e.side == "BUY":
            shares, cost = shares + e.size, cost + e.size * e.price
        elif e.size >= shares:
            unknown = max(unknown - (e.size - shares), 0.0)
            shares = cost = 0.0
        else:
            shares, cost = shares - e.size, cost - e.size * cost / shares
        out[e.trade_key] = (shares, cost, unknown)
    return out


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def walked(request, tmp_path_factory):
    wh, env, tmp_path = fixture_warehouse(request, tmp_path_factory)
    trades, conversions = _history(4000)
    wh.upsert_markets([Market(CONDITION, "77", "M77?", "m77", "crypto", None, START - 86400, START + 90 * 86400,
                              False, None, None, json.dumps(["Yes", "No"]), json.dumps(["0.5", "0.5"]),
                              json.dumps(list(TOKENS)), "v1", False, 0.01, 5, None, None,
                              category_tag="crypto", tags="[]")], [], "test")
    days = sorted({datetime.fromtimestamp(t.timestamp, tz=timezone.utc).date() for t in trades})
    wh.replace_trade_partitions(days, trades, [], "test")
    with wh.activity_partition_writer(days, "test") as w:
        w.add(conversions)
    dbt_build(env, tmp_path, days[-1].isoformat())
    got = wh.query_df("select trade_key, shares_after, cost_after, unknown_cost_shares_held_after "
                      "from intermediate.int_trade_outcomes where event_kind = 'trade'")
    return trades, conversions, got


def test_the_walk_is_the_plain_ledger(walked):
    trades, conversions, got = walked
    want = _plain_ledger(trades, conversions)
    assert len(got) == len(trades)
    for row in got.itertuples(index=False):
        shares, cost, unknown = want[row.trade_key]
        assert row.shares_after == pytest.approx(shares, rel=1e-9, abs=1e-6)
        assert row.cost_after == pytest.approx(cost, rel=1e-9, abs=1e-6)
        assert row.unknown_cost_shares_held_after == pytest.approx(unknown, rel=1e-9, abs=1e-6)


def test_the_history_decays_the_cost_across_many_bands(walked):
    trades, conversions, _ = walked
    events = sorted(trades, key=lambda t: (t.timestamp, t.side == "SELL"))
    decay, shares, longest = 0.0, 0.0, 0.0
    for t in events:
        if t.side == "BUY":
            shares += t.size
        elif t.size >= shares:
            shares, decay = 0.0, 0.0
        else:
            decay += math.log(shares / (shares - t.size))
            shares -= t.size
        longest = max(longest, decay)
    assert longest > 3 * 300  # beyond two bands of 300 nats: exp() alone would overflow past 709
