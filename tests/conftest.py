"""Shared fixtures: simulated worlds and venues, PostgreSQL databases, Dagster resources."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from polycopy.sim.server import FaultConfig, running_venue
from polycopy.sim.world import SimConfig, generate_world

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real records captured from the public Polymarket API.
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "polymarket"
PG_ADMIN_DSN = os.environ.get("POLYCOPY_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")

# The longest test files, longest first: on two workers (`make test`), starting them first
# keeps one worker from being left with a long file at the end.
LONGEST_FIRST = ("test_automation.py", "test_ui_browser.py", "test_real_records.py", "test_daemon_live.py",
                 "test_daemon_outage.py", "test_daemon_exits.py", "test_daemon.py", "test_backends.py",
                 "test_backtest_walk_forward.py", "test_backtest_same_as_live.py", "test_spark_models.py",
                 "test_celery_backfill.py",
                 "test_whole_run.py", "test_definitions.py", "test_scoring_assets.py",
                 "test_incremental.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept otherwise


# A small world anchored at a fixed date: the same bytes on every run.
SMALL_WORLD = SimConfig(seed=11, n_markets=120, n_wallets=300, n_trades=8_000, history_days=30,
                        history_end=datetime(2026, 11, 20, tzinfo=timezone.utc))


@pytest.fixture(scope="session")
def small_world():
    return generate_world(SMALL_WORLD)


@pytest.fixture()
def venue(small_world):
    with running_venue(world=small_world) as server:
        yield server


@pytest.fixture()
def faulty_venue(small_world):
    """≥10 % of requests fail (429/5xx/timeouts); pages are shuffled and hold duplicates."""
    faults = FaultConfig(rate=0.15, retry_after_s=0, hang_s=0.4, duplicate_rate=0.05, shuffle=True, seed=5)
    with running_venue(world=small_world, faults=faults) as server:
        yield server


def _pg_connect(dsn: str):
    import psycopg2

    return psycopg2.connect(dsn, connect_timeout=3)


@pytest.fixture(scope="session")
def pg_server():
    """The PostgreSQL server on 127.0.0.1:5432. In CI it must be there: fail, never skip."""
    try:
        _pg_connect(PG_ADMIN_DSN).close()
    except Exception as exc:  # noqa: BLE001 - any connection failure
        msg = f"PostgreSQL is not reachable at {PG_ADMIN_DSN!r}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg + " (set CI=1 to make this a failure)")
    return PG_ADMIN_DSN


@contextmanager
def fresh_pg_database(admin_dsn: str):
    """Create an empty database; yield its DSN; drop it afterwards."""
    name = f"polycopy_test_{uuid.uuid4().hex[:10]}"
    con = _pg_connect(admin_dsn)
    con.autocommit = True
    con.cursor().execute(f"create database {name}")
    con.close()
    try:
        yield f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
    finally:
        con = _pg_connect(admin_dsn)
        con.autocommit = True
        cur = con.cursor()
        cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        cur.execute(f"drop database if exists {name}")
        con.close()


@pytest.fixture()
def pg_database(pg_server):
    """A fresh, empty database for one test; dropped afterwards. Yields its DSN."""
    with fresh_pg_database(pg_server) as dsn:
        yield dsn


@pytest.fixture(scope="module")
def pg_database_module(pg_server):
    """A fresh, empty database shared by one test module."""
    with fresh_pg_database(pg_server) as dsn:
        yield dsn
