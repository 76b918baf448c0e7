"""Benchmark: one tick of the automation sensor, as the daemon's code location evaluates it.

Every asset's automation condition over the polycopy code location's graph, as a deployment
sees it: every asset and every day exists, then today's ingest lands (the day's dbt models
are requested), then they land (the tables and the scoring are requested), then nothing
changes (quiet ticks). Reports each of those ticks in seconds (each evaluated from the
previous tick's cursor, as the sensor does) and what each requested.

    python benchmarks/automation_tick_benchmark.py [--ticks 5]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="polycopy-tick-"))
    warnings.filterwarnings("ignore")
    import dagster as dg

    from polycopy_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    instance = dg.DagsterInstance.ephemeral()
    now = datetime.now(timezone.utc)
    today = now.date().isoformat()
    data = dg.AssetSelection.all() - dg.AssetSelection.groups("evaluation")
    keys = [k for k in data.resolve(graph) if graph.has(k) and graph.get(k).is_materializable]
    for key in keys:  # a deployment whose history was built: every asset and every day exists
        pdef = graph.get(key).partitions_def
        for p in (pdef.get_partition_keys(current_time=now) if pdef else [None]):
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=p))

    cursor = None
    ticks = []

    def tick(name: str) -> dict:
        nonlocal cursor
        t = time.perf_counter()
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        seconds = time.perf_counter() - t
        cursor = result.cursor
        requested = {k: result.get_requested_partitions(k) for k in keys if result.get_num_requested(k)}
        ticks.append({"tick": name, "s": round(seconds, 2), "assets_requested": len(requested)})
        return requested

    tick("history built")
    for key in ("raw_trades", "market_resolutions", "raw_wallet_activity"):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=today))
    for key, parts in tick("today's ingest landed").items():
        for p in parts:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=p))
    tick("today's dbt models landed")
    for n in range(args.ticks):
        tick(f"quiet {n + 1}")
    quiet = [t["s"] for t in ticks[3:]]
    print(json.dumps({"assets_with_a_condition": len([k for k in keys if graph.get(k).automation_condition]),
                      "ticks": ticks, "quiet_tick_median_s": round(statistics.median(quiet), 2) if quiet else None},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
