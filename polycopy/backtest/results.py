"""What a backtested strategy did, from its ledger: the performance figures, the VaR
backtest of its live mVaR, attribution against a benchmark strategy, each source
wallet's contribution and the CUSUM of its copy returns.

USD throughout; returns and drawdowns are fractions; Sharpe-type ratios annualized over
``periods_per_year`` unless named per period.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from polycopy.backtest.attribution import Attribution, attribute
from polycopy.backtest.edge_decay import lower_cusum
from polycopy.backtest.performance import (PERIODS_PER_YEAR, annualized_return, calmar_ratio, daily_returns,
                                           deflated_sharpe_ratio, k_ratio, longest_underwater, max_drawdown,
                                           probabilistic_sharpe_ratio, return_moments, sharpe_ratio, sortino_ratio,
                                           stationary_bootstrap, total_return)
from polycopy.backtest.var_backtest import backtest_var
from polycopy.backtest.walk_forward import StrategyRun
from polycopy.trading.portfolio import FillRow, walk_positions


@dataclass(frozen=True)
class AnalysisSettings:
    """How results are judged: the annualization, the bootstrap (paths, seed), the CUSUM of
    copy returns (warm-up copies, k and h in σ), and the configurations tried before this
    run, which the Deflated Sharpe Ratio counts beside the run's own strategies."""

    periods_per_year: int = PERIODS_PER_YEAR
    bootstrap_paths: int = 1_000
    bootstrap_seed: int = 0
    cusum_warmup: int = 20
    cusum_k: float = 0.5
    cusum_h: float = 5.0
    configurations_tried_before: int = 0


@dataclass
class StrategyResult:
    name: str
    nav: pd.Series  # end-of-day NAV by date (USD)
    metrics: dict
    positions: pd.DataFrame  # one row per position: wallet shares, category, cost, P&L, closed_at
    wallets: pd.DataFrame  # per source wallet: positions, cost, P&L, copy returns' CUSUM alarm
    var_days: pd.DataFrame  # date, mvar (fraction of NAV), loss (fraction), exception
    cusum: dict = field(default_factory=dict)  # wallet -> CUSUM path (list)
    bootstrap: dict = field(default_factory=dict)
    exits: pd.DataFrame = field(default_factory=pd.DataFrame)  # per exit rule (exit_attribution)


def nav_frame(ledger) -> pd.DataFrame:
    """NAV at the close of each UTC day: date, nav_usd, mvar (fraction of NAV; the forecast
    for the next day). A day closes with the last snapshot up to the next midnight's, which
    a snapshot taken within a millisecond after it still counts as (the opening snapshot
    of a backtest is thus the close of the day before its first)."""
    rows = ledger._rows("select ts, nav_usd, mvar from nav_snapshots order by ts")
    if not rows:
        return pd.DataFrame(columns=["date", "nav_usd", "mvar"])
    df = pd.DataFrame(rows)
    df["date"] = pd.to_datetime(df["ts"] - 1e-3, unit="s", utc=True).dt.date
    return df.groupby("date")[["nav_usd", "mvar"]].last().reset_index()


def position_table(run: StrategyRun, fill_rows: list[dict]) -> pd.DataFrame:
    """Every position with its cost (USD paid, fees included), P&L (realized, plus the
    unrealized part at the end marks for what is still held), category and source wallets;
    ``fill_rows`` are the run ledger's ``fill_rows()``."""
    positions = walk_positions([FillRow(**r) for r in fill_rows])[0]
    rows = []
    for p in positions:
        mark = run.end_marks.get(p.token_id)
        unrealized = (mark * p.shares - p.cost_usd) if (p.is_open and mark is not None) else 0.0
        rows.append({"position_id": p.position_id, "category": p.category or "unknown", "opened_at": p.opened_at,
                     "closed_at": p.closed_at, "cost_usd": p.bought_usd, "pnl_usd": p.realized_pnl_usd + unrealized,
                     "realized_pnl_usd": p.realized_pnl_usd, "fees_usd": p.fees_usd, "open": p.is_open,
                     "wallets": dict(p.wallets)})
    return pd.DataFrame(rows, columns=["position_id", "category", "opened_at", "closed_at", "cost_usd", "pnl_usd",
                                       "realized_pnl_usd", "fees_usd", "open", "wallets"])


def wallet_contributions(positions: pd.DataFrame, s: AnalysisSettings) -> tuple[pd.DataFrame, dict]:
    """P&L and cost per source wallet (a position bought on several wallets' signals is
    split by their shares of it), and the CUSUM of each wallet's closed copy returns in the
    order they closed."""
    rows, returns = {}, {}
    for p in positions.itertuples(index=False):
        for w, share in p.wallets.items():
            r = rows.setdefault(w, {"wallet_address": w, "positions": 0, "cost_usd": 0.0, "pnl_usd": 0.0})
            r["positions"] += 1
            r["cost_usd"] += share * p.cost_usd
            r["pnl_usd"] += share * p.pnl_usd
            if not p.open and p.cost_usd > 0:
                returns.setdefault(w, []).append((p.closed_at, p.realized_pnl_usd / p.cost_usd))
    paths = {}
    for w, r in rows.items():
        series = [x for _, x in sorted(returns.get(w, []))]
        c = lower_cusum(np.array(series), s.cusum_warmup, s.cusum_k, s.cusum_h)
        r["copy_return"] = r["pnl_usd"] / r["cost_usd"] if r["cost_usd"] > 0 else float("nan")
        r["closed_copies"] = len(series)
        r["cusum_alarm_at_copy"] = None if c.alarm_index is None else c.alarm_index + 1
        paths[w] = [None if not math.isfinite(x) else float(x) for x in c.path]
    out = pd.DataFrame(list(rows.values()), columns=["wallet_address", "positions", "cost_usd", "pnl_usd",
                                                     "copy_return", "closed_copies", "cusum_alarm_at_copy"])
    return out.sort_values("pnl_usd", ascending=False).reset_index(drop=True), paths


def var_days(nav: pd.DataFrame) -> pd.DataFrame:
    """Each day's mVaR forecast (made at its close, fraction of NAV) against the next day's
    loss (fraction of that NAV; a gain is a negative loss). Only days with an mVaR: with no
    holdings, or too little price history, there is no forecast to test."""
    if len(nav) < 2:
        return pd.DataFrame(columns=["date", "mvar", "loss", "exception"])
    v = nav["nav_usd"].to_numpy(dtype=float)
    loss = 1.0 - v[1:] / v[:-1]
    df = pd.DataFrame({"date": nav["date"].iloc[1:].to_numpy(), "mvar": nav["mvar"].to_numpy(dtype=float)[:-1],
                       "loss": loss})
    df = df[df["mvar"] > 0].reset_index(drop=True)
    df["exception"] = df["loss"] > df["mvar"]
    return df


def analyse(run: StrategyRun, end_price: Callable[[str, str], float | None],
            s: AnalysisSettings = AnalysisSettings()) -> StrategyResult:
    """Every figure of one strategy's run (see the module docstring); ``end_price(token id,
    condition id)`` is a token's price at the end of the backtest (USD/share; None if
    unknown), for the exit attribution."""
    ledger = run.ledger()
    navf = nav_frame(ledger)
    nav = navf["nav_usd"].to_numpy(dtype=float)
    r = daily_returns(nav)
    skew, kurt = return_moments(r)
    sr_period = sharpe_ratio(r, None)
    fill_rows = ledger.fill_rows()
    positions = position_table(run, fill_rows)
    closed = positions[~positions["open"].astype(bool)]
    wins = closed.loc[closed["realized_pnl_usd"] > 0, "realized_pnl_usd"].sum()
    losses = -closed.loc[closed["realized_pnl_usd"] < 0, "realized_pnl_usd"].sum()
    fills = pd.DataFrame(fill_rows)
    traded = float((fills["price"] * fills["shares"]).sum()) if len(fills) else 0.0
    orders = ledger.orders()
    filled = [o for o in orders if o["venue"] != "settlement" and o["status"] in ("filled", "partial")]
    slippage = _mean_slippage(ledger.decisions(), orders, fill_rows)
    exits = exit_attribution(fill_rows, orders, ledger.exit_decisions(), end_price)
    vd = var_days(navf)
    alpha = run.strategy.rules.risk.mvar_alpha
    vt = backtest_var(vd["loss"].to_numpy(), vd["mvar"].to_numpy(), alpha)
    static = [d for d in run.static_days if d["mvar"] > 0]
    vs = backtest_var(np.array([d["loss"] for d in static]), np.array([d["mvar"] for d in static]), alpha)
    boot = stationary_bootstrap(r, s.bootstrap_paths, s.bootstrap_seed, periods_per_year=s.periods_per_year)
    wallets, paths = wallet_contributions(positions, s)
    metrics = {
        "days": max(len(nav) - 1, 0),
        "start_nav_usd": float(nav[0]) if len(nav) else float("nan"),
        "end_nav_usd": float(nav[-1]) if len(nav) else float("nan"),
        "total_return": total_return(nav),
        "annualized_return": annualized_return(nav, s.periods_per_year),
        "sharpe": sharpe_ratio(r, s.periods_per_year),
        "sharpe_per_day": sr_period,
        "sortino": sortino_ratio(r, s.periods_per_year),
        "calmar": calmar_ratio(nav, s.periods_per_year),
        "k_ratio": k_ratio(nav, s.periods_per_year),
        "max_drawdown": max_drawdown(nav),
        "longest_underwater_days": longest_underwater(nav),
        "skew": skew,
        "kurtosis": kurt,
        "psr": probabilistic_sharpe_ratio(sr_period, len(r), skew, kurt),
        "positions": len(positions),
        "closed_positions": len(closed),
        "hit_rate": float((closed["realized_pnl_usd"] > 0).mean()) if len(closed) else float("nan"),
        "profit_factor": float(wins / losses) if losses > 0 else float("nan"),
        "trades": len(filled),
        "signals": run.signals,
        "turnover": traded / float(np.mean(nav)) if len(nav) else float("nan"),
        "fees_usd": float(fills["fee_usd"].sum()) if len(fills) else 0.0,
        "mean_slippage": slippage,
        "var_days": vt.days,
        "var_exceptions": vt.exceptions,
        "kupiec_p": vt.kupiec_p,
        "christoffersen_p": vt.independence_p,
        "var_days_static": vs.days,
        "var_exceptions_static": vs.exceptions,
        "kupiec_p_static": vs.kupiec_p,
        "christoffersen_p_static": vs.independence_p,
        "exit_given_up_usd": float(exits.loc[exits["rule"] != "resolution", "given_up_usd"].sum()),
        "bootstrap_sharpe_p05": float(np.nanquantile(boot.sharpe, 0.05)) if len(r) >= 3 else float("nan"),
        "bootstrap_sharpe_p95": float(np.nanquantile(boot.sharpe, 0.95)) if len(r) >= 3 else float("nan"),
        "bootstrap_mdd_p95": float(np.nanquantile(boot.max_drawdown, 0.95)) if len(r) >= 3 else float("nan"),
        "halted_days": int(ledger._rows("select count(distinct cast(ts / 86400 as integer)) as n from nav_snapshots "
                                        "where halted = 1")[0]["n"] or 0),
        "wallets_followed": len({w for _, ws in run.followed for w in ws}),
        "cusum_alarms": int(wallets["cusum_alarm_at_copy"].notna().sum()) if len(wallets) else 0,
        "seconds": run.seconds,
    }
    return StrategyResult(run.strategy.name, navf.set_index("date")["nav_usd"], metrics, positions, wallets, vd,
                          paths, {"sharpe": boot.sharpe, "max_drawdown": boot.max_drawdown,
                                  "block_length": boot.block_length}, exits)


def exit_attribution(fill_rows: list[dict], orders: list[dict], exit_decisions: list[dict],
                     end_price: Callable[[str, str], float | None]) -> pd.DataFrame:
    """What each exit rule did, from a ledger's fill rows, orders and exit decisions: its
    sells (count, shares), their proceeds after fees (USD), what the same shares were worth
    at the end (``end_price(token id, condition id)``: the resolution payout, or the last
    mid of a market still open; USD/share) and
    ``given_up_usd`` = end value − proceeds: positive when the rule sold below where the
    market ended, what holding on would have made instead. Settlements at resolution are
    the row ``resolution`` (nothing given up); the source wallet's sells copied by the copy
    chain are ``mirror``."""
    sells = {d["exit_key"]: d["rule"] for d in exit_decisions if d["decision"] == "sell"}
    rule_of = {o["order_id"]: ("resolution" if o["venue"] == "settlement" else sells.get(o["decision_key"], "mirror"))
               for o in orders if o["side"] == "SELL"}
    rows: dict[str, dict] = {}
    for f in fill_rows:
        rule = rule_of.get(f["order_id"])
        if rule is None:  # a buy
            continue
        r = rows.setdefault(rule, {"rule": rule, "sells": set(), "shares": 0.0, "proceeds_usd": 0.0,
                                   "end_value_usd": 0.0})
        r["sells"].add(f["order_id"])
        r["shares"] += f["shares"]
        r["proceeds_usd"] += f["price"] * f["shares"] - f["fee_usd"]
        end = f["price"] if rule == "resolution" else end_price(f["token_id"], f["condition_id"])
        end = float("nan") if end is None else end
        r["end_value_usd"] += end * f["shares"]
    out = pd.DataFrame([{**r, "sells": len(r["sells"])} for r in rows.values()],
                       columns=["rule", "sells", "shares", "proceeds_usd", "end_value_usd"])
    out["given_up_usd"] = out["end_value_usd"] - out["proceeds_usd"]
    return out.sort_values("given_up_usd", ascending=False).reset_index(drop=True)


def _mean_slippage(decisions: list[dict], orders: list[dict], fill_rows: list[dict]) -> float:
    """Mean over filled copies of (our average fill price − the whale's price) / the whale's
    price: what the delay and our size cost against the price we copied. From a ledger's
    decisions, orders and fill rows."""
    order_of = {o["decision_key"]: o for o in orders}
    usd: dict[str, float] = {}
    shares: dict[str, float] = {}
    for f in fill_rows:
        usd[f["order_id"]] = usd.get(f["order_id"], 0.0) + f["price"] * f["shares"]
        shares[f["order_id"]] = shares.get(f["order_id"], 0.0) + f["shares"]
    out = []
    for d in decisions:
        if d["decision"] != "copy":
            continue
        details = json.loads(d["details"])
        whale = details.get("whale_price") or details.get("signal_price")
        order = order_of.get(d["signal_key"])
        if not whale or order is None or order["side"] != "BUY":
            continue
        q = shares.get(order["order_id"], 0.0)
        if q > 0:
            out.append(usd[order["order_id"]] / q / float(whale) - 1.0)
    return float(np.mean(out)) if out else float("nan")


def deflate(results: list[StrategyResult], s: AnalysisSettings = AnalysisSettings()) -> None:
    """Add each strategy's Deflated Sharpe Ratio: its PSR against the best Sharpe ratio the
    configurations tried (this run's strategies plus ``configurations_tried_before``) would
    show by luck, their per-day Sharpe ratios' variance taken from this run's strategies."""
    sharpes = np.array([r.metrics["sharpe_per_day"] for r in results], dtype=float)
    sharpes = sharpes[np.isfinite(sharpes)]
    n_trials = len(results) + s.configurations_tried_before
    var = float(np.var(sharpes, ddof=1)) if len(sharpes) >= 2 else 0.0
    for r in results:
        m = r.metrics
        m["configurations_tried"] = n_trials
        m["dsr"] = deflated_sharpe_ratio(m["sharpe_per_day"], m["days"], m["skew"], m["kurtosis"], n_trials, var)


def attribution_against(result: StrategyResult, benchmark: StrategyResult) -> Attribution | None:
    """Brinson-Fachler of ``result`` against ``benchmark`` by market category; None when
    either deployed nothing."""
    if result.positions["cost_usd"].sum() <= 0 or benchmark.positions["cost_usd"].sum() <= 0:
        return None
    return attribute(result.positions, benchmark.positions, "category")


SUMMARY_COLUMNS = [("total_return", "return", "{:+.1%}"), ("sharpe", "Sharpe", "{:.2f}"),
                   ("sortino", "Sortino", "{:.2f}"), ("max_drawdown", "MDD", "{:.1%}"),
                   ("longest_underwater_days", "under water d", "{:.0f}"), ("dsr", "DSR", "{:.2f}"),
                   ("kupiec_p", "Kupiec p", "{:.2f}"), ("kupiec_p_static", "static", "{:.2f}"),
                   ("hit_rate", "hit", "{:.0%}"),
                   ("profit_factor", "PF", "{:.2f}"), ("trades", "trades", "{:.0f}"),
                   ("fees_usd", "fees $", "{:,.0f}"), ("mean_slippage", "slippage", "{:+.2%}"),
                   ("halted_days", "halted d", "{:.0f}")]


def summary_table(results: list[StrategyResult]) -> str:
    """One line per strategy with the key figures (plain text, one screen)."""
    head = ["strategy"] + [h for _, h, _ in SUMMARY_COLUMNS]
    rows = [[r.name] + [("-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f.format(v))
                        for v, f in ((r.metrics.get(k), f) for k, _, f in SUMMARY_COLUMNS)] for r in results]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), *(fmt(r) for r in rows)])
