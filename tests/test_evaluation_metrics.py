"""The evaluation's measures on hand-made data."""

import math

import numpy as np
import pandas as pd
import pytest

from polycopy.evaluation.metrics import (exclusion_recall, information_coefficient, next_period_returns,
                                         pooled_return, precision_at_k)
from polycopy.sim.world import BUY, SELL, SimConfig, SimWorld


def tiny_world() -> SimWorld:
    markets = pd.DataFrame({"void": [False, True], "winner": [0, -1]})
    wallets = pd.DataFrame({"address": ["w0", "w1"]})
    trades = pd.DataFrame(
        [  # ts, wallet, market, outcome, side, size, price
            (50, 0, 0, 0, BUY, 100, 0.30),    # before the split: not copyable
            (150, 0, 0, 0, SELL, 100, 0.50),  # sells shares bought before: ignored
            (160, 0, 0, 0, BUY, 100, 0.40),   # M0 outcome 0 wins: settles 100 × 1 − 40 = +60
            (170, 0, 0, 0, BUY, 100, 0.60),   # → 200 shares at avg 0.50
            (180, 0, 0, 0, SELL, 50, 0.70),   # realizes 50 × (0.70 − 0.50) = +10; 150 left, cost 75 → +75
            (160, 1, 1, 1, BUY, 10, 0.20),    # void: 10 × 0.5 − 2 = +3
            (160, 1, 0, 1, BUY, 10, 0.50),    # M0 outcome 1 loses: −5
            (400, 1, 0, 1, BUY, 10, 0.50),    # after the period: not counted
        ],
        columns=["ts", "wallet_idx", "market_idx", "outcome_index", "side", "size", "price"])
    return SimWorld(SimConfig(), markets, wallets, trades, pd.DataFrame(), [], np.zeros((2, 2)))


def test_next_period_returns_copy_only_new_positions_and_settle_at_the_truth():
    r = next_period_returns(tiny_world(), 100, 300).set_index("wallet_address")
    assert r.loc["w0", "next_buy_usd"] == pytest.approx(100.0)  # 40 + 60
    assert r.loc["w0", "next_pnl_usd"] == pytest.approx(10 + 75)
    assert r.loc["w0", "next_return"] == pytest.approx(0.85) and r.loc["w0", "next_buys"] == 2
    assert r.loc["w1", "next_buy_usd"] == pytest.approx(7.0)
    assert r.loc["w1", "next_return"] == pytest.approx(-2 / 7)


def test_ranking_measures():
    score = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan])
    outcome = pd.Series([0.1, 0.3, 0.2, 0.4, 9.0])
    # Ranks 1,2,3,4 vs 1,3,2,4: Spearman = 1 − 6·Σd² / (n(n² − 1)) = 1 − 6·2 / 60.
    assert information_coefficient(score, outcome) == pytest.approx(0.8)
    assert precision_at_k(["a", "b", "c"], {"a", "c"}, 2) == 0.5
    assert precision_at_k(["a"], {"a"}, 20) == 1.0 and math.isnan(precision_at_k([], {"a"}, 20))
    labels = pd.DataFrame({"address": ["m1", "m2", "i1"], "archetype": ["market_maker", "market_maker", "insider"]})
    recall = exclusion_recall(["m1", "x"], labels)
    assert recall["market_maker"] == 0.5 and recall["insider"] == 1.0 and math.isnan(recall["wash_trader"])
    nxt = pd.DataFrame({"wallet_address": ["a", "b"], "next_buy_usd": [100.0, 300.0], "next_pnl_usd": [10.0, -30.0]})
    assert pooled_return(["a", "b"], nxt) == pytest.approx(-20 / 400)
