"""Warehouse interface, raw-table columns and the two backends (schema: ``migrations/``)."""

from __future__ import annotations

import io
import json
import uuid
import operator
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
from contextlib import contextmanager

from polycopy.db import pg_connect, transaction
from polycopy.warehouse.duckdb_limits import DuckDBLimits, duckdb_limits
from polycopy.polymarket.markets import MARKET_COLUMNS, RESOLUTION_COLUMNS, Market, Resolution
from polycopy.polymarket.schema import ACTIVITY_COLUMNS, TRADE_COLUMNS, ActivityEvent, Rejected, Trade

RAW_SCHEMA = "raw"

MARKET_TABLE_COLUMNS = MARKET_COLUMNS + ("ingested_at",)
RESOLUTION_TABLE_COLUMNS = RESOLUTION_COLUMNS + ("partition_day", "ingested_at")
REJECT_TABLE_COLUMNS = ("reject_key", "source", "reason", "payload", "record_ts", "partition_key", "first_seen_at")


@dataclass(frozen=True)
class WarehouseSettings:
    """Which warehouse to use. ``backend`` is "duckdb" or "postgres"."""

    backend: str = "duckdb"
    duckdb_path: str = ".data/warehouse.duckdb"
    pg_dsn: str = "host=127.0.0.1 port=5432 user=postgres dbname=polycopy"
    # Memory, threads and spill directory of the DuckDB file (default: from the machine).
    duckdb_limits: DuckDBLimits | None = None

    def resolved_duckdb_limits(self) -> DuckDBLimits:
        return self.duckdb_limits or duckdb_limits(self.duckdb_path)


def day_of(ts: int) -> date:
    return datetime.fromtimestamp(ts, tz=timezone.utc).date()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


# Integer columns that may be NULL: kept as nullable integers, never as floats.
INT_COLUMNS = frozenset({"timestamp", "outcome_index", "start_ts", "end_ts", "closed_ts", "resolved_ts", "record_ts"})
# Float columns that may be NULL (absent in the record, never invented).
NULLABLE_FLOAT_COLUMNS = frozenset({"size", "price"})


def _frame(objs: Sequence, columns: Sequence[str]) -> pd.DataFrame:
    if not objs:
        return pd.DataFrame({c: [] for c in columns})
    getter = operator.attrgetter(*columns)
    df = pd.DataFrame([getter(o) for o in objs], columns=list(columns))
    for c in INT_COLUMNS.intersection(df.columns):
        df[c] = df[c].astype("Int64")
    for c in NULLABLE_FLOAT_COLUMNS.intersection(df.columns):
        df[c] = df[c].astype("float64")
    return df


class Warehouse(ABC):
    """Raw-table reads and writes. Every write is one transaction."""

    backend: str

    # ---- backend primitives ------------------------------------------------------
    @abstractmethod
    def _connect(self): ...

    @abstractmethod
    def _load(self, cur, table: str, df: pd.DataFrame, on_conflict_ignore: bool = False) -> None: ...

    @abstractmethod
    def _param(self) -> str: ...

    def transaction(self):
        """A transaction: ``with warehouse.transaction() as cur: ...``."""
        return transaction(self._connect)

    def ensure_schema(self) -> None:
        """Bring the schema to the newest migration (once per process and database)."""
        from polycopy.warehouse.migrate import upgrade

        upgrade(self)

    def query_df(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        with self.transaction() as cur:
            cur.execute(sql.replace("?", self._param()), list(params or []))
            cols = [d[0] for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=cols)

    def table_exists(self, table: str) -> bool:
        """Whether ``schema.name`` exists (derived tables appear only once their asset ran)."""
        schema, name = table.split(".", 1)
        n = self.query_df("select count(*) as n from information_schema.tables where table_schema = ? "
                          "and table_name = ?", [schema, name])
        return int(n.iat[0, 0]) > 0

    def scalar(self, sql: str, params: Sequence | None = None):
        df = self.query_df(sql, params)
        return None if df.empty else df.iat[0, 0]

    # ---- writes ------------------------------------------------------------------
    def replace_table(self, table: str, df: pd.DataFrame) -> None:
        """Replace a derived table's contents with ``df`` in one transaction (created from
        the frame's columns if missing)."""
        with self.transaction() as cur:
            cur.execute(f"create schema if not exists {table.split('.')[0]}")
            cur.execute(f"drop table if exists {table}")
            cur.execute(f"create table {table} ({_columns_ddl(df)})")
            if len(df):
                self._load(cur, table, df)

    def replace_rows(self, table: str, df: pd.DataFrame, key_column: str | None = None, key_value=None) -> None:
        """Delete the rows of ``table`` whose ``key_column`` = ``key_value`` (all rows when no
        key is given) and insert ``df``, in one transaction (re-running a day replaces that day)."""
        with self.transaction() as cur:
            if key_column is None:
                cur.execute(f"delete from {table}")
            else:
                cur.execute(f"delete from {table} where {key_column} = {self._param()}", [key_value])
            if len(df):
                self._load(cur, table, df)

    @contextmanager
    def trade_partition_writer(self, days: Iterable[date], source: str, flush_rows: int = 50_000):
        """Replace the trades (and this source's rejects) of ``days`` in one transaction,
        receiving them in batches: ``with wh.trade_partition_writer(days, src) as w: w.add(...)``.

        The old rows are deleted first and the new ones inserted as they arrive (buffered
        up to ``flush_rows``), so memory stays bounded however long the range; nothing is
        visible to readers until the whole range is replaced at once. Trades outside ``days`` are
        ignored. Rejects carry the partition key of their record's day, or of the first
        day when the record has no usable timestamp.
        """
        with self._partition_writer(f"{RAW_SCHEMA}.trades", TRADE_COLUMNS, days, source, flush_rows) as writer:
            yield writer

    @contextmanager
    def activity_partition_writer(self, days: Iterable[date], source: str, flush_rows: int = 50_000):
        """Replace the wallet activity (and this source's rejects) of ``days`` in one
        transaction, as :meth:`trade_partition_writer` does for trades."""
        with self._partition_writer(f"{RAW_SCHEMA}.activity", ACTIVITY_COLUMNS, days, source, flush_rows) as writer:
            yield writer

    @contextmanager
    def _partition_writer(self, table: str, columns: Sequence[str], days: Iterable[date], source: str,
                          flush_rows: int):
        days = sorted(set(days))
        if self.stages_partition_writes:
            with self._staged_partition_writer(table, columns, days, source, flush_rows) as writer:
                yield writer
            return
        with self.transaction() as cur:
            self._clear_partitions(cur, table, days, source)
            writer = _PartitionWriter(self, cur, table, columns, days, source, flush_rows)
            yield writer
            writer.flush()

    # Whether a partition replace stages its rows in a scratch table first (see DuckDBWarehouse).
    stages_partition_writes = False

    @contextmanager
    def _staged_partition_writer(self, table: str, columns: Sequence[str], days: list[date], source: str,
                                 flush_rows: int):
        """Batches land in a scratch table, each committed as it comes; then one transaction
        deletes the days and moves the rows in, a day at a time ordered by wallet. Readers
        see the partitions replaced at once, as with one transaction, and the writer's
        memory stays that of one batch (and one day's sort) however long the range (a
        transaction holding every batch keeps them all in memory on DuckDB).

        Each day's rows stored by wallet give the row groups of a day narrow ranges of
        ``proxy_wallet``, so a reader of a range of wallets (a whole build in slices of
        wallets, dbt_project/macros/fill_slices.sql) skips the other row groups by their
        zone maps. DuckDB keeps an ORDER BY's order in an INSERT even with
        ``preserve_insertion_order`` off."""
        stage = f"{RAW_SCHEMA}._staged_{table.split('.')[-1]}_{uuid.uuid4().hex[:12]}"
        with self.transaction() as cur:
            cur.execute(f"create table {stage} as select * from {table} limit 0")
        try:
            writer = _PartitionWriter(self, None, stage, columns, days, source, flush_rows)
            yield writer
            writer.flush()
            with self.transaction() as cur:
                self._clear_partitions(cur, table, days, source)
                cur.execute(f"select distinct partition_day from {stage} order by partition_day")
                for (day,) in cur.fetchall():
                    cur.execute(f"insert into {table} select * from {stage} where partition_day = {self._param()} "
                                "order by proxy_wallet", [day])
                for rdf in writer.held_rejects:
                    self._load(cur, f"{RAW_SCHEMA}.rejects", rdf, on_conflict_ignore=True)
        finally:
            with self.transaction() as cur:
                cur.execute(f"drop table if exists {stage}")

    def replace_trade_partitions(self, days: Iterable[date], trades: Sequence[Trade],
                                 rejects: Sequence[Rejected], source: str) -> dict:
        """Replace the trades (and this source's rejects) of ``days`` atomically, in one batch."""
        with self.trade_partition_writer(days, source) as w:
            w.add(trades, rejects)
        return w.counts

    def upsert_markets(self, markets: Sequence[Market], rejects: Sequence[Rejected], source: str) -> dict:
        """Insert new markets and refresh changed ones; tokens follow their markets."""
        now = _utcnow()
        mdf = _frame(markets, MARKET_COLUMNS)
        mdf["ingested_at"] = now
        tokens = []
        for m in markets:
            labels = json.loads(m.outcomes)
            for i, tok in enumerate(m.tokens):
                tokens.append((tok, m.condition_id, i, labels[i] if i < len(labels) else None))
        tdf = pd.DataFrame(tokens, columns=["token_id", "condition_id", "outcome_index", "outcome"])
        tags = [(m.condition_id, pos, t.tag_id, t.slug, t.label, t.source)
                for m in markets for pos, t in enumerate(m.tag_list)]
        gdf = pd.DataFrame(tags, columns=["condition_id", "position", "tag_id", "tag_slug", "tag_label", "tag_source"])
        rdf = self._reject_frame(rejects, source, now, lambda r: "markets")
        p = self._param()
        with self.transaction() as cur:
            if len(mdf):
                ids = list(mdf["condition_id"])
                self._delete_in(cur, f"{RAW_SCHEMA}.markets", "condition_id", ids)
                self._load(cur, f"{RAW_SCHEMA}.markets", mdf[list(MARKET_TABLE_COLUMNS)])
                self._delete_in(cur, f"{RAW_SCHEMA}.market_tokens", "condition_id", ids)
                self._load(cur, f"{RAW_SCHEMA}.market_tokens", tdf.drop_duplicates("token_id"))
                self._delete_in(cur, f"{RAW_SCHEMA}.market_tags", "condition_id", ids)
                if len(gdf):
                    self._load(cur, f"{RAW_SCHEMA}.market_tags", gdf)
            cur.execute(f"delete from {RAW_SCHEMA}.rejects where source = {p}", [source])
            if len(rdf):
                self._load(cur, f"{RAW_SCHEMA}.rejects", rdf, on_conflict_ignore=True)
        return {"markets": len(mdf), "tokens": len(tdf), "tags": len(gdf), "rejects": len(rdf)}

    def replace_resolution_partitions(self, days: Iterable[date], resolutions: Sequence[Resolution],
                                      rejects: Sequence[Rejected], source: str) -> dict:
        days = sorted(set(days))
        now = _utcnow()
        df = _frame(resolutions, RESOLUTION_COLUMNS)
        df["partition_day"] = [day_of(int(t)) for t in df["resolved_ts"]] if len(df) else []
        if len(df):
            df = df[df["partition_day"].isin(days)].copy()
        df["ingested_at"] = now
        rdf = self._reject_frame(rejects, source, now, lambda r: days[0].isoformat())
        with self.transaction() as cur:
            self._clear_partitions(cur, f"{RAW_SCHEMA}.market_resolutions", days, source)
            if len(df):
                self._load(cur, f"{RAW_SCHEMA}.market_resolutions", df[list(RESOLUTION_TABLE_COLUMNS)])
            if len(rdf):
                self._load(cur, f"{RAW_SCHEMA}.rejects", rdf, on_conflict_ignore=True)
        return {"resolutions": len(df), "rejects": len(rdf)}

    # ---- reads used by ingestion ---------------------------------------------------
    def markets_trading_between(self, start_ts: int, end_ts: int) -> list[str]:
        """Condition ids of markets that could have trades in ``[start_ts, end_ts)``."""
        df = self.query_df(
            f"select condition_id from {RAW_SCHEMA}.markets "
            f"where coalesce(start_ts, 0) < ? and (closed_ts is null or closed_ts >= ?) order by condition_id",
            [end_ts, start_ts],
        )
        return list(df["condition_id"])

    def markets(self) -> list[Market]:
        df = self.query_df(f"select {', '.join(MARKET_COLUMNS)} from {RAW_SCHEMA}.markets order by condition_id")
        out = []
        for row in df.itertuples(index=False):
            d = row._asdict()
            for k in ("start_ts", "end_ts", "closed_ts"):
                d[k] = None if pd.isna(d[k]) else int(d[k])
            for k in ("tick_size", "min_order_size", "liquidity", "volume"):
                d[k] = None if pd.isna(d[k]) else float(d[k])
            d["closed"] = bool(d["closed"])
            d["neg_risk"] = bool(d["neg_risk"])
            out.append(Market(**d))
        return out

    # ---- helpers -----------------------------------------------------------------
    def _reject_frame(self, rejects, source, now, key_of) -> pd.DataFrame:
        rows = [(r.reject_key, source, r.reason, r.payload, r.timestamp, key_of(r), now) for r in rejects]
        df = pd.DataFrame(rows, columns=list(REJECT_TABLE_COLUMNS))
        df["record_ts"] = df["record_ts"].astype("Int64")
        return df.drop_duplicates("reject_key")

    def _clear_partitions(self, cur, table: str, days: list[date], source: str) -> None:
        """Delete the rows of ``days`` (sorted) from ``table`` and this source's rejects of them."""
        p = self._param()
        cur.execute(f"delete from {table} where partition_day >= {p} and partition_day <= {p}", [days[0], days[-1]])
        self._delete_rejects(cur, source, [d.isoformat() for d in days])

    def _delete_rejects(self, cur, source: str, keys: list[str]) -> None:
        p = self._param()
        cur.execute(
            f"delete from {RAW_SCHEMA}.rejects where source = {p} and partition_key >= {p} and partition_key <= {p}",
            [source, keys[0], keys[-1]])

    def _delete_in(self, cur, table: str, column: str, values: list) -> None:
        p = self._param()
        for i in range(0, len(values), 1000):
            chunk = values[i:i + 1000]
            cur.execute(f"delete from {table} where {column} in ({', '.join([p] * len(chunk))})", chunk)


def _columns_ddl(df: pd.DataFrame) -> str:
    def sql_type(dtype) -> str:
        if pd.api.types.is_bool_dtype(dtype):
            return "boolean"
        if pd.api.types.is_integer_dtype(dtype):
            return "bigint"
        if pd.api.types.is_float_dtype(dtype):
            return "double precision"
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return "timestamp"
        return "varchar"
    return ", ".join(f"{c} {sql_type(t)}" for c, t in df.dtypes.items())


class _PartitionWriter:
    """Buffers rows (trades or activity events) and rejects for a partition-range replace."""

    def __init__(self, wh: Warehouse, cur, table: str, columns: Sequence[str], days: list[date], source: str,
                 flush_rows: int):
        self.wh, self.cur, self.days, self.source, self.flush_rows = wh, cur, days, source, flush_rows
        self.table, self.columns = table, tuple(columns)
        self.day_set = set(days)
        self.first_key = days[0].isoformat()
        self.now = _utcnow()
        self.trades: list[Trade] = []
        self.rejects: list[Rejected] = []
        self.frames: list[pd.DataFrame] = []
        self.frame_rows = 0
        self.held_rejects: list[pd.DataFrame] = []
        self.counts = {"trades": 0, "rejects": 0}  # "trades": rows written (trades or events)

    def add(self, rows: Sequence[Trade | ActivityEvent], rejects: Sequence[Rejected] = ()) -> None:
        self.trades.extend(rows)
        self.rejects.extend(rejects)
        if len(self.trades) + self.frame_rows >= self.flush_rows:
            self.flush()

    def add_frame(self, frame: pd.DataFrame) -> None:
        """Add parsed rows already in columns (every one of ``columns``, as the parser
        gives them): a bulk loader's path that builds no object per row."""
        self.frames.append(frame[list(self.columns)])
        self.frame_rows += len(frame)
        if len(self.trades) + self.frame_rows >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        parts = [f for f in (_frame(self.trades, self.columns), *self.frames) if len(f)]
        tdf = pd.concat(parts, ignore_index=True) if parts else _frame([], self.columns)
        if len(tdf):
            tdf["partition_day"] = pd.to_datetime(tdf["timestamp"], unit="s", utc=True).dt.date
            tdf = tdf[tdf["partition_day"].isin(self.day_set)].copy()
            tdf["ingested_at"] = self.now
            if len(tdf):
                rows = tdf[[*self.columns, "partition_day", "ingested_at"]]
                if self.cur is None:  # staged: each batch committed to the scratch table
                    with self.wh.transaction() as cur:
                        self.wh._load(cur, self.table, rows)
                else:
                    self.wh._load(self.cur, self.table, rows)
        rdf = self.wh._reject_frame(
            self.rejects, self.source, self.now,
            lambda r: day_of(r.timestamp).isoformat() if r.timestamp and day_of(r.timestamp) in self.day_set
            else self.first_key)
        if len(rdf):
            if self.cur is None:  # written with the partitions, in the final transaction
                self.held_rejects.append(rdf)
            else:
                self.wh._load(self.cur, f"{RAW_SCHEMA}.rejects", rdf, on_conflict_ignore=True)
        self.counts["trades"] += len(tdf)
        self.counts["rejects"] += len(rdf)  # may include repeats the table ignores
        self.trades, self.rejects, self.frames, self.frame_rows = [], [], [], 0


class DuckDBWarehouse(Warehouse):
    backend = "duckdb"
    # DuckDB keeps a transaction's appends in memory until it commits: stage them instead.
    stages_partition_writes = True

    def __init__(self, path: str, limits: DuckDBLimits | None = None):
        self.path = str(path)
        self.limits = limits or duckdb_limits(self.path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    def _connect(self):
        import duckdb

        con = duckdb.connect(self.path, config=self.limits.connect_config())
        con.execute("begin transaction")
        return _DuckConn(con)

    def _param(self) -> str:
        return "?"

    def _load(self, cur, table, df, on_conflict_ignore=False):
        con = cur.con
        con.register("_polycopy_load", df)
        try:
            cols = ", ".join(df.columns)
            verb = "insert or ignore into" if on_conflict_ignore else "insert into"
            con.execute(f"{verb} {table} ({cols}) select {cols} from _polycopy_load")
        finally:
            con.unregister("_polycopy_load")


class _DuckConn:
    """DuckDB connection with the DB-API commit/rollback/cursor shape used above."""

    def __init__(self, con):
        self.con = con

    def cursor(self):
        return self

    def execute(self, sql, params=None):
        self.con.execute(sql, params or [])
        return self

    @property
    def description(self):
        return self.con.description

    def fetchall(self):
        return self.con.fetchall()

    def commit(self):
        self.con.execute("commit")

    def rollback(self):
        try:
            self.con.execute("rollback")
        except Exception:  # noqa: BLE001 - already aborted
            pass

    def close(self):
        self.con.close()


class PostgresWarehouse(Warehouse):
    backend = "postgres"

    def __init__(self, dsn: str):
        self.dsn = dsn

    def _connect(self):
        return pg_connect(self.dsn)

    def _param(self) -> str:
        return "%s"

    def _load(self, cur, table, df, on_conflict_ignore=False):
        buf = io.StringIO()
        df.to_csv(buf, index=False, header=False, na_rep="\\N")
        buf.seek(0)
        cols = ", ".join(df.columns)
        if not on_conflict_ignore:
            cur.copy_expert(f"copy {table} ({cols}) from stdin with (format csv, null '\\N')", buf)
            return
        tmp = "_polycopy_load"
        cur.execute(f"create temp table {tmp} (like {table} including defaults) on commit drop")
        cur.copy_expert(f"copy {tmp} ({cols}) from stdin with (format csv, null '\\N')", buf)
        cur.execute(f"insert into {table} ({cols}) select {cols} from {tmp} on conflict do nothing")
        cur.execute(f"drop table {tmp}")


def open_warehouse(settings: WarehouseSettings) -> Warehouse:
    """The configured warehouse, with its raw schema in place."""
    if settings.backend == "duckdb":
        wh: Warehouse = DuckDBWarehouse(settings.duckdb_path, settings.resolved_duckdb_limits())
    elif settings.backend == "postgres":
        wh = PostgresWarehouse(settings.pg_dsn)
    else:
        raise ValueError(f"unknown warehouse backend {settings.backend!r}; use 'duckdb' or 'postgres'")
    wh.ensure_schema()
    return wh
