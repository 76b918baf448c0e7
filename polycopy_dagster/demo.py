"""``polycopy demo``: the whole system on a simulated venue, left behind as a Dagster
instance you can open (``polycopy ui-demo``).

The data plane runs its named jobs (markets, the ingest backfill with its checks, dbt,
scoring, the evaluation) on the demo's own instance; trading then runs as in production:
the real dagster-daemon evaluates the follow sensor, which launches one ``copy_trade`` run
per new trade of a watched wallet, and the open positions sensor, which launches the exits
and settlements of the copied positions, while the venue clock moves forward a step at a time.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = REPO_ROOT / "workspace.yaml"
DEMO_FILE = "demo.json"
BIN = Path(sys.executable).parent
HOUR_S = 3600
LIVE_SENSORS = ("followed_wallets_sensor", "open_positions_sensor")
# What the demo sets, whatever the environment said.
DEMO_VARIABLES = ("DAGSTER_HOME", "POLYCOPY_DATA_DIR", "POLYCOPY_HISTORY_START", "POLYCOPY_VENUE",
                  "POLYCOPY_SIM_URL", "POLYCOPY_FOLLOW_WALLETS", "POLYCOPY_MAX_TRADE_AGE_S", "POLYCOPY_LOOKBACK_S",
                  "POLYCOPY_AUTOMATION", "POLYCOPY_EXIT_CHECK_INTERVAL_S", "POLYCOPY_MIN_WHALE_TRADE_USD")


@dataclass
class DemoWorld:
    """Everything needed to serve the demo's simulated venue again, as the demo left it."""

    seed: int
    markets: int
    wallets: int
    trades: int
    history_days: int
    anchor: str  # ISO time (UTC) where the served history ends and the live clock starts
    live_hours: int
    step_hours: int = 1  # the venue clock jumps this far per step of the live window
    # The demo's world is a thousandth of Polymarket's and its whales trade smaller: the
    # smallest whale trade copied there (USD).
    min_whale_trade_usd: float = 1_000.0
    follow: str = ""  # the follow list, when the watchlist was empty
    clock_end_ts: int = 0  # the venue clock when the demo ended

    @property
    def history_start(self) -> str:
        return (datetime.fromisoformat(self.anchor) - timedelta(days=self.history_days)).date().isoformat()

    def sim_config(self):
        from polycopy.sim.world import SimConfig

        return SimConfig(seed=self.seed, n_markets=self.markets, n_wallets=self.wallets, n_trades=self.trades,
                         history_days=self.history_days, history_end=datetime.fromisoformat(self.anchor),
                         # wallets keep trading through the live window, and a day past it
                         live_days=self.live_hours / 24 + 1)

    def save(self, data: Path) -> None:
        (data / DEMO_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, data: Path) -> "DemoWorld":
        path = data / DEMO_FILE
        if not path.exists():
            raise SystemExit(f"no demo at {data} ({DEMO_FILE} missing): run `make demo` first")
        return cls(**json.loads(path.read_text()))


def ensure_embedded_instance(home: Path) -> Path:
    """A DAGSTER_HOME with the embedded (SQLite) instance config."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        shutil.copy(REPO_ROOT / "deploy" / "embedded" / "dagster.yaml", cfg)
    return home


def demo_environment(data: Path, world: DemoWorld, sim_url: str) -> dict[str, str]:
    """The variables the demo's processes (this one, the daemon, the UI, run workers) see."""
    return {
        "DAGSTER_HOME": str(ensure_embedded_instance(data / "dagster_home")),
        "POLYCOPY_DATA_DIR": str(data),
        "POLYCOPY_HISTORY_START": world.history_start,
        "POLYCOPY_VENUE": "sim",
        "POLYCOPY_SIM_URL": sim_url,
        "POLYCOPY_FOLLOW_WALLETS": world.follow,
        # The clock jumps a step at a time, so a trade can be a step old when the sensor sees it.
        "POLYCOPY_MAX_TRADE_AGE_S": str(world.step_hours * HOUR_S),
        "POLYCOPY_MIN_WHALE_TRADE_USD": f"{world.min_whale_trade_usd:g}",
        "POLYCOPY_LOOKBACK_S": "0",
        # Nothing runs by itself in the demo's instance but the sensors it starts.
        "POLYCOPY_AUTOMATION": "off",
        # Simulated hours pass in seconds: copied positions are looked at every 2 s.
        "POLYCOPY_EXIT_CHECK_INTERVAL_S": "2",
    }


def override_lines(env: dict[str, str], before: dict[str, str]) -> list[str]:
    """One line per variable the demo sets over a different value of the caller's."""
    out = []
    for k in DEMO_VARIABLES:
        was = before.get(k)
        if was not in (None, "") and was != env.get(k, ""):
            shown = "(hidden)" if "PASSWORD" in k else was
            out.append(f"  {k}={shown} is overridden by the demo: {env.get(k) or '(unset)'}")
    return out


def stop_process_group(proc: subprocess.Popen, timeout_s: float) -> None:
    """SIGTERM the process group of ``proc`` (a daemon and its code servers and run workers),
    SIGKILL it if it has not exited within ``timeout_s`` seconds."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout_s)


def child_env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


class Heartbeat:
    """Prints a progress line every ``every_s`` seconds while a step runs: how long, and how
    many assets the running run has materialized so far."""

    def __init__(self, instance, name: str, out, every_s: float = 10.0):
        self.instance, self.name, self.out, self.every_s = instance, name, out, every_s
        self._stop = threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _materialized(self) -> int | None:
        import dagster as dg

        runs = self.instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]), limit=1)
        if not runs:
            return None
        return len(self.instance.get_records_for_run(
            runs[0].run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records)

    def _loop(self):
        while not self._stop.wait(self.every_s):
            try:
                n = self._materialized()
            except Exception:  # progress is best effort; the step itself reports errors
                n = None
            done = f", {n} asset materializations so far" if n is not None else ""
            print(f"    … {self.name}: {time.perf_counter() - self._t0:.0f}s{done}", file=self.out, flush=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


class DemoDaemon:
    """The real dagster-daemon on the demo's instance, with the follow sensor and the open
    positions sensor (exits and settlement) started."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = child_env(env)
        self.log = open(log_path, "ab")
        self.proc: subprocess.Popen | None = None

    def dagster(self, *args: str) -> None:
        proc = subprocess.run([str(BIN / "dagster"), *args, "-w", str(WORKSPACE)], env=self.env, cwd=REPO_ROOT,
                              stdout=self.log, stderr=self.log, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"dagster {' '.join(args)} failed (see {self.log.name})")

    def start(self) -> None:
        for sensor in LIVE_SENSORS:
            self.dagster("sensor", "start", sensor, "--location", "polycopy_execution")
        self.proc = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(WORKSPACE)], env=self.env,
                                     cwd=REPO_ROOT, stdout=self.log, stderr=self.log, start_new_session=True)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, timeout_s=60)
            self.proc = None
        self.log.close()


def sensor_ticked_since(instance, name: str, since: float) -> bool:
    """Whether a tick of sensor ``name`` that started after ``since`` (epoch s) has finished."""
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == name:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=since, limit=10)
            return any(t.status in (TickStatus.SUCCESS, TickStatus.SKIPPED, TickStatus.FAILURE) for t in ticks)
    return False


def runs_in_flight(instance) -> int:
    import dagster as dg

    s = dg.DagsterRunStatus
    return instance.get_runs_count(dg.RunsFilter(statuses=[s.QUEUED, s.NOT_STARTED, s.STARTING, s.STARTED,
                                                           s.CANCELING]))


def demo_anchor(text: str | None) -> datetime:
    """The demo's anchor (UTC, to the minute): ``text`` as ISO 8601, or now when None."""
    if text is None:
        return datetime.now(timezone.utc).replace(second=0, microsecond=0)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"--anchor {text!r}: not an ISO 8601 time (e.g. 2026-12-01T12:00)") from None
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).replace(
        second=0, microsecond=0)


def run_demo(args) -> int:
    from polycopy.sim.server import SimVenue, VenueServer
    from polycopy.sim.world import generate_world

    if args.step_hours < 1 or args.live_hours < args.step_hours:
        raise SystemExit(f"--live-hours {args.live_hours} and --step-hours {args.step_hours}: "
                         "the step is at least 1 hour and at most the live window")
    anchor = demo_anchor(args.anchor)
    before = dict(os.environ)
    data = Path(args.data_dir).resolve()
    if data.exists():
        print(f"removing the previous demo at {data}")
        shutil.rmtree(data)
    data.mkdir(parents=True)
    world_spec = DemoWorld(seed=args.seed, markets=args.markets, wallets=args.wallets, trades=args.trades,
                           history_days=args.history_days, anchor=anchor.isoformat(), live_hours=args.live_hours,
                           step_hours=args.step_hours, min_whale_trade_usd=args.min_whale_trade_usd)
    t0 = time.perf_counter()
    world = generate_world(world_spec.sim_config())
    server = VenueServer(SimVenue(world, speed=0.0)).start()
    env = demo_environment(data, world_spec, server.url)
    for line in override_lines(env, before):
        print(line)
    os.environ.update(env)
    print(f"simulated venue on {server.url}: {len(world.markets)} markets, {len(world.wallets)} wallets, "
          f"{len(world.trades)} trades ({time.perf_counter() - t0:.1f}s)")
    try:
        return _run(server, world_spec, data, args)
    finally:
        world_spec.clock_end_ts = int(json.loads(_clock(server.url))["now"])
        world_spec.save(data)
        server.stop()


def _clock(url: str, **body) -> str:
    import httpx

    return httpx.post(f"{url}/_sim/clock", json=body, timeout=10).text


def _run(server, world_spec: DemoWorld, data: Path, args) -> int:
    import dagster as dg

    from polycopy.trading.settings import SignalSettings
    from polycopy_dagster.cli import gate_explanation
    from polycopy_dagster.definitions import defs
    from polycopy_dagster.execution import defs as execution_defs
    from polycopy_dagster.defs.resources import initialized

    instance = dg.DagsterInstance.get()
    resources = {k: v for k, v in defs.resources.items()}
    first, last = world_spec.history_start, datetime.fromisoformat(world_spec.anchor).date().isoformat()
    days = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    log_path = data / "demo.log"
    out = sys.stdout

    def step(name: str, job_name: str, job_defs=defs, tags=None, run_config=None, checks_report_only=False):
        t = time.perf_counter()
        job = job_defs.resolve_job_def(job_name)
        with open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), \
                Heartbeat(instance, name, out):
            result = job.execute_in_process(instance=instance, tags=tags or {},
                                            run_config={**quiet, **(run_config or {})}, raise_on_error=False)
        failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        # A risk assessment whose blocking checks fail has done its job: it reports a halt.
        reported = checks_report_only and not result.success and bool(failed)
        status = "ok" if result.success else ("ok, trading halted" if reported else "FAILED")
        print(f"  {name}: {time.perf_counter() - t:.1f}s, job {job_name}, {status}"
              + (f"; checks that did not pass: {', '.join(failed)}" if failed else ""), file=out, flush=True)
        if not result.success and not reported:
            raise SystemExit(f"the demo stopped: job {job_name} failed (its run in the UI, logs in {log_path})")
        return result

    print("materializing assets (each through its job, with its checks):")
    step("market snapshot", "refresh_markets")
    step(f"trades, resolutions and wallet activity {first}..{last}", "ingest_history", tags=days)
    step("rejected records", "audit_rejects")
    step(f"dbt seeds, staging and incremental models {first}..{last} (+ tests)", "build_dbt_daily", tags=days)
    step("dbt wallet models, base rates, wallet metrics (+ tests)", "build_dbt_marts")
    step("wallet scores, whale watchlist, published watchlist (+ checks)", "score_wallets")
    step("scoring evaluation on one small held-out world (the full table: polycopy evaluate-scoring)",
         "evaluate_scoring", run_config={"ops": {"scoring_evaluation": {"config": {
             "seeds": [11], "n_wallets": 400, "n_markets": 150, "n_trades": 20_000}}}})

    wh = initialized(resources["warehouse"]).open()
    ledger = initialized(resources["ledger"]).open()
    scores = wh.query_df("select * from scores.wallet_scores")
    print(gate_explanation(scores, resources["watchlist_rules"].settings()))
    watchlist = ledger.watchlist()
    n_active = args.also_follow or (0 if watchlist else args.follow)
    active = wh.query_df("select proxy_wallet, count(*) as n from raw.trades group by proxy_wallet "
                         "order by n desc, proxy_wallet limit ?", [n_active + len(watchlist)])["proxy_wallet"]
    on_list = [m["wallet_address"] for m in watchlist]
    active = [w for w in active if w not in on_list][:n_active]
    parts = []
    if watchlist:
        parts.append(f"{len(watchlist)} wallet{'s' if len(watchlist) != 1 else ''} of the whale watchlist")
    else:
        print("the watchlist is empty (history too short?): following the most active wallets instead")
    if active:
        parts.append(f"the {len(active)} most active other wallets")
        # An explicit follow list replaces the watchlist in the sensor: it names both.
        world_spec.follow = ",".join(on_list + active)
        os.environ["POLYCOPY_FOLLOW_WALLETS"] = world_spec.follow
    followed = " and ".join(parts)
    print(f"following {followed}; copying their trades from ${world_spec.min_whale_trade_usd:,.0f} "
          f"(the product's default is ${SignalSettings().min_whale_trade_usd:,.0f}: the demo's world trades smaller)")

    # Live, as in production: the daemon's follow sensor launches copy_trade runs.
    daemon = DemoDaemon(demo_environment(data, world_spec, server.url), data / "daemon.log")
    t = time.perf_counter()
    print(f"  live: starting the dagster-daemon with followed_wallets_sensor and open_positions_sensor (log: {data / 'daemon.log'})",
          flush=True)
    daemon.start()
    stalled = 0
    steps = -(-world_spec.live_hours // world_spec.step_hours)
    try:
        for n in range(1, steps + 1):
            since = time.time()
            hours = min(world_spec.step_hours, world_spec.live_hours - (n - 1) * world_spec.step_hours)
            _clock(server.url, advance=hours * HOUR_S)
            # Each step ends once both sensors have looked at the new clock and their runs are done.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not (
                    all(sensor_ticked_since(instance, name, since) for name in LIVE_SENSORS)
                    and runs_in_flight(instance) == 0):
                time.sleep(0.5)
            stalled += time.monotonic() >= deadline
            s = ledger.summary()
            print(f"    … hour {min(n * world_spec.step_hours, world_spec.live_hours)} of {world_spec.live_hours}: "
                  f"{s['decisions']} signals decided, {s['filled']} orders filled so far", flush=True)
    finally:
        daemon.stop()
    copy_runs = instance.get_runs_count(dg.RunsFilter(job_name="copy_trade"))
    exit_runs = instance.get_runs_count(dg.RunsFilter(job_name="exit_position"))
    settle_runs = instance.get_runs_count(dg.RunsFilter(job_name="settle_positions"))
    print(f"  live: {world_spec.live_hours} simulated hours, {copy_runs} copy_trade, {exit_runs} exit_position and "
          f"{settle_runs} settle_positions runs launched by the sensors ({time.perf_counter() - t:.1f}s)"
          + (f"; {stalled} steps timed out waiting" if stalled else ""))
    step("portfolio risk now (the risk_monitor job)", "risk_monitor", job_defs=execution_defs,
         checks_report_only=True)
    print(summary(wh, ledger, len(watchlist), followed, execution_defs))
    print(f"\nbrowse this demo in the Dagster UI:  make ui-demo{_dir_arg(data)}   "
          f"(http://127.0.0.1:3000; PORT=... to change)")
    print(f"its portfolio risk:                  POLYCOPY_DATA_DIR={data} {BIN / 'polycopy'} risk status")
    print(f"its positions, entry to exit:        POLYCOPY_DATA_DIR={data} {BIN / 'polycopy'} positions")
    print(f"logs: {log_path}, {data / 'daemon.log'}")
    return 0


def _dir_arg(data: Path) -> str:
    default = (REPO_ROOT / ".data" / "demo").resolve()
    return "" if data == default else f" DEMO_DIR={data}"


def summary(wh, ledger, watchlist_size: int, followed: str, execution_defs) -> str:
    """The demo's closing table: each figure with what it means."""
    from polycopy.execution.position_exits import position_report

    s = ledger.summary()
    stats = ledger.signal_stats()
    rate = stats["pass_through_rate"]
    capital = execution_defs.resources["risk_rules"].settings().starting_capital_usd
    report = position_report(ledger)
    closed = [r for r in report if r["state"] == "closed"]
    by_rule = Counter(rule.strip() for r in report for rule in r["rules"].split(",") if rule.strip())
    rows = [
        ("starting capital (USD)", f"{capital:,.2f}", "paper money the copy portfolio starts with"),
        ("trades ingested", int(wh.scalar("select count(*) from raw.trades")), "fills read from the Data API"),
        ("markets / resolved / unknown category", "{} / {} / {}".format(
            int(wh.scalar("select count(*) from raw.markets")),
            int(wh.scalar("select count(distinct condition_id) from raw.market_resolutions")),
            int(wh.scalar("select count(*) from raw.markets where category = 'unknown'"))),
         "Gamma markets; those resolved; those no tag maps to a category"),
        ("wallet activity rows / wallets", "{} / {}".format(
            int(wh.scalar("select count(*) from raw.activity")),
            int(wh.scalar("select count(distinct proxy_wallet) from raw.activity"))),
         "splits, merges, redeems… of the wallets that matter"),
        ("shares sold of unknown cost", f"{float(wh.scalar('select coalesce(sum(unknown_cost_shares), 0) from intermediate.int_positions')):,.2f}",
         "sold beyond what the window shows bought: never given a cost"),
        ("rejected records", int(wh.scalar("select count(*) from raw.rejects")), "malformed API records kept aside"),
        ("wallets scored / excluded", "{} / {}".format(
            int(wh.scalar("select count(*) from scores.wallet_scores")),
            int(wh.scalar("select count(*) from scores.wallet_scores where excluded"))),
         "excluded: a red flag or a market maker"),
        ("whale watchlist", watchlist_size, "wallets that passed the gate"),
        ("followed fills / signals decided", f"{s['trades_seen']} / {s['decisions']}",
         "a signal is one whale order (its fills); each decided once, copy or skip, with its reason"),
        ("signals undecided", s["undecided"], "seen but not decided yet (the sweeper relaunches them)"),
        ("whale BUYs decided / copied", f"{stats['signals']} / {stats['copied']}"
         + (f" (pass-through {rate:.0%})" if rate is not None else ""), "entries considered, and copied"),
        ("rejected by stage", ", ".join(f"{k} {v}" for k, v in sorted(stats["rejected_by_stage"].items())) or "-",
         "the first gate each skipped BUY failed"),
        ("paper orders placed / filled", f"{s['orders']} / {s['filled']}", "orders sent to the paper venue"),
        ("taker fees paid (USD)", f"{float(s['fees_usd']):,.2f}", "shares × rate × p × (1 − p)"),
        ("copied positions open / closed", f"{len(report) - len(closed)} / {len(closed)}",
         "closed by an exit rule or settled at resolution (polycopy positions)"),
        ("exits by rule", ", ".join(f"{k} {v}" for k, v in sorted(by_rule.items())) or "-",
         "sells of copied positions by the rule that fired; resolved = settled at the payout"),
        ("realized P&L (USD)", f"{sum(r['realized_pnl_usd'] for r in report):,.2f}",
         "of every position, fees included; the ledger's accounting"),
    ]
    snap = ledger.latest_nav_snapshot()
    if snap:
        rows.append(("NAV (USD) / mVaR band", f"{snap['nav_usd']:,.2f} / {snap['mvar_band']}",
                     "portfolio value now; 99 % one-day modified VaR band"))
        halts = json.loads(snap["details"]).get("halt_reasons") or []
        rows.append(("trading halted", f"yes ({len(halts)} reasons)" if halts else "no",
                     "; ".join(h.split(":")[0] for h in halts) or "breakers, mVaR and the kill switch are clear"))
    width = max(len(r[0]) for r in rows)
    vwidth = min(max(len(str(r[1])) for r in rows), 40)
    head = f"\nsummary (followed: {followed})\n"
    return head + "\n".join(f"  {k:<{width}}  {str(v):<{vwidth}}  {m}" for k, v, m in rows)
