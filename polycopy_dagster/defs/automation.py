"""What keeps the pipeline running by itself, and the one switch that turns it on.

With ``POLYCOPY_AUTOMATION=on`` every schedule and sensor of both code locations starts
running: the market snapshot refreshes hourly, today's (and, after midnight, yesterday's)
trades are ingested hourly, declarative automation rebuilds dbt and the scores after each
ingest, recent resolution partitions are re-derived when the market snapshot changes, and
the follow sensor copies the watchlist. Off (the default), everything is there and can be
turned on one by one in the UI.
"""

import os
from datetime import timedelta

import dagster as dg

AC = dg.AutomationCondition
AUTOMATION_ENV = "POLYCOPY_AUTOMATION"
# How far back a late change (a market UMA-resolved days after it closed) is propagated.
RECENT_DAYS_ENV = "POLYCOPY_AUTOMATION_RECENT_DAYS"
INTERVAL_ENV = "POLYCOPY_AUTOMATION_INTERVAL_S"
ON_VALUES = ("1", "true", "yes", "on")
OFF_VALUES = ("", "0", "false", "no", "off")

# The market snapshot refreshes hourly; dbt follows the trades and resolutions derived from
# it, not the snapshot itself (the staging views read it live).
MARKET_SNAPSHOT = dg.AssetSelection.assets("raw_markets", "raw_market_tokens", "raw_market_tags")


def automation_on() -> bool:
    """Whether POLYCOPY_AUTOMATION turns schedules, sensors and declarative automation on."""
    raw = os.environ.get(AUTOMATION_ENV, "").strip().lower()
    if raw not in ON_VALUES + OFF_VALUES:
        raise ValueError(f"{AUTOMATION_ENV} must be on or off, got {raw!r}")
    return raw in ON_VALUES


def recent_days() -> int:
    """Days of daily partitions that automation keeps re-deriving (default 7)."""
    return int(os.environ.get(RECENT_DAYS_ENV, "7"))


def sensor_status() -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if automation_on() else dg.DefaultSensorStatus.STOPPED


def schedule_status() -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if automation_on() else dg.DefaultScheduleStatus.STOPPED


def after_upstream(ignore: dg.AssetSelection | None = None, require_deps: bool = False) -> dg.AutomationCondition:
    """Materialize once an upstream asset was updated (or this one is missing), when nothing
    upstream is still running. Unlike ``eager()`` it does not wait for every upstream
    partition: today's partition exists only from the first ingest of the day, and a
    deployment that starts live has no history yet."""
    updated = AC.any_deps_updated() if ignore is None else AC.any_deps_updated().ignore(ignore)
    cond = (AC.newly_missing() | updated).since_last_handled() & ~AC.any_deps_in_progress() & ~AC.in_progress()
    if require_deps:
        cond = cond & ~AC.any_deps_missing()
    return cond.with_label("after upstream updates")


def recent_partitions_after_upstream(ignore: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """``after_upstream`` for the daily partitions of the last ``recent_days()`` days."""
    return (AC.in_latest_time_window(timedelta(days=recent_days())) & after_upstream(ignore)).with_label(
        f"last {recent_days()} days, after upstream updates")


def automation_sensor(name: str) -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates the automation conditions of this code location's assets."""
    return dg.AutomationConditionSensorDefinition(
        name, target=dg.AssetSelection.all(), default_status=sensor_status(),
        minimum_interval_seconds=int(os.environ.get(INTERVAL_ENV, "30")),
        description="Evaluates every asset's automation condition: dbt and the scores follow each ingest, "
                    "recent resolutions follow the market snapshot. On with POLYCOPY_AUTOMATION=on.")


# Freshness the UI shows: a watchlist older than a day is stale.
INGEST_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=2))
SCORES_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=3))
