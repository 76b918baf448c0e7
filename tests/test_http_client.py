"""The HTTP client: retries honouring Retry-After, backoff, timeouts, rate limits, clear errors.

These run the real httpx client against a small local HTTP server whose answers
are scripted per request.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from polycopy.polymarket.http import ApiError, HttpJsonClient, RetryPolicy, SlidingWindowLimiter


class Scripted:
    """A localhost server answering each GET with the next scripted (status, headers, body, delay)."""

    def __init__(self, script):
        self.script = list(script)
        self.times: list[float] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                outer.times.append(time.monotonic())
                status, headers, body, delay = outer.script.pop(0) if outer.script else (200, {}, [], 0)
                if delay:
                    time.sleep(delay)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def scripted():
    servers = []

    def make(script):
        s = Scripted(script)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def test_429_waits_for_retry_after(scripted):
    srv = scripted([(429, {"Retry-After": "1"}, {"error": "slow down"}, 0), (200, {}, [{"ok": 1}], 0)])
    with HttpJsonClient(srv.url, retry=RetryPolicy(max_retries=3, backoff_base_s=0.01)) as c:
        assert c.get_json("/x") == [{"ok": 1}]
        assert c.stats["status_429"] == 1 and c.stats["retries"] == 1
    gap = srv.times[1] - srv.times[0]
    assert 0.95 <= gap < 2.0, gap


def test_5xx_and_timeouts_are_retried_with_backoff(scripted):
    srv = scripted([(503, {}, {}, 0), (502, {}, {}, 0), (200, {}, {}, 1.0), (200, {}, {"done": True}, 0)])
    with HttpJsonClient(srv.url, timeout_s=0.3, retry=RetryPolicy(max_retries=5, backoff_base_s=0.05)) as c:
        assert c.get_json("/x") == {"done": True}
        assert c.stats["status_503"] == 1 and c.stats["status_502"] == 1 and c.stats["transport_errors"] == 1
    gaps = [b - a for a, b in zip(srv.times, srv.times[1:])]
    # Backoff grows: 0.05·2^k with jitter in [0.5, 1].
    assert gaps[0] >= 0.025 and gaps[1] >= 0.05


def test_non_retryable_status_fails_at_once_with_a_clear_error(scripted):
    srv = scripted([(400, {}, {"error": "offset must be between 0 and 3000"}, 0)])
    with HttpJsonClient(srv.url) as c, pytest.raises(ApiError, match="HTTP 400.*offset must be") as exc:
        c.get_json("/trades", {"offset": 5000})
    assert exc.value.status == 400 and len(srv.times) == 1


def test_retries_run_out(scripted):
    srv = scripted([(500, {}, {}, 0)] * 3)
    with HttpJsonClient(srv.url, retry=RetryPolicy(max_retries=2, backoff_base_s=0.01)) as c:
        with pytest.raises(ApiError, match="failed after 3 attempts: HTTP 500"):
            c.get_json("/x")


def test_sliding_window_limiter_holds_the_rate():
    lim = SlidingWindowLimiter(limit=5, window_s=0.5)
    t0 = time.monotonic()
    stamps = []
    for _ in range(12):
        lim.acquire()
        stamps.append(time.monotonic() - t0)
    # Never more than 5 requests in any 0.5 s window.
    for i in range(len(stamps) - 5):
        assert stamps[i + 5] - stamps[i] >= 0.5 - 1e-3
    assert stamps[-1] >= 1.0
