"""The production configuration: Dagster instance (dagster.yaml), warehouse and ledger all in
PostgreSQL, chosen by environment only."""

import shutil

import dagster as dg
import pytest

from polycopy.sim import truth
from polycopy_dagster.defs.copy_trading import copy_trade_job_for, copy_trade_run_config
from polycopy_dagster.defs.resources import CopyTradingResource, LedgerResource, SignalRulesResource
from tests.conftest import REPO_ROOT
from tests.dagster_helpers import api_resource


@pytest.mark.postgres
def test_dagster_yaml_runs_on_postgres(pg_database, tmp_path, monkeypatch, venue, small_world):
    name = pg_database.rsplit("dbname=", 1)[1]
    for k, v in {"POLYCOPY_PG_HOST": "127.0.0.1", "POLYCOPY_PG_PORT": "5432", "POLYCOPY_PG_USER": "postgres",
                 "POLYCOPY_PG_PASSWORD": "", "POLYCOPY_DAGSTER_PG_DATABASE": name}.items():
        monkeypatch.setenv(k, v)
    shutil.copy(REPO_ROOT / "deploy" / "production" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        emitted = truth.emitted_trades(small_world)
        trade = emitted[emitted["side"] == "BUY"].iloc[-1]
        from polycopy.polymarket.schema import Trade

        t = Trade(trade.trade_key, trade.transaction_hash, trade.proxy_wallet, "BUY", trade.token_id,
                  trade.condition_id, float(trade["size"]), float(trade.price), float(trade["size"] * trade.price),
                  int(trade.timestamp), None, None, None, None, None, None, None, "v1")
        resources = {"polymarket": api_resource(venue.url),
                     "ledger": LedgerResource(backend="postgres", pg_database=name),
                     "copy_trading": CopyTradingResource(),
                     "signal_rules": SignalRulesResource(max_trade_age_s=10 ** 9)}
        result = copy_trade_job_for(resources).execute_in_process(run_config=copy_trade_run_config(t),
                                                                  instance=instance)
        assert result.success
        decision = resources["ledger"].open().decision(t.trade_key)
        assert decision["run_id"] == result.run_id and decision["decision"] in ("copy", "skip")
        # The run and its events live in PostgreSQL.
        runs = instance.get_runs(dg.RunsFilter(job_name="copy_trade"))
        assert [r.run_id for r in runs] == [result.run_id]
        assert instance.all_logs(result.run_id)
    ledger = resources["ledger"].open()
    assert ledger.backend == "postgres" and ledger.latest_nav_snapshot()["run_id"] == result.run_id
