"""Steps fanned out to Celery workers (POLYCOPY_EXECUTOR=celery) write the same warehouse as
the in-process executor: a backfill of raw_trades over seven daily partitions, one run per
partition launched at once, each step executed by a real Celery worker on this machine's
RabbitMQ broker, against the simulated venue over HTTP and a PostgreSQL warehouse."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from polycopy.configuration import ConfigurationError
from polycopy_dagster.defs.executors import DEFAULT_BROKER, celery_config, data_executor
from tests.conftest import REPO_ROOT, fresh_pg_database

MARKETS = "raw_markets,raw_market_tokens,raw_market_tags"  # one multi-asset
DAYS = [f"2026-11-{d:02d}" for d in range(10, 17)]
BIN = Path(sys.executable).parent
TRADE_COLUMNS = ("trade_key, transaction_hash, proxy_wallet, side, token_id, condition_id, size, price, usdc_size, "
                 "timestamp, outcome, outcome_index, title, slug, event_slug, name, pseudonym, source_shape, "
                 "partition_day")


def _broker_reachable() -> None:
    import kombu

    try:
        with kombu.Connection(DEFAULT_BROKER, connect_timeout=3) as con:
            con.connect()
    except Exception as exc:  # noqa: BLE001 - any connection failure
        msg = f"RabbitMQ is not reachable at {DEFAULT_BROKER}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg + " (set CI=1 to make this a failure)")


def _env(venue, dsn: str, home: Path, **extra) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DAGSTER_HOME": str(home),
            "POLYCOPY_VENUE": "sim", "POLYCOPY_SIM_URL": venue.url, "POLYCOPY_HISTORY_START": "2026-10-20",
            "POLYCOPY_WAREHOUSE": "postgres", "POLYCOPY_PG_DATABASE": dsn.rsplit("dbname=", 1)[1],
            "POLYCOPY_LEDGER": "sqlite", "POLYCOPY_LEDGER_PATH": str(home / "ledger.sqlite"),
            "POLYCOPY_DATA_DIR": str(home / "data"), **extra}


def _materialize(env: dict, select: str, *partition: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "dagster"), "asset", "materialize", "-m", "polycopy_dagster.definitions",
                             "--select", select, *partition], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(procs: list[subprocess.Popen], timeout_s: float = 600) -> None:
    for p in procs:
        out, _ = p.communicate(timeout=timeout_s)
        assert p.returncode == 0, out[-4000:]


def _tables(dsn: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from polycopy.warehouse.base import PostgresWarehouse

    wh = PostgresWarehouse(dsn)
    return (wh.query_df(f"select {TRADE_COLUMNS} from raw.trades order by trade_key"),
            wh.query_df("select reject_key, source, reason, payload, record_ts, partition_key from raw.rejects "
                        "order by reject_key"))


@pytest.mark.postgres
def test_a_celery_backfill_writes_what_the_in_process_executor_writes(venue, pg_server, tmp_path):
    _broker_reachable()
    with fresh_pg_database(pg_server) as in_process_dsn, fresh_pg_database(pg_server) as celery_dsn:
        # In process: the markets, then the seven days as one run.
        env = _env(venue, in_process_dsn, tmp_path / "in_process")
        _wait([_materialize(env, MARKETS)])
        _wait([_materialize(env, "raw_trades", "--partition-range", f"{DAYS[0]}...{DAYS[-1]}")])

        # Celery: a worker on the broker (as `dagster-celery worker start` runs it), then one run
        # per day, all launched at once; every step of every run goes through the broker.
        env = _env(venue, celery_dsn, tmp_path / "celery", POLYCOPY_EXECUTOR="celery")
        config_dir = tmp_path / "celery_config"
        config_dir.mkdir()
        cfg = celery_config(env)
        (config_dir / "dagster_celery_config.py").write_text(
            f"broker_url = {cfg['broker']!r}\nresult_backend = {cfg['backend']!r}\n")
        worker_log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed after the worker stops
        worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "dagster_celery.app", "worker", "--prefetch-multiplier=1", "--concurrency=2",
             "--loglevel=INFO", "-n", f"polycopy-test-{os.getpid()}@%h"],
            cwd=REPO_ROOT, env={**env, "PYTHONPATH": f"{config_dir}:{REPO_ROOT}"},
            stdout=worker_log, stderr=subprocess.STDOUT)
        try:
            _wait([_materialize(env, MARKETS)])
            _wait([_materialize(env, "raw_trades", "--partition", day) for day in DAYS])
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
            worker_log.close()
        log = (tmp_path / "worker.log").read_text()

        in_process_trades, in_process_rejects = _tables(in_process_dsn)
        celery_trades, celery_rejects = _tables(celery_dsn)

    assert len(in_process_trades) > 100
    assert sorted(in_process_trades["partition_day"].astype(str).unique()) == DAYS
    pd.testing.assert_frame_equal(celery_trades, in_process_trades)
    pd.testing.assert_frame_equal(celery_rejects, in_process_rejects)

    # Eight runs (the markets and the seven days), each of whose steps a Celery worker executed.
    instance = DagsterInstance.from_config(str(tmp_path / "celery"))
    try:
        runs = instance.get_runs(RunsFilter())
        assert len(runs) == 1 + len(DAYS)
        assert all(r.status == DagsterRunStatus.SUCCESS for r in runs)
        for run in runs:
            records = instance.all_logs(run.run_id)
            assert any("in celery worker" in (r.message or "") for r in records), run.run_id
    finally:
        instance.dispose()
    assert "succeeded" in log


def test_several_processes_are_refused_on_the_embedded_warehouse():
    with pytest.raises(ConfigurationError) as err:
        data_executor({"POLYCOPY_EXECUTOR": "celery"})
    assert "POLYCOPY_WAREHOUSE=postgres" in str(err.value) and "\n" not in str(err.value)
    assert data_executor({"POLYCOPY_EXECUTOR": "celery", "POLYCOPY_WAREHOUSE": "postgres"}).name == "celery"
    assert data_executor({}).name == "in_process"
