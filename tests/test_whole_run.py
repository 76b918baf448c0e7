"""Thirty simulated days of copying, the position lifecycle included, audited independently
(``tests/whole_run.py``): every position opened is closed by a rule or by settlement, or is
still open in a market not resolved; each position's realized P&L equals its recomputation
from the venue's own executions and the ground truth's payouts to 1e-6 USD; every NAV
snapshot's cash is the recomputed cash and its NAV is cash plus the marked positions; cash
and holdings never go negative."""

import dataclasses

import pytest

from polycopy.trading.settings import ExitSettings
from tests.whole_run import HOUR, RUN_RULES, run_copying

CONFIGS = {
    # The documents' exit rules, looked at every simulated hour.
    "exit_rules": (RUN_RULES, HOUR),
    # Held until the market resolves unless the whale sells: settlement carries the run.
    "held_to_resolution": (dataclasses.replace(RUN_RULES, exits=ExitSettings(
        stop_loss=False, take_profit=False, trailing_stop=False, time_exit=False)), 2 * HOUR),
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_thirty_days_of_copying_close_every_position_and_account_to_the_cent(tmp_path, config):
    rules, step = CONFIGS[config]
    r = run_copying(str(tmp_path / "ledger.sqlite"), days=30, step_s=step, n_trades=12_000, n_followed=8,
                    rules=rules)
    a = r.audit
    print(config, f"{r.seconds:.0f} s", "copies", r.copies, "exits", dict(r.exits_by_rule), a)
    assert a["positions"] >= 40 and r.snapshots >= 100
    assert a["open_in_resolved_markets"] == [] and a["negative_holdings"] == []
    assert a["positions_missing_from_audit"] == []
    assert a["max_realized_pnl_diff_usd"] < 1e-6
    assert a["max_snapshot_cash_diff_usd"] < 1e-6 and a["max_nav_identity_diff_usd"] < 1e-6
    assert a["min_cash_usd"] >= 0
    if config == "exit_rules":
        assert {"stop_loss", "take_profit", "mirror", "trailing_stop"} <= set(r.exits_by_rule)
    else:
        assert r.exits_by_rule["resolved"] >= 10 and set(r.exits_by_rule) <= {"resolved", "mirror"}
