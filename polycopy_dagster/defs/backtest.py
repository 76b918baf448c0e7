"""The walk-forward backtest as assets: ``backtest_results`` per scenario (a simulated world
by seed), and ``backtest_report``, its self-contained HTML page. A backfill over the
partitions runs the grid; the key figures are numeric metadata, so the UI plots them
across materializations."""


import math
from pathlib import Path

import dagster as dg

from polycopy_dagster.defs.metadata import EVALUATION_ASSET, rounded, table
from polycopy_dagster.defs.resources import data_dir, env_trading_rules

# Scenarios: the scoring evaluation's tuning seeds (1–5) and held-out seeds (11–15), each
# with the archetype mix the evaluation pairs with it.
SCENARIOS = [f"seed-{n}" for n in (1, 2, 3, 4, 5, 11, 12, 13, 14, 15)]
scenario_partitions = dg.StaticPartitionsDefinition(SCENARIOS)
# Figures recorded per strategy as numeric metadata.
KEY_FIGURES = ("total_return", "sharpe", "max_drawdown", "dsr", "kupiec_p", "trades", "hit_rate")


class BacktestConfig(dg.Config):
    """The world's size and the walk-forward's clock (days), the baselines' fixed copy size
    (USD), and which strategies of the standard grid to run (empty: all)."""

    n_wallets: int = 2_000
    n_markets: int = 800
    n_trades: int = 160_000
    history_days: int = 100
    warmup_days: int = 42
    step_days: int = 7
    days: float = 0.0  # 0: trade to the end of the history
    copy_delay_s: float = -1.0  # < 0: the measured copy latency
    baseline_trade_usd: float = 100.0
    strategies: list[str] = []


def scenario_world(partition: str, config: BacktestConfig):
    from polycopy.backtest.scenario import WorldSpec

    return WorldSpec.for_seed(int(partition.removeprefix("seed-")), n_wallets=config.n_wallets,
                              n_markets=config.n_markets, n_trades=config.n_trades,
                              history_days=config.history_days)


def backtest_dir(partition: str) -> Path:
    return data_dir() / "backtests" / partition


@dg.asset(
    **EVALUATION_ASSET,
    kinds={"python", "dbt"},
    partitions_def=scenario_partitions,
    description="Walk-forward backtest of one scenario: the strategy (production rules and scoring), its "
                "five-factor WQS preset, copy-everything of the same watchlist and the naive leaderboard top 20, on "
                "the same world, books and fees. Weekly as-of scoring, every followed fill through the production "
                "copy chain after the copy delay, exits and settlement. Key figures per strategy as metadata.",
)
def backtest_results(context: dg.AssetExecutionContext, config: BacktestConfig):
    import tempfile

    from polycopy.backtest.scenario import run_backtest, standard_strategies
    from polycopy.backtest.walk_forward import MEASURED_COPY_DELAY_S, BacktestSettings

    spec = scenario_world(context.partition_key, config)
    settings = BacktestSettings(warmup_days=config.warmup_days, step_days=config.step_days,
                                copy_delay_s=MEASURED_COPY_DELAY_S if config.copy_delay_s < 0 else config.copy_delay_s)
    strategies = standard_strategies(env_trading_rules(), config.baseline_trade_usd, tuple(config.strategies) or None)
    with tempfile.TemporaryDirectory(prefix="polycopy-backtest-") as tmp:
        out = run_backtest(spec.build(), strategies, tmp, settings, days=config.days or None,
                           description=spec.describe(), progress=context.log.info, render=False)
    metadata: dict = {"scenario": spec.describe(), "summary": dg.MetadataValue.md(f"```\n{out.summary()}\n```"),
                      "strategies": table([{"strategy": r.name, **{k: r.metrics.get(k) for k in KEY_FIGURES}}
                                           for r in out.results], digits=4),
                      "seconds": rounded(out.seconds["total_s"], 1)}
    for r in out.results:
        for k in KEY_FIGURES:
            v = r.metrics.get(k)
            if v is not None and math.isfinite(float(v)):
                metadata[f"{r.name}/{k}"] = float(v)
    share = out.results[0].metrics.get("selection_share")
    if share is not None and math.isfinite(share):
        metadata["selection_share"] = float(share)
    # The outcome without its ledgers' paths (they were in the run's scratch directory).
    out.runs = []
    return dg.Output(out, metadata=metadata)


@dg.asset(
    **EVALUATION_ASSET,
    kinds={"python", "html"},
    partitions_def=scenario_partitions,
    description="The scenario's backtest as one self-contained HTML page (plots as inline SVG, nothing fetched): "
                "equity curves against each baseline, under water, monthly returns, contribution by wallet and "
                "category, the bootstrap Sharpe with the DSR, VaR exceptions and the wallets' CUSUM paths.",
)
def backtest_report(context: dg.AssetExecutionContext, backtest_results) -> dg.MaterializeResult:
    from polycopy.backtest.report import render_report
    from polycopy.backtest.results import AnalysisSettings

    out = backtest_results
    html = render_report(out.results, out.attribution, out.benchmark,
                         f"polycopy backtest — {context.partition_key}", "", AnalysisSettings().cusum_h)
    path = backtest_dir(context.partition_key) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html)
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.path(str(path)),
                                          "open": dg.MetadataValue.url(path.as_uri()),
                                          "bytes": len(html.encode())})


backtest_job = dg.define_asset_job(
    "backtest", selection=dg.AssetSelection.assets(backtest_results, backtest_report),
    partitions_def=scenario_partitions,
    description="Walk-forward backtest of a scenario and its report; backfill the partitions to run the grid.")

defs = dg.Definitions(assets=[backtest_results, backtest_report], jobs=[backtest_job])
