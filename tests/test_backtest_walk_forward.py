"""The walk-forward backtest replays the production chain without seeing the future."""

import dataclasses
import json

import numpy as np
import pytest

from polycopy.backtest.walk_forward import (BacktestSettings, Strategy, build_step_inputs, copy_everything_rules,
                                            nav_series, run_strategy, step_starts)
from polycopy.sim.server import SimVenue
from polycopy.sim.world import SimConfig, generate_world
from polycopy.trading.settings import ExitSettings

DAY = 86_400
SETTINGS = BacktestSettings(warmup_days=28, step_days=6)
# Copies every leaderboard BUY (so there are many decisions to compare), with the documents'
# exit rules on (so exits are decided on prices too).
PROBE = Strategy("probe", rules=dataclasses.replace(copy_everything_rules(60.0), exits=ExitSettings()),
                 follow="leaderboard", knows_scores=False, leaderboard_size=15)


def small_world():
    return generate_world(SimConfig(seed=5, n_markets=120, n_wallets=300, n_trades=14_000, history_days=40,
                                    live_days=0.0))


def poison_after(world, cut: int, seed: int = 0):
    """Garbage from ``cut`` on: every later trade gets a random price, size, side and
    wallet; every market still open then resolves the other way, and its price after the
    cut is noise. Nothing at or before the cut changes."""
    rng = np.random.default_rng(seed)
    t = world.trades
    late = (t["ts"] > cut).to_numpy()
    n = int(late.sum())
    t.loc[late, "price"] = np.round(rng.uniform(0.01, 0.99, n), 2)
    t.loc[late, "size"] = np.round(rng.uniform(1, 5_000, n), 2)
    t.loc[late, "side"] = rng.integers(0, 2, n).astype(t["side"].dtype)
    t.loc[late, "wallet_idx"] = rng.integers(0, len(world.wallets), n)
    m = world.markets
    for i in np.flatnonzero((m["resolved_ts"] > cut).to_numpy()):
        m.loc[m.index[i], "winner"] = 1 - int(m["winner"].iat[i]) if int(m["winner"].iat[i]) >= 0 else 0
        m.loc[m.index[i], "void"] = False
        world.set_price_path(int(i), [(cut + 1 + k * 3_600, float(p))
                                      for k, p in enumerate(rng.uniform(0.02, 0.98, 24 * 30))])
    return world


def decisions_until(run, cut: float) -> list[tuple]:
    ledger = run.ledger()
    entries = [(d["signal_key"], d["decision"], d["stage"], d["reason"], json.loads(d["details"]))
               for d in ledger.decisions() if d["decided_at"] <= cut]
    exits = [(e["exit_key"], e["decision"], e["rule"], e["reason"], e["details"], e["shares"])
             for e in ledger._rows("select * from exit_decisions where decided_at <= ? order by exit_key", (cut,))]
    fills = [(f["order_id"], f["price"], f["shares"], f["fee_usd"])
             for f in ledger._rows("select * from fills where filled_at <= ? order by order_id, fill_id", (cut,))]
    return sorted(entries, key=lambda x: x[0]), exits, fills


def backtest(world, tmp_path, name):
    starts = step_starts(world, SETTINGS, days=6)
    workdir = tmp_path / name
    workdir.mkdir()
    steps = build_step_inputs(world, starts, SETTINGS, workdir)
    return run_strategy(world, steps, PROBE, SETTINGS, workdir, venue=SimVenue(world)), starts


def test_a_poisoned_future_changes_no_decision_taken_before_it(tmp_path):
    clean, starts = backtest(small_world(), tmp_path, "clean")
    # Cut in the middle of the step: its scoring (as of the day before) and the first half
    # of its trading are in the past.
    cut = starts[0] + 3 * DAY + 7 * 3_600
    poisoned, _ = backtest(poison_after(small_world(), cut), tmp_path, "poisoned")
    entries, exits, fills = decisions_until(clean, cut)
    p_entries, p_exits, p_fills = decisions_until(poisoned, cut)
    assert len(entries) >= 30 and sum(d[1] == "copy" for d in entries) >= 10 and len(fills) >= 10
    assert p_entries == entries
    assert p_exits == exits
    assert p_fills == fills
    assert poisoned.followed == clean.followed  # scored before the cut
    # ...and the poison did reach what came after it.
    after = [d for d in clean.ledger().decisions() if d["decided_at"] > cut]
    p_after = [d for d in poisoned.ledger().decisions() if d["decided_at"] > cut]
    assert after and [d["signal_key"] for d in after] != [d["signal_key"] for d in p_after]
    assert len(nav_series(clean.ledger())) >= 6
