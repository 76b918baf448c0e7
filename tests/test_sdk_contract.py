"""Contract test: Polymarket's official SDK (polymarket-client) reads every route polycopy
ingests from the simulated venue, in its own models, with no error — and sees the same
records our clients ingest."""

import dataclasses

import numpy as np
import pytest

from polycopy.polymarket.categories import parse_tags
from polycopy.polymarket.clients import Endpoints, PolymarketClients
from polycopy.polymarket.schema import parse_trade
from polycopy.sim.server import running_venue

# polymarket-client is a test dependency (pyproject [test]): a missing SDK fails the suite.
from polymarket import PRODUCTION, PublicClient
# The SDK has no public way to point it at other hosts; this is its own factory.
from polymarket._internal.environment import create_environment, get_environment_config


@pytest.fixture(scope="module")
def sdk_and_venue(small_world):
    with running_venue(world=small_world) as venue:
        cfg = dataclasses.replace(get_environment_config(PRODUCTION), data_url=venue.url, gamma_url=venue.url,
                                  clob_url=venue.url, rfq_url=venue.url)
        client = PublicClient(create_environment(name="sim", config=cfg))
        yield client, venue


def test_sdk_reads_trades_of_a_market_as_our_ingestion_does(sdk_and_venue, small_world):
    client, venue = sdk_and_venue
    w = small_world
    # The SDK rejects a whole page that holds one malformed record (ingestion keeps such a
    # record aside): read the busiest market the venue serves no malformed record of.
    dirty = set(w.trades["market_idx"].to_numpy()[w.malformed["template_trade_idx"].to_numpy()])
    counts = w.trades["market_idx"].value_counts()
    busiest = int(next(m for m in counts.index if m not in dirty))
    cid = w.markets["condition_id"].iat[busiest]
    sdk = list(client.list_trades(condition_id=cid, page_size=50).iter_items())
    start, end = w.config.history_start_ts, w.config.history_end_ts + 1
    with PolymarketClients.connect(Endpoints.single_host(venue.url), page_size=50) as ours:
        pages = list(ours.data.iter_market_trades(cid, start, end))
    assert all(p.shape == "v2" for p in pages) and len(pages) > 1  # the keyset route, several pages
    mine = [parse_trade(r) for p in pages for r in p.records]
    expected = int(((w.trades["market_idx"] == busiest) & (w.trades["ts"] < end)).sum())
    assert len(sdk) >= expected > 50
    key = lambda t: (t.transaction_hash, t.proxy_wallet, t.token_id, t.side, round(float(t.size), 6))  # noqa: E731
    assert {key(t) for t in mine} <= {(t.transaction_hash, t.wallet, t.asset_id, t.side, round(float(t.size), 6))
                                      for t in sdk}


def test_sdk_reads_every_activity_type(sdk_and_venue, small_world):
    client, _ = sdk_and_venue
    a = small_world.activity
    kinds = {}
    for kind in ("SPLIT", "MERGE", "REDEEM", "CONVERSION", "REWARD", "MAKER_REBATE"):
        wallet = small_world.wallets["address"].iat[int(a.loc[a["type"] == kind, "wallet_idx"].iloc[0])]
        rows = list(client.list_activity(user=wallet, page_size=100).iter_items())
        kinds[kind] = {type(r).__name__ for r in rows}
    seen = set().union(*kinds.values())
    assert {"TradeActivity", "SplitActivity", "MergeActivity", "RedeemActivity", "ConversionActivity",
            "RewardActivity", "MakerRebateActivity"} <= seen, kinds
    assert "UnknownActivity" not in seen


def test_sdk_reads_markets_and_events_with_their_tags(sdk_and_venue, small_world):
    client, venue = sdk_and_venue
    closed = list(client.list_markets(closed=True, include_tag=True, page_size=40).iter_items())
    open_ = list(client.list_markets(closed=False, include_tag=True, page_size=40).iter_items())
    now = small_world.config.history_end_ts
    m = small_world.markets
    assert len(closed) == int(((m["open_ts"] <= now) & (m["closed_ts"] <= now)).sum())
    assert len(open_) == int(((m["open_ts"] <= now) & (m["closed_ts"] > now)).sum())
    assert any(x.tags for x in closed + open_)
    events = list(client.list_events(closed=False, page_size=20).iter_items())
    events += list(client.list_events(closed=True, page_size=20).iter_items())
    assert events and all(e.tags for e in events[:10])
    assert {mk.condition_id for e in events for mk in e.markets} == {x.condition_id for x in closed + open_}
    # The tags the SDK reads are the ones polycopy maps to categories.
    with PolymarketClients.connect(Endpoints.single_host(venue.url)) as ours:
        recs = [r for p in ours.gamma.iter_markets(closed=True) for r in p]
    by_cid = {x.condition_id: {t.slug for t in x.tags} for x in closed}
    for rec in recs:
        assert {t.slug for t in parse_tags(rec)} == by_cid[rec["conditionId"]]


def test_sdk_reads_books_prices_and_history(sdk_and_venue, small_world):
    client, _ = sdk_and_venue
    m = small_world.markets
    now = small_world.config.history_end_ts
    live = m[(m["open_ts"] <= now - 2 * 86_400) & (m["closed_ts"] > now)]
    token = str(live["token0"].iat[0])
    book = client.get_order_book(token_id=token)
    assert book.bids and book.asks and book.bids[-1].price < book.asks[-1].price
    mid = client.get_midpoint(token_id=token)
    assert book.bids[-1].price < mid < book.asks[-1].price
    assert client.get_spread(token_id=token) == book.asks[-1].price - book.bids[-1].price
    assert client.get_price(token_id=token, side="BUY") == book.asks[-1].price
    history = list(client.list_price_history(asset_id=token, interval="1d").iter_items())
    assert len(history) >= 20 and all(0 <= float(p.price) <= 1 for p in history)
    assert np.isclose(float(history[-1].price), small_world.token_price(int(live.index[0]), 0, now), atol=0.01)
