"""Clients for the Data API, Gamma and the public CLOB endpoints.

One code path serves the real Polymarket hosts and the simulated venue: only the
base URLs differ. Paging respects the Data API's practical offset cap (~3000): a
market's trades are walked newest-first by offset, and when the cap is reached the
walk continues on the ``/v2/trades`` keyset feed, which has no depth limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

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


class DataApiClient:
    """Data API: /trades, /activity, /v2/trades."""

    def __init__(self, http: HttpJsonClient, page_size: int = 1000, offset_cap: int = 3000):
        self.http = http
        self.page_size = page_size
        self.offset_cap = offset_cap

    def trades_page(self, **params) -> list:
        data = self.http.get_json("/trades", params, groups=("data", "data_trades"))
        if not isinstance(data, list):
            raise ApiError(f"/trades returned {type(data).__name__}, expected a list")
        return data

    def iter_market_trades(self, condition_id: str, start_ts: int, end_ts: int) -> Iterator[RawPage]:
        """Every served record of one market with timestamp in ``[start_ts, end_ts)``
        or without a usable timestamp, as pages.

        Pages may repeat records (the feed shifts while new trades land); callers
        de-duplicate on the trade key. Stops once a page reaches below ``start_ts``.
        """
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
        yield from self._keyset_walk(condition_id, start_ts, end_ts)

    def _keyset_walk(self, condition_id: str, start_ts: int, end_ts: int) -> Iterator[RawPage]:
        cursor = None
        while True:
            params = {"cursor": cursor} if cursor else {"condition": condition_id, "limit": self.page_size}
            body = self.http.get_json("/v2/trades", params, groups=("data", "data_trades"))
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ApiError("/v2/trades returned an unexpected body")
            page = body["data"]
            yield RawPage(_in_window(page, start_ts, end_ts), "v2")
            ts = _timestamps(page)
            pagination = body.get("pagination") or {}
            cursor = pagination.get("next_cursor")
            if not pagination.get("has_more") or not cursor or (ts and min(ts) < start_ts):
                return

    def iter_user_activity(self, user: str, start_ts: int, end_ts: int | None = None,
                           types: str = "TRADE", page_size: int = 500) -> Iterator[list]:
        """A wallet's /activity rows in ``[start_ts, end_ts]``, oldest first, paged by
        time window so the offset cap is never reached."""
        window_start = start_ts
        while True:
            page = self.http.get_json(
                "/activity",
                {"user": user, "type": types, "start": window_start, "end": end_ts,
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
                {"user": user, "type": types, "start": ts, "end": ts, "sortBy": "TIMESTAMP",
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
    """Gamma /markets, paged by offset."""

    def __init__(self, http: HttpJsonClient, page_size: int = 500):
        self.http = http
        self.page_size = page_size

    def iter_markets(self, closed: bool) -> Iterator[list]:
        offset = 0
        while True:
            page = self.http.get_json(
                "/markets",
                {"closed": "true" if closed else "false", "limit": self.page_size, "offset": offset,
                 "order": "id", "ascending": "true"},
                groups=("gamma_markets",),
            )
            if not isinstance(page, list):
                raise ApiError(f"/markets returned {type(page).__name__}, expected a list")
            yield page
            if len(page) < self.page_size:
                return
            offset += self.page_size

    def market(self, condition_id: str) -> dict | None:
        """The Gamma record of one market, open or closed; None if Gamma does not know it."""
        for closed in ("false", "true"):
            page = self.http.get_json("/markets", {"condition_ids": condition_id, "closed": closed},
                                      groups=("gamma_markets",))
            if not isinstance(page, list):
                raise ApiError(f"/markets returned {type(page).__name__}, expected a list")
            for rec in page:
                if isinstance(rec, dict) and rec.get("conditionId") == condition_id:
                    return rec
        return None


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
    """Public CLOB market data: /book, /midpoint, /prices-history."""

    def __init__(self, http: HttpJsonClient):
        self.http = http

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
                rate_limit_scale: float = 1.0, page_size: int = 1000, offset_cap: int = 3000) -> "PolymarketClients":
        limiters = make_limiters(rate_limit_scale)
        mk = lambda url: HttpJsonClient(url, timeout_s=timeout_s, retry=retry, limiters=limiters)  # noqa: E731
        data_http, gamma_http, clob_http = mk(endpoints.data_api), mk(endpoints.gamma), mk(endpoints.clob)
        return cls(DataApiClient(data_http, page_size=page_size, offset_cap=offset_cap), GammaClient(gamma_http),
                   ClobPublicClient(clob_http), (data_http, gamma_http, clob_http))

    def close(self) -> None:
        for h in self.https:
            h.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
