"""The ``polycopy_execution`` code location: the follow sensor, copy_trade, exits and settlement,
and reconciliation.

Deliberately light: it imports neither dbt nor pandas, so each copy_trade run worker starts fast.
"""

import dagster as dg

from polycopy_dagster.defs import approvals, copy_trading, position_exits
from polycopy_dagster.defs.resources import build_execution_resources

defs = dg.Definitions.merge(copy_trading.defs, position_exits.defs, approvals.defs,
                            dg.Definitions(resources=build_execution_resources()))
