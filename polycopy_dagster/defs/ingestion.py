"""Ingestion assets: raw_markets, raw_trades (daily), market_resolutions (daily),
their asset checks, the history backfill job and the refresh schedules."""


from datetime import date, timedelta

import dagster as dg

from polycopy.polymarket.categories import UNKNOWN as UNKNOWN_CATEGORY
from polycopy.ingest import (ACTIVITY_SOURCE, MARKETS_SOURCE, NON_TRADE_TYPES, RESOLUTIONS_SOURCE, TRADES_SOURCE, fetch_markets,
                             fetch_trades_window, fetch_wallet_activity, resolutions_between, wallets_that_matter)
from polycopy_dagster.defs.automation import (INGEST_FRESHNESS, after_upstream, recent_partitions_after_upstream,
                                              schedule_status)
from polycopy_dagster.defs.metadata import DATA_OWNERS, counts_table, rounded, table, tags
from polycopy_dagster.defs.partitions import daily_partitions
from polycopy_dagster.defs.resources import (LedgerResource, PolymarketResource, WalletActivityResource,
                                             WarehouseResource)

# DuckDB allows one process at a time to hold the file for writing: every asset and check
# that opens the warehouse shares this pool (limit 1 in the embedded instance).
WAREHOUSE_POOL = "warehouse"
NETWORK_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)

# Daily partitions of what happened on the venue, derived from the market snapshot; a
# backfill over a range of days runs as one run.
INGESTION = dict(group_name="ingestion", kinds={"python", "polymarket"}, owners=DATA_OWNERS,
                 tags=tags("ingestion", layer="raw"))
DAILY_FROM_MARKETS = dict(
    **INGESTION,
    deps=["raw_markets"],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)


def _window(context: dg.AssetExecutionContext) -> tuple[int, int, list[date]]:
    tw = context.partition_time_window
    start, end = int(tw.start.timestamp()), int(tw.end.timestamp())
    days = []
    d = tw.start.date()
    while d < tw.end.date():
        days.append(d)
        d += timedelta(days=1)
    return start, end, days


def _per_partition(context: dg.AssetExecutionContext, wh, table_name: str, days: list[date], name: str,
                   count: str = "count(*)") -> dict:
    """Counts of ``table_name`` per daily partition of this run, attached to each partition's
    materialization (a range run otherwise shows the range's total on every day)."""
    by_day = wh.query_df(f"select partition_day, {count} as n from {table_name} "
                         "where partition_day >= ? and partition_day <= ? group by partition_day",
                         [days[0], days[-1]])
    counts = {str(d)[:10]: int(n) for d, n in zip(by_day["partition_day"], by_day["n"])}
    for d in days:
        context.add_asset_metadata({name: counts.get(d.isoformat(), 0)}, partition_key=d.isoformat())
    return counts


@dg.multi_asset(
    specs=[
        dg.AssetSpec("raw_markets", **INGESTION,
                     description="Every Gamma market (open and closed), upserted by condition id."),
        dg.AssetSpec("raw_market_tokens", **INGESTION,
                     description="Outcome tokens of every market, in outcome order (clobTokenIds or V2 "
                                 "positionIds)."),
        dg.AssetSpec("raw_market_tags", **INGESTION,
                     description="Tags of every market as Gamma serves them: the market's own "
                                 "(include_tag=true), then its event's (/events/keyset)."),
    ],
    pool=WAREHOUSE_POOL,
    retry_policy=NETWORK_RETRY,
)
def raw_markets(context: dg.AssetExecutionContext, polymarket: PolymarketResource, warehouse: WarehouseResource):
    with polymarket.clients() as clients:
        markets, rejects, stats = fetch_markets(clients)
        http_stats = dict(clients.https[1].stats)
    counts = warehouse.open().upsert_markets(markets, rejects, MARKETS_SOURCE)
    context.log.info(f"markets: {counts}")
    yield dg.MaterializeResult(asset_key="raw_markets", metadata={
        "markets": counts["markets"],
        "rejects": counts["rejects"],
        "tags": counts["tags"],
        "markets_unknown_category": stats["markets_unknown_category"],
        "events_read": stats["events_seen"],
        "resolved": sum(1 for m in markets if m.closed and m.uma_resolution_status == "resolved"),
        "protocol_v2_markets": sum(1 for m in markets if m.protocol_version == "v2"),
        "http_requests": http_stats.get("requests", 0),
        "http_retries": http_stats.get("retries", 0),
    })
    yield dg.MaterializeResult(asset_key="raw_market_tokens", metadata={"tokens": counts["tokens"]})
    yield dg.MaterializeResult(asset_key="raw_market_tags", metadata={"tags": counts["tags"]})


@dg.asset(
    **DAILY_FROM_MARKETS,
    retry_policy=NETWORK_RETRY,
    freshness_policy=INGEST_FRESHNESS,
    description=("Fills of every market traded that day (UTC), from the Data API. Re-materializing a "
                 "partition replaces it: no row is ever duplicated. Malformed records go to the rejects "
                 "table with their reason."),
)
def raw_trades(context: dg.AssetExecutionContext, polymarket: PolymarketResource,
               warehouse: WarehouseResource) -> dg.MaterializeResult:
    start, end, days = _window(context)
    wh = warehouse.open()
    condition_ids = wh.markets_trading_between(start, end)
    # Trades stream into the partition range's replacement; it commits as a whole.
    with wh.trade_partition_writer(days, TRADES_SOURCE) as writer, polymarket.clients() as clients:
        ingest = fetch_trades_window(clients, condition_ids, start, end, sink=writer.add)
        http_stats = dict(clients.https[0].stats)
    counts = writer.counts
    seen = ingest.stats["records_seen"]
    context.log.info(f"{days[0]}..{days[-1]}: {counts} from {len(condition_ids)} markets")
    if not condition_ids:
        context.log.warning("raw.markets lists no market trading in this window: materialize raw_markets first "
                            "(0 trades were read)")
    _per_partition(context, wh, "raw.trades", days, "trades")
    rejects = ingest.stats["rejects"]
    return dg.MaterializeResult(metadata={
        "trades_in_run": counts["trades"],
        "days_in_run": len(days),
        "rejects": rejects,
        "reject_rate": rounded(rejects / (counts["trades"] + rejects), 6) if counts["trades"] + rejects else 0.0,
        "markets_walked": len(condition_ids),
        "records_seen": seen,
        "duplicates_collapsed": ingest.stats["duplicates_collapsed"],
        "keyset_records": ingest.stats["records_v2"],
        "http_requests": http_stats.get("requests", 0),
        "http_retries": http_stats.get("retries", 0),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
    })


@dg.asset(
    **DAILY_FROM_MARKETS,
    # A market UMA-resolved days after it closed appears in a later snapshot: re-derive the
    # recent days whenever the snapshot refreshes.
    automation_condition=recent_partitions_after_upstream(),
    description=("Final outcome of every market resolved that day (UTC, by closedTime): the payout of each "
                 "token — 1 winner, 0 loser, 0.5 void — keyed by token id. Early-resolved and "
                 "Protocol-V2 markets included."),
)
def market_resolutions(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    start, end, days = _window(context)
    wh = warehouse.open()
    resolutions, rejects = resolutions_between(wh.markets(), start, end)
    counts = wh.replace_resolution_partitions(days, resolutions, rejects, RESOLUTIONS_SOURCE)
    markets = {r.condition_id for r in resolutions}
    _per_partition(context, wh, "raw.market_resolutions", days, "markets_resolved", "count(distinct condition_id)")
    return dg.MaterializeResult(metadata={
        "markets_resolved_in_run": len(markets),
        "void_markets": len({r.condition_id for r in resolutions if r.is_void}),
        "early_markets": len({r.condition_id for r in resolutions if r.early}),
        "rejects": counts["rejects"],
    })


@dg.asset(
    **INGESTION,
    deps=[raw_trades],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    retry_policy=NETWORK_RETRY,
    description=("Activity of the wallets that matter that day (UTC), from /v2/activity: SPLIT, MERGE, REDEEM, "
                 "CONVERSION, REWARD and MAKER_REBATE of every followed wallet and scoring candidate, and the "
                 "followed wallets' trades in any market. Splits and merges move positions; redeems show what "
                 "was paid out. "
                 "Re-materializing a partition replaces it; malformed rows go to the rejects table. A wallet "
                 "that becomes a candidate later needs a backfill of the days before it did."),
)
def raw_wallet_activity(context: dg.AssetExecutionContext, polymarket: PolymarketResource,
                        warehouse: WarehouseResource, ledger: LedgerResource,
                        wallet_activity: WalletActivityResource) -> dg.MaterializeResult:
    start, end, days = _window(context)
    wh = warehouse.open()
    followed = wallet_activity.followed() + [r["wallet_address"] for r in ledger.open().watchlist()]
    groups = wallets_that_matter(wh, followed, wallet_activity.max_candidates, wallet_activity.min_trades)
    followed = groups["followed"]
    candidates = sorted(set(groups["candidates"]) - set(followed))
    wallets = followed + candidates
    with wh.activity_partition_writer(days, ACTIVITY_SOURCE) as writer, polymarket.clients() as clients:
        # Followed wallets: everything, their trades in markets the market walk missed included.
        ingest = fetch_wallet_activity(clients, followed, start, end, sink=writer.add)
        fetch_wallet_activity(clients, candidates, start, end, sink=writer.add, types=NON_TRADE_TYPES, out=ingest)
        http_stats = dict(clients.https[0].stats)
    by_type = {k[5:]: v for k, v in sorted(ingest.stats.items()) if k.startswith("type_")}
    context.log.info(f"{days[0]}..{days[-1]}: {writer.counts['trades']} activity rows of {len(wallets)} wallets")
    _per_partition(context, wh, "raw.activity", days, "rows")
    return dg.MaterializeResult(metadata={
        "rows_in_run": writer.counts["trades"],
        "rows_by_type": counts_table(by_type, "type", "rows"),
        "wallets_read": len(wallets),
        "followed_wallets": len(followed),
        "candidate_wallets": len(candidates),
        "rejects": ingest.stats["rejects"],
        "keyset_records": ingest.stats["records_v2"],
        "http_requests": http_stats.get("requests", 0),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
    })


@dg.asset(
    group_name="ingestion",
    kinds={"python", "duckdb"},
    owners=DATA_OWNERS,
    tags=tags("ingestion", layer="raw"),
    deps=[raw_trades, "raw_markets", market_resolutions, raw_wallet_activity],
    pool=WAREHOUSE_POOL,
    automation_condition=after_upstream(),
    description="raw.rejects: every malformed API record, kept aside with its reason by ingestion (never "
                "dropped). Materializing it takes stock: rejects by source and reason, the reject rate, and the "
                "newest examples.",
)
def ingestion_rejects(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Rejects by source and reason, and the reject rate over every record ingested."""
    wh = warehouse.open()
    by = wh.query_df("select source, reason, count(*) as n, max(first_seen_at) as last_seen from raw.rejects "
                     "group by source, reason order by n desc, source, reason")
    records = int(wh.scalar("select count(*) from raw.trades") or 0) + int(
        wh.scalar("select count(*) from raw.markets") or 0) + int(wh.scalar("select count(*) from raw.activity") or 0)
    total = int(by["n"].sum()) if len(by) else 0
    newest = wh.query_df("select source, reason, partition_key, substr(payload, 1, 160) as record "
                         "from raw.rejects order by first_seen_at desc, reject_key limit 10")
    return dg.MaterializeResult(metadata={
        "rejects": total,
        "reject_rate": rounded(total / (records + total), 6) if records + total else 0.0,
        "by_source_and_reason": table(by.rename(columns={"n": "records"}).to_dict("records"),
                                      ["source", "reason", "records", "last_seen"]),
        "newest": table(newest.to_dict("records")),
    })


# ---- asset checks ------------------------------------------------------------------
def _check_sql(warehouse: WarehouseResource, sql: str):
    return warehouse.open().scalar(sql)


@dg.asset_check(pool=WAREHOUSE_POOL, asset=raw_trades, blocking=True,
                description="Trades were read against a market snapshot: raw.markets is not empty (trades are "
                            "read market by market, so without raw_markets a run reads nothing and looks fine).")
def raw_trades_markets_known(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    markets = int(_check_sql(warehouse, "select count(*) from raw.markets") or 0)
    return dg.AssetCheckResult(
        passed=markets > 0,
        description=None if markets else "raw.markets is empty, so no trade could be read: materialize raw_markets "
                                         "first (job refresh_markets), then these partitions again",
        metadata={"markets_in_snapshot": markets})


@dg.asset_check(pool=WAREHOUSE_POOL, asset=raw_trades, blocking=True, description="No two rows share a trade_key.")
def raw_trades_unique_keys(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    dupes = int(_check_sql(warehouse, "select count(*) - count(distinct trade_key) from raw.trades") or 0)
    return dg.AssetCheckResult(passed=dupes == 0, metadata={"duplicate_rows": dupes})


@dg.asset_check(pool=WAREHOUSE_POOL, asset=raw_trades, blocking=True, description="Required fields are present on every row.")
def raw_trades_required_fields(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    missing = int(_check_sql(warehouse, """
        select count(*) from raw.trades
        where transaction_hash is null or proxy_wallet is null or token_id is null or condition_id is null
           or side not in ('BUY', 'SELL') or size is null or size <= 0 or timestamp is null""") or 0)
    return dg.AssetCheckResult(passed=missing == 0, metadata={"rows_missing_fields": missing})


@dg.asset_check(pool=WAREHOUSE_POOL, asset=raw_trades, blocking=True, description="Every price lies in [0, 1] USD per share.")
def raw_trades_price_range(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    bad = int(_check_sql(warehouse, "select count(*) from raw.trades where price < 0 or price > 1") or 0)
    return dg.AssetCheckResult(passed=bad == 0, metadata={"rows_out_of_range": bad})


MAX_REJECT_RATE = 0.01


@dg.asset_check(pool=WAREHOUSE_POOL, asset=raw_trades, description=f"Rejected records stay under {MAX_REJECT_RATE:.0%} of all records.")
def raw_trades_reject_rate(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.open()
    trades = int(wh.scalar("select count(*) from raw.trades") or 0)
    rejects = int(wh.scalar(f"select count(*) from raw.rejects where source = '{TRADES_SOURCE}'") or 0)
    rate = rejects / (trades + rejects) if trades + rejects else 0.0
    return dg.AssetCheckResult(
        passed=rate <= MAX_REJECT_RATE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"reject_rate": rounded(rate, 6), "rejects": rejects, "trades": trades,
                  "threshold": MAX_REJECT_RATE},
    )


@dg.asset_check(pool=WAREHOUSE_POOL, asset=raw_wallet_activity, blocking=True,
                description="No two activity rows share a key; every row has its wallet, type, time and USD amount.")
def raw_wallet_activity_valid(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.open()
    dupes = int(wh.scalar("select count(*) - count(distinct activity_key) from raw.activity") or 0)
    bad = int(wh.scalar("""select count(*) from raw.activity where proxy_wallet is null or type is null
        or timestamp is null or usdc_size is null or usdc_size < 0 or (size is not null and size < 0)""") or 0)
    return dg.AssetCheckResult(passed=dupes == 0 and bad == 0, metadata={"duplicate_rows": dupes, "invalid_rows": bad})


@dg.asset_check(pool=WAREHOUSE_POOL, asset=market_resolutions,
                description="Every market Gamma reports as resolved has its resolution rows.")
def market_resolutions_coverage(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.open()
    resolved = int(wh.scalar(
        "select count(*) from raw.markets where closed and uma_resolution_status = 'resolved'") or 0)
    missing = int(wh.scalar("""
        select count(*) from raw.markets m
        where m.closed and m.uma_resolution_status = 'resolved'
          and not exists (select 1 from raw.market_resolutions r where r.condition_id = m.condition_id)""") or 0)
    coverage = 1.0 - missing / resolved if resolved else 1.0
    return dg.AssetCheckResult(passed=missing == 0, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"resolved_markets": resolved, "missing": missing,
                                         "coverage": rounded(coverage, 4)})


@dg.asset_check(pool=WAREHOUSE_POOL, asset=market_resolutions, blocking=True,
                description="Each resolved market has exactly one winning token, or none if void.")
def market_resolutions_single_winner(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    bad = int(_check_sql(warehouse, """
        select count(*) from (
            select condition_id,
                   sum(case when is_winner then 1 else 0 end) as winners,
                   max(case when is_void then 1 else 0 end) as void
            from raw.market_resolutions group by condition_id) t
        where not ((void = 1 and winners = 0) or (void = 0 and winners = 1))""") or 0)
    return dg.AssetCheckResult(passed=bad == 0, metadata={"markets_violating": bad})


@dg.asset_check(pool=WAREHOUSE_POOL, asset="raw_markets", description="Market rejects stay under the threshold.")
def raw_markets_reject_rate(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.open()
    markets = int(wh.scalar("select count(*) from raw.markets") or 0)
    rejects = int(wh.scalar(f"select count(*) from raw.rejects where source = '{MARKETS_SOURCE}'") or 0)
    rate = rejects / (markets + rejects) if markets + rejects else 0.0
    return dg.AssetCheckResult(passed=rate <= MAX_REJECT_RATE, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"reject_rate": rounded(rate, 6), "rejects": rejects, "markets": markets})


MAX_UNKNOWN_CATEGORY_SHARE = 0.25


@dg.asset_check(pool=WAREHOUSE_POOL, asset="raw_markets",
                description=(f"At most {MAX_UNKNOWN_CATEGORY_SHARE:.0%} of markets have a category no tag maps "
                             "('unknown'): a larger share means the taxonomy seed misses tags in use."))
def raw_markets_category_known(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    wh = warehouse.open()
    by = wh.query_df("select category, count(*) as n from raw.markets group by category order by n desc")
    total = int(by["n"].sum()) if len(by) else 0
    unknown = int(by.loc[by["category"] == UNKNOWN_CATEGORY, "n"].sum()) if len(by) else 0
    share = unknown / total if total else 0.0
    untagged = wh.query_df("""
        select t.tag_slug, count(*) as markets from raw.market_tags t
        join raw.markets m on m.condition_id = t.condition_id
        where m.category = ? group by t.tag_slug order by markets desc limit 10""", [UNKNOWN_CATEGORY])
    return dg.AssetCheckResult(
        passed=share <= MAX_UNKNOWN_CATEGORY_SHARE, severity=dg.AssetCheckSeverity.WARN,
        metadata={"unknown_share": rounded(share, 4), "unknown_markets": unknown, "markets": total,
                  "threshold": MAX_UNKNOWN_CATEGORY_SHARE,
                  "by_category": counts_table(dict(zip(by["category"], by["n"].astype(int).tolist())),
                                              "category", "markets"),
                  "tags_on_unknown_markets": counts_table(
                      dict(zip(untagged["tag_slug"], untagged["markets"].astype(int).tolist())), "tag", "markets")})


# ---- jobs and schedules ------------------------------------------------------------
ingest_history_job = dg.define_asset_job(
    "ingest_history",
    selection=dg.AssetSelection.assets(raw_trades, market_resolutions, raw_wallet_activity),
    description="Trades, resolutions and wallet activity over a range of days; launch as a backfill to fill history.",
)

backfill_market_resolutions_job = dg.define_asset_job(
    "backfill_market_resolutions",
    selection=dg.AssetSelection.assets(market_resolutions),
    description="Historical market resolutions: launch a backfill over the date partitions.",
)

refresh_markets_job = dg.define_asset_job("refresh_markets", selection=dg.AssetSelection.assets(raw_markets),
                                          description="The market snapshot: every Gamma market, its tokens and tags.")
audit_rejects_job = dg.define_asset_job("audit_rejects", selection=dg.AssetSelection.assets(ingestion_rejects),
                                        description="Take stock of the records ingestion kept aside.")

refresh_markets_schedule = dg.ScheduleDefinition(job=refresh_markets_job, cron_schedule="0 * * * *",
                                                 default_status=schedule_status(),
                                                 description="Refresh the market snapshot hourly.")


@dg.schedule(job=ingest_history_job, cron_schedule="10 * * * *", default_status=schedule_status(),
             description="Hourly: ingest today's trades, resolutions and wallet activity so far (the partition is "
                         "replaced, never duplicated); in the first hour of a day, also complete yesterday's.")
def hourly_ingest_schedule(context: dg.ScheduleEvaluationContext):
    now = context.scheduled_execution_time
    days = [now.date()] + ([now.date() - timedelta(days=1)] if now.hour == 0 else [])
    keys = set(daily_partitions.get_partition_keys(current_time=now))
    return [dg.RunRequest(run_key=f"{d.isoformat()}@{now.isoformat()}", partition_key=d.isoformat())
            for d in days if d.isoformat() in keys]


assets = [raw_markets, raw_trades, market_resolutions, raw_wallet_activity, ingestion_rejects]
asset_checks = [raw_trades_markets_known, raw_trades_unique_keys, raw_trades_required_fields, raw_trades_price_range, raw_trades_reject_rate,
                market_resolutions_coverage, market_resolutions_single_winner, raw_markets_reject_rate,
                raw_markets_category_known, raw_wallet_activity_valid]

defs = dg.Definitions(
    assets=assets,
    asset_checks=asset_checks,
    jobs=[ingest_history_job, backfill_market_resolutions_job, refresh_markets_job, audit_rejects_job],
    schedules=[refresh_markets_schedule, hourly_ingest_schedule],
)
