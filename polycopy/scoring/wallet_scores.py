"""Score every wallet: WQS with shrinkage, a bootstrapped confidence interval, the win-rate
posterior, the anti-market-maker filter, red flags and tier — one row per wallet.

Inputs are the wallet marts (dbt): ``wallet_metrics`` (point estimates), the wallet's
daily returns (``fct_wallet_daily_pnl``), its active returns (``fct_wallet_active_returns``)
and ``category_base_rates``.

Method (seed 001 on top of seed 002's WQS):
1. Point estimates of Sharpe (90 d), information ratio and Calmar come from the mart and
   are turned into WQS points (002 §2.3).
2. A paired i.i.d. bootstrap of the wallet's daily returns over the same 90-day window
   (the same resampled days for the return and the active-return series) recomputes
   those three ratios ``bootstrap_samples`` times; their points' bootstrap variance is
   the sampling variance of each component.
3. Positive-part James-Stein shrinks each component's points toward the mean over all
   scored wallets, by B_i = min(1, (k − 3)·σ_i² / Σ(x − x̄)²): a wallet whose points
   rest on few, noisy days is pulled toward the crowd; one with a long steady record
   keeps its own. The same B_i shrinks every bootstrap replicate.
4. WQS = shrunk points + consistency + volume, × the low-trade-count and HHI
   penalties; the interval is the bootstrap percentile interval of that WQS, and
   wallets are ranked by its lower bound.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd

from polycopy.scoring.formulas import bayesian_win_rate, is_market_maker, red_flags, tier, wqs
from polycopy.scoring.settings import ScoringSettings
from polycopy.scoring.shrinkage import james_stein_factors

ANNUALIZE = np.sqrt(365.0)
RATIO_COMPONENTS = ("sharpe", "information_ratio", "calmar")


def points(x: np.ndarray, per_unit: float, cap: float) -> np.ndarray:
    """WQS points of a ratio: ``x × per_unit`` clipped to [0, cap]; undefined (NaN) earns 0."""
    return np.clip(np.nan_to_num(np.asarray(x, dtype=float) * per_unit, nan=0.0), 0.0, cap)


def _component_points(name: str, x: np.ndarray, s: ScoringSettings) -> np.ndarray:
    if name == "sharpe":
        return points(x, s.sharpe_points_per_unit, s.sharpe_max_points)
    if name == "information_ratio":
        return points(x, s.ir_points_per_unit, s.ir_max_points)
    return points(x, s.calmar_points_per_unit, s.calmar_max_points)


# ---- return panel -------------------------------------------------------------------
def return_panel(wallets: list[str], daily: pd.DataFrame, active: pd.DataFrame, as_of: date,
                 window_days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calendar matrices of the last ``window_days`` days, column 0 = the as-of day.

    Returns (returns, active, n_days): ``returns[i, j]`` is wallet i's daily return
    ``j`` days before the as-of day (0 on days without realizations), ``active[i, j]``
    its active return on realization days (NaN otherwise), and ``n_days[i]`` the days
    that count: min(window, days since its first activity + 1), as in the mart.
    """
    index = {w: i for i, w in enumerate(wallets)}
    n = len(wallets)
    ret = np.zeros((n, window_days))
    act = np.full((n, window_days), np.nan)
    as_of_ts = pd.Timestamp(as_of)
    d = daily[daily["activity_date"] <= as_of_ts]
    first = d.groupby("wallet_address")["activity_date"].min()
    n_days = np.zeros(n, dtype=np.int64)
    fi = first.index.map(index)
    keep = fi.notna()
    n_days[fi[keep].astype(int)] = np.minimum(
        window_days, (as_of_ts - first[keep]).dt.days.to_numpy() + 1)
    for frame, target, col in ((d, ret, "daily_return"), (active, act, "active_return")):
        ago = (as_of_ts - frame["activity_date"]).dt.days.to_numpy()
        rows = frame["wallet_address"].map(index).to_numpy()
        ok = (ago >= 0) & (ago < window_days) & ~pd.isna(rows)
        target[rows[ok].astype(int), ago[ok]] = frame[col].to_numpy()[ok]
    return ret, act, n_days


def _ratios(r: np.ndarray, a: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    """Annualized Sharpe, information ratio and Calmar along the last axis.

    ``r``: daily returns, ``a``: active returns (NaN where no realization), ``valid``:
    which positions belong to the sample. Shapes (..., days).
    """
    n = valid.sum(axis=-1)
    rv = np.where(valid, r, 0.0)
    mean = rv.sum(axis=-1) / np.maximum(n, 1)
    var = ((rv * rv).sum(axis=-1) - n * mean * mean) / np.maximum(n - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = np.where((n > 1) & (var > 1e-18), mean / np.sqrt(var) * ANNUALIZE, np.nan)
        log_eq = np.cumsum(np.log(np.maximum(1.0 + rv, 1e-12)), axis=-1)
        peak = np.maximum(np.maximum.accumulate(log_eq, axis=-1), 0.0)
        max_dd = (1.0 - np.exp(log_eq - peak)).max(axis=-1)
        calmar = np.where(max_dd > 1e-12, mean * 365.0 / max_dd, np.nan)
        av = valid & ~np.isnan(a)
        m = av.sum(axis=-1)
        a0 = np.where(av, a, 0.0)
        amean = a0.sum(axis=-1) / np.maximum(m, 1)
        avar = ((a0 * a0).sum(axis=-1) - m * amean * amean) / np.maximum(m - 1, 1)
        ir = np.where((m > 1) & (avar > 1e-18), amean / np.sqrt(avar) * ANNUALIZE, np.nan)
    return {"sharpe": sharpe, "information_ratio": ir, "calmar": calmar}


def bootstrap_component_points(ret: np.ndarray, act: np.ndarray, n_days: np.ndarray, s: ScoringSettings,
                               chunk: int = 256) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the Sharpe, IR and Calmar points, each (wallets, samples).

    Wallet i's sample is its last ``n_days[i]`` days; each replicate draws that many days
    with replacement (the same days for returns and active returns), seeded by
    ``s.bootstrap_seed`` so scores are reproducible. Wallets with fewer than 2 days get
    NaN replicates.
    """
    n, window = ret.shape
    b = s.bootstrap_samples
    out = {c: np.full((n, b), np.nan) for c in RATIO_COMPONENTS}
    rng = np.random.default_rng(s.bootstrap_seed)
    # Days are stored newest first; the sample of wallet i is columns [0, n_days[i]).
    # A replicate's path order is the draw order (i.i.d. days: any order is as likely).
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        nd = n_days[lo:hi]
        width = int(nd.max()) if hi > lo else 0
        if width < 2:
            continue
        u = rng.random((hi - lo, b, width))
        idx = np.minimum((u * nd[:, None, None]).astype(np.int64), window - 1)
        valid = np.broadcast_to(np.arange(width)[None, None, :] < nd[:, None, None], idx.shape)
        rows = np.arange(hi - lo)[:, None, None]
        rr = ret[lo:hi][rows, idx]
        aa = act[lo:hi][rows, idx]
        ratios = _ratios(rr, aa, valid)
        enough = nd >= 2
        for c in RATIO_COMPONENTS:
            out[c][lo:hi][enough] = _component_points(c, ratios[c], s)[enough]
    return out


# ---- scoring --------------------------------------------------------------------------
def score_wallets(metrics: pd.DataFrame, daily: pd.DataFrame, active: pd.DataFrame,
                  base_rates: pd.DataFrame, s: ScoringSettings = ScoringSettings()) -> pd.DataFrame:
    """One row per wallet of ``metrics``: WQS (shrunk), its components, the bootstrap
    interval, rank by the lower bound, win-rate posterior, market-maker verdict, red
    flags (JSON of the values that raised each), exclusion and tier.

    ``daily`` / ``active``: rows of fct_wallet_daily_pnl / fct_wallet_active_returns
    (``activity_date`` as datetime64). ``base_rates``: category_base_rates.
    """
    m = metrics.reset_index(drop=True)
    n = len(m)
    if n == 0:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    as_of = pd.Timestamp(m["as_of_date"].iloc[0]).date()
    wallets = m["wallet_address"].tolist()
    ret, act, n_days = return_panel(wallets, daily, active, as_of, s.return_window_days)
    boot = bootstrap_component_points(ret, act, n_days, s)

    point = {
        "sharpe": _component_points("sharpe", m["sharpe_90d"].to_numpy(float), s),
        "information_ratio": _component_points("information_ratio", m["information_ratio"].to_numpy(float), s),
        "calmar": _component_points("calmar", m["calmar_ratio"].to_numpy(float), s),
    }
    # Std of daily returns over the last 30 days (or fewer): the behaviour monitor's volatility.
    recent = np.minimum(n_days, 30)
    cols = np.arange(ret.shape[1])[None, :] < recent[:, None]
    s1 = np.where(cols, ret, 0.0).sum(axis=1)
    s2 = np.where(cols, ret * ret, 0.0).sum(axis=1)
    volatility = np.sqrt(np.maximum(s2 - s1 * s1 / np.maximum(recent, 1), 0.0) / np.maximum(recent - 1, 1))
    shrunk, shrunk_boot, factors = {}, {}, {}
    for c in RATIO_COMPONENTS:
        have = ~np.isnan(boot[c]).all(axis=1)
        var = np.full(n, np.nan)
        if s.bootstrap_samples > 1:
            var[have] = boot[c][have].var(axis=1, ddof=1)
        # Wallets with no measurable sample carry no information about this component:
        # they keep 0 points and stay out of the shrinkage population.
        measured = ~np.isnan(var)
        x = point[c].copy()
        grand, factor = james_stein_factors(x[measured], var[measured])
        f = np.ones(n)
        f[measured] = factor
        factors[c] = np.where(measured, f, np.nan)
        shrunk[c] = np.where(measured, grand + (1.0 - f) * (x - grand), 0.0)
        rep = np.nan_to_num(boot[c], nan=0.0)
        shrunk_boot[c] = np.where(measured[:, None], grand + (1.0 - f[:, None]) * (rep - grand), 0.0)

    rows = []
    base = dict(zip(base_rates["category"], base_rates["win_rate"])) if len(base_rates) else {}
    overall = _overall_base_rate(base_rates)
    for i, r in m.iterrows():
        b = wqs(None, None, None, r["rolling_sharpe_30d_std"], _f(r["volume_usd"]) or 0.0,
                int(r["trade_count"] or 0), r["category_hhi"], s)
        comps = {c: float(shrunk[c][i]) for c in RATIO_COMPONENTS}
        fixed = b.consistency + b.volume
        penalty = b.trade_count_factor * b.hhi_factor
        score = float(np.clip((sum(comps.values()) + fixed) * penalty, 0.0, 100.0))
        reps = (shrunk_boot["sharpe"][i] + shrunk_boot["information_ratio"][i] + shrunk_boot["calmar"][i]
                + fixed) * penalty
        reps = np.clip(reps, 0.0, 100.0)
        tail = (1.0 - s.bootstrap_level) / 2.0
        lo_, hi_ = np.quantile(reps, [tail, 1.0 - tail]) if len(reps) else (score, score)
        raw = sum(float(point[c][i]) for c in RATIO_COMPONENTS)
        raw_wqs = float(np.clip((raw + fixed) * penalty, 0.0, 100.0))

        wins, losses = int(r["won_positions"] or 0), int(r["lost_positions"] or 0)
        prior = base.get(r.get("primary_category"), overall)
        post = bayesian_win_rate(wins, losses, min(max(prior, 0.01), 0.99), s)
        mm = is_market_maker(int(r["trade_count"] or 0), _f(r["avg_hold_seconds"]), _f(r["win_rate"]),
                             _f(r["profit_per_trade_usd"]), s)
        flags = red_flags(r.to_dict(), s)
        excluded = mm or bool(flags)
        t = tier(score, excluded, s)
        rows.append({
            "wallet_address": r["wallet_address"],
            "as_of_date": as_of,
            "wqs": score,
            "wqs_lower": float(min(lo_, score)),
            "wqs_upper": float(max(hi_, score)),
            "wqs_unshrunk": raw_wqs,
            "sharpe_points": comps["sharpe"],
            "information_ratio_points": comps["information_ratio"],
            "calmar_points": comps["calmar"],
            "consistency_points": b.consistency,
            "volume_points": b.volume,
            "trade_count_factor": b.trade_count_factor,
            "hhi_factor": b.hhi_factor,
            "sharpe_shrinkage": _f(factors["sharpe"][i]),
            "information_ratio_shrinkage": _f(factors["information_ratio"][i]),
            "calmar_shrinkage": _f(factors["calmar"][i]),
            "return_days": int(n_days[i]),
            "win_rate_posterior": post.mean,
            "win_rate_ci_low": post.ci_low,
            "win_rate_ci_high": post.ci_high,
            "win_rate_prior": prior,
            "is_market_maker": mm,
            "red_flags": json.dumps(flags, sort_keys=True),
            "red_flag_count": len(flags),
            "excluded": excluded,
            "tier": t.name,
            "tier_max_exposure": t.max_exposure,
            "tier_max_daily_trades": t.max_daily_trades,
            "trade_count": int(r["trade_count"] or 0),
            "sharpe_30d": _f(r["sharpe_30d"]),
            "sharpe_90d": _f(r["sharpe_90d"]),
            "current_drawdown": _f(r["current_drawdown"]),
            "realized_pnl_usd": _f(r["realized_pnl_usd"]) or 0.0,
            "mean_bet_usd": _f(r["mean_position_usd"]),
            "category_count": None if pd.isna(r["category_count"]) else int(r["category_count"]),
            "return_volatility": float(volatility[i]) if n_days[i] >= 2 else None,
        })
    out = pd.DataFrame(rows)
    # Rank by the lower bound; ties (e.g. all zeros) by the point score, then address.
    out = out.sort_values(["wqs_lower", "wqs", "wallet_address"], ascending=[False, False, True])
    out["rank"] = np.arange(1, len(out) + 1)
    return out[SCORE_COLUMNS].reset_index(drop=True)


SCORE_COLUMNS = [
    "rank", "wallet_address", "as_of_date", "wqs", "wqs_lower", "wqs_upper", "wqs_unshrunk",
    "sharpe_points", "information_ratio_points", "calmar_points", "consistency_points", "volume_points",
    "trade_count_factor", "hhi_factor", "sharpe_shrinkage", "information_ratio_shrinkage", "calmar_shrinkage",
    "return_days", "win_rate_posterior", "win_rate_ci_low", "win_rate_ci_high", "win_rate_prior",
    "is_market_maker", "red_flags", "red_flag_count", "excluded", "tier", "tier_max_exposure",
    "tier_max_daily_trades", "trade_count", "sharpe_30d", "sharpe_90d", "current_drawdown", "realized_pnl_usd",
    "mean_bet_usd", "category_count", "return_volatility",
]


def _f(x) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _overall_base_rate(base_rates: pd.DataFrame) -> float:
    if not len(base_rates) or base_rates["resolved_positions"].sum() == 0:
        return 0.5
    return float(base_rates["won_positions"].sum() / (base_rates["won_positions"].sum()
                                                     + base_rates["lost_positions"].sum()))
