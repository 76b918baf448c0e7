"""The simulated venue: determinism, archetypes, market kinds, the real routes and shapes."""

import httpx
import pytest
import numpy as np
import pandas as pd

from polycopy.polymarket.markets import parse_market
from polycopy.polymarket.schema import parse_trade
from polycopy.sim import truth
from polycopy.sim.archetypes import ARCHETYPES
from polycopy.sim.world import SimConfig, generate_world
from tests.conftest import SMALL_WORLD


def test_same_seed_same_world_other_seed_other_world(small_world):
    again = generate_world(SMALL_WORLD)
    pd.testing.assert_frame_equal(small_world.trades, again.trades)
    pd.testing.assert_frame_equal(small_world.markets, again.markets)
    assert small_world.tx_hashes == again.tx_hashes
    other = generate_world(SimConfig(**{**SMALL_WORLD.__dict__, "seed": 12}))
    assert not small_world.trades["ts"].equals(other.trades["ts"])


def test_every_archetype_and_market_kind_is_present(small_world):
    w = small_world
    assert set(w.wallets["archetype"]) == set(ARCHETYPES)
    m = w.markets
    assert m["void"].any() and m["early"].any() and (m["version"] == "v2").any() and (m["version"] == "v1").any()
    # Early markets close before their endDate; void ones pay 0.5.
    assert (m.loc[m["early"], "closed_ts"] < m.loc[m["early"], "end_ts"]).all()
    assert (m.loc[m["void"], "winner"] == -1).all()


def test_wallets_never_sell_more_than_they_hold(small_world):
    """Over every movement (served or not), no position goes below zero shares."""
    mv = truth.movements(small_world)
    held = mv.groupby(["wallet_idx", "market_idx", "outcome_index"])["shares"].cumsum()
    assert held.min() >= -1e-6


def test_histories_start_mid_life(small_world):
    """Wallets were trading before the first served day, and shares enter by split,
    conversion and transfer: seen through the served trades alone, positions oversell."""
    w = small_world
    assert len(w.prelude_trades) > 0 and (w.prelude_trades["ts"] < w.config.history_start_ts).all()
    assert (w.trades["ts"] >= w.config.history_start_ts).all()
    assert len(w.transfers) > 0
    assert {"SPLIT", "MERGE", "REDEEM", "CONVERSION", "REWARD", "MAKER_REBATE"} <= set(w.activity["type"])
    t = w.trades
    served = pd.Series(np.where(t["side"] == 0, t["size"], -t["size"])).groupby(
        [t["wallet_idx"], t["market_idx"], t["outcome_index"]]).cumsum()
    assert served.min() < -1.0
    seen = truth.observed_positions(w, activity_wallets=set())
    assert (seen["unknown_cost_shares_sold"] <= seen["unknown_origin_shares"] + 1e-6).all()
    assert seen["unknown_cost_shares_sold"].sum() > 0 and (seen["known_shares_at_end"] >= -1e-9).all()
    # Reading the splits turns their shares into shares of known cost.
    with_activity = truth.observed_positions(w)
    assert with_activity["unknown_origin_shares"].sum() < seen["unknown_origin_shares"].sum()
    # Redeems pay 1 per winning share, 0.5 per share of a void market, never more than the shares.
    r = w.activity[w.activity["type"] == "REDEEM"]
    assert len(r) and (r["usdc_size"] <= r["size"] + 1e-6).all()


def test_prices_move_toward_the_truth(small_world):
    m = small_world.markets
    resolved = m[~m["void"]]
    early = small_world.price_yes(resolved.index, resolved["open_ts"])
    late = small_world.price_yes(resolved.index, resolved["closed_ts"] - 60)
    truth_yes = (resolved["winner"] == 0).astype(float).to_numpy()
    assert np.abs(late - truth_yes).mean() < np.abs(early - truth_yes).mean() - 0.2
    assert np.abs(late - truth_yes).mean() < 0.1


def _held_roi(world, archetypes):
    """ROI of BUYs held to resolution: the pure measure of picking winners vs the price."""
    t, m = world.trades, world.markets
    arch = world.wallets["archetype"].to_numpy()[t["wallet_idx"]]
    buy = t[(t["side"] == 0) & np.isin(arch, archetypes)]
    win = m["winner"].to_numpy()[buy["market_idx"]]
    done = (m["resolved_ts"].to_numpy()[buy["market_idx"]] <= world.config.history_end_ts) & (win >= 0)
    b, w = buy[done], win[done]
    notional = (b["size"] * b["price"]).to_numpy()
    pnl = np.where(b["outcome_index"].to_numpy() == w, b["size"] * (1 - b["price"]), -notional)
    return pnl.sum() / notional.sum()


def test_prices_are_calibrated_and_skill_beats_them(small_world):
    big = generate_world(SimConfig(**{**SMALL_WORLD.__dict__, "seed": 1, "n_markets": 2000}))
    m = big.markets
    rng = np.random.default_rng(0)
    mi = rng.integers(0, len(m), 100_000)
    span = (m["closed_ts"] - m["open_ts"]).to_numpy()[mi]
    ts = (m["open_ts"].to_numpy()[mi] + rng.random(len(mi)) * span).astype(np.int64)
    p = big.price_yes(mi, ts)
    yes = m["winner"].to_numpy()[mi] == 0
    ok = m["winner"].to_numpy()[mi] >= 0
    for lo in (0.0, 0.2, 0.4, 0.6, 0.8):
        sel = ok & (p >= lo) & (p < lo + 0.2)
        assert abs(p[sel].mean() - yes[sel].mean()) < 0.03, lo
    skilled = _held_roi(small_world, ["skilled_specialist", "skilled_generalist"])
    noise = _held_roi(small_world, ["noise"])
    assert skilled > noise + 0.05, (skilled, noise)


def test_routes_serve_real_shapes(venue, small_world):
    url = venue.url
    markets = httpx.get(f"{url}/markets", params={"closed": "true", "limit": 5}).json()
    assert markets and all(isinstance(m["outcomes"], str) and isinstance(m["outcomePrices"], str) for m in markets)
    assert all(parse_market(m).closed for m in markets)
    traded = set(small_world.markets["condition_id"][small_world.trades["market_idx"].unique()])
    cid = next(m["conditionId"] for m in markets if m["conditionId"] in traded)
    page = httpx.get(f"{url}/trades", params={"market": cid, "limit": 3}).json()
    assert len(page) <= 3 and all(parse_trade(r).condition_id == cid for r in page)
    assert [r["timestamp"] for r in page] == sorted((r["timestamp"] for r in page), reverse=True)
    v2 = httpx.get(f"{url}/v2/trades", params={"condition_id": cid, "limit": 2}).json()
    assert set(v2) == {"data", "pagination"} and "proxy_wallet" in v2["data"][0]
    assert httpx.get(f"{url}/trades", params={"offset": 3001}).status_code == 400
    assert httpx.get(f"{url}/v2/trades", params={"offset": 1}).status_code == 400
    wallet = small_world.wallets["address"][0]
    acts = httpx.get(f"{url}/activity", params={"user": wallet, "limit": 5, "sortDirection": "ASC",
                                                 "type": "TRADE"}).json()
    assert acts and all(a["type"] == "TRADE" and "usdcSize" in a for a in acts)
    assert httpx.get(f"{url}/activity").status_code == 400
    # Redeems, splits and merges concern the whole condition: no asset, outcomeIndex 999.
    redeemer = small_world.wallets["address"][int(small_world.activity.loc[
        small_world.activity["type"] == "REDEEM", "wallet_idx"].iloc[0])]
    rows = httpx.get(f"{url}/activity", params={"user": redeemer, "type": "REDEEM", "limit": 500}).json()
    assert rows and all(r["asset"] == "" and r["outcomeIndex"] == 999 and r["usdcSize"] <= r["size"] for r in rows)
    # Gamma serves no category field (real markets have none); tags come with include_tag.
    page = httpx.get(f"{url}/markets/keyset", params={"closed": "true", "include_tag": "true", "limit": 50}).json()
    assert set(page) == {"markets", "next_cursor"} and all("category" not in m for m in page["markets"])
    assert any(m["tags"] for m in page["markets"]) and all(isinstance(t["id"], str) for m in page["markets"]
                                                            for t in m["tags"])
    # A market still open at the venue clock has a book with depth on both sides.
    now = httpx.get(f"{url}/_sim/clock").json()["now"]
    live = small_world.markets[(small_world.markets.open_ts <= now) & (small_world.markets.closed_ts > now)]
    token = str(live.iloc[0]["token0"])
    book = httpx.get(f"{url}/book", params={"token_id": token}).json()
    assert book["bids"] and book["asks"] and float(book["bids"][-1]["price"]) < float(book["asks"][-1]["price"])
    mid = float(httpx.get(f"{url}/midpoint", params={"token_id": token}).json()["mid"])
    assert float(book["bids"][-1]["price"]) < mid < float(book["asks"][-1]["price"])


def test_clock_releases_trades(venue, small_world):
    cfg = small_world.config
    later = small_world.trades[small_world.trades["ts"] > cfg.history_end_ts].iloc[0]
    wallet = small_world.wallets["address"][int(later["wallet_idx"])]
    q = {"user": wallet, "start": int(later["ts"]), "end": int(later["ts"]), "limit": 500}
    assert httpx.get(f"{venue.url}/activity", params=q).json() == []
    httpx.post(f"{venue.url}/_sim/clock", json={"set": int(later["ts"])})
    assert len(httpx.get(f"{venue.url}/activity", params=q).json()) >= 1


def test_ground_truth_export(small_world, tmp_path):
    out = truth.export_truth(small_world, tmp_path / "truth")
    wallets = pd.read_csv(out / "wallets.csv")
    trades = pd.read_csv(out / "trades.csv", dtype={"token_id": str})
    pnl = pd.read_csv(out / "realized_pnl.csv")
    assert len(wallets) == len(small_world.wallets) and set(wallets["archetype"]) == set(ARCHETYPES)
    assert len(trades) == (small_world.trades["ts"] <= small_world.config.history_end_ts).sum()
    assert trades["trade_key"].is_unique
    assert len(pnl) == len(wallets) and np.isfinite(pnl["realized_pnl"]).all()


def test_realized_pnl_by_average_cost():
    """Hand-checked: buy 100 @ 0.40, buy 100 @ 0.60, sell 50 @ 0.70, then the token wins.
    Average cost 0.50: the sell realizes 50 × (0.70 − 0.50) = 10; the 150 left settle at 1:
    150 × 1 − 75 = 75. Total 85 USD."""
    w = generate_world(SimConfig(**{**SMALL_WORLD.__dict__, "n_trades": 500}))
    mi = int(w.markets.index[(w.markets["winner"] == 0)
                             & (w.markets["resolved_ts"] <= w.config.history_end_ts)][0])
    t0 = int(w.markets.at[mi, "open_ts"]) + 10
    rows = [(t0, 0, 100.0, 0.40), (t0 + 1, 0, 100.0, 0.60), (t0 + 2, 1, 50.0, 0.70)]
    w.trades = pd.DataFrame({
        "trade_idx": range(3), "ts": [r[0] for r in rows], "wallet_idx": 0, "market_idx": mi, "outcome_index": 0,
        "side": np.array([r[1] for r in rows], dtype=np.int8), "size": [r[2] for r in rows],
        "price": [r[3] for r in rows], "tx_idx": range(3), "partial": False})
    pnl = truth.realized_pnl(w).set_index("proxy_wallet")["realized_pnl"]
    assert pnl.iloc[0] == pytest.approx(85.0)
    assert (pnl.iloc[1:] == 0).all()


def test_in_process_clients_answer_as_over_http_and_remembered_histories_are_exact(venue, small_world):
    """The backtest's in-process clients read what the HTTP clients read, and a client that
    remembers histories (fetching only their tails) returns what fresh fetches return while
    the window walks forward through a market's life, its close included."""
    from polycopy.polymarket.clients import Endpoints, PolymarketClients
    from polycopy.sim.server import SimVenue, in_process_clients

    sim = SimVenue(small_world)
    plain = in_process_clients(sim)
    remembering = in_process_clients(sim, remember_histories=True)
    m = small_world.markets
    life = np.where(m.closed_ts < small_world.config.history_end_ts - 3 * 86_400, m.closed_ts - m.open_ts, 0)
    mi = int(np.argmax(life))  # the longest-lived market that closed before the venue's clock stops
    token = str(m.token1.iat[mi])
    start, close = int(m.open_ts.iat[mi]), int(m.closed_ts.iat[mi])
    checked, latest = 0, 0
    for now in range(start + 3 * 86_400, close + 2 * 86_400, 15_413):  # steps off the hour grid
        sim.clock.set(now)
        for days, fidelity in ((30, 60), (7, 60), (2, 5)):
            fresh = plain.clob.prices_history(token, now - days * 86_400, now, fidelity)
            held = remembering.clob.prices_history(token, now - days * 86_400, now, fidelity)
            assert held.points == fresh.points and list(held.points) == sorted(held.points)
            checked += bool(fresh.points)
            latest = max([latest, *fresh.points])
    assert checked > 100 and close - 3_600 < latest <= close
    # A window reaching further back than any before is fetched whole again.
    wide = remembering.clob.prices_history(token, start - 86_400, close, 60)
    assert wide.points == plain.clob.prices_history(token, start - 86_400, close, 60).points
    assert min(wide.points) < start + 2 * 3_600
    # Over HTTP, the same answers.
    clock = httpx.get(f"{venue.url}/_sim/clock").json()["now"]
    sim.clock.set(clock)
    live = m[(m.open_ts <= clock) & (m.closed_ts > clock)]
    tok = str(live.iloc[0]["token0"])
    with PolymarketClients.connect(Endpoints(venue.url, venue.url, venue.url)) as http:
        assert http.clob.midpoint(tok) == plain.clob.midpoint(tok)
        assert http.clob.book(tok) == plain.clob.book(tok)
        assert (http.clob.prices_history(tok, clock - 10 * 86_400, clock).points
                == plain.clob.prices_history(tok, clock - 10 * 86_400, clock).points)
        cid = str(live.iloc[0]["condition_id"])
        assert http.gamma.market(cid) == plain.gamma.market(cid)


def test_bulk_trade_columns_are_what_the_parser_gives(small_world):
    # The bulk loader builds trade columns straight from the world; they must equal the
    # parser's reading of every rendered record, partial records included.
    import numpy as np
    import pandas as pd

    from polycopy.polymarket.schema import TRADE_COLUMNS, parse_trade
    from polycopy.sim.records import RecordRenderer
    from polycopy.warehouse.base import _frame

    render = RecordRenderer(small_world)
    rows = np.arange(render.n_trades)
    bulk = render.trades_frame(rows)
    parsed = _frame([parse_trade(render.trade_v1(int(i))) for i in rows], TRADE_COLUMNS)
    assert bulk["title"].isna().any()  # partial records are in the sample
    pd.testing.assert_frame_equal(bulk, parsed)
