"""wallet_scores and whale_watchlist on a simulated history: the real dbt marts, the real
Dagster assets and checks, and the scores agreeing with the marts they come from."""

import json
from datetime import datetime, timezone

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from polycopy.dbt_project import dbt_vars, run_dbt
from polycopy.scoring.wallet_scores import _ratios, read_scoring_inputs, return_panel
from polycopy.sim.loader import load_history
from polycopy.sim.world import SimConfig, generate_world
from polycopy.warehouse import WarehouseSettings, open_warehouse
from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy_dagster.defs.resources import (LedgerResource, ScoringResource, WarehouseResource,
                                              WatchlistResource)
from polycopy_dagster.defs.scoring import (followed_watchlist, red_flag_rates_sane, scoring_evaluation, wallet_scores,
                                           watchlist_has_no_excluded_wallets,
                                           watchlist_not_empty, whale_watchlist, wqs_within_bounds)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scores")
    world = generate_world(SimConfig(seed=11, n_markets=300, n_wallets=800, n_trades=60_000, history_days=100,
                                     live_days=0.0, history_end=datetime(2026, 11, 20, tzinfo=timezone.utc)))
    db = str(tmp / "wh.duckdb")
    load_history(world, open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db)))
    run_dbt(["build", "--exclude", "resource_type:test", *dbt_vars(as_of_date="2026-11-19")], {"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": db},
            tmp / "target")
    resources = {"warehouse": WarehouseResource(backend="duckdb", duckdb_path=db),
                 "ledger": LedgerResource(sqlite_path=str(tmp / "ledger.sqlite")),
                 "scoring": ScoringResource(), "watchlist_rules": WatchlistResource()}
    result = dg.materialize([wallet_scores, whale_watchlist, followed_watchlist, wqs_within_bounds,
                             red_flag_rates_sane, watchlist_has_no_excluded_wallets, watchlist_not_empty],
                            resources=resources)
    wh = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db))
    return {"result": result, "db": db, "wh": wh, "world": world, "ledger": str(tmp / "ledger.sqlite")}


def test_assets_materialize_and_checks_pass(scored):
    r = scored["result"]
    assert r.success
    checks = {e.check_name: e.passed for e in r.get_asset_check_evaluations()}
    assert checks == {"wqs_within_bounds": True, "red_flag_rates_sane": True,
                      "watchlist_has_no_excluded_wallets": True, "watchlist_not_empty": True}


def test_one_score_per_wallet_with_its_reasons(scored):
    wh = scored["wh"]
    scores = wh.query_df("select * from scores.wallet_scores")
    metrics = wh.query_df("select wallet_address from marts.wallet_metrics")
    assert sorted(scores["wallet_address"]) == sorted(metrics["wallet_address"])
    assert list(scores["rank"]) == list(range(1, len(scores) + 1))
    assert (scores["wqs_lower"].diff().dropna() <= 1e-12).all()  # ranked by the lower bound
    # Every excluded wallet says why; every flag carries the values that raised it.
    for row in scores.itertuples():
        flags = json.loads(row.red_flags)
        assert row.excluded == (bool(flags) or row.is_market_maker)
        assert all(isinstance(v, dict) and v for v in flags.values())
        if row.excluded:
            assert row.tier == "Poor"
    # Shrinkage only ever moves a component toward the crowd: its factor is in [0, 1].
    for c in ("sharpe_shrinkage", "information_ratio_shrinkage", "calmar_shrinkage", "pricing_edge_shrinkage"):
        f = scores[c].dropna()
        assert ((f >= 0) & (f <= 1)).all()
    history = wh.query_df("select * from scores.wallet_score_history")
    assert len(history) == len(scores) and history["as_of_date"].nunique() == 1


def test_bootstrap_sample_is_the_marts_sample(scored):
    """The days the bootstrap resamples are the days behind the mart's ratios: recomputed
    on the original sample, Python's Sharpe, IR and Calmar equal dbt's."""
    metrics, daily, active, _ = read_scoring_inputs(scored["wh"])
    as_of = pd.Timestamp(metrics["as_of_date"].iloc[0]).date()
    ret, act, n_days, _, _ = return_panel(metrics["wallet_address"].tolist(), daily, active, as_of, 90)
    valid = np.arange(90)[None, :] < n_days[:, None]
    # Returns are stored newest first; the drawdown path needs oldest first.
    order = np.argsort(-np.where(valid, np.arange(90)[None, :], -1), axis=1, kind="stable")
    rows = np.arange(len(ret))[:, None]
    ratios = _ratios(ret[rows, order], act[rows, order], valid[rows, order])
    # The mart's drawdown runs over the wallet's whole history, the bootstrap's over the
    # 90-day window: Calmar agrees for wallets whose history fits in the window.
    young = n_days < 90
    for ours, theirs, rows_ in (("sharpe", "sharpe_90d", None), ("information_ratio", "information_ratio", None),
                                ("calmar", "calmar_ratio", young)):
        mart = metrics[theirs].to_numpy(float)
        both = ~np.isnan(mart) & ~np.isnan(ratios[ours]) & (True if rows_ is None else rows_)
        assert both.sum() > (20 if rows_ is not None else 100), ours
        np.testing.assert_allclose(ratios[ours][both], mart[both], rtol=1e-9, atol=1e-9, err_msg=ours)
        assert (np.isnan(mart) == np.isnan(ratios[ours]))[rows_ if rows_ is not None else slice(None)].mean() > 0.99, ours


def test_watchlist_members_pass_the_gate_and_their_entry_is_recorded(scored):
    wh = scored["wh"]
    watch = wh.query_df("select * from scores.whale_watchlist")
    scores = wh.query_df("select * from scores.wallet_scores").set_index("wallet_address")
    events = wh.query_df("select * from scores.wallet_state_events")
    assert 0 < len(watch) <= 25
    # The relative gate: the lower bound at the 90th percentile of the judged wallets' and a
    # P&L beating a no-skill wallet's by 1.645 σ.
    judged = scores[scores["trade_count"] >= 50]["wqs_lower"]
    threshold = float(np.quantile(judged, 0.90))
    for w in watch["wallet_address"]:
        s = scores.loc[w]
        assert s["trade_count"] >= 50 and s["wqs_lower"] >= threshold and s["edge_null_z"] >= 1.645
        assert (s["current_drawdown"] or 0) < 0.25 and not s["excluded"]
        # Its tier is relative to the gate too: anyone admitted is at least Expert.
        assert watch.set_index("wallet_address").loc[w, "tier"] in ("Expert", "Elite")
        added = events[(events["wallet_address"] == w) & (events["event"] == "added")]
        assert len(added) == 1 and json.loads(added["event_values"].iloc[0])["wqs"] == pytest.approx(s["wqs"])
    # Published to the ledger, where the copy sensor reads it, in the same order.
    published = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=scored["ledger"])).watchlist()
    assert [m["wallet_address"] for m in published] == [w.lower() for w in watch["wallet_address"]]
    labels = scored["world"].wallets.set_index("address")["archetype"]
    bad = {"market_maker", "wash_trader", "insider", "lucky_gambler"}
    assert not any(labels[w] in bad for w in watch["wallet_address"])


def test_scoring_evaluation_asset_reports_every_seed_and_the_mean():
    """The evaluation asset over five small worlds: one row per seed and mix, plus the mean,
    ours beside the raw-P&L leaderboard, with every target stated (the figures themselves
    are in the README)."""
    config = {"seeds": [6, 7, 8, 9, 10], "n_wallets": 500, "n_markets": 200, "n_trades": 30_000}
    result = dg.materialize([scoring_evaluation], resources={"scoring": ScoringResource(),
                                                             "watchlist_rules": WatchlistResource()},
                            run_config={"ops": {"scoring_evaluation": {"config": config}}})
    assert result.success
    meta = result.asset_materializations_for_node("scoring_evaluation")[0].metadata
    # Tables, not JSON: one typed row per seed and the mean, numbers rounded to 3 decimals.
    rows = {r.data["seed"]: r.data for r in meta["evaluation"].records}
    for seed, mix in zip(config["seeds"], ["default", "more_skill", "adversarial", "gamblers", "scarce_skill"]):
        assert rows[str(seed)]["mix"] == mix
        assert rows[str(seed)]["ic_wqs"] == round(rows[str(seed)]["ic_wqs"], 3)
    assert "mean" in rows
    assert -1.0 <= meta["mean_ic_wqs"].value <= 1.0 and -1.0 <= meta["mean_ic_raw_pnl"].value <= 1.0
    targets = {r.data["target"]: r.data for r in meta["targets"].records}
    assert set(targets) == {"ic_wqs", "precision_at_k", "recall_market_maker", "recall_wash_trader",
                            "recall_insider", "recall_lucky_gambler"}
    assert {r.data["target"] for r in meta["targets_every_seed"].records} == {
        "ic_margin (every seed)", "watchlist_size (every seed)", "fp_max (every seed)"}
    assert {r.data["seed"] for r in meta["gate_removed"].records} == {"6", "7", "8", "9", "10"}
    # Each bad archetype is caught by its own detector in these worlds too.
    assert all(targets[k]["mean"] >= 0.9 for k in targets if k.startswith("recall_"))


def test_rerunning_a_day_gives_the_same_states_and_events(scored):
    wh = scored["wh"]
    tables = ("scores.wallet_states", "scores.wallet_state_events", "scores.whale_watchlist")
    read = lambda: [wh.query_df(f"select * from {t} order by 1, 2").reset_index(drop=True) for t in tables]  # noqa: E731
    before = read()
    resources = {"warehouse": WarehouseResource(backend="duckdb", duckdb_path=scored["db"]),
                 "ledger": LedgerResource(sqlite_path=scored["ledger"]), "watchlist_rules": WatchlistResource(),
                 "scoring": ScoringResource()}
    assert dg.materialize([whale_watchlist], resources=resources).success
    for a, b in zip(before, read()):
        pd.testing.assert_frame_equal(a, b)
    assert (before[1]["event"] == "added").sum() == len(before[2]) > 0


def test_postgres_warehouse_gives_the_same_scores(scored, pg_database, tmp_path):
    """The same history on PostgreSQL: dbt's postgres target, the same assets and checks,
    the same scores (the bootstrap draws do not depend on the backend or row order)."""
    wh = open_warehouse(WarehouseSettings(backend="postgres", pg_dsn=pg_database))
    load_history(scored["world"], wh)
    run_dbt(["build", "--exclude", "resource_type:test", *dbt_vars(as_of_date="2026-11-19")],
            {"POLYCOPY_WAREHOUSE": "postgres", "POLYCOPY_PG_DATABASE": pg_database.rsplit("dbname=", 1)[1]},
            tmp_path / "target")
    pg = WarehouseResource(backend="postgres", pg_database=pg_database.rsplit("dbname=", 1)[1])
    resources = {"warehouse": pg, "ledger": LedgerResource(sqlite_path=str(tmp_path / "ledger.sqlite")),
                 "scoring": ScoringResource(), "watchlist_rules": WatchlistResource()}
    result = dg.materialize([wallet_scores, whale_watchlist, wqs_within_bounds, watchlist_has_no_excluded_wallets],
                            resources=resources)
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    cols = ["wallet_address", "rank", "wqs", "wqs_lower", "wqs_upper", "tier", "red_flags", "excluded"]
    frames = [w.query_df("select * from scores.wallet_scores order by wallet_address")[cols].reset_index(drop=True)
              for w in (wh, scored["wh"])]
    # The flags' values agree to the last bits of a float sum; their names exactly.
    for f in frames:
        f["red_flags"] = [",".join(sorted(json.loads(x))) for x in f["red_flags"]]
    pd.testing.assert_frame_equal(frames[0], frames[1], check_dtype=False, rtol=1e-6, atol=1e-6)
    watch = lambda w: w.query_df("select wallet_address from scores.whale_watchlist order by position")  # noqa: E731
    assert watch(wh)["wallet_address"].tolist() == watch(scored["wh"])["wallet_address"].tolist()


def test_a_week_later_the_states_move_on_from_the_week_before(scored, tmp_path):
    """Score the same warehouse as of a week earlier and then as of the fixture's day, in a
    fresh scores schema. The second day runs with the deterioration trigger set to trip
    (quarantine unless WQS rose 100 points in the week), so every watched wallet moves on:
    its quarantine carries the WQS it had a week earlier, read from the score history."""
    import shutil

    db = str(tmp_path / "wh.duckdb")
    shutil.copy(scored["db"], db)
    wh = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db))
    with wh.transaction() as cur:
        for t in ("wallet_score_history", "wallet_states", "wallet_state_events"):
            cur.execute(f"delete from scores.{t}")
    base = {"warehouse": WarehouseResource(backend="duckdb", duckdb_path=db),
            "ledger": LedgerResource(sqlite_path=str(tmp_path / "ledger.sqlite")), "scoring": ScoringResource()}
    tripping = WatchlistResource(quarantine_wqs_drop_points=-100.0)
    env = {"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": db}
    for day, rules in (("2026-11-12", WatchlistResource()), ("2026-11-19", tripping)):
        run_dbt(["run", "--select", "marts", "path:models/intermediate/wallet", *dbt_vars(as_of_date=day)], env, tmp_path / "target")
        assert dg.materialize([wallet_scores, whale_watchlist, followed_watchlist],
                              resources={**base, "watchlist_rules": rules}).success
    history = wh.query_df("select * from scores.wallet_score_history")
    assert sorted(history["as_of_date"].astype(str).unique()) == ["2026-11-12", "2026-11-19"]
    week_ago = history[history["as_of_date"].astype(str) == "2026-11-12"].set_index("wallet_address")["wqs"]
    states = wh.query_df("select * from scores.wallet_states")
    first = states[states["as_of_date"].astype(str) == "2026-11-12"].set_index("wallet_address")
    second = states[states["as_of_date"].astype(str) == "2026-11-19"].set_index("wallet_address")
    watched = list(first.index[first["status"] == "watching"])
    assert watched
    events = wh.query_df("select * from scores.wallet_state_events where as_of_date = '2026-11-19'")
    for w in watched:
        assert second.loc[w, "status"] == "quarantined"
        mine = events[events["wallet_address"] == w].set_index("event")
        values = json.loads(mine.loc["quarantined", "event_values"])
        assert "Rapid WQS deterioration" in mine.loc["quarantined", "reason"]
        assert values["wqs_week_ago"] == pytest.approx(week_ago[w])
    # Quarantined wallets leave the watchlist (and the ledger's copy of it); new ones may enter.
    watch = wh.query_df("select wallet_address from scores.whale_watchlist")["wallet_address"]
    assert not set(watched) & set(watch)
    published = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=str(tmp_path / "ledger.sqlite"))).watchlist()
    assert sorted(m["wallet_address"] for m in published) == sorted(w.lower() for w in watch)


def test_a_failed_blocking_check_stops_publication(scored, tmp_path, monkeypatch):
    """If the watchlist ever held an excluded wallet, the blocking check fails and
    followed_watchlist does not run: the copy sensor's list in the ledger stays as it was."""
    import shutil

    import polycopy.scoring.watchlist as watchlist_logic

    db = str(tmp_path / "wh.duckdb")
    shutil.copy(scored["db"], db)
    wh = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db))
    flagged = wh.scalar("select wallet_address from scores.wallet_scores where excluded order by wqs desc limit 1")
    real_update = watchlist_logic.update_states

    def broken_update(as_of, scores, states, *args):  # a defect that lets an excluded wallet through
        new, events = real_update(as_of, scores, states, *args)
        new[flagged] = watchlist_logic.WalletState(flagged, watchlist_logic.WATCHING, as_of, 99.0)
        return new, events

    monkeypatch.setattr(watchlist_logic, "update_states", broken_update)
    ledger_path = str(tmp_path / "ledger.sqlite")
    ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=ledger_path))
    ledger.publish_watchlist([{"wallet_address": "0xbefore", "position": 1, "wqs": 80, "wqs_lower": 70,
                               "tier": "Expert", "tier_max_exposure": 0.1, "tier_max_daily_trades": 8}], "2026-11-18")
    resources = {"warehouse": WarehouseResource(backend="duckdb", duckdb_path=db),
                 "ledger": LedgerResource(sqlite_path=ledger_path), "watchlist_rules": WatchlistResource(),
                 "scoring": ScoringResource()}
    result = dg.materialize([whale_watchlist, followed_watchlist, watchlist_has_no_excluded_wallets],
                            resources=resources, raise_on_error=False)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["watchlist_has_no_excluded_wallets"].passed
    assert checks["watchlist_has_no_excluded_wallets"].metadata["excluded_on_watchlist"].value == 1
    assert [m.asset_key.to_user_string() for m in
            (e.event_specific_data.materialization for e in result.get_asset_materialization_events())] == \
        ["whale_watchlist"]
    assert [m["wallet_address"] for m in ledger.watchlist()] == ["0xbefore"]


def test_replayed_weeks_carry_the_watchlist_forward():
    """With a week of history replayed, the watchlist at the split holds every wallet the
    gate admits that day unless the week's rules removed it (no cap, to see everyone)."""
    from polycopy.evaluation.scoring_harness import EvaluationConfig, evaluate_world
    from polycopy.scoring.settings import WatchlistSettings

    small = dict(n_wallets=500, n_markets=200, n_trades=30_000, watchlist=WatchlistSettings(max_wallets=10_000))
    once = evaluate_world(3, "default", EvaluationConfig(**small))
    replayed = evaluate_world(3, "default", EvaluationConfig(replay_weeks=1, **small))
    assert replayed["replay_weeks"] == 1 and once["removed"] == [] and once["watchlist"]
    assert set(replayed["watchlist"]) >= set(once["watchlist"]) - set(replayed["removed"])


def test_scoring_reads_only_its_window_and_scores_the_same(scored):
    # A 10-day return window on a 30-day history: the windowed read leaves most rows in the
    # warehouse and gives every score exactly as the full read does.
    from dataclasses import replace

    from polycopy.scoring.settings import ScoringSettings
    from polycopy.scoring.wallet_scores import score_wallets

    s = replace(ScoringSettings(), return_window_days=10)
    full = read_scoring_inputs(scored["wh"])
    windowed = read_scoring_inputs(scored["wh"], s.return_window_days)
    assert len(windowed[1]) < len(full[1]) / 2 and len(windowed[2]) < len(full[2])
    pd.testing.assert_frame_equal(score_wallets(*windowed, s), score_wallets(*full, s))
