"""The tuning half of the scoring evaluation: compare WQS presets, weights and gate
settings on the tuning seeds only (scoring_harness.TUNING_SEEDS), never on the held-out
ones that `polycopy evaluate-scoring` reports.

Each world is built once (its marts as of the split); every candidate is then scored on
the same inputs. Prints one line per candidate with the means that decide the choice.

    python benchmarks/scoring_tuning.py [--seeds 1,2,3,4,5] [--cache DIR]
"""

import argparse
import pickle
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from polycopy.evaluation.scoring_harness import (TUNING_SEEDS, EvaluationConfig, measure_world,  # noqa: E402
                                                 mix_for, prepare_world, with_mean)
from polycopy.scoring.settings import WQS_PRESETS, ScoringSettings, WatchlistSettings  # noqa: E402


def weights(edge: float, edge_full_at: float = 0.25) -> dict:
    """A custom preset: the edge takes ``edge`` points (full points at a per-dollar edge of
    ``edge_full_at``), the documents' five share the rest in their own proportions
    (30:25:20:15:10), each keeping its saturation point."""
    rest = (100.0 - edge) / 100.0
    doc = WQS_PRESETS["documents"]
    out = {k: v * rest for k, v in doc.items()}
    out.update(edge_max_points=edge, edge_points_per_unit=edge / edge_full_at if edge else 0.0)
    return out


# Candidates: the documents' five factors, and the edge at 25–80 points (full points at a
# per-dollar edge of 0.15–0.4), its days weighted equally or with a 30-day half-life.
CANDIDATES = {
    "documents": ScoringSettings(wqs_preset="documents"),
    **{f"edge{e}@{f} half-life {h}": ScoringSettings(wqs_preset="custom", edge_half_life_days=h, **weights(e, f))
       for e in (25, 45, 65, 80) for f in (0.15, 0.25, 0.4) for h in (0, 30)},
}
GATES = {
    "relative p95": WatchlistSettings(gate_percentile=0.95),
    "relative p90": WatchlistSettings(gate_percentile=0.90),
    "relative p80": WatchlistSettings(gate_percentile=0.80),
    "absolute 75": WatchlistSettings(gate="absolute"),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default=",".join(map(str, TUNING_SEEDS)))
    ap.add_argument("--cache", default="", help="directory to keep the built worlds in between runs")
    ap.add_argument("--gates", action="store_true", help="compare gates (with the default preset) instead")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    cfg = EvaluationConfig()
    prepared = []
    for i, seed in enumerate(seeds):
        path = Path(args.cache) / f"world-{seed}.pkl" if args.cache else None
        if path and path.exists():
            prepared.append(pickle.loads(path.read_bytes()))
            continue
        p = prepare_world(seed, mix_for(i), cfg)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(p))
        prepared.append(p)
    runs = GATES.items() if args.gates else CANDIDATES.items()
    lines = []
    for name, setting in runs:
        c = replace(cfg, watchlist=setting) if args.gates else replace(cfg, scoring=setting)
        table = with_mean(pd.DataFrame([measure_world(p, c) for p in prepared]))
        mean = table.iloc[-1]
        seeds_only = table.iloc[:-1]
        lines.append({"candidate": name, "ic_wqs": mean["ic_wqs"], "ic_pnl": mean["ic_pnl"],
                      "min_margin": seeds_only["ic_margin"].min(), "prec@20": mean["precision_at_k"],
                      "min_watch": seeds_only["watchlist_size"].min(), "fp_max": seeds_only["fp_max"].max()})
        print(pd.DataFrame(lines[-1:]).to_string(index=False, header=len(lines) == 1,
                                                 float_format=lambda v: f"{v:.3f}"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
