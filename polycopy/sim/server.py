"""HTTP server of the simulated venue: the real Polymarket routes and JSON shapes.

Routes (all GET unless noted):
- Data API: ``/trades``, ``/activity``, ``/v2/trades`` (keyset cursor paging)
- Gamma: ``/markets``, ``/markets/{id}``
- CLOB: ``/book``, ``/midpoint``, ``/price``, ``/tick-size``, ``/prices-history``, ``/clob-markets/{condition_id}``
- Control (tests and benchmarks only, never used by the pipeline):
  ``GET/POST /_sim/clock``, ``GET /_sim/stats``, ``POST /_sim/faults``, ``POST /_sim/market`` (a
  market's price path, end date and resolution)

The venue clock starts at the end of the history; trades after it are released as
the clock advances (``speed`` simulated seconds per wall second; 0 freezes it).
"""

from __future__ import annotations

import base64
import json
import math
import random
import socket
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field, asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

from polycopy.sim.clob_exchange import SimClob
from polycopy.sim.records import RecordRenderer
from polycopy.sim.world import TICK, SimConfig, SimWorld, generate_world

# The taker fee the venue charges: shares × rate × (p(1−p))^exponent (pUSD).
FEE_RATE, FEE_EXPONENT = 0.05, 1

# Published per-10-second limits (requests) of the real APIs.
RATE_LIMITS_PER_10S = {"data_trades": 200, "data": 1000, "gamma_markets": 300, "clob_book": 1500, "clob": 9000}
OFFSET_CAP = 3000
MAX_LIMIT = 10_000
V2_MAX_LIMIT = 1_000
ACTIVITY_MAX_LIMIT = 500
# Activity types the venue generates (the API knows a few more: deposits, tips, ...).
ACTIVITY_ROUTE_TYPES = ("TRADE", "SPLIT", "MERGE", "REDEEM", "CONVERSION", "REWARD", "MAKER_REBATE")


@dataclass
class FaultConfig:
    """Faults injected on API routes. ``rate`` is the share of requests that fail."""

    rate: float = 0.0
    weights: dict[str, float] = field(default_factory=lambda: {"429": 0.4, "5xx": 0.4, "timeout": 0.2})
    retry_after_s: int = 1
    hang_s: float = 2.0
    duplicate_rate: float = 0.0
    shuffle: bool = False
    seed: int = 0
    # Orders held in flight: the next ``order_hold_count`` POST /order requests are held
    # ``order_hold_s`` seconds "before" the exchange takes them or "after" it has (the answer
    # delayed), so that a client can die with its order in flight.
    order_hold_s: float = 0.0
    order_hold: str = "before"
    order_hold_count: int = 0


class SimClock:
    """Simulated time: ``start`` + (wall elapsed × speed) + manual advances, capped at the horizon."""

    def __init__(self, start_ts: int, horizon_ts: int, speed: float):
        self._lock = threading.Lock()
        self.start_ts = start_ts
        self.horizon_ts = horizon_ts
        self.speed = speed
        self._wall0 = time.time()
        self._offset = 0.0

    def now(self) -> int:
        with self._lock:
            t = self.start_ts + (time.time() - self._wall0) * self.speed + self._offset
        return int(min(t, self.horizon_ts))

    def set(self, ts: int) -> int:
        with self._lock:
            self._offset += ts - (self.start_ts + (time.time() - self._wall0) * self.speed + self._offset)
        return self.now()


class _RateLimiter:
    def __init__(self, limits: dict[str, int], window_s: float = 10.0):
        self.limits = limits
        self.window = window_s
        self.hits: dict[str, deque] = {k: deque() for k in limits}
        self.lock = threading.Lock()

    def check(self, groups: list[str]) -> float:
        """Record a hit; return 0 if allowed, else seconds to wait."""
        now = time.monotonic()
        with self.lock:
            for g in groups:
                q = self.hits[g]
                while q and now - q[0] > self.window:
                    q.popleft()
                if len(q) >= self.limits[g]:
                    return self.window - (now - q[0])
            for g in groups:
                self.hits[g].append(now)
        return 0.0


class SimVenue:
    """The world plus indexes, clock, faults and rate limits, ready to serve."""

    def __init__(self, world: SimWorld, speed: float = 0.0, faults: FaultConfig | None = None,
                 enforce_rate_limits: bool = False, offset_cap: int = OFFSET_CAP):
        self.world = world
        self.offset_cap = offset_cap
        self.render = RecordRenderer(world)
        self.clock = SimClock(world.config.history_end_ts, world.config.horizon_ts, speed)
        self.faults = faults or FaultConfig()
        self._fault_rng = random.Random(self.faults.seed)
        self._fault_lock = threading.Lock()
        self.stats: Counter = Counter()
        self._grids: dict = {}
        self._grid_revision = world.revision
        self.limiter = _RateLimiter(RATE_LIMITS_PER_10S) if enforce_rate_limits else None
        t = world.trades
        tmpl = world.malformed["template_trade_idx"].to_numpy()
        self.row_ts = np.concatenate([t["ts"].to_numpy(), t["ts"].to_numpy()[tmpl]])
        self.row_market = np.concatenate([t["market_idx"].to_numpy(), t["market_idx"].to_numpy()[tmpl]])
        self.row_wallet = np.concatenate([t["wallet_idx"].to_numpy(), t["wallet_idx"].to_numpy()[tmpl]])
        self.row_side = np.concatenate([t["side"].to_numpy(), t["side"].to_numpy()[tmpl]])
        size = t["size"].to_numpy()
        price = t["price"].to_numpy()
        self.row_size = np.concatenate([size, size[tmpl]])
        self.row_cash = np.concatenate([size * price, (size * price)[tmpl]])
        n = len(self.row_ts)
        rows = np.arange(n)
        self.global_order = np.lexsort((rows, self.row_ts))
        self.by_market, self.market_bounds = self._index(self.row_market, len(world.markets))
        self.by_wallet, self.wallet_bounds = self._index(self.row_wallet, len(world.wallets))
        m = world.markets
        self.cid_to_market = {c: i for i, c in enumerate(m["condition_id"])}
        self.addr_to_wallet = {a: i for i, a in enumerate(world.wallets["address"])}
        self.token_to = {}
        for i, (t0, t1) in enumerate(zip(m["token0"], m["token1"])):
            self.token_to[str(t0)] = (i, 0)
            self.token_to[str(t1)] = (i, 1)
        self.market_id_to_idx = {mid: i for i, mid in enumerate(m["market_id"])}
        self.n_rows = n
        a = world.activity if world.activity is not None else pd.DataFrame(
            {"ts": [], "wallet_idx": [], "market_idx": [], "type": []})
        self.act_ts = a["ts"].to_numpy(dtype=np.int64)
        self.act_market = a["market_idx"].to_numpy(dtype=np.int64)
        self.act_type = a["type"].to_numpy(dtype=object).astype(str)
        act_wallet = a["wallet_idx"].to_numpy(dtype=np.int64)
        order = np.lexsort((np.arange(len(a)), self.act_ts, act_wallet))
        self.act_by_wallet = order
        self.act_bounds = np.searchsorted(act_wallet[order], np.arange(len(world.wallets) + 1))
        self.event_slugs = sorted(set(m["event_slug"]))
        ev_index = {sl: e for e, sl in enumerate(self.event_slugs)}
        self.event_groups: list[list[int]] = [[] for _ in self.event_slugs]
        for i, sl in enumerate(m["event_slug"]):
            self.event_groups[ev_index[sl]].append(i)
        self.clob = SimClob(self.clob_market, self.clob_book, self.payouts, self.clock)

    # ---- what the CLOB trading API needs of the world ---------------------------------
    def clob_market(self, token_id: str | None = None, condition_id: str | None = None) -> dict | None:
        """A market as the exchange trades it, by one of its tokens or its condition id."""
        k = None
        if token_id is not None:
            if str(token_id) not in self.token_to:
                return None
            mi, k = self.token_to[str(token_id)]
        elif condition_id in self.cid_to_market:
            mi = self.cid_to_market[condition_id]
        else:
            return None
        m = self.world.markets
        return {"condition_id": m["condition_id"].iat[mi], "tokens": [str(m["token0"].iat[mi]), str(m["token1"].iat[mi])],
                "outcome": None if k is None else str(m["outcome0" if k == 0 else "outcome1"].iat[mi]),
                "neg_risk": bool(m["neg_risk"].iat[mi]), "tick": f"{TICK}", "fee_rate": FEE_RATE,
                "fee_exponent": FEE_EXPONENT, "closed": self.clock.now() >= int(m["closed_ts"].iat[mi])}

    def clob_book(self, token_id: str, now: int) -> dict | None:
        """The token's book now, best level first, as floats; None once the market closed.
        The exchange's own view: it subtracts what was taken this minute itself."""
        code, book = self.book({"token_id": str(token_id)}, less_taken=False)
        if code != 200:
            return None
        return {side: [(float(l["price"]), float(l["size"])) for l in reversed(book[side])] for side in ("bids", "asks")}

    def payouts(self, condition_id: str, now: int) -> tuple[float, float] | None:
        """Payout per share of each outcome once the market resolved (1 / 0, void 0.5), else None."""
        mi = self.cid_to_market.get(condition_id)
        m = self.world.markets
        if mi is None or now < int(m["resolved_ts"].iat[mi]):
            return None
        if bool(m["void"].iat[mi]):
            return 0.5, 0.5
        return (1.0, 0.0) if int(m["winner"].iat[mi]) == 0 else (0.0, 1.0)

    def _index(self, key: np.ndarray, n_keys: int):
        rows = np.arange(len(key))
        order = np.lexsort((rows, self.row_ts, key))
        bounds = np.searchsorted(key[order], np.arange(n_keys + 1))
        return order, bounds

    # ---- queries -----------------------------------------------------------------
    def _candidates(self, markets: list[int] | None, wallet: int | None) -> np.ndarray:
        """Rows (ascending time) in scope, visible at the current clock."""
        if wallet is not None:
            sl = self.by_wallet[self.wallet_bounds[wallet]:self.wallet_bounds[wallet + 1]]
            if markets is not None:
                sl = sl[np.isin(self.row_market[sl], markets)]
        elif markets is not None:
            parts = [self.by_market[self.market_bounds[i]:self.market_bounds[i + 1]] for i in markets]
            sl = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
            if len(markets) > 1:
                sl = sl[np.lexsort((sl, self.row_ts[sl]))]
        else:
            sl = self.global_order
        return sl[self.row_ts[sl] <= self.clock.now()]

    def _filter(self, rows: np.ndarray, q: dict) -> np.ndarray:
        side = q.get("side")
        if side in ("BUY", "SELL"):
            rows = rows[self.row_side[rows] == (0 if side == "BUY" else 1)]
        ftype, famount = q.get("filterType"), q.get("filterAmount")
        if ftype and famount is not None:
            amount = float(famount)
            vals = self.row_cash if ftype == "CASH" else self.row_size
            rows = rows[vals[rows] >= amount]
        return rows

    def trades_v1(self, q: dict) -> tuple[int, object]:
        limit = _int(q.get("limit"), 100)
        offset = _int(q.get("offset"), 0)
        if not 0 <= limit <= MAX_LIMIT:
            return 400, {"error": f"limit must be between 0 and {MAX_LIMIT}"}
        if offset < 0 or offset > self.offset_cap:
            return 400, {"error": f"offset must be between 0 and {self.offset_cap}"}
        if ("filterType" in q) != ("filterAmount" in q):
            return 400, {"error": "filterType and filterAmount must be provided together"}
        markets, wallet, err = self._scope(q.get("market"), q.get("user"))
        if err:
            return 400, {"error": err}
        rows = self._filter(self._candidates(markets, wallet), q)[::-1]
        page = rows[offset:offset + limit]
        return 200, [self.render.trade_v1(int(r)) for r in page]

    def activity(self, q: dict) -> tuple[int, object]:
        """Data API /activity (v1): a wallet's movements, offset paging (capped)."""
        limit = _int(q.get("limit"), 100)
        offset = _int(q.get("offset"), 0)
        if not 0 <= limit <= ACTIVITY_MAX_LIMIT:
            return 400, {"error": f"limit must be between 0 and {ACTIVITY_MAX_LIMIT}"}
        if offset < 0 or offset > self.offset_cap:
            return 400, {"error": f"offset must be between 0 and {self.offset_cap}"}
        markets, wallet, types, err = self._activity_scope(q, "market")
        if err:
            return err
        if wallet is None:
            return 200, []
        keys = self._activity_rows(wallet, markets, types, q)
        if (q.get("sortDirection") or "DESC").upper() == "DESC":
            keys = keys[::-1]
        return 200, [self._render_activity(int(u), False) for u in keys[offset:offset + limit, 1]]


    def _time_window(self, rows: np.ndarray, ts: np.ndarray, q: dict) -> np.ndarray:
        if q.get("start"):
            rows = rows[ts[rows] >= _int(q["start"], 0)]
        if q.get("end"):
            rows = rows[ts[rows] <= _int(q["end"], 0)]
        return rows

    def trades_v2(self, q: dict) -> tuple[int, object]:
        """Data API /v2/trades: newest first, keyset cursor (``cursor``), the official
        client's parameters (condition_id as a comma list of up to 20, user, side,
        taker_only, filter_type/filter_amount, start, end, limit <= 1000)."""
        if "offset" in q:
            return 400, {"error": "offset is not supported; follow pagination.next_cursor"}
        filters = v2_filters(q, ("condition_id", "user", "side", "taker_only", "filter_type",
                                       "filter_amount", "start", "end"))
        cond = filters.get("condition_id")
        if cond and len(cond.split(",")) > 20:
            return 400, {"error": "at most 20 condition_id values"}
        markets, wallet, err = self._scope(cond, filters.get("user"))
        if err:
            return 400, {"error": err}
        rows = self._candidates(markets, wallet)
        rows = self._filter(rows, {"side": q.get("side"), "filterType": q.get("filter_type"),
                                   "filterAmount": q.get("filter_amount")})
        rows = self._time_window(rows, self.row_ts, q)[::-1]
        keys = np.stack([self.row_ts[rows], rows], axis=1) if len(rows) else np.zeros((0, 2), dtype=np.int64)
        return v2_page(keys, self.render.trade_v2, q, filters)

    # ---- activity ----------------------------------------------------------------------
    def _activity_rows(self, wallet: int, markets: list[int] | None, types: set[str], q: dict) -> np.ndarray:
        """(ts, uid) of a wallet's visible activity in the query's time window (and side,
        for trades), oldest first: trades are uids below ``n_rows``, other movements
        ``n_rows + i`` for ``world.activity`` row i."""
        parts = []
        if "TRADE" in types:
            r = self._candidates(markets, wallet)
            parts.append(np.stack([self.row_ts[r], r], axis=1))
        sl = self.act_by_wallet[self.act_bounds[wallet]:self.act_bounds[wallet + 1]]
        sl = sl[self.act_ts[sl] <= self.clock.now()]
        if markets is not None:
            sl = sl[np.isin(self.act_market[sl], markets)]
        if types != set(ACTIVITY_ROUTE_TYPES):
            sl = sl[np.isin(self.act_type[sl], sorted(types))]
        parts.append(np.stack([self.act_ts[sl], self.n_rows + sl], axis=1))
        keys = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)
        keys = keys[np.lexsort((keys[:, 1], keys[:, 0]))] if len(keys) else keys.reshape(0, 2)
        keys = keys[self._time_window(np.arange(len(keys)), keys[:, 0], q)]
        if q.get("side") in ("BUY", "SELL"):
            trade = keys[:, 1] < self.n_rows
            side = np.full(len(keys), -1)
            side[trade] = self.row_side[keys[trade, 1]]
            keys = keys[side == (0 if q["side"] == "BUY" else 1)]
        return keys

    def _render_activity(self, uid: int, v2: bool) -> dict:
        if uid < self.n_rows:
            return self.render.trade_activity_v2(uid) if v2 else self.render.trade_v1(uid, activity=True)
        i = uid - self.n_rows
        return self.render.activity_v2(i) if v2 else self.render.activity_v1(i)

    def _activity_scope(self, q: dict, market_key: str):
        user = q.get("user")
        if not user:
            return None, None, None, (400, {"error": "user is required"})
        types = set((q.get("type") or ",".join(ACTIVITY_ROUTE_TYPES)).upper().split(","))
        unknown = types - set(ACTIVITY_ROUTE_TYPES) - {"DEPOSIT", "WITHDRAWAL", "YIELD", "MIGRATION", "TIP",
                                                          "TAKER_REBATE", "REFERRAL_REWARD"}
        if unknown:
            return None, None, None, (400, {"error": f"unknown activity type(s) {sorted(unknown)}"})
        markets, wallet, err = self._scope(q.get(market_key), user)
        if err:
            return None, None, None, (400, {"error": err})
        return markets, wallet, types, None

    def activity_v2(self, q: dict) -> tuple[int, object]:
        """Data API /v2/activity: every movement of one wallet (TRADE, SPLIT, MERGE, REDEEM,
        CONVERSION, REWARD, MAKER_REBATE), keyset cursor, newest first unless
        ``sort_direction=ASC``."""
        if "offset" in q:
            return 400, {"error": "offset is not supported; follow pagination.next_cursor"}
        markets, wallet, types, err = self._activity_scope(q, "condition_id")
        if err:
            return err
        direction = (q.get("sort_direction") or "DESC").upper()
        filters = {**v2_filters(q, ("user", "condition_id", "type", "side", "start", "end")),
                   "sort_direction": direction}
        if direction not in ("ASC", "DESC"):
            return 400, {"error": "sort_direction must be ASC or DESC"}
        if wallet is None:
            keys = np.zeros((0, 2), dtype=np.int64)
        else:
            keys = self._activity_rows(wallet, markets, types, q)
            if direction == "DESC":
                keys = keys[::-1]
        return v2_page(keys, lambda u: self._render_activity(u, True), q, filters)

    def markets(self, q: dict) -> tuple[int, object]:
        limit = min(_int(q.get("limit"), 100), 500)
        offset = _int(q.get("offset"), 0)
        now = self.clock.now()
        m = self.world.markets
        visible = m["open_ts"].to_numpy() <= now
        closed_flag = (q.get("closed") or "false").lower() == "true"
        is_closed = m["closed_ts"].to_numpy() <= now
        sel = visible & (is_closed == closed_flag)
        ids = q.get("condition_ids")
        if ids:
            wanted = {self.cid_to_market.get(c) for c in ids.split(",")}
            sel &= np.isin(np.arange(len(m)), [w for w in wanted if w is not None])
        idx = np.flatnonzero(sel)[offset:offset + limit]
        include_tag = str(q.get("include_tag") or "").lower() == "true"
        return 200, [self.render.market_gamma(int(i), now, include_tag=include_tag) for i in idx]

    def _visible_markets(self, q: dict, multi: dict) -> np.ndarray:
        now = self.clock.now()
        m = self.world.markets
        ids = [c for v in multi.get("condition_ids", []) for c in v.split(",") if c]
        # Markets asked for by id: look at those alone (a client resolving one market by id
        # should not cost a pass over every market).
        idx = (np.array(sorted({self.cid_to_market[c] for c in ids if c in self.cid_to_market}), dtype=np.int64)
               if ids else np.arange(len(m)))
        sel = self.world.market_column("open_ts")[idx] <= now
        closed = q.get("closed")
        if closed is not None:
            sel &= (self.world.market_column("closed_ts")[idx] <= now) == (str(closed).lower() == "true")
        return idx[sel]

    def markets_keyset(self, q: dict, multi: dict) -> tuple[int, object]:
        """Gamma /markets/keyset (what the official client's list_markets reads)."""
        filters = {**v2_filters(q, ("closed", "include_tag")),
                   "condition_ids": sorted(multi.get("condition_ids", []))}
        include_tag = str(q.get("include_tag") or "").lower() == "true"
        now = self.clock.now()
        return gamma_page(self._visible_markets(q, multi), q, filters, "markets",
                                lambda i: self.render.market_gamma(i, now, include_tag=include_tag))

    def events_keyset(self, q: dict, multi: dict) -> tuple[int, object]:
        """Gamma /events/keyset: events (groups of markets) with their tags and markets.
        ``closed=false`` (the client's default) lists events with an open market."""
        now = self.clock.now()
        m = self.world.markets
        visible = m["open_ts"].to_numpy() <= now
        groups = self.event_groups
        closed_param = q.get("closed")
        keep = []
        for e, members in enumerate(groups):
            members = [i for i in members if visible[i]]
            if not members:
                continue
            if closed_param is not None:
                all_closed = bool((m["closed_ts"].to_numpy()[members] <= now).all())
                if all_closed != (str(closed_param).lower() == "true"):
                    continue
            keep.append(e)
        ids = set(multi.get("id", []))
        if ids:
            keep = [e for e in keep if self.render.event_id(self.event_slugs[e]) in ids]
        filters = {**v2_filters(q, ("closed",)), "id": sorted(ids)}
        slugs = self.event_slugs

        def render(e: int) -> dict:
            return self.render.event_gamma(slugs[e], [i for i in groups[e] if visible[i]], now)

        return gamma_page(np.array(keep, dtype=np.int64), q, filters, "events", render)

    def market_by_id(self, market_id: str, q: dict) -> tuple[int, object]:
        i = self.market_id_to_idx.get(market_id)
        if i is None or self.world.market_column("open_ts")[i] > self.clock.now():
            return 404, {"error": "market not found"}
        include_tag = str(q.get("include_tag") or "").lower() == "true"
        return 200, self.render.market_gamma(i, self.clock.now(), include_tag=include_tag)

    def _token(self, q: dict):
        tok = q.get("token_id")
        if tok not in self.token_to:
            return None
        return self.token_to[tok]

    def book(self, q: dict, less_taken: bool = True) -> tuple[int, object]:
        """The token's book now. As the venue publishes it (``less_taken``), the liquidity
        orders took this minute is gone from it, as it is from what the exchange matches
        against: with the clock frozen, a level a FAK emptied stays empty, and a client
        pricing its next order from this book sees the bid that is really there."""
        t = self._token(q)
        if t is None:
            return 404, {"error": "No orderbook exists for the requested token id"}
        mi, k = t
        now = self.clock.now()
        if now >= self.world.market_column("closed_ts")[mi]:
            return 404, {"error": "No orderbook exists for the requested token id"}
        book = self.render.book(mi, k, now)
        if less_taken:
            for side in ("bids", "asks"):
                levels = []
                for level in book[side]:
                    left = float(level["size"]) - float(self.clob.taken(book["asset_id"], side, level["price"], now))
                    if left > 0.005:
                        levels.append({**level, "size": f"{left:.2f}"})
                book[side] = levels
        return 200, book

    def midpoint(self, q: dict) -> tuple[int, object]:
        code, book = self.book(q)
        if code != 200:
            return code, book
        if not book["bids"] or not book["asks"]:
            return 404, {"error": "No orderbook exists for the requested token id"}
        bid, ask = float(book["bids"][-1]["price"]), float(book["asks"][-1]["price"])
        return 200, {"mid": f"{(bid + ask) / 2:.4f}"}

    def price(self, q: dict) -> tuple[int, object]:
        code, book = self.book(q)
        if code != 200:
            return code, book
        side = (q.get("side") or "BUY").upper()
        # CLOB /price?side=BUY is the price you buy at (best ask).
        levels = book["asks"] if side == "BUY" else book["bids"]
        if not levels:
            return 404, {"error": "No orderbook exists for the requested token id"}
        best = levels[-1]["price"]
        return 200, {"price": best}

    def prices_history(self, q: dict) -> tuple[int, object]:
        """CLOB /prices-history: the token's price every ``fidelity`` minutes over
        [startTs, endTs] (or the last ``interval``), up to now and while the market trades."""
        tok = q.get("market")
        if tok not in self.token_to:
            return 400, {"error": "invalid market (token id)"}
        mi, k = self.token_to[tok]
        now = self.clock.now()
        w = self.world
        open_ts, closed_ts = int(w.market_column("open_ts")[mi]), int(w.market_column("closed_ts")[mi])
        fidelity = max(1, _int(q.get("fidelity"), 1)) * 60
        spans = {"1h": 3_600, "6h": 21_600, "1d": 86_400, "1w": 604_800, "1m": 2_592_000}
        end = min(_int(q.get("endTs"), now), now, closed_ts)
        start = _int(q.get("startTs"), -1)
        if start < 0:
            span = spans.get(q.get("interval") or "1d")
            start = open_ts if span is None else end - span
        start = max(start, open_ts)
        if end < start:
            return 200, {"history": []}
        first = start - start % fidelity + fidelity
        if (end - first) // fidelity >= 20_000:
            return 400, {"error": "too many points; raise fidelity or narrow the window"}
        grid_ts, grid_p = self._price_grid(mi, fidelity)
        lo, hi = np.searchsorted(grid_ts, first), np.searchsorted(grid_ts, end, side="right")
        p = grid_p[lo:hi] if k == 0 else 1.0 - grid_p[lo:hi]
        return 200, {"history": [{"t": t, "p": round(x, 4)} for t, x in zip(grid_ts[lo:hi].tolist(), p.tolist())]}

    def _price_grid(self, mi: int, step_s: int) -> tuple[np.ndarray, np.ndarray]:
        """Outcome 0's price at every multiple of ``step_s`` over the market's life, computed
        once per market and step (a backtest asks for the same histories at thousands of
        instants) and again whenever the world's prices change."""
        if self._grid_revision != self.world.revision:
            self._grids, self._grid_revision = {}, self.world.revision
        grid = self._grids.get((mi, step_s))
        if grid is None:
            w = self.world
            open_ts, closed_ts = int(w.market_column("open_ts")[mi]), int(w.market_column("closed_ts")[mi])
            ts = np.arange(open_ts - open_ts % step_s + step_s, closed_ts + 1, step_s, dtype=np.int64)
            grid = self._grids[(mi, step_s)] = (ts, w.price_yes(np.full(len(ts), mi), ts))
        return grid

    def spread(self, q: dict) -> tuple[int, object]:
        code, book = self.book(q)
        if code != 200:
            return code, book
        if not book["bids"] or not book["asks"]:
            return 404, {"error": "No orderbook exists for the requested token id"}
        return 200, {"spread": f"{float(book['asks'][-1]['price']) - float(book['bids'][-1]['price']):.4f}"}

    def prices_history_v2(self, q: dict) -> tuple[int, object]:
        """Data API /v2/prices-history (the official client's price history): points
        ``{timestamp, price, resolution_seconds}`` in the /v2 envelope, one page."""
        tok = q.get("token_id")
        bucket = max(60, _int(q.get("bucket_seconds"), 3_600))
        code, body = self.prices_history({"market": tok, "startTs": q.get("start"), "endTs": q.get("end"),
                                          "interval": q.get("interval"), "fidelity": str(bucket // 60)})
        if code != 200:
            return code, body
        data = [{"timestamp": p["t"], "price": p["p"], "resolution_seconds": bucket} for p in body["history"]]
        return 200, {"data": data, "pagination": {"has_more": False, "next_cursor": None}}

    def tick_size(self, q: dict) -> tuple[int, object]:
        if self._token(q) is None:
            return 404, {"error": "market not found"}
        return 200, {"minimum_tick_size": 0.01}

    def _scope(self, market: str | None, user: str | None):
        markets = None
        if market:
            markets = []
            for cid in market.split(","):
                if not cid.startswith("0x") or len(cid) != 66:
                    return None, None, f"invalid condition id {cid!r}"
                if cid in self.cid_to_market:
                    markets.append(self.cid_to_market[cid])
        wallet = None
        if user:
            u = user.lower()
            if not u.startswith("0x") or len(u) != 42:
                return None, None, f"invalid user address {user!r}"
            wallet = self.addr_to_wallet.get(u, -1)
            if wallet == -1:
                return [], None, None  # unknown wallet: nothing in scope
        return markets, wallet, None

    # ---- control (tests) -----------------------------------------------------------
    def fund_account(self, body: dict) -> tuple[int, dict]:
        """``POST /_sim/account``: fund a test account (``signer``, optional ``wallet`` and
        ``signature_type``, ``collateral_usd``, ``positions`` {token: shares}, ``approved``);
        answers its API credentials (nonce 0)."""
        try:
            acct = self.clob.fund(body["signer"], body.get("wallet"), int(body.get("signature_type", 0)),
                                  float(body.get("collateral_usd", 0.0)), body.get("positions") or {},
                                  bool(body.get("approved", True)))
        except (KeyError, ValueError, TypeError) as exc:
            return 400, {"error": f"bad account request: {exc}"}
        return 200, {"signer": acct.signer, "wallet": acct.wallet, "signature_type": acct.signature_type,
                     "collateral": str(acct.collateral), **self.clob.api_key_for(acct.signer, 0)}

    def control_market(self, body: dict) -> tuple[int, dict]:
        """``POST /_sim/market``: ``{"condition_id", "path": [[unix s, price of outcome 0], ...],
        "end": unix s, "resolve": {"at": unix s, "winner": 0 | 1 | null (void), "after_s": 0}}``,
        each part optional. Books, midpoints, price history and Gamma follow at once."""
        i = self.cid_to_market.get(body.get("condition_id"))
        if i is None:
            return 404, {"error": "unknown condition_id"}
        w = self.world
        if body.get("path"):
            w.set_price_path(i, [(int(t), float(p)) for t, p in body["path"]])
        if body.get("end") is not None and not body.get("resolve"):
            w.set_end(i, int(body["end"]))
        if body.get("resolve"):
            r = body["resolve"]
            w.set_resolution(i, int(r["at"]), r.get("winner"), int(r.get("after_s", 0)), body.get("end"))
        m = w.markets.iloc[i]
        return 200, {"condition_id": m.condition_id, "end_ts": int(m.end_ts), "closed_ts": int(m.closed_ts),
                     "resolved_ts": int(m.resolved_ts), "void": bool(m.void), "winner": int(m.winner)}

    # ---- faults ------------------------------------------------------------------
    def draw_fault(self) -> str | None:
        with self._fault_lock:
            f = self.faults
            if f.rate <= 0 or self._fault_rng.random() >= f.rate:
                return None
            kinds = list(f.weights)
            return self._fault_rng.choices(kinds, weights=[f.weights[k] for k in kinds])[0]

    def mangle(self, items: list) -> list:
        """Duplicate and reorder records as a faulty feed would."""
        f = self.faults
        if not items or (f.duplicate_rate <= 0 and not f.shuffle):
            return items
        with self._fault_lock:
            out = list(items)
            for it in items:
                if self._fault_rng.random() < f.duplicate_rate:
                    out.insert(self._fault_rng.randrange(len(out) + 1), it)
                    self.stats["duplicates"] += 1
            if f.shuffle and len(out) > 1:
                self._fault_rng.shuffle(out)
                self.stats["shuffled_pages"] += 1
        return out


# ---- keyset paging shared by the venues --------------------------------------------
def encode_cursor(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str) -> dict | None:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def v2_filters(q: dict, names: tuple[str, ...]) -> dict:
    return {n: q[n] for n in names if q.get(n) not in (None, "")}


def v2_page(keys: np.ndarray, render, q: dict, filters: dict):
    """A Data API /v2 page over rows already filtered and sorted in serving order, given
    as (ts, uid) keys: ``{"data": [...], "pagination": {has_more, next_cursor}}``; the
    cursor (sent back as ``cursor``) holds the last key and the filters it was made for."""
    limit = _int(q.get("limit"), 100)
    if not 0 < limit <= V2_MAX_LIMIT:
        return 400, {"error": f"limit must be between 1 and {V2_MAX_LIMIT}"}
    if q.get("cursor"):
        state = decode_cursor(q["cursor"])
        if state is None or state.get("filters") != filters:
            return 400, {"error": "malformed cursor, or a cursor for other filters"}
        ts, uid = keys[:, 0], keys[:, 1]
        if state.get("asc"):
            keep = (ts > state["ts"]) | ((ts == state["ts"]) & (uid > state["uid"]))
        else:
            keep = (ts < state["ts"]) | ((ts == state["ts"]) & (uid < state["uid"]))
        keys = keys[keep]
    page = keys[:limit]
    has_more = len(keys) > limit
    next_cursor = None
    if has_more:
        next_cursor = encode_cursor({"filters": filters, "ts": int(page[-1, 0]), "uid": int(page[-1, 1]),
                                     "asc": filters.get("sort_direction") == "ASC"})
    return 200, {"data": [render(int(u)) for u in page[:, 1]],
                 "pagination": {"has_more": has_more, "next_cursor": next_cursor}}


def gamma_page(items: np.ndarray, q: dict, filters: dict, key: str, render):
    """A Gamma keyset page: ``{key: [...], "next_cursor": str | null}``, the cursor sent
    back as ``after_cursor``; items in ascending order of their index."""
    limit = _int(q.get("limit"), 20)
    if not 0 < limit <= 1000:
        return 400, {"error": "limit must be between 1 and 1000"}
    if q.get("after_cursor"):
        state = decode_cursor(q["after_cursor"])
        if state is None or state.get("filters") != filters:
            return 400, {"error": "malformed after_cursor, or a cursor for other filters"}
        items = items[items > state["after"]]
    page = items[:limit]
    nxt = encode_cursor({"filters": filters, "after": int(page[-1])}) if len(items) > limit else None
    return 200, {key: [render(int(i)) for i in page], "next_cursor": nxt}


def _int(v, default: int) -> int:
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        return -1


_ROUTE_GROUPS = {
    "/trades": ["data_trades", "data"],
    "/v2/trades": ["data_trades", "data"],
    "/activity": ["data"],
    "/v2/activity": ["data"],
    "/markets": ["gamma_markets"],
    "/events": ["gamma_markets"],
    "/book": ["clob_book", "clob"],
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client's delayed
    # ACK holds the body back ~40 ms per response.
    disable_nagle_algorithm = True
    venue: SimVenue  # set on the subclass

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def _send(self, code: int, body, headers: dict | None = None):
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (killed with its request in flight): nobody to answer

    def _clob(self, method: str, raw: bytes = b"") -> bool:
        """Answer a CLOB trading request (True), or leave the request to the read routes."""
        v = self.venue
        if getattr(v, "clob", None) is None:  # a venue that serves records only (the recorded venue)
            return False
        url = urlparse(self.path)
        path = url.path.rstrip("/") or "/"
        q = {k: vals[-1] for k, vals in parse_qs(url.query).items()}
        if method == "POST" and path == "/rpc":
            try:
                req = json.loads(raw or b"null")
            except ValueError:
                self._send(400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
                return True
            self._send(200, v.clob.rpc(req))
            return True
        if method == "GET" and path == "/deployed":
            self._send(*v.clob.deployed(q.get("address") or "", q.get("type")))
            return True
        if method == "GET" and path == "/v2/approvals":
            self._send(*v.clob.approvals(q.get("user") or "0x" + "0" * 40))
            return True
        hold = 0.0
        if method == "POST" and path == "/order" and v.faults.order_hold_s > 0:
            with v._fault_lock:
                if v.faults.order_hold_count > 0:
                    v.faults.order_hold_count -= 1
                    hold = v.faults.order_hold_s
                    v.stats["orders_held"] += 1
        if hold and v.faults.order_hold == "before":
            time.sleep(hold)
        answer = v.clob.handle(method, path, q, self.headers, raw)
        if answer is None:
            return False
        if hold and v.faults.order_hold == "after":
            time.sleep(hold)
        v.stats["clob_requests"] += 1
        self._send(*answer)
        return True

    def do_DELETE(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if not self._clob("DELETE", self.rfile.read(length)):
            self._send(404, {"error": "not found"})

    def do_POST(self):  # noqa: N802
        v = self.venue
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = urlparse(self.path).path
        if not path.startswith("/_sim/"):
            if not self._clob("POST", raw):
                self._send(404, {"error": "not found"})
            return
        body = json.loads(raw or b"{}")
        if path == "/_sim/account":
            return self._send(*v.fund_account(body))
        if path == "/_sim/clock":
            if "set" in body:
                v.clock.set(int(body["set"]))
            if "advance" in body:
                v.clock.set(v.clock.now() + int(body["advance"]))
            if "speed" in body:
                now = v.clock.now()
                v.clock.speed = float(body["speed"])
                v.clock.set(now)
            return self._send(200, {"now": v.clock.now(), "speed": v.clock.speed})
        if path == "/_sim/market":
            return self._send(*v.control_market(body))
        if path == "/_sim/faults":
            v.faults = FaultConfig(**{**asdict(v.faults), **body})
            v._fault_rng = random.Random(v.faults.seed)
            return self._send(200, asdict(v.faults))
        return self._send(404, {"error": "not found"})

    def do_GET(self):  # noqa: N802
        v = self.venue
        url = urlparse(self.path)
        path = url.path.rstrip("/") or "/"
        multi = parse_qs(url.query)
        q = {k: vals[-1] for k, vals in multi.items()}
        if path == "/_sim/clock":
            return self._send(200, {"now": v.clock.now(), "speed": v.clock.speed,
                                    "start": v.clock.start_ts, "horizon": v.clock.horizon_ts})
        if path == "/_sim/stats":
            clob = getattr(v, "clob", None)
            return self._send(200, {**v.stats, **({f"clob_{k}": n for k, n in clob.stats.items()} if clob else {})})
        if self._clob("GET"):
            return
        v.stats["requests"] += 1
        if v.limiter is not None:
            group = next((g for p, g in _ROUTE_GROUPS.items() if path.startswith(p)), ["clob"])
            wait = v.limiter.check(group)
            if wait > 0:
                v.stats["rate_limited"] += 1
                return self._send(429, {"error": "Too Many Requests"},
                                  {"Retry-After": str(max(1, math.ceil(wait)))})
        fault = v.draw_fault()
        if fault is not None:
            v.stats[f"fault_{fault}"] += 1
            if fault == "429":
                return self._send(429, {"error": "Too Many Requests"}, {"Retry-After": str(v.faults.retry_after_s)})
            if fault == "5xx":
                return self._send(random.choice((500, 502, 503)), {"error": "upstream unavailable"})
            time.sleep(v.faults.hang_s)
            self.close_connection = True
            return
        code, body = route(v, path, q, multi)
        if code == 200:
            if isinstance(body, list):
                body = v.mangle(body)
            elif isinstance(body, dict):
                for key in ("data", "markets"):
                    if isinstance(body.get(key), list):
                        body[key] = v.mangle(body[key])
        self._send(code, body)

def route(v: SimVenue, path: str, q: dict, multi: dict) -> tuple[int, object]:
    """Answer a GET of the Data API, Gamma or the public CLOB: (status, JSON body)."""
    if path == "/trades":
        return v.trades_v1(q)
    if path == "/activity":
        return v.activity(q)
    if path == "/v2/trades":
        return v.trades_v2(q)
    if path == "/v2/activity":
        return v.activity_v2(q)
    if path == "/markets":
        return v.markets(q)
    if path == "/markets/keyset":
        return v.markets_keyset(q, multi)
    if path == "/events/keyset":
        return v.events_keyset(q, multi)
    if path == "/spread":
        return v.spread(q)
    if path == "/v2/prices-history":
        return v.prices_history_v2(q)
    if path.startswith("/markets/"):
        return v.market_by_id(path.split("/", 2)[2], q)
    if path == "/book":
        return v.book(q)
    if path == "/midpoint":
        return v.midpoint(q)
    if path == "/price":
        return v.price(q)
    if path == "/tick-size":
        return v.tick_size(q)
    if path == "/prices-history":
        return v.prices_history(q)
    return 404, {"error": f"no route {path}"}



class InProcessJsonClient:
    """The venue's GET routes answered in process, behind ``HttpJsonClient``'s interface:
    the real Data API, Gamma and CLOB clients and their parsers on top, without a socket,
    a server thread or HTTP framing — what a backtest's many look-ups at the world's past
    instants need. Bodies are handed over as the routes build them (JSON values, made afresh
    for each request; the HTTP tests cover their encoding). No faults, rate limits or
    mangling; a status other than 200 raises ``ApiError`` as the HTTP client does."""

    def __init__(self, venue: SimVenue):
        self.venue = venue
        self.stats: Counter = Counter()

    def get_json(self, path: str, params: dict | None = None, groups: tuple[str, ...] = ()):
        from polycopy.polymarket.http import ApiError

        multi = {k: [_query_value(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
                 for k, v in (params or {}).items() if v is not None}
        self.stats["requests"] += 1
        code, body = route(self.venue, path.rstrip("/") or "/", {k: v[-1] for k, v in multi.items()}, multi)
        if code != 200:
            raise ApiError(f"GET {path} failed: HTTP {code}: {json.dumps(body)[:200]}", code)
        return body

    def close(self) -> None:
        pass


def _query_value(v) -> str:
    """A query parameter as httpx writes it (booleans in lower case)."""
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def in_process_clients(venue: SimVenue, remember_histories: bool = False):
    """Data API, Gamma and CLOB clients answered by ``venue`` in process (``remember_histories``:
    see ``ClobPublicClient``; exact on this venue, whose past prices never change)."""
    from polycopy.polymarket.clients import ClobPublicClient, DataApiClient, GammaClient, PolymarketClients

    http = InProcessJsonClient(venue)
    return PolymarketClients(DataApiClient(http), GammaClient(http), ClobPublicClient(http, remember_histories),
                             (http,))


class VenueServer:
    """A running venue: ``url`` to point clients at, ``stop()`` to shut down."""

    def __init__(self, venue: SimVenue, host: str = "127.0.0.1", port: int = 0):
        handler = type("BoundHandler", (_Handler,), {"venue": venue})
        self.venue = venue
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="sim-venue", daemon=True)

    def start(self) -> "VenueServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def running_venue(config: SimConfig | None = None, world: SimWorld | None = None, speed: float = 0.0,
                  faults: FaultConfig | None = None, enforce_rate_limits: bool = False, port: int = 0,
                  offset_cap: int = OFFSET_CAP):
    """Serve a simulated venue on localhost for the duration of the block."""
    world = world or generate_world(config or SimConfig())
    server = VenueServer(SimVenue(world, speed, faults, enforce_rate_limits, offset_cap), port=port).start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
