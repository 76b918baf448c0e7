"""The polycopy code location: Definitions assembled from the ``defs`` package."""


import dagster as dg

from polycopy_dagster.defs import copy_trading, dbt_models, ingestion
from polycopy_dagster.defs.resources import build_resources

defs = dg.Definitions.merge(
    ingestion.defs,
    dbt_models.defs,
    copy_trading.defs,
    dg.Definitions(resources=build_resources()),
)
