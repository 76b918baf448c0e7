"""When to sell a copied position: the exit rules of 001, 002 §5.3 and 004 item 10, and the
one order in which they take precedence. Pure functions of what the caller observed.

Prices are USD/share; fractions are of the position (what to sell) or of our average
cost (stop and target); times are unix seconds.

Precedence, first that fires decides (documented in the README):
1. ``stop_loss`` — the hard limit on a loss comes first;
2. ``source_removed`` — the wallet behind the position was quarantined or excluded: the
   reason we hold it is gone;
3. ``time_exit`` — too close to the market's end (oracle and settlement risk);
4. ``trailing_stop`` — a winner gave back 2.5 ATR from its high;
5. ``take_profit`` — the target was reached;
6. ``mirror`` — the source wallet sold part or all of its position.
Every rule but the mirror sells the whole position, so a full exit always wins over a
partial mirror; among full exits the order only names the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polycopy.trading.settings import ExitSettings

DAY = 86_400
HOUR = 3_600
PRECEDENCE = ("stop_loss", "source_removed", "time_exit", "trailing_stop", "take_profit", "mirror")
RESOLVED = "resolved"  # a position closed by settlement, not by a rule


@dataclass(frozen=True)
class PositionView:
    """One open position as the exit rules see it."""

    position_id: str
    token_id: str
    condition_id: str
    shares: float
    avg_cost: float  # USD/share, buy fees included
    opened_at: float
    mark: float | None = None  # USD/share now (midpoint)
    end_ts: float | None = None  # the market's scheduled end (unix s)
    high_water: float | None = None  # highest price since entry
    trail_stop: float | None = None  # the trailing stop as it stood before this pass
    atr: float | None = None  # ATR of the token's daily range (USD/share)
    source_wallets: dict = field(default_factory=dict)  # wallet -> fraction of the shares bought on its signals
    removed_wallets: dict = field(default_factory=dict)  # wallet -> why it is no longer followed


@dataclass(frozen=True)
class SourceExit:
    """A source wallet's sale: the fraction of its position in the token that it sold."""

    wallet: str
    sold_shares: float
    remaining_shares: float | None  # what it still holds after the sale; None: unknown (sold it all)

    @property
    def fraction(self) -> float:
        """sold / (sold + remaining): 1 when the remaining holding is unknown or zero."""
        if self.remaining_shares is None or self.sold_shares <= 0:
            return 1.0 if self.sold_shares > 0 else 0.0
        return min(1.0, self.sold_shares / (self.sold_shares + max(self.remaining_shares, 0.0)))


@dataclass(frozen=True)
class ExitTrigger:
    rule: str
    fraction: float  # of the position to sell (1 = all of it)
    reason: str
    values: dict = field(default_factory=dict)


def daily_ranges(history: dict, before_ts: float | None = None) -> list[tuple[float, float, float]]:
    """(high, low, close) of each UTC day with prices in ``history`` ({unix s: price}), oldest
    first; only days that ended by ``before_ts`` when it is given (a day's range is known at its end)."""
    days: dict[int, list[float]] = {}
    for ts, p in sorted(history.items()):
        d = int(ts) // DAY
        if before_ts is not None and (d + 1) * DAY > before_ts:
            continue
        days.setdefault(d, []).append(float(p))
    return [(max(ps), min(ps), ps[-1]) for _, ps in sorted(days.items())]


def average_true_range(days: list[tuple[float, float, float]], window: int = 14, min_days: int = 1) -> float | None:
    """Wilder's ATR over daily (high, low, close), the value after the last day.

    True range = max(high − low, |high − previous close|, |low − previous close|) (the first
    day: high − low). The first ``window`` ranges are averaged; each later one enters as
    ATR = (ATR × (window − 1) + TR) / window. With fewer than ``window`` days the mean of the
    ranges there are; fewer than ``min_days``: None (no evidence of a range).
    """
    if len(days) < max(min_days, 1):
        return None
    tr = []
    prev_close = None
    for high, low, close in days:
        r = high - low
        if prev_close is not None:
            r = max(r, abs(high - prev_close), abs(low - prev_close))
        tr.append(r)
        prev_close = close
    if len(tr) <= window:
        return sum(tr) / len(tr)
    atr = sum(tr[:window]) / window
    for r in tr[window:]:
        atr = (atr * (window - 1) + r) / window
    return atr


def trailing_stop_level(previous: float | None, high_water: float | None, atr: float | None, avg_cost: float,
                        multiple: float) -> float | None:
    """The trailing stop after this pass: high since entry − multiple × ATR, never below where
    it stood before (it ratchets up only). Armed once the position has been a winner (its
    high above our average cost) and an ATR is known; until then None."""
    candidate = None
    if high_water is not None and atr is not None and high_water > avg_cost:
        candidate = high_water - multiple * atr
    if previous is None:
        return candidate
    return previous if candidate is None else max(previous, candidate)


def triggers(pos: PositionView, now: float, s: ExitSettings, source_exit: SourceExit | None = None
             ) -> list[ExitTrigger]:
    """Every exit rule that fires for ``pos`` now, in precedence order. ``source_exit`` is a
    sale by a source wallet being mirrored (None on a periodic pass)."""
    out: list[ExitTrigger] = []
    eps = 1e-12
    mark, cost = pos.mark, pos.avg_cost
    base = {"mark": mark, "avg_cost": cost, "shares": pos.shares}
    if s.stop_loss and mark is not None and cost > 0:
        level = cost * (1.0 - s.stop_loss_fraction)
        if mark <= level + eps:
            out.append(ExitTrigger("stop_loss", 1.0, f"mark {mark:.4f} is {mark / cost - 1:+.1%} from our cost "
                                   f"{cost:.4f} (stop at −{s.stop_loss_fraction:.0%}, {level:.4f})",
                                   dict(base, stop_price=level, return_fraction=mark / cost - 1.0)))
    if s.exit_on_source_removed and pos.source_wallets:
        gone = {w: why for w, why in pos.removed_wallets.items() if w in pos.source_wallets}
        share = sum(pos.source_wallets[w] for w in gone)
        if share >= 0.5 - eps:
            names = ", ".join(f"{w} ({why})" for w, why in sorted(gone.items()))
            out.append(ExitTrigger("source_removed", 1.0, f"the wallets behind {share:.0%} of the position are no "
                                   f"longer followed: {names}",
                                   dict(base, removed_wallets=dict(sorted(gone.items())), removed_share=share)))
    if s.time_exit and pos.end_ts is not None:
        hours = (pos.end_ts - now) / HOUR
        if hours <= s.time_exit_hours + eps:
            out.append(ExitTrigger("time_exit", 1.0, f"{hours:.1f} h to the market's end (exit "
                                   f"{s.time_exit_hours:g} h before)", dict(base, hours_to_end=hours,
                                                                            end_ts=pos.end_ts)))
    if s.trailing_stop and mark is not None:
        level = trailing_stop_level(pos.trail_stop, pos.high_water, pos.atr, cost, s.trailing_atr_multiple)
        if level is not None and level > 0 and mark <= level + eps:
            out.append(ExitTrigger("trailing_stop", 1.0, f"mark {mark:.4f} at or below the trailing stop {level:.4f} "
                                   f"(high since entry {pos.high_water:.4f} − {s.trailing_atr_multiple:g} × ATR "
                                   f"{(pos.atr or 0.0):.4f})",
                                   dict(base, high_water=pos.high_water, atr=pos.atr, stop_price=level)))
    if s.take_profit and mark is not None and cost > 0:
        level = cost * (1.0 + s.take_profit_fraction)
        if mark >= level - eps:
            out.append(ExitTrigger("take_profit", 1.0, f"mark {mark:.4f} is {mark / cost - 1:+.1%} from our cost "
                                   f"{cost:.4f} (target +{s.take_profit_fraction:.0%}, {level:.4f})",
                                   dict(base, target_price=level, return_fraction=mark / cost - 1.0)))
    if s.mirror_exits and source_exit is not None and source_exit.sold_shares > 0:
        whale_fraction = source_exit.fraction
        ours = pos.source_wallets.get(source_exit.wallet, 0.0)
        fraction = whale_fraction * ours
        values = dict(base, whale_sold_shares=source_exit.sold_shares,
                      whale_remaining_shares=source_exit.remaining_shares, whale_sold_fraction=whale_fraction,
                      source_share_of_position=ours)
        if fraction > eps:
            if fraction >= 1.0 - s.mirror_sell_all_below:
                fraction = 1.0
            out.append(ExitTrigger("mirror", fraction, f"the source wallet sold {whale_fraction:.1%} of its "
                                   f"position; it bought {ours:.0%} of ours: sell {fraction:.1%}",
                                   dict(values, fraction=fraction)))
    return out


def choose_exit(fired: list[ExitTrigger]) -> ExitTrigger | None:
    """The rule that decides when several fire: the first in :data:`PRECEDENCE`."""
    ranked = sorted(fired, key=lambda t: PRECEDENCE.index(t.rule))
    if not ranked:
        return None
    first = ranked[0]
    if len(ranked) == 1:
        return first
    also = [t.rule for t in ranked[1:]]
    return ExitTrigger(first.rule, first.fraction, first.reason, dict(first.values, also_fired=also))


def shares_to_sell(held: float, fraction: float, min_order_shares: float, step: float = 0.01) -> float:
    """Shares an exit of ``fraction`` of ``held`` sells: floored to the venue's share step; a
    remainder it would leave below the minimum order size is sold with it (it could never be
    sold alone). 0 when even the whole holding is below the minimum."""
    whole = int(held / step + 1e-9) * step
    if whole + 1e-9 < min_order_shares:
        return 0.0
    q = int(held * fraction / step + 1e-9) * step
    if whole - q < min_order_shares - 1e-9:
        q = whole
    return round(q if q + 1e-9 >= min_order_shares else 0.0, 2)
