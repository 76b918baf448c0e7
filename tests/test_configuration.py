"""Configuration checked when it loads: every problem named in one line, at once, and
whatever still works keeps working."""

import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from polycopy.configuration import ConfigurationError, check_reachable, parse_wallets, unknown_variable_warnings
from polycopy.sim.server import free_port
from polycopy_dagster.defs import resources as res
from polycopy_dagster.demo import DemoWorld, demo_anchor, demo_environment, override_lines

BIN = Path(sys.executable).parent
GOOD = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("POLYCOPY_"):
            monkeypatch.delenv(k)
    res._warned.clear()


def closed_port() -> int:
    return free_port()  # nothing listens once the socket closes


def test_a_bad_wallet_is_named_in_one_line_and_the_good_ones_are_still_followed(monkeypatch, caplog):
    monkeypatch.setenv("POLYCOPY_FOLLOW_WALLETS", f" {GOOD.upper().replace('0X', '0x')}, notawallet ,{OTHER},{GOOD}")
    with caplog.at_level(logging.WARNING, logger="polycopy.configuration"):
        res.build_execution_resources()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["POLYCOPY_FOLLOW_WALLETS: 'notawallet' is not a wallet address (0x followed by 40 hex digits); "
                     "ignored, 2 other wallets still followed"]
    # Lower-cased, de-duplicated, in order: the sensor and the activity ingest follow these two.
    raw = os.environ["POLYCOPY_FOLLOW_WALLETS"]  # the resources read it at run time (EnvVar)
    assert res.CopyTradingResource(follow_wallets=raw).wallets() == [GOOD, OTHER]
    assert res.WalletActivityResource(follow_wallets=raw).followed() == [GOOD, OTHER]
    assert parse_wallets("0x12, ,") == ([], ["0x12"])


def test_an_unknown_variable_is_warned_about_with_the_name_it_resembles(monkeypatch, caplog):
    monkeypatch.setenv("POLYCOPY_MAX_TRADE_AGE", "600")  # the setting is POLYCOPY_MAX_TRADE_AGE_S
    monkeypatch.setenv("POLYCOPY_MAX_TRADE_AGE_S", "600")
    with caplog.at_level(logging.WARNING, logger="polycopy.configuration"):
        resources = res.build_execution_resources()
    assert [r.getMessage() for r in caplog.records] == [
        "POLYCOPY_MAX_TRADE_AGE is not a polycopy setting; ignored (did you mean POLYCOPY_MAX_TRADE_AGE_S?)"]
    assert resources["signal_rules"].max_trade_age_s == 600.0
    # Every threshold of every settings class is a known name.
    assert unknown_variable_warnings({"POLYCOPY_WQS_PRESET": "edge", "POLYCOPY_GATE_PERCENTILE": "0.8"},
                                     res.known_variables()) == []


@pytest.mark.parametrize("var, value, words", [
    ("POLYCOPY_WAREHOUSE", "duck", "POLYCOPY_WAREHOUSE='duck' is not one of duckdb, postgres"),
    ("POLYCOPY_MAX_TRADE_AGE_S", "five minutes", "POLYCOPY_MAX_TRADE_AGE_S='five minutes' is not a float"),
    ("POLYCOPY_PG_PORT", "54x2", "POLYCOPY_PG_PORT='54x2' is not a port number"),
    ("POLYCOPY_AUTOMATION", "sometimes", "POLYCOPY_AUTOMATION must be on or off, got 'sometimes'"),
])
def test_a_value_that_cannot_work_fails_the_load_in_one_line(monkeypatch, var, value, words):
    monkeypatch.setenv(var, value)
    monkeypatch.setenv("POLYCOPY_LEDGER", "postgres")  # so that the port is read
    with pytest.raises((ConfigurationError, ValueError)) as e:
        res.build_execution_resources()
        from polycopy_dagster.defs.automation import automation_on
        automation_on()
    assert str(e.value) == words and "\n" not in str(e.value)


def test_an_unreachable_database_is_named_in_one_line_within_three_seconds(monkeypatch):
    port = closed_port()
    monkeypatch.setenv("POLYCOPY_LEDGER", "postgres")
    monkeypatch.setenv("POLYCOPY_PG_PORT", str(port))
    t = time.monotonic()
    with pytest.raises(ConfigurationError) as e:
        res.build_execution_resources()
    assert time.monotonic() - t < 3
    msg = str(e.value)
    assert "\n" not in msg and f"127.0.0.1:{port}" in msg and "PostgreSQL (the ledger)" in msg
    assert "POLYCOPY_PG_PORT" in msg  # what to do

    # The CLI says the same in one line on stderr and exits 2, just as fast, creating nothing.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("POLYCOPY_")},
           "POLYCOPY_LEDGER": "postgres", "POLYCOPY_PG_PORT": str(port)}
    # The CLI's own start (the interpreter and the imports the command needs) is timed just
    # before, under whatever load the machine has: the check (under 3 s, above) may add at
    # most that plus a second for the two processes' own variation.
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", "import polycopy_dagster.cli, polycopy_dagster.defs.resources"],
                   env=env, check=True, timeout=60)
    start_up = time.monotonic() - t
    t = time.monotonic()
    proc = subprocess.run([str(BIN / "polycopy"), "risk", "status"], env=env, capture_output=True, text=True,
                          timeout=60)
    elapsed = time.monotonic() - t
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and f"127.0.0.1:{port}" in proc.stderr
    assert elapsed - start_up < 3 + 1.0, (elapsed, start_up)


def test_risk_status_without_a_ledger_says_where_it_looked_and_creates_none(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("POLYCOPY_")},
           "POLYCOPY_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([str(BIN / "polycopy"), "risk", "status"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and f"no ledger at {tmp_path / 'ledger.sqlite'}" in proc.stdout
    assert not (tmp_path / "ledger.sqlite").exists()


def test_the_demo_says_which_variables_it_overrides(tmp_path):
    spec = DemoWorld(seed=1, markets=10, wallets=10, trades=100, history_days=10,
                     anchor="2026-11-20T00:00:00+00:00", live_hours=1)
    env = demo_environment(tmp_path, spec, "http://127.0.0.1:9999")
    lines = override_lines(env, {"POLYCOPY_VENUE": "polymarket", "POLYCOPY_FOLLOW_WALLETS": GOOD,
                                 "POLYCOPY_SIM_URL": "http://127.0.0.1:9999", "POLYCOPY_WAREHOUSE": "postgres"})
    assert lines == ["  POLYCOPY_VENUE=polymarket is overridden by the demo: sim",
                     f"  POLYCOPY_FOLLOW_WALLETS={GOOD} is overridden by the demo: (unset)"]
    assert env["POLYCOPY_HISTORY_START"] == "2026-11-10" and Path(env["DAGSTER_HOME"]).is_absolute()


@pytest.mark.postgres
def test_a_password_in_the_environment_is_read_when_a_resource_is_used_outside_a_run(monkeypatch, pg_database):
    """POLYCOPY_PG_PASSWORD (an EnvVar, never baked into config) is resolved where the CLI and
    the demo use resources directly; before, building the connection string raised."""
    from psycopg2.extensions import parse_dsn

    monkeypatch.setenv("POLYCOPY_PG_PASSWORD", "s3cret with spaces")
    monkeypatch.setenv("POLYCOPY_PG_DATABASE", parse_dsn(pg_database)["dbname"])
    monkeypatch.setenv("POLYCOPY_LEDGER", "postgres")
    resource = res.ledger_resource()
    with pytest.raises(RuntimeError, match="EnvVar"):
        resource.pg_dsn()  # what `make demo` hit
    ready = res.initialized(resource)
    dsn = parse_dsn(ready.pg_dsn())
    assert dsn["password"] == "s3cret with spaces" and dsn["dbname"] == parse_dsn(pg_database)["dbname"]
    assert ready.open().summary()["trades_seen"] == 0  # trust auth accepts it; the ledger opens
    warehouse = res.initialized(res.build_data_resources()["warehouse"])
    assert parse_dsn(warehouse.pg_dsn())["password"] == "s3cret with spaces"
    # The CLI uses the ledger the same way.
    env = {**{k: v for k, v in os.environ.items()}}
    proc = subprocess.run([str(BIN / "polycopy"), "risk", "status"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "s3cret" not in proc.stdout + proc.stderr  # the secret is never printed


@pytest.mark.postgres
def test_postgres_connections_have_a_connect_timeout_and_keepalives(pg_database):
    from polycopy.db import pg_connect

    con = pg_connect(pg_database)
    try:
        params = con.get_dsn_parameters()
        assert params["connect_timeout"] == "5" and params["keepalives"] == "1"
        assert params["keepalives_idle"] == "30" and params["keepalives_count"] == "3"
    finally:
        con.close()
    con = pg_connect(pg_database + " connect_timeout=2")  # a DSN's own setting wins
    assert con.get_dsn_parameters()["connect_timeout"] == "2"
    con.close()


def test_the_exit_check_interval_is_a_known_setting_and_a_bad_one_is_named(monkeypatch):
    from polycopy.configuration import ConfigurationError
    from polycopy_dagster.defs.position_exits import exit_check_interval_s
    from polycopy_dagster.defs.resources import known_variables

    assert "POLYCOPY_EXIT_CHECK_INTERVAL_S" in known_variables()
    monkeypatch.setenv("POLYCOPY_EXIT_CHECK_INTERVAL_S", "15")
    assert exit_check_interval_s() == 15
    monkeypatch.setenv("POLYCOPY_EXIT_CHECK_INTERVAL_S", "soon")
    with pytest.raises(ConfigurationError, match="POLYCOPY_EXIT_CHECK_INTERVAL_S='soon' is not a number"):
        exit_check_interval_s()


def test_the_demo_clock_step_and_its_smallest_copied_trade_reach_the_sensors(tmp_path):
    spec = DemoWorld(seed=1, markets=10, wallets=10, trades=100, history_days=10,
                     anchor="2026-11-20T00:00:00+00:00", live_hours=48, step_hours=2, min_whale_trade_usd=1000)
    env = demo_environment(tmp_path, spec, "http://127.0.0.1:9999")
    # A trade can be a whole step old when the follow sensor sees it.
    assert env["POLYCOPY_MAX_TRADE_AGE_S"] == "7200" and env["POLYCOPY_MIN_WHALE_TRADE_USD"] == "1000"
    # The world's wallets trade through the live window.
    assert spec.sim_config().horizon_ts - spec.sim_config().history_end_ts == 3 * 86_400


def test_a_demo_anchor_is_read_as_utc_to_the_minute_and_a_bad_one_is_refused_before_anything_starts(tmp_path):
    assert demo_anchor("2026-12-05T12:00:42") == datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
    assert demo_anchor("2026-12-05T13:00+01:00") == datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "kept").write_text("a previous demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCOPY_")}
    proc = subprocess.run([str(BIN / "polycopy"), "demo", "--data-dir", str(tmp_path / "demo"), "--anchor", "soon"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "--anchor 'soon': not an ISO 8601 time" in proc.stderr
    assert (tmp_path / "demo" / "kept").read_text() == "a previous demo"


def test_a_demo_step_longer_than_its_live_window_is_refused_before_anything_starts(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCOPY_")}
    proc = subprocess.run([str(BIN / "polycopy"), "demo", "--data-dir", str(tmp_path / "demo"), "--live-hours", "2",
                           "--step-hours", "3"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "--step-hours 3" in proc.stderr and "at most the live window" in proc.stderr
    assert not (tmp_path / "demo").exists()
