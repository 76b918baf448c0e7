"""Run the real dagster-daemon against a simulated venue (used by tests and benchmarks).

The harness owns a throw-away DAGSTER_HOME (embedded SQLite instance), a data
directory for the warehouse and ledger, and the environment the daemon and its
run workers see. It starts the followed-wallets sensor with an explicit cursor,
so which trades must be copied is known exactly.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from polycopy.sim.server import free_port
from polycopy_dagster.demo import stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[1]
# The code locations of workspace.yaml, by name.
LOCATIONS = {"polycopy": "polycopy_dagster.definitions", "polycopy_execution": "polycopy_dagster.execution"}

# The chain's gates opened wide (through the POLYCOPY_<THRESHOLD> overrides) so that every
# followed trade reaches the order step: for exactly-once and latency measurements, where
# the gates themselves are not what is under test.
WIDE_OPEN_RULES = {"POLYCOPY_MAX_TRADE_AGE_S": "86400", "POLYCOPY_MIN_WHALE_TRADE_USD": "0",
                   "POLYCOPY_MIN_EDGE": "-1", "POLYCOPY_MAX_SLIPPAGE": "1", "POLYCOPY_MAX_SPREAD": "1",
                   "POLYCOPY_MIN_MARKET_LIQUIDITY_USD": "0", "POLYCOPY_MAX_DAYS_TO_RESOLUTION": "100000",
                   "POLYCOPY_MIN_HOURS_TO_RESOLUTION": "0", "POLYCOPY_MAX_CORRELATION": "1.01",
                   "POLYCOPY_MAX_CATEGORY_EXPOSURE": "1", "POLYCOPY_MAX_OPEN_POSITIONS": "1000",
                   "POLYCOPY_DAILY_LOSS_LIMIT_USD": "1e12", "POLYCOPY_HOURLY_LOSS_LIMIT_USD": "1e12",
                   "POLYCOPY_MAX_CONSECUTIVE_LOSSES": "1000000", "POLYCOPY_MAX_DRAWDOWN": "1",
                   "POLYCOPY_MVAR_HALT": "1e9"}


class DaemonHarness:
    def __init__(self, workdir: Path, sim_url: str, follow: list[str], extra_env: dict | None = None):
        self.workdir = Path(workdir)
        self.home = self.workdir / "dagster_home"
        self.data = self.workdir / "data"
        self.home.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "deploy" / "embedded" / "dagster.yaml", self.home / "dagster.yaml")
        bin_dir = Path(sys.executable).parent
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "DAGSTER_HOME": str(self.home),
            "POLYCOPY_DATA_DIR": str(self.data),
            "POLYCOPY_VENUE": "sim",
            "POLYCOPY_SIM_URL": sim_url,
            "POLYCOPY_FOLLOW_WALLETS": ",".join(follow),
            "POLYCOPY_LOOKBACK_S": "0",
            **(extra_env or {}),
        }
        self.bin = bin_dir
        self.daemon: subprocess.Popen | None = None
        self.code_servers: list[subprocess.Popen] = []
        self.code_server_args: dict[str, list[str]] = {}
        self.workspace = REPO_ROOT / "workspace.yaml"
        self.log = open(self.workdir / "daemon.log", "ab")

    def cli(self, *args: str, attempts: int = 3) -> str:
        """A ``dagster`` CLI command on the harness's instance. Tried again (it is idempotent
        here) when a fresh instance's SQLite storage was being created by another process."""
        for attempt in range(attempts):
            proc = subprocess.run([str(self.bin / "dagster"), *args, "-w", str(self.workspace)],
                                  env=self.env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
            if proc.returncode == 0:
                return proc.stdout
            if attempt + 1 < attempts:
                time.sleep(2)
        raise RuntimeError(f"dagster {' '.join(args)} failed: {proc.stderr[-2000:]}")

    def start_code_servers(self, timeout_s: float = 120) -> None:
        """Serve each code location from its own ``dagster code-server``, as a deployment does,
        and point the daemon and the CLI at them. The daemon then neither spawns the servers nor
        shuts them down when its heartbeats are late on a loaded machine, a daemon restart does
        not reload the code, and each CLI call skips loading it."""
        # The instance's SQLite storage is created once, here, before any server starts: two
        # processes creating a fresh one at once can leave it with two schema heads.
        subprocess.run([str(self.bin / "dagster"), "instance", "migrate"], env=self.env, cwd=REPO_ROOT,
                       capture_output=True, text=True, timeout=180, check=True)
        entries = []
        for name, module in LOCATIONS.items():
            port = free_port()
            self.code_servers.append(subprocess.Popen(
                [str(self.bin / "dagster"), "code-server", "start", "-m", module, "-h", "127.0.0.1", "-p", str(port),
                 "--location-name", name], env=self.env, cwd=REPO_ROOT, stdout=self.log, stderr=self.log,
                start_new_session=True))
            entries.append((name, port))
            self.code_server_args[name] = self.code_servers[-1].args
        self.workspace = self.workdir / "workspace.yaml"
        self.workspace.write_text("load_from:\n" + "".join(
            f"  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n      location_name: {name}\n"
            for name, port in entries))
        deadline = time.monotonic() + timeout_s
        for name, port in entries:
            while subprocess.run([str(self.bin / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1",
                                  "-p", str(port)], env=self.env, capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"code server {name} on port {port} did not start: "
                                       f"{(self.workdir / 'daemon.log').read_text()[-2000:]}")
                time.sleep(1)

    def start_sensor(self, cursor: dict[str, int]) -> None:
        """Start the follow sensor at ``cursor`` and the sweeper beside it."""
        loc = ("--location", "polycopy_execution")
        self.cli("sensor", "cursor", "followed_wallets_sensor", *loc, "--set", json.dumps(cursor, sort_keys=True))
        self.cli("sensor", "start", "followed_wallets_sensor", *loc)
        self.cli("sensor", "start", "undecided_signals_sweeper", *loc)

    def start_daemon(self) -> None:
        self.daemon = subprocess.Popen([str(self.bin / "dagster-daemon"), "run", "-w", str(self.workspace)],
                                       env=self.env, cwd=REPO_ROOT, stdout=self.log, stderr=self.log,
                                       start_new_session=True)

    def kill_daemon(self) -> None:
        """Crash the daemon (SIGKILL, no clean shutdown), as a machine failure would."""
        if self.daemon is not None:
            self.daemon.send_signal(signal.SIGKILL)
            self.daemon.wait(timeout=30)
            self.daemon = None

    def stop(self) -> None:
        if self.daemon is not None:
            stop_process_group(self.daemon, timeout_s=30)
            self.daemon = None
        for server in self.code_servers:
            stop_process_group(server, timeout_s=30)
        self.code_servers = []
        self.log.close()

    def restart_code_server(self, name: str, down_s: float = 0.0) -> None:
        """Kill a code location's server (SIGKILL, as a crash would), keep it down ``down_s``,
        then start it again on the same port, as a supervisor (systemd, Kubernetes) does."""
        i = list(self.code_server_args).index(name)
        self.code_servers[i].send_signal(signal.SIGKILL)
        self.code_servers[i].wait(timeout=30)
        time.sleep(down_s)
        self.code_servers[i] = subprocess.Popen(self.code_server_args[name], env=self.env, cwd=REPO_ROOT,
                                                stdout=self.log, stderr=self.log, start_new_session=True)
        port = self.code_server_args[name][self.code_server_args[name].index("-p") + 1]
        deadline = time.monotonic() + 120
        while subprocess.run([str(self.bin / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", port],
                             env=self.env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"code server {name} did not come back")
            time.sleep(0.5)

    def run_worker_pids(self, location: str = "polycopy_execution") -> list[int]:
        """Processes executing a run of ``location``: the code server starts each run worker as
        a spawned child (multiprocessing) somewhere below its own process."""
        parents, args = {}, {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                args[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        root = self.code_servers[list(self.code_server_args).index(location)].pid
        below, frontier = set(), {root}
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - below
            below |= frontier
        return sorted(pid for pid in below if "spawn_main" in args.get(pid, ""))

    def ledger(self):
        from polycopy.ledger.store import LedgerSettings, open_ledger

        if self.env.get("POLYCOPY_LEDGER") == "postgres":
            dsn = (f"host={self.env['POLYCOPY_PG_HOST']} port={self.env['POLYCOPY_PG_PORT']} user=postgres "
                   f"dbname={self.env['POLYCOPY_PG_DATABASE']}")
            return open_ledger(LedgerSettings(backend="postgres", pg_dsn=dsn))
        return open_ledger(LedgerSettings(backend="sqlite", sqlite_path=str(self.data / "ledger.sqlite")))

    def publish_elite_profiles(self, wallets: list[str]) -> None:
        """Give the followed wallets a published Elite score (the chain sizes from it)."""
        self.ledger().publish_wallet_profiles(
            [{"wallet_address": w, "wqs": 90.0, "wqs_lower": 85.0, "win_rate_posterior": 0.9, "tier": "Elite",
              "tier_max_exposure": 0.5, "tier_max_daily_trades": 1000, "excluded": False} for w in wallets],
            "2026-01-01")

    def decisions_by_trade(self, ledger=None) -> dict[str, dict]:
        """Every seen fill's decision (its signal's), by trade key."""
        ledger = ledger or self.ledger()
        rows = ledger._rows("select t.trade_key, d.* from source_trades t join decisions d"
                            " on d.signal_key = t.signal_key")
        return {r["trade_key"]: r for r in rows}

    def wait_for_decisions(self, trade_keys: set[str], timeout_s: float) -> dict[str, dict]:
        """Wait until every trade's signal has a decision; return decisions by trade key."""
        deadline = time.monotonic() + timeout_s
        ledger = self.ledger()
        while True:
            try:
                got = {k: d for k, d in self.decisions_by_trade(ledger).items() if k in trade_keys}
            except Exception:  # noqa: BLE001 - the ledger's database may be the thing that is down
                got = {}
            if len(got) == len(trade_keys) or time.monotonic() > deadline:
                return got
            time.sleep(0.2)
