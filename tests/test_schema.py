"""Parsing real Polymarket records (shared fixtures) and both API shapes into one schema."""

import json

import pytest

from polycopy.ingest import TradeIngest
from polycopy.polymarket.markets import parse_market, resolve_market
from polycopy.polymarket.schema import (ActivityEvent, RecordError, Trade, parse_activity, parse_trade,
                                        trade_key)
from tests.conftest import FIXTURES

ACTIVITY = json.loads((FIXTURES / "data_api_activity_real_2024-09.json").read_text())
GAMMA = json.loads((FIXTURES / "gamma_market_resolved_real.json").read_text())


def test_real_activity_records_parse():
    parsed = [parse_activity(r) for r in ACTIVITY]
    trades = [p for p in parsed if isinstance(p, Trade)]
    redeems = [p for p in parsed if isinstance(p, ActivityEvent)]
    assert len(trades) == sum(r["type"] == "TRADE" for r in ACTIVITY) == 83
    assert len(redeems) == 67 and {r.type for r in redeems} == {"REDEEM"}
    first = trades[0]
    assert first.proxy_wallet == "0xe5c8026239919339b988fdb150a7ef4ea196d3e7"
    assert first.side == "BUY" and first.price == 0.968 and first.size == 2641.75
    assert first.usdc_size == 2557.214
    assert first.token_id.startswith("335079630706206497")
    assert first.timestamp == 1725425464 and first.outcome == "No" and first.outcome_index == 1
    # The saving bot's own `bot_executed` field is not an API field and is ignored.
    assert not hasattr(first, "bot_executed")


def test_exact_repeats_collapse_but_distinct_fills_of_one_transaction_stay():
    ingest = TradeIngest()
    ingest.add_records([r for r in ACTIVITY if r["type"] == "TRADE"], "v1")
    distinct = {json.dumps(r, sort_keys=True) for r in ACTIVITY if r["type"] == "TRADE"}
    # The fixture repeats the same fills many times: one trade per distinct record.
    assert len(ingest.trades) == len(distinct)
    assert ingest.stats["duplicates_collapsed"] == 83 - len(distinct)
    assert not ingest.rejects
    # Two fills in one transaction (same hash, different size) keep separate keys.
    base = dict(next(r for r in ACTIVITY if r["type"] == "TRADE"))
    other = dict(base, size=base["size"] + 1)
    assert parse_trade(base).trade_key != parse_trade(other).trade_key
    assert parse_trade(base).transaction_hash == parse_trade(other).transaction_hash


def test_v1_and_v2_shapes_parse_to_the_same_trade():
    v1 = next(r for r in ACTIVITY if r["type"] == "TRADE")
    v2 = {
        "proxy_wallet": v1["proxyWallet"], "side": v1["side"], "token_id": v1["asset"],
        "condition_id": v1["conditionId"], "size": v1["size"], "price": v1["price"],
        "timestamp": v1["timestamp"], "transaction_hash": v1["transactionHash"],
        "outcome_index": v1["outcomeIndex"], "usdc_size": v1["usdcSize"], "is_combo": False,
    }
    a, b = parse_trade(v1), parse_trade(v2)
    assert a.trade_key == b.trade_key
    assert (a.source_shape, b.source_shape) == ("v1", "v2")
    for field in ("proxy_wallet", "side", "token_id", "condition_id", "size", "price", "timestamp",
                  "transaction_hash", "outcome_index", "usdc_size"):
        assert getattr(a, field) == getattr(b, field), field


@pytest.mark.parametrize("mutate, reason", [
    (lambda r: r.pop("proxyWallet"), "missing proxyWallet"),
    (lambda r: r.update(price=1.7), "price must be within [0, 1]"),
    (lambda r: r.update(price="abc"), "price is not a number"),
    (lambda r: r.update(price=float("nan")), "price is not finite"),
    (lambda r: r.update(size=-3), "size must be positive"),
    (lambda r: r.pop("transactionHash"), "missing transactionHash"),
    (lambda r: r.update(side="HOLD"), "side must be BUY or SELL"),
    (lambda r: r.pop("timestamp"), "missing timestamp"),
    (lambda r: r.update(timestamp="yesterday"), "timestamp is not an integer"),
    (lambda r: r.update(asset=""), "missing asset"),
    (lambda r: r.update(proxyWallet="0xnot-a-wallet"), "proxyWallet is not a wallet address"),
    (lambda r: r.update(conditionId="market-1"), "conditionId is not a condition id"),
])
def test_malformed_trades_are_rejected_with_a_reason(mutate, reason):
    rec = dict(next(r for r in ACTIVITY if r["type"] == "TRADE"))
    mutate(rec)
    with pytest.raises(RecordError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_trade(rec)
    ingest = TradeIngest()
    ingest.add_records([rec], "v1")
    (rej,) = ingest.rejects.values()
    assert reason.split(" ")[0] in rej.reason and json.loads(rej.payload) == json.loads(json.dumps(rec, default=str))


def test_optional_fields_may_be_missing():
    rec = dict(next(r for r in ACTIVITY if r["type"] == "TRADE"))
    for k in ("title", "slug", "icon", "eventSlug", "outcome", "name", "pseudonym", "bio", "usdcSize"):
        rec.pop(k)
    t = parse_trade(rec)
    assert t.title is None and t.usdc_size == pytest.approx(rec["size"] * rec["price"])


def test_real_resolved_gamma_market():
    m = parse_market(GAMMA)
    assert m.condition_id == GAMMA["conditionId"]
    assert json.loads(m.outcomes) == ["Over", "Under"]
    assert m.tokens[1].startswith("6390017364196575684")
    assert m.closed and m.uma_resolution_status == "resolved"
    assert m.closed_ts == 1743136460  # "2025-03-28 04:34:20+00"
    assert m.liquidity == 0.0 and m.tick_size == 0.01 and m.min_order_size == 5
    rows = resolve_market(m)
    winner = [r for r in rows if r.is_winner]
    assert len(winner) == 1 and winner[0].outcome == "Under" and winner[0].token_id == m.tokens[1]
    assert [r.payout for r in rows] == [0.0, 1.0]
    assert not any(r.is_void for r in rows)
    # Closed a week before its endDate: an early resolution.
    assert all(r.early for r in rows)


def test_void_v2_and_unfinished_resolutions():
    void = dict(GAMMA, outcomePrices='["0.5", "0.5"]')
    rows = resolve_market(parse_market(void))
    assert [r.payout for r in rows] == [0.5, 0.5] and all(r.is_void and not r.is_winner for r in rows)
    v2 = dict(GAMMA, version="v2", positionIds=json.loads(GAMMA["clobTokenIds"]))
    del v2["clobTokenIds"]
    m2 = parse_market(v2)
    assert m2.protocol_version == "v2" and m2.tokens == json.loads(GAMMA["clobTokenIds"])
    proposed = dict(GAMMA, umaResolutionStatus="proposed", outcomePrices='["0.9995", "0.0005"]')
    assert resolve_market(parse_market(proposed)) is None
    broken = dict(GAMMA, outcomePrices='["0.7", "0.3"]')
    with pytest.raises(RecordError, match="no single winner"):
        resolve_market(parse_market(broken))
    with pytest.raises(RecordError, match="outcomes"):
        parse_market(dict(GAMMA, clobTokenIds='["1"]'))


def test_trade_key_is_stable_under_case_and_float_formatting():
    k1 = trade_key("0xAB" + "0" * 62, "0xCD" + "0" * 38, "123", "BUY", 10.5, 0.5)
    k2 = trade_key("0xab" + "0" * 62, "0xcd" + "0" * 38, "123", "BUY", 10.50, 0.50)
    assert k1 == k2 and len(k1) == 32


def test_real_redeem_and_activity_shapes_parse():
    redeem = next(parse_activity(r) for r in ACTIVITY if r["type"] == "REDEEM")
    # A redeem concerns the whole market: no token, outcomeIndex 999 read as none.
    assert (redeem.type, redeem.token_id, redeem.outcome_index) == ("REDEEM", None, None)
    assert redeem.size == 15179.109226 and redeem.usdc_size == 15179.109226
    assert redeem.condition_id == "0x29fbd040a7bb1b4b160e0e8d95364b5cc8a74e50ba75e843528670ed61873303"
    # /v2 SPLIT, MERGE and REDEEM rows carry only the USD amount: the share count stays unknown.
    split = parse_activity({"type": "SPLIT", "proxy_wallet": redeem.proxy_wallet, "timestamp": 1725424759,
                            "condition_id": redeem.condition_id, "usdc_size": 250.0,
                            "transaction_hash": redeem.transaction_hash, "is_combo": False})
    assert (split.size, split.usdc_size, split.source_shape) == (None, 250.0, "v2")
    reward = parse_activity({"type": "REWARD", "proxyWallet": redeem.proxy_wallet, "timestamp": 1725424759,
                             "usdcSize": 3.2, "transactionHash": redeem.transaction_hash})
    assert reward.condition_id is None and reward.usdc_size == 3.2


@pytest.mark.parametrize("change, reason", [
    ({"usdcSize": -1}, "usdcSize must not be negative"),
    ({"usdcSize": None}, "missing usdcSize"),
    ({"conditionId": ""}, "missing conditionId on a REDEEM"),
    ({"type": "re deem"}, "type is not an activity type"),
    ({"size": "lots"}, "size is not a number"),
    ({"outcomeIndex": "x"}, "outcomeIndex is not an integer"),
])
def test_malformed_activity_is_refused_with_its_reason(change, reason):
    rec = {**next(r for r in ACTIVITY if r["type"] == "REDEEM"), **change}
    with pytest.raises(RecordError, match=reason):
        parse_activity(rec)


def test_a_malformed_activity_row_is_kept_aside_and_the_page_goes_on():
    from polycopy.ingest import ACTIVITY_SOURCE, fetch_wallet_activity
    from polycopy.polymarket.clients import RawPage

    good = [r for r in ACTIVITY if r["proxyWallet"] == "0x2a1441dc244432d268a103fd7d4a5559813f0762"]
    bad = {**good[0], "usdcSize": "n/a"}

    class Data:
        def iter_wallet_activity(self, wallet, start, end, types=()):
            yield RawPage([bad, *good], "v1")

    class Clients:
        data = Data()

    out = fetch_wallet_activity(Clients(), ["0x2a1441dc244432d268a103fd7d4a5559813f0762"], 0, 2**31)
    assert len(out.events) == 1  # 67 exact repeats of one redeem
    (rej,) = out.rejects.values()
    assert rej.source == ACTIVITY_SOURCE and "usdcSize is not a number" in rej.reason
    assert json.loads(rej.payload)["usdcSize"] == "n/a"
