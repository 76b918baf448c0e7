"""How assets describe themselves in the Dagster UI: owners and tags, numbers rounded to
what they mean, and tables instead of JSON blobs.

Plain Python only (no pandas): the light execution location uses it too.
"""

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg

# Who answers for what: the data platform for ingestion and dbt, research for the scoring,
# trading for the copy chain.
DATA_OWNERS = ["team:data-platform"]
RESEARCH_OWNERS = ["team:research"]
TRADING_OWNERS = ["team:trading"]


def tags(domain: str, **more: str) -> dict[str, str]:
    """Asset tags: the pipeline domain (ingestion, dbt, scoring, evaluation, trading) and any extra."""
    return {"domain": domain, **more}


# The evaluation assets (measured on simulated worlds, run only when asked).
EVALUATION_ASSET = {"group_name": "evaluation", "owners": RESEARCH_OWNERS, "tags": tags("evaluation")}


def rounded(x: float | None, digits: int = 4) -> float | None:
    """``x`` rounded to ``digits`` decimals; None (and NaN) stay None so nothing is invented."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else round(x, digits)


def _cell(v: Any, digits: int) -> str | int | float | bool | None:
    if v is None:
        return None
    if hasattr(v, "isoformat"):  # dates and timestamps
        return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        v = v.item()
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return rounded(v, digits)
    if isinstance(v, (list, tuple, set)):
        return ", ".join(str(x) for x in v)
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={_cell(x, digits)}" for k, x in v.items())
    return str(v)


_TYPES = {bool: "bool", int: "int", float: "float"}


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None, *, digits: int = 4,
          column_digits: Mapping[str, int] | None = None,
          descriptions: Mapping[str, str] | None = None) -> dg.TableMetadataValue:
    """A typed table for asset metadata: each cell rounded (``digits`` decimals, or the column's
    own in ``column_digits``), lists joined, dates ISO; the schema lists the columns in order."""
    rows = [dict(r) for r in rows]
    columns = list(columns or (rows[0].keys() if rows else []))
    column_digits = column_digits or {}
    descriptions = descriptions or {}
    records = [{c: _cell(r.get(c), column_digits.get(c, digits)) for c in columns} for r in rows]
    schema_cols = []
    for c in columns:
        kinds = {type(rec[c]) for rec in records if rec[c] is not None}
        kind = _TYPES.get(kinds.pop(), "string") if len(kinds) == 1 else ("float" if kinds <= {int, float}
                                                                           and kinds else "string")
        schema_cols.append(dg.TableColumn(c, kind, description=descriptions.get(c)))
    return dg.MetadataValue.table([dg.TableRecord(rec) for rec in records], dg.TableSchema(columns=schema_cols))


def counts_table(counts: Mapping[str, int], key: str, value: str = "wallets") -> dg.TableMetadataValue:
    """A two-column table of counts, largest first (e.g. red flag → wallets)."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return table([{key: k, value: int(v)} for k, v in items], [key, value])


def loads(text: str | None) -> Any:
    """JSON text from the ledger or the warehouse as Python (empty → {})."""
    return json.loads(text) if text else {}
