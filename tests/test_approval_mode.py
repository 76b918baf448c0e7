"""Approval mode: a copy decision becomes a proposal that a person approves (re-checked
against the book and the risk gate, then sent live), rejects, or lets expire — each action
recorded with its actor, time and reason — from the domain functions, the review_order
job and ``polycopy orders``."""

import httpx
import pytest

from polycopy.execution.approval import approve, expire_proposals, propose, reject, send_proposal
from polycopy.sim.server import running_venue
from polycopy.trading.settings import SignalSettings
from tests.test_live_venue import FEE_RATE, KEY, Desk, world  # noqa: F401 - world is a fixture

SIGNALS = SignalSettings()


@pytest.fixture()
def desk(world, tmp_path):  # noqa: F811
    with running_venue(world=world) as server:
        d = Desk(server, world, tmp_path)
        d.fund(usd=500.0)
        d.venue = d.live()
        yield d
        d.venue.close()
        d.close()


def proposed(desk, usd=25.0, nth=0) -> tuple[str, dict]:
    """A copy decision on the ``nth`` tradable market, proposed."""
    markets = desk.markets(version="v1")
    for _ in range(nth):
        next(markets)
    market = next(markets)
    ask = desk.clients.clob.book(str(market.token0)).best_ask
    key = desk.decide_copy(market, usd=usd, whale_price=ask, p_blended=min(ask + 0.2, 0.95), binding="kelly")
    assert propose(desk.ledger, key, "entry", expiry_s=120.0)
    assert not propose(desk.ledger, key, "entry", expiry_s=120.0)  # once
    return key, next(p for p in desk.ledger.proposals(status="pending") if p["decision_key"] == key)


def approve_now(desk, pid, halt=()):
    return approve(desk.ledger, pid, "alice", book_of=desk.clients.clob.book, halt_reasons=halt, signals=SIGNALS,
                   fee_rate=FEE_RATE, send=lambda p: send_proposal(desk.ledger, desk.venue, p, 300.0))


def test_an_approved_proposal_is_rechecked_then_sent_and_the_action_is_audited(desk):
    key, p = proposed(desk)
    assert p["side"] == "BUY" and p["usd"] == pytest.approx(25.0) and p["expires_at"] - p["created_at"] == 120.0
    assert p["confidence"] is not None and '"binding": "kelly"' in p["details"]
    assert desk.ledger.order_for(key) is None and desk.received() == 0  # nothing goes out unapproved
    out = approve_now(desk, p["proposal_id"])
    assert out.status == "approved" and desk.ledger.order_for(key)["status"] == "filled"
    assert desk.received() == 1
    (action,) = desk.ledger.order_actions(p["proposal_id"])
    assert (action["action"], action["actor"]) == ("approved", "alice") and action["acted_at"] > 0
    assert approve_now(desk, p["proposal_id"]).status == "unchanged" and desk.received() == 1


def test_a_rejected_proposal_is_never_sent_and_keeps_its_reason(desk):
    key, p = proposed(desk)
    with pytest.raises(ValueError, match="needs a reason"):
        reject(desk.ledger, p["proposal_id"], "bob", " ")
    out = reject(desk.ledger, p["proposal_id"], "bob", "too close to resolution")
    assert out.status == "rejected"
    order = desk.ledger.order_for(key)
    assert order["status"] == "rejected" and "too close to resolution" in order["reason"]
    (action,) = desk.ledger.order_actions(p["proposal_id"])
    assert (action["actor"], action["reason"]) == ("bob", "too close to resolution")
    assert approve_now(desk, p["proposal_id"]).status == "unchanged" and desk.received() == 0


def test_an_unanswered_proposal_expires_and_cannot_be_approved_late(desk):
    key, p = proposed(desk)
    assert expire_proposals(desk.ledger, now=p["created_at"] + 119.0) == []
    assert expire_proposals(desk.ledger, now=p["created_at"] + 121.0) == [p["proposal_id"]]
    assert desk.ledger.proposal(p["proposal_id"])["status"] == "expired"
    assert desk.ledger.order_for(key)["status"] == "expired"
    assert approve_now(desk, p["proposal_id"]).status == "unchanged" and desk.received() == 0
    assert desk.ledger.order_actions(p["proposal_id"])[0]["actor"] == "expiry"


def test_approval_after_the_price_moved_or_under_a_halt_is_refused_by_the_recheck(desk):
    key, p = proposed(desk)
    # The market jumps: every ask is now above the proposal's limit.
    now = desk.now()
    sig = desk.ledger.signal(key)
    httpx.post(f"{desk.url}/_sim/market", json={"condition_id": sig["condition_id"],
                                                "path": [[now - 5, min(p["limit_price"] + 0.1, 0.97)]]}
               ).raise_for_status()
    out = approve_now(desk, p["proposal_id"])
    assert out.status == "rejected" and "within the limit" in out.reason, out
    (action,) = desk.ledger.order_actions(p["proposal_id"])
    assert action["actor"] == "re-check on approval" and "alice" in action["reason"]
    assert desk.ledger.order_for(key)["status"] == "rejected" and desk.received() == 0
    # A halt refuses any approval.
    key2, p2 = proposed(desk, nth=1)
    out = approve_now(desk, p2["proposal_id"], halt=("kill switch on: maintenance",))
    assert out.status == "rejected" and "trading halted" in out.reason and desk.received() == 0


def test_the_review_order_job_and_polycopy_orders_act_on_proposals(desk, monkeypatch, capsys):
    import dagster as dg

    from polycopy.execution.live_credentials import PRIVATE_KEY_VAR
    from polycopy_dagster import cli
    from polycopy_dagster.defs.approvals import review_order_job
    from polycopy_dagster.defs.resources import (CopyTradingResource, LedgerResource, RiskRulesResource,
                                                 SignalRulesResource)
    from tests.dagster_helpers import api_resource

    monkeypatch.setenv(PRIVATE_KEY_VAR, KEY)
    ledger_path = desk.ledger_path
    key, p = proposed(desk)
    key2, p2 = proposed(desk, nth=1)
    # `polycopy orders pending` lists both, with what decided them.
    monkeypatch.setenv("POLYCOPY_LEDGER_PATH", ledger_path)
    monkeypatch.setenv("POLYCOPY_MODE", "approval")
    assert cli.main(["orders", "pending"]) == 0
    listed = capsys.readouterr().out
    assert p["proposal_id"][:34] in listed and p2["proposal_id"][:34] in listed and "2 proposals pending" in listed
    # The job, launched with config as from the UI.
    resources = {"polymarket": api_resource(desk.url), "ledger": LedgerResource(sqlite_path=ledger_path),
                 "copy_trading": CopyTradingResource(mode="approval"), "signal_rules": SignalRulesResource(),
                 "risk_rules": RiskRulesResource()}
    job = dg.Definitions(jobs=[review_order_job], resources=resources).resolve_job_def("review_order")
    result = job.execute_in_process(run_config={"ops": {"review_order_op": {"config": {
        "proposal_id": p["proposal_id"], "action": "approve", "actor": "carol", "reason": "looks right"}}}})
    assert result.success and desk.ledger.order_for(key)["status"] == "filled" and desk.received() == 1
    assert desk.ledger.order_actions(p["proposal_id"])[0]["actor"] == "carol"
    # And from the shell: a rejection needs its reason.
    with pytest.raises(SystemExit):
        cli.main(["orders", "reject", p2["proposal_id"]])
    assert cli.main(["orders", "reject", p2["proposal_id"], "--reason", "event risk"]) == 0
    assert "rejected — event risk" in capsys.readouterr().out
    assert desk.ledger.order_for(key2)["status"] == "rejected" and desk.received() == 1


def test_a_proposal_that_would_outlive_its_orders_deadline_is_refused_when_the_settings_load(monkeypatch):
    from polycopy.configuration import ConfigurationError
    from polycopy_dagster.defs.resources import copy_trading_resource

    monkeypatch.setenv("POLYCOPY_PROPOSAL_EXPIRY_S", "600")
    with pytest.raises(ConfigurationError) as err:
        copy_trading_resource()
    assert str(err.value) == ("proposal_expiry_s (600 s) must not exceed order_deadline_s (300 s): a proposal "
                              "approved later could not be sent")
    monkeypatch.setenv("POLYCOPY_ORDER_DEADLINE_S", "900")
    assert copy_trading_resource().proposal_expiry_s == 600


def test_a_copy_run_in_approval_mode_proposes_and_sends_nothing(desk, monkeypatch):
    import dagster as dg

    from polycopy.execution.live_credentials import PRIVATE_KEY_VAR
    from polycopy_dagster.defs.copy_trading import copy_trade_job_for, copy_trade_run_config
    from polycopy_dagster.defs.resources import CopyTradingResource, LedgerResource
    from tests.dagster_helpers import api_resource
    from tests.position_helpers import whale_trade
    from tests.test_live_venue import WHALE

    monkeypatch.setenv(PRIVATE_KEY_VAR, KEY)
    desk.fund(usd=5_000.0)  # the copy is sized from a $10,000 NAV: $1,000
    desk.ledger.publish_wallet_profiles([{
        "wallet_address": WHALE, "wqs": 90.0, "wqs_lower": 85.0, "win_rate_posterior": 0.9, "tier": "Elite",
        "tier_max_exposure": 0.5, "tier_max_daily_trades": 1000, "excluded": False}], "2026-01-01")
    job = copy_trade_job_for({"polymarket": api_resource(desk.url), "ledger": LedgerResource(sqlite_path=desk.ledger_path),
                              "copy_trading": CopyTradingResource(mode="approval", follow_wallets=WHALE)})
    for market in desk.markets(version="v1"):
        ask = desk.clients.clob.book(str(market.token0)).best_ask
        t = whale_trade(WHALE, market, "BUY", round(6_000 / ask, 2), ask, age_s=5)
        result = job.execute_in_process(run_config=copy_trade_run_config(t), instance=dg.DagsterInstance.ephemeral())
        assert result.success
        if desk.ledger.decision_for_trade(t.trade_key)["decision"] == "copy":
            break
    key = desk.ledger.signal_of_trade(t.trade_key)
    (p,) = desk.ledger.proposals(status="pending")
    assert p["decision_key"] == key and desk.ledger.order_for(key) is None and desk.received() == 0
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks.get("ledger_matches_venue") is True
    assert approve_now(desk, p["proposal_id"]).status == "approved"
    assert desk.ledger.order_for(key)["status"] == "filled" and desk.received() == 1
