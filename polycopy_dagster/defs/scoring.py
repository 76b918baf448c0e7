"""Scoring assets: wallet_scores and whale_watchlist (with the wallet-state history), and
their checks. The statistics live in ``polycopy.scoring``; this module reads the marts,
calls it and stores the results in the warehouse's ``scores`` schema."""

import json
from datetime import timedelta

import dagster as dg
import pandas as pd

from polycopy.scoring.wallet_scores import read_scoring_inputs, score_wallets
from polycopy.scoring.watchlist import (GATE_CONDITION_WORDS, WalletState, gate_report, update_watchlist,
                                        wallet_profiles)
from polycopy_dagster.defs.automation import REBUILD_BATCH, SCORES_FRESHNESS, after_upstream
from polycopy_dagster.defs.ingestion import WAREHOUSE_POOL
from polycopy_dagster.defs.metadata import EVALUATION_ASSET, RESEARCH_OWNERS, counts_table, rounded, table, tags
from polycopy_dagster.defs.resources import (LedgerResource, ScoringResource, WarehouseResource,
                                              WatchlistResource)

MARTS = [dg.AssetKey(["marts", m]) for m in ("wallet_metrics", "fct_wallet_daily_pnl", "fct_wallet_active_returns",
                                             "category_base_rates")]
HISTORY_COLUMNS = ["as_of_date", "wallet_address", "wqs", "wqs_lower", "win_rate_posterior", "mean_bet_usd",
                   "category_count", "return_volatility", "current_drawdown", "trade_count"]
# A flag raised on more than this share of the wallets with enough history to judge means
# a threshold or an upstream metric is off, not that the crowd turned bad overnight.
MAX_FLAG_RATE = 0.9


# The scoring assets follow the marts by themselves once automation is on.
SCORING = dict(group_name="scoring", kinds={"python", "duckdb"}, owners=RESEARCH_OWNERS, pool=WAREHOUSE_POOL,
               tags=tags("scoring"), automation_condition=after_upstream(batch=REBUILD_BATCH),
               freshness_policy=SCORES_FRESHNESS)
SCORE_TABLE_COLUMNS = ["rank", "wallet_address", "wqs", "wqs_lower", "wqs_upper", "pricing_edge", "trade_count",
                       "tier", "excluded", "reasons"]


def _reasons(row) -> str:
    """Why a wallet is excluded, in one cell: its red flags and the market-maker verdict."""
    flags = json.loads(row["red_flags"]) if row["red_flags"] else []
    return ", ".join((["MARKET_MAKER"] if row["is_market_maker"] else []) + sorted(flags))


def score_table(scores: pd.DataFrame) -> dg.TableMetadataValue:
    """Wallet scores as a table: WQS points to 1 decimal, the edge to 4, with the excluded
    column and its reasons."""
    shown = scores.assign(reasons=[_reasons(r) for r in scores.to_dict("records")])
    return table(shown[SCORE_TABLE_COLUMNS].to_dict("records"), SCORE_TABLE_COLUMNS, digits=1,
                 column_digits={"pricing_edge": 4},
                 descriptions={"rank": "rank by the WQS lower bound (excluded wallets included)",
                               "pricing_edge": "realized P&L per USD of cost (USD/USD)",
                               "reasons": "red flags, and MARKET_MAKER, that exclude the wallet"})


def gate_table(gate: dict) -> dg.TableMetadataValue:
    """How many wallets each watchlist gate condition removed, in the order applied."""
    return table([{"condition": c, "meaning": GATE_CONDITION_WORDS.get(c, c), "removed": n,
                   "failing": gate["failing"].get(c, 0)} for c, n in gate["removed_in_order"].items()],
                 descriptions={"removed": "wallets this condition removed of those the earlier ones let through",
                               "failing": "wallets failing this condition at all"})


@dg.asset(
    **SCORING,
    deps=MARTS,
    description="Every wallet's WQS (James-Stein shrunk; the scoring resource's preset, by default with the "
                "pricing-edge factor), its components, the edge and its standard error, bootstrap interval and "
                "rank by the lower bound, Bayesian win rate, the behaviour detectors' verdicts (market maker, "
                "red flags) with the measurements that decided them, and tier. Table scores.wallet_scores; one "
                "row per wallet and day in scores.wallet_score_history.",
)
def wallet_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  scoring: ScoringResource) -> dg.MaterializeResult:
    wh = warehouse.open()
    metrics, daily, active, base = read_scoring_inputs(wh, scoring.settings().return_window_days)
    scores = score_wallets(metrics, daily, active, base, scoring.settings())
    if scores.empty:
        wh.replace_table("scores.wallet_scores", scores)
        return dg.MaterializeResult(metadata={"wallets": 0})
    as_of = scores["as_of_date"].iloc[0]
    wh.replace_table("scores.wallet_scores", scores.assign(as_of_date=pd.Timestamp(as_of)))
    wh.replace_rows("scores.wallet_score_history", scores[HISTORY_COLUMNS], "as_of_date", as_of)
    flags = pd.Series([f for s in scores["red_flags"] for f in json.loads(s)]).value_counts()
    ranked = scores.sort_values("rank")
    return dg.MaterializeResult(metadata={
        "as_of_date": str(as_of),
        "wallets": len(scores),
        "excluded": int(scores["excluded"].sum()),
        "candidates": int((~scores["excluded"].astype(bool)).sum()),
        "market_makers": int(scores["is_market_maker"].sum()),
        "wqs_preset": scoring.settings().wqs_preset,
        "wqs_median": rounded(scores["wqs"].median(), 1),
        "top_candidates": score_table(ranked[~ranked["excluded"].astype(bool)].head(20)),
        "top_by_lower_bound": score_table(ranked.head(20)),
        "tiers": counts_table(scores["tier"].value_counts().to_dict(), "tier"),
        "red_flags": counts_table({k: int(v) for k, v in flags.items()}, "red_flag"),
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
        metadata={"wallets_judged": n, "excluded_share": rounded(excluded, 3),
                  "flag_rates": table([{"red_flag": k, "share_of_wallets": float(v)} for k, v in flags.items()],
                                      digits=3)})


@dg.asset(
    **{**SCORING, "automation_condition": after_upstream(
        batch=REBUILD_BATCH, not_a_trigger=dg.AssetSelection.assets(["marts", "fct_wallet_daily_pnl"]))},
    # The daily P&L is read with each day's scores (days since the last loss); new scores trigger it.
    deps=[wallet_scores, dg.AssetKey(["marts", "fct_wallet_daily_pnl"])],
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
    update = update_watchlist(as_of, scores, states, past, losing_days, rules, scoring.settings())
    new_states, events, threshold = update.states, update.events, update.threshold
    state_df = pd.DataFrame([vars(st) for st in new_states.values()],
                            columns=["wallet_address", "status", "since", "wqs_at_change", "cooldown_until"])
    state_df.insert(0, "as_of_date", as_of)
    event_df = pd.DataFrame([{"as_of_date": e.as_of_date, "wallet_address": e.wallet_address, "event": e.event,
                              "reason": e.reason, "event_values": json.dumps(e.values, sort_keys=True, default=str)}
                             for e in events], columns=["as_of_date", "wallet_address", "event", "reason",
                                                        "event_values"])
    watch = update.members
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
        "gate_threshold_wqs": rounded(gate["threshold_wqs"], 1),
        "gate_removed_in_order": gate_table(gate),
        "quarantined": sum(st.status == "quarantined" for st in new_states.values()),
        "in_cooldown": sum(st.status == "cooldown" for st in new_states.values()),
        "events": counts_table({k: int(v) for k, v in counts.items()}, "event"),
        "watchlist": table(watch.drop(columns=["as_of_date"]).to_dict("records"), digits=1,
                           column_digits={"tier_max_exposure": 3},
                           descriptions={"tier_max_exposure": "largest exposure to the wallet, fraction of NAV",
                                         "tier_max_daily_trades": "copies of the wallet allowed per day",
                                         "since": "day the wallet's current standing began"}),
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
    **{**SCORING, "kinds": {"python", "sqlite"}},
    deps=[whale_watchlist],
    description="The watchlist as the copy sensor sees it: published to the ledger (the execution location "
                "reads the ledger, never the warehouse), with every scored wallet's profile (WQS, adjusted win "
                "rate, tier limits) that sizing uses. A failed blocking check on whale_watchlist stops "
                "publication, so an excluded or quarantined wallet is never followed.",
)
def followed_watchlist(warehouse: WarehouseResource, ledger: LedgerResource) -> dg.MaterializeResult:
    wh = warehouse.open()
    watch = wh.query_df("select * from scores.whale_watchlist order by position")
    # With each wallet's latest watchlist state: a quarantined wallet's copied positions are exited.
    profiles = wh.query_df("select s.wallet_address, s.wqs, s.wqs_lower, s.win_rate_posterior, s.tier, "
                           "s.tier_max_exposure, s.tier_max_daily_trades, s.excluded, s.as_of_date, "
                           "coalesce(st.status, '') as state from scores.wallet_scores s "
                           "left join scores.wallet_states st on st.wallet_address = s.wallet_address "
                           "and st.as_of_date = (select max(as_of_date) from scores.wallet_states)")
    profiles = wallet_profiles(profiles.drop(columns=["state"]), dict(zip(profiles["wallet_address"],
                                                                         profiles["state"])), watch)
    as_of = str(pd.Timestamp(watch["as_of_date"].iloc[0]).date()) if len(watch) else ""
    book = ledger.open()
    book.publish_watchlist(watch.to_dict("records"), as_of)
    # Every scored wallet's profile: the decision chain sizes from it (and refuses excluded wallets
    # even when a follow list names them).
    profiles_as_of = str(pd.Timestamp(profiles["as_of_date"].iloc[0]).date()) if len(profiles) else ""
    book.publish_wallet_profiles(profiles.to_dict("records"), profiles_as_of)
    return dg.MaterializeResult(metadata={"wallets": len(watch), "as_of_date": as_of,
                                          "wallet_profiles": len(profiles),
                                          "followed": table(watch[["position", "wallet_address", "tier"]]
                                                            .to_dict("records"))})


@dg.asset_check(asset=whale_watchlist, pool=WAREHOUSE_POOL,
                description="The watchlist has at least one wallet; its metadata says how many wallets each gate "
                            "condition removed.")
def watchlist_not_empty(warehouse: WarehouseResource, watchlist_rules: WatchlistResource) -> dg.AssetCheckResult:
    wh = warehouse.open()
    n = int(wh.scalar("select count(*) from scores.whale_watchlist"))
    gate = gate_report(wh.query_df("select * from scores.wallet_scores"), watchlist_rules.settings())
    return dg.AssetCheckResult(passed=n > 0, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"wallets": n, "gate": gate["gate"],
                                         "gate_threshold_wqs": rounded(gate["threshold_wqs"], 1),
                                         "gate_removed_in_order": gate_table(gate)})




class ScoringEvaluationConfig(dg.Config):
    """Which simulated worlds to evaluate on (seed i uses archetype mix i, cycling), and their
    size. The default seeds are the held-out ones; settings are chosen on seeds 1–5."""

    seeds: list[int] = [11, 12, 13, 14, 15]
    n_wallets: int = 2_000
    n_markets: int = 800
    n_trades: int = 160_000
    replay_weeks: int = 0  # weeks of watchlist history (quarantine, rotation) replayed before the split


@dg.asset(
    **EVALUATION_ASSET,
    kinds={"python", "dbt"},
    # It measures the models that build these marts (on simulated worlds, not on this warehouse).
    deps=MARTS,
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
    results = evaluate(config.seeds, cfg=cfg, progress=lambda r: context.log.info(
        f"scored seed {r['seed']} ({r['mix']}): IC {r['ic_wqs']:.3f}"))
    mean = results[results["seed"] == "mean"].iloc[0]
    shown = results[[c for c, _ in REPORT_COLUMNS]]
    met = meets_targets(results)
    return dg.MaterializeResult(metadata={
        "evaluation": table(shown.astype({"seed": str}).to_dict("records"), digits=3),
        "mean_ic_wqs": rounded(mean["ic_wqs"], 3),
        "mean_ic_raw_pnl": rounded(mean["ic_pnl"], 3),
        "mean_precision_at_20": rounded(mean["precision_at_k"], 3),
        "mean_precision_at_20_raw_pnl": rounded(mean["precision_at_k_pnl"], 3),
        "gate_removed": table([{"seed": str(r.seed), **{GATE_CONDITION_WORDS.get(k, k): v
                                                        for k, v in r.gate["removed_in_order"].items()}}
                               for r in results[results["seed"] != "mean"].itertuples(index=False)]),
        "targets": table([{"target": k, "required": v, "mean": float(mean[k]), "met": bool(met[k])}
                          for k, v in TARGETS.items()], digits=3),
        "targets_every_seed": table([{"target": k, "met": bool(v)} for k, v in met.items() if k not in TARGETS]),
    })


score_wallets_job = dg.define_asset_job(
    "score_wallets", selection=dg.AssetSelection.assets(wallet_scores, whale_watchlist, followed_watchlist),
    description="Score every wallet from the marts, update the watchlist and publish it to the copy sensor.")
evaluate_scoring_job = dg.define_asset_job(
    "evaluate_scoring", selection=dg.AssetSelection.assets(scoring_evaluation),
    description="Measure the scoring out of sample on simulated worlds with known skill.")

defs = dg.Definitions(
    assets=[wallet_scores, whale_watchlist, followed_watchlist, scoring_evaluation],
    jobs=[score_wallets_job, evaluate_scoring_job],
    asset_checks=[wqs_within_bounds, red_flag_rates_sane, watchlist_has_no_excluded_wallets, watchlist_not_empty],
)
