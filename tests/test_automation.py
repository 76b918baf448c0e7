"""Automation that runs itself, through the real dagster-daemon: a deployment whose history
was built once by hand ingests a new partition, and dbt, the scores, the watchlist and its
publication follow with no manual step, in order, from runs the automation sensor launched."""

import json
import subprocess
import time
from datetime import datetime, timedelta, timezone

import dagster as dg
import httpx
import pytest

from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from polycopy_dagster.demo import runs_in_flight, sensor_ticked_since
from tests.daemon_harness import REPO_ROOT, DaemonHarness

# What one ingest must bring up to date, each after the one before it.
FOLLOWING = [dg.AssetKey(["staging", "stg_polymarket__trades"]), dg.AssetKey(["intermediate", "int_trade_outcomes"]),
             dg.AssetKey(["marts", "wallet_metrics"]), dg.AssetKey("wallet_scores"), dg.AssetKey("whale_watchlist"),
             dg.AssetKey("followed_watchlist")]
INGEST = "raw_trades,market_resolutions,raw_wallet_activity"
AUTOMATION_SENSOR = "polycopy_automation"


def latest(instance, key: dg.AssetKey) -> dg.EventLogRecord | None:
    """The asset's latest materialization (any partition), or None."""
    records = instance.fetch_materializations(key, limit=1, ascending=False).records
    return records[0] if records else None


def automation_runs(instance) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs() if r.tags.get("dagster/sensor_name") == AUTOMATION_SENSOR]


def wait_until_settled(instance, timeout_s: float) -> None:
    """Until the automation sensor has evaluated twice after the last run ended and
    requested nothing. (A quiet period measured in seconds is not enough on a loaded
    machine: a tick can come late and launch a run after it.)"""
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    deadline = time.monotonic() + timeout_s
    while True:
        assert time.monotonic() < deadline, "the automation never settled"
        if not runs_in_flight(instance):
            ended = [instance.get_run_record_by_id(r.run_id).end_time or 0 for r in instance.get_runs(limit=50)]
            last_end = max(ended, default=0)
            state = next(s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
                         if s.instigator_name == AUTOMATION_SENSOR)
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=last_end, limit=20)
            done = [t for t in ticks if t.status in (TickStatus.SKIPPED, TickStatus.SUCCESS)]
            if len(done) >= 2 and all(not t.run_ids for t in done) and not runs_in_flight(instance):
                return
        time.sleep(0.5)


def _run_story(instance, run_id: str) -> dict:
    """What launched a run and what it targeted, with the automation's reasons when it has them."""
    run = instance.get_run_by_id(run_id)
    return {"tags": {k: v for k, v in run.tags.items() if k.startswith("dagster/")},
            "selection": sorted(k.to_user_string() for k in run.asset_selection or []),
            "created": instance.get_run_record_by_id(run_id).create_timestamp.isoformat()}


@pytest.mark.daemon
def test_an_ingest_is_followed_by_dbt_scores_and_watchlist_without_a_manual_step(tmp_path):
    anchor = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    world = generate_world(SimConfig(seed=5, n_markets=40, n_wallets=120, n_trades=4_000, history_days=2,
                                     live_days=1.0, history_end=anchor))
    first = (anchor - timedelta(days=2)).date().isoformat()
    today = anchor.date().isoformat()
    with running_venue(world=world) as server:
        h = DaemonHarness(tmp_path, server.url, follow=[], extra_env={
            "POLYCOPY_HISTORY_START": first, "POLYCOPY_AUTOMATION_INTERVAL_S": "5"})
        h.env.pop("POLYCOPY_FOLLOW_WALLETS")
        timings: dict[str, float] = {}

        def dagster(*args: str) -> None:
            proc = subprocess.run([str(h.bin / "dagster"), *args, "-m", "polycopy_dagster.definitions"], env=h.env,
                                  cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stderr[-3000:]

        days = json.dumps({"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": today})
        try:
            t0 = time.monotonic()
            # A deployment with its history built once, by hand: every asset exists.
            dagster("asset", "materialize", "--select", "raw_markets,raw_market_tokens,raw_market_tags")
            dagster("asset", "materialize", "--select", INGEST, "--partition-range", f"{first}...{today}")
            dagster("job", "execute", "-j", "build_dbt_daily", "--tags", days)
            dagster("job", "execute", "-j", "build_dbt_marts")
            dagster("job", "execute", "-j", "score_wallets")
            timings["history built by hand"] = time.monotonic() - t0

            # Then the code servers and the daemon, with the automation sensor on (as
            # POLYCOPY_AUTOMATION=on starts it with the rest).
            t0 = time.monotonic()
            h.start_code_servers()
            h.cli("sensor", "start", AUTOMATION_SENSOR, "--location", "polycopy")
            started = time.time()
            h.start_daemon()
            instance = dg.DagsterInstance.from_config(str(h.home))
            deadline = time.monotonic() + 120
            while not sensor_ticked_since(instance, AUTOMATION_SENSOR, started):  # its first evaluation is its baseline
                assert time.monotonic() < deadline, (h.workdir / "daemon.log").read_text()[-3000:]
                time.sleep(0.5)
            wait_until_settled(instance, timeout_s=240)
            baseline_runs = {r.run_id for r in automation_runs(instance)}
            timings["daemon up and settled"] = time.monotonic() - t0

            # New trades land; today's partition is ingested again, as the hourly schedule does.
            t0 = time.monotonic()
            httpx.post(f"{server.url}/_sim/clock", json={"advance": 6 * 3600})
            ingested = time.time()
            dagster("asset", "materialize", "--select", INGEST, "--partition", today)
            # Behaviour, not speed: on a loaded 2-core runner (Spark's JVM beside it) the chain
            # of daily dbt, marts and scores runs took over 300 s.
            deadline = time.monotonic() + 600
            while True:
                records = {k: latest(instance, k) for k in FOLLOWING}
                if all(r is not None and r.timestamp > ingested for r in records.values()):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"not re-materialized by automation: "
                                f"{[k.to_user_string() for k, r in records.items() if not r or r.timestamp <= ingested]}; "
                                f"runs: {[(r.job_name, r.status.value, r.tags.get('dagster/partition')) for r in instance.get_runs(limit=10)]}; "
                                f"daemon log: {(h.workdir / 'daemon.log').read_text()[-3000:]}")
                time.sleep(1)
            timings["ingest to published watchlist"] = time.monotonic() - t0
            wait_until_settled(instance, timeout_s=240)
        finally:
            h.stop()

    print("automation timings (s):", {k: round(v, 1) for k, v in timings.items()})
    after = [r for r in automation_runs(instance) if r.run_id not in baseline_runs]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in after), [
        (r.run_id, r.status.value) for r in after if r.status != dg.DagsterRunStatus.SUCCESS]
    by_id = {r.run_id: r for r in after}
    for key in FOLLOWING:
        since = [e for e in instance.fetch_materializations(key, limit=20, ascending=False).records
                 if e.timestamp > ingested]
        # Once each, from a run the automation sensor launched; the daily models for today only.
        assert len(since) == 1, (key, [(e.run_id, e.event_log_entry.dagster_event.partition) for e in since],
                                 "runs since the ingest:", [(r.run_id, _run_story(instance, r.run_id)) for r in after])
        assert since[0].run_id in by_id, (key, since[0].run_id)
        if key.path[0] in ("staging", "intermediate"):
            assert since[0].event_log_entry.dagster_event.partition == today, key
    # In order: each asset after the ones it reads.
    stamps = {k.to_user_string(): latest(instance, k).timestamp for k in FOLLOWING}
    assert list(stamps.values()) == sorted(stamps.values()), stamps
    # Today's dbt models ran as one run, and nothing ran twice.
    selections = [sorted(k.to_user_string() for k in r.asset_selection or []) for r in after]
    daily = [s for s in selections if "intermediate/int_trade_outcomes" in s]
    assert len(daily) == 1, selections
    chosen = [k for s in selections for k in s]
    assert len(chosen) == len(set(chosen)), selections
