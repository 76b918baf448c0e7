"""The ``polycopy`` code location (data plane): ingestion and dbt, assembled from ``defs``.

Copy trading lives in its own code location, ``polycopy_dagster.execution``, so that a
copy run's worker process loads only what trading needs (no dbt, no pandas): it starts
in about a second, and a problem in the data plane can never stop trading.
"""

import dagster as dg

from polycopy_dagster.defs import dbt_models, ingestion, scoring
from polycopy_dagster.defs.resources import build_data_resources

defs = dg.Definitions.merge(
    ingestion.defs,
    dbt_models.defs,
    scoring.defs,
    dg.Definitions(resources=build_data_resources()),
)
