"""Ingestion logic: fetch from the APIs, parse into the internal schema, keep rejects.

Pure Python (no Dagster): the Dagster assets call these functions and write the
results to the warehouse.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from polycopy.polymarket.categories import UNKNOWN as UNKNOWN_CATEGORY
from polycopy.polymarket.clients import PolymarketClients
from polycopy.polymarket.markets import Market, Resolution, parse_market, resolve_market
from polycopy.polymarket.schema import (ActivityEvent, Rejected, RecordError, Trade, parse_activity,
                                        parse_or_keep_aside, parse_trade)

TRADES_SOURCE = "data_api.trades"
ACTIVITY_SOURCE = "data_api.activity"
MARKETS_SOURCE = "gamma.markets"
RESOLUTIONS_SOURCE = "gamma.resolutions"


@dataclass
class TradeIngest:
    """Trades of one time window: unique trades, rejects and what was seen."""

    trades: dict[str, Trade] = field(default_factory=dict)
    rejects: dict[str, Rejected] = field(default_factory=dict)
    stats: Counter = field(default_factory=Counter)

    def add_records(self, records: list, shape: str) -> None:
        for rec in records:
            self.stats["records_seen"] += 1
            self.stats[f"records_{shape}"] += 1
            t = parse_or_keep_aside(rec, parse_trade, TRADES_SOURCE, self.rejects)
            if t is None:
                continue
            if t.trade_key in self.trades:
                self.stats["duplicates_collapsed"] += 1
            else:
                self.trades[t.trade_key] = t


def fetch_trades_window(clients: PolymarketClients, condition_ids: list[str], start_ts: int,
                        end_ts: int, sink=None) -> TradeIngest:
    """All trades of ``condition_ids`` with timestamp in ``[start_ts, end_ts)``.

    With ``sink(trades, rejects)``, each market's trades and rejects are handed over as
    soon as its walk ends and only the statistics are kept (bounded memory); without
    it, everything is returned in the result.
    """
    out = TradeIngest()
    for cid in condition_ids:
        market = TradeIngest()
        out.stats["markets_walked"] += 1
        for page in clients.data.iter_market_trades(cid, start_ts, end_ts):
            market.stats["pages"] += 1
            market.add_records(page.records, page.shape)
        # A record's own timestamp decides its window, even if a page held it early.
        trades = {k: t for k, t in market.trades.items() if start_ts <= t.timestamp < end_ts}
        out.stats.update(market.stats)
        out.stats["trades"] += len(trades)
        out.stats["rejects"] += len(market.rejects)
        if sink is not None:
            sink(list(trades.values()), list(market.rejects.values()))
        else:
            out.trades.update(trades)
            out.rejects.update(market.rejects)
    return out


def event_tags_by_market(clients: PolymarketClients, stats: Counter) -> dict[str, list]:
    """{condition id: its event's tags} from /events/keyset, open and closed events."""
    out: dict[str, list] = {}
    for closed in (False, True):
        for page in clients.gamma.iter_events(closed=closed):
            for ev in page:
                stats["events_seen"] += 1
                if not isinstance(ev, dict) or not isinstance(ev.get("tags"), list):
                    continue
                for m in ev.get("markets") or []:
                    cid = m.get("conditionId") if isinstance(m, dict) else None
                    if isinstance(cid, str):
                        out.setdefault(cid.lower(), []).extend(ev["tags"])
    return out


def fetch_markets(clients: PolymarketClients) -> tuple[list[Market], list[Rejected], Counter]:
    """Every market Gamma lists, open and closed, with its own and its event's tags;
    malformed ones are rejected."""
    markets: dict[str, Market] = {}
    rejects: dict[str, Rejected] = {}
    stats: Counter = Counter()
    event_tags = event_tags_by_market(clients, stats)
    for closed in (False, True):
        for page in clients.gamma.iter_markets(closed=closed):
            for rec in page:
                stats["records_seen"] += 1
                cid = rec.get("conditionId") if isinstance(rec, dict) else None
                tags = event_tags.get(cid.lower()) if isinstance(cid, str) else None
                m = parse_or_keep_aside(rec, lambda r: parse_market(r, tags), MARKETS_SOURCE, rejects)
                if m is not None:
                    markets[m.condition_id] = m
    stats["markets"] = len(markets)
    stats["markets_unknown_category"] = sum(1 for m in markets.values() if m.category == UNKNOWN_CATEGORY)
    return list(markets.values()), list(rejects.values()), stats


def resolutions_between(markets: list[Market], start_ts: int, end_ts: int
                        ) -> tuple[list[Resolution], list[Rejected]]:
    """Resolution rows of markets finally resolved with ``closedTime`` in the window."""
    out: list[Resolution] = []
    rejects: list[Rejected] = []
    for m in markets:
        if m.closed_ts is None or not start_ts <= m.closed_ts < end_ts:
            continue
        try:
            rows = resolve_market(m)
        except RecordError as exc:
            rejects.append(Rejected.of(RESOLUTIONS_SOURCE, str(exc), m.as_row()))
            continue
        if rows:
            out.extend(rows)
    return out, rejects


def wallets_that_matter(warehouse, followed: list[str], max_candidates: int, min_trades: int) -> dict[str, list[str]]:
    """The wallets whose activity (splits, merges, redeems, conversions, rewards, and their
    trades in any market) is worth reading: every followed wallet, and the candidates —
    the last scoring run's best ``max_candidates`` by the lower bound of their score (not
    excluded) plus its watchlist, or, before any scoring ran, the ``max_candidates`` most
    active wallets with at least ``min_trades`` fills. Addresses lower case, by reason."""
    out = {"followed": sorted({w.lower() for w in followed})}
    if warehouse.table_exists("scores.wallet_scores"):
        scored = warehouse.query_df(
            "select wallet_address from scores.wallet_scores where not excluded "
            f"order by wqs_lower desc, wallet_address limit {int(max_candidates)}")
        cands = set(scored["wallet_address"])
        if warehouse.table_exists("scores.whale_watchlist"):
            cands |= set(warehouse.query_df("select wallet_address from scores.whale_watchlist")["wallet_address"])
        out["candidates"] = sorted(cands)
    else:
        active = warehouse.query_df(
            "select proxy_wallet, count(*) as n from raw.trades group by proxy_wallet having count(*) >= ? "
            f"order by n desc, proxy_wallet limit {int(max_candidates)}", [int(min_trades)])
        out["candidates"] = sorted(active["proxy_wallet"])
    return out


@dataclass
class ActivityIngest:
    """Wallet activity of one time window: unique events, rejects and what was seen."""

    events: dict[str, ActivityEvent] = field(default_factory=dict)
    rejects: dict[str, Rejected] = field(default_factory=dict)
    stats: Counter = field(default_factory=Counter)


# What a candidate's activity is read for: the movements of shares and the payments that
# are not trades (its trades come from the market walk).
NON_TRADE_TYPES = ("SPLIT", "MERGE", "REDEEM", "CONVERSION", "REWARD", "MAKER_REBATE")


def fetch_wallet_activity(clients: PolymarketClients, wallets: list[str], start_ts: int, end_ts: int,
                          sink=None, types: tuple[str, ...] = (), out: ActivityIngest | None = None) -> ActivityIngest:
    """Every activity row of ``wallets`` with timestamp in ``[start_ts, end_ts)`` — of
    ``types``, or of every type: trades (as events keyed by their trade key) and the rest.
    A malformed row is kept aside with its reason; it never fails the page. With
    ``sink(events, rejects)`` each wallet's rows are handed over when its walk ends
    (bounded memory). ``out`` accumulates the statistics of several calls."""
    out = out if out is not None else ActivityIngest()
    for wallet in wallets:
        events: dict[str, ActivityEvent] = {}
        rejects: dict[str, Rejected] = {}
        for page in clients.data.iter_wallet_activity(wallet, start_ts, end_ts, types):
            out.stats["pages"] += 1
            for rec in page.records:
                out.stats["records_seen"] += 1
                out.stats[f"records_{page.shape}"] += 1
                item = parse_or_keep_aside(rec, parse_activity, ACTIVITY_SOURCE, rejects)
                if item is None:
                    continue
                event = ActivityEvent.of_trade(item) if isinstance(item, Trade) else item
                if not start_ts <= event.timestamp < end_ts:
                    continue
                if event.activity_key in events:
                    out.stats["duplicates_collapsed"] += 1
                events[event.activity_key] = event
        out.stats["wallets_read"] += 1
        for e in events.values():
            out.stats[f"type_{e.type}"] += 1
        out.stats["events"] += len(events)
        out.stats["rejects"] += len(rejects)
        if sink is not None:
            sink(list(events.values()), list(rejects.values()))
        else:
            out.events.update(events)
            out.rejects.update(rejects)
    return out
