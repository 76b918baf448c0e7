"""An independent check of a copy decision against every limit, written apart from the
sizing code so that a defect there cannot hide here. USD and fractions of NAV."""

from __future__ import annotations

from polycopy.trading.portfolio import Portfolio
from polycopy.trading.settings import SignalSettings, SizingSettings

EPS_USD = 1e-6


def limit_breaches(side: str, usd: float, condition_id: str, category: str, wallet: str, tier_max_exposure: float,
                   portfolio: Portfolio, halt_reasons: tuple[str, ...], sig: SignalSettings, siz: SizingSettings,
                   shares: float = 0.0, held_shares: float = 0.0) -> list[str]:
    """What a copy order of ``usd`` (BUY) or ``shares`` (SELL) would breach; empty if nothing."""
    out = []
    if halt_reasons:
        out.append("an order while trading is halted (" + "; ".join(halt_reasons) + ")")
    if side == "SELL":
        if shares > held_shares + 1e-9:
            out.append(f"selling {shares:.2f} shares, holding {held_shares:.2f}")
        return out
    nav = portfolio.nav_usd
    if not (usd == usd) or usd <= 0:
        return out + [f"order notional {usd} is not a positive number"]
    if nav <= 0:
        return out + [f"NAV {nav:.2f} is not positive"]
    checks = [
        ("per-trade USD", usd, siz.max_trade_usd),
        ("per-trade fraction", usd, siz.max_trade_fraction * nav),
        ("market", portfolio.by("condition_id").get(condition_id, 0.0) + usd, siz.max_market_exposure * nav),
        ("category", portfolio.by("category").get(category, 0.0) + usd,
         min(siz.max_category_exposure, sig.max_category_exposure) * nav),
        ("total", portfolio.exposure_usd + usd, min(siz.max_total_exposure, sig.max_total_exposure) * nav),
        ("wallet tier", portfolio.by_wallet().get(wallet, 0.0) + usd, tier_max_exposure * nav),
        ("cash", usd, portfolio.cash_usd),
    ]
    out += [f"{name} limit: ${value:,.2f} > ${limit:,.2f}" for name, value, limit in checks if value > limit + EPS_USD]
    if usd < siz.min_trade_usd - EPS_USD:
        out.append(f"below the ${siz.min_trade_usd:,.0f} minimum: ${usd:,.2f}")
    markets = set(portfolio.by("condition_id")) | {condition_id}
    if len(markets) > siz.max_open_positions:
        out.append(f"{len(markets)} open positions > {siz.max_open_positions}")
    return out
