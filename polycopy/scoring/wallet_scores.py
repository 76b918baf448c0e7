"""Score every wallet: WQS with shrinkage, a bootstrapped confidence interval, the win-rate
posterior, the behaviour detectors (market maker, red flags) with the measurements that
decided them, and tier — one row per wallet.

Inputs are the wallet marts (dbt): ``wallet_metrics`` (point estimates), the wallet's
daily returns (``fct_wallet_daily_pnl``), its active returns (``fct_wallet_active_returns``)
and ``category_base_rates``.

Method (seed 001 on top of seed 002's WQS):
1. Point estimates of Sharpe (90 d), information ratio and Calmar come from the mart and
   are turned into WQS points (002 §2.3). The pricing edge — P&L / cost of the shares the
   wallet realized (sold, or settled at resolution) over the same 90 days — is the sixth
   component under the "edge" preset.
2. A paired i.i.d. bootstrap of the wallet's days over the 90-day window (the same
   resampled days for the return, the active return and the day's realized P&L and
   capital) recomputes those four measures ``bootstrap_samples`` times; their points'
   bootstrap variance is the sampling variance of each component, and the edge's own
   bootstrap standard deviation is its standard error (below
   ``edge_min_bootstrap_positions`` priced positions, its variance is at least a no-skill
   bettor's at the same prices).
3. Positive-part James-Stein shrinks each ratio component's points, and the pricing edge
   itself (then mapped to points), toward the mean over all scored wallets, by
   B_i = min(1, (k − 3)·σ_i² / Σ(x − x̄)²): a wallet whose record rests on few, noisy
   days is pulled toward the crowd; one with a long steady record keeps its own. The
   same B_i shrinks every bootstrap replicate.
4. WQS = shrunk points + consistency + volume, × the low-trade-count and HHI
   penalties; the interval is the bootstrap percentile interval of that WQS, and
   wallets are ranked by its lower bound.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import numpy as np
import pandas as pd

from polycopy.scoring.formulas import (is_market_maker, ratio_points, red_flags, tier, win_rate_posteriors,
                                       wqs_fixed_parts)
from polycopy.scoring.settings import ScoringSettings
from polycopy.scoring.shrinkage import james_stein_factors, shrink_toward

ANNUALIZE = np.sqrt(365.0)
RATIO_COMPONENTS = ("sharpe", "information_ratio", "calmar")
# Components measured on the resampled days: the three ratios and the pricing edge.
SAMPLED_COMPONENTS = (*RATIO_COMPONENTS, "pricing_edge")
# The wallet_metrics column behind each ratio component's point estimate.
MART_RATIOS = {"sharpe": "sharpe_90d", "information_ratio": "information_ratio", "calmar": "calmar_ratio"}


# ---- return panel -------------------------------------------------------------------
def return_panel(wallets: list[str], daily: pd.DataFrame, active: pd.DataFrame, as_of: date,
                 window_days: int) -> tuple[np.ndarray, ...]:
    """Calendar matrices of the last ``window_days`` days, column 0 = the as-of day.

    Returns (returns, active, n_days, pnl, capital): ``returns[i, j]`` is wallet i's
    daily return ``j`` days before the as-of day (0 on days without realizations),
    ``active[i, j]`` its active return on realization days (NaN otherwise), ``n_days[i]``
    the days that count: min(window, days since its first activity + 1), as in the mart;
    ``pnl`` / ``capital`` the USD it realized that day and the cost of the shares behind
    it (0 on days without realizations).
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
    pnl = np.zeros((n, window_days))
    cap = np.zeros((n, window_days))
    for frame, target, col in ((d, ret, "daily_return"), (active, act, "active_return"),
                               (d, pnl, "realized_pnl_usd"), (d, cap, "capital_realized_usd")):
        ago = (as_of_ts - frame["activity_date"]).dt.days.to_numpy()
        rows = frame["wallet_address"].map(index).to_numpy()
        ok = (ago >= 0) & (ago < window_days) & ~pd.isna(rows)
        values = frame[col].to_numpy(dtype=float)[ok]
        target[rows[ok].astype(int), ago[ok]] = values if col == "active_return" else np.nan_to_num(values)
    return ret, act, n_days, pnl, cap


def _ratios_from_sums(n, s1, s2, m, a1, a2, min_log_dd) -> dict[str, np.ndarray]:
    """Annualized Sharpe, information ratio and Calmar from a sample's sums.

    n: days in the sample; s1, s2: sum of daily returns and of their squares; m, a1, a2:
    the same for active returns (realization days only); min_log_dd: the lowest
    log(equity / running peak) along the compounded path (0 = never below a peak).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / np.maximum(n, 1)
        var = (s2 - n * mean * mean) / np.maximum(n - 1, 1)
        sharpe = np.where((n > 1) & (var > 1e-18), mean / np.sqrt(np.abs(var)) * ANNUALIZE, np.nan)
        max_dd = 1.0 - np.exp(min_log_dd)
        calmar = np.where(max_dd > 1e-12, mean * 365.0 / max_dd, np.nan)
        amean = a1 / np.maximum(m, 1)
        avar = (a2 - m * amean * amean) / np.maximum(m - 1, 1)
        ir = np.where((m > 1) & (avar > 1e-18), amean / np.sqrt(np.abs(avar)) * ANNUALIZE, np.nan)
    return {"sharpe": sharpe, "information_ratio": ir, "calmar": calmar}


def _min_log_drawdown(log_returns: np.ndarray) -> np.ndarray:
    """Lowest log(equity / running peak) of the compounded path along the last axis; the
    path starts at a peak of 1 (log 0)."""
    log_eq = np.cumsum(log_returns, axis=-1)
    peak = np.maximum(np.maximum.accumulate(log_eq, axis=-1), 0.0)
    return np.minimum((log_eq - peak).min(axis=-1), 0.0)


def _log_growth(r: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(1.0 + r, 1e-12))


def _ratios(r: np.ndarray, a: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    """Annualized Sharpe, information ratio and Calmar along the last axis, in path order.

    ``r``: daily returns, ``a``: active returns (NaN where no realization), ``valid``:
    which positions belong to the sample. Shapes (..., days).
    """
    rv = np.where(valid, r, 0.0)
    av = valid & ~np.isnan(a)
    a0 = np.where(av, a, 0.0)
    return _ratios_from_sums(valid.sum(axis=-1), rv.sum(axis=-1), (rv * rv).sum(axis=-1), av.sum(axis=-1),
                             a0.sum(axis=-1), (a0 * a0).sum(axis=-1), _min_log_drawdown(_log_growth(rv)))


def recency_weights(window_days: int, half_life_days: float) -> np.ndarray:
    """Weight of each day of the panel (column j = j days before the as-of day):
    2^(−j / half-life); a half-life of 0 or less weighs every day the same."""
    if half_life_days <= 0:
        return np.ones(window_days)
    return np.exp2(-np.arange(window_days) / half_life_days)


def pricing_edge(pnl: np.ndarray, capital: np.ndarray, n_days: np.ndarray) -> np.ndarray:
    """Per wallet, Σ realized P&L / Σ capital behind it over its last ``n_days`` days
    (USD / USD; NaN without capital): what each dollar it put into the shares it realized
    returned, against the prices it paid."""
    valid = np.arange(pnl.shape[1])[None, :] < n_days[:, None]
    c = np.where(valid, capital, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, np.where(valid, pnl, 0.0).sum(axis=1) / c, np.nan)


def bootstrap_component_points(ret: np.ndarray, act: np.ndarray, n_days: np.ndarray, s: ScoringSettings,
                               pnl: np.ndarray | None = None, capital: np.ndarray | None = None,
                               chunk: int = 128, threads: int | None = None) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the Sharpe, IR and Calmar points, each (wallets, samples),
    and ``"pricing_edge_value"``: the pricing edge's replicates (USD/USD; ``shrink_edge``
    turns them into points after shrinking them).

    Wallet i's sample is its last ``n_days[i]`` days; each replicate draws that many days
    with replacement (the same days for returns, active returns, P&L and capital), seeded
    by ``s.bootstrap_seed`` so scores are reproducible. Wallets with fewer than 2 days get
    NaN replicates. A replicate's path order is its draw order (i.i.d. days: any order is
    as likely).

    The replicates are stored as float32 (the arithmetic is float32 already): wallets × 500
    of each of the four take half the memory, which is most of what scoring holds. Read
    them a block of wallets at a time, in float64 (``_replicate_block``).

    Days with neither a return, an active return nor realized capital add nothing to any
    sum or to the equity path, so a replicate is drawn as: K ~ Binomial(n_days, k / n_days)
    draws land on the k informative days, each uniformly — the same distribution as
    drawing all n_days, with far less work for wallets that realize on few days. float32
    arithmetic (P&L and capital scaled by the wallet's mean capital).

    Chunks of wallets run on ``threads`` threads (default: one per core; NumPy releases
    the GIL in the work that matters), each chunk with its own generator spawned from the
    seed, so the draws do not depend on how many threads run them.
    """
    n, window = ret.shape
    b = s.bootstrap_samples
    pnl = np.zeros_like(ret) if pnl is None else pnl
    capital = np.zeros_like(ret) if capital is None else capital
    out = {c: np.full((n, b), np.nan, dtype=np.float32) for c in (*RATIO_COMPONENTS, "pricing_edge_value")}
    has_act = ~np.isnan(act)
    informative = has_act | (ret != 0) | (capital > 0)
    informative[np.arange(window)[None, :] >= n_days[:, None]] = False
    k = informative.sum(axis=1)
    kmax = int(k.max()) if n else 0
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(informative, capital, 0.0).sum(axis=1) / np.maximum(k, 1)
    scale = np.where(scale > 0, scale, 1.0)
    # Informative days packed to the left (in their original order), then one zero pad
    # column; each packed day holds: return, log growth, active return (0 if none),
    # has-active, P&L and capital (scaled).
    cols = np.argsort(~informative, axis=1, kind="stable")[:, :kmax]
    rows = np.arange(n)[:, None]
    packed = np.zeros((n, kmax + 1, 6), dtype=np.float32)
    packed[:, :kmax, 0] = ret[rows, cols]
    packed[:, :kmax, 1] = _log_growth(ret[rows, cols])
    packed[:, :kmax, 2] = np.where(has_act[rows, cols], act[rows, cols], 0.0)
    packed[:, :kmax, 3] = has_act[rows, cols]
    packed[:, :kmax, 4] = pnl[rows, cols] / scale[:, None]
    packed[:, :kmax, 5] = capital[rows, cols] / scale[:, None]
    packed[:, :kmax][np.arange(kmax)[None, :] >= k[:, None]] = 0.0
    # One contiguous array per quantity: gathers from them are fast.
    flat = [np.ascontiguousarray(packed[:, :, j]).reshape(-1) for j in range(6)]
    order = np.argsort(k, kind="stable")  # similar widths share a chunk
    starts = range(0, n, chunk)
    seeds = np.random.SeedSequence(s.bootstrap_seed).spawn(len(starts))

    def run_chunk(lo: int, seed: np.random.SeedSequence) -> None:
        ids = order[lo:lo + chunk]
        ids = ids[n_days[ids] >= 2]
        if len(ids) == 0:
            return
        rng = np.random.default_rng(seed)
        nd, ki = n_days[ids], k[ids]
        hits = rng.binomial(nd[:, None], (ki / nd)[:, None], size=(len(ids), b))
        width = max(int(hits.max()), 1)
        u = rng.random((len(ids), b, width), dtype=np.float32)
        pick = np.minimum((u * ki[:, None, None]).astype(np.int64), np.maximum(ki[:, None, None] - 1, 0))
        pick = np.where(np.arange(width)[None, None, :] < hits[:, :, None], pick, kmax)
        at = ids[:, None, None] * (kmax + 1) + pick  # (wallets, b, width)
        r, lg, a, ind, p, c = (f[at] for f in flat)
        ratios = _ratios_from_sums(nd[:, None].astype(np.float32), r.sum(-1), (r * r).sum(-1), ind.sum(-1),
                                   a.sum(-1), (a * a).sum(-1), _min_log_drawdown(lg))
        csum = c.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["pricing_edge_value"][ids] = np.where(csum > 0, p.sum(-1) / csum, np.nan)
        for comp in RATIO_COMPONENTS:
            out[comp][ids] = ratio_points(comp, ratios[comp], s)

    # Chunks write disjoint rows of ``out``.
    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        list(pool.map(run_chunk, starts, seeds))
    return out


def shrink_edge(edge: np.ndarray, replicates: np.ndarray, variance_floor: np.ndarray, s: ScoringSettings
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Callable[[slice], np.ndarray]]:
    """James-Stein on the pricing edge itself (USD per USD, bounded to ±1 so a single long
    shot does not set the crowd's spread), then mapped to points — a losing edge and a thin
    winning one are pulled toward the same crowd mean, so there is no jump at 0.

    ``replicates``: the edge's bootstrap replicates (wallets × samples); ``variance_floor``:
    the least sampling variance each wallet's edge may have (per dollar²; 0 for none).
    Returns (points, shrinkage factors B, shrunk edge, replicate points): the last takes a
    slice of wallets and gives their shrunk replicates' points (wallets × samples), so
    they can be formed a block of wallets at a time. Wallets without a measurable edge get
    0 points and NaN.
    """
    n = len(edge)
    x = np.clip(edge, -1.0, 1.0)
    var = np.full(n, np.nan)
    if s.bootstrap_samples > 1:
        for rows in _row_blocks(n):
            var[rows] = _row_std(np.clip(_replicate_block(replicates, rows), -1.0, 1.0)) ** 2
    var = np.where(np.isnan(var), var, np.fmax(var, np.nan_to_num(variance_floor)))
    measured = ~np.isnan(var) & ~np.isnan(x)
    grand, factor = james_stein_factors(x[measured], var[measured])
    f = np.ones(n)
    f[measured] = factor
    shrunk = np.where(measured, shrink_toward(np.nan_to_num(x), grand, f), np.nan)
    points = np.where(measured, ratio_points("pricing_edge", shrunk, s), 0.0)

    def replicate_points(rows: slice) -> np.ndarray:
        reps = np.clip(_replicate_block(replicates, rows), -1.0, 1.0)
        shrunk_reps = shrink_toward(np.where(np.isnan(reps), grand, reps), grand, f[rows, None])
        return np.where(measured[rows, None], ratio_points("pricing_edge", shrunk_reps, s), 0.0)

    return points, np.where(measured, f, np.nan), shrunk, replicate_points


# Wallets per block when replicates (wallets × samples) are reduced: a block's temporaries
# stay a few MB however many wallets are scored.
ROW_BLOCK = 4096


def _row_blocks(n: int, size: int = ROW_BLOCK) -> list[slice]:
    return [slice(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _replicate_block(replicates: np.ndarray, rows: slice) -> np.ndarray:
    """A block of wallets' replicates (stored as float32) in float64, for the sums over them."""
    return replicates[rows].astype(np.float64)


# ---- inputs ---------------------------------------------------------------------------
def read_scoring_inputs(warehouse, window_days: int | None = None
                        ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The marts scoring reads from a warehouse (``polycopy.warehouse.Warehouse``):
    wallet_metrics, daily returns, active returns (dates as datetime64) and base rates.

    With ``window_days`` (the return window, days), only the days scoring uses are read:
    those of the window ending on the metrics' as-of day, and for each wallet active before
    it one row on its first day with nothing realized (which is all the panel needs of
    the older history: how many days count). Scores are the same as from every row; the
    read stays the size of the window however long the history grows."""
    metrics = warehouse.query_df("select * from marts.wallet_metrics")
    base = warehouse.query_df("select * from marts.category_base_rates")
    columns = "wallet_address, activity_date, daily_return, realized_pnl_usd, capital_realized_usd"
    if window_days is None or metrics.empty:
        daily = warehouse.query_df(f"select {columns} from marts.fct_wallet_daily_pnl")
        active = warehouse.query_df(
            "select wallet_address, activity_date, active_return from marts.fct_wallet_active_returns")
    else:
        as_of = pd.Timestamp(metrics["as_of_date"].max()).date()
        start = as_of - timedelta(days=window_days)
        daily = warehouse.query_df(
            f"select {columns} from marts.fct_wallet_daily_pnl where activity_date > ? and activity_date <= ? "
            "union all "
            "select wallet_address, min(activity_date), 0.0, 0.0, 0.0 from marts.fct_wallet_daily_pnl "
            "where activity_date <= ? group by wallet_address", [start, as_of, start])
        active = warehouse.query_df(
            "select wallet_address, activity_date, active_return from marts.fct_wallet_active_returns "
            "where activity_date > ? and activity_date <= ?", [start, as_of])
    for df in (daily, active):
        df["activity_date"] = pd.to_datetime(df["activity_date"])
    return metrics, daily, active, base


# ---- scoring --------------------------------------------------------------------------
def score_wallets(metrics: pd.DataFrame, daily: pd.DataFrame, active: pd.DataFrame,
                  base_rates: pd.DataFrame, s: ScoringSettings = ScoringSettings()) -> pd.DataFrame:
    """One row per wallet of ``metrics``: WQS (shrunk), its components, the bootstrap
    interval, rank by the lower bound, win-rate posterior, market-maker verdict, red
    flags (JSON of the values that raised each), exclusion and tier.

    ``daily`` / ``active``: rows of fct_wallet_daily_pnl / fct_wallet_active_returns
    (``activity_date`` as datetime64). ``base_rates``: category_base_rates.
    """
    # Wallet order fixes which random draws each wallet gets: sort, so the scores do not
    # depend on the order the warehouse returned the rows in.
    m = metrics.sort_values("wallet_address").reset_index(drop=True)
    n = len(m)
    if n == 0:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    as_of = pd.Timestamp(m["as_of_date"].iloc[0]).date()
    wallets = m["wallet_address"].tolist()
    ret, act, n_days, pnl, cap = return_panel(wallets, daily, active, as_of, s.return_window_days)
    # The edge weighs recent days more (half-life edge_half_life_days): skill fades, and a
    # wallet's last months say more about its next trades than its first.
    decay = recency_weights(ret.shape[1], s.edge_half_life_days)
    pnl, cap = pnl * decay, cap * decay
    boot = bootstrap_component_points(ret, act, n_days, s, pnl, cap)

    point = {c: ratio_points(c, m[column].to_numpy(float), s) for c, column in MART_RATIOS.items()}
    edge = pricing_edge(pnl, cap, n_days)
    point["pricing_edge"] = ratio_points("pricing_edge", edge, s)
    edge_se = np.concatenate([_row_std(_replicate_block(boot["pricing_edge_value"], rows)) for rows in _row_blocks(n)])
    # Std of daily returns over the last 30 days (or fewer): the behaviour monitor's volatility.
    recent = np.minimum(n_days, 30)
    cols = np.arange(ret.shape[1])[None, :] < recent[:, None]
    s1 = np.where(cols, ret, 0.0).sum(axis=1)
    s2 = np.where(cols, ret * ret, 0.0).sum(axis=1)
    volatility = np.sqrt(np.maximum(s2 - s1 * s1 / np.maximum(recent, 1), 0.0) / np.maximum(recent - 1, 1))
    shrunk, shrunk_with, factors = {}, {}, {}
    num = lambda col: pd.to_numeric(m[col], errors="coerce").to_numpy(float)  # noqa: E731
    # A handful of identical wins has no bootstrap variance, yet a few binary bets are never
    # that certain: below edge_min_bootstrap_positions priced positions, the edge's sampling
    # variance is at least a no-skill bettor's at the same prices (wallet_metrics:
    # Σ cost²·(1 − p)/p over (Σ cost)², per dollar²; over the wallet's closed positions).
    with np.errstate(invalid="ignore", divide="ignore"):
        edge_floor = num("edge_null_variance_usd2") / num("priced_cost_usd") ** 2
    edge_floor = np.where(np.nan_to_num(num("priced_positions")) < s.edge_min_bootstrap_positions, edge_floor, 0.0)
    for c in RATIO_COMPONENTS:
        # NaN for a wallet whose replicates are NaN (fewer than 2 days).
        var = np.full(n, np.nan)
        if s.bootstrap_samples > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                for rows in _row_blocks(n):
                    var[rows] = _replicate_block(boot[c], rows).var(axis=1, ddof=1)
        # Wallets with no measurable sample carry no information about this component:
        # they keep 0 points and stay out of the shrinkage population.
        measured = ~np.isnan(var)
        x = point[c].copy()
        grand, factor = james_stein_factors(x[measured], var[measured])
        f = np.ones(n)
        f[measured] = factor
        factors[c] = np.where(measured, f, np.nan)
        shrunk[c] = np.where(measured, shrink_toward(x, grand, f), 0.0)
        shrunk_with[c] = (grand, f, measured)
    shrunk["pricing_edge"], factors["pricing_edge"], edge_shrunk, edge_replicate_points = shrink_edge(
        edge, boot["pricing_edge_value"], edge_floor, s)

    def shrunk_replicates(c: str, rows: slice) -> np.ndarray:
        """Component c's shrunk replicate points of a block of wallets (wallets × samples)."""
        if c == "pricing_edge":
            return edge_replicate_points(rows)
        grand, f, measured = shrunk_with[c]
        return np.where(measured[rows, None],
                        shrink_toward(np.nan_to_num(_replicate_block(boot[c], rows), nan=0.0), grand, f[rows, None]),
                        0.0)

    trades = np.nan_to_num(num("trade_count")).astype(np.int64)
    cons, vol, tc, hhi = wqs_fixed_parts(num("rolling_sharpe_30d_std"), num("volume_usd"), trades,
                                         num("category_hhi"), s)
    fixed, penalty = cons + vol, tc * hhi
    score = np.clip((sum(shrunk[c] for c in SAMPLED_COMPONENTS) + fixed) * penalty, 0.0, 100.0)
    raw_wqs = np.clip((sum(point[c] for c in SAMPLED_COMPONENTS) + fixed) * penalty, 0.0, 100.0)
    # The interval: quantiles of the replicate scores, a block of wallets at a time.
    tail = (1.0 - s.bootstrap_level) / 2.0
    lower, upper = np.empty(n), np.empty(n)
    for rows in _row_blocks(n):
        reps = np.clip((sum(shrunk_replicates(c, rows) for c in SAMPLED_COMPONENTS) + fixed[rows, None])
                       * penalty[rows, None], 0.0, 100.0)
        lower[rows], upper[rows] = np.quantile(reps, [tail, 1.0 - tail], axis=1)

    base = dict(zip(base_rates["category"], base_rates["win_rate"])) if len(base_rates) else {}
    overall = _overall_base_rate(base_rates)
    prior = np.array([base.get(c, overall) for c in m["primary_category"]], dtype=float)
    post_mean, post_lo, post_hi, _, _ = win_rate_posteriors(
        np.nan_to_num(num("won_positions")), np.nan_to_num(num("lost_positions")), np.clip(prior, 0.01, 0.99), s)

    records = m.to_dict("records")
    mm = [is_market_maker(r, s) for r in records]
    flags = [red_flags(r, s) for r in records]
    excluded = [a or bool(f) for a, f in zip(mm, flags)]
    tiers = [tier(float(x), e, s) for x, e in zip(score, excluded)]
    out = pd.DataFrame({
        "wallet_address": m["wallet_address"],
        "as_of_date": as_of,
        "wqs": score,
        "wqs_lower": np.minimum(lower, score),
        "wqs_upper": np.maximum(upper, score),
        "wqs_unshrunk": raw_wqs,
        "sharpe_points": shrunk["sharpe"],
        "information_ratio_points": shrunk["information_ratio"],
        "calmar_points": shrunk["calmar"],
        "pricing_edge_points": shrunk["pricing_edge"],
        "consistency_points": cons,
        "volume_points": vol,
        "trade_count_factor": tc,
        "hhi_factor": hhi,
        "sharpe_shrinkage": factors["sharpe"],
        "information_ratio_shrinkage": factors["information_ratio"],
        "calmar_shrinkage": factors["calmar"],
        "pricing_edge_shrinkage": factors["pricing_edge"],
        "pricing_edge": edge,
        "pricing_edge_se": edge_se,
        "pricing_edge_shrunk": edge_shrunk,
        "return_days": n_days,
        "win_rate_posterior": post_mean,
        "win_rate_ci_low": post_lo,
        "win_rate_ci_high": post_hi,
        "win_rate_prior": prior,
        "is_market_maker": mm,
        "red_flags": [json.dumps(f, sort_keys=True) for f in flags],
        "red_flag_count": [len(f) for f in flags],
        "excluded": excluded,
        "tier": [t.name for t in tiers],
        "tier_max_exposure": [t.max_exposure for t in tiers],
        "tier_max_daily_trades": [t.max_daily_trades for t in tiers],
        "trade_count": trades,
        "sharpe_30d": num("sharpe_30d"),
        "sharpe_90d": num("sharpe_90d"),
        "current_drawdown": num("current_drawdown"),
        "realized_pnl_usd": np.nan_to_num(num("realized_pnl_usd")),
        "mean_bet_usd": num("mean_position_usd"),
        "category_count": pd.array(m["category_count"], dtype="Int64"),
        "return_volatility": np.where(n_days >= 2, volatility, np.nan),
        **{c: num(c) for c in DETECTOR_MEASURES},
    })
    # Rank by the lower bound; ties (e.g. all zeros) by the point score, then address.
    out = out.sort_values(["wqs_lower", "wqs", "wallet_address"], ascending=[False, False, True])
    out["rank"] = np.arange(1, len(out) + 1)
    return out[SCORE_COLUMNS].reset_index(drop=True)


# The wallet_metrics measurements the detectors decide on, stored beside each score.
DETECTOR_MEASURES = (
    "flow_balance", "inventory_turnover", "net_position_ratio", "wash_volume_share", "wash_circularity",
    "wash_partners", "wash_trade_share", "new_wallet_bet_usd", "new_wallet_volume_share", "insider_like_bet_usd",
    "insider_like_volume_share", "insider_like_hours_before_close", "category_breadth", "effective_categories",
    "categories_available", "best_category_edge_z", "edge_null_z",
)

SCORE_COLUMNS = [
    "rank", "wallet_address", "as_of_date", "wqs", "wqs_lower", "wqs_upper", "wqs_unshrunk",
    "sharpe_points", "information_ratio_points", "calmar_points", "consistency_points", "volume_points",
    "pricing_edge_points", "trade_count_factor", "hhi_factor", "sharpe_shrinkage", "information_ratio_shrinkage",
    "calmar_shrinkage", "pricing_edge_shrinkage", "pricing_edge", "pricing_edge_se", "pricing_edge_shrunk",
    "return_days", "win_rate_posterior", "win_rate_ci_low", "win_rate_ci_high", "win_rate_prior",
    "is_market_maker", "red_flags", "red_flag_count", "excluded", "tier", "tier_max_exposure",
    "tier_max_daily_trades", "trade_count", "sharpe_30d", "sharpe_90d", "current_drawdown", "realized_pnl_usd",
    "mean_bet_usd", "category_count", "return_volatility", *DETECTOR_MEASURES,
]


def _row_std(x: np.ndarray) -> np.ndarray:
    """Sample standard deviation of each row's finite values (NaN with fewer than two)."""
    ok = ~np.isnan(x)
    k = ok.sum(axis=1)
    v = np.where(ok, x, 0.0)
    mean = v.sum(axis=1) / np.maximum(k, 1)
    ss = (np.where(ok, x - mean[:, None], 0.0) ** 2).sum(axis=1)
    return np.where(k >= 2, np.sqrt(ss / np.maximum(k - 1, 1)), np.nan)



def _overall_base_rate(base_rates: pd.DataFrame) -> float:
    if not len(base_rates) or base_rates["resolved_positions"].sum() == 0:
        return 0.5
    return float(base_rates["won_positions"].sum() / (base_rates["won_positions"].sum()
                                                     + base_rates["lost_positions"].sum()))
