"""One internal schema for Polymarket records, whatever shape the API served.

Data API v1 records are camelCase (``proxyWallet``, ``conditionId``, ...); the /v2
generation is snake_case (``proxy_wallet``, ``condition_id``, ``token_id``, ...).
Both parse into :class:`Trade`. A record that cannot be trusted becomes a
:class:`Rejected` with a reason — it is never silently dropped.

Units: ``size`` in shares, ``price`` in USD per share (0..1), ``usdc_size`` in USD,
``timestamp`` in unix seconds (UTC).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, fields

_WALLET_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
_TOKEN_RE = re.compile(r"^[0-9]{1,80}$")


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill by one wallet. ``trade_key`` is its identity (see :func:`trade_key`)."""

    trade_key: str
    transaction_hash: str
    proxy_wallet: str
    side: str
    token_id: str
    condition_id: str
    size: float
    price: float
    usdc_size: float
    timestamp: int
    outcome: str | None
    outcome_index: int | None
    title: str | None
    slug: str | None
    event_slug: str | None
    name: str | None
    pseudonym: str | None
    source_shape: str

    def as_row(self) -> dict:
        return asdict(self)


TRADE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Trade))


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    """A non-trade /activity row: SPLIT, MERGE, REDEEM, CONVERSION, REWARD, MAKER_REBATE, ...

    ``size`` is in shares and is None when the record carries none (/v2 SPLIT, MERGE and
    REDEEM rows give only the USD amount); ``usdc_size`` in USD; ``timestamp`` unix
    seconds. Movements of a whole condition (split, merge, redeem) have no ``token_id``.
    A wallet's TRADE rows are kept here too (``of_trade``: key = the trade key, with side
    and price), so its trades in markets the market walk never reached are not lost.
    """

    activity_key: str
    type: str
    proxy_wallet: str
    condition_id: str | None
    token_id: str | None
    outcome_index: int | None
    size: float | None
    usdc_size: float
    timestamp: int
    transaction_hash: str
    title: str | None
    slug: str | None
    event_slug: str | None
    source_shape: str
    side: str | None = None
    price: float | None = None

    def as_row(self) -> dict:
        return asdict(self)

    @staticmethod
    def of_trade(t: Trade) -> "ActivityEvent":
        return ActivityEvent(t.trade_key, "TRADE", t.proxy_wallet, t.condition_id, t.token_id, t.outcome_index,
                             t.size, t.usdc_size, t.timestamp, t.transaction_hash, t.title, t.slug, t.event_slug,
                             t.source_shape, t.side, t.price)


ACTIVITY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ActivityEvent))
# Movements that concern a market's shares: they need the market's condition id.
POSITION_ACTIVITY = frozenset({"SPLIT", "MERGE", "REDEEM", "CONVERSION"})
_TYPE_RE = re.compile(r"^[A-Z][A-Z_]{1,40}$")


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record kept aside: where it came from, why, and the record itself."""

    reject_key: str
    source: str
    reason: str
    payload: str
    timestamp: int | None

    @staticmethod
    def of(source: str, reason: str, record) -> "Rejected":
        payload = canonical_json(record)
        ts = record.get("timestamp") if isinstance(record, dict) else None
        ts = ts if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0 else None
        key = hashlib.sha256(f"{source}|{payload}".encode()).hexdigest()[:32]
        return Rejected(key, source, reason, payload, ts)


class RecordError(ValueError):
    """A record field is missing or invalid; the message is the reject reason."""


def canonical_json(record) -> str:
    try:
        return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return json.dumps(repr(record))


def trade_key(transaction_hash: str, proxy_wallet: str, token_id: str, side: str,
              size: float, price: float) -> str:
    """Identity of a fill.

    One transaction can hold several fills, so the transaction hash alone is not a
    key; a fill is the wallet, token, side, size and price within a transaction.
    Exact repeats of a record (feed duplicates) therefore collapse to one trade.
    """
    raw = f"{transaction_hash.lower()}|{proxy_wallet.lower()}|{token_id}|{side}|{size:.6f}|{price:.6f}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


# ---- field helpers -------------------------------------------------------------------
def _get(rec: dict, *names):
    for n in names:
        if n in rec and rec[n] is not None:
            return rec[n]
    return None


def _required(rec: dict, *names):
    v = _get(rec, *names)
    if v is None or v == "":
        raise RecordError(f"missing {names[0]}")
    return v


def _number(rec: dict, *names) -> float:
    v = _required(rec, *names)
    if isinstance(v, bool):
        raise RecordError(f"{names[0]} is not a number: {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise RecordError(f"{names[0]} is not a number: {v!r}") from None
    if not math.isfinite(x):
        raise RecordError(f"{names[0]} is not finite: {v!r}")
    return x


def _int_field(rec: dict, *names) -> int:
    v = _required(rec, *names)
    if isinstance(v, bool):
        raise RecordError(f"{names[0]} is not an integer: {v!r}")
    try:
        x = int(v) if not isinstance(v, float) or v.is_integer() else None
    except (TypeError, ValueError):
        x = None
    if x is None:
        raise RecordError(f"{names[0]} is not an integer: {v!r}")
    return x


def _opt_str(rec: dict, *names) -> str | None:
    v = _get(rec, *names)
    return None if v is None else str(v)


def _wallet(rec: dict, *names) -> str:
    v = str(_required(rec, *names))
    if not _WALLET_RE.match(v):
        raise RecordError(f"{names[0]} is not a wallet address: {v!r}")
    return v.lower()


def _tx_hash(rec: dict, *names) -> str:
    v = str(_required(rec, *names))
    if not _HASH_RE.match(v):
        raise RecordError(f"{names[0]} is not a transaction hash: {v!r}")
    return v.lower()


def record_shape(rec: dict) -> str:
    """'v2' for snake_case records, 'v1' for camelCase ones."""
    return "v2" if ("proxy_wallet" in rec or "condition_id" in rec or "token_id" in rec) else "v1"


def parse_trade(rec) -> Trade:
    """Parse a v1 or v2 trade record; raise :class:`RecordError` with the reason."""
    if not isinstance(rec, dict):
        raise RecordError(f"record is not an object: {type(rec).__name__}")
    shape = record_shape(rec)
    wallet = _wallet(rec, "proxyWallet", "proxy_wallet")
    side = str(_required(rec, "side")).upper()
    if side not in ("BUY", "SELL"):
        raise RecordError(f"side must be BUY or SELL, got {side!r}")
    token = str(_required(rec, "asset", "token_id"))
    if not _TOKEN_RE.match(token):
        raise RecordError(f"asset is not a token id: {token!r}")
    cid = str(_required(rec, "conditionId", "condition_id"))
    if not _HASH_RE.match(cid):
        raise RecordError(f"conditionId is not a condition id: {cid!r}")
    size = _number(rec, "size")
    if size <= 0:
        raise RecordError(f"size must be positive, got {size!r}")
    price = _number(rec, "price")
    if not 0.0 <= price <= 1.0:
        raise RecordError(f"price must be within [0, 1], got {price!r}")
    ts = _int_field(rec, "timestamp")
    if ts <= 0:
        raise RecordError(f"timestamp must be positive, got {ts!r}")
    tx = _tx_hash(rec, "transactionHash", "transaction_hash")
    oi = _get(rec, "outcomeIndex", "outcome_index")
    try:
        outcome_index = None if oi is None else int(oi)
    except (TypeError, ValueError):
        raise RecordError(f"outcomeIndex is not an integer: {oi!r}") from None
    usdc = _get(rec, "usdcSize", "usdc_size")
    try:
        usdc_size = float(usdc) if usdc is not None else size * price
    except (TypeError, ValueError):
        usdc_size = size * price
    return Trade(
        trade_key=trade_key(tx, wallet, token, side, size, price),
        transaction_hash=tx,
        proxy_wallet=wallet,
        side=side,
        token_id=token,
        condition_id=cid.lower(),
        size=size,
        price=price,
        usdc_size=usdc_size,
        timestamp=ts,
        outcome=_opt_str(rec, "outcome"),
        outcome_index=outcome_index,
        title=_opt_str(rec, "title"),
        slug=_opt_str(rec, "slug"),
        event_slug=_opt_str(rec, "eventSlug", "event_slug"),
        name=_opt_str(rec, "name"),
        pseudonym=_opt_str(rec, "pseudonym"),
        source_shape=shape,
    )


def parse_activity(rec) -> Trade | ActivityEvent:
    """Parse an /activity row (v1 camelCase or /v2 snake_case): TRADE rows become trades,
    other types activity events; raise :class:`RecordError` with the reason."""
    if not isinstance(rec, dict):
        raise RecordError(f"record is not an object: {type(rec).__name__}")
    kind = str(rec.get("type") or "TRADE").upper()
    if kind == "TRADE":
        return parse_trade(rec)
    if not _TYPE_RE.match(kind):
        raise RecordError(f"type is not an activity type: {rec.get('type')!r}")
    shape = record_shape(rec)
    wallet = _wallet(rec, "proxyWallet", "proxy_wallet")
    ts = _int_field(rec, "timestamp")
    if ts <= 0:
        raise RecordError(f"timestamp must be positive, got {ts!r}")
    tx = _tx_hash(rec, "transactionHash", "transaction_hash")
    usdc = _number(rec, "usdcSize", "usdc_size")
    if usdc < 0:
        raise RecordError(f"usdcSize must not be negative, got {usdc!r}")
    size = None
    if _get(rec, "size") not in (None, ""):
        size = _number(rec, "size")
        if size < 0:
            raise RecordError(f"size must not be negative, got {size!r}")
    cid = _opt_str(rec, "conditionId", "condition_id") or None
    if cid is not None and not _HASH_RE.match(cid):
        raise RecordError(f"conditionId is not a condition id: {cid!r}")
    if cid is None and kind in POSITION_ACTIVITY:
        raise RecordError(f"missing conditionId on a {kind}")
    token = _opt_str(rec, "asset", "token_id") or None
    if token is not None and not _TOKEN_RE.match(token):
        raise RecordError(f"asset is not a token id: {token!r}")
    oi = _get(rec, "outcomeIndex", "outcome_index")
    try:
        outcome_index = None if oi is None or int(oi) == 999 else int(oi)
    except (TypeError, ValueError):
        raise RecordError(f"outcomeIndex is not an integer: {oi!r}") from None
    cid = cid.lower() if cid else None
    raw = f"{kind}|{tx}|{wallet}|{cid}|{token}|{'' if size is None else f'{size:.6f}'}|{usdc:.6f}"
    return ActivityEvent(
        activity_key=hashlib.sha256(raw.encode()).hexdigest()[:32], type=kind, proxy_wallet=wallet,
        condition_id=cid, token_id=token, outcome_index=outcome_index, size=size, usdc_size=usdc, timestamp=ts,
        transaction_hash=tx, title=_opt_str(rec, "title") or None, slug=_opt_str(rec, "slug") or None,
        event_slug=_opt_str(rec, "eventSlug", "event_slug") or None, source_shape=shape)


def parse_or_keep_aside(rec, parse, source: str, rejects: dict):
    """``parse(rec)``; or None, with the record kept aside in ``rejects`` (by reject key)
    with the reason it was refused."""
    try:
        return parse(rec)
    except RecordError as exc:
        r = Rejected.of(source, str(exc), rec)
        rejects.setdefault(r.reject_key, r)
        return None


def parse_trades(records, source: str) -> tuple[list[Trade], list[Rejected]]:
    """Parse many records; duplicates collapse on ``trade_key``; bad ones are rejected."""
    trades: dict[str, Trade] = {}
    rejects: dict[str, Rejected] = {}
    for rec in records:
        t = parse_or_keep_aside(rec, parse_trade, source, rejects)
        if t is not None:
            trades.setdefault(t.trade_key, t)
    return list(trades.values()), list(rejects.values())
