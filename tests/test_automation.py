"""Automation that runs itself, through the real dagster-daemon: on a deployment whose history
was built once, a new ingest of a day's partition is followed by dbt, the scores, the
watchlist and its publication, in order, with no manual step."""

import json
import subprocess
import time
from datetime import datetime, timedelta, timezone

import dagster as dg
import httpx
import pytest

from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from polycopy_dagster.demo import runs_in_flight
from tests.daemon_harness import REPO_ROOT, DaemonHarness

FOLLOWING = [dg.AssetKey(["staging", "stg_polymarket__trades"]), dg.AssetKey(["intermediate", "int_trade_outcomes"]),
             dg.AssetKey(["marts", "wallet_metrics"]), dg.AssetKey("wallet_scores"), dg.AssetKey("whale_watchlist"),
             dg.AssetKey("followed_watchlist")]


def latest(instance, key: dg.AssetKey) -> float:
    """Timestamp of the asset's latest materialization (any partition), 0 if none."""
    records = instance.fetch_materializations(key, limit=1, ascending=False).records
    return records[0].timestamp if records else 0.0


def wait_for(instance, keys, after: float, timeout_s: float, harness) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        stamps = {k.to_user_string(): latest(instance, k) for k in keys}
        if all(t > after for t in stamps.values()):
            return stamps
        if time.monotonic() > deadline:
            runs = instance.get_runs(limit=10)
            pytest.fail(f"not re-materialized by automation: {[k for k, t in stamps.items() if t <= after]}; "
                        f"runs: {[(r.job_name, r.status.value, r.tags.get('dagster/partition')) for r in runs]}; "
                        f"daemon log: {(harness.workdir / 'daemon.log').read_text()[-3000:]}")
        time.sleep(2)


def wait_until_quiet(instance, quiet_s: float = 15.0, timeout_s: float = 300.0) -> None:
    """Until no run has been in flight for ``quiet_s`` seconds (the automation has settled)."""
    deadline, since = time.monotonic() + timeout_s, time.monotonic()
    time.sleep(5)
    while time.monotonic() - since < quiet_s:
        if runs_in_flight(instance):
            since = time.monotonic()
        assert time.monotonic() < deadline, "runs never settled"
        time.sleep(1)


@pytest.mark.daemon
def test_an_ingest_is_followed_by_dbt_scores_and_watchlist_without_a_manual_step(tmp_path):
    anchor = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    world = generate_world(SimConfig(seed=5, n_markets=60, n_wallets=150, n_trades=6_000, history_days=5,
                                     live_days=2.0, history_end=anchor))
    first = (anchor - timedelta(days=5)).date().isoformat()
    today = anchor.date().isoformat()
    with running_venue(world=world) as server:
        h = DaemonHarness(tmp_path, server.url, follow=[], extra_env={
            "POLYCOPY_HISTORY_START": first, "POLYCOPY_AUTOMATION_INTERVAL_S": "5"})
        h.env.pop("POLYCOPY_FOLLOW_WALLETS")

        def dagster(*args: str) -> None:
            proc = subprocess.run([str(h.bin / "dagster"), *args, "-m", "polycopy_dagster.definitions"], env=h.env,
                                  cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stderr[-3000:]

        days = json.dumps({"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": today})
        ingest = "raw_trades,market_resolutions,raw_wallet_activity"
        try:
            # A deployment with its history built once, by hand: every asset exists.
            dagster("asset", "materialize", "--select", "raw_markets,raw_market_tokens,raw_market_tags")
            dagster("asset", "materialize", "--select", ingest, "--partition-range", f"{first}...{today}")
            dagster("job", "execute", "-j", "build_dbt_daily", "--tags", days)
            dagster("job", "execute", "-j", "build_dbt_marts")
            dagster("job", "execute", "-j", "score_wallets")
            # Then the daemon with the automation sensor (POLYCOPY_AUTOMATION=on starts it with the rest).
            h.cli("sensor", "start", "polycopy_automation", "--location", "polycopy")
            h.start_daemon()
            instance = dg.DagsterInstance.from_config(str(h.home))
            # New trades land; the day's partition is ingested again, as the hourly schedule does.
            httpx.post(f"{server.url}/_sim/clock", json={"advance": 6 * 3600})
            wait_until_quiet(instance)  # the sensor's first evaluations set its baseline
            t = time.time()
            dagster("asset", "materialize", "--select", ingest, "--partition", today)
            wait_for(instance, FOLLOWING, t, 420, h)
            wait_until_quiet(instance)
            # In order, once settled: each asset's latest materialization after those of what it reads.
            stamps = {k.to_user_string(): latest(instance, k) for k in FOLLOWING}
            order = [stamps[k.to_user_string()] for k in FOLLOWING]
            assert order == sorted(order), stamps
            # Every run after the ingests came from the automation sensor, and none failed.
            auto = [r for r in instance.get_runs() if r.tags.get("dagster/sensor_name") == "polycopy_automation"]
            for key in FOLLOWING:
                record = instance.fetch_materializations(key, limit=1, ascending=False).records[0]
                assert record.run_id in {r.run_id for r in auto}, key
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in auto), [
                (r.run_id, r.status.value, r.tags) for r in auto if r.status != dg.DagsterRunStatus.SUCCESS]
        finally:
            h.stop()
