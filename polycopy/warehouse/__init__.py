"""The analytical warehouse: raw tables written by ingestion, read by dbt.

Two backends behind one interface — an embedded DuckDB file (the default) and
PostgreSQL — chosen by configuration. Writes replace whole day partitions inside
one transaction, so re-materialising a partition never duplicates a row.
"""

from polycopy.warehouse.base import Warehouse, WarehouseSettings, open_warehouse

__all__ = ["Warehouse", "WarehouseSettings", "open_warehouse"]
