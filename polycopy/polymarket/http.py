"""HTTP plumbing shared by the Polymarket clients.

- client-side rate limiting (sliding 10-second windows, the published limits),
- retries with exponential backoff and jitter, honouring ``Retry-After`` on 429,
- connect/read timeouts,
- errors that say what failed without echoing credentials.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

import httpx


class ApiError(RuntimeError):
    """A request failed for good (non-retryable status, or retries exhausted)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class SlidingWindowLimiter:
    """Blocks until one more request fits in ``limit`` per ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float = 10.0):
        self.limit = limit
        self.window_s = window_s
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a slot; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._hits and now - self._hits[0] >= self.window_s:
                    self._hits.popleft()
                if len(self._hits) < self.limit:
                    self._hits.append(now)
                    return waited
                pause = self.window_s - (now - self._hits[0]) + 0.001
            time.sleep(pause)
            waited += pause


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings: attempts after the first, backoff base and cap in seconds."""

    max_retries: int = 6
    backoff_base_s: float = 0.2
    backoff_max_s: float = 10.0
    retry_after_max_s: float = 60.0


RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpJsonClient:
    """GET JSON from one base URL with limits, retries and timeouts."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, retry: RetryPolicy | None = None,
                 limiters: dict[str, SlidingWindowLimiter] | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.limiters = limiters or {}
        self.stats: Counter = Counter()
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout_s),
                                  transport=transport, headers={"User-Agent": "polycopy/0.1"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get_json(self, path: str, params: dict | None = None, groups: tuple[str, ...] = ()):
        """GET ``path`` and decode JSON, retrying transient failures.

        Raises :class:`ApiError` on a non-retryable status or when retries run out.
        """
        params = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            for g in groups:
                if g in self.limiters:
                    self.limiters[g].acquire()
            self.stats["requests"] += 1
            try:
                resp = self._http.get(path, params=params)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self.stats["transport_errors"] += 1
                delay = self._backoff(attempt)
                reason = f"{type(exc).__name__}"
            else:
                if resp.status_code == 200:
                    try:
                        return resp.json()
                    except ValueError:
                        self.stats["bad_json"] += 1
                        delay = self._backoff(attempt)
                        reason = "response is not JSON"
                elif resp.status_code in RETRYABLE_STATUS:
                    self.stats[f"status_{resp.status_code}"] += 1
                    delay = self._backoff(attempt)
                    if resp.status_code == 429:
                        delay = max(delay, self._retry_after(resp))
                    reason = f"HTTP {resp.status_code}"
                else:
                    raise ApiError(f"GET {path} failed: HTTP {resp.status_code}: {resp.text[:200]}",
                                   resp.status_code)
            if attempt >= self.retry.max_retries:
                raise ApiError(f"GET {path} failed after {attempt + 1} attempts: {reason}")
            attempt += 1
            self.stats["retries"] += 1
            time.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        base = min(self.retry.backoff_max_s, self.retry.backoff_base_s * (2 ** attempt))
        return base * (0.5 + random.random() / 2)

    def _retry_after(self, resp: httpx.Response) -> float:
        value = resp.headers.get("Retry-After")
        try:
            return min(float(value), self.retry.retry_after_max_s)
        except (TypeError, ValueError):
            return 1.0
