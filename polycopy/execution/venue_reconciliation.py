"""The ledger against the venue's own records: positions, open orders, trades and cash.

Live trading keeps two books of the same account: the ledger (what polycopy decided,
sent and was told) and the venue (what the exchange holds). They must agree; anything
else — a fill the ledger missed, an order sent by hand, pUSD moved outside polycopy —
is a difference reported with both sides, and stops new orders until a person looks.

- **positions**: each outcome token's shares in the ledger's fills against the wallet's
  balance at the venue;
- **trades**: each of the account's trades belongs to an order the ledger sent (by the
  venue id saved before sending), and each order's filled shares equal its trades';
- **open orders**: the venue holds none the ledger does not know (copies never rest);
- **pending**: no order is left pending in the ledger longer than ``in_flight_s``;
- **cash**: the wallet's pUSD moved since the baseline exactly as the ledger's fills say.
  The baseline is the first reconciliation's snapshot, or one a person accepts after
  moving money (``accept_cash``).

Orders younger than ``in_flight_s`` are being sent by a run right now: their tokens and
the cash are not judged until they settle.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    """One disagreement: what (``kind``), which (``key``), each side's value, and why it matters."""

    kind: str  # position | trade | fills | open_order | pending | cash
    key: str
    ledger: str
    venue: str
    note: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "key": self.key, "ledger": self.ledger, "venue": self.venue, "note": self.note}


@dataclass(frozen=True)
class VenueReconciliation:
    """The comparison. ``matches`` when nothing differs."""

    wallet: str
    differences: tuple[Difference, ...]
    in_flight: tuple[str, ...]
    tokens_compared: int
    trades_at_venue: int
    open_orders_at_venue: int
    collateral_usd: float
    expected_collateral_usd: float | None  # None: this run took the baseline, or orders are in flight

    @property
    def matches(self) -> bool:
        return not self.differences


def reconcile_with_venue(ledger, venue, *, in_flight_s: float = 60.0, share_tolerance: float = 1e-4,
                         usd_tolerance: float = 0.01, accept_cash: str = "", now: float | None = None
                         ) -> VenueReconciliation:
    """Compare the ledger with a live venue (``LiveVenue``). Shares in shares, cash in USD.
    ``accept_cash`` (a reason) takes the venue's balance now as the new cash baseline."""
    now = ledger.clock() if now is None else now
    diffs: list[Difference] = []
    held: dict[str, float] = defaultdict(float)
    filled: dict[str, float] = defaultdict(float)  # shares per order
    for f in ledger.fills():
        held[f["token_id"]] += f["shares"] if f["side"] == "BUY" else -f["shares"]
        filled[f["order_id"]] += f["shares"]
    by_vid = {o["venue_order_id"]: o for o in ledger.orders() if o.get("venue_order_id")}
    pending = ledger.pending_orders()
    in_flight = []
    busy_tokens = set()
    for o in pending:
        age = now - float(o["created_at"])
        if age < in_flight_s:
            in_flight.append(o["order_id"])
            busy_tokens.add(o["token_id"])
        else:
            diffs.append(Difference("pending", o["order_id"], f"pending for {age:.0f} s", "-",
                                    "left pending by a run that died: the reconcile_orders job settles it from the "
                                    "venue's record"))
    trades = venue.account_trades()
    by_order: dict[str, float] = defaultdict(float)
    for t in trades:
        oid = t.taker_order_id if t.trader_side == "TAKER" else next(
            (m.order_id for m in t.maker_orders), "")
        by_order[oid] += float(t.size)
        if oid not in by_vid:
            diffs.append(Difference("trade", t.id, "-", f"{t.side} {float(t.size):g} @ {float(t.price):g} "
                                    f"({t.trader_side.lower()})", "a trade at the venue that no order of the ledger "
                                    "made (an order sent outside polycopy, or one the ledger lost)"))
    for vid, o in by_vid.items():
        if o["status"] == "pending" or o["order_id"] in in_flight:
            continue
        recorded = filled[o["order_id"]]
        if abs(recorded - by_order.get(vid, 0.0)) > share_tolerance:
            diffs.append(Difference("fills", o["order_id"], f"{recorded:g} shares", f"{by_order.get(vid, 0.0):g} shares",
                                    "the order's fills in the ledger are not its trades at the venue"))
    tokens = (set(held) | {t.asset_id for t in trades}) - busy_tokens
    for token in sorted(tokens):
        at_venue = venue.position_shares(token)
        if abs(at_venue - held.get(token, 0.0)) > share_tolerance:
            diffs.append(Difference("position", token, f"{held.get(token, 0.0):g} shares", f"{at_venue:g} shares",
                                    "the wallet does not hold what the ledger's fills say"))
    open_at_venue = venue.open_orders()
    pending_vids = {o["venue_order_id"] for o in pending if o.get("venue_order_id")}
    for oo in open_at_venue:
        if oo.id not in pending_vids:
            diffs.append(Difference("open_order", oo.id, "-", f"{oo.side} {float(oo.original_size):g} @ "
                                    f"{float(oo.price):g}", "an order resting at the venue that the ledger did not "
                                    "send"))
    collateral = venue.collateral_usd()
    flow = ledger.cash_flow_usd()
    baseline = ledger.venue_baseline(venue.wallet)
    expected = None
    if baseline is None or accept_cash:
        ledger.record_venue_snapshot(venue.name, venue.wallet, collateral, flow, True,
                                     accept_cash or "the first reconciliation with this wallet")
    elif not in_flight:
        expected = float(baseline["collateral_usd"]) + flow - float(baseline["ledger_cash_flow_usd"])
        if abs(collateral - expected) > usd_tolerance:
            diffs.append(Difference("cash", venue.wallet, f"{expected:,.2f} pUSD expected", f"{collateral:,.2f} pUSD",
                                    "pUSD moved outside polycopy (a deposit, a withdrawal, a trade it does not "
                                    "know); once explained, accept it with `polycopy reconcile --accept-cash REASON`"))
        ledger.record_venue_snapshot(venue.name, venue.wallet, collateral, flow, False, "reconciliation")
    return VenueReconciliation(venue.wallet, tuple(diffs), tuple(in_flight), len(tokens), len(trades),
                               len(open_at_venue), collateral, expected)
