"""Contract test: Polymarket's official SDK (``polymarket-client``), unchanged, trades on the
simulated venue's CLOB V2: API keys through L1, every private call through L2, orders
signed by the SDK and verified by the venue, the venue's own error words, approvals and
redemption through an externally owned account's JSON-RPC."""

import dataclasses
import json
import time
from datetime import datetime, timezone

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from polycopy.polymarket.sdk import single_host_environment
from polycopy.sim import clob_exchange as cx
from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world

from polymarket import PRODUCTION, SecureClient
from polymarket.errors import RequestRejectedError
from polymarket.models.clob.order_response import AcceptedOrder, RejectedOrder

KEY = "0x" + "11" * 32
OTHER_KEY = "0x" + "22" * 32
ADDR = Account.from_key(KEY).address


@pytest.fixture(scope="module")
def world():
    """Before Protocol V2 (2026-11-02): CTF markets, some neg-risk."""
    return generate_world(SimConfig(seed=21, n_markets=300, n_wallets=40, n_trades=3_000, history_days=60,
                                    history_end=datetime(2026, 10, 20, tzinfo=timezone.utc)))


@pytest.fixture(scope="module")
def present_world():
    """Now: most open markets are Protocol-V2; the venue's clock is the wall clock, by which
    the SDK dates GTD expirations."""
    now = datetime.fromtimestamp(int(time.time()), tz=timezone.utc)
    return generate_world(SimConfig(seed=22, n_markets=300, n_wallets=40, n_trades=3_000, history_days=60,
                                    history_end=now))


@pytest.fixture()
def venue(world):
    with running_venue(world=world) as server:
        yield server


@pytest.fixture()
def present_venue(present_world):
    with running_venue(world=present_world) as server:
        yield server


def fund(venue, key=KEY, usd=1_000.0, positions=None, approved=True) -> dict:
    r = httpx.post(f"{venue.url}/_sim/account", json={"signer": Account.from_key(key).address, "collateral_usd": usd,
                                                      "positions": positions or {}, "approved": approved})
    r.raise_for_status()
    return r.json()


def client(venue, key=KEY) -> SecureClient:
    return SecureClient.create(private_key=key, wallet=Account.from_key(key).address,
                               environment=single_host_environment(venue.url))


def open_market(world, venue, neg_risk=False, version="v1"):
    """A market open for at least a day from the venue's clock, priced within 0.15..0.85."""
    now = httpx.get(f"{venue.url}/_sim/clock").json()["now"]
    m = world.markets
    ok = m[(m.open_ts < now) & (m.closed_ts > now + 86_400) & (m.version == version) & (m.neg_risk == neg_risk)]
    for _, row in ok.iterrows():
        b = book(venue, str(row.token0))
        if 0.15 <= float(b["bids"][-1]["price"]) and float(b["asks"][-1]["price"]) <= 0.85:
            return row
    raise AssertionError("no market of the world trades between 0.15 and 0.85")


def book(venue, token):
    return httpx.get(f"{venue.url}/book", params={"token_id": token}).json()


def collateral(venue, sdk) -> float:
    return sdk.get_balance_allowance(asset_type="COLLATERAL").balance / 1e6


def test_the_sdk_adapter_points_every_host_at_the_venue_and_the_contracts_agree():
    from polymarket._internal.environment import get_environment_config

    env = single_host_environment("http://127.0.0.1:9")
    cfg = get_environment_config(env)
    assert (cfg.clob_url, cfg.data_url, cfg.gamma_url, cfg.rpc_url) == (
        "http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9/rpc")
    prod = get_environment_config(PRODUCTION)
    assert cfg.chain_id == prod.chain_id == cx.CHAIN_ID
    # The venue verifies signatures for the exchanges the SDK signs for.
    assert (prod.standard_exchange, prod.neg_risk_exchange, prod.exchange_v3) == (
        cx.EXCHANGE, cx.NEG_RISK_EXCHANGE, cx.EXCHANGE_V3)
    assert (prod.collateral_token, prod.conditional_tokens, prod.collateral_adapter,
            prod.neg_risk_collateral_adapter) == (cx.COLLATERAL, cx.CONDITIONAL_TOKENS, cx.COLLATERAL_ADAPTER,
                                                  cx.NEG_RISK_COLLATERAL_ADAPTER)


def test_the_sdk_buys_sells_rests_cancels_and_reads_its_account(venue, world):
    fund(venue, usd=1_000.0)
    sdk = client(venue)  # no credentials: the SDK creates its API key with an L1 signature
    m = open_market(world, venue)
    token = str(m.token0)
    ask = float(book(venue, token)["asks"][-1]["price"])
    # A copy: FOK BUY of $20, no worse than the best ask.
    buy = sdk.place_market_order(token_id=token, side="BUY", amount="20", max_price=f"{ask:.2f}", order_type="FOK")
    assert isinstance(buy, AcceptedOrder) and buy.status == "matched"
    shares = float(buy.taking_amount)
    assert shares == pytest.approx(20 / ask, abs=0.01)
    fee = shares * 0.05 * ask * (1 - ask)
    assert collateral(venue, sdk) == pytest.approx(1_000 - 20 - fee, abs=1e-5)
    # An exit: FAK SELL of what we hold, no lower than 0.01 under the best bid.
    bid = float(book(venue, token)["bids"][-1]["price"])
    sell = sdk.place_market_order(token_id=token, side="SELL", shares=f"{int(shares * 100) / 100:.2f}",
                                  min_price=f"{bid - 0.01:.2f}", order_type="FAK")
    assert isinstance(sell, AcceptedOrder) and float(sell.making_amount) == pytest.approx(int(shares * 100) / 100)
    trades = list(sdk.list_account_trades().iter_items())
    assert {t.taker_order_id for t in trades} == {buy.order_id, sell.order_id}
    assert all(t.trader_side == "TAKER" and t.fee_rate_bps == 500 for t in trades)
    # A resting GTC below the book: open, readable, cancelled.
    rest = sdk.place_limit_order(token_id=token, price="0.01", size="10", side="BUY")
    assert isinstance(rest, AcceptedOrder) and rest.status == "live"
    assert [o.id for o in sdk.list_open_orders().iter_items()] == [rest.order_id]
    assert sdk.get_order(order_id=rest.order_id).status == "LIVE"
    assert sdk.cancel_order(order_id=rest.order_id).canceled == (rest.order_id,)
    assert list(sdk.list_open_orders().iter_items()) == []
    assert sdk.get_trading_approvals_state().is_fully_approved
    assert sdk.send_order_heartbeat().heartbeat_id
    sdk.close()


def test_a_resting_order_fills_when_the_book_reaches_it_and_a_gtd_expires(present_venue, present_world):
    venue, world = present_venue, present_world
    fund(venue, usd=1_000.0)
    sdk = client(venue)
    m = open_market(world, venue, version="v2")
    token = str(m.token0)
    bid = float(book(venue, token)["bids"][-1]["price"])
    now = httpx.get(f"{venue.url}/_sim/clock").json()["now"]
    gtd = sdk.place_limit_order(token_id=token, price="0.01", size="10", side="BUY", expiration=now + 3_600)
    assert sdk.get_order(order_id=gtd.order_id).expires_at is not None
    rest = sdk.place_limit_order(token_id=token, price=f"{bid:.2f}", size="10", side="BUY")
    assert rest.status == "live"
    # The market falls through our bid: the resting BUY fills at its price, as a maker.
    httpx.post(f"{venue.url}/_sim/market", json={"condition_id": m.condition_id,
                                                  "path": [[now, round(bid - 0.1, 2)]]}).raise_for_status()
    httpx.post(f"{venue.url}/_sim/clock", json={"advance": 7_200})
    filled = sdk.get_order(order_id=rest.order_id)
    assert filled.status == "MATCHED" and float(filled.size_matched) == 10
    maker = [t for t in sdk.list_account_trades().iter_items() if t.trader_side == "MAKER"]
    assert len(maker) == 1 and float(maker[0].price) == pytest.approx(bid)
    assert sdk.get_order(order_id=gtd.order_id).status == "CANCELED"  # expired after its hour
    sdk.close()


def _post_raw(venue, creds: dict, order: dict, order_type="FOK"):
    """POST /order as a client other than the SDK would, with L2 headers."""
    body = json.dumps({"order": order, "owner": creds["apiKey"], "orderType": order_type}, separators=(",", ":"))
    ts = str(int(time.time()))
    headers = {"POLY_ADDRESS": ADDR, "POLY_API_KEY": creds["apiKey"], "POLY_PASSPHRASE": creds["passphrase"],
               "POLY_TIMESTAMP": ts, "POLY_SIGNATURE": cx.hmac_signature(creds["secret"], ts, "POST", "/order", body),
               "Content-Type": "application/json"}
    return httpx.post(f"{venue.url}/order", content=body, headers=headers)


def _signed(token: str, key: str, maker_amount: int, taker_amount: int, side="BUY", exchange=cx.EXCHANGE,
            version="2") -> dict:
    order = {"salt": 12345, "maker": ADDR, "signer": ADDR, "tokenId": token, "makerAmount": str(maker_amount),
             "takerAmount": str(taker_amount), "side": side, "signatureType": 0,
             "timestamp": str(int(time.time() * 1000)), "metadata": "0x" + "00" * 32, "builder": "0x" + "00" * 32,
             "expiration": "0"}
    sig = Account.sign_message(encode_typed_data(full_message=cx.order_typed_data(order, exchange, version)), key)
    return {**order, "signature": "0x" + sig.signature.hex().removeprefix("0x")}


def test_the_venue_refuses_what_polymarket_refuses_in_its_own_words(venue, world):
    creds = fund(venue, usd=50.0)
    sdk = client(venue)
    m = open_market(world, venue)
    token = str(m.token0)
    ask = float(book(venue, token)["asks"][-1]["price"])
    # Below the 5-share minimum of a resting order.
    with pytest.raises(RequestRejectedError, match=r"Size \(3\) lower than the minimum: 5"):
        sdk.place_limit_order(token_id=token, price="0.01", size="3", side="BUY")
    # More than the balance.
    with pytest.raises(RequestRejectedError, match="not enough balance / allowance: the balance is not enough"):
        sdk.place_market_order(token_id=token, side="BUY", amount="500", max_price=f"{ask:.2f}", order_type="FOK")
    # A FOK the book cannot fill within its price is killed (returned, not raised, by the SDK).
    killed = sdk.place_market_order(token_id=token, side="BUY", amount="40", max_price="0.01", order_type="FOK")
    assert isinstance(killed, RejectedOrder) and "FOK orders are fully filled or killed" in killed.message
    # Off the tick grid (the SDK checks this itself; another client reaches the venue).
    r = _post_raw(venue, creds, _signed(token, KEY, 5_555_000, 10_000_000), "GTC")
    assert r.status_code == 400 and "invalid tick size" in r.json()["error"]
    # Signed by a key that is not the account's.
    r = _post_raw(venue, creds, _signed(token, OTHER_KEY, 5_000_000, 10_000_000))
    assert r.status_code == 400 and r.json()["error"] == "invalid signature"
    # Signed for the wrong exchange: a neg-risk market's order signed for the standard exchange.
    nr = str(open_market(world, venue, neg_risk=True).token0)
    r = _post_raw(venue, creds, _signed(nr, KEY, 5_000_000, 10_000_000, exchange=cx.EXCHANGE))
    assert r.status_code == 400 and r.json()["error"] == "invalid signature"
    # An order in the V1 shape (nonce, feeRateBps, taker).
    v1 = {**_signed(token, KEY, 5_000_000, 10_000_000), "nonce": "0", "feeRateBps": "0", "taker": "0x" + "00" * 20}
    r = _post_raw(venue, creds, v1)
    assert r.status_code == 400 and r.json()["error"] == "order_version_mismatch"
    # Nothing above moved money.
    assert collateral(venue, sdk) == pytest.approx(50.0)
    sdk.close()


def test_the_sdk_repairs_a_missing_allowance_through_the_venues_json_rpc(venue, world):
    fund(venue, usd=100.0, approved=False)
    sdk = client(venue)
    assert not sdk.get_trading_approvals_state().is_fully_approved
    token = str(open_market(world, venue).token0)
    ask = float(book(venue, token)["asks"][-1]["price"])
    buy = sdk.place_market_order(token_id=token, side="BUY", amount="10", max_price=f"{ask:.2f}", order_type="FOK")
    assert isinstance(buy, AcceptedOrder)
    allowance = sdk.get_balance_allowance(asset_type="COLLATERAL").allowances
    assert allowance[cx.EXCHANGE] > 0
    sdk.close()


def test_a_resolved_market_is_redeemed_through_the_sdk_once(venue, world):
    m = open_market(world, venue)
    token = str(m.token0)
    fund(venue, usd=10.0, positions={token: 40.0})
    sdk = client(venue)
    now = httpx.get(f"{venue.url}/_sim/clock").json()["now"]
    httpx.post(f"{venue.url}/_sim/market", json={"condition_id": m.condition_id, "end": now - 60,
                                                  "resolve": {"at": now - 60, "winner": 0}}).raise_for_status()
    httpx.post(f"{venue.url}/_sim/clock", json={"advance": 3_600})
    handle = sdk.redeem_positions(condition_id=m.condition_id)
    handle.wait()
    assert collateral(venue, sdk) == pytest.approx(50.0)  # 40 winning shares at 1 + the 10 held
    sdk.redeem_positions(condition_id=m.condition_id).wait()
    assert collateral(venue, sdk) == pytest.approx(50.0)
    sdk.close()


def test_silent_heartbeats_cancel_resting_orders(venue, world):
    venue.venue.clob.heartbeat_timeout_s = 1.0
    fund(venue)
    sdk = client(venue)
    token = str(open_market(world, venue).token0)
    rest = sdk.place_limit_order(token_id=token, price="0.01", size="10", side="BUY")
    sdk.send_order_heartbeat()
    time.sleep(1.5)
    assert sdk.get_order(order_id=rest.order_id).status == "CANCELED"
    sdk.close()


def test_a_dataclass_field_of_the_environment_is_still_where_the_adapter_puts_it():
    from polymarket._internal.environment import get_environment_config

    names = {f.name for f in dataclasses.fields(get_environment_config(PRODUCTION))}
    assert {"clob_url", "data_url", "gamma_url", "rpc_url", "relayer_url", "chain_id"} <= names


def test_a_protocol_v2_market_trades_by_position_id_on_exchange_v3_and_redeems_through_the_router(
        present_venue, present_world):
    venue, world = present_venue, present_world
    m = open_market(world, venue, version="v2")
    token = str(m.token0)
    assert cx.is_v2_position_id(token) and cx.exchange_for(token, bool(m.neg_risk)) == (cx.EXCHANGE_V3, "3")
    creds = fund(venue, usd=100.0)
    sdk = client(venue)
    ask = float(book(venue, token)["asks"][-1]["price"])
    buy = sdk.place_market_order(token_id=token, side="BUY", amount="10", max_price=f"{ask:.2f}", order_type="FOK")
    assert isinstance(buy, AcceptedOrder) and buy.status == "matched"
    held = sdk.get_balance_allowance(asset_type="CONDITIONAL-V2", token_id=token).balance
    assert held == int(round(float(buy.taking_amount) * 1e6))
    # The same order signed for the V1 exchange's domain is not this market's.
    r = _post_raw(venue, creds, _signed(token, KEY, 5_000_000, 10_000_000, exchange=cx.EXCHANGE, version="2"))
    assert r.status_code == 400 and r.json()["error"] == "invalid signature"
    now = httpx.get(f"{venue.url}/_sim/clock").json()["now"]
    httpx.post(f"{venue.url}/_sim/market", json={"condition_id": m.condition_id, "end": now - 60,
                                                  "resolve": {"at": now - 60, "winner": 0}}).raise_for_status()
    httpx.post(f"{venue.url}/_sim/clock", json={"advance": 3_600})
    before = collateral(venue, sdk)
    sdk.redeem_positions(condition_id=m.condition_id).wait()
    assert collateral(venue, sdk) == pytest.approx(before + held / 1e6, abs=1e-6)
    assert sdk.get_balance_allowance(asset_type="CONDITIONAL-V2", token_id=token).balance == 0
    sdk.close()


def test_an_orders_venue_id_is_known_before_it_is_sent(venue, world):
    from polycopy.polymarket.sdk import venue_order_id

    fund(venue)
    sdk = client(venue)
    for neg_risk in (False, True):
        m = open_market(world, venue, neg_risk=neg_risk)
        token = str(m.token0)
        ask = float(book(venue, token)["asks"][-1]["price"])
        signed = sdk.create_market_order(token_id=token, side="BUY", amount="5", max_price=f"{ask:.2f}",
                                         order_type="FOK")
        expected = venue_order_id(signed, neg_risk)
        assert sdk.post_order(signed).order_id == expected
        assert sdk.get_order(order_id=expected).status == "MATCHED"
    sdk.close()


def test_an_order_sent_twice_is_taken_once_and_the_venue_counts_what_it_received(venue, world):
    fund(venue)
    sdk = client(venue)
    m = open_market(world, venue)
    token = str(m.token0)
    ask = float(book(venue, token)["asks"][-1]["price"])
    signed = sdk.create_market_order(token_id=token, side="BUY", amount="5", max_price=f"{ask:.2f}", order_type="FOK")
    first = sdk.post_order(signed)
    assert isinstance(first, AcceptedOrder)
    with pytest.raises(RequestRejectedError, match="duplicate order"):
        sdk.post_order(signed)
    assert httpx.get(f"{venue.url}/_sim/stats").json()["clob_orders_received"] == 2
    assert len(list(sdk.list_account_trades().iter_items())) == len(first.trade_ids) >= 1
    sdk.close()


def test_what_an_order_took_is_gone_from_the_published_book(venue, world):
    """The book is drawn once a minute; what orders took from it this minute is gone from
    the book the venue publishes as from the one it matches against, so a client that prices
    its next order from /book (an exit's next FAK SELL) sees the liquidity really there."""
    token = str(open_market(world, venue).token0)
    best = book(venue, token)["asks"][-1]
    price, size = float(best["price"]), float(best["size"])
    fund(venue, usd=round(size * price * 1.2 + 100, 2))  # the whole level, and its taker fee
    sdk = client(venue)
    # Most of the best ask's shares, no worse than its price.
    buy = sdk.place_market_order(token_id=token, side="BUY", amount=f"{int(size * price * 90) / 100:.2f}",
                                 max_price=f"{price:.2f}", order_type="FOK")
    assert isinstance(buy, AcceptedOrder) and buy.status == "matched"
    taken = float(buy.taking_amount)
    left = sum(float(lv["size"]) for lv in book(venue, token)["asks"] if float(lv["price"]) == price)
    assert left == pytest.approx(size - taken, abs=0.011)
    # The rest of the level, and then the level is gone: the best ask is the next one up.
    rest = sdk.place_market_order(token_id=token, side="BUY", amount=f"{int(left * price * 100) / 100:.2f}",
                                  max_price=f"{price:.2f}", order_type="FOK")
    assert isinstance(rest, AcceptedOrder) and rest.status == "matched"
    after = book(venue, token)["asks"]
    # (less than a cent's worth may be left of it: the USD amount is in cents)
    assert all(float(lv["price"]) != price or float(lv["size"]) * price < 0.011 for lv in after), (price, after[-3:])
    quoted = float(httpx.get(f"{venue.url}/price", params={"token_id": token, "side": "BUY"}).json()["price"])
    assert quoted == float(after[-1]["price"])
    sdk.close()
