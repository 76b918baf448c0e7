"""The ``polycopy`` code location (data plane): ingestion and dbt, assembled from ``defs``.

Copy trading lives in its own code location, ``polycopy_dagster.execution``, so that a
copy run's worker process loads only what trading needs (no dbt, no pandas): it starts
in about a second, and a problem in the data plane can never stop trading.
"""

import dagster as dg

from polycopy_dagster.defs import backtest, dbt_models, ingestion, scoring
from polycopy_dagster.defs.automation import automation_sensor
from polycopy_dagster.defs.executors import data_executor
from polycopy_dagster.defs.resources import build_data_resources

defs = dg.Definitions.merge(
    ingestion.defs,
    dbt_models.defs,
    scoring.defs,
    backtest.defs,
    # Declarative automation of this location's assets (dbt and scores after each ingest).
    # By default steps run in the run's own process: the embedded warehouse takes one writer at
    # a time, so a process per step would only add a code load (seconds) to every step of every
    # run. On PostgreSQL, POLYCOPY_EXECUTOR=celery fans steps out to Celery workers.
    dg.Definitions(sensors=[automation_sensor("polycopy_automation")], resources=build_data_resources(),
                   executor=data_executor()),
)
