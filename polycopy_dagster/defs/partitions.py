"""Daily partitions (UTC) of trades and resolutions."""


import os

import dagster as dg

# First day of history to ingest; a backfill over these partitions fills the past.
HISTORY_START = os.environ.get("POLYCOPY_HISTORY_START", "2026-09-01")

daily_partitions = dg.DailyPartitionsDefinition(start_date=HISTORY_START, end_offset=1)
