"""Benchmark: one tick of the automation sensor, as the daemon's code location evaluates it.

Every asset's automation condition over the polycopy code location's graph, on an instance
where nothing has run (the conditions still walk the whole graph: triggers, settled
upstream, ancestors still to run). Reports the first evaluation and the median of the next
ones (each from the previous cursor), in seconds, and how many assets were evaluated.

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

    instance = dg.DagsterInstance.ephemeral()
    t = time.perf_counter()
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    first = time.perf_counter() - t
    times = []
    for _ in range(args.ticks):
        t = time.perf_counter()
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        times.append(time.perf_counter() - t)
    assets = len([k for k in defs.resolve_asset_graph().get_all_asset_keys()
                  if defs.resolve_asset_graph().get(k).automation_condition is not None])
    print(json.dumps({"assets_with_a_condition": assets, "first_tick_s": round(first, 2),
                      "tick_median_s": round(statistics.median(times), 2), "tick_max_s": round(max(times), 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
