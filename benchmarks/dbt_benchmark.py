"""Benchmark: build every dbt model for a 1M-trade / 20k-wallet world on DuckDB and PostgreSQL.

Raw tables are loaded directly from the simulated world through the same record
parsers and warehouse writers the ingestion assets use (the HTTP path is measured by
ingest_benchmark.py); then `dbt build` (models + tests) is timed on each backend, with
the peak memory of the dbt process (for PostgreSQL the server does the work; its
memory is not in that figure).

    python benchmarks/dbt_benchmark.py [--trades 1000000] [--backends duckdb,postgres]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.measured_process import Measured, run_measured  # noqa: E402
from polycopy.sim.loader import load_history  # noqa: E402
from polycopy.sim.world import SimConfig, generate_world  # noqa: E402
from polycopy.warehouse import WarehouseSettings, open_warehouse  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def dbt_build(target: str, env: dict, tmp: str) -> tuple[Measured, str]:
    """``dbt build`` on ``target``, in its own process (its peak memory is this build's dbt
    alone): its measure and dbt's summary line."""
    dbt = Path(sys.executable).parent / "dbt"
    run = run_measured([str(dbt), "build", "--target", target,
                        "--profiles-dir", str(REPO / "dbt_project"), "--project-dir", str(REPO / "dbt_project"),
                        "--target-path", f"{tmp}/t-{target}", "--log-path", f"{tmp}/l-{target}"],
                       {"POLYCOPY_WAREHOUSE": target, **env})
    if run.returncode != 0:
        print(run.stdout[-4000:], file=sys.stderr)
        raise SystemExit(f"dbt build failed on {target}")
    summary = next((line for line in run.stdout.splitlines() if "Done. PASS=" in line), "")
    return run, summary.split("Done.")[-1].strip()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=1_000_000)
    ap.add_argument("--wallets", type=int, default=20_000)
    ap.add_argument("--markets", type=int, default=5_000)
    ap.add_argument("--backends", default="duckdb,postgres")
    args = ap.parse_args()
    cfg = SimConfig(seed=7, n_markets=args.markets, n_wallets=args.wallets, n_trades=args.trades, history_days=60,
                    history_end=datetime(2026, 11, 20, tzinfo=timezone.utc), live_days=0.0)
    world = generate_world(cfg)
    results = {"trades": len(world.trades), "wallets": args.wallets, "markets": args.markets}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            if backend == "duckdb":
                settings = WarehouseSettings(backend="duckdb", duckdb_path=f"{tmp}/wh.duckdb")
                env = {"POLYCOPY_DUCKDB_PATH": settings.duckdb_path}
            else:
                import psycopg2

                name = f"polycopy_bench_{os.getpid()}"
                con = psycopg2.connect(PG_ADMIN)
                con.autocommit = True
                con.cursor().execute(f"drop database if exists {name}")
                con.cursor().execute(f"create database {name}")
                con.close()
                settings = WarehouseSettings(backend="postgres", pg_dsn=f"host=127.0.0.1 user=postgres dbname={name}")
                env = {"POLYCOPY_PG_DATABASE": name}
            t = time.perf_counter()
            load_history(world, open_warehouse(settings))
            load_s = time.perf_counter() - t
            build, summary = dbt_build(backend, env, tmp)
            results[backend] = {"load_raw_s": round(load_s, 1), "dbt_build_s": round(build.wall_s, 1),
                                "dbt_cpu_s": round(build.cpu_s, 1), "dbt_peak_rss_mb": round(build.peak_mb),
                                "dbt": summary}
            print(f"{backend}: dbt build of all models + tests in {build.wall_s:.1f} s ({build.cpu_s:.0f} CPU s, "
                  f"dbt process peak RSS {build.peak_mb:.0f} MB) — {summary}", flush=True)
            if backend == "postgres":
                con = psycopg2.connect(PG_ADMIN)
                con.autocommit = True
                con.cursor().execute(f"drop database if exists {name}")
                con.close()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
