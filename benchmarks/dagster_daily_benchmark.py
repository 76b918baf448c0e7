"""Benchmark: the daily dbt run as Dagster runs it — the daily models' asset (seeds, staging
views, incremental models over one daily partition) and then the full tables' asset — day
after day on one DuckDB warehouse.

A simulated world is loaded and built once (untimed); then the last ``--days`` partitions
are run one after the other through ``dagster.materialize``, as the daily job and the
marts job run them. For each day it reports the wall time of each asset's run, the time
dbt itself took (from its log), how long dbt spent before its first node, and whether it
had to parse the whole project again (it should not: the window reaches dbt in the
environment, and each command starts from the partial parse kept for the warehouse's
connection settings). The rest of a run's time is Dagster's own (the step, its events
and asset checks).

    python benchmarks/dagster_daily_benchmark.py [--trades 1000000] [--days 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.scale_benchmark import simulated_world  # noqa: E402


def _dbt_log_figures(log: Path) -> dict:
    """From a dbt command's JSON log: its wall time, the time before its first node and
    whether it parsed the whole project again (seconds)."""
    events = []
    for line in log.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    ts = [datetime.fromisoformat(e["info"]["ts"].replace("Z", "+00:00")) for e in events]
    first_node = next((t for t, e in zip(ts, events) if e["info"].get("name") == "NodeStart"), ts[-1])
    return {"dbt_s": round((ts[-1] - ts[0]).total_seconds(), 1),
            "before_first_node_s": round((first_node - ts[0]).total_seconds(), 1),
            "parsed_again": any("Unable to do partial parsing" in e["info"]["msg"] for e in events)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=3, help="daily partitions run one after the other")
    args = ap.parse_args()

    from polycopy.dbt_project import run_dbt
    from polycopy.sim.loader import history_days, load_history
    from polycopy.warehouse import WarehouseSettings, open_warehouse

    with tempfile.TemporaryDirectory(dir=os.environ.get("POLYCOPY_BENCH_DIR")) as tmp:
        db = f"{tmp}/wh.duckdb"
        os.environ["POLYCOPY_DUCKDB_PATH"] = db
        world = simulated_world(7, args.trades, history_days=40)  # the scale benchmark's proportions
        wh = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db))
        days = history_days(world)
        earlier, later = days[:-args.days], days[-args.days:]
        load_history(world, wh, earlier)
        run_dbt(["build"], {"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": db}, f"{tmp}/first-build")
        del wh

        import dagster as dg

        from polycopy_dagster.defs.dbt_cli import dbt_project
        from polycopy_dagster.defs.dbt_models import polycopy_dbt_daily_models, polycopy_dbt_marts
        from polycopy_dagster.defs.resources import build_data_resources

        resources = build_data_resources()
        instance = dg.DagsterInstance.ephemeral()
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        # dagster-dbt gives each dbt command a directory beside the partial parse it started
        # from: the one kept for these connection settings, or at first the load-time parse.
        commands = dbt_project.project_dir / dbt_project.target_path
        rows = []
        for day in later:
            load_history(world, open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db)), [day])
            row = {"day": day.isoformat()}
            for name, assets, partition in (("daily_models", [polycopy_dbt_daily_models], day.isoformat()),
                                            ("marts", [polycopy_dbt_marts], None)):
                before = set(commands.glob("polycopy_dbt_*")) | set(commands.glob("*/polycopy_dbt_*"))
                t = time.perf_counter()
                result = dg.materialize(assets, resources=resources, partition_key=partition, instance=instance,
                                        run_config=quiet, raise_on_error=False)
                wall = time.perf_counter() - t
                if not result.success:
                    raise SystemExit(f"{name} failed on {day}")
                # The dbt command's own target directory (dagster-dbt makes one per command).
                logs = [d / "dbt.log" for d in (set(commands.glob("polycopy_dbt_*")) | set(commands.glob("*/polycopy_dbt_*")))
                        - before]
                row[name] = {"wall_s": round(wall, 1), **(_dbt_log_figures(logs[0]) if len(logs) == 1 else {})}
            rows.append(row)
            print(json.dumps(row), flush=True)
        dagster_s = [r[n]["wall_s"] - r[n]["dbt_s"] for r in rows for n in ("daily_models", "marts") if "dbt_s" in r[n]]
        print(json.dumps({"trades": args.trades, "days": len(rows),
                          "mean_day_s": round(sum(r["daily_models"]["wall_s"] + r["marts"]["wall_s"] for r in rows)
                                              / len(rows), 1),
                          "mean_dagster_overhead_per_asset_s": round(sum(dagster_s) / len(dagster_s), 1),
                          "parsed_again": sum(r[n].get("parsed_again", False) for r in rows
                                              for n in ("daily_models", "marts"))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
