"""Gamma market records: parsing and resolution.

Gamma encodes ``outcomes``, ``outcomePrices``, ``clobTokenIds`` and
``umaResolutionStatuses`` as JSON strings; ``volume`` and ``liquidity`` as numeric
strings. Protocol-V2 markets (``version: "v2"``) carry a plain ``positionIds`` array
instead of ``clobTokenIds``. A market is resolved when it is closed and its
``umaResolutionStatus`` is ``"resolved"``; the winner is the outcome whose price is
"1", and ``["0.5", "0.5"]`` is a void (50-50) resolution. Winners are keyed by
token id, never by outcome label.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone

from polycopy.polymarket.categories import Tag, category_of, parse_tags
from polycopy.polymarket.schema import RecordError, _HASH_RE, _TOKEN_RE


@dataclass(frozen=True, slots=True)
class Market:
    condition_id: str
    market_id: str
    question: str | None
    slug: str | None
    category: str | None
    event_slug: str | None
    start_ts: int | None
    end_ts: int | None
    closed: bool
    closed_ts: int | None
    uma_resolution_status: str | None
    outcomes: str  # JSON array of labels
    outcome_prices: str  # JSON array of decimal strings
    token_ids: str  # JSON array of token ids, in outcome order
    protocol_version: str
    neg_risk: bool
    tick_size: float | None
    min_order_size: float | None
    liquidity: float | None
    volume: float | None
    # Gamma's own `category` field (most real markets have none); `category` above is the
    # taxonomy's reading of the tags (see polycopy.polymarket.categories).
    gamma_category: str | None = None
    category_tag: str | None = None
    tags: str = "[]"  # JSON array of [tag_id, slug, label, source], in the order served

    def as_row(self) -> dict:
        return asdict(self)

    @property
    def tag_list(self) -> list[Tag]:
        return [Tag(*t) for t in json.loads(self.tags)]

    @property
    def tokens(self) -> list[str]:
        return json.loads(self.token_ids)

    @property
    def prices(self) -> list[str]:
        return json.loads(self.outcome_prices)


MARKET_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Market))


@dataclass(frozen=True, slots=True)
class Resolution:
    """Final outcome of a market. ``payout`` per token in USD per share (1, 0 or 0.5)."""

    condition_id: str
    token_id: str
    outcome_index: int
    outcome: str | None
    payout: float
    is_winner: bool
    is_void: bool
    resolved_ts: int
    early: bool

    def as_row(self) -> dict:
        return asdict(self)


RESOLUTION_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Resolution))


def _json_list(rec: dict, name: str, required: bool = True) -> list:
    v = rec.get(name)
    if v is None or v == "":
        if required:
            raise RecordError(f"missing {name}")
        return []
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            raise RecordError(f"{name} is not a JSON-encoded list: {v[:60]!r}") from None
    if not isinstance(v, list):
        raise RecordError(f"{name} is not a list")
    return v


def _float_or_none(v) -> float | None:
    try:
        return None if v is None or v == "" else float(v)
    except (TypeError, ValueError):
        return None


def parse_time(v) -> int | None:
    """Gamma timestamps: ISO 8601 (``...Z``) or ``'2025-03-28 04:34:20+00'``."""
    if v is None or v == "":
        return None
    s = str(v).strip().replace("Z", "+00:00")
    if s.endswith("+00") and not s.endswith(":00+00"):
        s = s + ":00"
    elif len(s) > 3 and s[-3] in "+-" and s[-3:].lstrip("+-").isdigit():
        s = s + ":00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise RecordError(f"unparseable time {v!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def parse_market(rec, event_tags: list | None = None) -> Market:
    """Parse a Gamma market record; raise :class:`RecordError` with the reason.

    ``event_tags``: the tags of the market's event, when read from /events (market
    records embed their events without tags)."""
    if not isinstance(rec, dict):
        raise RecordError("record is not an object")
    cid = str(rec.get("conditionId") or "")
    if not _HASH_RE.match(cid):
        raise RecordError(f"conditionId is not a condition id: {cid!r}")
    version = str(rec.get("version") or "v1")
    if rec.get("positionIds") is not None:
        tokens = _json_list(rec, "positionIds")
    else:
        tokens = _json_list(rec, "clobTokenIds")
    tokens = [str(t) for t in tokens]
    outcomes = _json_list(rec, "outcomes")
    prices = _json_list(rec, "outcomePrices", required=False)
    if len(tokens) != len(outcomes) or len(tokens) < 2:
        raise RecordError(f"{len(outcomes)} outcomes but {len(tokens)} token ids")
    if any(not _TOKEN_RE.match(t) for t in tokens):
        raise RecordError("token id is not numeric")
    if prices and len(prices) != len(tokens):
        raise RecordError(f"{len(prices)} outcome prices for {len(tokens)} outcomes")
    closed = bool(rec.get("closed"))
    events = rec.get("events") or []
    event_slug = events[0].get("slug") if events and isinstance(events[0], dict) else rec.get("eventSlug")
    tags = parse_tags(rec, event_tags)
    gamma_category = rec.get("category") or None
    category, category_tag = category_of(tags, gamma_category)
    return Market(
        condition_id=cid.lower(),
        market_id=str(rec.get("id") or ""),
        question=rec.get("question"),
        slug=rec.get("slug"),
        category=category,
        event_slug=event_slug,
        start_ts=parse_time(rec.get("startDate") or rec.get("createdAt")),
        end_ts=parse_time(rec.get("endDate")),
        closed=closed,
        closed_ts=parse_time(rec.get("closedTime")) if closed else None,
        uma_resolution_status=rec.get("umaResolutionStatus") or None,
        outcomes=json.dumps([str(o) for o in outcomes]),
        outcome_prices=json.dumps([str(p) for p in prices]),
        token_ids=json.dumps(tokens),
        protocol_version=version,
        neg_risk=bool(rec.get("negRisk")),
        tick_size=_float_or_none(rec.get("orderPriceMinTickSize")),
        min_order_size=_float_or_none(rec.get("orderMinSize")),
        liquidity=_float_or_none(rec.get("liquidity") if rec.get("liquidity") is not None else rec.get("liquidityNum")),
        volume=_float_or_none(rec.get("volume") if rec.get("volume") is not None else rec.get("volumeNum")),
        gamma_category=None if gamma_category is None else str(gamma_category),
        category_tag=category_tag,
        tags=json.dumps([[t.tag_id, t.slug, t.label, t.source] for t in tags]),
    )


def resolve_market(m: Market) -> list[Resolution] | None:
    """Resolution rows (one per token) for a finally resolved market, else None.

    Raises :class:`RecordError` when a market claims to be resolved but its outcome
    prices name neither a single winner nor a void.
    """
    if not m.closed or (m.uma_resolution_status or "").lower() != "resolved":
        return None
    if m.closed_ts is None:
        raise RecordError("resolved market has no closedTime")
    try:
        prices = [float(p) for p in m.prices]
    except ValueError:
        raise RecordError(f"outcome prices are not numbers: {m.outcome_prices}") from None
    tokens = m.tokens
    labels = json.loads(m.outcomes)
    void = all(abs(p - 0.5) < 1e-9 for p in prices) and len(prices) == 2
    winners = [i for i, p in enumerate(prices) if abs(p - 1.0) < 1e-9]
    if not void and (len(winners) != 1 or any(abs(p) > 1e-9 for i, p in enumerate(prices) if i != winners[0])):
        raise RecordError(f"resolved market has no single winner: outcomePrices={m.outcome_prices}")
    early = m.end_ts is not None and m.closed_ts < m.end_ts - 3600
    return [
        Resolution(
            condition_id=m.condition_id,
            token_id=tok,
            outcome_index=i,
            outcome=labels[i] if i < len(labels) else None,
            payout=0.5 if void else (1.0 if i == winners[0] else 0.0),
            is_winner=(not void) and i == winners[0],
            is_void=void,
            resolved_ts=m.closed_ts,
            early=early,
        )
        for i, tok in enumerate(tokens)
    ]
