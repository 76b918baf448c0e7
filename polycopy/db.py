"""Transactions over a DB-API connection, shared by the warehouse and the ledger, and the
retry of transient connection errors (a PostgreSQL restart, a dropped network)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import tenacity

log = logging.getLogger("polycopy.db")

# What a lost, refused or restarting server looks like to a client. Anything else (a bad
# password, a missing database, an SQL error) is not transient and is raised at once.
TRANSIENT_MARKERS = (
    "could not connect", "connection refused", "server closed the connection", "connection already closed",
    "terminating connection", "the database system is starting up", "the database system is shutting down",
    "the database system is in recovery mode", "no connection to the server", "connection reset",
    "timeout expired", "ssl syscall error", "could not receive data", "could not send data", "broken pipe",
    "connection timed out", "canceling statement due to conflict with recovery", "deadlock detected",
    "could not serialize access",
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a connection-level failure worth retrying the transaction for."""
    try:
        import psycopg2
    except ImportError:  # pragma: no cover - psycopg2 is a dependency
        return False
    exc = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error (migrations)
    if not isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in TRANSIENT_MARKERS)


def close_quietly(action) -> None:
    """Run a rollback or close whose own failure must not hide the error that caused it
    (after a lost connection, the rollback's "connection already closed" is noise)."""
    try:
        action()
    except Exception as exc:  # the connection is already gone: the cause is what matters
        log.debug("ignored while cleaning up after an error: %s", exc)


@contextmanager
def transaction(connect):
    """Yield a cursor on a new connection; commit on success, roll back on any error,
    always close. The error raised is the one that failed the transaction, never a
    rollback's ``connection already closed``."""
    con = connect()
    try:
        cur = con.cursor()
        yield cur
        con.commit()
    except BaseException:
        close_quietly(con.rollback)
        raise
    finally:
        close_quietly(con.close)


# A dead server or a lost network fails in seconds, not at the operating system's TCP timeout.
PG_CONNECTION_DEFAULTS = {"connect_timeout": "5", "keepalives": "1", "keepalives_idle": "30",
                          "keepalives_interval": "10", "keepalives_count": "3"}


def pg_connect(dsn: str):
    """A psycopg2 connection with a connect timeout and TCP keepalives, unless the DSN sets
    its own."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    given = parse_dsn(dsn)
    return psycopg2.connect(dsn, **{k: v for k, v in PG_CONNECTION_DEFAULTS.items() if k not in given})


@dataclass(frozen=True)
class DbRetry:
    """Retries of a transaction that failed on a transient connection error: exponential
    backoff with jitter from ``initial_s`` up to ``max_wait_s`` between attempts, giving up
    ``give_up_after_s`` seconds after the first failure (0 disables retries)."""

    initial_s: float = 0.2
    max_wait_s: float = 5.0
    give_up_after_s: float = 30.0

    def call(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, retried as a whole while it fails transiently."""
        if self.give_up_after_s <= 0:
            return fn(*args, **kwargs)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_transient),
            wait=tenacity.wait_exponential_jitter(multiplier=self.initial_s, max=self.max_wait_s,
                                                 jitter=self.initial_s),
            stop=tenacity.stop_after_delay(self.give_up_after_s),
            before_sleep=lambda rs: log.warning(
                "database unavailable (%s); retrying the transaction, attempt %d",
                str(rs.outcome.exception()).strip().splitlines()[0], rs.attempt_number + 1),
            reraise=True,
        )
        return retrying(fn, *args, **kwargs)
