"""What keeps the pipeline running by itself, and the one switch that turns it on.

With ``POLYCOPY_AUTOMATION=on`` every schedule and sensor of both code locations starts
running: the market snapshot refreshes hourly, today's (and, after midnight, yesterday's)
trades are ingested hourly, declarative automation rebuilds dbt and the scores after each
ingest, recent resolution partitions are re-derived when the market snapshot changes, and
the follow sensor copies the watchlist. Off (the default), everything is there and can be
turned on one by one in the UI.
"""

import os
import weakref
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


def _triggered(trigger: dg.AutomationCondition, batch: dg.AssetSelection | None) -> dg.AutomationCondition:
    """The trigger, or an upstream asset of the same ``batch`` requested now: a batch is
    requested in one evaluation, so it runs as one run, each asset after what it reads."""
    if batch is None:
        return trigger
    return trigger | AC.any_deps_match(AC.will_be_requested()).allow(batch).with_label(
        "requested with its upstream")


class AncestorStillToRun(dg.AutomationCondition):
    """True for a partition of the asset when an asset upstream of it, at any distance, is
    part of an in-progress run or backfill that has not executed it yet, or was materialized
    after the tick's snapshot of the event log (its partitions mapped down the graph on the
    way). A run executes its assets one by one and each stops
    being "in progress" once executed: looking at direct dependencies alone, a table whose
    own inputs are done would start while the daily chain still runs, then run again after it.

    With a ``batch`` (assets requested together as one run), the batch waits as one: an
    asset of it also waits while anything upstream of another asset of the batch, or that
    asset itself, is still to run (mapped to this asset's partitions when both have the same
    partitions, every partition otherwise). Else a fast tick that sees the ingest's first
    asset done would start part of the batch before the rest of the ingest lands.

    One pass over the ancestors in graph order, so an evaluation costs what the graph's
    edges number. (The same test built from nested ``any_deps_match`` conditions evaluates
    once per upstream path: ten thousand evaluations and some 20 s a tick here.)
    """

    def __init__(self, batch: dg.AssetSelection | None = None):
        self.batch = batch

    @property
    def name(self) -> str:
        return "an upstream asset is still to run"

    async def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        if context.candidate_subset.is_empty:
            return dg.AutomationResult(context=context, true_subset=context.candidate_subset)
        graph, view, target = context.asset_graph, context.asset_graph_view, context.key
        batch = self.batch.resolve(graph) if self.batch is not None else set()
        members = [target, *sorted(k for k in batch if k != target and graph.has(k))]
        pending: dict = {}
        for key in _ancestors_in_graph_order(graph, members):
            full = view.get_full_subset(key=key)
            subset = (await view.compute_run_in_progress_subset(key=key, from_subset=full)).compute_union(
                await view.compute_backfill_in_progress_subset(key=key, from_subset=full)).compute_union(
                _landed_after_snapshot(view, key))
            for parent in graph.get(key).parent_keys:
                if parent in pending and not pending[parent].is_empty:
                    subset = subset.compute_union(pending[parent].compute_mapped_subset(key, direction="down"))
            pending[key] = subset
        true_subset = context.get_empty_subset()
        for member in members:
            # What is still to run upstream of the member (and, for another member, the member itself).
            own = [pending[p].compute_mapped_subset(member, direction="down")
                   for p in graph.get(member).parent_keys if p in pending and not pending[p].is_empty]
            if member != target and member in pending and not pending[member].is_empty:
                own.append(pending[member])
            for subset in own:
                true_subset = true_subset.compute_union(_on_target(view, subset, context))
        return dg.AutomationResult(context=context,
                                   true_subset=true_subset.compute_intersection(context.candidate_subset))


# Per tick (one AssetGraphView a tick): what each asset materialized after the tick's snapshot.
_LANDED_AFTER_SNAPSHOT: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _landed_after_snapshot(view, key: dg.AssetKey):
    """Partitions of ``key`` materialized after the tick's snapshot of the event log.

    A tick sees upstream updates as of its snapshot (``view.last_event_id``, taken when the
    tick starts) but asks whether a run is in progress later, live. A step that lands in
    between is neither updated nor in progress for this tick: without this, the assets
    reading it would look settled while their trigger has not seen it, and part of a batch
    would start now and the rest a tick later. Counted as still to run, it is seen as
    updated, and settled, by the next tick. Queried after the in-progress subsets (which the
    view caches from their first query), so a step that ends in between is seen by one or
    the other."""
    per_view = _LANDED_AFTER_SNAPSHOT.setdefault(view, {})
    if key not in per_view:
        per_view[key] = _query_landed_after(view, key)
    return per_view[key]


def _query_landed_after(view, key: dg.AssetKey):
    snapshot = view.last_event_id
    if snapshot is None:
        return view.get_empty_subset(key=key)
    records = view.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, after_storage_id=snapshot), limit=1000).records
    if not records:
        return view.get_empty_subset(key=key)
    partitions_def = view.asset_graph.get(key).partitions_def
    if partitions_def is None:
        return view.get_full_subset(key=key)
    return view.get_subset_from_partition_keys(key, partitions_def, {
        r.partition_key for r in records if r.partition_key and partitions_def.has_partition_key(r.partition_key)})


def _on_target(view, subset, context: dg.AutomationContext):
    """``subset`` of another asset as a subset of the evaluated asset: the same partitions when
    both have the same partitions definition, every candidate partition otherwise."""
    if subset.key == context.key:
        return subset
    if subset.is_empty:
        return context.get_empty_subset()
    if subset.partitions_def is not None and subset.partitions_def == context.partitions_def:
        from dagster._core.asset_graph_view.serializable_entity_subset import SerializableEntitySubset

        mapped = view.get_subset_from_serializable_subset(
            SerializableEntitySubset(key=context.key, value=subset.convert_to_serializable_subset().value))
        if mapped is not None:
            return mapped
    return context.candidate_subset


def _ancestors_in_graph_order(graph, keys) -> list[dg.AssetKey]:
    """``keys`` and every asset upstream of them in the graph, each after its own parents."""
    wanted = set().union(*(graph.get_ancestor_asset_keys(key, include_self=True) for key in keys))
    return [key for key in graph.toposorted_asset_keys if key in wanted]


def _upstream_settled(batch: dg.AssetSelection | None) -> dg.AutomationCondition:
    """Every upstream asset exists (or is requested now with this one's ``batch``), none is
    running, and none outside ``batch`` is requested now (that one is waited for: this asset
    runs after it lands, not on its old data). A ``batch`` also waits until nothing further
    upstream is still to run."""
    requested = AC.any_deps_match(AC.will_be_requested())
    missing = AC.any_deps_missing()
    running = AC.any_deps_in_progress()
    if batch is not None:
        requested = requested.ignore(batch)
        missing = AC.any_deps_match(AC.missing() & ~AC.will_be_requested()).with_label(
            "any deps missing, not requested now")
        running = AncestorStillToRun(batch)
    return (~missing & ~running
            & ~requested.with_label("an upstream asset is requested now") & ~AC.in_progress())


def after_upstream(*, when_missing: bool = True, batch: dg.AssetSelection | None = None,
                   not_a_trigger: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """Materialize once an upstream asset was updated (and, with ``when_missing``, when this
    one is missing), once its upstream has settled. The assets of one ``batch`` (dbt's full
    tables with the scoring) are requested together and run as one run. Updates of
    ``not_a_trigger`` are read when this asset runs, but do not make it run."""
    updated = AC.any_deps_updated() if not_a_trigger is None else AC.any_deps_updated().ignore(not_a_trigger)
    trigger = (AC.newly_missing() | updated) if when_missing else updated
    return (_triggered(trigger, batch).since_last_handled() & _upstream_settled(batch)
            ).with_label("after upstream updates")


def recent_partitions_after_upstream(batch: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """For daily partitions of the last ``recent_days()`` days: materialize once an upstream
    asset (or the day's upstream partition) was updated, or the day is missing, once its
    upstream has settled. A day's chain of daily models (the ``batch``) runs as one run."""
    trigger = _triggered(AC.newly_missing() | AC.any_deps_updated(), batch).since_last_handled()
    return (AC.in_latest_time_window(timedelta(days=recent_days())) & trigger & _upstream_settled(batch)
            ).with_label(f"last {recent_days()} days, after upstream updates")


# dbt's full tables (the translator tags them), built together after the daily models.
DBT_TABLES = dg.AssetSelection.tag("cadence", "table")
# dbt's daily models (staging and intermediate over daily partitions), a day's chain in one run.
DBT_DAILY = dg.AssetSelection.tag("cadence", "daily")
SCORING_GROUP = dg.AssetSelection.groups("scoring")
# What one ingest rebuilds after the day's models, in one run: dbt's full tables, then the scoring.
REBUILD_BATCH = DBT_TABLES | SCORING_GROUP


def automation_sensor(name: str) -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates the automation conditions of this code location's assets."""
    return dg.AutomationConditionSensorDefinition(
        name, target=dg.AssetSelection.all(), default_status=sensor_status(),
        # AncestorStillToRun is plain Python: it runs in the code location, not the daemon.
        use_user_code_server=True,
        minimum_interval_seconds=int(os.environ.get(INTERVAL_ENV, "30")),
        description="Evaluates every asset's automation condition: dbt and the scores follow each ingest, "
                    "recent resolutions follow the market snapshot. On with POLYCOPY_AUTOMATION=on.")


# Freshness the UI shows: a watchlist older than a day is stale.
INGEST_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=2))
SCORES_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=3))
