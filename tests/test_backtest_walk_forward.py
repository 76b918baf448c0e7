"""The walk-forward backtest replays the production chain without seeing the future, its
figures add up from its own ledger, and its report renders every plot in a browser."""

import dataclasses
import json
import re

import numpy as np
import pytest

from polycopy.backtest.report import PLOTS
from polycopy.backtest.scenario import run_backtest
from polycopy.backtest.results import nav_frame
from polycopy.backtest.walk_forward import (BacktestSettings, Strategy, build_step_inputs, copy_everything_rules,
                                            run_strategy, step_starts)
from polycopy.sim.server import SimVenue
from polycopy.sim.world import SimConfig, generate_world
from polycopy.trading.settings import ExitSettings

DAY = 86_400
SETTINGS = BacktestSettings(warmup_days=28, step_days=6)
# Copies every leaderboard BUY (so there are many decisions to compare), with the documents'
# exit rules on (so exits are decided on prices too).
PROBE = Strategy("probe", rules=dataclasses.replace(copy_everything_rules(60.0), exits=ExitSettings()),
                 follow="leaderboard", knows_scores=False, leaderboard_size=15)
NAIVE = Strategy("naive_top10", rules=copy_everything_rules(60.0), follow="leaderboard", knows_scores=False,
                 leaderboard_size=10)


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


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The probe and a naive copier, one step of six days on the small world."""
    workdir = tmp_path_factory.mktemp("clean")
    out = run_backtest(small_world(), [PROBE, NAIVE], workdir, SETTINGS, days=6, description="test world")
    (workdir / "report.html").write_text(out.html)
    return out, workdir


def test_a_poisoned_future_changes_no_decision_taken_before_it(clean, tmp_path):
    out, _ = clean
    world = small_world()
    starts = step_starts(world, SETTINGS, days=6)
    # Cut in the middle of the step: its scoring (as of the day before) and the first half
    # of its trading are in the past.
    cut = starts[0] + 3 * DAY + 7 * 3_600
    poisoned_world = poison_after(world, cut)
    steps = build_step_inputs(poisoned_world, starts, SETTINGS, tmp_path)
    poisoned = run_strategy(poisoned_world, steps, PROBE, SETTINGS, tmp_path, venue=SimVenue(poisoned_world))
    run = out.runs[0]
    entries, exits, fills = decisions_until(run, cut)
    p_entries, p_exits, p_fills = decisions_until(poisoned, cut)
    assert len(entries) >= 30 and sum(d[1] == "copy" for d in entries) >= 10 and len(fills) >= 10
    assert p_entries == entries
    assert p_exits == exits
    assert p_fills == fills
    assert poisoned.followed == run.followed  # scored before the cut
    # ...and the poison did reach what came after it.
    after = [d for d in run.ledger().decisions() if d["decided_at"] > cut]
    p_after = [d for d in poisoned.ledger().decisions() if d["decided_at"] > cut]
    assert after and [d["signal_key"] for d in after] != [d["signal_key"] for d in p_after]
    assert len(nav_frame(run.ledger())) >= 6


def test_the_figures_add_up_from_the_ledger(clean):
    out, _ = clean
    for result, run in zip(out.results, out.runs):
        m = result.metrics
        ledger = run.ledger()
        nav = result.nav.to_numpy()
        # NAV starts at the capital and ends where the positions' P&L puts it.
        assert nav[0] == pytest.approx(run.strategy.rules.risk.starting_capital_usd)
        assert nav[-1] - nav[0] == pytest.approx(result.positions["pnl_usd"].sum(), abs=0.05)
        assert m["total_return"] == pytest.approx(nav[-1] / nav[0] - 1)
        assert m["fees_usd"] == pytest.approx(sum(f["fee_usd"] for f in ledger.fill_rows()))
        assert m["trades"] == sum(1 for o in ledger.orders() if o["venue"] != "settlement"
                                  and o["status"] in ("filled", "partial"))
        # Each wallet's contribution sums to the strategy's P&L.
        assert result.wallets["pnl_usd"].sum() == pytest.approx(result.positions["pnl_usd"].sum(), abs=1e-6)
        assert 0 <= m["max_drawdown"] < 1 and m["configurations_tried"] == 2 and 0 <= m["dsr"] <= 1
    a = out.attribution
    assert a is not None and sum(a.totals().values()) == pytest.approx(a.excess, abs=1e-12)


def test_exits_are_attributed_to_their_rules_and_the_static_pnl_is_the_holdings_revalued(clean):
    out, _ = clean
    probe, run = out.result("probe"), out.runs[0]
    ledger = run.ledger()
    # Every sell the exit rules or a settlement made is in exactly one row, at its proceeds.
    sells = {o["order_id"] for o in ledger.orders() if o["side"] == "SELL"}
    sold = [f for f in ledger.fill_rows() if f["order_id"] in sells]
    assert len(sold) >= 5 and set(probe.exits["rule"]) - {"resolution"}
    assert probe.exits["sells"].sum() == len({f["order_id"] for f in sold})
    assert probe.exits["proceeds_usd"].sum() == pytest.approx(sum(f["price"] * f["shares"] - f["fee_usd"]
                                                                  for f in sold))
    assert (probe.exits["given_up_usd"] == probe.exits["end_value_usd"] - probe.exits["proceeds_usd"]).all()
    settled = probe.exits[probe.exits["rule"] == "resolution"]
    assert (settled["given_up_usd"].abs() < 1e-9).all()
    assert probe.metrics["exit_given_up_usd"] == pytest.approx(
        probe.exits.loc[probe.exits["rule"] != "resolution", "given_up_usd"].sum())
    # One static day per close after the first, each tested against the forecast of the close before it.
    navs = nav_frame(ledger)
    assert len(run.static_days) == len(navs) - 1
    assert [d["mvar"] for d in run.static_days] == pytest.approx(navs["mvar"].iloc[:-1].tolist(), abs=1e-12)
    assert probe.metrics["var_days_static"] == sum(1 for d in run.static_days if d["mvar"] > 0)


def test_the_static_pnl_revalues_the_closing_holdings_at_the_next_close(monkeypatch):
    from types import SimpleNamespace

    import polycopy.backtest.walk_forward as wf

    def state(ts, nav, mvar, holdings, marks):
        return SimpleNamespace(ts=ts, mvar=mvar, marks=marks, portfolio=SimpleNamespace(
            nav_usd=nav, holdings=[SimpleNamespace(token_id=t, condition_id=f"c-{t}", shares=q) for t, q in holdings]))

    # The venue's marks at the next close: A's midpoint, B resolved at 1, C unmarked.
    marks_now = {"A": (0.62, "midpoint"), "B": (1.0, "resolution"), "C": (None, "cost")}
    monkeypatch.setattr(wf, "mark_price", lambda clients, token, condition: marks_now[token])
    pnl = wf.StaticPnl()
    pnl.close(state(100.0, 1_000.0, 0.03, [("A", 100.0), ("B", 50.0), ("C", 10.0)],
                    {"A": 0.50, "B": 0.80, "C": 0.40}), clients=None)
    pnl.close(state(186_400.0, 1_020.0, 0.02, [], {}), clients=None)
    # A: +100 × 0.12, B: +50 × 0.20, C: no mark now, no change counted; over the first close's NAV.
    assert pnl.days == [{"ts": 186_400.0, "mvar": 0.03, "loss": pytest.approx(-(12.0 + 10.0) / 1_000.0)}]


@pytest.mark.browser
def test_the_report_renders_every_plot_without_console_errors(clean):
    from playwright.sync_api import sync_playwright

    from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS

    _, workdir = clean
    html = (workdir / "report.html").read_text()
    # Nothing to fetch (XML namespace names are identifiers, not requests).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(\s*["']?(https?:|//)|@import""", html)
    assert "<script" not in html
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((workdir / "report.html").as_uri(), wait_until="load")
        for plot in PLOTS:
            svg = page.locator(f"#plot-{plot} svg")
            assert svg.count() == 1, plot
            box = svg.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 50, (plot, box)
        rows = page.locator("table.summary tr")
        assert rows.count() == 3  # the header and both strategies
        assert page.locator("table.summary").inner_text().count("probe") == 1
        browser.close()
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests


def test_backtest_assets_record_figures_per_scenario_and_link_the_report(tmp_path, monkeypatch):
    import dagster as dg

    from polycopy_dagster.defs.backtest import backtest_report, backtest_results

    monkeypatch.setenv("POLYCOPY_DATA_DIR", str(tmp_path / "data"))
    config = {"n_wallets": 250, "n_markets": 90, "n_trades": 9_000, "history_days": 34, "warmup_days": 28,
              "step_days": 6, "days": 3.0, "baseline_trade_usd": 60.0, "strategies": ["strategy", "copy_watchlist"]}
    result = dg.materialize([backtest_results, backtest_report], partition_key="seed-12",
                            run_config={"ops": {"backtest_results": {"config": config}}},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    meta = {e.event_specific_data.materialization.asset_key.to_user_string():
            e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()}
    figures = meta["backtest_results"]
    for name in ("strategy", "copy_watchlist"):
        assert isinstance(figures[f"{name}/total_return"].value, float)
        assert isinstance(figures[f"{name}/max_drawdown"].value, float)
    assert "copy_watchlist" in figures["summary"].value and "seed 12" in figures["scenario"].value
    report = meta["backtest_report"]["report"].value
    assert report == str(tmp_path / "data" / "backtests" / "seed-12" / "report.html")
    assert all(f"id='plot-{p}'" in open(report).read() for p in PLOTS)
