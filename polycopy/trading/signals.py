"""The copy decision for a whale's BUY: risk gate, stage 1 (the whale), stage 2 (the
trade and its market), stage 3 (the portfolio), sizing — in that order, stopping at the
first rejection. Every outcome carries its stage, a reason and the values behind it.

Bad inputs (missing book or market, prices outside (0, 1), NaN metrics) reject with a
reason; nothing here raises on data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from polycopy.trading.market import (comovement, daily_closes, expected_edge, ewma_volatility, pair_correlation,
                                     slippage, taker_fee_per_share, walk_asks, walk_asks_shares)
from polycopy.trading.portfolio import Portfolio
from polycopy.trading.settings import SignalSettings, SizingSettings
from polycopy.trading.sizing import SizingInputs, headroom, size_position

STAGES = ("risk", "stage1_whale", "stage2_trade", "stage3_portfolio", "sizing")  # where a BUY can be rejected


@dataclass(frozen=True)
class WhaleProfile:
    """What the scoring says of the source wallet (published with the watchlist)."""

    wallet: str
    on_watchlist: bool
    wqs: float
    win_rate: float  # Beta-Binomial posterior mean
    tier: str
    tier_max_exposure: float  # fraction of NAV
    tier_max_daily_trades: int
    excluded: bool = False  # red-flagged or a market maker


@dataclass(frozen=True)
class MarketView:
    """The market of the trade as the venue shows it now."""

    condition_id: str
    category: str
    event_slug: str
    end_ts: float | None
    liquidity_usd: float | None
    accepting_orders: bool
    asks: tuple[tuple[float, float], ...]  # (price, shares), best first
    bids: tuple[tuple[float, float], ...]
    tick_size: float
    min_order_size: float  # shares
    history: dict = field(default_factory=dict)  # ts -> price of the token bought (hourly)


@dataclass(frozen=True)
class WhaleTrade:
    wallet: str
    token_id: str
    condition_id: str
    price: float  # USD/share
    shares: float
    ts: float


@dataclass(frozen=True)
class PortfolioView:
    portfolio: Portfolio
    drawdown: float  # of the NAV peak
    halt_reasons: tuple[str, ...]
    histories: dict = field(default_factory=dict)  # held token -> {ts: price}
    wallet_copies_today: int = 0

    @cached_property
    def daily_closes(self) -> dict[str, dict[int, float]]:
        """Held token -> its daily closes; computed once however many trades are decided."""
        return {token: daily_closes(h) for token, h in self.histories.items()}


@dataclass(frozen=True)
class Decision:
    decision: str  # copy | skip
    stage: str
    reason: str
    values: dict
    shares: float = 0.0
    limit_price: float = 0.0
    usd: float = 0.0


def _bad(x) -> bool:
    return x is None or not isinstance(x, (int, float)) or not math.isfinite(x)


def _floor_to(x: float, step: float) -> float:
    return math.floor(x / step + 1e-9) * step


def _gates_before_market(trade: WhaleTrade, whale: WhaleProfile | None, followed_override: bool,
                         halt: tuple[str, ...], sig: SignalSettings, now: float, v: dict) -> Decision | None:
    """The risk gate, stage 1 and the parts of stage 2 that need no market data; None if
    the trade passes them. Records the values it reads in ``v``."""

    def skip(stage: str, reason: str) -> Decision:
        return Decision("skip", stage, reason, _clean(v))

    # Risk: nothing new while trading is halted.
    if halt:
        v["halt_reasons"] = list(halt)
        return skip("risk", "trading halted: " + "; ".join(halt))

    # Stage 1: the whale.
    if whale is None:
        return skip("stage1_whale", "the wallet has no published score (sizing needs its adjusted win rate)")
    v.update(wqs=whale.wqs, win_rate=whale.win_rate, tier=whale.tier, on_watchlist=whale.on_watchlist,
             tier_max_exposure=whale.tier_max_exposure, tier_max_daily_trades=whale.tier_max_daily_trades)
    if whale.excluded:
        return skip("stage1_whale", "the wallet is excluded by the scoring (red flags or market making)")
    if not whale.on_watchlist and not followed_override:
        return skip("stage1_whale", "the wallet is not on the watchlist")
    if _bad(whale.wqs) or _bad(whale.win_rate) or not 0.0 <= whale.win_rate <= 1.0:
        return skip("stage1_whale", f"the wallet's metrics are unusable (WQS {whale.wqs}, win rate {whale.win_rate})")
    if whale.tier_max_daily_trades <= 0 or (_bad(whale.tier_max_exposure) or whale.tier_max_exposure <= 0):
        return skip("stage1_whale", f"tier {whale.tier} allows no copies")

    # Stage 2: the trade itself.
    if _bad(trade.price) or not 0.0 < trade.price < 1.0 or _bad(trade.shares) or trade.shares <= 0:
        return skip("stage2_trade", f"the trade's price {trade.price} or size {trade.shares} is invalid")
    whale_usd = trade.price * trade.shares
    age = now - trade.ts
    v.update(whale_usd=whale_usd, age_s=age)
    if age > sig.max_trade_age_s:
        return skip("stage2_trade", f"stale: seen {age:.0f} s after the trade (max {sig.max_trade_age_s:.0f} s)")
    if whale_usd < sig.min_whale_trade_usd:
        return skip("stage2_trade", f"whale trade ${whale_usd:,.0f} below ${sig.min_whale_trade_usd:,.0f}")
    return None


def needs_market_data(trade: WhaleTrade, whale: WhaleProfile | None, followed_override: bool,
                      halt: tuple[str, ...], sig: SignalSettings, now: float) -> bool:
    """Whether the trade passes every gate that needs no market data — only then is it
    worth a round of requests to the venue."""
    return _gates_before_market(trade, whale, followed_override, halt, sig, now, {}) is None


def decide_buy(trade: WhaleTrade, whale: WhaleProfile | None, followed_override: bool, market: MarketView | None,
               pv: PortfolioView, sig: SignalSettings, siz: SizingSettings, fee_rate: float, now: float) -> Decision:
    """Run a whale's BUY through every gate and size it (see the module docstring)."""
    v: dict = {"whale_price": trade.price, "whale_shares": trade.shares}

    def skip(stage: str, reason: str) -> Decision:
        return Decision("skip", stage, reason, _clean(v))

    early = _gates_before_market(trade, whale, followed_override, pv.halt_reasons, sig, now, v)
    if early is not None:
        return early

    # Stage 2: the market.
    if market is None:
        return skip("stage2_trade", "the market is unknown to the venue")
    if not market.accepting_orders:
        return skip("stage2_trade", "the market is not accepting orders")
    if market.end_ts is None or _bad(market.end_ts):
        return skip("stage2_trade", "the market has no end date")
    days_left = (market.end_ts - now) / 86_400
    v.update(days_to_resolution=days_left, category=market.category, event_slug=market.event_slug,
             liquidity_usd=market.liquidity_usd)
    if days_left > sig.max_days_to_resolution:
        return skip("stage2_trade", f"resolves in {days_left:.0f} days (max {sig.max_days_to_resolution:.0f})")
    if days_left * 24 < sig.min_hours_to_resolution:
        return skip("stage2_trade", f"resolves in {days_left * 24:.1f} h (min {sig.min_hours_to_resolution:.0f} h)")
    if _bad(market.liquidity_usd) or market.liquidity_usd < sig.min_market_liquidity_usd:
        return skip("stage2_trade", f"market liquidity ${market.liquidity_usd} below ${sig.min_market_liquidity_usd:,.0f}")
    asks = [(p, q) for p, q in market.asks if not _bad(p) and not _bad(q) and 0.0 < p < 1.0 and q > 0]
    bids = [(p, q) for p, q in market.bids if not _bad(p) and not _bad(q) and 0.0 < p < 1.0 and q > 0]
    if len(asks) != len(market.asks) or len(bids) != len(market.bids):
        return skip("stage2_trade", "the order book has levels outside (0, 1) or non-positive sizes")
    if not asks or not bids:
        return skip("stage2_trade", f"the order book has no {'asks' if not asks else 'bids'}")
    best_ask, best_bid = asks[0][0], bids[0][0]
    spread, mid = best_ask - best_bid, (best_ask + best_bid) / 2
    v.update(best_ask=best_ask, best_bid=best_bid, spread=spread, mid=mid)
    if spread > sig.max_spread + 1e-12:
        return skip("stage2_trade", f"spread {spread:.3f} above {sig.max_spread:.3f}")
    p_blend = siz.whale_weight * whale.win_rate + (1 - siz.whale_weight) * mid
    edge_at_ask = expected_edge(p_blend, best_ask, fee_rate)
    v.update(p_blended=p_blend, edge_at_best_ask=edge_at_ask)
    if edge_at_ask < sig.min_edge:
        return skip("stage2_trade", f"estimated edge {edge_at_ask:.2%} after the taker fee below {sig.min_edge:.0%}")

    # Stage 3: the portfolio (correlation, position count, the wallet's tier allowance).
    pf = pv.portfolio
    nav = pf.nav_usd
    v.update(nav_usd=nav, drawdown=pv.drawdown)
    if _bad(nav) or nav <= 0:
        return skip("stage3_portfolio", f"NAV {nav} is not positive")
    by_market = pf.by("condition_id")
    new_market = trade.condition_id not in by_market
    if new_market and len(by_market) >= siz.max_open_positions:
        return skip("stage3_portfolio", f"{len(by_market)} open positions (max {siz.max_open_positions})")
    if pv.wallet_copies_today >= whale.tier_max_daily_trades:
        return skip("stage3_portfolio", f"{pv.wallet_copies_today} copies of this wallet today "
                                        f"(tier {whale.tier} allows {whale.tier_max_daily_trades})")
    rho, rho_with = 0.0, None
    since = now - sig.correlation_lookback_days * 86_400
    new_daily = daily_closes({t: p for t, p in market.history.items() if t >= since})
    for h in pf.holdings:
        if h.condition_id == trade.condition_id:
            continue  # adding to a market is bounded by the per-market cap, not by correlation
        price_rho = comovement(new_daily, pv.daily_closes.get(h.token_id, {}),
                               sig.correlation_shrinkage_points, sig.correlation_min_points)
        r = pair_correlation(price_rho, bool(market.event_slug) and h.event_slug == market.event_slug,
                             bool(market.category) and h.category == market.category,
                             sig.same_event_correlation, sig.same_category_correlation)
        if r > rho:
            rho, rho_with = r, h.condition_id
    v.update(correlation=rho, correlated_with=rho_with)
    if rho >= sig.max_correlation:
        return skip("stage3_portfolio", f"correlation {rho:.2f} with the open position in {rho_with} "
                                        f"(max {sig.max_correlation:.2f})")

    # Sizing.
    sigma = ewma_volatility(np.array(list(daily_closes(market.history).values())), siz.ewma_lambda)
    cost = best_ask + taker_fee_per_share(best_ask, fee_rate)
    wallet_exp = pf.by_wallet().get(trade.wallet, 0.0)
    room = headroom(nav, pf.cash_usd / (1 + fee_rate), by_market.get(trade.condition_id, 0.0),
                    pf.by("category").get(market.category, 0.0), pf.exposure_usd, wallet_exp,
                    whale.tier_max_exposure, siz)
    sized = size_position(SizingInputs(whale.win_rate, whale.wqs, mid, cost, sigma, rho, pv.drawdown,
                                       trade.price * trade.shares, market.liquidity_usd, spread), nav, room, siz)
    v.update(volatility=sigma, sizing=sized.factors, size_usd=sized.usd, binding=sized.binding)
    if sized.usd < siz.min_trade_usd:
        why = ("Kelly finds no edge worth a bet" if sized.binding == "kelly"
               else f"the {sized.binding} cap leaves ${sized.usd:,.2f}")
        return skip("sizing", f"size ${sized.usd:,.2f} below the ${siz.min_trade_usd:,.0f} minimum: {why}")

    # Stage 2 at our size: the book must fill it within the slippage allowance and keep the edge.
    fill = walk_asks(asks, sized.usd)
    if not fill.complete:
        return skip("stage2_trade", f"the book holds only ${fill.cost_usd:,.2f} of asks for a ${sized.usd:,.2f} order")
    slip = slippage(fill.avg_price, trade.price)
    edge = expected_edge(p_blend, fill.avg_price, fee_rate)
    v.update(expected_fill_price=fill.avg_price, slippage=slip, edge=edge)
    if slip >= sig.max_slippage:
        return skip("stage2_trade", f"expected slippage {slip:.2%} for our ${sized.usd:,.2f} (max {sig.max_slippage:.0%})")
    if edge < sig.min_edge:
        return skip("stage2_trade", f"edge at our fill {edge:.2%} after the taker fee below {sig.min_edge:.0%}")

    # Stage 3 after the trade: total and category exposure.
    total_after = (pf.exposure_usd + sized.usd) / nav
    cat_after = (pf.by("category").get(market.category, 0.0) + sized.usd) / nav
    v.update(total_exposure_after=total_after, category_exposure_after=cat_after)
    if total_after > sig.max_total_exposure:
        return skip("stage3_portfolio", f"total exposure after the trade {total_after:.1%} of NAV "
                                        f"(max {sig.max_total_exposure:.0%})")
    if cat_after > sig.max_category_exposure:
        return skip("stage3_portfolio", f"{market.category} exposure after the trade {cat_after:.1%} of NAV "
                                        f"(max {sig.max_category_exposure:.0%})")

    # The order: an exact number of shares, fill-or-kill, limited to the deepest level it needs.
    shares = _floor_to(sized.usd / fill.avg_price, 0.01)
    exact = walk_asks_shares(asks, shares)
    limit = max(p for p, _ in _levels_for(asks, shares))
    v.update(shares=round(shares, 2), limit_price=limit, notional_usd=exact.cost_usd)
    if shares < market.min_order_size:
        return skip("sizing", f"{shares:.2f} shares below the market's minimum order {market.min_order_size:g}")
    # Whole hundredths of a share can bring a size sitting at the minimum just under it;
    # rounding up instead could cross the cap that bound it.
    if exact.cost_usd < siz.min_trade_usd:
        return skip("sizing", f"{shares:.2f} shares cost ${exact.cost_usd:,.4f}, below the "
                              f"${siz.min_trade_usd:,.0f} minimum once rounded to the share step")
    return Decision("copy", "execution", f"copy BUY: ${exact.cost_usd:,.2f} ({exact.cost_usd / nav:.2%} of NAV)",
                    _clean(v), shares=round(shares, 2), limit_price=limit, usd=exact.cost_usd)


def _levels_for(asks, shares: float):
    left = shares
    for p, q in asks:
        if left <= 1e-9:
            break
        yield p, q
        left -= q


def _clean(v: dict) -> dict:
    """Values for the decision record: floats rounded, NaN as None."""
    out = {}
    for k, x in v.items():
        if isinstance(x, float):
            out[k] = None if not math.isfinite(x) else round(x, 6)
        elif isinstance(x, dict):
            out[k] = _clean(x)
        else:
            out[k] = x
    return out
