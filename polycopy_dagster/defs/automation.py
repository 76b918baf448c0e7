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


def after_upstream(*, when_missing: bool = True, batch: dg.AssetSelection | None = None,
                   not_a_trigger: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """Materialize once an upstream asset was updated (and, with ``when_missing``, when this
    one is missing), once every upstream asset exists and nothing upstream is running. An
    upstream asset requested in the same evaluation is waited for, unless it is of this
    asset's ``batch``: a batch (dbt's full tables, the scoring assets) is requested together
    and runs as one run, while a table over daily partitions waits for their run to land.
    Updates of ``not_a_trigger`` are read when this asset runs, but do not make it run."""
    updated = AC.any_deps_updated() if not_a_trigger is None else AC.any_deps_updated().ignore(not_a_trigger)
    trigger = (AC.newly_missing() | updated) if when_missing else updated
    elsewhere = AC.any_deps_match(AC.will_be_requested())
    if batch is not None:
        elsewhere = elsewhere.ignore(batch)
    return (trigger.since_last_handled() & ~AC.any_deps_missing() & ~AC.any_deps_in_progress()
            & ~elsewhere.with_label("no upstream run requested now") & ~AC.in_progress()
            ).with_label("after upstream updates")


def recent_partitions_after_upstream() -> dg.AutomationCondition:
    """For daily partitions of the last ``recent_days()`` days: materialize once an upstream
    asset (or the day's upstream partition) was updated, or the day is missing, once its
    upstream exists and nothing upstream is running. Chains of daily assets requested together
    run together, a day at a time or as one range."""
    trigger = (AC.newly_missing() | AC.any_deps_updated()).since_last_handled()
    return (AC.in_latest_time_window(timedelta(days=recent_days())) & trigger & ~AC.any_deps_missing()
            & ~AC.any_deps_in_progress() & ~AC.in_progress()).with_label(
        f"last {recent_days()} days, after upstream updates")


# dbt's full tables (the translator tags them), built together after the daily models.
DBT_TABLES = dg.AssetSelection.tag("cadence", "table")
SCORING_BATCH = dg.AssetSelection.groups("scoring")


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
