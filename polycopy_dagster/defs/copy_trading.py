"""Copy trading: the followed-wallets sensor, the copy_trade job, order reconciliation."""


import json
import time

import dagster as dg
from pydantic import Field

from polycopy.execution.copier import copy_trade, reconcile_pending
from polycopy.execution.paper import PaperVenue
from polycopy.feed import PollingActivityFeed
from polycopy.polymarket.schema import Trade
from polycopy_dagster.defs.resources import CopyTradingResource, LedgerResource, PolymarketResource


class CopyTradeConfig(dg.Config):
    trade: str = Field(description="The source trade as JSON (internal Trade schema)")


def _venue(mode: str, ledger, clients, fee_rate: float):
    if mode != "paper":
        raise dg.Failure(f"copy-trading mode {mode!r} is not available; only 'paper' is supported")
    return PaperVenue(ledger, clients.clob, fee_rate)


@dg.op(
    retry_policy=dg.RetryPolicy(max_retries=3, delay=1),
    description="Decide, size and place the copy of one source trade; at most once per trade.",
)
def copy_source_trade(context: dg.OpExecutionContext, config: CopyTradeConfig, polymarket: PolymarketResource,
                      ledger: LedgerResource, copy_trading: CopyTradingResource) -> dict:
    trade = Trade(**json.loads(config.trade))
    book = ledger.open()
    settings = copy_trading.copy_settings()
    with polymarket.clients() as clients:
        venue = _venue(copy_trading.mode, book, clients, copy_trading.taker_fee_rate)
        reconciled = reconcile_pending(book, venue, settings.reconcile_after_s)
        outcome = copy_trade(trade, ledger=book, venue=venue, clob=clients.clob, settings=settings,
                             run_id=context.run_id)
    context.log.info(f"{trade.side} {trade.size:.2f} @ {trade.price:.4f} by {trade.proxy_wallet}: "
                     f"{outcome.decision} ({outcome.stage}: {outcome.reason}) order={outcome.order_status}")
    if reconciled:
        context.log.warning(f"reconciled pending orders: {reconciled}")
    return outcome.as_dict()


@dg.job(
    name="copy_trade",
    executor_def=dg.in_process_executor,
    description="Copy one source trade: decision, order, fill — recorded in the ledger.",
    tags={"polycopy/kind": "copy_trade"},
)
def copy_trade_job():
    copy_source_trade()


@dg.op(description="Settle pending orders left by a crash from the venue's own record; never re-send.")
def reconcile_orders_op(context: dg.OpExecutionContext, polymarket: PolymarketResource, ledger: LedgerResource,
                        copy_trading: CopyTradingResource) -> list:
    book = ledger.open()
    with polymarket.clients() as clients:
        venue = _venue(copy_trading.mode, book, clients, copy_trading.taker_fee_rate)
        done = reconcile_pending(book, venue, copy_trading.reconcile_after_s)
    context.log.info(f"reconciled {len(done)} pending orders")
    return done


@dg.job(name="reconcile_orders", executor_def=dg.in_process_executor)
def reconcile_orders_job():
    reconcile_orders_op()


reconcile_schedule = dg.ScheduleDefinition(job=reconcile_orders_job, cron_schedule="*/5 * * * *",
                                           description="Settle orders left pending by a crash.")


@dg.sensor(
    job=copy_trade_job,
    minimum_interval_seconds=1,
    description="Launches one copy_trade run per new trade of a followed wallet (run key = trade key). "
                "Follows the published whale watchlist; POLYCOPY_FOLLOW_WALLETS overrides it.",
)
def followed_wallets_sensor(context: dg.SensorEvaluationContext, polymarket: PolymarketResource,
                            ledger: LedgerResource, copy_trading: CopyTradingResource):
    # The configured follow list, when set, overrides the watchlist.
    wallets = copy_trading.wallets() or [m["wallet_address"] for m in ledger.open().watchlist()]
    if not wallets:
        return dg.SkipReason("no wallets to follow: the watchlist is empty (materialize whale_watchlist) "
                             "and POLYCOPY_FOLLOW_WALLETS is not set")
    cursor = json.loads(context.cursor) if context.cursor else {}
    # Long-poll: the daemon evaluates sensors at most every 5 s, so within one evaluation
    # keep polling the feed and return as soon as a trade lands (bounded by long_poll_s,
    # well inside the evaluation timeout).
    deadline = time.monotonic() + copy_trading.long_poll_s
    with polymarket.clients() as clients:
        feed = PollingActivityFeed(clients.data, copy_trading.overlap_s, copy_trading.lookback_s)
        while True:
            poll = feed.poll(wallets, cursor, now=time.time())
            # Re-read trades inside the overlap window are not news; only a newer one ends the wait.
            news = any(t.timestamp > cursor.get(t.proxy_wallet, -1) for t in poll.trades)
            if news or time.monotonic() + copy_trading.poll_interval_s >= deadline:
                break
            cursor = poll.cursor
            time.sleep(copy_trading.poll_interval_s)
    if poll.rejects:
        new = ledger.open().record_feed_rejects(poll.rejects)
        if new:
            context.log.warning(f"{new} malformed feed records kept aside in the ledger's feed_rejects")
    runs = [
        dg.RunRequest(
            run_key=t.trade_key,
            run_config=dg.RunConfig(ops={"copy_source_trade": CopyTradeConfig(trade=json.dumps(t.as_row()))}),
            tags={"polycopy/wallet": t.proxy_wallet, "polycopy/trade_key": t.trade_key,
                  "polycopy/trade_ts": str(t.timestamp)},
        )
        for t in poll.trades
    ]
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(poll.cursor, sort_keys=True))


defs = dg.Definitions(
    jobs=[copy_trade_job, reconcile_orders_job],
    sensors=[followed_wallets_sensor],
    schedules=[reconcile_schedule],
)
