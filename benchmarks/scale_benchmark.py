"""Benchmark: the warehouse at real Polymarket volume — tens of millions of trades on one machine.

Polymarket fills on the order of a million trades a day, so the history is built as 1M-trade
days: ``--history-days`` days of ``trades / history-days`` fills each, from independent
simulated worlds of disjoint markets and wallets (``--shard-trades`` fills each, generated
one at a time so that only one is ever in memory). For each size it reports, each with its
wall time and the peak RSS of the process doing it:

1. load: every day but the last into an empty DuckDB warehouse (the same column writer as
   ingestion, one transaction);
2. full ``dbt build`` (models and tests) on that history;
3. the last day, loaded as a daily partition of about ``--day-trades`` fills (1M: the last
   days of as many worlds as that takes, whatever the history's size), then the daily run
   on top: the incremental models over that partition's window and the tables after them,
   as the Dagster daily job runs them;
4. scoring every wallet from the marts (bootstrap included).

With ``--spark-trades N``, a history of N trades is also built on Apache Spark in local mode
beside DuckDB (raw tables exported as Parquet and registered; ``dbt build --target spark``).

DuckDB runs within its memory limit (``POLYCOPY_DUCKDB_MEMORY_LIMIT``, default a fifth
of physical memory) and spills to ``<warehouse>.tmp``.

    python benchmarks/scale_benchmark.py [--sizes 10000000,40000000] [--history-days 40] [--spark-trades 1000000]
                                         [--history-dir DIR [--reuse-history]]

``--history-dir`` keeps each size's built history; with ``--reuse-history`` a later run
starts from it and measures the daily run and scoring again (after a change to the
daily path), without the load and the full build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.measured_process import Measured, run_measured  # noqa: E402

HISTORY_END = datetime(2026, 11, 20, tzinfo=timezone.utc)
WALLETS_PER_MILLION = 5_000  # 40M trades: 200k wallets
MARKETS_PER_MILLION = 2_500


def simulated_world(seed: int, shard_trades: int, history_days: int):
    """One world of ``shard_trades`` fills over ``history_days`` days ending at HISTORY_END,
    with 5,000 wallets and 2,500 markets per million fills."""
    from polycopy.sim.world import SimConfig, generate_world

    m = shard_trades / 1_000_000
    return generate_world(SimConfig(
        seed=seed, n_markets=max(50, int(MARKETS_PER_MILLION * m)), n_wallets=max(100, int(WALLETS_PER_MILLION * m)),
        n_trades=shard_trades, history_days=history_days, history_end=HISTORY_END, live_days=0.0))


def _days(history_days: int) -> list[date]:
    last = (HISTORY_END - timedelta(seconds=1)).date()
    # Markets open before the history starts; their first fills land within it.
    return [last - timedelta(days=i) for i in range(history_days + 30, -1, -1)]


# ---- phases, each in its own process so that its peak memory is its own ---------------
def _until_day_trades(worlds, day: date, budget: int):
    """``worlds`` until their fills on ``day`` reach ``budget`` trades (the world that
    crosses it included): a daily partition of about ``budget`` trades at any history size."""
    taken = 0
    day_number = (day - date(1970, 1, 1)).days
    for world in worlds:
        if taken >= budget:
            return
        taken += int((world.trades["ts"].to_numpy() // 86_400 == day_number).sum())
        yield world


def phase_load(db: str, trades: int, shard_trades: int, history_days: int, which: str,
               day_trades: int = 0) -> dict:
    """Load every day but the last (``which`` = "history") or the last day only ("day"), of
    about ``day_trades`` fills."""
    from polycopy.sim.loader import load_histories
    from polycopy.warehouse import WarehouseSettings, open_warehouse

    wh = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db))
    days = _days(history_days)
    days = days[:-1] if which == "history" else days[-1:]
    worlds = (simulated_world(1000 + i, shard_trades, history_days) for i in range(trades // shard_trades))
    if which == "day":
        worlds = _until_day_trades(worlds, days[-1], day_trades)
    counts = load_histories(worlds, wh, days)
    return {"trades": counts["trades"], "markets": counts["markets"]}


def phase_score(db: str) -> dict:
    from polycopy.scoring.settings import ScoringSettings
    from polycopy.scoring.wallet_scores import read_scoring_inputs, score_wallets
    from polycopy.warehouse import WarehouseSettings, open_warehouse

    wh = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db))
    t = time.perf_counter()
    inputs = read_scoring_inputs(wh, ScoringSettings().return_window_days)
    read_s = time.perf_counter() - t
    scores = score_wallets(*inputs, ScoringSettings())
    return {"wallets": len(scores), "read_s": round(read_s, 1)}


def phase_export(db: str, directory: str) -> dict:
    from polycopy.warehouse import WarehouseSettings, open_warehouse
    from polycopy.warehouse.parquet_export import export_raw_parquet

    return export_raw_parquet(open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db)), directory)


PHASES = {"load": phase_load, "score": phase_score, "export": phase_export}


def _measured(cmd: list[str], env: dict | None = None) -> Measured:
    """Run ``cmd`` in a child process: its wall time, CPU time and peak RSS; stop on failure."""
    run = run_measured(cmd, env)
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-6000:] + run.stderr[-6000:])
        raise SystemExit(f"failed: {' '.join(cmd[:4])}")
    return run


def _phase(name: str, **kwargs) -> tuple[Measured, dict]:
    run = _measured([sys.executable, __file__, "--phase", name, json.dumps(kwargs)])
    return run, json.loads(next(line for line in run.stdout.splitlines() if line.startswith("{")))


def _dbt(args: list[str], db: str, tmp: str, extra_env: dict | None = None) -> tuple[Measured, str]:
    """A dbt command on the DuckDB warehouse ``db``: its measure and dbt's summary line."""
    from polycopy.dbt_project import DBT_PROJECT_DIR, dbt_executable, with_duckdb_limits

    env = {**with_duckdb_limits({"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": db}), **(extra_env or {})}
    run = _measured(
        [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", f"{tmp}/target", "--log-path", f"{tmp}/logs"], env)
    return run, next((line.split("Done.")[-1].strip() for line in run.stdout.splitlines() if "Done. PASS=" in line), "")


def _whole_build_threads(db: str) -> list[str]:
    """dbt's ``--threads`` for a build of every model from an empty warehouse, as the
    Dagster asset chooses it for a first build."""
    from polycopy.dbt_project import thread_args
    from polycopy.warehouse.duckdb_limits import duckdb_limits_from_env

    return thread_args(duckdb_limits_from_env(db), builds_whole=True)


def _whole_build_slices(db: str, trades: int) -> int:
    """The slices of wallets the full build makes its sliced models in (dbt_project/macros/fill_slices.sql)."""
    from polycopy.warehouse.duckdb_limits import duckdb_limits_from_env

    per_slice = duckdb_limits_from_env(db).whole_build_slice_fills
    return -(-trades // per_slice) if per_slice else 1


def _us_per_trade(run: Measured, trades: int) -> float:
    """Wall time per trade, µs."""
    return round(run.wall_s / max(trades, 1) * 1e6, 2)


def _figures(run: Measured) -> dict:
    return {"s": round(run.wall_s, 1), "cpu_s": round(run.cpu_s, 1), "peak_mb": round(run.peak_mb)}


def _slowest_nodes(tmp: str, n: int = 6) -> list[list]:
    """The ``n`` slowest nodes of the last dbt command: [[seconds, node], ...]."""
    results = json.loads(Path(f"{tmp}/target/run_results.json").read_text())["results"]
    timed = sorted(((r["execution_time"], r["unique_id"].split(".")[-1]) for r in results), reverse=True)
    return [[round(t, 1), name] for t, name in timed[:n]]


def run_size(trades: int, args, tmp: str) -> dict:
    db = f"{tmp}/wh-{trades}.duckdb"
    common = {"db": db, "trades": trades, "shard_trades": args.shard_trades, "history_days": args.history_days}
    row: dict = {"trades": trades}
    kept = Path(args.history_dir, f"history-{trades}.duckdb") if args.history_dir else None
    if args.reuse_history and kept and kept.exists():
        # The history of an earlier run with the same settings, loaded and built: only the
        # daily run and scoring are measured again.
        shutil.copyfile(kept, db)
        row["history"] = f"reused {kept}"
        # Untimed, as a deployment parses the project when it loads: the daily run's dbt
        # commands start from a partial parse, as they do after the full build.
        _dbt(["parse"], db, tmp)
        print(f"{trades:,}: history reused from {kept}", flush=True)
    else:
        run, res = _phase("load", **common, which="history")
        row["load"] = {**_figures(run), "trades": res["trades"],
                       "us_per_trade": _us_per_trade(run, res["trades"])}
        print(f"{trades:,}: loaded {res['trades']:,} trades in {run.wall_s:.1f} s ({run.cpu_s:.0f} CPU s, "
              f"peak {run.peak_mb:.0f} MB)", flush=True)
        run, summary = _dbt(["build", *_whole_build_threads(db)], db, tmp)
        slices = _whole_build_slices(db, res["trades"])
        row["build"] = {**_figures(run), "us_per_trade": _us_per_trade(run, res["trades"]),
                        "slices": slices, "dbt": summary, "slowest": _slowest_nodes(tmp)}
        print(f"{trades:,}: full dbt build in {run.wall_s:.1f} s ({run.cpu_s:.0f} CPU s, "
              f"{row['build']['us_per_trade']} µs a trade, peak {run.peak_mb:.0f} MB; "
              f"the walk, market-days and bets placed in {slices} slice(s) of wallets) — {summary}", flush=True)
        if kept:
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(db, kept)
    run, res = _phase("load", **common, which="day", day_trades=args.day_trades)
    row["day_load"] = {**_figures(run), "trades": res["trades"]}
    from polycopy.dbt_project import partition_environment

    day = _days(args.history_days)[-1]
    # The window in the environment, as the Dagster asset passes it: dbt keeps its partial
    # parse (window vars would make it parse the whole project again every day).
    window = partition_environment(day, day + timedelta(days=1))
    # One command for the seeds, the staging views (and their tests on the window's days)
    # and the incremental models, as the Dagster daily asset runs them; then the tables.
    daily, summary1 = _dbt(["build", "--select", "config.materialized:view resource_type:seed "
                            "config.materialized:incremental"], db, tmp, window)
    slowest = _slowest_nodes(tmp)
    tables, summary3 = _dbt(["build", "--exclude", "config.materialized:incremental config.materialized:view "
                             "resource_type:seed"], db, tmp)
    wall, cpu = daily.wall_s + tables.wall_s, daily.cpu_s + tables.cpu_s
    row["increment"] = {"trades": res["trades"], "incremental_s": round(daily.wall_s, 1),
                        "tables_s": round(tables.wall_s, 1), "s": round(wall, 1),
                        "incremental_cpu_s": round(daily.cpu_s, 1), "tables_cpu_s": round(tables.cpu_s, 1),
                        "cpu_s": round(cpu, 1), "peak_mb": round(max(daily.peak_mb, tables.peak_mb)),
                        "dbt": f"{summary1} / {summary3}",
                        "slowest_incremental": slowest, "slowest_tables": _slowest_nodes(tmp)}
    print(f"{trades:,}: daily increment of {res['trades']:,} trades: incremental models {daily.wall_s:.1f} s "
          f"({daily.cpu_s:.0f} CPU s), tables after them {tables.wall_s:.1f} s ({tables.cpu_s:.0f} CPU s), "
          f"peak {row['increment']['peak_mb']} MB; slowest "
          f"{row['increment']['slowest_incremental'][:3]} / {row['increment']['slowest_tables'][:3]}", flush=True)
    run, res = _phase("score", db=db)
    row["scoring"] = {**_figures(run), **res}
    print(f"{trades:,}: scored {res['wallets']:,} wallets in {run.wall_s:.1f} s ({run.cpu_s:.0f} CPU s, "
          f"peak {run.peak_mb:.0f} MB)", flush=True)
    return row


def _scaling(rows: list[dict]) -> dict | None:
    """Load and full build from the smallest history to the largest: how many times the
    time for how many times the trades (linear: the two ratios equal)."""
    if len(rows) < 2:
        return None
    small, large = rows[0], rows[-1]
    trades = large["load"]["trades"] / small["load"]["trades"]
    out = {"scaling": f"{small['load']['trades']:,} to {large['load']['trades']:,} trades",
           "trades_ratio": round(trades, 2)}
    for phase in ("load", "build"):
        out[f"{phase}_ratio"] = round(large[phase]["s"] / small[phase]["s"], 2)
        out[f"{phase}_ratio_per_trade"] = round(out[f"{phase}_ratio"] / trades, 3)
    print(f"{out['scaling']} ({trades:.2f}× the trades): load {out['load_ratio']}×, full build "
          f"{out['build_ratio']}× (per trade {out['load_ratio_per_trade']} and {out['build_ratio_per_trade']})",
          flush=True)
    return out


def run_spark(trades: int, args, tmp: str) -> dict:
    """The same history built on DuckDB and on Spark (local mode) side by side."""
    from polycopy.dbt_project import DBT_PROJECT_DIR, dbt_executable

    db = f"{tmp}/spark-{trades}.duckdb"
    common = {"db": db, "trades": trades, "shard_trades": min(args.shard_trades, trades),
              "history_days": args.history_days}
    _phase("load", **common, which="history")
    duck, duck_summary = _dbt(["build", *_whole_build_threads(db)], db, tmp)
    _phase("export", db=db, directory=f"{tmp}/raw-{trades}")
    env = {"POLYCOPY_SPARK_WAREHOUSE_DIR": f"{tmp}/spark-warehouse-{trades}",
           "POLYCOPY_SPARK_DRIVER_MEMORY": args.spark_driver_memory}
    dbt_args = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                "--target-path", f"{tmp}/target-spark", "--log-path", f"{tmp}/logs-spark", "--target", "spark"]
    register = _measured([dbt_executable(), "run-operation", "register_raw_parquet", "--args",
                          json.dumps({"path": f"{tmp}/raw-{trades}"}), *dbt_args], env)
    spark = _measured([dbt_executable(), "build", *dbt_args], env)
    summary = next((line.split("Done.")[-1].strip() for line in spark.stdout.splitlines() if "Done. PASS=" in line), "")
    row = {"trades": trades,
           "duckdb": {"build_s": round(duck.wall_s, 1), "cpu_s": round(duck.cpu_s, 1), "peak_mb": round(duck.peak_mb),
                      "dbt": duck_summary},
           "spark_local": {"register_s": round(register.wall_s, 1), "build_s": round(spark.wall_s, 1),
                           "cpu_s": round(spark.cpu_s, 1), "peak_mb": round(spark.peak_mb), "dbt": summary}}
    print(f"{trades:,} on Spark local mode: dbt build {spark.wall_s:.1f} s (peak {spark.peak_mb:.0f} MB) — {summary}; "
          f"DuckDB {duck.wall_s:.1f} s (peak {duck.peak_mb:.0f} MB)", flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000000,40000000")
    ap.add_argument("--history-days", type=int, default=40)
    ap.add_argument("--shard-trades", type=int, default=1_000_000)
    ap.add_argument("--day-trades", type=int, default=1_000_000, help="fills in the daily partition on top")
    ap.add_argument("--spark-trades", type=int, default=0, help="also build this many trades on Spark local mode")
    ap.add_argument("--spark-driver-memory", default="4g")
    ap.add_argument("--history-dir", help="keep each size's loaded and built history here")
    ap.add_argument("--reuse-history", action="store_true",
                    help="start from the history kept in --history-dir (same sizes and settings) and measure "
                         "the daily run and scoring only")
    ap.add_argument("--phase", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase[0]](**json.loads(args.phase[1]))))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("POLYCOPY_BENCH_DIR")) as tmp:
        for size in (int(x) for x in args.sizes.split(",") if x):
            rows.append(run_size(size, args, tmp))
            for f in Path(tmp).glob("wh-*"):
                if f.is_file():
                    f.unlink()
        scaling = _scaling([r for r in rows if "build" in r])
        if scaling:
            rows.append(scaling)
        if args.spark_trades:
            rows.append(run_spark(args.spark_trades, args, tmp))
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
