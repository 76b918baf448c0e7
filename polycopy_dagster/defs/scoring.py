"""Scoring assets: wallet_scores and whale_watchlist (with the wallet-state history), and
their checks. The statistics live in ``polycopy.scoring``; this module reads the marts,
calls it and stores the results in the warehouse's ``scores`` schema."""

import json
from datetime import timedelta

import dagster as dg
import pandas as pd

from polycopy.scoring.wallet_scores import read_scoring_inputs, score_wallets
from polycopy.scoring.watchlist import (WATCHING, WalletState, behaviour_alerts, days_since_last_loss, gate_report,
                                        gate_threshold, member_tiers, update_states, watchlist_members)
from polycopy_dagster.defs.ingestion import WAREHOUSE_POOL
from polycopy_dagster.defs.resources import (LedgerResource, ScoringResource, WarehouseResource,
                                              WatchlistResource)

MARTS = [dg.AssetKey(["marts", m]) for m in ("wallet_metrics", "fct_wallet_daily_pnl", "fct_wallet_active_returns",
                                             "category_base_rates")]
HISTORY_COLUMNS = ["as_of_date", "wallet_address", "wqs", "wqs_lower", "win_rate_posterior", "mean_bet_usd",
                   "category_count", "return_volatility", "current_drawdown", "trade_count"]
# A flag raised on more than this share of the wallets with enough history to judge means
# a threshold or an upstream metric is off, not that the crowd turned bad overnight.
MAX_FLAG_RATE = 0.9


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


@dg.asset(
    group_name="scoring",
    kinds={"python", "duckdb"},
    deps=MARTS,
    pool=WAREHOUSE_POOL,
    description="Every wallet's WQS (James-Stein shrunk; the scoring resource's preset, by default with the "
                "pricing-edge factor), its components, the edge and its standard error, bootstrap interval and "
                "rank by the lower bound, Bayesian win rate, the behaviour detectors' verdicts (market maker, "
                "red flags) with the measurements that decided them, and tier. Table scores.wallet_scores; one "
                "row per wallet and day in scores.wallet_score_history.",
)
def wallet_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  scoring: ScoringResource) -> dg.MaterializeResult:
    wh = warehouse.open()
    metrics, daily, active, base = read_scoring_inputs(wh)
    scores = score_wallets(metrics, daily, active, base, scoring.settings())
    if scores.empty:
        wh.replace_table("scores.wallet_scores", scores)
        return dg.MaterializeResult(metadata={"wallets": 0})
    as_of = scores["as_of_date"].iloc[0]
    wh.replace_table("scores.wallet_scores", scores.assign(as_of_date=pd.Timestamp(as_of)))
    wh.replace_rows("scores.wallet_score_history", scores[HISTORY_COLUMNS], "as_of_date", as_of)
    flags = pd.Series([f for s in scores["red_flags"] for f in json.loads(s)]).value_counts()
    top = scores.head(10)[["rank", "wallet_address", "wqs", "wqs_lower", "wqs_upper", "tier", "red_flag_count"]]
    return dg.MaterializeResult(metadata={
        "as_of_date": str(as_of),
        "wallets": len(scores),
        "excluded": int(scores["excluded"].sum()),
        "market_makers": int(scores["is_market_maker"].sum()),
        "wqs_preset": scoring.settings().wqs_preset,
        "tiers": dg.MetadataValue.json(scores["tier"].value_counts().to_dict()),
        "red_flags": dg.MetadataValue.json({k: int(v) for k, v in flags.items()}),
        "wqs_median": float(scores["wqs"].median()),
        "top_by_lower_bound": dg.MetadataValue.md(_markdown(top)),
    })


@dg.asset_check(asset=wallet_scores, pool=WAREHOUSE_POOL, blocking=True,
                description="WQS and its interval lie within [0, 100], with lower ≤ WQS ≤ upper.")
def wqs_within_bounds(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    bad = warehouse.open().scalar(
        "select count(*) from scores.wallet_scores where wqs < 0 or wqs > 100 or wqs is null "
        "or wqs_lower < 0 or wqs_upper > 100 or wqs_lower > wqs + 1e-9 or wqs_upper < wqs - 1e-9")
    return dg.AssetCheckResult(passed=int(bad) == 0, metadata={"rows_out_of_bounds": int(bad)})


@dg.asset_check(asset=wallet_scores, pool=WAREHOUSE_POOL,
                description=f"No red flag is raised on more than {MAX_FLAG_RATE:.0%} of the wallets with at "
                            "least 20 trades, and not every such wallet is excluded.")
def red_flag_rates_sane(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    scores = warehouse.open().query_df(
        "select red_flags, excluded from scores.wallet_scores where trade_count >= 20")
    n = len(scores)
    if n == 0:
        return dg.AssetCheckResult(passed=True, metadata={"wallets_judged": 0})
    flags = pd.Series([f for s in scores["red_flags"] for f in json.loads(s)]).value_counts() / n
    excluded = float(scores["excluded"].astype(bool).mean())
    worst = float(flags.max()) if len(flags) else 0.0
    return dg.AssetCheckResult(
        passed=worst <= MAX_FLAG_RATE and excluded < 1.0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"wallets_judged": n, "excluded_share": excluded,
                  "flag_rates": dg.MetadataValue.json({k: round(float(v), 4) for k, v in flags.items()})})


@dg.asset(
    group_name="scoring",
    kinds={"python", "duckdb"},
    deps=[wallet_scores, dg.AssetKey(["marts", "fct_wallet_daily_pnl"])],
    pool=WAREHOUSE_POOL,
    description="The wallets worth copying now (stage-1 gate — relative to the scored population by default — "
                "quarantine, rotation with cooldown), best WQS "
                "lower bound first, with their tier limits. Every change of a wallet's standing and every "
                "behaviour alert is appended to scores.wallet_state_events with its reason and values.",
)
def whale_watchlist(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    watchlist_rules: WatchlistResource, scoring: ScoringResource) -> dg.MaterializeResult:
    rules = watchlist_rules.settings()
    wh = warehouse.open()
    scores = wh.query_df("select * from scores.wallet_scores")
    if scores.empty:
        raise dg.Failure("scores.wallet_scores is empty: materialize wallet_scores first")
    as_of = pd.Timestamp(scores["as_of_date"].iloc[0]).date()
    week_ago = as_of - timedelta(days=rules.quarantine_wqs_drop_days)
    past = wh.query_df("select * from scores.wallet_score_history where as_of_date = ?", [week_ago])
    states = {r.wallet_address: WalletState(r.wallet_address, r.status, pd.Timestamp(r.since).date(),
                                            float(r.wqs_at_change),
                                            None if pd.isna(r.cooldown_until) else pd.Timestamp(r.cooldown_until).date())
              for r in wh.query_df("select * from scores.wallet_states where as_of_date = (select max(as_of_date) "
                                   "from scores.wallet_states where as_of_date < ?)", [as_of]).itertuples(index=False)}
    losing_days = wh.query_df("select wallet_address, activity_date, daily_return from marts.fct_wallet_daily_pnl "
                              "where daily_return < 0 and activity_date <= ?", [as_of])
    days_since_loss = days_since_last_loss(losing_days, as_of, scores["wallet_address"])
    new_states, events = update_states(as_of, scores, states, dict(zip(past.wallet_address, past.wqs)),
                                       days_since_loss, rules)
    watched = {w for w, st in new_states.items() if st.status == WATCHING}
    if len(past):
        events += behaviour_alerts(as_of, scores, past, watched, rules)

    state_df = pd.DataFrame([vars(st) for st in new_states.values()],
                            columns=["wallet_address", "status", "since", "wqs_at_change", "cooldown_until"])
    state_df.insert(0, "as_of_date", as_of)
    event_df = pd.DataFrame([{"as_of_date": e.as_of_date, "wallet_address": e.wallet_address, "event": e.event,
                              "reason": e.reason, "event_values": json.dumps(e.values, sort_keys=True, default=str)}
                             for e in events], columns=["as_of_date", "wallet_address", "event", "reason",
                                                        "event_values"])
    watch = watchlist_members(scores, new_states).merge(state_df[["wallet_address", "since"]], on="wallet_address")
    threshold = gate_threshold(scores, rules)
    tiers = member_tiers(watch["wqs"], threshold, rules, scoring.settings())
    watch = watch.assign(tier=[t.name for t in tiers], tier_max_exposure=[t.max_exposure for t in tiers],
                         tier_max_daily_trades=[t.max_daily_trades for t in tiers])
    watch = watch[["wallet_address", "wqs", "wqs_lower", "wqs_upper", "tier", "tier_max_exposure",
                   "tier_max_daily_trades", "since"]].reset_index(drop=True)
    watch.insert(0, "position", range(1, len(watch) + 1))
    watch["as_of_date"] = pd.Timestamp(as_of)
    watch["since"] = pd.to_datetime(watch["since"])
    with_dates = state_df.assign(since=pd.to_datetime(state_df["since"]),
                                 cooldown_until=pd.to_datetime(state_df["cooldown_until"]))
    wh.replace_rows("scores.wallet_state_events", event_df, "as_of_date", as_of)
    wh.replace_rows("scores.wallet_states", with_dates, "as_of_date", as_of)
    wh.replace_table("scores.whale_watchlist", watch)
    counts = event_df["event"].value_counts().to_dict()
    gate = gate_report(scores, rules, threshold)
    if len(watch) < rules.max_wallets:
        context.log.info(f"watchlist has {len(watch)} of {rules.max_wallets} places filled; the {rules.gate} gate "
                         f"(threshold WQS {gate['threshold_wqs']}) removed {gate['removed_in_order']}")
    return dg.MaterializeResult(metadata={
        "as_of_date": str(as_of),
        "watchlist_size": len(watch),
        "eligible_today": gate["eligible"],
        "gate": rules.gate,
        "gate_threshold_wqs": gate["threshold_wqs"],
        "gate_removed_in_order": dg.MetadataValue.json(gate["removed_in_order"]),
        "quarantined": sum(st.status == "quarantined" for st in new_states.values()),
        "in_cooldown": sum(st.status == "cooldown" for st in new_states.values()),
        "events": dg.MetadataValue.json({k: int(v) for k, v in counts.items()}),
        "watchlist": dg.MetadataValue.md(_markdown(watch.drop(columns=["as_of_date", "since"]))),
    })


@dg.asset_check(asset=whale_watchlist, pool=WAREHOUSE_POOL, blocking=True,
                description="No excluded (red-flagged or market-maker) or quarantined wallet is on the watchlist.")
def watchlist_has_no_excluded_wallets(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.open()
    excluded = wh.scalar("select count(*) from scores.whale_watchlist w join scores.wallet_scores s "
                         "on s.wallet_address = w.wallet_address where s.excluded")
    quarantined = wh.scalar("select count(*) from scores.whale_watchlist w join scores.wallet_states s "
                            "on s.wallet_address = w.wallet_address and s.as_of_date = w.as_of_date "
                            "where s.status <> 'watching'")
    return dg.AssetCheckResult(passed=int(excluded) + int(quarantined) == 0,
                               metadata={"excluded_on_watchlist": int(excluded),
                                         "quarantined_on_watchlist": int(quarantined)})


@dg.asset(
    group_name="scoring",
    kinds={"python", "sqlite"},
    deps=[whale_watchlist],
    pool=WAREHOUSE_POOL,
    description="The watchlist as the copy sensor sees it: published to the ledger (the execution location "
                "reads the ledger, never the warehouse), with every scored wallet's profile (WQS, adjusted win "
                "rate, tier limits) that sizing uses. A failed blocking check on whale_watchlist stops "
                "publication, so an excluded or quarantined wallet is never followed.",
)
def followed_watchlist(warehouse: WarehouseResource, ledger: LedgerResource) -> dg.MaterializeResult:
    wh = warehouse.open()
    watch = wh.query_df("select * from scores.whale_watchlist order by position")
    profiles = wh.query_df("select wallet_address, wqs, wqs_lower, win_rate_posterior, tier, tier_max_exposure, "
                           "tier_max_daily_trades, excluded, as_of_date from scores.wallet_scores")
    # A watched wallet's limits are the watchlist's (its tier relative to the gate).
    limits = ["tier", "tier_max_exposure", "tier_max_daily_trades"]
    on_list = watch.set_index("wallet_address")[limits]
    watched = profiles["wallet_address"].isin(on_list.index)
    if watched.any():
        for c in limits:
            profiles.loc[watched, c] = on_list.loc[profiles.loc[watched, "wallet_address"], c].to_numpy()
    as_of = str(pd.Timestamp(watch["as_of_date"].iloc[0]).date()) if len(watch) else ""
    book = ledger.open()
    book.publish_watchlist(watch.to_dict("records"), as_of)
    # Every scored wallet's profile: the decision chain sizes from it (and refuses excluded wallets
    # even when a follow list names them).
    profiles_as_of = str(pd.Timestamp(profiles["as_of_date"].iloc[0]).date()) if len(profiles) else ""
    book.publish_wallet_profiles(profiles.to_dict("records"), profiles_as_of)
    return dg.MaterializeResult(metadata={"wallets": len(watch), "as_of_date": as_of,
                                          "wallet_profiles": len(profiles),
                                          "followed": dg.MetadataValue.json(watch["wallet_address"].tolist())})


@dg.asset_check(asset=whale_watchlist, pool=WAREHOUSE_POOL,
                description="The watchlist has at least one wallet; its metadata says how many wallets each gate "
                            "condition removed.")
def watchlist_not_empty(warehouse: WarehouseResource, watchlist_rules: WatchlistResource) -> dg.AssetCheckResult:
    wh = warehouse.open()
    n = int(wh.scalar("select count(*) from scores.whale_watchlist"))
    gate = gate_report(wh.query_df("select * from scores.wallet_scores"), watchlist_rules.settings())
    return dg.AssetCheckResult(passed=n > 0, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"wallets": n, "gate": gate["gate"], "gate_threshold_wqs": gate["threshold_wqs"],
                                         "gate_removed_in_order": dg.MetadataValue.json(gate["removed_in_order"])})




class ScoringEvaluationConfig(dg.Config):
    """Which simulated worlds to evaluate on (seed i uses archetype mix i, cycling), and their
    size. The default seeds are the held-out ones; settings are chosen on seeds 1–5."""

    seeds: list[int] = [11, 12, 13, 14, 15]
    n_wallets: int = 2_000
    n_markets: int = 800
    n_trades: int = 160_000
    replay_weeks: int = 0  # weeks of watchlist history (quarantine, rotation) replayed before the split


@dg.asset(
    group_name="evaluation",
    kinds={"python", "dbt"},
    description="Out-of-sample evaluation of the scoring on simulated worlds with known skill: each world is "
                "scored on its first 100 days and measured on the next 30 — information coefficient of WQS vs "
                "next-period copy return beside the raw-P&L leaderboard's, precision of the watchlist against the "
                "truly skilled, its size, each bad archetype's recall by its own detector and the detectors' "
                "false-positive rate on skilled wallets. Uses the current scoring and watchlist settings.",
)
def scoring_evaluation(context: dg.AssetExecutionContext, config: ScoringEvaluationConfig, scoring: ScoringResource,
                       watchlist_rules: WatchlistResource) -> dg.MaterializeResult:
    from polycopy.evaluation.scoring_harness import (REPORT_COLUMNS, TARGETS, EvaluationConfig, evaluate,
                                                     meets_targets)

    cfg = EvaluationConfig(n_wallets=config.n_wallets, n_markets=config.n_markets, n_trades=config.n_trades,
                           replay_weeks=config.replay_weeks, scoring=scoring.settings(),
                           watchlist=watchlist_rules.settings())
    table = evaluate(config.seeds, cfg=cfg,
                     progress=lambda r: context.log.info(f"scored seed {r['seed']} ({r['mix']}): IC {r['ic_wqs']:.3f}"))
    mean = table[table["seed"] == "mean"].iloc[0]
    shown = table[[c for c, _ in REPORT_COLUMNS]]
    met = meets_targets(table)
    return dg.MaterializeResult(metadata={
        "evaluation": dg.MetadataValue.md(_markdown(shown.astype({"seed": str}))),
        "mean_ic_wqs": float(mean["ic_wqs"]),
        "mean_ic_raw_pnl": float(mean["ic_pnl"]),
        "mean_precision_at_20": float(mean["precision_at_k"]),
        "mean_precision_at_20_raw_pnl": float(mean["precision_at_k_pnl"]),
        "gate_removed": dg.MetadataValue.json({str(r.seed): r.gate["removed_in_order"]
                                               for r in table[table["seed"] != "mean"].itertuples(index=False)}),
        "targets": dg.MetadataValue.json({k: {"target": v, "mean": float(mean[k]), "met": met[k]}
                                          for k, v in TARGETS.items()}),
        "targets_every_seed": dg.MetadataValue.json({k: v for k, v in met.items() if k not in TARGETS}),
    })


defs = dg.Definitions(
    assets=[wallet_scores, whale_watchlist, followed_watchlist, scoring_evaluation],
    asset_checks=[wqs_within_bounds, red_flag_rates_sane, watchlist_has_no_excluded_wallets, watchlist_not_empty],
)
