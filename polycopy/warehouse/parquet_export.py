"""The raw tables of a DuckDB warehouse as Parquet folders, one per table: the landing zone
an engine for histories beyond one machine (Spark, through the dbt target ``spark``) reads.

    dbt run-operation register_raw_parquet --args '{path: <dir>}' --target spark
"""

from __future__ import annotations

from pathlib import Path

RAW_TABLES = ("trades", "markets", "market_tokens", "market_tags", "market_resolutions", "activity", "rejects")


def export_raw_parquet(warehouse, directory: str | Path) -> dict[str, int]:
    """Write each raw table of the DuckDB ``warehouse`` to ``<directory>/<table>/`` as
    Parquet (replacing what is there); returns the rows written per table."""
    if warehouse.backend != "duckdb":
        raise ValueError("export_raw_parquet reads a DuckDB warehouse")
    out = Path(directory).resolve()
    counts = {}
    with warehouse.transaction() as cur:
        for table in RAW_TABLES:
            target = out / table
            target.mkdir(parents=True, exist_ok=True)
            for old in target.glob("*.parquet"):
                old.unlink()
            # One file, written even for an empty table: its schema is what Spark reads.
            cur.execute(f"copy raw.{table} to '{target / 'part-0.parquet'}' (format parquet)")
            cur.execute(f"select count(*) from raw.{table}")
            counts[table] = int(cur.fetchall()[0][0])
    return counts
