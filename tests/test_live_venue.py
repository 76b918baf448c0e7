"""The live venue: the copy chain's orders through Polymarket's official SDK, unchanged,
against the simulated venue's CLOB V2 — start-up checks, a FOK copy and a FAK exit with
the venue's fills, a partial fill, rejections in the venue's words, crash reconciliation
that never re-sends (counted at the venue), redemption, and the same ledger as paper."""

import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from eth_account import Account

from polycopy.execution.copier import client_order_id, place_signal_order, reconcile_pending
from polycopy.execution.live import LiveVenue, LiveVenueError
from polycopy.execution.live_credentials import (API_KEY_VAR, API_PASSPHRASE_VAR, API_SECRET_VAR, PRIVATE_KEY_VAR,
                                                 LiveCredentials)
from polycopy.execution.paper import PaperVenue
from polycopy.execution.position_exits import open_positions, place_exit_order, settle_resolved
from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.polymarket.clients import Endpoints, PolymarketClients
from polycopy.polymarket.sdk import single_host_environment
from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from polycopy.trading.settings import ExitSettings
from tests.position_helpers import whale_trade

KEY = "0x" + "a1" * 32
OTHER_KEY = "0x" + "b2" * 32
WHALE = "0x" + "77" * 20
FEE_RATE = 0.05


@pytest.fixture(scope="module")
def world():
    now = datetime.fromtimestamp(int(time.time()), tz=timezone.utc)
    # Generated at the wall clock: the V2 cutover moves with it, so that markets of both
    # versions are open whenever the tests run (20 v1 and 38 v2 a day or more from closing).
    return generate_world(SimConfig(seed=31, n_markets=300, n_wallets=40, n_trades=3_000, history_days=60,
                                    history_end=now, v2_cutover=now - timedelta(days=20)))


class Desk:
    """A ledger, public clients and (once funded) a live venue on one simulated venue."""

    def __init__(self, server, world, tmp_path):
        self.server, self.world = server, world
        self.url = server.url
        self.ledger_path = str(tmp_path / "ledger.sqlite")
        self.ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=self.ledger_path))
        self.clients = PolymarketClients.connect(Endpoints.single_host(server.url))

    def fund(self, key=KEY, usd=1_000.0, positions=None, approved=True) -> dict:
        r = httpx.post(f"{self.url}/_sim/account", json={"signer": Account.from_key(key).address,
                                                         "collateral_usd": usd, "positions": positions or {},
                                                         "approved": approved})
        r.raise_for_status()
        return r.json()

    def live(self, key=KEY, **extra_env) -> LiveVenue:
        creds = LiveCredentials.from_env({PRIVATE_KEY_VAR: key, **extra_env})
        return LiveVenue.connect(self.ledger, self.clients.clob, creds, single_host_environment(self.url), FEE_RATE)

    def received(self) -> int:
        return httpx.get(f"{self.url}/_sim/stats").json().get("clob_orders_received", 0)

    def now(self) -> int:
        return httpx.get(f"{self.url}/_sim/clock").json()["now"]

    def markets(self, version=None, neg_risk=None):
        """Open markets, a day or more from closing, priced within 0.15..0.85 (first outcome)."""
        now = self.now()
        m = self.world.markets
        sel = m[(m.open_ts < now) & (m.closed_ts > now + 86_400)]
        if version is not None:
            sel = sel[sel.version == version]
        if neg_risk is not None:
            sel = sel[sel.neg_risk == neg_risk]
        for row in sel.itertuples():
            b = self.clients.clob.book(str(row.token0))
            if b.asks and b.bids and 0.15 <= b.best_bid and b.best_ask <= 0.85:
                yield row

    def decide_copy(self, market, usd: float, limit: float | None = None, **details) -> str:
        """A whale BUY seen and a copy decision on it (its gates are tested elsewhere): spend
        ``usd`` up to ``limit`` (default: one cent over the best ask). Returns the signal key."""
        book = self.clients.clob.book(str(market.token0))
        t = whale_trade(WHALE, market, "BUY", 10_000.0, book.best_ask)
        self.ledger.record_seen_trades([t])
        key = self.ledger.signal_of_trade(t.trade_key)
        limit = round(book.best_ask + 0.01, 2) if limit is None else limit
        self.ledger.claim_decision(key, "copy", "execution", "test copy", {
            "shares": round(usd / limit, 2), "limit_price": limit, "notional_usd": usd, **details}, None)
        return key

    def decide_exit(self, position_id: str, token: str, condition_id: str, shares: float, limit: float) -> str:
        self.ledger.claim_exit_decision(position_id, 1, token, condition_id, "sell", "test", "test exit", {},
                                        shares, limit, None)
        return self.ledger.exit_decisions(position_id)[0]["exit_key"]

    def close(self):
        self.clients.close()
        self.ledger.close()


@pytest.fixture()
def desk(world, tmp_path):
    with running_venue(world=world) as server:
        d = Desk(server, world, tmp_path)
        yield d
        d.close()


def venue_trades(venue: LiveVenue) -> list:
    return list(venue.sdk.list_account_trades().iter_items())


def test_startup_checks_name_what_is_missing_and_pass_once_funded_and_approved(desk):
    desk.fund(usd=0.0, approved=False)
    venue = desk.live()
    report = venue.preflight(LiveCredentials.from_env({PRIVATE_KEY_VAR: KEY}))
    assert report.signer == Account.from_key(KEY).address == report.wallet
    assert any("holds 0.00 pUSD" in p for p in report.problems)
    assert any("trading approvals missing" in p for p in report.problems) and report.missing_approvals
    venue.approve()
    desk.fund(usd=250.0)
    report = venue.preflight(LiveCredentials.from_env({PRIVATE_KEY_VAR: KEY}))
    assert report.problems == () and report.collateral_usd == pytest.approx(250.0)
    venue.close()


def test_a_live_copy_is_a_fok_buy_and_an_exit_a_fak_sell_recorded_with_the_venues_fills(desk):
    desk.fund(usd=1_000.0)
    venue = desk.live()
    market = next(desk.markets(version="v1"))
    token = str(market.token0)
    key = desk.decide_copy(market, usd=40.0)
    out = place_signal_order(key, ledger=desk.ledger, venue=venue)
    assert out.order_status == "filled", out
    order = desk.ledger.order_for(key)
    assert order["order_type"] == "FOK" and order["venue"] == "live"
    trades = venue_trades(venue)
    assert {t.taker_order_id for t in trades} == {order["venue_order_id"]}
    fills = desk.ledger.fills_for_order(order["order_id"])
    assert sorted((f["price"], f["shares"]) for f in fills) == sorted((float(t.price), float(t.size)) for t in trades)
    spent = sum(f["price"] * f["shares"] for f in fills)
    assert 39.99 <= spent <= 40.0
    # The venue's pUSD balance moved by exactly what the ledger says was paid.
    paid = spent + sum(f["fee_usd"] for f in fills)
    assert venue.sdk.get_balance_allowance(asset_type="COLLATERAL").balance / 1e6 == pytest.approx(1_000 - paid,
                                                                                                   abs=2e-6)
    # The exit: FAK SELL of what is held, no lower than a cent under the best bid.
    (pos,) = open_positions(desk.ledger)
    bid = desk.clients.clob.book(token).best_bid
    exit_key = desk.decide_exit(pos.position_id, token, market.condition_id, int(pos.shares * 100) / 100,
                                round(bid - 0.01, 2))
    sold = place_exit_order(desk.ledger, venue, exit_key)
    assert sold["order_type"] == "FAK" and sold["status"] in ("filled", "partially_filled"), sold
    sells = [t for t in venue_trades(venue) if t.taker_order_id == sold["venue_order_id"]]
    assert sum(float(t.size) for t in sells) == pytest.approx(
        sum(f["shares"] for f in desk.ledger.fills_for_order(sold["order_id"])))
    assert desk.received() == 2
    venue.close()


def test_a_sell_deeper_than_the_bids_within_its_limit_fills_in_part(desk):
    desk.fund(usd=50_000.0)
    venue = desk.live()
    for market in desk.markets(version="v1"):  # buy a third more than the top bid holds
        book = desk.clients.clob.book(str(market.token0))
        want, usd, limit = book.bids[0].size * 1.34, 0.0, round(book.best_ask + 0.05, 2)
        for level in (a for a in book.asks if a.price <= limit):
            take = min(level.size, want)
            usd, want = usd + take * level.price, want - take
        if want <= 0 and usd < 20_000:
            break
    token = str(market.token0)
    key = desk.decide_copy(market, usd=round(usd, 2), limit=limit)
    # Buy, then sell it all no lower than the top bid: only that level is within the limit.
    out = place_signal_order(key, ledger=desk.ledger, venue=venue)
    assert out.order_status == "filled", out
    (pos,) = open_positions(desk.ledger)
    top = book.bids[0]
    assert pos.shares > top.size, "the world's top bid should be thinner than the position"
    exit_key = desk.decide_exit(pos.position_id, token, market.condition_id, int(pos.shares * 100) / 100, top.price)
    sold = place_exit_order(desk.ledger, venue, exit_key)
    assert sold["status"] == "partially_filled", sold
    filled = sum(f["shares"] for f in desk.ledger.fills_for_order(sold["order_id"]))
    assert filled == pytest.approx(top.size, abs=1e-6)
    (still,) = open_positions(desk.ledger)
    assert still.shares == pytest.approx(pos.shares - top.size, abs=1e-6)
    venue.close()


def test_rejections_are_recorded_in_the_venues_own_words_and_move_nothing(desk):
    desk.fund(usd=30.0)
    venue = desk.live()
    markets = desk.markets(version="v1")
    # More than the balance.
    key = desk.decide_copy(next(markets), usd=100.0)
    out = place_signal_order(key, ledger=desk.ledger, venue=venue)
    assert out.order_status == "rejected"
    assert "not enough balance / allowance: the balance is not enough" in desk.ledger.order_for(key)["reason"]
    # A FOK the book cannot fill within its limit: the limit is a tick under the best ask.
    m = next(markets)
    key = desk.decide_copy(m, usd=20.0, limit=round(desk.clients.clob.book(str(m.token0)).best_ask - 0.02, 2))
    place_signal_order(key, ledger=desk.ledger, venue=venue)
    assert "FOK orders are fully filled or killed" in desk.ledger.order_for(key)["reason"]
    # Under the $1 minimum of a marketable order.
    key = desk.decide_copy(next(markets), usd=0.5)
    place_signal_order(key, ledger=desk.ledger, venue=venue)
    o = desk.ledger.order_for(key)
    assert o["status"] == "rejected" and "min size: $1" in o["reason"]
    assert venue.sdk.get_balance_allowance(asset_type="COLLATERAL").balance / 1e6 == pytest.approx(30.0)
    assert desk.ledger.fills() == []
    venue.close()


def test_a_key_that_is_not_the_accounts_is_refused_without_a_secret_in_the_words(desk):
    other = desk.fund(key=OTHER_KEY, usd=100.0)
    desk.fund(key=KEY, usd=100.0)
    # The SDK heals API credentials of another key by deriving the key's own; a key the venue
    # holds no account for is refused at sign-in.
    unknown = "0x" + "c3" * 32
    env = {API_KEY_VAR: other["apiKey"], API_SECRET_VAR: other["secret"], API_PASSPHRASE_VAR: other["passphrase"]}
    with pytest.raises(LiveVenueError, match="refused the credentials") as err:
        desk.live(key=unknown, **env)
    words = str(err.value)
    assert "not a funded test account" in words
    assert unknown.removeprefix("0x") not in words and other["secret"] not in words and other["passphrase"] not in words
    # A wallet configured for an externally owned account must be the key's own address.
    from polycopy.configuration import ConfigurationError
    from polycopy.execution.live_credentials import WALLET_VAR

    with pytest.raises(ConfigurationError, match="is not the address of POLYCOPY_LIVE_PRIVATE_KEY"):
        LiveCredentials.from_env({PRIVATE_KEY_VAR: KEY, WALLET_VAR: Account.from_key(OTHER_KEY).address})


def test_a_protocol_v2_market_is_signed_for_exchange_v3(desk):
    from polycopy.polymarket.clob_orders import EXCHANGE_V3, exchange_for, is_v2_position_id

    desk.fund(usd=100.0)
    venue = desk.live()
    market = next(desk.markets(version="v2"))
    token = str(market.token0)
    assert is_v2_position_id(token) and exchange_for(token, bool(market.neg_risk))[0] == EXCHANGE_V3
    key = desk.decide_copy(market, usd=20.0)
    assert place_signal_order(key, ledger=desk.ledger, venue=venue).order_status == "filled"
    held = venue.sdk.get_balance_allowance(asset_type="CONDITIONAL-V2", token_id=token).balance / 1e6
    assert held == pytest.approx(open_positions(desk.ledger)[0].shares, abs=1e-6)
    venue.close()


def test_after_a_crash_pending_orders_are_found_at_the_venue_and_never_sent_twice(desk):
    desk.fund(usd=500.0)
    venue = desk.live()
    markets = desk.markets(version="v1")
    # 1. Crashed after "pending saved", before the order was signed or sent.
    k1 = desk.decide_copy(next(markets), usd=20.0)
    sig1 = desk.ledger.signal(k1)
    desk.ledger.create_pending_order(client_order_id(k1), k1, "live", sig1["token_id"], sig1["condition_id"], "BUY",
                                     "FOK", 0.99, 20.0)
    # 2. Crashed after the venue acknowledged the order, before its fills were recorded.
    m2 = next(markets)
    k2 = desk.decide_copy(m2, usd=20.0)
    sig2 = desk.ledger.signal(k2)
    oid2 = client_order_id(k2)
    desk.ledger.create_pending_order(oid2, k2, "live", sig2["token_id"], sig2["condition_id"], "BUY", "FOK",
                                     json.loads(desk.ledger.decision(k2)["details"])["limit_price"], 20.0)
    from polycopy.polymarket.sdk import venue_order_id

    ask = desk.clients.clob.book(sig2["token_id"]).best_ask
    signed = venue.sdk.create_market_order(token_id=sig2["token_id"], side="BUY", amount="20",
                                           max_price=f"{ask + 0.01:.2f}", order_type="FOK")
    desk.ledger.record_venue_order_id(oid2, venue_order_id(signed, bool(m2.neg_risk)))
    assert venue.sdk.post_order(signed).ok
    assert desk.received() == 1
    # The restart: both are pending; the copy chain sends neither again.
    assert place_signal_order(k1, ledger=desk.ledger, venue=venue).order_status == "pending"
    assert place_signal_order(k2, ledger=desk.ledger, venue=venue).order_status == "pending"
    done = {d["order_id"]: d["status"] for d in reconcile_pending(desk.ledger, venue, older_than_s=0.0)}
    assert done == {client_order_id(k1): "cancelled", oid2: "filled"}
    assert desk.received() == 1  # nothing was sent by the reconciliation
    fills = desk.ledger.fills_for_order(oid2)
    trades = venue_trades(venue)
    assert sorted((f["price"], f["shares"]) for f in fills) == sorted((float(t.price), float(t.size)) for t in trades)
    venue.close()


def test_settlement_redeems_the_resolved_position_at_the_venue(desk):
    desk.fund(usd=100.0)
    venue = desk.live()
    market = next(desk.markets(version="v1"))
    key = desk.decide_copy(market, usd=30.0)
    assert place_signal_order(key, ledger=desk.ledger, venue=venue).order_status == "filled"
    (pos,) = open_positions(desk.ledger)
    before = venue.sdk.get_balance_allowance(asset_type="COLLATERAL").balance / 1e6
    now = desk.now()
    httpx.post(f"{desk.url}/_sim/market", json={"condition_id": market.condition_id, "end": now - 60,
                                                "resolve": {"at": now - 60, "winner": 0}}).raise_for_status()
    httpx.post(f"{desk.url}/_sim/clock", json={"advance": 3_600})
    settled, left = settle_resolved(desk.ledger, desk.clients, ExitSettings(), redeem=venue.redeem)
    assert left == [] and [s["position_id"] for s in settled] == [pos.position_id]
    after = venue.sdk.get_balance_allowance(asset_type="COLLATERAL").balance / 1e6
    assert after == pytest.approx(before + pos.shares, abs=1e-6)  # each winning share redeemed at 1
    assert open_positions(desk.ledger) == []
    venue.close()


def test_paper_and_live_make_the_same_decisions_and_keep_the_same_ledger_on_the_same_world(world, tmp_path):
    """The whole copy chain (risk gate, stages, sizing, the order) on the same whale trades,
    once with the paper venue and once with the live venue, each on a fresh venue of the same
    world: the same decisions with the same reasons, the same fills and fees (up to order ids)."""
    from polycopy.execution.copier import TradingRules, copy_trade
    from polycopy.trading.market import walk_asks

    now = time.time()
    trades, results = [], {}  # the same whale orders for both: $6,000 BUYs, made on the paper run
    for mode in ("paper", "live"):
        with running_venue(world=world) as server:
            (tmp_path / mode).mkdir()
            desk = Desk(server, world, tmp_path / mode)
            desk.fund(usd=10_000.0)
            desk.ledger.publish_wallet_profiles([{
                "wallet_address": WHALE, "wqs": 90.0, "wqs_lower": 85.0, "win_rate_posterior": 0.9, "tier": "Elite",
                "tier_max_exposure": 0.5, "tier_max_daily_trades": 1000, "excluded": False}], "2026-01-01")
            venue = desk.live() if mode == "live" else PaperVenue(desk.ledger, desk.clients.clob, FEE_RATE)
            markets = list(desk.markets(version="v1"))[:6]
            outcomes = []
            for i, market in enumerate(markets):
                # Each copy on the next minute's book, in both modes: the live venue's book shows
                # what the live copies took from it this minute; the paper venue's never does.
                httpx.post(f"{server.url}/_sim/clock", json={"advance": 60}).raise_for_status()
                if len(trades) == i:
                    # At the price a $1,000 copy fills at on this minute's book, so that copies pass
                    # the slippage gate however the book moves from minute to minute (both venues'
                    # clocks start at the world's history end, so the live run sees the same book).
                    book = desk.clients.clob.book(str(market.token0))
                    price = round(walk_asks([(lv.price, lv.size) for lv in book.asks], 1_000.0).avg_price, 4)
                    trades.append(whale_trade(WHALE, market, "BUY", round(6_000 / price, 2), price, age_s=5))
                outcomes.append(copy_trade(trades[i], ledger=desk.ledger, clients=desk.clients, venue=venue,
                                           rules=TradingRules(), followed_override=True, now=now))
            results[mode] = {
                "decisions": [(o.decision, o.stage, o.reason, o.order_status) for o in outcomes],
                "fills": sorted((f["token_id"], f["side"], round(f["price"], 6), round(f["shares"], 6),
                                 round(f["fee_usd"], 6)) for f in desk.ledger.fills())}
            if mode == "live":
                venue.close()
            desk.close()
    copied = [d for d in results["paper"]["decisions"] if d[0] == "copy"]
    assert len(copied) >= 2, results["paper"]["decisions"]
    assert results["paper"]["decisions"] == results["live"]["decisions"]
    paper, live = results["paper"]["fills"], results["live"]["fills"]
    assert len(paper) == len(live) >= len(copied)
    for p, l in zip(paper, live):
        assert p[:3] == l[:3] and p[3:] == pytest.approx(l[3:], abs=2e-6), (p, l)


def test_reconciliation_finds_what_moved_outside_the_ledger_and_polycopy_reconcile_reports_it(desk, monkeypatch,
                                                                                             capsys):
    from polycopy.execution.venue_reconciliation import reconcile_with_venue
    from polycopy_dagster import cli

    desk.fund(usd=500.0)
    venue = desk.live()
    markets = desk.markets(version="v1")
    market = next(markets)
    key = desk.decide_copy(market, usd=40.0)
    assert place_signal_order(key, ledger=desk.ledger, venue=venue).order_status == "filled"
    first = reconcile_with_venue(desk.ledger, venue)  # takes the cash baseline
    assert first.matches and first.expected_collateral_usd is None and first.tokens_compared == 1
    key = desk.decide_copy(next(markets), usd=30.0)
    assert place_signal_order(key, ledger=desk.ledger, venue=venue).order_status == "filled"
    again = reconcile_with_venue(desk.ledger, venue)
    assert again.matches, again.differences
    assert again.expected_collateral_usd == pytest.approx(again.collateral_usd, abs=0.01)
    # Someone trades the same wallet by hand, and rests an order.
    other = next(markets)
    ask = desk.clients.clob.book(str(other.token0)).best_ask
    by_hand = venue.sdk.place_market_order(token_id=str(other.token0), side="BUY", amount="15",
                                           max_price=f"{ask:.2f}", order_type="FOK")
    assert by_hand.ok
    resting = venue.sdk.place_limit_order(token_id=str(other.token0), price="0.01", size="10", side="BUY")
    after = reconcile_with_venue(desk.ledger, venue)
    kinds = {d.kind for d in after.differences}
    assert {"trade", "position", "open_order", "cash"} <= kinds, after.differences
    assert any(d.key == resting.order_id for d in after.differences if d.kind == "open_order")
    assert any(d.key == str(other.token0) for d in after.differences if d.kind == "position")
    # The same from the shell, exit status 1; and paper mode has nothing to compare.
    monkeypatch.setenv("POLYCOPY_LEDGER_PATH", desk.ledger_path)
    monkeypatch.setenv("POLYCOPY_SIM_URL", desk.url)
    monkeypatch.setenv(PRIVATE_KEY_VAR, KEY)
    monkeypatch.setenv("POLYCOPY_MODE", "live")
    assert cli.main(["reconcile"]) == 1
    out = capsys.readouterr().out
    assert "differences" in out and resting.order_id[:42] in out and KEY.removeprefix("0x") not in out
    monkeypatch.setenv("POLYCOPY_MODE", "paper")
    assert cli.main(["reconcile"]) == 0 and "nothing to reconcile" in capsys.readouterr().out
    venue.close()


def test_a_deposit_wallet_signs_poly_1271_orders_through_the_relayers_deployed_route(desk):
    """Signature type 3: the key owns a deposit wallet that holds the funds; the SDK asks the
    relayer whether the wallet is deployed, then signs ERC-7739 wrapped orders the venue
    verifies against the wallet's owner."""
    from polymarket._internal.environment import get_environment_config
    from polymarket._internal.wallet import derive_beacon_deposit_wallet_address

    from polycopy.execution.live_credentials import SIGNATURE_TYPE_VAR, WALLET_VAR

    signer = Account.from_key(KEY).address
    wallet = derive_beacon_deposit_wallet_address(signer, get_environment_config(
        single_host_environment(desk.url)).wallet_derivation)
    r = httpx.post(f"{desk.url}/_sim/account", json={"signer": signer, "wallet": wallet, "signature_type": 3,
                                                     "collateral_usd": 100.0, "approved": True})
    r.raise_for_status()
    assert httpx.get(f"{desk.url}/deployed", params={"address": wallet, "type": "WALLET"}).json() == {"deployed": True}
    assert httpx.get(f"{desk.url}/deployed", params={"address": signer}).json() == {"deployed": False}
    env = {WALLET_VAR: wallet, SIGNATURE_TYPE_VAR: "3"}
    venue = desk.live(**env)
    report = venue.preflight(LiveCredentials.from_env({PRIVATE_KEY_VAR: KEY, **env}))
    assert report.problems == () and report.wallet == wallet and report.signer == signer
    wrong = venue.preflight(LiveCredentials.from_env({PRIVATE_KEY_VAR: KEY, WALLET_VAR: wallet,
                                                      SIGNATURE_TYPE_VAR: "2"}))
    assert wrong.problems == ("POLYCOPY_LIVE_SIGNATURE_TYPE is 2 but wallet "
                              f"{wallet} is a deposit wallet (POLY_1271) (signature type 3) of this key",)
    key = desk.decide_copy(next(desk.markets(version="v1")), usd=20.0)
    assert place_signal_order(key, ledger=desk.ledger, venue=venue).order_status == "filled"
    assert venue.collateral_usd() < 100.0 - 19.99
    venue.close()


def test_a_server_error_after_the_venue_took_the_order_leaves_it_pending_for_reconciliation(desk):
    from polymarket.errors import RequestRejectedError

    desk.fund(usd=200.0)
    venue = desk.live()
    real_post = venue.sdk.post_order

    def taken_then_503(signed):  # the venue matched it; the answer that came back was a 503
        real_post(signed)
        raise RequestRejectedError("service unavailable", status=503)

    venue.sdk.post_order = taken_then_503
    key = desk.decide_copy(next(desk.markets(version="v1")), usd=20.0)
    with pytest.raises(RequestRejectedError):
        place_signal_order(key, ledger=desk.ledger, venue=venue)
    order = desk.ledger.order_for(key)
    assert order["status"] == "pending" and order["venue_order_id"]
    venue.sdk.post_order = real_post
    assert place_signal_order(key, ledger=desk.ledger, venue=venue).order_status == "pending"  # not re-sent
    assert [d["status"] for d in reconcile_pending(desk.ledger, venue, older_than_s=0.0)] == ["filled"]
    assert desk.received() == 1
    venue.close()
