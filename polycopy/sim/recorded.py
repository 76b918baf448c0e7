"""A venue that serves records captured from the real Polymarket API, as they were.

``RecordedVenue`` answers the same routes as the simulated venue (v1 and /v2 Data API,
Gamma /markets and the keyset routes) from a list of real /activity rows and real Gamma
market records, so the whole pipeline can be run on real data offline. Nothing is
invented: markets Gamma did not return are not served, books do not exist, and a
record is served in the /v2 (snake_case) shape by renaming its fields only.

    polycopy-sim serve-recorded --activity data_api_activity.json --markets gamma_markets.json
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from polycopy.polymarket.markets import parse_time
from polycopy.sim.server import FaultConfig, _int, gamma_page, v2_filters, v2_page

# v1 (camelCase) → /v2 (snake_case) field names of Data API rows.
_V2_NAMES = {"proxyWallet": "proxy_wallet", "conditionId": "condition_id", "asset": "token_id",
             "usdcSize": "usdc_size", "transactionHash": "transaction_hash", "outcomeIndex": "outcome_index",
             "eventSlug": "event_slug", "profileImage": "profile_image",
             "profileImageOptimized": "profile_image_optimized"}


def _to_v2(rec: dict) -> dict:
    return {_V2_NAMES.get(k, k): v for k, v in rec.items()}


class _FixedClock:
    """The clock of a recording: it stands after the last record."""

    def __init__(self, ts: int):
        self.start_ts = self.horizon_ts = ts
        self.speed = 0.0
        self._lock = threading.Lock()

    def now(self) -> int:
        return self.start_ts

    def set(self, ts: int) -> int:
        return self.start_ts


class RecordedVenue:
    """Serves captured records. ``activity``: /activity rows (v1 shape, any type);
    ``markets``: Gamma market records. Exact repeats in a capture are served as captured."""

    offset_cap = 3000
    limiter = None

    def __init__(self, activity: list[dict], markets: list[dict]):
        self.activity_records = [r for r in activity if isinstance(r, dict)]
        self.market_records = [m for m in markets if isinstance(m, dict)]
        ts = [r.get("timestamp") for r in self.activity_records if isinstance(r.get("timestamp"), int)]
        ts += [t for t in (parse_time(m.get("closedTime")) for m in self.market_records) if t]
        self.clock = _FixedClock(max(ts) + 86_400 if ts else int(time.time()))
        self.faults = FaultConfig()
        self.stats: Counter = Counter()
        order = sorted(range(len(self.activity_records)),
                       key=lambda i: (self.activity_records[i].get("timestamp") or 0, i))
        self.act_keys = np.array([[self.activity_records[i].get("timestamp") or 0, i] for i in order],
                                 dtype=np.int64).reshape(-1, 2)

    @classmethod
    def from_files(cls, activity_path: str | Path, markets_path: str | Path) -> "RecordedVenue":
        def load(p):
            data = json.loads(Path(p).read_text())
            return data if isinstance(data, list) else [data]
        return cls(load(activity_path), load(markets_path))

    # ---- what the handler asks of a venue ----------------------------------------------
    def draw_fault(self):
        return None

    def mangle(self, items: list) -> list:
        return items

    def _select(self, q: dict, market_key: str, trades_only: bool) -> np.ndarray:
        """(ts, index) keys of the rows in scope, oldest first."""
        user = (q.get("user") or "").lower()
        markets = {c for c in (q.get(market_key) or "").split(",") if c}
        types = {t for t in (q.get("type") or "").upper().split(",") if t}
        keep = []
        for ts, i in self.act_keys:
            r = self.activity_records[i]
            kind = str(r.get("type") or "TRADE").upper()
            if trades_only and kind != "TRADE":
                continue
            if types and kind not in types:
                continue
            if user and str(r.get("proxyWallet", "")).lower() != user:
                continue
            if markets and r.get("conditionId") not in markets:
                continue
            if q.get("side") in ("BUY", "SELL") and r.get("side") != q["side"]:
                continue
            if q.get("start") and ts < _int(q["start"], 0):
                continue
            if q.get("end") and ts > _int(q["end"], 0):
                continue
            keep.append((ts, i))
        return np.array(keep, dtype=np.int64).reshape(-1, 2)

    def trades_v1(self, q: dict):
        keys = self._select(q, "market", trades_only=True)[::-1]
        offset, limit = _int(q.get("offset"), 0), _int(q.get("limit"), 100)
        if offset < 0 or offset > self.offset_cap:
            return 400, {"error": f"offset must be between 0 and {self.offset_cap}"}
        return 200, [self._trade_v1(int(i)) for _, i in keys[offset:offset + limit]]

    def _trade_v1(self, i: int) -> dict:
        return {k: v for k, v in self.activity_records[i].items() if k not in ("type", "usdcSize")}

    def activity(self, q: dict):
        if not q.get("user"):
            return 400, {"error": "user is required"}
        keys = self._select(q, "market", trades_only=False)
        if (q.get("sortDirection") or "DESC").upper() == "DESC":
            keys = keys[::-1]
        offset, limit = _int(q.get("offset"), 0), _int(q.get("limit"), 100)
        return 200, [self.activity_records[int(i)] for _, i in keys[offset:offset + limit]]

    def trades_v2(self, q: dict):
        filters = v2_filters(q, ("condition_id", "user", "side", "start", "end"))
        keys = self._select(q, "condition_id", trades_only=True)[::-1]
        return v2_page(keys, lambda i: _to_v2(self._trade_v1(i)), q, filters)

    def activity_v2(self, q: dict):
        if not q.get("user"):
            return 400, {"error": "user is required"}
        filters = v2_filters(q, ("user", "condition_id", "type", "side", "start", "end", "sort_direction"))
        keys = self._select(q, "condition_id", trades_only=False)
        if (q.get("sort_direction") or "DESC").upper() == "DESC":
            keys = keys[::-1]
        return v2_page(keys, lambda i: _to_v2(self.activity_records[i]), q, filters)

    def _markets_in_scope(self, q: dict, multi: dict) -> np.ndarray:
        wanted = {c for v in multi.get("condition_ids", []) for c in v.split(",") if c}
        closed = q.get("closed")
        keep = []
        for i, m in enumerate(self.market_records):
            if closed is not None and bool(m.get("closed")) != (str(closed).lower() == "true"):
                continue
            if wanted and m.get("conditionId") not in wanted:
                continue
            keep.append(i)
        return np.array(keep, dtype=np.int64)

    def markets(self, q: dict):
        idx = self._markets_in_scope(q, {"condition_ids": [q["condition_ids"]]} if q.get("condition_ids") else {})
        offset, limit = _int(q.get("offset"), 0), _int(q.get("limit"), 100)
        return 200, [self.market_records[int(i)] for i in idx[offset:offset + limit]]

    def markets_keyset(self, q: dict, multi: dict):
        filters = {**v2_filters(q, ("closed", "include_tag")), "condition_ids": sorted(multi.get("condition_ids", []))}
        return gamma_page(self._markets_in_scope(q, multi), q, filters, "markets", lambda i: self.market_records[i])

    def events_keyset(self, q: dict, multi: dict):
        # The capture holds no event records: none are served.
        return 200, {"events": [], "next_cursor": None}

    def market_by_id(self, market_id: str, q: dict):
        for m in self.market_records:
            if str(m.get("id")) == market_id:
                return 200, m
        return 404, {"error": "market not found"}

    def _no_book(self, q: dict):
        return 404, {"error": "No orderbook exists for the requested token id"}

    book = midpoint = price = spread = tick_size = _no_book

    def prices_history(self, q: dict):
        return 200, {"history": []}

    def prices_history_v2(self, q: dict):
        return 200, {"data": [], "pagination": {"has_more": False, "next_cursor": None}}
