"""The v1 routes stay as the fallback: against a host that does not serve the /v2 and
keyset routes, the clients read the same trades, activity and markets by offset."""

import numpy as np
import pytest

from polycopy.ingest import fetch_markets, fetch_trades_window, fetch_wallet_activity
from polycopy.polymarket.clients import Endpoints, PolymarketClients
from polycopy.sim.server import SimVenue, VenueServer


class V1OnlyVenue(SimVenue):
    """A host from before the /v2 generation: its keyset routes answer 404."""

    def trades_v2(self, q):
        return 404, {"error": "no route /v2/trades"}

    def activity_v2(self, q):
        return 404, {"error": "no route /v2/activity"}

    def markets_keyset(self, q, multi):
        return 404, {"error": "no route /markets/keyset"}

    def events_keyset(self, q, multi):
        return 404, {"error": "no route /events/keyset"}


@pytest.fixture()
def hosts(small_world):
    servers = [VenueServer(SimVenue(small_world)).start(), VenueServer(V1OnlyVenue(small_world)).start()]
    yield [s.url for s in servers]
    for s in servers:
        s.stop()


def test_v1_fallback_reads_what_the_keyset_routes_read(hosts, small_world):
    w = small_world
    start, end = w.config.history_start_ts, w.config.history_end_ts + 1
    busiest = w.trades["market_idx"].value_counts().index[:5]
    cids = list(w.markets["condition_id"].to_numpy()[busiest])
    wallet = w.wallets["address"].iat[int(w.activity["wallet_idx"].value_counts().index[0])]
    got = {}
    for url in hosts:
        with PolymarketClients.connect(Endpoints.single_host(url), page_size=100) as c:
            trades = fetch_trades_window(c, cids, start, end)
            markets, _, stats = fetch_markets(c)
            activity = fetch_wallet_activity(c, [wallet], start, end)
            got[url] = (trades, markets, stats, activity)
    (t2, m2, s2, a2), (t1, m1, s1, a1) = got[hosts[0]], got[hosts[1]]
    assert t2.stats["records_v2"] > 0 and t2.stats["records_v1"] == 0
    assert t1.stats["records_v1"] > 0 and t1.stats["records_v2"] == 0
    assert set(t1.trades) == set(t2.trades) and len(t2.trades) > 100
    assert {m.condition_id: m.tokens for m in m1} == {m.condition_id: m.tokens for m in m2}
    # Without /events the v1 host gives no event tags: more markets stay "unknown".
    assert s1["events_seen"] == 0 < s2["events_seen"]
    assert s1["markets_unknown_category"] >= s2["markets_unknown_category"]
    assert a2.stats["records_v2"] > 0 and a1.stats["records_v1"] > 0
    assert set(a1.events) == set(a2.events) and len(a2.events) > 3
    assert {e.type for e in a2.events.values()} > {"TRADE"}
    assert np.isclose(sum(e.usdc_size for e in a1.events.values()), sum(e.usdc_size for e in a2.events.values()))
