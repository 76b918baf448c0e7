"""Scoring formulas against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest

from polycopy.scoring.formulas import bayesian_win_rate, market_maker_evidence, red_flags, tier, wqs
from polycopy.scoring.settings import WQS_PRESETS, ScoringSettings, WatchlistSettings

DOCS = ScoringSettings(wqs_preset="documents")


def test_beta_binomial_posterior_and_credible_interval():
    # 30 wins, 10 losses, category base rate 0.5, prior strength 20:
    # prior Beta(10, 10) → posterior Beta(40, 20), mean 40 / 60.
    p = bayesian_win_rate(30, 10, 0.5)
    assert (p.alpha, p.beta) == (40.0, 20.0)
    assert p.mean == pytest.approx(2 / 3)
    # The interval holds 95 % of the posterior, 2.5 % in each tail — checked by integrating
    # the density x^39 (1 − x)^19 / B(40, 20) numerically, independently of the quantile code.
    x = np.linspace(0.0, 1.0, 400_001)
    log_b = math.lgamma(40) + math.lgamma(20) - math.lgamma(60)
    pdf = np.exp(39 * np.log(np.clip(x, 1e-300, 1)) + 19 * np.log(np.clip(1 - x, 1e-300, 1)) - log_b)
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(x))])
    assert np.interp(p.ci_low, x, cdf) == pytest.approx(0.025, abs=1e-6)
    assert np.interp(p.ci_high, x, cdf) == pytest.approx(0.975, abs=1e-6)
    # Few trades shrink hard toward the base rate: 3 wins of 3 → (0.52·20 + 3) / 23.
    q = bayesian_win_rate(3, 0, 0.521)
    assert q.mean == pytest.approx((0.521 * 20 + 3) / 23)
    with pytest.raises(ValueError):
        bayesian_win_rate(1, 1, 0.0)


def test_wqs_components_and_penalties():
    b = wqs(sharpe=2.0, information_ratio=1.0, calmar=2.0, rolling_sharpe_std=0.3, volume_usd=1_000_000,
            trade_count=40, category_hhi=2500, s=DOCS)
    assert b.sharpe == pytest.approx(24.0)  # 2.0 × 12
    assert b.information_ratio == pytest.approx(20.0)  # 1.0 × 20
    assert b.calmar == pytest.approx(13.34)  # 2.0 × 6.67
    assert b.consistency == pytest.approx(9.0)  # 15 × (1 − 0.3 / 0.75)
    assert b.volume == pytest.approx(5.0)  # log10(1e6 / 1e4) × 2.5
    assert b.base == pytest.approx(71.34)
    assert b.trade_count_factor == pytest.approx(0.9)  # 40 < 50: 0.5 + 40 / 100
    assert b.hhi_factor == pytest.approx(0.9)  # HHI 2500 > 1800
    assert b.wqs == pytest.approx(71.34 * 0.9 * 0.9)


def test_wqs_caps_floors_and_missing_inputs():
    b = wqs(sharpe=5.0, information_ratio=-1.0, calmar=10.0, rolling_sharpe_std=1.0, volume_usd=1e9,
            trade_count=60, category_hhi=1000, pricing_edge=0.5, s=DOCS)
    assert (b.sharpe, b.information_ratio, b.calmar, b.consistency, b.volume) == (30.0, 0.0, 20.0, 0.0, 10.0)
    assert b.pricing_edge == 0.0  # the documents' five factors give the edge no weight
    assert (b.trade_count_factor, b.hhi_factor, b.wqs) == (1.0, 1.0, 60.0)
    none = wqs(None, float("nan"), None, None, volume_usd=0.0, trade_count=0, category_hhi=None, s=DOCS)
    assert none.wqs == 0.0 and none.trade_count_factor == 0.5
    top = wqs(10, 10, 10, 0.0, 1e12, 1000, 0, s=DOCS)
    assert top.wqs == 100.0  # 30 + 25 + 20 + 15 + 10


def test_the_edge_preset_adds_the_pricing_edge_and_keeps_every_saturation_point():
    s = ScoringSettings()  # the default: "edge"
    w = WQS_PRESETS["edge"]
    assert s.wqs_preset == "edge" and s.edge_max_points == w["edge_max_points"]
    assert sum(w[k] for k in w if k.endswith("_max_points")) == pytest.approx(100.0)
    # Each documents' component saturates where it did: Sharpe 2.5, IR 1.25, Calmar ~3, volume 4 decades.
    assert s.sharpe_max_points / s.sharpe_points_per_unit == pytest.approx(2.5)
    assert s.ir_max_points / s.ir_points_per_unit == pytest.approx(1.25)
    assert s.volume_max_points / s.volume_points_per_decade == pytest.approx(4.0)
    # An edge of 0.1 per dollar earns 0.1 × points per unit; a losing edge earns nothing.
    half = wqs(None, None, None, None, 0.0, 100, None, pricing_edge=0.1, s=s)
    assert half.pricing_edge == pytest.approx(0.1 * s.edge_points_per_unit) and half.wqs == pytest.approx(half.pricing_edge)
    assert wqs(None, None, None, None, 0.0, 100, None, pricing_edge=-0.3, s=s).pricing_edge == 0.0
    assert wqs(None, None, None, None, 0.0, 100, None, pricing_edge=5.0, s=s).pricing_edge == s.edge_max_points


def test_presets_and_weights_are_checked_when_settings_load():
    custom = ScoringSettings(wqs_preset="custom", sharpe_max_points=50.0, edge_max_points=50.0, edge_points_per_unit=100)
    assert (custom.sharpe_max_points, custom.edge_max_points) == (50.0, 50.0)
    # A preset other than "custom" sets the weights, and a weight set beside it is refused, not dropped.
    assert ScoringSettings(wqs_preset="documents").sharpe_max_points == 30.0
    with pytest.raises(ValueError, match="sharpe_max_points are set by wqs_preset='edge'"):
        ScoringSettings(sharpe_max_points=50.0)
    with pytest.raises(ValueError, match="wqs_preset must be one of"):
        ScoringSettings(wqs_preset="best")
    with pytest.raises(ValueError, match="must not be negative: edge_max_points"):
        ScoringSettings(wqs_preset="custom", edge_max_points=-1.0)
    with pytest.raises(ValueError, match="gate must be one of"):
        WatchlistSettings(gate="loose")


MAKER = {"trade_count": 600, "flow_balance": 0.97, "inventory_turnover": 3.0, "net_position_ratio": 0.02,
         "avg_hold_seconds": 2 * 86400.0}


def test_market_maker_by_behaviour():
    assert market_maker_evidence(MAKER) == {"trade_count": 600, "flow_balance": 0.97, "inventory_turnover": 3.0,
                                            "net_position_ratio": 0.02}  # holds for days: still a maker
    near_misses = [
        {"trade_count": 99},  # too few fills to tell
        {"flow_balance": 0.6},  # mostly one way: a view, not a quote
        {"inventory_turnover": 1.0},  # scaled in and out once per market: a swing trader
        {"net_position_ratio": 0.4},  # ends holding a position
        {"flow_balance": None},
    ]
    for change in near_misses:
        assert market_maker_evidence({**MAKER, **change}) is None, change
    assert market_maker_evidence(MAKER, ScoringSettings(mm_min_inventory_turnover=5.0)) is None


CLEAN = {"trade_count": 150, "edge_null_z": 3.0, "wash_volume_share": 0.0, "wash_circularity": None,
         "wash_trade_share": 0.01, "profit_factor": 1.8, "category_breadth": 0.2, "best_category_edge_z": 2.5,
         "max_drawdown": 0.12, "new_wallet_bet_usd": None, "new_wallet_volume_share": 0.0,
         "insider_like_bet_usd": None, "insider_like_volume_share": 0.0}


@pytest.mark.parametrize("flag, change, near_miss", [
    ("NEW_WALLET_LARGE_BET", {"new_wallet_bet_usd": 20_000, "new_wallet_volume_share": 0.9},
     {"new_wallet_bet_usd": 20_000, "new_wallet_volume_share": 0.1}),  # one early bet in a long record
    ("INSIDER_PATTERN", {"insider_like_bet_usd": 8_000, "insider_like_volume_share": 0.95},
     {"insider_like_bet_usd": 900, "insider_like_volume_share": 0.95}),  # too small to matter
    ("LUCK_NOT_SKILL", {"trade_count": 12, "edge_null_z": 1.2}, {"trade_count": 12, "edge_null_z": 4.0}),
    ("WASH_TRADING_DETECTED", {"wash_volume_share": 0.8, "wash_circularity": 0.95},
     {"wash_volume_share": 0.8, "wash_circularity": 0.1}),  # a taker hitting one maker: one way
    ("WASH_TRADING_DETECTED", {"wash_trade_share": 0.8}, {"wash_trade_share": 0.5}),
    ("NEGATIVE_PROFIT_FACTOR", {"profit_factor": 0.7}, {"profit_factor": 1.0}),
    ("NO_SPECIALIZATION", {"category_breadth": 0.8, "best_category_edge_z": 0.1},
     {"category_breadth": 0.8, "best_category_edge_z": 2.0}),  # a generalist with an edge somewhere
    ("EXCESSIVE_DRAWDOWN", {"max_drawdown": 0.5}, {"max_drawdown": 0.35}),
])
def test_each_red_flag_trips_on_its_wallet_and_not_on_a_near_miss(flag, change, near_miss):
    assert red_flags(CLEAN) == {}
    flags = red_flags({**CLEAN, **change})
    assert list(flags) == [flag]
    assert all(flags[flag][k] == pytest.approx(v) for k, v in change.items())  # the values that raised it
    assert red_flags({**CLEAN, **near_miss}) == {}


def test_red_flag_thresholds_are_strict_and_configurable():
    edge = {**CLEAN, "new_wallet_bet_usd": 1000, "new_wallet_volume_share": 1.0, "trade_count": 20,
            "wash_trade_share": 0.7, "profit_factor": 1.0, "category_breadth": 0.5, "best_category_edge_z": 0.0,
            "max_drawdown": 0.35}
    assert red_flags(edge) == {}  # each document threshold is a strict bound
    strict = ScoringSettings(max_drawdown=0.10)
    assert "EXCESSIVE_DRAWDOWN" in red_flags(CLEAN | {"max_drawdown": 0.12}, strict)


def test_tiers_with_limits():
    assert (tier(95, False).name, tier(95, False).max_exposure, tier(95, False).max_daily_trades) == ("Elite", 0.15, 10)
    assert (tier(75, False).name, tier(75, False).max_exposure, tier(75, False).max_daily_trades) == ("Expert", 0.10, 8)
    assert (tier(55, False).name, tier(55, False).max_exposure, tier(55, False).max_daily_trades) == ("Good", 0.07, 5)
    assert (tier(45, False).name, tier(45, False).max_exposure) == ("Poor", 0.0)
    assert tier(95, True).name == "Poor"  # an excluded wallet is never copied


def test_james_stein_shrinkage():
    from polycopy.scoring.shrinkage import james_stein_factors, shrink_toward

    def james_stein(x, v):
        mean, factor = james_stein_factors(x, v)
        return shrink_toward(x, mean, factor)

    # k = 5 estimates, mean 1.0, Σ(x − x̄)² = 1 + 0.25 + 0 + 0.25 + 1 = 2.5.
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    # Equal variance 0.5: B = (5 − 3) × 0.5 / 2.5 = 0.4 → each moves 40 % of the way to 1.0.
    assert james_stein(x, 0.5) == pytest.approx(1.0 + 0.6 * (x - 1.0))
    # Per-wallet variances: the noisier the estimate, the harder it shrinks; B caps at 1.
    v = np.array([0.1, 0.1, 0.1, 0.1, 5.0])
    out = james_stein(x, v)
    assert out[0] == pytest.approx(1.0 + (1 - 2 * 0.1 / 2.5) * (0.0 - 1.0))  # B = 0.08
    assert out[4] == pytest.approx(1.0)  # B = min(1, 4.0) → all the way to the mean
    assert list(james_stein(np.array([1.0, 3.0]), 1.0)) == [1.0, 3.0]  # k < 4: unchanged


def test_bootstrap_replicates_by_hand():
    """One wallet, 4 days: returns 0, 0.1, 0.1, 0.1 (one empty day, three realizations).

    A replicate draws 4 days with replacement. All-0.1 (0.75⁴ = 0.3164) or all-0
    (0.25⁴ = 0.0039) has no variance: Sharpe undefined, 0 points. Any mix has a positive
    mean and a daily Sharpe ≥ 0.577 (×√365 > 11), so the capped 30 points. Expected points:
    30 × (1 − 0.3203) = 20.39; the 5 % quantile is 0 and the 95 % quantile 30.
    """
    from polycopy.scoring.settings import ScoringSettings
    from polycopy.scoring.wallet_scores import bootstrap_component_points

    ret = np.array([[0.0, 0.1, 0.1, 0.1]])
    act = np.full((1, 4), np.nan)
    s = ScoringSettings(wqs_preset="documents", bootstrap_samples=40_000, bootstrap_seed=7)
    pts = bootstrap_component_points(ret, act, np.array([4]), s)["sharpe"][0]
    assert set(np.unique(pts)) == {0.0, 30.0}
    assert (pts == 0).mean() == pytest.approx(0.75 ** 4 + 0.25 ** 4, abs=0.006)
    assert np.quantile(pts, [0.05, 0.95]).tolist() == [0.0, 30.0]
    # Same seed, same replicates; another seed, other replicates.
    again = bootstrap_component_points(ret, act, np.array([4]), s)["sharpe"][0]
    other = bootstrap_component_points(ret, act, np.array([4]), ScoringSettings(
        wqs_preset="documents", bootstrap_samples=40_000, bootstrap_seed=8))["sharpe"][0]
    assert np.array_equal(pts, again) and not np.array_equal(pts, other)


def test_bootstrap_replicates_do_not_depend_on_the_thread_count():
    """Each chunk of wallets draws from its own generator spawned from the seed: one thread
    or four give the same replicates, wallet by wallet."""
    from polycopy.scoring.settings import ScoringSettings
    from polycopy.scoring.wallet_scores import bootstrap_component_points

    gen = np.random.default_rng(3)
    ret = np.where(gen.random((700, 90)) < 0.3, gen.normal(0.01, 0.05, (700, 90)), 0.0)
    act = np.where(ret != 0, ret - 0.002, np.nan)
    n_days = gen.integers(1, 91, 700)
    s = ScoringSettings(bootstrap_samples=200, bootstrap_seed=5)
    one = bootstrap_component_points(ret, act, n_days, s, chunk=64, threads=1)
    four = bootstrap_component_points(ret, act, n_days, s, chunk=64, threads=4)
    assert set(one) == set(four)
    for key in one:
        assert np.array_equal(one[key], four[key], equal_nan=True), key
    assert np.isfinite(one["sharpe"][n_days >= 2]).any()


def test_bootstrap_draws_the_same_distribution_as_resampling_every_day():
    """Drawing K ~ Binomial(n, k/n) informative days is the plain bootstrap of all n days:
    the replicate ratios match a brute-force resampling of the whole 90-day vector."""
    from polycopy.scoring.settings import ScoringSettings
    from polycopy.scoring.formulas import ratio_points
    from polycopy.scoring.wallet_scores import _ratios, bootstrap_component_points

    rng = np.random.default_rng(0)
    ret = np.zeros((1, 90))
    days = rng.choice(90, size=15, replace=False)
    ret[0, days] = rng.normal(0.004, 0.03, size=15)
    act = np.full((1, 90), np.nan)
    act[0, days] = ret[0, days] - 0.002
    s = ScoringSettings(wqs_preset="documents", bootstrap_samples=20_000, bootstrap_seed=1)
    ours = bootstrap_component_points(ret, act, np.array([90]), s)
    idx = rng.integers(0, 90, size=(20_000, 90))
    brute = _ratios(ret[0][idx], act[0][idx], np.ones((20_000, 90), dtype=bool))
    for c in ("sharpe", "information_ratio", "calmar"):
        theirs = ratio_points(c, brute[c], s)
        assert ours[c][0].mean() == pytest.approx(theirs.mean(), abs=0.35), c
        for q in (0.05, 0.25, 0.5, 0.75, 0.95):
            assert np.quantile(ours[c][0], q) == pytest.approx(np.quantile(theirs, q), abs=0.8), (c, q)


def test_pricing_edge_and_its_bootstrap_by_hand():
    """One wallet, 4 days: day 0 realizes +10 USD on 100 of capital, day 1 −5 on 50, days 2–3
    nothing. Edge = 5 / 150. A replicate draws 4 days: a of day 0, b of day 1 (multinomial
    4, (1/4, 1/4, 1/2)); its edge is (10a − 5b) / (100a + 50b), undefined when a = b = 0.
    The replicates' mean and standard deviation match the exact enumeration."""
    from itertools import product

    from polycopy.scoring.wallet_scores import bootstrap_component_points, pricing_edge, recency_weights

    pnl = np.array([[10.0, -5.0, 0.0, 0.0]])
    cap = np.array([[100.0, 50.0, 0.0, 0.0]])
    ret = np.array([[0.1, -0.1, 0.0, 0.0]])
    act = np.full((1, 4), np.nan)
    assert pricing_edge(pnl, cap, np.array([4]))[0] == pytest.approx(5 / 150)
    assert pricing_edge(pnl, cap, np.array([1]))[0] == pytest.approx(0.1)  # only the as-of day counts
    assert recency_weights(3, 30.0).tolist() == pytest.approx([1.0, 2 ** (-1 / 30), 2 ** (-2 / 30)])
    assert recency_weights(3, 0.0).tolist() == [1.0, 1.0, 1.0]
    values, probs = [], []
    for draws in product(range(3), repeat=4):  # 0: day 0, 1: day 1, 2: an empty day
        a, b = draws.count(0), draws.count(1)
        if a + b:
            values.append((10 * a - 5 * b) / (100 * a + 50 * b))
            probs.append(np.prod([0.25 if d < 2 else 0.5 for d in draws]))
    values, probs = np.array(values), np.array(probs) / sum(probs)
    mean = float((values * probs).sum())
    std = float(np.sqrt((probs * (values - mean) ** 2).sum()))
    s = ScoringSettings(bootstrap_samples=40_000, bootstrap_seed=3)
    reps = bootstrap_component_points(ret, act, np.array([4]), s, pnl, cap)["pricing_edge_value"][0]
    assert np.isnan(reps).mean() == pytest.approx(1 / 16, abs=0.005)
    assert np.nanmean(reps) == pytest.approx(mean, abs=0.002)
    assert np.nanstd(reps) == pytest.approx(std, rel=0.02)


def _metrics_row(wallet: str, **values) -> dict:
    from polycopy.scoring.wallet_scores import DETECTOR_MEASURES

    row = {c: np.nan for c in DETECTOR_MEASURES}
    row.update(wallet_address=wallet, as_of_date=pd.Timestamp("2026-04-30"), sharpe_90d=np.nan, sharpe_30d=np.nan,
               information_ratio=np.nan, calmar_ratio=np.nan, trade_count=200, rolling_sharpe_30d_std=np.nan,
               volume_usd=0.0, category_hhi=np.nan, primary_category="politics", won_positions=0, lost_positions=0,
               current_drawdown=0.0, realized_pnl_usd=0.0, mean_position_usd=100.0, category_count=1,
               edge_null_z=3.0, profit_factor=2.0, max_drawdown=0.1, priced_positions=60,
               edge_null_variance_usd2=60 * 100.0 ** 2, priced_cost_usd=6000.0)
    row.update(values)
    return row


def test_the_edge_component_is_shrunk_by_its_own_noise():
    """Six wallets with a steady record (60 days realizing 2–7 % on 100 USD) and one with 3
    days, all +50 %: each edge is Σ P&L / Σ capital; its standard error is close to the
    delta-method one, sqrt(n / (n − 1) · Σ (pnl − E·cap)²) / Σ cap. Three identical wins
    have no bootstrap variance, but three bets at 0.50 are far from certain: with fewer
    than 30 priced positions the variance is at least a no-skill bettor's (3 × 100² / 300²
    = 1/3 per dollar²), so its edge is pulled to the crowd (James-Stein B near 1) while the
    steady ones hardly move."""
    from polycopy.scoring.wallet_scores import score_wallets

    rng = np.random.default_rng(5)
    as_of = pd.Timestamp("2026-04-30")
    rows, metrics = [], []
    for i in range(6):
        w = f"0xsteady{i}"
        metrics.append(_metrics_row(w))
        for d in range(60):
            pnl = 100 * (0.02 + 0.01 * i + rng.normal(0, 0.05))
            rows.append((w, as_of - pd.Timedelta(days=d), pnl / 100, pnl, 100.0))
    metrics.append(_metrics_row("0xlucky", priced_positions=3, edge_null_variance_usd2=3 * 100.0 ** 2,
                                priced_cost_usd=300.0))
    for d in range(3):
        rows.append(("0xlucky", as_of - pd.Timedelta(days=d), 0.5, 50.0, 100.0))
    daily = pd.DataFrame(rows, columns=["wallet_address", "activity_date", "daily_return", "realized_pnl_usd",
                                        "capital_realized_usd"])
    active = pd.DataFrame(columns=["wallet_address", "activity_date", "active_return"])
    active["activity_date"] = pd.to_datetime(active["activity_date"])
    base = pd.DataFrame({"category": ["politics"], "win_rate": [0.5], "resolved_positions": [0],
                         "won_positions": [0], "lost_positions": [0]})
    s = ScoringSettings(edge_half_life_days=0.0, bootstrap_samples=2000)
    out = score_wallets(pd.DataFrame(metrics), daily, active, base, s).set_index("wallet_address")
    for i in range(6):
        w = f"0xsteady{i}"
        d = daily[daily["wallet_address"] == w]
        e = d["realized_pnl_usd"].sum() / d["capital_realized_usd"].sum()
        assert out.loc[w, "pricing_edge"] == pytest.approx(e)
        n = len(d)
        delta_se = np.sqrt(n / (n - 1) * ((d["realized_pnl_usd"] - e * d["capital_realized_usd"]) ** 2).sum()) \
            / d["capital_realized_usd"].sum()
        assert out.loc[w, "pricing_edge_se"] == pytest.approx(delta_se, rel=0.15)
    # Shrinkage works on the edge itself (USD per USD, within ±1), then maps to points.
    x = out["pricing_edge"].clip(-1, 1)
    grand = x.mean()
    b = out["pricing_edge_shrinkage"]
    assert out["pricing_edge_shrunk"].to_numpy() == pytest.approx((grand + (1 - b) * (x - grand)).to_numpy())
    points = (out["pricing_edge_shrunk"] * s.edge_points_per_unit).clip(0, s.edge_max_points)
    assert out["pricing_edge_points"].to_numpy() == pytest.approx(points.to_numpy())
    assert b["0xlucky"] > 0.9 > 0.2 > b.drop("0xlucky").max()
    assert out.loc["0xlucky", "pricing_edge"] == pytest.approx(0.5)  # +50 % a dollar, unshrunk
    assert out.loc["0xlucky", "pricing_edge_shrunk"] == pytest.approx(grand, abs=0.1 * (0.5 - grand))
