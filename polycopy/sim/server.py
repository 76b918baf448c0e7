"""HTTP server of the simulated venue: the real Polymarket routes and JSON shapes.

Routes (all GET unless noted):
- Data API: ``/trades``, ``/activity``, ``/v2/trades`` (keyset cursor paging)
- Gamma: ``/markets``, ``/markets/{id}``
- CLOB: ``/book``, ``/midpoint``, ``/price``, ``/tick-size``, ``/prices-history``, ``/clob-markets/{condition_id}``
- Control (tests and benchmarks only, never used by the pipeline):
  ``GET/POST /_sim/clock``, ``GET /_sim/stats``, ``POST /_sim/faults``

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

from polycopy.sim.records import RecordRenderer
from polycopy.sim.world import SimConfig, SimWorld, generate_world

# Published per-10-second limits (requests) of the real APIs.
RATE_LIMITS_PER_10S = {"data_trades": 200, "data": 1000, "gamma_markets": 300, "clob_book": 1500, "clob": 9000}
OFFSET_CAP = 3000
MAX_LIMIT = 10_000
ACTIVITY_MAX_LIMIT = 500


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
        user = q.get("user")
        if not user:
            return 400, {"error": "user is required"}
        limit = _int(q.get("limit"), 100)
        offset = _int(q.get("offset"), 0)
        if not 0 <= limit <= ACTIVITY_MAX_LIMIT:
            return 400, {"error": f"limit must be between 0 and {ACTIVITY_MAX_LIMIT}"}
        if offset < 0 or offset > self.offset_cap:
            return 400, {"error": f"offset must be between 0 and {self.offset_cap}"}
        types = set((q.get("type") or "TRADE").split(","))
        markets, wallet, err = self._scope(q.get("market"), user)
        if err:
            return 400, {"error": err}
        if wallet is None or "TRADE" not in types:
            return 200, []
        rows = self._filter(self._candidates(markets, wallet), q)
        ts = self.row_ts[rows]
        if q.get("start"):
            rows = rows[ts >= int(q["start"])]
            ts = self.row_ts[rows]
        if q.get("end"):
            rows = rows[ts <= int(q["end"])]
        if (q.get("sortDirection") or "DESC").upper() == "DESC":
            rows = rows[::-1]
        page = rows[offset:offset + limit]
        return 200, [self.render.trade_v1(int(r), activity=True) for r in page]

    def trades_v2(self, q: dict) -> tuple[int, object]:
        if "offset" in q:
            return 400, {"error": "offset is not supported; follow pagination.next_cursor"}
        cursor = q.get("cursor")
        if cursor:
            try:
                state = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
            except ValueError:
                return 400, {"error": "malformed cursor"}
            cond, user, limit = state["condition"], state["user"], state["limit"]
            anchor = (state["ts"], state["row"])
        else:
            cond = q.get("condition") or q.get("condition_id") or q.get("conditionId")
            user = q.get("user")
            limit = _int(q.get("limit"), 100)
            anchor = None
        if not 0 < limit <= MAX_LIMIT:
            return 400, {"error": f"limit must be between 1 and {MAX_LIMIT}"}
        markets, wallet, err = self._scope(cond, user)
        if err:
            return 400, {"error": err}
        rows = self._candidates(markets, wallet)[::-1]
        if anchor is not None:
            ts = self.row_ts[rows]
            older = (ts < anchor[0]) | ((ts == anchor[0]) & (rows < anchor[1]))
            rows = rows[older]
        page = rows[:limit]
        has_more = len(rows) > limit
        next_cursor = None
        if has_more:
            last = int(page[-1])
            state = {"condition": cond, "user": user, "limit": limit,
                     "ts": int(self.row_ts[last]), "row": last}
            next_cursor = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        data = [self.render.trade_v2(int(r)) for r in page]
        return 200, {"data": data, "pagination": {"has_more": has_more, "next_cursor": next_cursor}}

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
        return 200, [self.render.market_gamma(int(i), now) for i in idx]

    def market_by_id(self, market_id: str) -> tuple[int, object]:
        i = self.market_id_to_idx.get(market_id)
        if i is None or self.world.markets["open_ts"].iat[i] > self.clock.now():
            return 404, {"error": "market not found"}
        return 200, self.render.market_gamma(i, self.clock.now())

    def _token(self, q: dict):
        tok = q.get("token_id")
        if tok not in self.token_to:
            return None
        return self.token_to[tok]

    def book(self, q: dict) -> tuple[int, object]:
        t = self._token(q)
        if t is None:
            return 404, {"error": "No orderbook exists for the requested token id"}
        mi, k = t
        now = self.clock.now()
        if now >= self.world.markets["closed_ts"].iat[mi]:
            return 404, {"error": "No orderbook exists for the requested token id"}
        return 200, self.render.book(mi, k, now)

    def midpoint(self, q: dict) -> tuple[int, object]:
        code, book = self.book(q)
        if code != 200:
            return code, book
        bid, ask = float(book["bids"][-1]["price"]), float(book["asks"][-1]["price"])
        return 200, {"mid": f"{(bid + ask) / 2:.4f}"}

    def price(self, q: dict) -> tuple[int, object]:
        code, book = self.book(q)
        if code != 200:
            return code, book
        side = (q.get("side") or "BUY").upper()
        # CLOB /price?side=BUY is the price you buy at (best ask).
        best = book["asks"][-1]["price"] if side == "BUY" else book["bids"][-1]["price"]
        return 200, {"price": best}

    def prices_history(self, q: dict) -> tuple[int, object]:
        """CLOB /prices-history: the token's price every ``fidelity`` minutes over
        [startTs, endTs] (or the last ``interval``), up to now and while the market trades."""
        tok = q.get("market")
        if tok not in self.token_to:
            return 400, {"error": "invalid market (token id)"}
        mi, k = self.token_to[tok]
        now = self.clock.now()
        m = self.world.markets
        fidelity = max(1, _int(q.get("fidelity"), 1)) * 60
        spans = {"1h": 3_600, "6h": 21_600, "1d": 86_400, "1w": 604_800, "1m": 2_592_000}
        end = min(_int(q.get("endTs"), now), now, int(m["closed_ts"].iat[mi]))
        start = _int(q.get("startTs"), -1)
        if start < 0:
            span = spans.get(q.get("interval") or "1d")
            start = int(m["open_ts"].iat[mi]) if span is None else end - span
        start = max(start, int(m["open_ts"].iat[mi]))
        if end < start:
            return 200, {"history": []}
        ts = np.arange(start - start % fidelity + fidelity, end + 1, fidelity, dtype=np.int64)
        if len(ts) > 20_000:
            return 400, {"error": "too many points; raise fidelity or narrow the window"}
        p = self.world.price_yes(np.full(len(ts), mi), ts)
        if k == 1:
            p = 1.0 - p
        return 200, {"history": [{"t": int(t), "p": round(float(x), 4)} for t, x in zip(ts, p)]}

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
    "/markets": ["gamma_markets"],
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
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        v = self.venue
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = urlparse(self.path).path
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
        if path == "/_sim/faults":
            v.faults = FaultConfig(**{**asdict(v.faults), **body})
            v._fault_rng = random.Random(v.faults.seed)
            return self._send(200, asdict(v.faults))
        return self._send(404, {"error": "not found"})

    def do_GET(self):  # noqa: N802
        v = self.venue
        url = urlparse(self.path)
        path = url.path.rstrip("/") or "/"
        q = {k: vals[-1] for k, vals in parse_qs(url.query).items()}
        if path == "/_sim/clock":
            return self._send(200, {"now": v.clock.now(), "speed": v.clock.speed,
                                    "start": v.clock.start_ts, "horizon": v.clock.horizon_ts})
        if path == "/_sim/stats":
            return self._send(200, dict(v.stats))
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
        code, body = self._route(path, q)
        if code == 200:
            if isinstance(body, list):
                body = v.mangle(body)
            elif isinstance(body, dict) and isinstance(body.get("data"), list):
                body["data"] = v.mangle(body["data"])
        self._send(code, body)

    def _route(self, path: str, q: dict):
        v = self.venue
        if path == "/trades":
            return v.trades_v1(q)
        if path == "/activity":
            return v.activity(q)
        if path == "/v2/trades":
            return v.trades_v2(q)
        if path == "/markets":
            return v.markets(q)
        if path.startswith("/markets/"):
            return v.market_by_id(path.split("/", 2)[2])
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
