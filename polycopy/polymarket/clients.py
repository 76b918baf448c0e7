"""Clients for the Data API, Gamma and the public CLOB endpoints.

One code path serves the real Polymarket hosts and the simulated venue: only the
base URLs differ. The primary routes are the ones Polymarket's official SDK reads:
the Data API's ``/v2/trades`` and ``/v2/activity`` with keyset cursors (``start``/``end``
sent; a market's walk also stops below the window, since hosts may honour them only for
a user's trades; no depth limit), and Gamma's
``/markets/keyset`` (``include_tag=true``) and ``/events/keyset``. The v1 routes stay
as the fallback, used when a host does not serve the v2 one (404/405/501): ``/trades``
walked newest-first by offset up to the practical cap (~3000), ``/activity`` paged by
time window, Gamma ``/markets`` by offset.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Iterator

from polycopy.polymarket.categories import UNKNOWN, category_of, parse_tags
from polycopy.polymarket.http import ApiError, HttpJsonClient, RetryPolicy, SlidingWindowLimiter

# Published limits per 10 seconds.
PUBLISHED_LIMITS_PER_10S = {"data": 1000, "data_trades": 200, "gamma_markets": 300, "clob": 9000, "clob_book": 1500}

REAL_DATA_API_URL = "https://data-api.polymarket.com"
REAL_GAMMA_URL = "https://gamma-api.polymarket.com"
REAL_CLOB_URL = "https://clob.polymarket.com"


@dataclass(frozen=True)
class Endpoints:
    data_api: str
    gamma: str
    clob: str

    @classmethod
    def real(cls) -> "Endpoints":
        return cls(REAL_DATA_API_URL, REAL_GAMMA_URL, REAL_CLOB_URL)

    @classmethod
    def single_host(cls, url: str) -> "Endpoints":
        """The simulated venue serves every API on one host."""
        return cls(url, url, url)


def make_limiters(scale: float = 1.0) -> dict[str, SlidingWindowLimiter]:
    """Limiters at ``scale`` × the published limits (1.0 = the real limits)."""
    return {k: SlidingWindowLimiter(max(1, int(v * scale))) for k, v in PUBLISHED_LIMITS_PER_10S.items()}


@dataclass
class RawPage:
    """Records as served, with the shape they came in."""

    records: list
    shape: str


# Statuses that mean "this host does not serve the route": use the v1 fallback.
ROUTE_MISSING = frozenset({404, 405, 501})
V2_PAGE_LIMIT = 1000  # the official client's maximum page size on /v2 routes


def _missing_route(exc: ApiError) -> bool:
    return exc.status in ROUTE_MISSING


class DataApiClient:
    """Data API: /v2/trades and /v2/activity (primary); /trades and /activity (fallback).

    ``routes`` is "v2" (keyset first, v1 when the host lacks it) or "v1" (offset walk only).
    """

    def __init__(self, http: HttpJsonClient, page_size: int = 1000, offset_cap: int = 3000, routes: str = "v2"):
        if routes not in ("v1", "v2"):
            raise ValueError(f"routes must be 'v1' or 'v2', got {routes!r}")
        self.http = http
        self.page_size = page_size
        self.offset_cap = offset_cap
        self.routes = routes

    def _v2_pages(self, path: str, params: dict) -> Iterator[list]:
        """Every page of a /v2 keyset walk: ``{"data": [...], "pagination": {has_more,
        next_cursor}}``, the cursor sent back as ``cursor``."""
        base = {**params, "limit": min(self.page_size, V2_PAGE_LIMIT)}
        cursor = None
        seen: set[str] = set()
        while True:
            body = self.http.get_json(path, {**base, "cursor": cursor} if cursor else base,
                                      groups=("data", "data_trades") if path == "/v2/trades" else ("data",))
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ApiError(f"{path} returned an unexpected body (no data list)")
            yield body["data"]
            pagination = body.get("pagination") or {}
            cursor = pagination.get("next_cursor")
            if not pagination.get("has_more") or not cursor:
                return
            if cursor in seen:
                raise ApiError(f"{path} repeated a cursor: the walk would never end")
            seen.add(cursor)

    def iter_trades_v2(self, condition_id: str, start_ts: int, end_ts: int) -> Iterator[RawPage]:
        """One market's trades in ``[start_ts, end_ts)`` from /v2/trades, newest first.
        ``start``/``end`` are sent, but a host may honour them only for a user's trades:
        the walk also stops once a page reaches below ``start_ts``."""
        params = {"condition_id": condition_id, "start": int(start_ts), "end": int(end_ts) - 1}
        for page in self._v2_pages("/v2/trades", params):
            yield RawPage(_in_window(page, start_ts, end_ts), "v2")
            ts = _timestamps(page)
            if ts and min(ts) < start_ts:
                return

    def iter_activity_v2(self, user: str, start_ts: int, end_ts: int,
                         types: tuple[str, ...] = ()) -> Iterator[list]:
        """A wallet's /v2/activity rows with timestamp in ``[start_ts, end_ts)``, oldest
        first (all types, or ``types``)."""
        params = {"user": user, "start": int(start_ts), "end": int(end_ts) - 1, "sort_direction": "ASC"}
        if types:
            params["type"] = ",".join(types)
        yield from self._v2_pages("/v2/activity", params)

    def iter_wallet_activity(self, user: str, start_ts: int, end_ts: int,
                             types: tuple[str, ...] = ()) -> Iterator[RawPage]:
        """A wallet's activity in ``[start_ts, end_ts)``: /v2/activity, else /activity."""
        if self.routes == "v2":
            try:
                for page in self.iter_activity_v2(user, start_ts, end_ts, types):
                    yield RawPage(page, "v2")
                return
            except ApiError as exc:
                if not _missing_route(exc):
                    raise
        for page in self.iter_user_activity(user, start_ts, end_ts - 1, types=",".join(types) if types else None):
            yield RawPage(page, "v1")

    def trades_page(self, **params) -> list:
        data = self.http.get_json("/trades", params, groups=("data", "data_trades"))
        if not isinstance(data, list):
            raise ApiError(f"/trades returned {type(data).__name__}, expected a list")
        return data

    def iter_market_trades(self, condition_id: str, start_ts: int, end_ts: int) -> Iterator[RawPage]:
        """Every served record of one market with timestamp in ``[start_ts, end_ts)``
        or without a usable timestamp, as pages: /v2/trades, else the v1 offset walk.

        Pages may repeat records (the feed shifts while new trades land); callers
        de-duplicate on the trade key.
        """
        if self.routes == "v2":
            try:
                yield from self.iter_trades_v2(condition_id, start_ts, end_ts)
                return
            except ApiError as exc:
                # A host without the route answers at once, before any page: nothing was yielded.
                if not _missing_route(exc):
                    raise
        yield from self.iter_trades_v1(condition_id, start_ts, end_ts)

    def iter_trades_v1(self, condition_id: str, start_ts: int, end_ts: int) -> Iterator[RawPage]:
        """The v1 walk: /trades newest-first by offset; past the offset cap, on the
        /v2/trades keyset. Stops once a page reaches below ``start_ts``."""
        offset = 0
        limit = self.page_size
        while offset <= self.offset_cap:
            page = self.trades_page(market=condition_id, limit=limit, offset=offset, takerOnly="true")
            yield RawPage(_in_window(page, start_ts, end_ts), "v1")
            ts = _timestamps(page)
            if len(page) < limit or (ts and min(ts) < start_ts):
                return
            offset += limit
        # Offset cap reached above the window: continue on the keyset feed.
        yield from self.iter_trades_v2(condition_id, start_ts, end_ts)

    def iter_user_activity(self, user: str, start_ts: int, end_ts: int | None = None,
                           types: str | None = "TRADE", page_size: int = 500) -> Iterator[list]:
        """A wallet's /activity rows in ``[start_ts, end_ts]``, oldest first, paged by
        time window so the offset cap is never reached."""
        window_start = start_ts
        while True:
            page = self.http.get_json(
                "/activity",
                {"user": user, **({"type": types} if types else {}), "start": window_start, "end": end_ts,
                 "sortBy": "TIMESTAMP", "sortDirection": "ASC", "limit": page_size, "offset": 0},
                groups=("data",),
            )
            if not isinstance(page, list):
                raise ApiError(f"/activity returned {type(page).__name__}, expected a list")
            yield page
            if len(page) < page_size:
                return
            ts = _timestamps(page)
            newest = max(ts) if ts else window_start
            if newest <= window_start:
                # A single second holds a full page: step through it by offset.
                yield from self._same_second(user, newest, types, page_size)
                window_start = newest + 1
            else:
                # Restart at the newest second seen; repeats are de-duplicated by key.
                window_start = newest

    def _same_second(self, user: str, ts: int, types: str, page_size: int) -> Iterator[list]:
        offset = page_size
        while offset <= self.offset_cap:
            page = self.http.get_json(
                "/activity",
                {"user": user, **({"type": types} if types else {}), "start": ts, "end": ts, "sortBy": "TIMESTAMP",
                 "sortDirection": "ASC", "limit": page_size, "offset": offset},
                groups=("data",),
            )
            yield page
            if len(page) < page_size:
                return
            offset += page_size


def _timestamps(page: list) -> list[int]:
    out = []
    for rec in page:
        if isinstance(rec, dict):
            ts = rec.get("timestamp")
            if isinstance(ts, int) and not isinstance(ts, bool):
                out.append(ts)
    return out


def _in_window(page: list, start_ts: int, end_ts: int) -> list:
    """Records inside the window, plus any whose timestamp is unusable (they are
    rejected downstream, never dropped here)."""
    out = []
    for rec in page:
        ts = rec.get("timestamp") if isinstance(rec, dict) else None
        if not isinstance(ts, int) or isinstance(ts, bool) or start_ts <= ts < end_ts:
            out.append(rec)
    return out


class GammaClient:
    """Gamma: /markets/keyset and /events/keyset (primary, keyset ``after_cursor``);
    /markets by offset (fallback). Market records come with their tags (``include_tag``)."""

    def __init__(self, http: HttpJsonClient, page_size: int = 500, routes: str = "v2"):
        self.http = http
        self.page_size = page_size
        self.routes = routes

    def _keyset(self, path: str, key: str, params: dict) -> Iterator[list]:
        cursor = None
        seen: set[str] = set()
        while True:
            q = {**params, "limit": self.page_size, **({"after_cursor": cursor} if cursor else {})}
            body = self.http.get_json(path, q, groups=("gamma_markets",))
            if not isinstance(body, dict) or not isinstance(body.get(key), list):
                raise ApiError(f"{path} returned an unexpected body (no {key} list)")
            yield body[key]
            cursor = body.get("next_cursor")
            if not cursor:
                return
            if cursor in seen:
                raise ApiError(f"{path} repeated a cursor: the walk would never end")
            seen.add(cursor)

    def iter_markets(self, closed: bool) -> Iterator[list]:
        """Every market, open (``closed=False``) or closed, with its tags, as pages."""
        flag = "true" if closed else "false"
        if self.routes == "v2":
            try:
                yield from self._keyset("/markets/keyset", "markets", {"closed": flag, "include_tag": "true"})
                return
            except ApiError as exc:
                if not _missing_route(exc):
                    raise
        offset = 0
        while True:
            page = self.http.get_json(
                "/markets",
                {"closed": flag, "include_tag": "true", "limit": self.page_size, "offset": offset,
                 "order": "id", "ascending": "true"},
                groups=("gamma_markets",),
            )
            if not isinstance(page, list):
                raise ApiError(f"/markets returned {type(page).__name__}, expected a list")
            yield page
            if len(page) < self.page_size:
                return
            offset += self.page_size

    def iter_events(self, closed: bool) -> Iterator[list]:
        """Every event, open or closed, with its tags and its markets, as pages. A host
        without /events/keyset yields nothing (event tags are an enrichment)."""
        try:
            yield from self._keyset("/events/keyset", "events", {"closed": "true" if closed else "false"})
        except ApiError as exc:
            if not _missing_route(exc):
                raise

    def event(self, event_id: str) -> dict | None:
        """One event (with its tags), or None."""
        for page in self._keyset("/events/keyset", "events", {"id": str(event_id)}):
            for rec in page:
                if isinstance(rec, dict) and str(rec.get("id")) == str(event_id):
                    return rec
        return None

    def market(self, condition_id: str) -> dict | None:
        """The Gamma record of one market, open or closed, with its tags; None if Gamma
        does not know it."""
        for closed in ("false", "true"):
            if self.routes == "v2":
                try:
                    pages = list(self._keyset("/markets/keyset", "markets",
                                              {"condition_ids": condition_id, "closed": closed, "include_tag": "true"}))
                except ApiError as exc:
                    if not _missing_route(exc):
                        raise
                    pages = None
                if pages is not None:
                    for rec in (r for p in pages for r in p):
                        if isinstance(rec, dict) and rec.get("conditionId") == condition_id:
                            return rec
                    continue
            page = self.http.get_json("/markets", {"condition_ids": condition_id, "closed": closed,
                                                   "include_tag": "true"}, groups=("gamma_markets",))
            if not isinstance(page, list):
                raise ApiError(f"/markets returned {type(page).__name__}, expected a list")
            for rec in page:
                if isinstance(rec, dict) and rec.get("conditionId") == condition_id:
                    return rec
        return None


def market_with_event_tags(gamma: "GammaClient", condition_id: str) -> tuple[dict | None, list | None]:
    """(Gamma market record, its event's tags or None). The event is read only when the
    market's own tags name no category, as many real markets' do not."""
    rec = gamma.market(condition_id)
    if rec is None or category_of(parse_tags(rec), rec.get("category"))[0] != UNKNOWN:
        return rec, None
    for ev in rec.get("events") or []:
        if isinstance(ev, dict) and ev.get("id") is not None:
            try:
                full = gamma.event(str(ev["id"]))
            except ApiError as exc:
                if _missing_route(exc):
                    return rec, None
                raise
            if full and isinstance(full.get("tags"), list):
                return rec, full["tags"]
    return rec, None


@dataclass(frozen=True)
class BookLevel:
    price: float  # USD per share
    size: float  # shares


@dataclass(frozen=True)
class OrderBook:
    """Bids best (highest) first, asks best (lowest) first."""

    token_id: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    tick_size: float
    min_order_size: float
    neg_risk: bool
    timestamp_ms: int | None

    @property
    def best_bid(self) -> float | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> float | None:
        return self.asks[0].price if self.asks else None


class ClobPublicClient:
    """Public CLOB market data: /book, /midpoint, /prices-history.

    ``remember_histories``: keep each token's price history and ask the venue only for the
    points after the last one held (the last one again, in case its bucket was still open).
    For a long replay that asks for the same trailing month at every step; it assumes the
    venue serves the points strictly after ``startTs`` and does not revise closed buckets."""

    def __init__(self, http: HttpJsonClient, remember_histories: bool = False):
        self.http = http
        self._histories: dict | None = {} if remember_histories else None

    def book(self, token_id: str) -> OrderBook:
        body = self.http.get_json("/book", {"token_id": token_id}, groups=("clob", "clob_book"))
        try:
            bids = sorted((BookLevel(float(l["price"]), float(l["size"])) for l in body.get("bids", [])),
                          key=lambda l: -l.price)
            asks = sorted((BookLevel(float(l["price"]), float(l["size"])) for l in body.get("asks", [])),
                          key=lambda l: l.price)
            ts = body.get("timestamp")
            return OrderBook(
                token_id=str(body.get("asset_id") or token_id),
                bids=tuple(bids),
                asks=tuple(asks),
                tick_size=float(body.get("tick_size") or 0.01),
                min_order_size=float(body.get("min_order_size") or 0),
                neg_risk=bool(body.get("neg_risk")),
                timestamp_ms=int(ts) if ts else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(f"/book returned a malformed book: {exc}") from None

    def midpoint(self, token_id: str) -> float:
        body = self.http.get_json("/midpoint", {"token_id": token_id}, groups=("clob",))
        return float(body["mid"])

    def prices_history(self, token_id: str, start_ts: int, end_ts: int, fidelity_min: int = 60) -> "PriceHistory":
        """The token's price (USD/share) every ``fidelity_min`` minutes over [start_ts, end_ts].
        Points that are not a time and a price in [0, 1] are counted aside, not used."""
        if self._histories is None:
            return self._fetch_history(token_id, start_ts, end_ts, fidelity_min)
        key = (token_id, int(fidelity_min))
        held = self._histories.get(key)
        if held is None or start_ts < held.start_ts or end_ts < held.end_ts:
            fresh = self._fetch_history(token_id, start_ts, end_ts, fidelity_min)
            held = self._histories[key] = _HeldHistory(int(start_ts), int(end_ts), sorted(fresh.points.items()),
                                                       fresh.malformed)
        elif end_ts > held.end_ts:
            since = held.points[-1][0] - 1 if held.points else held.end_ts
            tail = self._fetch_history(token_id, since, end_ts, fidelity_min)
            cut = bisect.bisect_left(held.points, (since + 1,))
            held.points[cut:] = sorted(tail.points.items())
            held.end_ts, held.malformed = int(end_ts), held.malformed + tail.malformed
        lo = bisect.bisect_right(held.points, (int(start_ts), math.inf))
        hi = bisect.bisect_right(held.points, (int(end_ts), math.inf))
        if lo > 1_000:  # forget what no later window (they only move forward) will ask for
            del held.points[:lo]
            lo, hi = 0, hi - lo
        held.start_ts = max(held.start_ts, int(start_ts))
        return PriceHistory(dict(held.points[lo:hi]), held.malformed)

    def _fetch_history(self, token_id: str, start_ts: int, end_ts: int, fidelity_min: int) -> "PriceHistory":
        body = self.http.get_json("/prices-history", {"market": token_id, "startTs": int(start_ts),
                                                      "endTs": int(end_ts), "fidelity": int(fidelity_min)},
                                  groups=("clob",))
        if not isinstance(body, dict) or not isinstance(body.get("history", []), list):
            raise ApiError(f"/prices-history returned {type(body).__name__} without a history list")
        points: dict[int, float] = {}
        malformed = 0
        for point in body.get("history") or []:
            try:
                t, p = int(point["t"]), float(point["p"])
            except (KeyError, TypeError, ValueError):
                malformed += 1
                continue
            if 0.0 <= p <= 1.0:
                points[t] = p
            else:
                malformed += 1
        return PriceHistory(points, malformed)


@dataclass
class _HeldHistory:
    start_ts: int  # the windows asked for so far: points after start_ts up to end_ts are held
    end_ts: int
    points: list  # [(unix s, USD/share)], in time order
    malformed: int


@dataclass(frozen=True)
class PriceHistory:
    """{unix seconds: USD/share}, and how many served points were unusable."""

    points: dict
    malformed: int = 0


@dataclass
class PolymarketClients:
    """The three clients on their endpoints, sharing limits and retry policy."""

    data: DataApiClient
    gamma: GammaClient
    clob: ClobPublicClient
    https: tuple[HttpJsonClient, ...]

    @classmethod
    def connect(cls, endpoints: Endpoints, *, timeout_s: float = 10.0, retry: RetryPolicy | None = None,
                rate_limit_scale: float = 1.0, page_size: int = 1000, offset_cap: int = 3000,
                routes: str = "v2") -> "PolymarketClients":
        """``routes``: "v2" (the official SDK's keyset routes, v1 as the fallback) or "v1"."""
        limiters = make_limiters(rate_limit_scale)
        mk = lambda url: HttpJsonClient(url, timeout_s=timeout_s, retry=retry, limiters=limiters)  # noqa: E731
        data_http, gamma_http, clob_http = mk(endpoints.data_api), mk(endpoints.gamma), mk(endpoints.clob)
        return cls(DataApiClient(data_http, page_size=page_size, offset_cap=offset_cap, routes=routes),
                   GammaClient(gamma_http, routes=routes), ClobPublicClient(clob_http),
                   (data_http, gamma_http, clob_http))

    def close(self) -> None:
        for h in self.https:
            h.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
