"""The trade feed of followed wallets, behind one interface.

``TradeFeed.poll`` returns the new trades of the given wallets since a cursor. The
documented path polls the Data API's ``/activity`` per wallet; a real-time socket
feed can implement the same interface. Polls overlap the cursor by a few seconds
so that late or out-of-order records are not missed; the caller de-duplicates on
``trade_key`` (the sensor's run key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from polycopy.polymarket.clients import DataApiClient
from polycopy.polymarket.schema import Rejected, RecordError, Trade, parse_activity

FEED_SOURCE = "data_api.activity"


@dataclass
class FeedPoll:
    trades: list[Trade] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)
    cursor: dict[str, int] = field(default_factory=dict)


class TradeFeed(Protocol):
    def poll(self, wallets: list[str], cursor: dict[str, int], now: float) -> FeedPoll: ...


class PollingActivityFeed:
    """Polls ``/activity?user=…&type=TRADE`` for each wallet.

    cursor: newest trade timestamp seen per wallet (unix seconds).
    overlap_s: how far behind the cursor each poll starts again.
    lookback_s: where a wallet without a cursor starts, relative to ``now``.
    """

    def __init__(self, data: DataApiClient, overlap_s: float = 30.0, lookback_s: float = 300.0):
        self.data = data
        self.overlap_s = overlap_s
        self.lookback_s = lookback_s

    def poll(self, wallets: list[str], cursor: dict[str, int], now: float) -> FeedPoll:
        out = FeedPoll(cursor=dict(cursor))
        seen: set[str] = set()
        for wallet in wallets:
            last = cursor.get(wallet)
            start = int(now - self.lookback_s) if last is None else int(last - self.overlap_s)
            newest = last if last is not None else int(now - self.lookback_s)
            for page in self.data.iter_user_activity(wallet, start_ts=start, types="TRADE"):
                for rec in page:
                    try:
                        item = parse_activity(rec)
                    except RecordError as exc:
                        out.rejects.append(Rejected.of(FEED_SOURCE, str(exc), rec))
                        continue
                    if not isinstance(item, Trade) or item.trade_key in seen:
                        continue
                    seen.add(item.trade_key)
                    out.trades.append(item)
                    newest = max(newest, item.timestamp)
            out.cursor[wallet] = newest
        out.trades.sort(key=lambda t: (t.timestamp, t.trade_key))
        return out
